//! The live loop's telemetry: its latency histograms, the HUD's text and the stats report
//! (`--stats-json`).
//!
//! Input: per-frame and per-stage durations. Output: [`LiveStats`] and the HUD's lines. Thread: the
//! render thread owns every histogram: each pose carries the times of the stages it passed through, so
//! no histogram is shared between threads.

use std::path::Path;

use crate::output::stream::StreamStats;
use crate::vocab::latency::{Latency, Percentiles};

/// Every histogram of the live loop.
#[derive(Default)]
pub struct Telemetry {
    /// From the arrival of the block that completed the newest hop to the frame's hand-off.
    pub audio_to_frame: Latency,
    /// The same from the host's capture timestamp.
    pub capture_to_frame: Latency,
    /// How late the mouth shows its sound.
    pub motion_lag: Latency,
    /// From a camera frame's capture to the avatar frame that shows its head (`--head-from`).
    pub head_to_frame: Latency,
    /// From a `/speak` or `/say` request's arrival to the first frame that shows its sound.
    pub speak_to_frame: Latency,
    /// Audio thread, per hop (as [`StageLatencies::audio`]).
    pub audio: Latency,
    /// Audio-to-motion queue wait.
    pub audio_queue: Latency,
    /// Motion thread, per hop.
    pub motion: Latency,
    /// Motion-to-render queue wait.
    pub pose_queue: Latency,
    /// The warp, recorded and submitted.
    pub render: Latency,
    /// Submission to hand-off.
    pub present: Latency,
}

impl Telemetry {
    /// The per-stage percentiles.
    pub fn stages(&self) -> StageLatencies {
        StageLatencies {
            audio: self.audio.percentiles(),
            audio_queue: self.audio_queue.percentiles(),
            motion: self.motion.percentiles(),
            pose_queue: self.pose_queue.percentiles(),
            render: self.render.percentiles(),
            present: self.present.percentiles(),
        }
    }

    /// Writes the HUD's three lines into `text` (cleared first): the measured rate, drops and overruns,
    /// the processing latency and the lip lag.
    pub fn hud_text(&self, text: &mut String, fps: f64, frames_dropped: u64, audio_overruns: u64) {
        use std::fmt::Write as _;
        let p = |l: &Latency| l.percentiles().map_or((0.0, 0.0), |p| (p.p50, p.p99));
        let (lat50, lat99) = p(&self.audio_to_frame);
        let (lag50, lag99) = p(&self.motion_lag);
        text.clear();
        let _ = write!(
            text,
            "{fps:5.1} fps  drops {frames_dropped}  overruns {audio_overruns}\nlatency p50 {lat50:5.1} p99 {lat99:5.1} ms\nlip lag p50 {lag50:5.1} p99 {lag99:5.1} ms",
        );
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
    /// With `--head-from`: from the capture of the camera frame whose head a frame shows to that frame's
    /// hand-off (tracking, smoothing's lag not included, and the wait for the render).
    #[serde(default)]
    pub head_to_frame_ms: Option<Percentiles>,
    /// With `--input api`: from a `/speak` or `/say` request's arrival to the first frame that shows its
    /// sound (decoding, the wait for the next 10 ms block, the motion lag and the render).
    #[serde(default)]
    pub speak_to_frame_ms: Option<Percentiles>,
    /// The parts.
    pub stages_ms: StageLatencies,
    /// The audio input.
    pub source: String,
    /// The GPU adapter.
    pub adapter: String,
    /// The frame's width, pixels.
    pub width: u32,
    /// The frame's height, pixels.
    pub height: u32,
    /// WebRTC out, when streaming.
    #[serde(default)]
    pub stream: Option<StreamStats>,
}

impl LiveStats {
    /// The summary `facecast live` prints at exit: rate, drops, overruns, the input and the adapter, then
    /// each latency's percentiles.
    pub fn summary_text(&self) -> String {
        use std::fmt::Write as _;
        let p = |x: &Option<Percentiles>| {
            x.map_or_else(
                || "n/a".to_owned(),
                |p| format!("p50 {:.1} p90 {:.1} p99 {:.1} max {:.1} ms", p.p50, p.p90, p.p99, p.max),
            )
        };
        let mut out = format!(
            "live: {:.1} s, {} frames ({:.1} fps of {}), {} dropped, {} audio overruns; input {}; adapter {}\n",
            self.elapsed_secs,
            self.frames_rendered,
            self.measured_fps,
            self.target_fps,
            self.frames_dropped,
            self.audio_overruns,
            self.source,
            self.adapter
        );
        let _ = writeln!(out, "audio to frame: {}", p(&self.audio_to_frame_ms));
        if self.capture_to_frame_ms.is_some() {
            let _ = writeln!(out, "capture to frame: {}", p(&self.capture_to_frame_ms));
        }
        let _ = writeln!(out, "motion lag: {}", p(&self.motion_lag_ms));
        if self.head_to_frame_ms.is_some() {
            let _ = writeln!(out, "head to frame: {}", p(&self.head_to_frame_ms));
        }
        if self.speak_to_frame_ms.is_some() {
            let _ = writeln!(out, "request to frame: {}", p(&self.speak_to_frame_ms));
        }
        out
    }

    /// Writes the report as one JSON object, atomically.
    ///
    /// # Errors
    /// The I/O error, with the path.
    pub fn write(&self, path: &Path) -> Result<(), crate::output::OutputError> {
        crate::output::write_json(path, self)
    }
}
