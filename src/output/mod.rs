//! Sinks: rendered frames (and the motion that drove them) in; files, pipes, a window and streams out.
//!
//! Input: RGBA8 frames of one [`FrameGeometry`], each as a [`Frame`], and per frame a [`MotionRecord`].
//! Output, every pixel sink behind one trait, [`FrameSink`]:
//! - [`Mp4Writer`] (`mp4.rs`): H.264 muxed with the input audio into MP4 by ffmpeg;
//! - [`PngSequence`] and [`RawFrames`] (`frames.rs`): a PNG per frame, or raw RGBA8 to a file or a pipe
//!   (both keep alpha);
//! - [`stream::StreamSink`]: WebRTC (WHEP viewers, a WHIP server), through the stream branch's threads;
//! - [`Y4mSink`] (`y4m.rs`): a YUV4MPEG2 pipe for ffmpeg, GStreamer and OBS;
//! - [`V4l2Sink`] (`v4l2.rs`): a virtual camera (v4l2loopback), written on its own steady clock.
//!
//! and beside them [`MotionWriter`] (`motion.rs`, the motion JSONL), [`vmc::VmcSender`] (`vmc.rs`, VMC over
//! OSC for VTuber tools), [`contact_sheet`] (`sheet.rs`),
//! [`write_json`] (the live stats) and [`window`], the live window. The window is not a pixel sink: it
//! is the live loop's clock and draws the renderer's GPU texture itself ([`window::FrameProducer`]).
//!
//! Thread: the caller's (the offline render's one thread, the live loop's render thread). A new sink (a
//! virtual camera, a Y4M pipe) is one new file with one `impl FrameSink`, which the pipeline hands frames.
//!
//! Architecture Invariant: only output/ knows openh264, ffmpeg, winit and the file formats of results.

mod frames;
mod i420;
mod motion;
mod mp4;
mod sheet;
mod staged;
pub mod stream;
pub mod v4l2;
pub mod vmc;
pub mod window;
mod y4m;

pub use frames::{PngSequence, RawFrames};
pub use motion::{MotionRecord, MotionWriter};
pub use mp4::Mp4Writer;
pub use sheet::contact_sheet;
pub use staged::Staged;
pub use v4l2::V4l2Sink;
pub use y4m::Y4mSink;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::vocab::FrameGeometry;

/// One rendered frame, as every sink gets it.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Frame index from 0.
    pub index: u64,
    /// The pixels: RGBA8, straight alpha, row-major, [`FrameGeometry::frame_bytes`] long.
    pub rgba: &'a [u8],
    /// When the render handed it off (live; offline, when it was drawn).
    pub presented: Instant,
    /// How late the frame shows the sound it was made from (the live motion lag), when it shows any.
    pub motion_lag_secs: Option<f64>,
    /// The A/V sync marker to paint: `Some(true)` white (the sound it shows is loud), `Some(false)`
    /// black, `None` none.
    pub marker: Option<bool>,
}

/// Where frames go. Each sink checks the frame's size, writes it (or hands it to its own thread) and is
/// finished once; a sink that fails or is dropped unfinished leaves nothing under its output's name.
pub trait FrameSink {
    /// Takes the next frame.
    ///
    /// # Errors
    /// [`OutputError::FrameSize`] for a frame of the wrong size, or the sink's own failure.
    fn write(&mut self, frame: &Frame<'_>) -> Result<(), OutputError>;

    /// Takes the next stretch of the input audio as decoded (mono, `rate_hz`), for a sink that carries
    /// the sound (the MP4). Others ignore it.
    ///
    /// # Errors
    /// The sink's own failure.
    fn write_audio(&mut self, _samples: &[f32], _rate_hz: u32) -> Result<(), OutputError> {
        Ok(())
    }

    /// Completes the output. A file comes back staged, for the caller to commit with the run's other
    /// outputs; a sink with nothing to commit (a pipe, a stream) returns `None`. `stop` ends any wait
    /// at once.
    ///
    /// # Errors
    /// The sink's own failure.
    fn finish(self: Box<Self>, stop: &AtomicBool) -> Result<Option<Staged>, OutputError>;
}

/// Checks that `rgba` holds one frame of `frame`.
fn check_frame_bytes(rgba: &[u8], frame: FrameGeometry) -> Result<(), OutputError> {
    let expected = frame.frame_bytes();
    if rgba.len() == expected { Ok(()) } else { Err(OutputError::FrameSize { got: rgba.len(), expected }) }
}

/// Writes `value` as pretty JSON to `path`, atomically (a temporary file renamed over `path`).
///
/// # Errors
/// [`OutputError::Io`], with the path.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), OutputError> {
    let io = |source: std::io::Error| OutputError::Io { path: path.to_owned(), source };
    let stage = Staged::file(path)?;
    let json = serde_json::to_vec_pretty(value).map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::write(stage.path(), json).map_err(io)?;
    stage.commit()
}

/// Errors of the output stage.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The H.264 encoder failed.
    #[error("H.264 encoding failed: {0}")]
    Encode(String),
    /// ffmpeg is missing or failed.
    #[error("muxing {path} with ffmpeg failed: {reason}")]
    Mux { path: PathBuf, reason: String },
    /// A frame of the wrong size.
    #[error("frame has {got} bytes, expected {expected}")]
    FrameSize { got: usize, expected: usize },
    /// A device (a virtual camera) could not be opened, set up or written.
    #[error("{path}: {reason}")]
    Device { path: PathBuf, reason: String },
    /// The window could not be opened or drawn.
    #[error("window: {0}")]
    Window(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_owned(), source }
}
