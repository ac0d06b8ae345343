//! `facecast bench`: the offline render run several times, each stage's cost per item as a median with
//! its spread.
//!
//! Input: a [`RenderJob`] and a number of runs. Output: [`BenchReport`]. Thread: the caller's.

use super::{PipelineError, RenderJob, RenderSummary, StageTime, render_offline};

/// One stage over the runs: the median cost per item and its range.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchStage {
    /// What one item is (clip, hop, frame, portrait, render).
    pub item: &'static str,
    /// Median over the runs, milliseconds per item.
    pub ms_per_item: f64,
    /// Items in one run.
    pub items_per_run: u64,
    /// The fastest run, milliseconds per item.
    pub min_ms_per_item: f64,
    /// The slowest run, milliseconds per item.
    pub max_ms_per_item: f64,
}

/// What `facecast bench` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Each stage by name, in the order of the render.
    pub stages: Vec<(&'static str, BenchStage)>,
    /// Seconds of audio rendered per run.
    pub audio_secs: f64,
    /// Frames per run.
    pub frames: u64,
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Runs made.
    pub runs: usize,
    /// Median wall time of a whole render, seconds.
    pub wall_secs: f64,
    /// Audio seconds per wall second.
    pub realtime_factor: f64,
    /// The GPU adapter.
    pub adapter: String,
    /// The motion model.
    pub motion_model: String,
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

/// Renders `job` `runs` times (at least once), telling `after_run` each run's summary, and reports the
/// median per stage.
///
/// # Errors
/// The first run's failure.
pub fn bench(
    job: &RenderJob,
    runs: usize,
    mut after_run: impl FnMut(usize, &RenderSummary),
) -> Result<BenchReport, PipelineError> {
    let mut done = Vec::with_capacity(runs.max(1));
    for i in 0..runs.max(1) {
        let s = render_offline(job)?;
        after_run(i, &s);
        done.push(s);
    }
    let stage = |item: &'static str, f: fn(&RenderSummary) -> StageTime| {
        let per: Vec<f64> = done.iter().map(|r| f(r).ms_per_item()).collect();
        BenchStage {
            item,
            ms_per_item: median(per.clone()),
            items_per_run: f(&done[0]).items,
            min_ms_per_item: per.iter().copied().fold(f64::INFINITY, f64::min),
            max_ms_per_item: per.iter().copied().fold(0.0, f64::max),
        }
    };
    let stages = vec![
        ("decode", stage("clip", |r| r.timings.decode)),
        ("resample", stage("clip", |r| r.timings.resample)),
        ("mel", stage("hop", |r| r.timings.mel)),
        ("motion", stage("hop", |r| r.timings.motion)),
        ("smooth", stage("hop", |r| r.timings.smooth)),
        ("render", stage("frame", |r| r.timings.render)),
        ("encode", stage("frame", |r| r.timings.encode)),
        ("mux", stage("clip", |r| r.timings.mux)),
        ("portrait", stage("portrait", |r| r.timings.portrait)),
        ("render_setup", stage("render", |r| r.timings.render_setup)),
    ];
    let last = &done[done.len() - 1];
    let wall_secs = median(done.iter().map(|r| r.wall_secs).collect());
    Ok(BenchReport {
        stages,
        audio_secs: last.audio_secs,
        frames: last.frames,
        width: last.width,
        height: last.height,
        fps: last.fps,
        runs: done.len(),
        wall_secs,
        realtime_factor: last.audio_secs / wall_secs,
        adapter: last.adapter.clone(),
        motion_model: last.motion_model.clone(),
    })
}

impl BenchReport {
    /// The report as one JSON object: each stage under its name, then the totals (the shape scripts
    /// read).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (name, s) in &self.stages {
            m.insert((*name).to_owned(), serde_json::to_value(s).unwrap_or_default());
        }
        if let serde_json::Value::Object(rest) = serde_json::json!({
            "audio_secs": self.audio_secs,
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "runs": self.runs,
            "wall_secs": self.wall_secs,
            "realtime_factor": self.realtime_factor,
            "adapter": self.adapter,
            "motion_model": self.motion_model,
        }) {
            m.extend(rest);
        }
        serde_json::Value::Object(m)
    }

    /// The report as a table.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "facecast bench: {:.2} s of audio, {} frames at {}x{} / {} fps, median of {} runs",
            self.audio_secs, self.frames, self.width, self.height, self.fps, self.runs
        );
        let _ = writeln!(out, "adapter {}; model {}", self.adapter, self.motion_model);
        let _ = writeln!(out, "{:<14}{:>8}{:>14}{:>12}{:>12}", "stage", "item", "ms/item", "min", "max");
        for (name, s) in &self.stages {
            let _ = writeln!(
                out,
                "{:<14}{:>8}{:>14.4}{:>12.4}{:>12.4}",
                name, s.item, s.ms_per_item, s.min_ms_per_item, s.max_ms_per_item
            );
        }
        let _ = writeln!(out, "whole render: {:.2} s, {:.1}x real time", self.wall_secs, self.realtime_factor);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
