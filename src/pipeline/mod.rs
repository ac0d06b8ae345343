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

pub mod hop;
pub mod live;
pub mod queue;
mod stream;
pub mod telemetry;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use image::RgbaImage;
use indicatif::{ProgressBar, ProgressStyle};

use crate::audio::{self, AudioError};
use crate::config::{BackgroundMode, Config, ConfigError};
use crate::features::{self, FeatureError, HOP_SAMPLES, N_FFT};
use crate::motion::smooth::ParamSmoother;
use crate::motion::{MotionError, MotionModel, MotionParams};
use crate::onnx::ModelSource;
use crate::output::{self, MotionRecord, MotionWriter, Mp4Writer, OutputError, PngSequence, RawFrames, Staged};
use crate::portrait::segment::Segmenter;
use crate::portrait::{FaceModels, Portrait, PortraitError};
use crate::render::{Backdrop, RenderContext, RenderError, WarpRenderer};

use hop::HopChain;

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
    /// Frame side in pixels.
    pub size: u32,
    /// Frames per second.
    pub fps: u32,
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
    /// Rig and One Euro smoothing, both passes (per 10 ms hop).
    pub rig: StageTime,
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
    /// Frame side, pixels.
    pub size: u32,
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
    let source = file.clone().map_or_else(bundled, ModelSource::File);
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
        pose: &crate::portrait::Pose,
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
fn warm_up(rig: &crate::portrait::Rig, renderer: &mut WarpRenderer, ctx: &RenderContext) -> Result<(), RenderError> {
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
fn backdrop<'a>(cfg: &Config, image: Option<&'a RgbaImage>) -> Result<Backdrop<'a>, PipelineError> {
    let bg = &cfg.background;
    Ok(match bg.mode {
        BackgroundMode::Keep => Backdrop::Keep,
        BackgroundMode::Color => Backdrop::Color(bg.rgb()?),
        BackgroundMode::Image => image.map_or(Backdrop::Keep, Backdrop::Image),
        BackgroundMode::Alpha => Backdrop::Alpha,
    })
}

/// [`PipelineError::Interrupted`] once the job's stop flag is set.
fn check_stop(job: &RenderJob) -> Result<(), PipelineError> {
    if job.stop.load(Ordering::Acquire) { Err(PipelineError::Interrupted) } else { Ok(()) }
}

/// Where a path leads: through links to the file itself (`dev`, `inode`) where it exists, else the
/// canonical folder joined with the name.
#[derive(PartialEq)]
enum Resolved {
    Existing(u64, u64),
    New(PathBuf),
}

fn resolve(path: &Path) -> Resolved {
    use std::os::unix::fs::MetadataExt as _;
    if let Ok(m) = std::fs::metadata(path) {
        return Resolved::Existing(m.dev(), m.ino());
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    Resolved::New(dir.join(path.file_name().unwrap_or_default()))
}

/// Refuses a job whose outputs would overwrite one of its inputs (the audio, the portrait, the config's
/// background picture), through links too, or each other: that is data lost for good.
fn check_output_paths(job: &RenderJob) -> Result<(), PipelineError> {
    let mut inputs: Vec<(&str, &Path)> = Vec::new();
    if let Input::File(p) = &job.audio {
        inputs.push(("--audio", p));
    }
    if let Input::File(p) = &job.portrait {
        inputs.push(("--portrait", p));
    }
    if let Some(p) = &job.config.background.image {
        inputs.push(("the background image", p));
    }
    let mut outputs: Vec<(&str, &Path)> = vec![("--output", &job.output)];
    outputs.extend(job.motion_out.as_deref().map(|p| ("--motion-out", p)));
    outputs.extend(job.sheet_out.as_deref().map(|p| ("--sheet", p)));
    outputs.extend(job.frames_dir.as_deref().map(|p| ("--frames-dir", p)));
    outputs.extend(job.raw_out.as_deref().filter(|p| !RawFrames::is_stdout(p)).map(|p| ("--raw-out", p)));
    for (i, (what, out)) in outputs.iter().enumerate() {
        let r = resolve(out);
        for (input, path) in &inputs {
            if resolve(path) == r {
                return Err(PipelineError::Invalid(format!(
                    "{what} {} is {input} {}: writing it would destroy the input; choose another output path",
                    out.display(),
                    path.display()
                )));
            }
        }
        for (other, path) in &outputs[..i] {
            if resolve(path) == r {
                return Err(PipelineError::Invalid(format!(
                    "{what} {} is also {other}: give each output its own path",
                    out.display()
                )));
            }
        }
    }
    Ok(())
}

/// Renders a portrait speaking an audio file, offline.
///
/// # Errors
/// The first [`PipelineError`] any stage raises; nothing is left half-written under the output name
/// (the MP4 appears only once muxed).
pub fn render_offline(job: &RenderJob) -> Result<RenderSummary, PipelineError> {
    let wall = Instant::now();
    let cfg = &job.config;
    cfg.validate()?;
    if job.fps == 0 || job.fps > 120 {
        return Err(PipelineError::Invalid(format!("--fps {} must be in 1..=120", job.fps)));
    }
    crate::render::check_frame_side(job.size)?;
    // The background settings and picture next: cheaper to reject than the audio or the portrait.
    let bg = &cfg.background;
    if bg.mode == BackgroundMode::Alpha && job.frames_dir.is_none() && job.raw_out.is_none() {
        return Err(PipelineError::Invalid(
            "background mode alpha needs --frames-dir or --raw-out (an MP4 has no alpha; the MP4 shows the person \
             over black)"
                .into(),
        ));
    }
    check_output_paths(job)?;
    let backdrop_image = backdrop_image(cfg)?;
    // Every output is opened (staged under a temporary name) before the work starts: a path that cannot
    // be written fails now, not after the render, and nothing appears under a final name until the end.
    let mut mp4 = Mp4Writer::create(&job.output, job.size, job.fps, &cfg.output)?;
    let mut png_frames = job.frames_dir.as_deref().map(|d| PngSequence::create(d, job.size)).transpose()?;
    let mut raw_frames = job.raw_out.as_deref().map(|p| RawFrames::create(p, job.size)).transpose()?;
    let mut motion_out = job.motion_out.as_deref().map(MotionWriter::create).transpose()?;
    let sheet_stage = job
        .sheet_out
        .as_deref()
        .map(|p| -> Result<Staged, OutputError> {
            let stage = Staged::file(p)?;
            std::fs::File::create(stage.path()).map_err(|source| OutputError::Io { path: p.to_owned(), source })?;
            Ok(stage)
        })
        .transpose()?;
    let mut t = StageTimings::default();

    // Then the audio: the cheapest input file to reject.
    let start = Instant::now();
    let (decoded, audio_name) = match &job.audio {
        Input::File(p) => (audio::decode_file(p)?, p.clone()),
        Input::Bundled { name, bytes } => (audio::decode_bytes(bytes, Path::new(name))?, PathBuf::from(name)),
    };
    t.decode.add(start.elapsed(), 1);
    let start = Instant::now();
    let audio = audio::resample_to_16k(&decoded, &audio_name)?;
    t.resample.add(start.elapsed(), 1);

    let start = Instant::now();
    let portrait = prepare_portrait(&job.portrait, cfg)?;
    t.portrait.add(start.elapsed(), 1);

    let model = load_motion_model(cfg, false)?;

    let start = Instant::now();
    let ctx = RenderContext::new()?;
    let mut renderer = WarpRenderer::new(&ctx, &portrait.image, &portrait.framing, &portrait.rig, job.size)?;
    renderer.set_backdrop(&ctx, &backdrop(cfg, backdrop_image.as_ref())?);
    warm_up(&portrait.rig, &mut renderer, &ctx)?;
    t.render_setup.add(start.elapsed(), 1);

    // Per hop: mel -> motion -> smoothing. The signal is padded with one window of silence so
    // that the last video frames have a mel frame centred after them. A model with lookahead speaks for
    // the frame `lookahead` hops back: its first outputs are dropped and as many hops of silence more
    // are fed, so output k belongs to mel frame k.
    let motion_model_name = format!("{} ({}, {})", model.name(), model.kind(), model.provider());
    let lookahead = model.lookahead_frames();
    let mut chain = HopChain::new(model, portrait.rig.clone(), cfg);
    let rig = &portrait.rig;
    let mut pose = rig.rest_pose();
    let padded_len = audio.samples.len() + N_FFT + lookahead * HOP_SAMPLES;
    let n_hops_max = features::frame_count(padded_len) + 1;
    // Each hop's smoothed parameters, with the idle blinks and gaze kept apart: they are added after
    // smoothing. The rig makes each frame's pose from them.
    let mut hop_out: Vec<hop::HopOutput> = Vec::with_capacity(n_hops_max);
    let mut flat = vec![0.0f32; chain.flat_len()];
    let mut hop = [0.0f32; HOP_SAMPLES];
    let mut to_skip = lookahead;
    for start_sample in (0..padded_len).step_by(HOP_SAMPLES) {
        if start_sample % (HOP_SAMPLES * 1000) == 0 {
            check_stop(job)?;
        }
        let real = audio.samples.get(start_sample..).unwrap_or(&[]);
        let n = real.len().min(HOP_SAMPLES);
        hop[..n].copy_from_slice(&real[..n]);
        hop[n..].fill(0.0);
        let out = chain.step(&hop, &mut flat)?;
        t.mel.add(chain.times.mel, 1);
        let Some(out) = out else { continue };
        t.motion.add(chain.times.motion, 1);
        t.rig.add(chain.times.rig, 1);
        if to_skip > 0 {
            to_skip -= 1;
            continue;
        }
        hop_out.push(out);
    }
    let n_hops = hop_out.len();
    if n_hops == 0 {
        return Err(PipelineError::Invalid("the audio is too short for one 25 ms analysis window".into()));
    }
    // Offline the whole sequence is known: a second, backward pass cancels the causal filter's lag
    // (zero phase, as filtfilt), so the mouth does not trail the voice. The live loop cannot do this.
    if cfg.smoothing.offline_zero_phase {
        let s = Instant::now();
        let mut backward = ParamSmoother::new(&cfg.smoothing, features::HOP_SECS as f32);
        for out in hop_out.iter_mut().rev() {
            backward.step(&mut out.params);
        }
        t.rig.add(s.elapsed(), 0);
    }

    // Per video frame: interpolate the smoothed parameters at the frame's time, rig, render, encode.
    let audio_secs = audio.duration_secs();
    let n_frames = ((audio_secs * f64::from(job.fps)).round() as u64).max(1);
    // Alpha frames go to the MP4 over black.
    let mut over_black =
        if bg.mode == BackgroundMode::Alpha { vec![0u8; (job.size * job.size * 4) as usize] } else { Vec::new() };
    let sheet_every = (n_frames / 12).max(1);
    let mut sheet_frames: Vec<RgbaImage> = Vec::new();
    let mut sheet_bars: Vec<f32> = Vec::new();
    let mut record_scratch = MotionScratch::new(rig.keypoints.len());
    let (mut sum_open, mut max_open) = (0.0f64, 0.0f32);
    let bar = if job.progress { ProgressBar::new(n_frames) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} rendering [{bar:32}] {pos}/{len} frames  {per_sec}  eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    for n in 0..n_frames {
        check_stop(job)?;
        let t_secs = n as f64 / f64::from(job.fps);
        let pos = ((t_secs - features::frame_centre_secs(0)) / features::HOP_SECS).clamp(0.0, (n_hops - 1) as f64);
        let (i0, frac) = (pos.floor() as usize, (pos - pos.floor()) as f32);
        let i1 = (i0 + 1).min(n_hops - 1);
        let at_frame = hop_out[i0].lerp(&hop_out[i1], frac);
        rig.drive(&at_frame.params, &mut pose);
        let params = at_frame.frame_params();
        rig.set_eyes(&params, &mut pose);
        let mouth_open = rig.mouth_open(&pose);
        sum_open += f64::from(mouth_open);
        max_open = max_open.max(mouth_open);

        let s = Instant::now();
        let rgba = renderer.render(&ctx, &pose)?;
        t.render.add(s.elapsed(), 1);
        if n % sheet_every == 0 && sheet_frames.len() < 12 && job.sheet_out.is_some() {
            sheet_frames.push(RgbaImage::from_raw(job.size, job.size, rgba.to_vec()).expect("frame size"));
            sheet_bars.push(mouth_open);
        }
        let s = Instant::now();
        if let Some(png) = png_frames.as_mut() {
            png.write(rgba)?;
        }
        if let Some(raw) = raw_frames.as_mut() {
            raw.write(rgba)?;
        }
        if over_black.is_empty() {
            mp4.write_frame(rgba)?;
        } else {
            for (dst, src) in over_black.chunks_exact_mut(4).zip(rgba.chunks_exact(4)) {
                let a = u16::from(src[3]);
                for c in 0..3 {
                    dst[c] = ((u16::from(src[c]) * a + 127) / 255) as u8;
                }
                dst[3] = 255;
            }
            mp4.write_frame(&over_black)?;
        }
        t.encode.add(s.elapsed(), 1);

        if let Some(w) = motion_out.as_mut() {
            // Offline the frame at `t_secs` shows the sound at `t_secs`.
            let time = RecordTime { t_secs, audio_t_secs: Some(t_secs) };
            record_scratch.write(w, n, time, mouth_open, &pose, &params)?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut staged: Vec<Staged> = Vec::new();
    if let Some(w) = motion_out {
        staged.extend(w.finish()?);
    }
    if let Some(raw) = raw_frames {
        staged.extend(raw.finish()?);
    }
    if let Some(png) = png_frames {
        staged.push(png.finish());
    }

    // The muxer takes the audio as decoded: the input is read once (a pipe or FIFO works).
    let s = Instant::now();
    let frames = mp4.frames();
    staged.push(mp4.finish(&decoded.samples, decoded.rate_hz)?);
    t.mux.add(s.elapsed(), 1);

    if let Some(stage) = sheet_stage {
        let sheet = output::contact_sheet(&sheet_frames, &sheet_bars, 4, 256.min(job.size));
        let format = image::ImageFormat::from_path(stage.dest()).unwrap_or(image::ImageFormat::Png);
        sheet
            .save_with_format(stage.path(), format)
            .map_err(|e| OutputError::Io { path: stage.dest().to_owned(), source: std::io::Error::other(e) })?;
        staged.push(stage);
    }
    check_stop(job)?;
    // Everything is complete: the outputs take their names.
    for stage in staged {
        stage.commit()?;
    }

    Ok(RenderSummary {
        output: job.output.clone(),
        frames,
        fps: job.fps,
        size: job.size,
        audio_secs,
        audio_truncated: decoded.truncated,
        wall_secs: wall.elapsed().as_secs_f64(),
        motion_model: motion_model_name,
        adapter: format!("{} ({:?})", ctx.adapter_info.name, ctx.adapter_info.backend),
        mean_mouth_open: (sum_open / n_frames as f64) as f32,
        max_mouth_open: max_open,
        timings: t,
    })
}
