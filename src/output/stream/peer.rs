//! One WebRTC peer that receives the avatar: a viewer (WHEP) or a media server (WHIP). It owns a peer
//! connection with one H.264 and one Opus track, and forwards the hub's media to them until the
//! connection fails or closes, or the server shuts down.
//!
//! Input: the hub's media and the peer's RTCP. Output: RTP to the peer. Thread: tasks on the stream runtime.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use tokio::sync::{broadcast, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateType, RTCIceGatheringState, RTCIceServer, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

use super::{MediaHub, StreamError};
use crate::config::StreamConfig;

/// How long a peer may take to connect after the offer and answer are exchanged.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long ICE gathering may take before the description is sent with what it has.
const GATHER_TIMEOUT: Duration = Duration::from_secs(3);
/// The media stream both tracks belong to, so receivers play them in sync.
const STREAM_ID: &str = "facecast";
/// ICE calls a connection disconnected after this long without a packet from the viewer...
const ICE_DISCONNECTED_AFTER: Duration = Duration::from_secs(4);
/// ...and failed this long after that: the viewer is then gone.
const ICE_FAILED_AFTER: Duration = Duration::from_secs(6);

fn rtc_err(e: impl std::fmt::Display) -> StreamError {
    StreamError::Rtc(e.to_string())
}

/// What every peer connection is built from.
#[derive(Debug, Clone)]
pub(crate) struct RtcSettings {
    ice_servers: Vec<String>,
    turn_username: String,
    turn_credential: String,
    /// Public addresses to announce beside the host's own (a server behind 1:1 NAT).
    public_ips: Vec<String>,
    /// Local address for the ICE sockets: loopback for a loopback server, every interface for an
    /// unspecified address (IPv4 and IPv6 for `[::]`).
    ice_ip: IpAddr,
    /// The H.264 `profile-level-id`: constrained baseline, at the level the frame size needs.
    profile_level_id: &'static str,
}

impl RtcSettings {
    pub(crate) fn new(cfg: &StreamConfig, (width, height): (u32, u32)) -> Self {
        let macroblocks = width.div_ceil(16) * height.div_ceil(16);
        Self {
            ice_servers: cfg.ice_servers.clone(),
            turn_username: cfg.turn_username.clone(),
            turn_credential: cfg.turn_credential.clone(),
            public_ips: cfg.public_ips.clone(),
            ice_ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            // Level 3.1 holds 3600 macroblocks a frame (1280x720); level 4.0 8192 (2048x1024).
            profile_level_id: if macroblocks <= 3600 { "42e01f" } else { "42e028" },
        }
    }

    pub(crate) fn with_ice_ip(mut self, ip: IpAddr) -> Self {
        self.ice_ip = ip;
        self
    }

    /// The ICE sockets' addresses: `[::]` means both families, as it does for the HTTP server.
    fn udp_addrs(&self) -> Vec<std::net::SocketAddr> {
        let mut addrs = vec![std::net::SocketAddr::new(self.ice_ip, 0)];
        if self.ice_ip == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED) {
            addrs.push(std::net::SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0));
        }
        addrs
    }

    fn video_codec(&self) -> RTCRtpCodec {
        RTCRtpCodec {
            mime_type: rtc::peer_connection::configuration::media_engine::MIME_TYPE_H264.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: format!(
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={}",
                self.profile_level_id
            ),
            rtcp_feedback: [("nack", ""), ("nack", "pli"), ("ccm", "fir")]
                .map(|(typ, parameter)| RTCPFeedback { typ: typ.to_owned(), parameter: parameter.to_owned() })
                .to_vec(),
        }
    }

    fn audio_codec() -> RTCRtpCodec {
        RTCRtpCodec {
            mime_type: rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        }
    }

    /// A peer connection that sends the avatar: H.264 and Opus only, the default interceptors (NACK
    /// responder, sender reports) and one that hands keyframe requests to the application.
    async fn peer_connection(
        &self,
        handler: Arc<dyn PeerConnectionEventHandler>,
    ) -> Result<Arc<dyn PeerConnection>, StreamError> {
        let mut media = MediaEngine::default();
        media
            .register_codec(
                RTCRtpCodecParameters { rtp_codec: self.video_codec(), payload_type: 102 },
                RtpCodecKind::Video,
            )
            .map_err(rtc_err)?;
        media
            .register_codec(
                RTCRtpCodecParameters { rtp_codec: Self::audio_codec(), payload_type: 111 },
                RtpCodecKind::Audio,
            )
            .map_err(rtc_err)?;
        let registry = register_default_interceptors(Registry::new(), &mut media).map_err(rtc_err)?;
        // Last in the chain, so the interceptors that act on RTCP have seen it first.
        let registry = registry.with(Slot::from(14_000), KeyframeRequests::default());
        let ice_servers = if self.ice_servers.is_empty() {
            vec![]
        } else {
            vec![RTCIceServer {
                urls: self.ice_servers.clone(),
                username: self.turn_username.clone(),
                credential: self.turn_credential.clone(),
            }]
        };
        // No mDNS: resolving a browser's `.local` candidates would send multicast queries onto the
        // network, and a browser that hides its address is reached through the checks it sends anyway
        // (peer-reflexive candidates).
        // A viewer that vanishes (a closed tab, a lost network) sends no goodbye: it is noticed when ICE
        // gives up. The defaults (disconnected after 5 s of silence, failed 25 s after that) kept it
        // counted, and its encoder branch fed, for half a minute; 4 + 6 s still ride out a short outage.
        let mut settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_ice_timeouts(Some(ICE_DISCONNECTED_AFTER), Some(ICE_FAILED_AFTER), None);
        if !self.public_ips.is_empty() {
            settings = settings.with_nat_1to1_ips(self.public_ips.clone(), RTCIceCandidateType::Srflx);
        }
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().with_ice_servers(ice_servers).build())
            .with_setting_engine(settings.build())
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_udp_addrs(self.udp_addrs())
            .build()
            .await
            .map_err(rtc_err)?;
        Ok(Arc::new(pc))
    }
}

/// Connection events, as watch channels the peer's tasks wait on.
struct Events {
    state: watch::Sender<RTCPeerConnectionState>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(%state, "peer connection state");
        let _ = self.state.send(state);
    }
}

/// One local track and what the peer negotiated for it.
struct Outbound {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
}

impl Outbound {
    async fn new(
        pc: &Arc<dyn PeerConnection>,
        kind: RtpCodecKind,
        codec: RTCRtpCodec,
        send_only: bool,
    ) -> Result<Self, StreamError> {
        let ssrc = random_u32();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            STREAM_ID.to_owned(),
            format!("facecast-{kind}"),
            format!("facecast {kind}"),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                codec,
                ..Default::default()
            }],
        )));
        let sender = if send_only {
            let init = RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                streams: vec![STREAM_ID.to_owned()],
                send_encodings: vec![],
            };
            let transceiver = pc
                .add_transceiver_from_track(Arc::clone(&track) as Arc<dyn TrackLocal>, Some(init))
                .await
                .map_err(rtc_err)?;
            transceiver
                .sender()
                .await
                .map_err(rtc_err)?
                .ok_or_else(|| rtc_err("a send-only transceiver has no sender"))?
        } else {
            pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>).await.map_err(rtc_err)?
        };
        Ok(Self { track, sender, ssrc })
    }

    /// The payload type the peer negotiated for this track's codec.
    async fn payload_type(&self) -> Result<u8, StreamError> {
        let params = self.sender.get_parameters().await.map_err(rtc_err)?;
        params.rtp_parameters.codecs.first().map(|c| c.payload_type).ok_or_else(|| rtc_err("no codec was negotiated"))
    }
}

/// A peer the avatar is sent to.
pub(crate) struct Peer {
    pc: Arc<dyn PeerConnection>,
    video: Outbound,
    audio: Outbound,
    state: watch::Receiver<RTCPeerConnectionState>,
    gathered: watch::Receiver<bool>,
}

/// Why a peer stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerEnd {
    /// The server is shutting down.
    Shutdown,
    /// The peer left, failed, or never connected.
    Gone(String),
}

impl Peer {
    /// A peer connection with its two tracks. `send_only` makes explicit send-only transceivers, for
    /// an offer (WHIP); otherwise the tracks take the transceivers the remote offer brings (WHEP).
    pub(crate) async fn new(settings: &RtcSettings, send_only: bool) -> Result<Self, StreamError> {
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (gathered_tx, gathered) = watch::channel(false);
        let pc = settings.peer_connection(Arc::new(Events { state: state_tx, gathered: gathered_tx })).await?;
        let video = Outbound::new(&pc, RtpCodecKind::Video, settings.video_codec(), send_only).await;
        let audio = Outbound::new(&pc, RtpCodecKind::Audio, RtcSettings::audio_codec(), send_only).await;
        match (video, audio) {
            (Ok(video), Ok(audio)) => Ok(Self { pc, video, audio, state, gathered }),
            (Err(e), _) | (_, Err(e)) => {
                let _ = pc.close().await;
                Err(e)
            }
        }
    }

    /// Takes a remote offer and returns the answer, with every local candidate in it (no trickle).
    pub(crate) async fn answer(&mut self, offer: String) -> Result<String, StreamError> {
        let offer = RTCSessionDescription::offer(offer).map_err(rtc_err)?;
        self.pc.set_remote_description(offer).await.map_err(rtc_err)?;
        let answer = self.pc.create_answer(None).await.map_err(rtc_err)?;
        self.pc.set_local_description(answer).await.map_err(rtc_err)?;
        self.gathered_description().await
    }

    /// Makes an offer, with every local candidate in it.
    pub(crate) async fn offer(&mut self) -> Result<String, StreamError> {
        let offer = self.pc.create_offer(None).await.map_err(rtc_err)?;
        self.pc.set_local_description(offer).await.map_err(rtc_err)?;
        self.gathered_description().await
    }

    /// Takes the remote answer to [`offer`](Self::offer).
    pub(crate) async fn accept(&self, answer: String) -> Result<(), StreamError> {
        let answer = RTCSessionDescription::answer(answer).map_err(rtc_err)?;
        self.pc.set_remote_description(answer).await.map_err(rtc_err)
    }

    async fn gathered_description(&mut self) -> Result<String, StreamError> {
        let _ = tokio::time::timeout(GATHER_TIMEOUT, self.gathered.wait_for(|done| *done)).await;
        self.pc.local_description().await.map(|d| d.sdp).ok_or_else(|| rtc_err("no local description"))
    }

    /// Sends the hub's media to the peer until it fails, closes or never connects, or `shutdown`
    /// turns true. The caller closes it then (a WHIP client tells the server first).
    pub(crate) async fn run(&self, hub: Arc<MediaHub>, mut shutdown: watch::Receiver<bool>) -> PeerEnd {
        let mut state = self.state.clone();
        let connected = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, state.wait_for(|s| *s == RTCPeerConnectionState::Connected)) => {
                match r {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(_)) => Err(PeerEnd::Gone("the connection went away".into())),
                    Err(_) => Err(PeerEnd::Gone(format!("did not connect within {} s", CONNECT_TIMEOUT.as_secs()))),
                }
            }
            _ = shutdown.wait_for(|s| *s) => Err(PeerEnd::Shutdown),
        };
        match connected {
            Err(end) => end,
            Ok(()) => {
                let viewers = hub.counters.peers.fetch_add(1, Ordering::Relaxed) + 1;
                hub.counters.peers_total.fetch_add(1, Ordering::Relaxed);
                hub.events.publish("viewer_joined", &serde_json::json!({ "viewers": viewers }));
                let ended = |s: &RTCPeerConnectionState| {
                    matches!(s, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed)
                };
                let end = tokio::select! {
                    r = forward_video(&self.video, &hub) => gone(r),
                    r = forward_audio(&self.audio, &hub) => gone(r),
                    () = keyframe_requests(&self.video.track, &hub) => PeerEnd::Gone("the video track ended".into()),
                    s = state.wait_for(ended) => PeerEnd::Gone(
                        s.map_or_else(|_| "the connection went away".into(), |s| format!("the connection {}", *s)),
                    ),
                    _ = shutdown.wait_for(|s| *s) => PeerEnd::Shutdown,
                };
                let viewers = hub.counters.peers.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
                hub.events.publish("viewer_left", &serde_json::json!({ "viewers": viewers }));
                end
            }
        }
    }

    /// Closes the connection.
    pub(crate) async fn close(&self) {
        let _ = self.pc.close().await;
    }
}

/// Why a forwarding task ended: an error, or the hub closed.
fn gone(r: Result<(), StreamError>) -> PeerEnd {
    PeerEnd::Gone(r.err().map_or_else(|| "the hub closed".into(), |e| e.to_string()))
}

/// A fresh 32-bit value from the operating system's random source (SSRCs, sequence and timestamp
/// offsets).
pub(crate) fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_or_else(|_| fastrand::u32(..), |()| u32::from_le_bytes(b))
}

/// An RTP packet of one of this peer's streams.
fn rtp(
    payload_type: u8,
    ssrc: u32,
    sequence_number: u16,
    timestamp: u32,
    marker: bool,
    payload: bytes::Bytes,
) -> rtc::rtp::Packet {
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            ..Default::default()
        },
        payload,
    }
}

/// Video from the hub to one peer. It starts at a keyframe; after falling behind (frames lost from
/// its backlog) it waits for the next keyframe and asks for one.
async fn forward_video(out: &Outbound, hub: &MediaHub) -> Result<(), StreamError> {
    let pt = out.payload_type().await?;
    let mut rx = hub.subscribe_video();
    let offset = random_u32();
    let mut seq = random_u32() as u16;
    let mut waiting_for_key = true;
    hub.request_keyframe();
    loop {
        let frame = match rx.recv().await {
            Ok(f) => f,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                hub.counters.peer_skipped_frames.fetch_add(n, Ordering::Relaxed);
                waiting_for_key = true;
                hub.request_keyframe();
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        if waiting_for_key && !frame.keyframe {
            hub.counters.peer_skipped_frames.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        waiting_for_key = false;
        let last = frame.payloads.len().saturating_sub(1);
        for (i, payload) in frame.payloads.iter().enumerate() {
            let packet = rtp(pt, out.ssrc, seq, offset.wrapping_add(frame.ticks_90k), i == last, payload.clone());
            seq = seq.wrapping_add(1);
            out.track.write_rtp(packet).await.map_err(rtc_err)?;
        }
    }
}

/// Audio from the hub to one peer.
async fn forward_audio(out: &Outbound, hub: &MediaHub) -> Result<(), StreamError> {
    let pt = out.payload_type().await?;
    let mut rx = hub.subscribe_audio();
    let offset = random_u32();
    let mut seq = random_u32() as u16;
    let mut first = true;
    loop {
        let frame = match rx.recv().await {
            Ok(f) => f,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                first = true;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        // The marker bit opens a talk spurt: the first packet, and the first after a gap.
        let packet = rtp(pt, out.ssrc, seq, offset.wrapping_add(frame.ticks_48k), first, frame.payload.clone());
        first = false;
        seq = seq.wrapping_add(1);
        out.track.write_rtp(packet).await.map_err(rtc_err)?;
    }
}

/// Turns the peer's PLI and FIR into keyframe requests. Returns when the track is unbound.
async fn keyframe_requests(track: &TrackLocalStaticRTP, hub: &MediaHub) {
    while let Some(event) = track.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(_) = event {
            // Only keyframe requests reach the application (KeyframeRequests below).
            hub.request_keyframe();
        }
    }
}

/// An interceptor that passes inbound PLI and FIR on to the application and nothing else: they are
/// about the stream facecast makes, so only the encoder can answer them. The rest of the inbound RTCP
/// is for the interceptors before it (NACK responder, reports).
#[derive(Default)]
struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>())
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
