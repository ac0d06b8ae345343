//! Latency histograms and the live loop's stats report (`--stats-json`).
//!
//! Every figure is a histogram of microseconds (hdrhistogram, 3 significant digits), reported in
//! milliseconds as p50, p90, p99 and max. The render thread owns them all: each pose carries the times
//! of the stages it passed through, so no histogram is shared between threads.

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;

/// A latency histogram, 1 us to 60 s.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid"))
    }
}

/// p50, p90, p99 and max of a histogram, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// Records one duration (clamped to the histogram's range).
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, 60_000_000);
        self.0.saturating_record(us);
    }

    /// Records one duration given in seconds (negative values count as 0).
    pub fn record_secs(&mut self, secs: f64) {
        self.record(Duration::from_secs_f64(secs.clamp(0.0, 60.0)));
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The percentiles, or `None` when nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1e3;
        Some(Percentiles {
            p50: ms(self.0.value_at_quantile(0.5)),
            p90: ms(self.0.value_at_quantile(0.9)),
            p99: ms(self.0.value_at_quantile(0.99)),
            max: ms(self.0.max()),
        })
    }
}

/// Per-stage latencies of the live loop, milliseconds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StageLatencies {
    /// Audio thread: from a block's arrival to the hop it completed leaving for the motion thread
    /// (resampling and hop assembly).
    pub audio: Option<Percentiles>,
    /// Queue wait from the audio thread to the motion thread.
    pub audio_queue: Option<Percentiles>,
    /// Motion thread, per hop: log-mel, model, rig and smoothing.
    pub motion: Option<Percentiles>,
    /// Queue wait from the motion thread until a frame takes the pose.
    pub pose_queue: Option<Percentiles>,
    /// Render thread: the warp, recorded and submitted.
    pub render: Option<Percentiles>,
    /// Render thread: from submission to the hand-off (surface present, or readback done).
    pub present: Option<Percentiles>,
}

/// The report `facecast live --stats-json` writes every 10 s and at exit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LiveStats {
    /// Seconds since the loop started.
    pub elapsed_secs: f64,
    /// The frame rate asked for.
    pub target_fps: f64,
    /// Frames handed to the sink per second, over the whole run.
    pub measured_fps: f64,
    /// Frames handed to the sink.
    pub frames_rendered: u64,
    /// Frame ticks skipped because the render thread was late.
    pub frames_dropped: u64,
    /// Audio frames the capture ring had no room for (device frames, before resampling).
    pub audio_overruns: u64,
    /// Hops the audio-to-motion queue dropped (it never should).
    pub hops_dropped: u64,
    /// Poses the motion-to-render queue dropped: more than one hop per frame is normal (100 hops a
    /// second against 30 frames), so poses a frame skips over are recycled, not dropped; this counts
    /// only overflow.
    pub poses_dropped: u64,
    /// Times the audio input was lost (and retried).
    pub audio_losses: u64,
    /// Processing latency: from the arrival of the newest audio block that shaped a frame to the frame's
    /// hand-off to the surface or encoder.
    pub audio_to_frame_ms: Option<Percentiles>,
    /// As `audio_to_frame_ms`, from the host's capture timestamp of that block where the host gives one.
    pub capture_to_frame_ms: Option<Percentiles>,
    /// How late the mouth shows a sound: the processing latency plus the algorithmic delay, that is from
    /// the sound at the centre of the newest mel window (on the arrival clock: 17.5 ms before the end of
    /// the hop that completed it, and the hop's place in its block before the block's arrival) to the hand-off, plus the model's lookahead and the
    /// smoothing lag at that frame.
    pub motion_lag_ms: Option<Percentiles>,
    /// The parts.
    pub stages_ms: StageLatencies,
    /// The audio input.
    pub source: String,
    /// The GPU adapter.
    pub adapter: String,
    /// The frame side, pixels.
    pub size: u32,
    /// WebRTC out, when streaming.
    #[serde(default)]
    pub stream: Option<StreamStats>,
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

impl LiveStats {
    /// Writes the report as one JSON object, atomically (a temporary file renamed over `path`).
    ///
    /// # Errors
    /// The I/O error, with the path.
    pub fn write(&self, path: &Path) -> Result<(), crate::output::OutputError> {
        let io = |source: std::io::Error| crate::output::OutputError::Io { path: path.to_owned(), source };
        let stage = crate::output::Staged::file(path)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::write(stage.path(), json).map_err(io)?;
        stage.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let mut h = Latency::default();
        assert!(h.percentiles().is_none());
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let p = h.percentiles().unwrap();
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p90 - 90.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
        h.record_secs(-1.0);
        assert_eq!(h.count(), 101);
    }
}
