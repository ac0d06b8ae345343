//! The Y4M sink: live frames as a YUV4MPEG2 stream, to a file, a FIFO or standard output, for ffmpeg,
//! GStreamer and OBS media sources.
//!
//! Input: RGBA8 frames of one [`FrameGeometry`]. Output: a `YUV4MPEG2` header with the size, the frame
//! rate, square pixels, progressive scan, 4:2:0 chroma (JPEG siting) and `XCOLORRANGE=LIMITED` (BT.601
//! limited range, as [`I420`] converts), then `FRAME` and three planes per frame. Thread: the caller's
//! (the live loop's render thread); a slow reader holds up only the frames, which the loop then skips.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::i420::I420;
use super::{Frame, FrameSink, OutputError, Staged, check_frame_bytes, io_err};
use crate::vocab::FrameGeometry;

/// Writes a Y4M stream.
pub struct Y4mSink {
    out: Box<dyn Write + Send>,
    path: PathBuf,
    frame: FrameGeometry,
    i420: I420,
    buf: Vec<u8>,
    frames: u64,
}

impl Y4mSink {
    /// Opens `path` (`-` for standard output) and writes the stream header. A path is written in place:
    /// it may be a FIFO that a reader has open.
    ///
    /// # Errors
    /// [`OutputError::Io`] when the path cannot be opened or written.
    pub fn create(path: &Path, frame: FrameGeometry) -> Result<Self, OutputError> {
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout()))
        } else {
            Box::new(BufWriter::with_capacity(1 << 20, File::create(path).map_err(io_err(path))?))
        };
        let i420 = I420::new(frame);
        let mut sink =
            Self { out, path: path.to_owned(), frame, buf: Vec::with_capacity(i420.frame_bytes()), i420, frames: 0 };
        let header = format!(
            "YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\n",
            width = frame.width_px(),
            height = frame.height_px(),
            fps = frame.fps()
        );
        sink.out.write_all(header.as_bytes()).map_err(io_err(&sink.path))?;
        Ok(sink)
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl FrameSink for Y4mSink {
    fn write(&mut self, frame: &Frame<'_>) -> Result<(), OutputError> {
        check_frame_bytes(frame.rgba, self.frame)?;
        self.buf.clear();
        self.i420.convert_into(frame.rgba, &mut self.buf);
        let io = io_err(&self.path);
        self.out.write_all(b"FRAME\n").and_then(|()| self.out.write_all(&self.buf)).map_err(io)?;
        // A pipe's reader sees each frame as it is made.
        self.out.flush().map_err(io_err(&self.path))?;
        self.frames += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>, _stop: &AtomicBool) -> Result<Option<Staged>, OutputError> {
        self.out.flush().map_err(io_err(&self.path))?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_header_and_frames_follow_the_yuv4mpeg2_layout() {
        let dir = std::env::temp_dir().join(format!("facecast_y4m_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.y4m");
        let geometry = FrameGeometry::square(64, 25).unwrap();
        let mut sink = Box::new(Y4mSink::create(&path, geometry).unwrap());
        let rgba = vec![128u8; geometry.frame_bytes()];
        for index in 0..3 {
            let frame = Frame { index, rgba: &rgba, presented: Instant::now(), motion_lag_secs: None, marker: None };
            sink.write(&frame).unwrap();
        }
        let short =
            Frame { index: 3, rgba: &rgba[1..], presented: Instant::now(), motion_lag_secs: None, marker: None };
        assert!(matches!(sink.write(&short), Err(OutputError::FrameSize { .. })));
        assert_eq!(sink.frames(), 3);
        assert!(sink.finish(&AtomicBool::new(false)).unwrap().is_none(), "a stream is not staged");
        let bytes = std::fs::read(&path).unwrap();
        let header = b"YUV4MPEG2 W64 H64 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\n";
        assert!(bytes.starts_with(header));
        let per_frame = 6 + 64 * 64 * 3 / 2;
        assert_eq!(bytes.len(), header.len() + 3 * per_frame);
        assert_eq!(&bytes[header.len()..header.len() + 6], b"FRAME\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
