//! Frames as files: raw RGBA8 (to a file or a pipe) and a folder of PNGs, the two sinks that keep alpha.
//!
//! Input: RGBA8 frames of one [`FrameGeometry`]. Output: the bytes of every frame, or one PNG each.
//! Thread: the caller's (the offline render's one thread).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{Frame, FrameSink, OutputError, Staged, check_frame_bytes, io_err};
use crate::vocab::FrameGeometry;

/// Writes every frame as raw RGBA8 ([`FrameGeometry::frame_bytes`], row-major, straight alpha, no header) to a
/// file or to standard output (`-`): what `ffmpeg -f rawvideo -pix_fmt rgba -s WxH -r FPS -i -` reads.
/// A file is written under a temporary name ([`Staged`]): one that was not finished (the render failed)
/// is removed when the sink is dropped.
pub struct RawFrames {
    out: Box<dyn Write + Send>,
    path: PathBuf,
    stage: Option<Staged>,
    frame: FrameGeometry,
    frames: u64,
}

impl RawFrames {
    /// Opens `path` for writing, or standard output when `path` is `-`.
    ///
    /// # Errors
    /// [`OutputError::Io`] when the file cannot be created.
    pub fn create(path: &Path, frame: FrameGeometry) -> Result<Self, OutputError> {
        if Self::is_stdout(path) {
            let out = Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout()));
            return Ok(Self { out, path: path.to_owned(), stage: None, frame, frames: 0 });
        }
        let stage = Staged::file(path)?;
        let file = File::create(stage.path()).map_err(io_err(stage.path()))?;
        let out = Box::new(BufWriter::with_capacity(1 << 20, file));
        Ok(Self { out, path: path.to_owned(), stage: Some(stage), frame, frames: 0 })
    }

    /// Opens `path` for writing in place, not staged (a live run's output: a FIFO, say, whose reader reads
    /// as it grows), or standard output when `path` is `-`.
    ///
    /// # Errors
    /// [`OutputError::Io`] when the path cannot be opened.
    pub fn create_in_place(path: &Path, frame: FrameGeometry) -> Result<Self, OutputError> {
        if Self::is_stdout(path) {
            return Self::create(path, frame);
        }
        let file = File::create(path).map_err(io_err(path))?;
        let out = Box::new(BufWriter::with_capacity(1 << 20, file));
        Ok(Self { out, path: path.to_owned(), stage: None, frame, frames: 0 })
    }

    /// Whether `path` means standard output.
    pub fn is_stdout(path: &Path) -> bool {
        path.as_os_str() == "-"
    }

    /// Writes the next frame.
    ///
    /// # Errors
    /// [`OutputError::FrameSize`], or [`OutputError::Io`] (a reader that went away: broken pipe).
    pub fn write(&mut self, rgba: &[u8]) -> Result<(), OutputError> {
        check_frame_bytes(rgba, self.frame)?;
        self.out.write_all(rgba).map_err(io_err(&self.path))?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flushes the last frames; a file comes back staged, for the caller to commit with the run's other
    /// outputs.
    ///
    /// # Errors
    /// [`OutputError::Io`].
    pub fn finish(mut self) -> Result<Option<Staged>, OutputError> {
        self.out.flush().map_err(io_err(&self.path))?;
        Ok(self.stage.take())
    }
}

/// Writes every frame as an RGBA PNG, `frame_000000.png` on, into one folder: the sink that keeps alpha.
/// The folder is staged ([`Staged::dir`]): it must be new or empty, and appears once committed.
pub struct PngSequence {
    stage: Staged,
    frame: FrameGeometry,
    frames: u64,
}

impl PngSequence {
    /// Stages the folder `dir` (which must not exist or be empty).
    ///
    /// # Errors
    /// [`OutputError::Io`] when `dir` holds files or a folder cannot be made.
    pub fn create(dir: &Path, frame: FrameGeometry) -> Result<Self, OutputError> {
        Ok(Self { stage: Staged::dir(dir)?, frame, frames: 0 })
    }

    /// The staged folder, for the caller to commit with the run's other outputs.
    pub fn finish(self) -> Staged {
        self.stage
    }

    /// Writes the next frame (RGBA8, straight alpha).
    ///
    /// # Errors
    /// [`OutputError::FrameSize`] or [`OutputError::Io`].
    pub fn write(&mut self, rgba: &[u8]) -> Result<(), OutputError> {
        check_frame_bytes(rgba, self.frame)?;
        let path = self.stage.path().join(format!("frame_{:06}.png", self.frames));
        let file = BufWriter::new(File::create(&path).map_err(io_err(&path))?);
        let encoder = image::codecs::png::PngEncoder::new_with_quality(
            file,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        );
        image::ImageEncoder::write_image(
            encoder,
            rgba,
            self.frame.width_px(),
            self.frame.height_px(),
            image::ExtendedColorType::Rgba8,
        )
        .map_err(|e| OutputError::Io { path: path.clone(), source: std::io::Error::other(e) })?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl FrameSink for RawFrames {
    fn write(&mut self, frame: &Frame<'_>) -> Result<(), OutputError> {
        RawFrames::write(self, frame.rgba)?;
        if self.stage.is_none() {
            // A pipe (standard output, a FIFO): its reader sees each frame as it is made.
            self.out.flush().map_err(io_err(&self.path))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _stop: &AtomicBool) -> Result<Option<Staged>, OutputError> {
        RawFrames::finish(*self)
    }
}

impl FrameSink for PngSequence {
    fn write(&mut self, frame: &Frame<'_>) -> Result<(), OutputError> {
        PngSequence::write(self, frame.rgba)
    }

    fn finish(self: Box<Self>, _stop: &AtomicBool) -> Result<Option<Staged>, OutputError> {
        Ok(Some(PngSequence::finish(*self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Staged;

    #[test]
    fn raw_frames_keep_finished_files_and_remove_unfinished_ones() {
        let dir = std::env::temp_dir().join(format!("facecast_raw_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let geometry = FrameGeometry::square(64, 30).unwrap();
        let frame = vec![7u8; geometry.frame_bytes()];
        let done = dir.join("done.rgba");
        let mut raw = RawFrames::create(&done, geometry).unwrap();
        raw.write(&frame).unwrap();
        raw.write(&frame).unwrap();
        assert!(matches!(raw.write(&frame[1..]), Err(OutputError::FrameSize { got: 16383, expected: 16384 })));
        assert_eq!(raw.frames(), 2);
        let stage = raw.finish().unwrap().expect("a file is staged");
        assert!(!done.exists(), "the name appears only on commit");
        stage.commit().unwrap();
        assert_eq!(std::fs::read(&done).unwrap().len(), 2 * 16384);
        // A render that fails drops the sink unfinished: no partial file is left.
        let failed = dir.join("failed.rgba");
        let mut raw = RawFrames::create(&failed, geometry).unwrap();
        raw.write(&frame).unwrap();
        drop(raw);
        assert!(!failed.exists() && !Staged::partial_path(&failed).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
