//! The live loop's WebRTC branch: two threads between the loop and `output::stream`.
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

use crate::audio::SAMPLE_RATE_HZ;
use crate::features::HOP_SAMPLES;
use crate::output::stream::{H264Stream, MediaHub, OpusStream, StreamError, paint_sync_marker};

use super::PipelineError;
use super::queue::{Disconnected, DropOldestReceiver, DropOldestSender, drop_oldest};
use super::telemetry::{Latency, StreamStats};

/// One rendered frame on its way to the encoder.
pub(crate) struct StreamFrame {
    pub rgba: Vec<u8>,
    /// When the render handed it off.
    pub presented: Instant,
    /// How late it shows the sound (the live loop's motion lag), when it shows any.
    pub motion_lag_secs: Option<f64>,
    /// Paint the sync marker: `Some(true)` white (the sound it shows is loud), `Some(false)` black.
    pub marker: Option<bool>,
}

/// One 10 ms hop of 16 kHz audio, stamped where its last sample lies on the arrival clock.
pub(crate) struct AudioHop {
    pub samples: [f32; HOP_SAMPLES],
    pub end_at: Instant,
}

/// The audio delay the receivers need, in microseconds; `u64::MAX` until the first frames measured it.
#[derive(Default)]
pub(crate) struct SharedDelay(AtomicU64);

impl SharedDelay {
    fn new() -> Self {
        Self(AtomicU64::new(u64::MAX))
    }

    fn set(&self, d: Duration) {
        self.0.store(d.as_micros() as u64, Ordering::Release);
    }

    /// The delay, once known.
    pub(crate) fn get(&self) -> Option<Duration> {
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
pub(crate) struct DelayEstimate {
    window: VecDeque<f64>,
    sorted: Vec<f64>,
    used: Option<f64>,
}

impl DelayEstimate {
    /// Takes one frame's delay, seconds; returns the delay to use from now on when it changes.
    pub(crate) fn observe(&mut self, secs: f64) -> Option<f64> {
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
pub(crate) struct StreamTelemetry {
    pub encode: Latency,
    pub frames_encoded: u64,
}

/// The branch's threads and queues.
pub(crate) struct StreamBranch {
    pub frames: DropOldestSender<StreamFrame>,
    pub recycle: DropOldestReceiver<Vec<u8>>,
    /// The audio thread's end of the audio-out queue, until it takes it.
    pub audio: Option<DropOldestSender<AudioHop>>,
    pub delay: Arc<SharedDelay>,
    pub telemetry: Arc<std::sync::Mutex<StreamTelemetry>>,
    encode: Option<std::thread::JoinHandle<Result<(), StreamError>>>,
    audio_out: Option<std::thread::JoinHandle<Result<(), StreamError>>>,
}

impl StreamBranch {
    /// Starts the encode and audio-out threads, which publish into `hub`, until `stop`.
    pub(crate) fn start(
        hub: &Arc<MediaHub>,
        size: u32,
        fps: u32,
        cfg: &crate::config::StreamConfig,
        stop: &Arc<AtomicBool>,
    ) -> Result<Self, PipelineError> {
        let mut h264 = H264Stream::new(size, fps, cfg.video_bitrate_kbps, cfg.keyframe_interval_secs, hub.epoch())?;
        let mut opus = OpusStream::new(cfg.audio_bitrate_kbps)?;
        let (frames, frames_rx) = drop_oldest::<StreamFrame>(2);
        let (recycle_tx, recycle) = drop_oldest::<Vec<u8>>(4);
        let (audio, audio_rx) = drop_oldest::<AudioHop>(200);
        let delay = Arc::new(SharedDelay::new());
        let telemetry = Arc::new(std::sync::Mutex::new(StreamTelemetry::default()));
        let spawn_err = |e: std::io::Error| PipelineError::Invalid(format!("cannot start a stream thread: {e}"));
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
                            paint_sync_marker(&mut frame.rgba, size, loud);
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
            frames,
            recycle,
            audio: Some(audio),
            delay,
            telemetry,
            encode: Some(encode),
            audio_out: Some(audio_out),
        })
    }

    /// A buffer for the next frame: a recycled one, or a new one the first times.
    pub(crate) fn buffer(&self, len: usize) -> Vec<u8> {
        match self.recycle.try_recv() {
            Ok(Some(mut v)) if v.capacity() >= len => {
                v.clear();
                v
            }
            _ => Vec::with_capacity(len),
        }
    }

    /// Joins the threads (the caller has set the stop flag).
    pub(crate) fn join(mut self) -> Result<(), PipelineError> {
        for handle in [self.encode.take(), self.audio_out.take()].into_iter().flatten() {
            match handle.join() {
                Ok(r) => r?,
                Err(_) => return Err(PipelineError::Invalid("a stream thread panicked".into())),
            }
        }
        Ok(())
    }
}

/// What the stats report of the stream.
pub(crate) struct StreamProbe {
    hub: Arc<MediaHub>,
    whep_url: Option<String>,
    telemetry: Arc<std::sync::Mutex<StreamTelemetry>>,
    delay: Arc<SharedDelay>,
}

impl StreamProbe {
    pub(crate) fn new(server: &crate::output::stream::StreamServer, branch: &StreamBranch) -> Self {
        Self {
            hub: Arc::clone(server.hub()),
            whep_url: server.whep_addr().map(|a| format!("http://{a}/")),
            telemetry: Arc::clone(&branch.telemetry),
            delay: Arc::clone(&branch.delay),
        }
    }

    pub(crate) fn stats(&self) -> StreamStats {
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

/// The test pattern's sound is loud above this RMS (-34 dBFS); speech peaks are louder still.
pub(crate) const MARKER_RMS: f32 = 0.02;

/// Hops the sync marker looks back over (one second).
const MARKER_HISTORY: usize = 100;

/// The loudness of the last second of hops, to tell whether the sound a frame shows was loud.
#[derive(Default)]
pub(crate) struct Loudness(VecDeque<(Instant, f32)>);

impl Loudness {
    /// Records a hop ending at `end_at` on the arrival clock.
    pub(crate) fn push(&mut self, end_at: Instant, rms: f32) {
        if self.0.len() == MARKER_HISTORY {
            self.0.pop_front();
        }
        self.0.push_back((end_at, rms));
    }

    /// Whether the hop holding the instant `at` was loud.
    pub(crate) fn loud_at(&self, at: Instant) -> bool {
        let hop = Duration::from_secs_f64(HOP_SAMPLES as f64 / f64::from(SAMPLE_RATE_HZ));
        self.0.iter().find(|(end, _)| at <= *end && *end <= at + hop).is_some_and(|(_, rms)| *rms > MARKER_RMS)
    }
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

    #[test]
    fn loudness_is_looked_up_by_the_hop_that_holds_the_instant() {
        let t0 = Instant::now();
        let mut l = Loudness::default();
        for i in 1..=20u64 {
            l.push(t0 + Duration::from_millis(10 * i), if (5..8).contains(&i) { 0.3 } else { 0.0 });
        }
        // Hop i covers (10 (i - 1), 10 i] ms: hops 5 to 7 are loud, (40, 70] ms.
        assert!(l.loud_at(t0 + Duration::from_millis(45)));
        assert!(l.loud_at(t0 + Duration::from_millis(69)));
        assert!(!l.loud_at(t0 + Duration::from_millis(75)));
        assert!(!l.loud_at(t0 + Duration::from_millis(35)));
        assert!(!l.loud_at(t0 + Duration::from_secs(5)), "an instant past the history is not loud");
    }
}
