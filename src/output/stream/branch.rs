//! The live loop's WebRTC branch: two threads between the live loop and the hub.
//!
//! Input: rendered frames (RGBA, hand-off instant, motion lag) and a copy of every 10 ms hop. Output:
//! H.264 and Opus frames published into the [`MediaHub`]. Threads: `encode` and `audio-out`, started
//! here; the live loop's render and audio threads only send into their queues.
//!
//! ```text
//! [render] frame (RGBA, hand-off instant, motion lag) --frames (2)--> [encode] H.264 once --> hub
//! [audio]  10 ms hop (16 kHz, arrival clock)         --audio (200)--> [audio-out] held, Opus --> hub
//! ```
//!
//! Sync: a frame shows the sound of `motion lag` ago, and reaches the peers `encode` after its hand-off.
//! Receivers line streams up by when their packets were sent (RTCP sender reports), so the audio-out
//! thread sends each Opus frame `motion lag + encode - Opus lookahead (+ [stream] av_offset_ms)` after
//! its first sample arrived (it releases each hop that much less a frame after the hop's last sample,
//! and a frame leaves with its last hop). That delay is the median over the last three seconds of
//! frames, changed only when it moves by more than 10 ms (a change is a small jump the receiver's jitter
//! buffer absorbs). A sound then leaves
//! with a frame that shows the instant it was made; the first frame that shows a sudden sound is up to
//! a frame period later (17 ms on average at 30 fps), and a receiver's audio jitter buffer adds to the
//! audio's side: Chromium's figures are in README.md.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{H264Stream, MediaHub, OpusStream, StreamError, StreamServer, paint_sync_marker};
use crate::output::{Frame, FrameSink, OutputError, Staged};
use crate::queue::{Disconnected, DropOldestReceiver, DropOldestSender, drop_oldest};
use crate::vocab::FrameGeometry;
use crate::vocab::clock::HOP_SAMPLES;
use crate::vocab::latency::{Latency, Percentiles};

/// One rendered frame on its way to the encoder.
struct StreamFrame {
    pub rgba: Vec<u8>,
    /// When the render handed it off.
    pub presented: Instant,
    /// How late it shows the sound (the live loop's motion lag), when it shows any.
    pub motion_lag_secs: Option<f64>,
    /// Paint the sync marker: `Some(true)` white (the sound it shows is loud), `Some(false)` black.
    pub marker: Option<bool>,
}

/// One 10 ms hop of 16 kHz audio, stamped where its last sample lies on the arrival clock.
pub struct AudioHop {
    pub samples: [f32; HOP_SAMPLES],
    pub end_at: Instant,
}

/// The audio delay the receivers need, in microseconds; `u64::MAX` until the first frames measured it.
#[derive(Default)]
pub struct SharedDelay(AtomicU64);

impl SharedDelay {
    fn new() -> Self {
        Self(AtomicU64::new(u64::MAX))
    }

    fn set(&self, d: Duration) {
        self.0.store(d.as_micros() as u64, Ordering::Release);
    }

    /// The delay, once known.
    pub fn get(&self) -> Option<Duration> {
        let us = self.0.load(Ordering::Acquire);
        (us != u64::MAX).then(|| Duration::from_micros(us))
    }
}

/// Frames the median is taken over (three seconds at 30 fps).
const DELAY_WINDOW: usize = 90;
/// Frames needed before the first estimate.
const DELAY_FIRST: usize = 15;
/// The estimate in use changes only when the median moves by more than this.
const DELAY_HYSTERESIS_SECS: f64 = 0.010;

/// The running median of the audio delay, with hysteresis.
#[derive(Default)]
pub struct DelayEstimate {
    window: VecDeque<f64>,
    sorted: Vec<f64>,
    used: Option<f64>,
}

impl DelayEstimate {
    /// Takes one frame's delay, seconds; returns the delay to use from now on when it changes.
    pub fn observe(&mut self, secs: f64) -> Option<f64> {
        if self.window.len() == DELAY_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(secs);
        if self.window.len() < DELAY_FIRST {
            return None;
        }
        self.sorted.clear();
        self.sorted.extend(self.window.iter().copied());
        self.sorted.sort_by(f64::total_cmp);
        let median = self.sorted[self.sorted.len() / 2];
        match self.used {
            Some(u) if (median - u).abs() <= DELAY_HYSTERESIS_SECS => None,
            _ => {
                self.used = Some(median);
                Some(median)
            }
        }
    }
}

/// What the branch measures, for the stats.
#[derive(Default)]
pub struct StreamTelemetry {
    pub encode: Latency,
    pub frames_encoded: u64,
}

/// The branch's threads and queues.
pub struct StreamBranch {
    sink: Option<StreamSink>,
    /// The audio thread's end of the audio-out queue, until it takes it.
    pub audio: Option<DropOldestSender<AudioHop>>,
    pub delay: Arc<SharedDelay>,
    pub telemetry: Arc<std::sync::Mutex<StreamTelemetry>>,
    encode: Option<std::thread::JoinHandle<Result<(), StreamError>>>,
    audio_out: Option<std::thread::JoinHandle<Result<(), StreamError>>>,
}

impl StreamBranch {
    /// Starts the encode and audio-out threads, which publish into `hub`, until `stop`.
    pub fn start(
        hub: &Arc<MediaHub>,
        frame: FrameGeometry,
        cfg: &crate::config::StreamConfig,
        stop: &Arc<AtomicBool>,
    ) -> Result<Self, StreamError> {
        let width = frame.width_px();
        let mut h264 = H264Stream::new(
            (width, frame.height_px()),
            frame.fps(),
            cfg.video_bitrate_kbps,
            cfg.keyframe_interval_secs,
            hub.epoch(),
        )?;
        let mut opus = OpusStream::new(cfg.audio_bitrate_kbps)?;
        let (frames, frames_rx) = drop_oldest::<StreamFrame>(2);
        let (recycle_tx, recycle) = drop_oldest::<Vec<u8>>(4);
        let (audio, audio_rx) = drop_oldest::<AudioHop>(200);
        let delay = Arc::new(SharedDelay::new());
        let telemetry = Arc::new(std::sync::Mutex::new(StreamTelemetry::default()));
        let spawn_err = StreamError::Thread;
        let encode = {
            let (hub, delay, telemetry, stop) =
                (Arc::clone(hub), Arc::clone(&delay), Arc::clone(&telemetry), Arc::clone(stop));
            // A frame leaves when its last hop is released: release hops a frame early.
            let lookahead = opus.lookahead_secs() + opus.frame_secs();
            let trim = cfg.av_offset_ms / 1e3;
            std::thread::Builder::new()
                .name("encode".into())
                .spawn(move || {
                    let mut estimate = DelayEstimate::default();
                    // A failure ends the live loop (through the stop flag) and is reported by join.
                    let failed = |e: StreamError| {
                        stop.store(true, Ordering::Release);
                        e
                    };
                    loop {
                        let mut frame = match frames_rx.recv_timeout(Duration::from_millis(50)) {
                            Ok(Some(f)) => f,
                            Ok(None) if !stop.load(Ordering::Acquire) => continue,
                            Ok(None) | Err(Disconnected) => return Ok(()),
                        };
                        let start = Instant::now();
                        if let Some(loud) = frame.marker {
                            paint_sync_marker(&mut frame.rgba, width, loud);
                        }
                        // Nobody watching: nothing to encode (a peer that joins asks for a keyframe).
                        if hub.has_peers() {
                            let encoded = h264
                                .encode(&frame.rgba, frame.presented, hub.take_keyframe_request())
                                .map_err(failed)?;
                            hub.publish_video(encoded);
                        }
                        let done = Instant::now();
                        let mut t = telemetry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        t.encode.record(done - start);
                        t.frames_encoded += 1;
                        drop(t);
                        if let Some(lag) = frame.motion_lag_secs {
                            let to_wire = lag + done.saturating_duration_since(frame.presented).as_secs_f64();
                            if let Some(d) = estimate.observe(to_wire - lookahead + trim) {
                                delay.set(Duration::from_secs_f64(d.max(0.0)));
                                tracing::debug!(delay_ms = d * 1e3, "audio delay for the stream");
                            }
                        }
                        recycle_tx.send(frame.rgba);
                    }
                })
                .map_err(spawn_err)?
        };
        let audio_out = {
            let (hub, delay, stop) = (Arc::clone(hub), Arc::clone(&delay), Arc::clone(stop));
            std::thread::Builder::new()
                .name("audio-out".into())
                .spawn(move || {
                    // At most two seconds held, whatever the delay.
                    let mut held: VecDeque<AudioHop> = VecDeque::with_capacity(200);
                    loop {
                        let wait = match (held.front(), delay.get()) {
                            (Some(h), Some(d)) => (h.end_at + d).saturating_duration_since(Instant::now()),
                            _ => Duration::from_millis(50),
                        };
                        match audio_rx.recv_timeout(wait.min(Duration::from_millis(50))) {
                            Ok(Some(hop)) => {
                                if held.len() == 200 {
                                    held.pop_front();
                                }
                                held.push_back(hop);
                            }
                            Ok(None) if !stop.load(Ordering::Acquire) => {}
                            Ok(None) | Err(Disconnected) => return Ok(()),
                        }
                        let Some(d) = delay.get() else { continue };
                        let now = Instant::now();
                        while held.front().is_some_and(|h| h.end_at + d <= now) {
                            let hop = held.pop_front().expect("checked above");
                            if let Err(e) = opus.push(&hop.samples, |f| hub.publish_audio(f)) {
                                stop.store(true, Ordering::Release);
                                return Err(e);
                            }
                        }
                    }
                })
                .map_err(spawn_err)?
        };
        Ok(Self {
            sink: Some(StreamSink { frames, recycle }),
            audio: Some(audio),
            delay,
            telemetry,
            encode: Some(encode),
            audio_out: Some(audio_out),
        })
    }

    /// The sink the render hands frames to (once; `None` after).
    pub fn take_sink(&mut self) -> Option<StreamSink> {
        self.sink.take()
    }

    /// Joins the threads (the caller has set the stop flag).
    pub fn join(mut self) -> Result<(), StreamError> {
        for handle in [self.encode.take(), self.audio_out.take()].into_iter().flatten() {
            handle.join().map_err(|_| StreamError::Panicked)??;
        }
        Ok(())
    }
}

/// The frame side of the branch: each frame is copied into a recycled buffer and queued for the
/// encode thread, which paints the sync marker, encodes and publishes it. Never blocks: a full queue
/// drops its oldest frame.
pub struct StreamSink {
    frames: DropOldestSender<StreamFrame>,
    recycle: DropOldestReceiver<Vec<u8>>,
}

impl StreamSink {
    /// A buffer for the next frame: a recycled one, or a new one the first times.
    fn buffer(&self, len: usize) -> Vec<u8> {
        match self.recycle.try_recv() {
            Ok(Some(mut v)) if v.capacity() >= len => {
                v.clear();
                v
            }
            _ => Vec::with_capacity(len),
        }
    }
}

impl FrameSink for StreamSink {
    fn write(&mut self, frame: &Frame<'_>) -> Result<(), OutputError> {
        let mut rgba = self.buffer(frame.rgba.len());
        rgba.extend_from_slice(frame.rgba);
        self.frames.send(StreamFrame {
            rgba,
            presented: frame.presented,
            motion_lag_secs: frame.motion_lag_secs,
            marker: frame.marker,
        });
        Ok(())
    }

    fn finish(self: Box<Self>, _stop: &AtomicBool) -> Result<Option<Staged>, OutputError> {
        Ok(None)
    }
}

/// What the stats report of the stream.
pub struct StreamProbe {
    hub: Arc<MediaHub>,
    whep_url: Option<String>,
    telemetry: Arc<std::sync::Mutex<StreamTelemetry>>,
    delay: Arc<SharedDelay>,
}

impl StreamProbe {
    pub fn new(server: &StreamServer, branch: &StreamBranch) -> Self {
        Self {
            hub: Arc::clone(server.hub()),
            whep_url: server.whep_addr().map(|a| format!("http://{a}/")),
            telemetry: Arc::clone(&branch.telemetry),
            delay: Arc::clone(&branch.delay),
        }
    }

    pub fn stats(&self) -> StreamStats {
        let c = &self.hub.counters;
        let t = self.telemetry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        StreamStats {
            whep_url: self.whep_url.clone(),
            peers_now: c.peers.load(Ordering::Relaxed) as u64,
            peers_total: c.peers_total.load(Ordering::Relaxed),
            video_frames_sent: c.video_frames.load(Ordering::Relaxed),
            audio_frames_sent: c.audio_frames.load(Ordering::Relaxed),
            keyframe_requests: c.keyframe_requests.load(Ordering::Relaxed),
            peer_skipped_frames: c.peer_skipped_frames.load(Ordering::Relaxed),
            encode_ms: t.encode.percentiles(),
            audio_delay_ms: self.delay.get().map(|d| d.as_secs_f64() * 1e3),
        }
    }
}

/// The WebRTC output's figures.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StreamStats {
    /// The viewer page, when WHEP is served.
    pub whep_url: Option<String>,
    /// Peers (WHEP viewers and the WHIP server) connected now.
    pub peers_now: u64,
    /// Peers that have connected since the start.
    pub peers_total: u64,
    /// Video frames encoded and published (frames are encoded only while someone watches).
    pub video_frames_sent: u64,
    /// Opus frames published.
    pub audio_frames_sent: u64,
    /// Keyframes asked for (joins, PLI/FIR, peers that fell behind).
    pub keyframe_requests: u64,
    /// Frames peers skipped because they fell behind, over all peers.
    pub peer_skipped_frames: u64,
    /// The encode thread per frame: sync marker, H.264 encode and packetization.
    pub encode_ms: Option<Percentiles>,
    /// How long each piece of audio is held so that it leaves with the video that shows it.
    pub audio_delay_ms: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_is_a_median_that_moves_only_past_the_hysteresis() {
        let mut e = DelayEstimate::default();
        for _ in 0..DELAY_FIRST - 1 {
            assert_eq!(e.observe(0.070), None);
        }
        assert_eq!(e.observe(0.070), Some(0.070));
        // An outlier and small wobbles change nothing.
        assert_eq!(e.observe(0.500), None);
        for i in 0..200 {
            assert_eq!(e.observe(0.070 + 0.005 * f64::from(i % 2)), None);
        }
        // A lasting shift of 20 ms is taken once the median has moved.
        let moved: Vec<_> = (0..DELAY_WINDOW).filter_map(|_| e.observe(0.090)).collect();
        assert_eq!(moved, [0.090]);
    }
}
