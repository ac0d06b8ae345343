//! Frames of a face over time, for head tracking: a video file or a folder of images played in real
//! time, or a camera (`camera.rs`), all behind one trait, [`HeadFrames`].
//!
//! Input: a path (a folder of PNG/JPEG/WebP/BMP images, taken in name order, or a video file that ffmpeg
//! decodes) and a frame rate. Output: RGBA frames, each released when its time comes and stamped with
//! that instant. Thread: the live loop's head thread; the frames stay inside the process.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use image::RgbaImage;

use super::PortraitError;

/// A source of face frames over time.
/// Not `Send`: a camera must stay on the thread that opened it, so the head thread opens its source
/// itself ([`HeadFrom::open`]).
pub trait HeadFrames {
    /// What it is, for messages.
    fn name(&self) -> &str;

    /// Waits until the next frame is due and returns it with the instant it was captured (released,
    /// for a file); `None` at the end.
    ///
    /// # Errors
    /// [`PortraitError::Camera`] or [`PortraitError::HeadFrames`] when a frame cannot be had.
    fn next_frame(&mut self) -> Result<Option<(RgbaImage, Instant)>, PortraitError>;
}

/// Where head frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadFrom {
    /// A camera, by its index (`facecast devices`).
    Camera(u32),
    /// A folder of images or a video file, played at a frame rate.
    Path { path: PathBuf, fps: u32 },
}

impl HeadFrom {
    /// Opens the source. Call it on the thread that reads the frames.
    ///
    /// # Errors
    /// [`PortraitError::Camera`] for a camera that will not open; [`PortraitError::HeadFrames`] for a
    /// missing path, an empty folder or a file ffmpeg cannot decode.
    pub fn open(&self) -> Result<Box<dyn HeadFrames>, PortraitError> {
        Ok(match self {
            Self::Camera(index) => Box::new(super::camera::CameraFrames::open(*index)?),
            Self::Path { path, fps } if path.is_dir() => Box::new(FolderFrames::open(path, *fps)?),
            Self::Path { path, fps } => Box::new(VideoFrames::open(path, *fps)?),
        })
    }
}

/// Paces frames at a steady rate from the first one, and says how far a slow reader has fallen behind,
/// so that it skips frames rather than show the head later and later.
struct Clock {
    period: Duration,
    start: Option<Instant>,
    released: u32,
}

impl Clock {
    fn new(fps: u32) -> Self {
        Self { period: Duration::from_secs_f64(1.0 / f64::from(fps.max(1))), start: None, released: 0 }
    }

    /// How many frames are overdue beyond the next one (0 before the first).
    fn behind(&self) -> u32 {
        let Some(start) = self.start else { return 0 };
        let due_now =
            (Instant::now().saturating_duration_since(start).as_secs_f64() / self.period.as_secs_f64()) as u32;
        due_now.saturating_sub(self.released)
    }

    /// Skips `n` frames.
    fn skip(&mut self, n: u32) {
        self.released += n;
    }

    /// Sleeps until the next frame is due; returns that instant.
    fn wait(&mut self) -> Instant {
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + self.period * self.released;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        self.released += 1;
        due.max(start)
    }
}

/// A folder of images, in name order.
pub struct FolderFrames {
    name: String,
    files: Vec<PathBuf>,
    next: usize,
    clock: Clock,
}

impl FolderFrames {
    /// Lists the images in `dir`.
    ///
    /// # Errors
    /// [`PortraitError::HeadFrames`] when the folder cannot be read or holds no image.
    pub fn open(dir: &Path, fps: u32) -> Result<Self, PortraitError> {
        let name = dir.display().to_string();
        let fail = |reason: String| PortraitError::HeadFrames { path: name.clone(), reason };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| fail(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["png", "jpg", "jpeg", "webp", "bmp"].contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(fail("the folder holds no PNG, JPEG, WebP or BMP image".into()));
        }
        Ok(Self { name, files, next: 0, clock: Clock::new(fps) })
    }
}

impl HeadFrames for FolderFrames {
    fn name(&self) -> &str {
        &self.name
    }

    fn next_frame(&mut self) -> Result<Option<(RgbaImage, Instant)>, PortraitError> {
        let behind = self.clock.behind();
        self.clock.skip(behind);
        self.next += behind as usize;
        let Some(path) = self.files.get(self.next) else { return Ok(None) };
        self.next += 1;
        let image = super::load_image(path)?;
        Ok(Some((image, self.clock.wait())))
    }
}

/// A video file, decoded by ffmpeg into RGBA at `fps` and read from its standard output.
pub struct VideoFrames {
    name: String,
    child: Child,
    out: ChildStdout,
    size: (u32, u32),
    clock: Clock,
}

impl VideoFrames {
    /// Starts ffmpeg on `path` (ffprobe tells the frame size first).
    ///
    /// # Errors
    /// [`PortraitError::HeadFrames`] when the file is missing, holds no video, or ffmpeg cannot run.
    pub fn open(path: &Path, fps: u32) -> Result<Self, PortraitError> {
        let name = path.display().to_string();
        let fail = |reason: String| PortraitError::HeadFrames { path: name.clone(), reason };
        if !path.is_file() {
            return Err(fail("no such file or folder".into()));
        }
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .map_err(|e| fail(format!("cannot run ffprobe: {e} (scripts/setup.sh installs ffmpeg)")))?;
        let text = String::from_utf8_lossy(&probe.stdout);
        let mut dims = text.trim().split(',').map(str::parse::<u32>);
        let size = match (dims.next(), dims.next()) {
            (Some(Ok(w)), Some(Ok(h))) if probe.status.success() && w > 0 && h > 0 && w <= 8192 && h <= 8192 => (w, h),
            _ => {
                return Err(fail(format!(
                    "not a video ffmpeg can read: {}",
                    String::from_utf8_lossy(&probe.stderr).trim()
                )));
            }
        };
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-r", &fps.to_string(), "-f", "rawvideo", "-pix_fmt", "rgba", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        crate::process::die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run ffmpeg: {e}")))?;
        let out = child.stdout.take().ok_or_else(|| fail("ffmpeg gave no output pipe".into()))?;
        Ok(Self { name, child, out, size, clock: Clock::new(fps) })
    }
}

impl HeadFrames for VideoFrames {
    fn name(&self) -> &str {
        &self.name
    }

    fn next_frame(&mut self) -> Result<Option<(RgbaImage, Instant)>, PortraitError> {
        let (w, h) = self.size;
        let mut buf = vec![0u8; w as usize * h as usize * 4];
        // Frames whose time has passed are read and dropped: the head shows now, not late.
        let behind = self.clock.behind();
        for _ in 0..=behind {
            match self.out.read_exact(&mut buf) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(PortraitError::HeadFrames { path: self.name.clone(), reason: e.to_string() }),
            }
        }
        self.clock.skip(behind);
        let image = RgbaImage::from_raw(w, h, buf).expect("the buffer has the frame's size");
        Ok(Some((image, self.clock.wait())))
    }
}

impl Drop for VideoFrames {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
