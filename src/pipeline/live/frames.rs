//! The render side of the live loop: each tick, the pose chosen, the frame drawn and handed to the
//! window or the sinks, its timing recorded.
//!
//! Input: [`PoseSample`]s from the motion thread. Output: frames to the window (the GPU texture) and to
//! every [`FrameSink`] (read back), a motion record per frame, the telemetry. Thread: the caller's (the
//! window's event loop on the main thread, or a paced loop with `--headless`). The jobs it joins live
//! beside it: [`Pacer`] (when), [`PoseChooser`] (what), [`Telemetry`] (how late), the sinks (where to).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Shared;
use super::control::LatencySnapshot;
use super::head::HeadFollower;
use super::motion::PoseSample;
use super::pacing::Pacer;
use super::poses::{FrameSource, PoseChooser};
use crate::audio::live::{SpeechQueue, UtteranceStart};
use crate::config::Config;
use crate::gpu::GpuContext;
use crate::output::stream::StreamProbe;
use crate::output::vmc::VmcSender;
use crate::output::window::FrameProducer;
use crate::output::{Frame, FrameSink, MotionWriter, OutputError};
use crate::pipeline::marker::Loudness;
use crate::pipeline::telemetry::{LiveStats, Telemetry};
use crate::pipeline::{MotionScratch, PipelineError, RecordTime};
use crate::portrait::Rig;
use crate::render::WarpRenderer;
use crate::vocab::{FrameGeometry, Pose, RigGeometry};

/// How often the stats file is rewritten.
const STATS_EVERY_SECS: f64 = 10.0;

/// What the renderer is built from, once the render context exists.
pub(super) struct Scene {
    pub rig: Rig,
    pub geometry: RigGeometry,
    pub image: image::RgbaImage,
    pub backdrop_image: Option<image::RgbaImage>,
    pub cfg: Config,
    pub frame: FrameGeometry,
}

/// What the frames are made from: the motion thread's poses, the user's head where a camera drives it,
/// and the model's lookahead (for the motion lag).
pub(super) struct Inputs {
    pub poses: PoseChooser,
    pub head: Option<HeadFollower>,
    pub lookahead_secs: f64,
    /// With `--input api`: the queue whose utterances' starts time the request-to-frame delay.
    pub speech: Option<Arc<SpeechQueue>>,
    /// With `--control`: the expression the API holds.
    pub expression: Option<Arc<super::expression::ExpressionState>>,
}

/// Where the frames and their records go, and the report.
pub(super) struct Outputs {
    /// Pixel sinks (WebRTC): each frame is read back for them.
    pub sinks: Vec<Box<dyn FrameSink>>,
    pub motion_out: Option<MotionWriter>,
    /// VMC out: each frame's motion to a VTuber tool.
    pub vmc: Option<VmcSender>,
    pub stats_json: Option<PathBuf>,
    /// Paint the sync marker, from the loudness of recent hops.
    pub sync_marker: bool,
    pub stream_probe: Option<StreamProbe>,
    /// The audio input's name, for the report.
    pub source: String,
    /// The latency percentiles for the control API's metrics, refreshed every second.
    pub latency: Arc<std::sync::Mutex<LatencySnapshot>>,
}

/// The render side of the loop.
pub(super) struct FrameLoop {
    scene: Scene,
    renderer: Option<WarpRenderer>,
    adapter: String,
    pose: Pose,
    poses: PoseChooser,
    pacer: Pacer,
    used: Option<FrameSource>,
    submitted_draw: Option<Instant>,
    frames_rendered: u64,
    lookahead_secs: f64,
    tele: Telemetry,
    outputs: Outputs,
    record_scratch: MotionScratch,
    last_stats: Instant,
    last_snapshot: Instant,
    hud_updated: Instant,
    loudness: Loudness,
    /// The user's head from a camera, where it drives the avatar's.
    head: Option<HeadFollower>,
    /// The API's queue, and the utterances begun whose first frame has not been shown yet.
    speech: Option<Arc<SpeechQueue>>,
    speech_starts: std::collections::VecDeque<UtteranceStart>,
    expression: Option<Arc<super::expression::ExpressionState>>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    /// The first error a sink or the renderer met; it ends the loop.
    pub error: Option<PipelineError>,
}

impl FrameLoop {
    pub fn new(
        scene: Scene,
        inputs: Inputs,
        pacer: Pacer,
        outputs: Outputs,
        shared: Arc<Shared>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let Inputs { poses, head, lookahead_secs, speech, expression } = inputs;
        let now = Instant::now();
        Self {
            pose: scene.rig.rest_pose(),
            record_scratch: MotionScratch::new(scene.rig.keypoints.len()),
            scene,
            renderer: None,
            adapter: String::new(),
            poses,
            pacer,
            used: None,
            submitted_draw: None,
            frames_rendered: 0,
            lookahead_secs,
            tele: Telemetry::default(),
            outputs,
            last_stats: now,
            last_snapshot: now,
            hud_updated: now,
            loudness: Loudness::default(),
            head,
            speech,
            speech_starts: std::collections::VecDeque::new(),
            expression,
            shared,
            stop,
            error: None,
        }
    }

    fn build_renderer(&mut self, ctx: &GpuContext) -> Result<(), PipelineError> {
        let s = &self.scene;
        let mut renderer = WarpRenderer::new(ctx, &s.image, &s.geometry, s.frame)?;
        renderer.set_backdrop(ctx, &crate::pipeline::backdrop(&s.cfg, s.backdrop_image.as_ref())?);
        renderer.set_mark(ctx, crate::pipeline::disclosure_mark(&s.cfg));
        crate::pipeline::warm_up(&s.rig, &mut renderer, ctx)?;
        self.renderer = Some(renderer);
        self.adapter = format!("{} ({:?})", ctx.adapter_info.name, ctx.adapter_info.backend);
        let _ = self.shared.adapter.set(self.adapter.clone());
        self.poses.discard_stale();
        self.pacer.restart();
        self.shared.render_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Waits (briefly) for a fresh pose and sets the frame's pose for a draw now.
    fn prepare(&mut self) {
        let (tele, loudness, sync_marker) = (&mut self.tele, &mut self.loudness, self.outputs.sync_marker);
        let mut seen = |p: &PoseSample| {
            if sync_marker {
                loudness.push(p.end_at, p.rms);
            }
            tele.audio.record_secs(f64::from(p.audio_secs));
            tele.audio_queue.record_secs(f64::from(p.audio_queue_secs));
            tele.motion.record_secs(f64::from(p.motion_secs));
        };
        let input_ended = self.shared.input_ended.load(Ordering::Acquire);
        self.poses.await_fresh(self.pacer.fresh_pose_deadline(), input_ended, &mut seen);
        let now = Instant::now();
        let head = self.head.as_mut().and_then(|h| h.at(now));
        let expression = self.expression.as_ref().and_then(|e| e.at(now));
        self.used = self.poses.choose(&self.scene.rig, now, head, expression.as_ref(), &mut self.pose);
        if let Some(u) = &self.used {
            self.tele.pose_queue.record(u.pose_queue);
        }
    }

    /// Records a frame handed off at `presented`, and schedules the next one.
    fn record(&mut self, submitted: Instant, presented: Instant) -> Result<(), PipelineError> {
        if let Some(draw_start) = self.submitted_draw.take() {
            self.tele.render.record(submitted.saturating_duration_since(draw_start));
        }
        self.tele.present.record(presented.saturating_duration_since(submitted));
        if let Some(u) = self.used {
            let processing = presented.saturating_duration_since(u.arrival);
            self.tele.audio_to_frame.record(processing);
            if let Some(d) = u.host_delay {
                self.tele.capture_to_frame.record(processing + d);
            }
            if let Some(lag) = self.motion_lag_secs(presented) {
                self.tele.motion_lag.record_secs(lag);
            }
            if let Some(captured) = u.head_captured {
                self.tele.head_to_frame.record(presented.saturating_duration_since(captured));
            }
            // The first frame that shows an utterance's sound: the delay from its request.
            if let Some(queue) = &self.speech {
                self.speech_starts.extend(queue.take_starts());
            }
            while self.speech_starts.front().is_some_and(|s| u.audio_t_secs >= s.at_secs) {
                let s = self.speech_starts.pop_front().expect("checked above");
                self.tele.speak_to_frame.record(presented.saturating_duration_since(s.requested));
            }
        }
        if let Some(vmc) = self.outputs.vmc.as_mut() {
            vmc.send(&self.used.map(|u| u.params).unwrap_or_default())?;
        }
        if let Some(w) = self.outputs.motion_out.as_mut() {
            let params = self.used.map(|u| u.params).unwrap_or_default();
            let time = RecordTime {
                t_secs: presented.saturating_duration_since(self.pacer.start()).as_secs_f64(),
                audio_t_secs: self.used.map(|u| u.audio_t_secs),
            };
            let mouth_open = self.scene.rig.mouth_open(&self.pose);
            self.record_scratch.write(w, self.frames_rendered, time, mouth_open, &self.pose, &params)?;
        }
        self.frames_rendered += 1;
        let now = Instant::now();
        self.pacer.advance(now);
        self.shared.frames_rendered.store(self.frames_rendered, Ordering::Relaxed);
        self.shared.frames_dropped.store(self.pacer.skipped(), Ordering::Relaxed);
        if now.saturating_duration_since(self.last_snapshot) >= Duration::from_secs(1) {
            self.last_snapshot = now;
            let snapshot = LatencySnapshot {
                audio_to_frame: self.tele.audio_to_frame.percentiles(),
                motion_lag: self.tele.motion_lag.percentiles(),
                speak_to_frame: self.tele.speak_to_frame.percentiles(),
            };
            *self.outputs.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot;
        }
        if now.saturating_duration_since(self.last_stats).as_secs_f64() >= STATS_EVERY_SECS {
            self.last_stats = now;
            if let Some(path) = &self.outputs.stats_json {
                self.stats().write(path)?;
            }
        }
        Ok(())
    }

    /// How late the frame handed off at `presented` shows the sound it was made from: from the sound
    /// at the centre of the newest mel window to the hand-off, plus the model's lookahead and the
    /// smoothing lag. `None` before any audio.
    fn motion_lag_secs(&self, presented: Instant) -> Option<f64> {
        self.used.map(|u| u.lag_secs(presented, self.lookahead_secs))
    }

    /// Hands the frame just read back to every sink, with its timing and sync marker.
    fn to_sinks(
        sinks: &mut [Box<dyn FrameSink>],
        frame: Frame<'_>,
        marker: Option<&Loudness>,
    ) -> Result<(), OutputError> {
        let frame = Frame {
            marker: marker.map(|loudness| {
                frame.motion_lag_secs.is_some_and(|lag| {
                    frame.presented.checked_sub(Duration::from_secs_f64(lag)).is_some_and(|at| loudness.loud_at(at))
                })
            }),
            ..frame
        };
        sinks.iter_mut().try_for_each(|sink| sink.write(&frame))
    }

    fn is_finished(&self) -> bool {
        self.stop.load(Ordering::Acquire)
            || self.error.is_some()
            || self.shared.input_ended.load(Ordering::Acquire) && self.poses.is_empty()
            || self.shared.failed.load(Ordering::Acquire)
            || self.pacer.is_over(Instant::now())
    }

    /// Runs without a window: every frame is drawn and read back at its tick.
    pub fn run_headless(&mut self) -> Result<(), PipelineError> {
        let ctx = GpuContext::new()?;
        self.build_renderer(&ctx)?;
        while !self.is_finished() {
            let now = Instant::now();
            if now < self.pacer.next_due() {
                std::thread::sleep(self.pacer.next_due() - now);
                continue;
            }
            self.prepare();
            let renderer = self.renderer.as_mut().expect("built above");
            self.submitted_draw = Some(Instant::now());
            let rgba = renderer.render(&ctx, &self.pose)?;
            let done = Instant::now();
            let (index, motion_lag_secs) =
                (self.frames_rendered, self.used.map(|u| u.lag_secs(done, self.lookahead_secs)));
            let frame = Frame { index, rgba, presented: done, motion_lag_secs, marker: None };
            let marker = self.outputs.sync_marker.then_some(&self.loudness);
            Self::to_sinks(&mut self.outputs.sinks, frame, marker)?;
            self.record(done, done)?;
        }
        Ok(())
    }

    /// Finishes the sinks and the motion file; the first failure is returned, the rest still finish.
    pub fn finish_outputs(&mut self) -> Result<(), PipelineError> {
        let mut result = Ok(());
        for sink in std::mem::take(&mut self.outputs.sinks) {
            if let Err(e) = sink.finish(&self.stop) {
                result = result.and(Err(e.into()));
            }
        }
        if let Some(w) = self.outputs.motion_out.take() {
            result = result.and(w.finish().map(drop).map_err(PipelineError::from));
        }
        if let Some(vmc) = &self.outputs.vmc {
            let (sent, dropped) = vmc.counts();
            tracing::info!(sent, dropped, "VMC frames");
        }
        result
    }

    /// Where the stats go, if anywhere.
    pub fn stats_json(&self) -> Option<&PathBuf> {
        self.outputs.stats_json.as_ref()
    }

    pub fn stats(&self) -> LiveStats {
        let elapsed = self.pacer.start().elapsed().as_secs_f64();
        let t = &self.tele;
        LiveStats {
            elapsed_secs: elapsed,
            target_fps: f64::from(self.scene.frame.fps()),
            measured_fps: if elapsed > 0.0 { self.frames_rendered as f64 / elapsed } else { 0.0 },
            frames_rendered: self.frames_rendered,
            frames_dropped: self.pacer.skipped(),
            audio_overruns: self.shared.audio_overruns.load(Ordering::Relaxed),
            hops_dropped: self.shared.hops_dropped.load(Ordering::Relaxed),
            poses_dropped: self.poses.dropped(),
            audio_losses: self.shared.audio_losses.load(Ordering::Relaxed),
            audio_to_frame_ms: t.audio_to_frame.percentiles(),
            capture_to_frame_ms: t.capture_to_frame.percentiles(),
            motion_lag_ms: t.motion_lag.percentiles(),
            head_to_frame_ms: t.head_to_frame.percentiles(),
            speak_to_frame_ms: t.speak_to_frame.percentiles(),
            stages_ms: t.stages(),
            source: self.outputs.source.clone(),
            adapter: self.adapter.clone(),
            width: self.scene.frame.width_px(),
            height: self.scene.frame.height_px(),
            stream: self.outputs.stream_probe.as_ref().map(StreamProbe::stats),
        }
    }
}

impl FrameProducer for FrameLoop {
    fn start(&mut self, ctx: &GpuContext) -> Result<(), OutputError> {
        self.build_renderer(ctx).map_err(|e| OutputError::Window(format!("cannot build the renderer: {e}")))
    }

    fn target(&self) -> &wgpu::TextureView {
        self.renderer.as_ref().expect("start() builds the renderer first").target_view()
    }

    fn next_due(&self) -> Instant {
        self.pacer.next_due()
    }

    fn draw(&mut self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder) -> Result<(), OutputError> {
        self.prepare();
        self.submitted_draw = Some(Instant::now());
        let renderer = self.renderer.as_mut().expect("start() builds the renderer first");
        renderer.encode(ctx, &self.pose, encoder).map_err(|e| OutputError::Window(e.to_string()))?;
        if !self.outputs.sinks.is_empty() {
            // Sinks too: the same frame is copied out in the window's command buffer.
            renderer.encode_readback(encoder);
        }
        Ok(())
    }

    fn handed_off(&mut self, ctx: &GpuContext, submitted: Instant, presented: Instant) {
        if !self.outputs.sinks.is_empty() {
            let (index, motion_lag_secs) = (self.frames_rendered, self.motion_lag_secs(presented));
            let renderer = self.renderer.as_mut().expect("start() builds the renderer first");
            let written = match renderer.read_back(ctx) {
                Ok(rgba) => {
                    let frame = Frame { index, rgba, presented, motion_lag_secs, marker: None };
                    let marker = self.outputs.sync_marker.then_some(&self.loudness);
                    Self::to_sinks(&mut self.outputs.sinks, frame, marker).map_err(PipelineError::from)
                }
                Err(e) => Err(e.into()),
            };
            if let Err(e) = written {
                self.error.get_or_insert(e);
            }
        }
        if let Err(e) = self.record(submitted, presented) {
            self.error.get_or_insert(e);
        }
    }

    fn hud(&mut self, text: &mut String) -> bool {
        let now = Instant::now();
        if now.saturating_duration_since(self.hud_updated) < Duration::from_millis(500) && !text.is_empty() {
            return false;
        }
        self.hud_updated = now;
        let elapsed = now.saturating_duration_since(self.pacer.start()).as_secs_f64().max(1e-3);
        let fps = self.frames_rendered as f64 / elapsed;
        let overruns = self.shared.audio_overruns.load(Ordering::Relaxed);
        self.tele.hud_text(text, fps, self.pacer.skipped(), overruns);
        true
    }

    fn finished(&self) -> bool {
        self.is_finished()
    }
}
