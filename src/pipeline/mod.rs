//! The only module that wires stages together.
//!
//! Input: a [`RenderJob`] (portrait, audio, output paths, size, rate, config). Output: the MP4, the
//! optional motion JSONL and contact sheet, and a [`RenderSummary`] with per-stage timings.
//! Thread: the offline render runs its stages in order on the caller's thread. Audio is a finished file,
//! so nothing is gained by overlapping the stages, and the per-stage timings stay exact; the live loop
//! runs each stage on its own thread instead.
//!
//! The offline order: decode and resample the audio; per 10 ms hop, one mel frame, one motion step and
//! the One Euro filter on its parameters, with the idle motion (blinks) kept apart; the filter backward
//! over all hops; then per video frame (at `n / fps` s), the smoothed parameters interpolated at that
//! time, rigged, rendered, encoded; finally the mux with the audio.
//!
//! Architecture Invariant: stages never know how they are wired; only this module names more than one.

pub mod bench;
pub mod devices;
pub mod hop;
pub mod live;
mod marker;
mod offline;
pub mod snapshot;
pub mod spoken;
pub mod telemetry;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use image::RgbaImage;

use crate::audio::AudioError;
use crate::config::{BackgroundMode, Config, ConfigError};
use crate::features::FeatureError;
use crate::gpu::GpuContext;
use crate::motion::{MotionError, MotionModel};
use crate::onnx::ModelSource;
use crate::output::{self, MotionRecord, MotionWriter, OutputError};
use crate::portrait::segment::Segmenter;
use crate::portrait::{FaceModels, Portrait, PortraitError};
use crate::render::{Backdrop, RenderError, WarpRenderer};
use crate::vocab::{FrameGeometry, MotionParams};

pub use offline::render_offline;

/// Every error a render can end with, each from the stage that raised it.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Audio in.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// Live audio in.
    #[error(transparent)]
    LiveAudio(#[from] crate::audio::live::LiveAudioError),
    /// Features.
    #[error(transparent)]
    Features(#[from] FeatureError),
    /// Motion model.
    #[error(transparent)]
    Motion(#[from] MotionError),
    /// Portrait analysis.
    #[error(transparent)]
    Portrait(#[from] PortraitError),
    /// The GPU.
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// Renderer.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Output.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// WebRTC out.
    #[error(transparent)]
    Stream(#[from] output::stream::StreamError),
    /// Invalid job settings.
    #[error("{0}")]
    Invalid(String),
    /// Stopped by a signal (SIGINT, SIGTERM) before the end; nothing was written.
    #[error("interrupted")]
    Interrupted,
}

/// An input: a file, or bytes bundled into the binary.
#[derive(Debug, Clone)]
pub enum Input {
    /// A file.
    File(PathBuf),
    /// Bundled bytes, with a file name (its extension is a format hint).
    Bundled { name: &'static str, bytes: &'static [u8] },
}

impl Input {
    /// The bundled portrait.
    pub fn default_portrait() -> Self {
        Self::Bundled { name: "astronaut.png", bytes: crate::assets::DEFAULT_PORTRAIT_PNG }
    }

    /// The bundled speech clip.
    pub fn default_speech() -> Self {
        Self::Bundled { name: "goforward.wav", bytes: crate::assets::DEFAULT_SPEECH_WAV }
    }

    fn name(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Bundled { name, .. } => format!("{name} (bundled)"),
        }
    }
}

/// One offline render.
#[derive(Debug, Clone)]
pub struct RenderJob {
    /// The reference portrait.
    pub portrait: Input,
    /// The speech.
    pub audio: Input,
    /// The MP4 to write.
    pub output: PathBuf,
    /// Frame side and rate, checked when it was built.
    pub frame: FrameGeometry,
    /// Where to write the motion JSONL, if anywhere.
    pub motion_out: Option<PathBuf>,
    /// Where to write a contact sheet PNG of sampled frames, if anywhere.
    pub sheet_out: Option<PathBuf>,
    /// A folder to write every frame into as an RGBA PNG (the sink that keeps alpha), if any.
    pub frames_dir: Option<PathBuf>,
    /// A file (or `-`, standard output) to write every frame into as raw RGBA8, if any.
    pub raw_out: Option<PathBuf>,
    /// Configuration.
    pub config: Config,
    /// Show a progress bar on the terminal.
    pub progress: bool,
    /// Set (by a signal handler) to stop the render; it then ends with [`PipelineError::Interrupted`].
    pub stop: Arc<AtomicBool>,
    /// The mouth of the audio from its first sample, where a text-to-speech engine timed its phones
    /// (`render --text`): it replaces the mouth the model hears.
    pub mouth: Option<Arc<[crate::vocab::MotionParams]>>,
}

/// Whether a panic on this thread now comes from inside the audio decoder, where it is caught and
/// becomes the file's error (`audio::decoding_now`): the command line's panic hook keeps quiet for it.
pub fn decoder_panic_is_caught() -> bool {
    crate::audio::decoding_now()
}

impl RenderJob {
    /// Whether the raw frames go to standard output (`--raw-out -`): then nothing else may.
    pub fn raw_to_stdout(&self) -> bool {
        self.raw_out.as_deref().is_some_and(output::RawFrames::is_stdout)
    }
}

/// Time spent in one stage, and on how many items.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTime {
    /// Total time, seconds.
    pub total_secs: f64,
    /// Items processed (clips, hops or frames).
    pub items: u64,
}

impl StageTime {
    fn add(&mut self, d: Duration, items: u64) {
        self.total_secs += d.as_secs_f64();
        self.items += items;
    }

    /// Milliseconds per item.
    pub fn ms_per_item(&self) -> f64 {
        if self.items == 0 { 0.0 } else { 1e3 * self.total_secs / self.items as f64 }
    }
}

/// Per-stage timings of one render.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StageTimings {
    /// Portrait decode, face detection, landmarks, rig (per portrait).
    pub portrait: StageTime,
    /// GPU device, pipeline and texture set-up (per render).
    pub render_setup: StageTime,
    /// Audio decode (per clip).
    pub decode: StageTime,
    /// Resampling to 16 kHz (per clip).
    pub resample: StageTime,
    /// Log-mel (per 10 ms hop).
    pub mel: StageTime,
    /// Motion model (per 10 ms hop).
    pub motion: StageTime,
    /// One Euro smoothing, both passes (per 10 ms hop). The rig runs per frame (untimed).
    pub smooth: StageTime,
    /// Warp render with readback (per video frame).
    pub render: StageTime,
    /// H.264 encode (per video frame).
    pub encode: StageTime,
    /// MP4 mux with the audio (per clip).
    pub mux: StageTime,
}

/// What a render did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RenderSummary {
    /// The MP4 written.
    pub output: PathBuf,
    /// Video frames.
    pub frames: u64,
    /// Frames per second.
    pub fps: u32,
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Audio duration, seconds.
    pub audio_secs: f64,
    /// Whether the audio file ended early (truncated).
    pub audio_truncated: bool,
    /// Wall time of the whole render, seconds.
    pub wall_secs: f64,
    /// Motion model name and kind.
    pub motion_model: String,
    /// GPU adapter that rendered.
    pub adapter: String,
    /// Mean `mouth_open` over all frames.
    pub mean_mouth_open: f32,
    /// Largest `mouth_open`.
    pub max_mouth_open: f32,
    /// Per-stage timings.
    pub timings: StageTimings,
}

/// Loads the portrait, finds the face, builds the rig and, where the background mode needs it, writes the
/// person mask into the portrait's alpha.
fn prepare_portrait(input: &Input, cfg: &Config) -> Result<Portrait, PipelineError> {
    let image = match input {
        Input::File(p) => crate::portrait::load_image(p)?,
        Input::Bundled { name, bytes } => crate::portrait::decode_image(bytes, name)?,
    };
    let mut face_models = FaceModels::load(&cfg.portrait)?;
    let mut portrait = Portrait::analyze(image, &input.name(), &mut face_models, cfg)?;
    drop(face_models);
    let bg = &cfg.background;
    if bg.needs_mask() {
        let source =
            ModelSource::Bundled { name: "selfie_segmentation.onnx", bytes: crate::assets::SELFIE_SEGMENTATION_ONNX };
        let mut segmenter = Segmenter::new(crate::onnx::session(&source, 1).map_err(PortraitError::from)?);
        crate::portrait::segment::mask_into_alpha(&mut segmenter, &mut portrait.image, bg.refine_edges)?;
    }
    Ok(portrait)
}

/// The configured motion model for the offline render (`live` false) or the live loop, or the bundled
/// trained one for that use.
fn load_motion_model(cfg: &Config, live: bool) -> Result<MotionModel, PipelineError> {
    let (file, bundled): (_, fn() -> ModelSource) = if live {
        (&cfg.motion.live_model, crate::motion::live_model)
    } else {
        (&cfg.motion.model, crate::motion::quality_model)
    };
    load_configured(cfg, file.clone().map_or_else(bundled, ModelSource::File))
}

/// The offline render's noisy-room model, where the config blends one in (`[motion] noise_blend`, with
/// `[audio] denoise`, which says how much noise it left in each hop).
fn load_noise_model(cfg: &Config) -> Result<Option<MotionModel>, PipelineError> {
    if !(cfg.motion.noise_blend && cfg.audio.denoise) {
        return Ok(None);
    }
    let source = cfg.motion.noise_model.clone().map_or_else(crate::motion::noise_model, ModelSource::File);
    load_configured(cfg, source).map(Some)
}

/// A motion model with the config's threads, provider and dead zone.
fn load_configured(cfg: &Config, source: ModelSource) -> Result<MotionModel, PipelineError> {
    let mut model = MotionModel::load_on(&source, cfg.motion.threads, cfg.motion.provider)?;
    model.set_rest_deadzone(cfg.motion.rest_deadzone);
    Ok(model)
}

/// The arrays a motion record is written from, reused frame after frame.
/// A motion record's two clocks: the frame's own time, and the moment of the input audio it shows.
#[derive(Debug, Clone, Copy)]
struct RecordTime {
    t_secs: f64,
    audio_t_secs: Option<f64>,
}

struct MotionScratch {
    keypoints: Vec<[f32; 2]>,
    jacobians: Vec<[[f32; 2]; 2]>,
}

impl MotionScratch {
    fn new(keypoints: usize) -> Self {
        Self { keypoints: vec![[0.0; 2]; keypoints], jacobians: vec![[[0.0; 2]; 2]; keypoints] }
    }

    /// Writes one frame's record: `pose`'s keypoints and Jacobians, and the parameters behind them.
    fn write(
        &mut self,
        w: &mut MotionWriter,
        frame: u64,
        time: RecordTime,
        mouth_open: f32,
        pose: &crate::vocab::Pose,
        params: &MotionParams,
    ) -> Result<(), OutputError> {
        for ((k, j), (p, m)) in
            self.keypoints.iter_mut().zip(self.jacobians.iter_mut()).zip(pose.drv.iter().zip(&pose.jac))
        {
            *k = [p.x, p.y];
            *j = [[m.x_axis.x, m.y_axis.x], [m.x_axis.y, m.y_axis.y]];
        }
        w.write(&MotionRecord {
            frame,
            t_secs: time.t_secs,
            audio_t_secs: time.audio_t_secs,
            mouth_open,
            keypoints: &self.keypoints,
            jacobians: &self.jacobians,
            params,
        })
    }
}

/// Reads the background picture of `[background] mode = "image"`, if that is the mode.
fn backdrop_image(cfg: &Config) -> Result<Option<RgbaImage>, PipelineError> {
    match (&cfg.background.mode, &cfg.background.image) {
        (BackgroundMode::Image, Some(path)) => Ok(Some(
            image::open(path)
                .map_err(|e| PipelineError::Invalid(format!("cannot read background image {}: {e}", path.display())))?
                .to_rgba8(),
        )),
        _ => Ok(None),
    }
}

/// Draws, once before the first real frame, a pose that takes every pass the renderer has (the
/// mouth open on its interior, lids shut, the gaze turned, the head turned) and one with the lips
/// pressed together. Software rasterisers compile parts of their shaders at first use: without this
/// the first frame took 30 ms where the others take under 4, a stall that the live loop would show.
fn warm_up(rig: &crate::portrait::Rig, renderer: &mut WarpRenderer, ctx: &GpuContext) -> Result<(), RenderError> {
    let mut pose = rig.rest_pose();
    let open = MotionParams {
        jaw_open: 1.0,
        blink_right: 1.0,
        blink_left: 1.0,
        gaze_x: 0.5,
        gaze_y: 0.2,
        head_yaw_deg: 3.0,
        ..Default::default()
    };
    rig.drive(&open, &mut pose);
    renderer.render(ctx, &pose)?;
    let mut pose = rig.rest_pose();
    rig.drive(&MotionParams { lip_close: 1.0, ..Default::default() }, &mut pose);
    renderer.render(ctx, &pose)?;
    Ok(())
}

/// The renderer's backdrop for the configured background mode.
/// The disclosure mark the renderer draws (`[output] disclosure`), or none.
fn disclosure_mark(cfg: &Config) -> Option<(&str, crate::render::Corner)> {
    use crate::config::MarkCorner;
    use crate::render::Corner;
    let out = &cfg.output;
    out.disclosure.then(|| {
        let corner = match out.disclosure_corner {
            MarkCorner::TopLeft => Corner::TopLeft,
            MarkCorner::TopRight => Corner::TopRight,
            MarkCorner::BottomLeft => Corner::BottomLeft,
            MarkCorner::BottomRight => Corner::BottomRight,
        };
        (out.disclosure_text.as_str(), corner)
    })
}

fn backdrop<'a>(cfg: &Config, image: Option<&'a RgbaImage>) -> Result<Backdrop<'a>, PipelineError> {
    let bg = &cfg.background;
    Ok(match bg.mode {
        BackgroundMode::Keep => Backdrop::Keep,
        BackgroundMode::Color => Backdrop::Color(bg.rgb()?),
        BackgroundMode::Image => image.map_or(Backdrop::Keep, Backdrop::Image),
        BackgroundMode::Alpha => Backdrop::Alpha,
    })
}

impl RenderSummary {
    /// The summary `facecast render` prints: what was written where, the model and adapter, the mouth's
    /// opening and the speed.
    pub fn to_text(&self, job: &RenderJob) -> String {
        use std::fmt::Write as _;
        let (s, mut out) = (self, String::new());
        let _ = writeln!(
            out,
            "wrote {} ({} frames, {}x{} @ {} fps, {:.2} s of audio)",
            s.output.display(),
            s.frames,
            s.width,
            s.height,
            s.fps,
            s.audio_secs
        );
        if let Some(p) = &job.motion_out {
            let _ = writeln!(out, "motion: {}", p.display());
        }
        if let Some(p) = &job.sheet_out {
            let _ = writeln!(out, "contact sheet: {}", p.display());
        }
        if let Some(p) = &job.frames_dir {
            let _ = writeln!(out, "RGBA frames: {}", p.display());
        }
        if let Some(p) = &job.raw_out {
            let _ = writeln!(
                out,
                "raw RGBA frames: {}",
                if p.as_os_str() == "-" { "standard output".into() } else { p.display().to_string() }
            );
        }
        let _ = writeln!(out, "model {}; adapter {}", s.motion_model, s.adapter);
        let _ = writeln!(out, "mouth_open: mean {:.2}, max {:.2}", s.mean_mouth_open, s.max_mouth_open);
        let _ = writeln!(
            out,
            "took {:.2} s ({:.1}x real time): render {:.2} ms/frame, encode {:.2} ms/frame, motion {:.3} ms/hop",
            s.wall_secs,
            s.audio_secs / s.wall_secs,
            s.timings.render.ms_per_item(),
            s.timings.encode.ms_per_item(),
            s.timings.motion.ms_per_item()
        );
        if s.audio_truncated {
            let _ = writeln!(out, "warning: the audio file ends early (truncated); rendered what could be decoded");
        }
        out
    }
}
