//! `--portrait camera[:N]`: the portrait taken with the camera. A preview window shows the camera with a
//! 3-2-1 countdown over it (headless, the countdown goes to the log); the frame at zero is checked for
//! one face, with the same checks and errors as a portrait file, and saved as a PNG beside the run, so
//! that a later run can take it as `--portrait FILE`. The run then uses it like any portrait file.
//!
//! Input: a source of face frames (a camera; a video or folder stands in for one in tests) and where to
//! save. Output: the saved PNG's path. Thread: the caller's (the main thread, which owns the window's
//! event loop); the frames stay inside the process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::RgbaImage;

use super::PipelineError;
use crate::Config;
use crate::gpu::GpuContext;
use crate::output::OutputError;
use crate::output::window::{FrameProducer, WindowOptions};
use crate::portrait::frames::{HeadFrames, HeadFrom};
use crate::portrait::{FaceModels, Portrait, PortraitError};
use crate::render::Picture;

/// How a snapshot is taken.
pub struct SnapshotJob {
    /// Where the frames come from.
    pub source: HeadFrom,
    /// The countdown, whole seconds (3: "3", "2", "1", then the picture).
    pub countdown_secs: u32,
    /// Show a preview window (else count down in the log).
    pub preview: bool,
    /// The PNG to write.
    pub save_to: PathBuf,
}

/// The preview's frame rate, frames per second.
const PREVIEW_FPS: f64 = 30.0;

/// Takes the picture, checks it holds one face (`cfg`'s models and thresholds) and saves it.
///
/// # Errors
/// [`PortraitError::Camera`] for a camera that will not open or stops, [`PortraitError::NoFace`] or
/// [`PortraitError::SeveralFaces`] for the picture, [`PipelineError::Invalid`] when the preview window
/// was closed before the countdown ended, and the window's or the file's errors.
pub fn take_portrait(job: &SnapshotJob, cfg: &Config) -> Result<PathBuf, PipelineError> {
    let mut source = job.source.open()?;
    let name = source.name().to_owned();
    let (first, _) = source
        .next_frame()?
        .ok_or_else(|| PortraitError::Camera { camera: name.clone(), reason: "no frames".into() })?;
    let countdown = Duration::from_secs(u64::from(job.countdown_secs));
    let picture = if job.preview {
        let mut preview = Preview::new(source, first, countdown);
        let size = preview.latest.dimensions();
        crate::output::window::run(
            WindowOptions {
                title: "facecast: look at the camera".into(),
                size,
                fullscreen: false,
                hud: false,
                transparent: false,
            },
            &mut preview,
        )?;
        if let Some(e) = preview.error.take() {
            return Err(e.into());
        }
        preview.taken.ok_or_else(|| {
            PipelineError::Invalid("the preview window was closed before the picture was taken".into())
        })?
    } else {
        count_down_in_log(source.as_mut(), first, countdown)?
    };
    let mut models = FaceModels::load(&cfg.portrait)?;
    Portrait::analyze(picture.clone(), &name, &mut models, cfg)?;
    save_png(&picture, &job.save_to)?;
    tracing::info!(path = %job.save_to.display(), "portrait taken (reuse it with --portrait {})", job.save_to.display());
    Ok(job.save_to.clone())
}

/// The default place for a snapshot: `facecast-portrait-<unix seconds>.png` in the working directory.
pub fn default_snapshot_path() -> PathBuf {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    PathBuf::from(format!("facecast-portrait-{secs}.png"))
}

fn save_png(image: &RgbaImage, path: &Path) -> Result<(), PipelineError> {
    let io = |e: std::io::Error| OutputError::Io { path: path.to_owned(), source: e };
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::write(path, bytes).map_err(io)?;
    Ok(())
}

/// Headless: the countdown in the log, the latest frame at zero.
fn count_down_in_log(
    source: &mut dyn HeadFrames,
    first: RgbaImage,
    countdown: Duration,
) -> Result<RgbaImage, PipelineError> {
    let start = Instant::now();
    let mut latest = first;
    let mut said = u64::MAX;
    while start.elapsed() < countdown {
        let left = (countdown - start.elapsed()).as_secs() + 1;
        if left != said {
            tracing::warn!("look at the camera: {left}");
            said = left;
        }
        match source.next_frame()? {
            Some((frame, _)) => latest = frame,
            None => break,
        }
    }
    Ok(latest)
}

/// The preview window's producer: the camera's frames with the seconds left drawn over them.
struct Preview {
    source: Box<dyn HeadFrames>,
    picture: Option<Picture>,
    /// The newest frame as the camera gave it, and the same with the countdown drawn over it.
    latest: RgbaImage,
    shown: Vec<u8>,
    countdown: Duration,
    started: Option<Instant>,
    next_due: Instant,
    taken: Option<RgbaImage>,
    error: Option<PortraitError>,
}

impl Preview {
    fn new(source: Box<dyn HeadFrames>, first: RgbaImage, countdown: Duration) -> Self {
        let shown = first.as_raw().clone();
        Self {
            source,
            picture: None,
            latest: first,
            shown,
            countdown,
            started: None,
            next_due: Instant::now(),
            taken: None,
            error: None,
        }
    }
}

impl FrameProducer for Preview {
    fn start(&mut self, ctx: &GpuContext) -> Result<(), OutputError> {
        self.picture = Some(Picture::new(ctx, self.latest.dimensions()));
        self.started = Some(Instant::now());
        Ok(())
    }

    fn target(&self) -> &wgpu::TextureView {
        self.picture.as_ref().expect("start() makes the picture first").view()
    }

    fn next_due(&self) -> Instant {
        self.next_due
    }

    fn draw(&mut self, ctx: &GpuContext, _encoder: &mut wgpu::CommandEncoder) -> Result<(), OutputError> {
        self.next_due = Instant::now() + Duration::from_secs_f64(1.0 / PREVIEW_FPS);
        let elapsed = self.started.map_or(Duration::ZERO, |s| s.elapsed());
        if elapsed >= self.countdown {
            self.taken = Some(self.latest.clone());
            return Ok(());
        }
        match self.source.next_frame() {
            Ok(Some((frame, _))) if frame.dimensions() == self.latest.dimensions() => self.latest = frame,
            Ok(_) => {}
            Err(e) => {
                self.error = Some(e);
                return Ok(());
            }
        }
        let left = (self.countdown - elapsed).as_secs() + 1;
        let (w, h) = self.latest.dimensions();
        self.shown.copy_from_slice(self.latest.as_raw());
        // The seconds left, a third of the frame high, centred.
        let scale = (h as usize / 3 / crate::text::GLYPH_PX).max(1);
        let digits = left.to_string();
        let text_w = digits.len() * crate::text::GLYPH_PX * scale;
        let at = ((w as usize).saturating_sub(text_w) / 2, (h as usize).saturating_sub(8 * scale) / 2);
        crate::text::draw(&mut self.shown, w as usize, at, &digits, scale, [[255, 255, 255, 255], [0; 4]]);
        if let Some(p) = &self.picture {
            p.write(ctx, &self.shown);
        }
        Ok(())
    }

    fn handed_off(&mut self, _ctx: &GpuContext, _submitted: Instant, _presented: Instant) {}

    fn hud(&mut self, _text: &mut String) -> bool {
        false
    }

    fn finished(&self) -> bool {
        self.taken.is_some() || self.error.is_some()
    }
}
