//! WebRTC out: the live avatar to any browser (WHEP) and to media servers (WHIP), with its voice.
//!
//! Inputs: RGBA8 frames, each with the instant it was handed off, and 16 kHz mono audio in 10 ms hops.
//! Outputs: H.264 video (openh264, constrained baseline, packetization-mode 1) and Opus audio over
//! WebRTC (the webrtc crate) to every WHEP viewer and to a WHIP server.
//!
//! Threads. [`H264Stream`] and [`OpusStream`] encode on the threads that call them (the live loop's
//! encode and audio-out threads): each frame is encoded and cut into RTP payloads **once**, into a
//! [`MediaHub`]. Everything that touches the network runs on one tokio runtime owned by
//! [`StreamServer`]: the HTTP server (axum), the WHIP client, and one task per peer and track that
//! takes media from the hub and writes it to its peer. The hub is a pair of bounded broadcast channels:
//! a slow peer falls behind and skips (it then waits for the next keyframe, and asks for one), it never
//! holds up the encoder or the other peers.
//!
//! Timing. Every RTP timestamp comes from one clock, the hub's epoch (`Instant`): video at 90 kHz from
//! the frame's hand-off, audio at 48 kHz counting samples. Receivers align audio and video through the
//! RTCP sender reports, which tie each stream's newest timestamp to the wall clock when it is sent; the
//! pipeline therefore sends each piece of audio as late as the video that shows it (the measured motion
//! lag plus the encode), and a viewer hears and sees them together.
//!
//! Architecture Invariant: only `output/stream/` knows webrtc, rtc, axum, tokio, Opus and HTTP.

mod branch;
mod codec;
pub mod control;
mod http;
mod peer;
mod whep;
mod whip;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::broadcast;

pub use branch::{AudioHop, StreamBranch, StreamProbe, StreamSink, StreamStats};
pub use codec::{H264Stream, OpusStream, paint_sync_marker};
pub use whep::check_offer;

use crate::config::StreamConfig;

/// The viewer page served at `/`.
pub const VIEWER_HTML: &str = include_str!("viewer.html");

/// Largest request body the server reads (an SDP offer is a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Errors of the WebRTC sink.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The settings cannot work (a public address without a token, say).
    #[error("{0}")]
    Config(String),
    /// The HTTP server could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The tokio runtime could not start.
    #[error("cannot start the network runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// An encoder refused its settings or a frame.
    #[error("{0}")]
    Encode(String),
    /// A WebRTC peer connection failed.
    #[error("WebRTC: {0}")]
    Rtc(String),
    /// The WHIP server refused or could not be reached.
    #[error("WHIP {url}: {reason}")]
    Whip { url: String, reason: String },
    /// A stream thread could not be started.
    #[error("cannot start a stream thread: {0}")]
    Thread(#[source] std::io::Error),
    /// A stream thread panicked.
    #[error("a stream thread panicked")]
    Panicked,
}

/// One encoded video frame, cut into RTP payloads once for every peer.
#[derive(Debug)]
pub struct VideoFrame {
    /// RTP payloads in order (packetization-mode 1: single NAL units, STAP-A, FU-A); the last one ends
    /// the frame (RTP marker bit).
    pub payloads: Vec<Bytes>,
    /// 90 kHz ticks from the hub's epoch to the frame's hand-off.
    pub ticks_90k: u32,
    /// An IDR frame with SPS and PPS: a peer may start here.
    pub keyframe: bool,
}

/// One encoded 20 ms Opus frame.
#[derive(Debug)]
pub struct AudioFrame {
    /// One Opus packet.
    pub payload: Bytes,
    /// 48 kHz ticks from the hub's epoch: the running count of samples sent, at 48 kHz.
    pub ticks_48k: u32,
}

/// Counters the hub keeps, for the stats.
#[derive(Debug, Default)]
pub struct HubCounters {
    /// Video frames published.
    pub video_frames: AtomicU64,
    /// Audio frames published.
    pub audio_frames: AtomicU64,
    /// Frames a peer skipped because it fell behind, over all peers.
    pub peer_skipped_frames: AtomicU64,
    /// Keyframes requested (a peer joined, fell behind or sent a PLI/FIR).
    pub keyframe_requests: AtomicU64,
    /// Peers connected now.
    pub peers: AtomicUsize,
    /// Peers that have connected since the start.
    pub peers_total: AtomicU64,
}

/// The fan-out between the encoders and the peers: bounded broadcast channels that never block the
/// sender. A receiver that falls more than their capacity behind loses the oldest items.
pub struct MediaHub {
    epoch: Instant,
    video: broadcast::Sender<Arc<VideoFrame>>,
    audio: broadcast::Sender<Arc<AudioFrame>>,
    keyframe_wanted: AtomicBool,
    /// Counters for the stats.
    pub counters: HubCounters,
    /// The control API's events: viewers joining and leaving are published here.
    pub events: control::ControlEvents,
}

/// Video frames a peer may lag behind before it skips to the next keyframe (a quarter second at 30 fps).
const VIDEO_BACKLOG: usize = 8;
/// Audio frames a peer may lag behind (half a second).
const AUDIO_BACKLOG: usize = 25;

impl MediaHub {
    /// A hub whose timestamps count from `epoch`.
    pub fn new(epoch: Instant) -> Arc<Self> {
        Arc::new(Self {
            epoch,
            video: broadcast::channel(VIDEO_BACKLOG).0,
            audio: broadcast::channel(AUDIO_BACKLOG).0,
            keyframe_wanted: AtomicBool::new(true),
            counters: HubCounters::default(),
            events: control::ControlEvents::default(),
        })
    }

    /// The instant the timestamps count from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Sends a frame to every peer; never blocks.
    pub fn publish_video(&self, frame: VideoFrame) {
        self.counters.video_frames.fetch_add(1, Ordering::Relaxed);
        // No receiver is not an error: nobody is watching.
        let _ = self.video.send(Arc::new(frame));
    }

    /// Sends an audio frame to every peer; never blocks.
    pub fn publish_audio(&self, frame: AudioFrame) {
        self.counters.audio_frames.fetch_add(1, Ordering::Relaxed);
        let _ = self.audio.send(Arc::new(frame));
    }

    /// Asks the encoder for a keyframe.
    pub fn request_keyframe(&self) {
        self.counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        self.keyframe_wanted.store(true, Ordering::Release);
    }

    /// Whether a keyframe was asked for since the last call (the encoder's side).
    pub fn take_keyframe_request(&self) -> bool {
        self.keyframe_wanted.swap(false, Ordering::AcqRel)
    }

    /// Whether anyone is connected (the encoders may idle otherwise).
    pub fn has_peers(&self) -> bool {
        self.counters.peers.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn subscribe_video(&self) -> broadcast::Receiver<Arc<VideoFrame>> {
        self.video.subscribe()
    }

    pub(crate) fn subscribe_audio(&self) -> broadcast::Receiver<Arc<AudioFrame>> {
        self.audio.subscribe()
    }
}

/// Where the stream goes.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Serve the viewer page and WHEP here.
    pub whep: Option<SocketAddr>,
    /// Push to this WHIP endpoint.
    pub whip: Option<String>,
    /// Frame width and height, pixels (for the H.264 level in the SDP).
    pub size: (u32, u32),
    /// Settings (`[stream]`).
    pub config: StreamConfig,
    /// The WHEP bearer token (`[stream] token` or `FACECAST_TOKEN`); `None` means none is asked on
    /// loopback, and a public bind refuses to start.
    pub token: Option<String>,
    /// The WHIP bearer token (`[stream] whip_token` or `FACECAST_WHIP_TOKEN`).
    pub whip_token: Option<String>,
}

/// The control API (`--control`): where it listens, what it drives, and its event stream.
pub struct ControlOptions {
    /// The address; the WHEP server's own when they are the same.
    pub addr: SocketAddr,
    /// The pipeline's side.
    pub api: Arc<dyn control::ControlApi>,
    /// Where the pipeline publishes its events.
    pub events: control::ControlEvents,
}

/// The default WHEP address: loopback only.
pub const DEFAULT_WHEP_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The network side: a tokio runtime with the WHEP server and the WHIP client on it. Dropping it (or
/// [`shutdown`](Self::shutdown)) closes every peer.
pub struct StreamServer {
    runtime: Option<tokio::runtime::Runtime>,
    hub: Arc<MediaHub>,
    whep_addr: Option<SocketAddr>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl StreamServer {
    /// Starts the runtime, binds the WHEP server and starts pushing to WHIP.
    ///
    /// # Errors
    /// [`StreamError::Config`] for a public bind without a token, [`StreamError::Bind`] when the
    /// address is taken, [`StreamError::Runtime`].
    pub fn start(
        options: &StreamOptions,
        hub: Arc<MediaHub>,
        control: Option<ControlOptions>,
    ) -> Result<Self, StreamError> {
        let cfg = &options.config;
        let token = options.token.clone().filter(|t| !t.is_empty());
        if let Some(c) = &control
            && !c.addr.ip().is_loopback()
            && token.is_none()
        {
            return Err(StreamError::Config(format!(
                "the control API on {} is reachable beyond this machine: set a bearer token ([stream] token or \
                 FACECAST_TOKEN), or bind to 127.0.0.1",
                c.addr
            )));
        }
        if let Some(addr) = options.whep
            && !addr.ip().is_loopback()
            && options.token.as_deref().is_none_or(str::is_empty)
        {
            return Err(StreamError::Config(format!(
                "WHEP on {addr} is reachable beyond this machine: set a bearer token ([stream] token or \
                 FACECAST_TOKEN), or bind to 127.0.0.1"
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stream")
            .enable_all()
            .build()
            .map_err(StreamError::Runtime)?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let rtc = peer::RtcSettings::new(cfg, options.size);
        let mut tasks = Vec::new();
        let mut whep_addr = None;
        if let Some(addr) = options.whep {
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind(addr))
                .map_err(|source| StreamError::Bind { addr, source })?;
            let local = listener.local_addr().map_err(|source| StreamError::Bind { addr, source })?;
            whep_addr = Some(local);
            let state = whep::State::new(
                Arc::clone(&hub),
                rtc.clone().with_ice_ip(local.ip()),
                options.token.clone().filter(|t| !t.is_empty()),
                cfg.max_viewers,
            );
            // The control API on the same address shares the server.
            let shared = control.as_ref().is_some_and(|c| c.addr == addr);
            let extra = shared
                .then(|| control.as_ref().map(|c| control::routes(Arc::clone(&c.api), c.events.clone(), token.clone())))
                .flatten();
            tasks.push(runtime.spawn(whep::serve(listener, state, extra, shutdown_rx.clone())));
            tracing::info!(url = %format!("http://{local}/"), "WHEP viewer page");
            if shared {
                tracing::info!(url = %format!("http://{local}/speak"), "control API");
            }
        }
        if let Some(c) = control.filter(|c| options.whep != Some(c.addr)) {
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind(c.addr))
                .map_err(|source| StreamError::Bind { addr: c.addr, source })?;
            let local = listener.local_addr().map_err(|source| StreamError::Bind { addr: c.addr, source })?;
            let routes = control::routes(c.api, c.events, token);
            tasks.push(runtime.spawn(control::serve(listener, routes, shutdown_rx.clone())));
            tracing::info!(url = %format!("http://{local}/speak"), "control API");
        }
        if let Some(url) = &options.whip {
            let push = whip::Push::new(url.clone(), options.whip_token.clone(), Arc::clone(&hub), rtc);
            tasks.push(runtime.spawn(push.run(shutdown_rx)));
        }
        Ok(Self { runtime: Some(runtime), hub, whep_addr, shutdown, tasks })
    }

    /// The address the WHEP server listens on (the port chosen when 0 was asked).
    pub fn whep_addr(&self) -> Option<SocketAddr> {
        self.whep_addr
    }

    /// The hub the encoders publish into.
    pub fn hub(&self) -> &Arc<MediaHub> {
        &self.hub
    }

    /// Closes every peer (WHIP sessions are deleted at the server), then stops the runtime.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            let tasks = std::mem::take(&mut self.tasks);
            runtime.block_on(async {
                for task in tasks {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), task).await;
                }
            });
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        self.stop();
    }
}
