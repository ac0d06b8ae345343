//! The motion JSONL: one object per frame with exactly the values that drove it (format in README.md).
//!
//! Input: a [`MotionRecord`] per frame. Output: one JSON line each, to a staged file (offline) or one
//! that grows in place (live, for `tail -f`). Thread: the render thread.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{OutputError, Staged, io_err};

/// One line of the motion JSONL: exactly the values that drove one rendered frame.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MotionRecord<'a> {
    /// Frame index from 0.
    pub frame: u64,
    /// Frame time, seconds: from the start of the audio offline, from the loop's first frame live.
    pub t_secs: f64,
    /// The moment of the input audio whose sound this frame's mouth shows, seconds from the input's
    /// first sample (offline equal to `t_secs`); `None` (null) before any audio has reached the face.
    pub audio_t_secs: Option<f64>,
    /// Opening of the rendered inner lips, 0 = closed, 1 = the widest this avatar opens.
    pub mouth_open: f32,
    /// Driving keypoints, [-1, 1] frame coordinates (x right, y down).
    pub keypoints: &'a [[f32; 2]],
    /// Jacobians, row-major `[[J00, J01], [J10, J11]]`.
    pub jacobians: &'a [[[f32; 2]; 2]],
    /// The motion model's parameters at this frame (before the rig), by name.
    pub params: &'a crate::vocab::MotionParams,
}

/// Writes the motion JSONL.
pub struct MotionWriter {
    out: BufWriter<File>,
    path: PathBuf,
    stage: Option<Staged>,
}

impl MotionWriter {
    /// Stages `path` ([`Staged`]): the records go to a temporary file until [`finish`](Self::finish)'s
    /// stage is committed.
    ///
    /// # Errors
    /// [`OutputError::Io`].
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let stage = Staged::file(path)?;
        let file = File::create(stage.path()).map_err(io_err(stage.path()))?;
        Ok(Self { out: BufWriter::new(file), path: path.to_owned(), stage: Some(stage) })
    }

    /// Creates (or truncates) `path` and writes it in place, so that it can be read while it grows (the
    /// live loop's records, for `tail -f`); [`finish`](Self::finish) flushes it and stages nothing.
    ///
    /// # Errors
    /// [`OutputError::Io`].
    pub fn create_growing(path: &Path) -> Result<Self, OutputError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let file = File::create(path).map_err(io_err(path))?;
        Ok(Self { out: BufWriter::new(file), path: path.to_owned(), stage: None })
    }

    /// Appends one record as one line.
    ///
    /// # Errors
    /// [`OutputError::Io`].
    pub fn write(&mut self, record: &MotionRecord<'_>) -> Result<(), OutputError> {
        serde_json::to_writer(&mut self.out, record)
            .map_err(|e| OutputError::Io { path: self.path.clone(), source: std::io::Error::other(e) })?;
        self.out.write_all(b"\n").map_err(io_err(&self.path))
    }

    /// Flushes the file and returns it staged (from [`create`](Self::create)), for the caller to commit.
    ///
    /// # Errors
    /// [`OutputError::Io`].
    pub fn finish(mut self) -> Result<Option<Staged>, OutputError> {
        self.out.flush().map_err(io_err(&self.path))?;
        Ok(self.stage.take())
    }
}
