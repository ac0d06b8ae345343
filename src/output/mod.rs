//! Sinks: rendered frames (and the motion that drove them) in; files out.
//!
//! Input: RGBA8 frames of one size at one frame rate, and per frame a [`MotionRecord`]. Output:
//! - [`Mp4Writer`]: H.264 (openh264, constrained baseline) muxed with the input audio (AAC) into MP4 by
//!   ffmpeg, run as a subprocess once at the end (`-c:v copy`: ffmpeg does not re-encode the video);
//! - [`PngSequence`]: every frame as an RGBA PNG (keeps alpha);
//! - [`RawFrames`]: every frame as raw RGBA8 bytes, to a file or standard output, for a pipe into
//!   ffmpeg, GStreamer or OBS (keeps alpha);
//! - [`MotionWriter`]: the motion JSONL, one object per frame (format in README.md);
//! - [`contact_sheet`]: a grid of frames as one PNG, for people to look at;
//! - [`window`]: the live loop's window (winit and a wgpu surface), with an optional HUD.
//!
//! Thread: the encode/output thread (the offline render's one thread). The encoder, its YUV buffer and
//! the bitstream file are set up once; a frame allocates nothing of ours.
//!
//! Architecture Invariant: only output/ knows openh264, ffmpeg, winit and file formats of results.

mod staged;
pub mod stream;
pub mod window;

pub use staged::Staged;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbaImage;
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, Profile, RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::{RgbaSliceU8, YUVBuffer};

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
    /// The window could not be opened or drawn.
    #[error("window: {0}")]
    Window(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_owned(), source }
}

/// Writes every frame as raw RGBA8 (`size * size * 4` bytes, row-major, straight alpha, no header) to a
/// file or to standard output (`-`): what `ffmpeg -f rawvideo -pix_fmt rgba -s WxH -r FPS -i -` reads.
/// A file is written under a temporary name ([`Staged`]): one that was not finished (the render failed)
/// is removed when the sink is dropped.
pub struct RawFrames {
    out: Box<dyn Write + Send>,
    path: PathBuf,
    stage: Option<Staged>,
    size: u32,
    frames: u64,
}

impl RawFrames {
    /// Opens `path` for writing, or standard output when `path` is `-`.
    ///
    /// # Errors
    /// [`OutputError::Io`] when the file cannot be created.
    pub fn create(path: &Path, size: u32) -> Result<Self, OutputError> {
        if Self::is_stdout(path) {
            let out = Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout()));
            return Ok(Self { out, path: path.to_owned(), stage: None, size, frames: 0 });
        }
        let stage = Staged::file(path)?;
        let file = File::create(stage.path()).map_err(io_err(stage.path()))?;
        let out = Box::new(BufWriter::with_capacity(1 << 20, file));
        Ok(Self { out, path: path.to_owned(), stage: Some(stage), size, frames: 0 })
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
        let expected = (self.size * self.size * 4) as usize;
        if rgba.len() != expected {
            return Err(OutputError::FrameSize { got: rgba.len(), expected });
        }
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
    size: u32,
    frames: u64,
}

impl PngSequence {
    /// Stages the folder `dir` (which must not exist or be empty).
    ///
    /// # Errors
    /// [`OutputError::Io`] when `dir` holds files or a folder cannot be made.
    pub fn create(dir: &Path, size: u32) -> Result<Self, OutputError> {
        Ok(Self { stage: Staged::dir(dir)?, size, frames: 0 })
    }

    /// The staged folder, for the caller to commit with the run's other outputs.
    pub fn finish(self) -> Staged {
        self.stage
    }

    /// Writes the next frame (`size * size * 4` bytes of RGBA8, straight alpha).
    ///
    /// # Errors
    /// [`OutputError::FrameSize`] or [`OutputError::Io`].
    pub fn write(&mut self, rgba: &[u8]) -> Result<(), OutputError> {
        let expected = (self.size * self.size * 4) as usize;
        if rgba.len() != expected {
            return Err(OutputError::FrameSize { got: rgba.len(), expected });
        }
        let path = self.stage.path().join(format!("frame_{:06}.png", self.frames));
        let file = BufWriter::new(File::create(&path).map_err(io_err(&path))?);
        let encoder = image::codecs::png::PngEncoder::new_with_quality(
            file,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        );
        image::ImageEncoder::write_image(encoder, rgba, self.size, self.size, image::ExtendedColorType::Rgba8)
            .map_err(|e| OutputError::Io { path: path.clone(), source: std::io::Error::other(e) })?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

/// Writes an H.264 MP4 with the audio of another file.
pub struct Mp4Writer {
    encoder: Encoder,
    yuv: YUVBuffer,
    bitstream: BufWriter<File>,
    /// The H.264 stream, under a temporary name that is never committed: dropped, it is removed.
    bitstream_stage: Staged,
    /// The audio for the muxer, as decoded (mono f32 WAV), the same way.
    audio_stage: Staged,
    audio: Option<(BufWriter<File>, u32)>,
    audio_samples: u64,
    output: PathBuf,
    size: u32,
    fps: u32,
    frames: u64,
    audio_bitrate_kbps: u32,
    ffmpeg: PathBuf,
}

impl Mp4Writer {
    /// Prepares to write `output`: `size x size` frames at `fps`, H.264 at `video_bitrate_kbps`.
    ///
    /// # Errors
    /// [`OutputError::Io`] when the output folder cannot be written, [`OutputError::Encode`] when the
    /// encoder refuses the settings.
    pub fn create(output: &Path, size: u32, fps: u32, cfg: &crate::config::OutputConfig) -> Result<Self, OutputError> {
        let bitstream_stage = Staged::file(&output.with_extension("h264"))?;
        let file = File::create(bitstream_stage.path()).map_err(io_err(bitstream_stage.path()))?;
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(cfg.video_bitrate_kbps * 1000))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .intra_frame_period(IntraFramePeriod::from_num_frames(2 * fps))
            // Every frame must be coded (frame count = duration x fps), so no frame skipping; the
            // buffer-based mode keeps quality steady without it (openh264 warns for the others).
            .rate_control_mode(RateControlMode::Bufferbased)
            .skip_frames(false)
            .vui(VuiConfig::bt601());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| OutputError::Encode(e.to_string()))?;
        Ok(Self {
            encoder,
            yuv: YUVBuffer::new(size as usize, size as usize),
            bitstream: BufWriter::new(file),
            bitstream_stage,
            audio_stage: Staged::file(&output.with_extension("wav"))?,
            audio: None,
            audio_samples: 0,
            output: output.to_owned(),
            size,
            fps,
            frames: 0,
            audio_bitrate_kbps: cfg.audio_bitrate_kbps,
            ffmpeg: cfg.ffmpeg.clone(),
        })
    }

    /// Encodes one RGBA8 frame.
    ///
    /// # Errors
    /// [`OutputError::FrameSize`], [`OutputError::Encode`] or [`OutputError::Io`].
    pub fn write_frame(&mut self, rgba: &[u8]) -> Result<(), OutputError> {
        let expected = (self.size * self.size * 4) as usize;
        if rgba.len() != expected {
            return Err(OutputError::FrameSize { got: rgba.len(), expected });
        }
        self.yuv.read_rgba8(RgbaSliceU8::new(rgba, (self.size as usize, self.size as usize)));
        let bits = self.encoder.encode(&self.yuv).map_err(|e| OutputError::Encode(e.to_string()))?;
        bits.write(&mut self.bitstream).map_err(|e| OutputError::Encode(e.to_string()))?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends mono audio at `rate_hz` (the audio as the render decoded it, so the input is read once)
    /// to what [`finish`](Self::finish) muxes.
    ///
    /// # Errors
    /// [`OutputError::Io`], or a rate that differs from the first call's.
    pub fn write_audio(&mut self, samples: &[f32], rate_hz: u32) -> Result<(), OutputError> {
        let path = self.audio_stage.path().to_owned();
        if self.audio.is_none() {
            let mut w = BufWriter::new(File::create(&path).map_err(io_err(&path))?);
            // The sizes are patched in at the end.
            w.write_all(&wav_f32_header(rate_hz, 0)).map_err(io_err(&path))?;
            self.audio = Some((w, rate_hz));
        }
        let (w, rate) = self.audio.as_mut().expect("opened above");
        if *rate != rate_hz {
            return Err(OutputError::Io { path, source: std::io::Error::other("the audio's rate changed") });
        }
        for v in samples {
            w.write_all(&v.to_le_bytes()).map_err(io_err(&path))?;
        }
        self.audio_samples += samples.len() as u64;
        Ok(())
    }

    /// Muxes the H.264 stream with the audio given to [`write_audio`](Self::write_audio) into the MP4,
    /// staged for the caller to commit. The audio is cut to the video's length. ffmpeg is ended at once
    /// when `stop` is set, and by the kernel if facecast dies: it never outlives the run.
    ///
    /// # Errors
    /// [`OutputError::Mux`] when ffmpeg is missing, fails (with its exit status and message) or was
    /// stopped, [`OutputError::Io`] on write errors or when there is no audio.
    pub fn finish(mut self, stop: &std::sync::atomic::AtomicBool) -> Result<Staged, OutputError> {
        use std::io::{Seek as _, SeekFrom};
        self.bitstream.flush().map_err(io_err(self.bitstream_stage.path()))?;
        drop(self.bitstream);
        let audio_path = self.audio_stage.path().to_owned();
        let (w, rate_hz) = self.audio.take().ok_or_else(|| OutputError::Io {
            path: self.output.clone(),
            source: std::io::Error::other("no audio was given to mux"),
        })?;
        let data_len = u32::try_from(self.audio_samples * 4).map_err(|_| OutputError::Io {
            path: audio_path.clone(),
            source: std::io::Error::other("the audio is too long for the muxer's WAV (4 GiB)"),
        })?;
        let mut file =
            w.into_inner().map_err(|e| OutputError::Io { path: audio_path.clone(), source: e.into_error() })?;
        file.seek(SeekFrom::Start(0)).map_err(io_err(&audio_path))?;
        file.write_all(&wav_f32_header(rate_hz, data_len)).map_err(io_err(&audio_path))?;
        drop(file);
        let audio = &self.audio_stage;
        let video_secs = self.frames as f64 / f64::from(self.fps);
        let mp4 = Staged::file(&self.output)?;
        let mut cmd = Command::new(&self.ffmpeg);
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(["-f", "h264", "-framerate", &self.fps.to_string()])
            .arg("-i")
            .arg(self.bitstream_stage.path())
            .args(["-f", "wav", "-i"])
            .arg(audio.path())
            .args(["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac"])
            .args(["-b:a", &format!("{}k", self.audio_bitrate_kbps)])
            .args(["-t", &format!("{video_secs:.3}"), "-movflags", "+faststart", "-f", "mp4"])
            .arg(mp4.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| OutputError::Mux {
            path: self.output.clone(),
            reason: format!("cannot run {}: {e} (scripts/setup.sh installs ffmpeg)", self.ffmpeg.display()),
        })?;
        // Polled, so that a stop ends it at once rather than after the whole mux.
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if stop.load(std::sync::atomic::Ordering::Acquire) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(OutputError::Mux { path: self.output.clone(), reason: "stopped".into() });
                }
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
                Err(e) => return Err(OutputError::Mux { path: self.output.clone(), reason: e.to_string() }),
            }
        };
        let mut stderr = Vec::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_end(&mut pipe, &mut stderr);
        }
        let out = std::process::Output { status, stdout: Vec::new(), stderr };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            return Err(OutputError::Mux {
                path: self.output.clone(),
                reason: format!(
                    "{} exited with {}{}{}",
                    self.ffmpeg.display(),
                    out.status,
                    if stderr.is_empty() { "" } else { ": " },
                    stderr
                ),
            });
        }
        Ok(mp4)
    }
}

/// Asks the kernel to end the child when facecast dies (Linux's parent-death signal), so that a muxer
/// never outlives a facecast that was killed.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which is
        // async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// The 44-byte header of a mono 32-bit float WAV holding `data_len` bytes of samples.
fn wav_f32_header(rate_hz: u32, data_len: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&rate_hz.to_le_bytes());
    h.extend_from_slice(&(rate_hz * 4).to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&32u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

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
    pub params: &'a crate::motion::MotionParams,
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

/// Lays `frames` out in a grid of `columns`, each scaled to `cell` pixels, with its label
/// (`labels[i]`) drawn as a bar whose length is `bars[i]` (0..1) under it, for a quick visual check.
pub fn contact_sheet(frames: &[RgbaImage], bars: &[f32], columns: usize, cell: u32) -> RgbaImage {
    let columns = columns.max(1);
    let rows = frames.len().div_ceil(columns).max(1);
    let bar_h = (cell / 24).max(4);
    let pad = 4;
    let (cw, ch) = (cell + pad, cell + bar_h + 2 * pad);
    let mut sheet =
        RgbaImage::from_pixel(columns as u32 * cw + pad, rows as u32 * ch + pad, image::Rgba([24, 24, 24, 255]));
    for (i, frame) in frames.iter().enumerate() {
        let (x0, y0) = ((i % columns) as u32 * cw + pad, (i / columns) as u32 * ch + pad);
        let small = image::imageops::resize(frame, cell, cell, image::imageops::FilterType::Triangle);
        image::imageops::overlay(&mut sheet, &small, i64::from(x0), i64::from(y0));
        let len = (bars.get(i).copied().unwrap_or(0.0).clamp(0.0, 1.0) * cell as f32) as u32;
        for y in y0 + cell + pad / 2..y0 + cell + pad / 2 + bar_h {
            for x in x0..x0 + cell {
                let c = if x - x0 < len { [230, 90, 60, 255] } else { [70, 70, 70, 255] };
                sheet.put_pixel(x, y, image::Rgba(c));
            }
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_frames_keep_finished_files_and_remove_unfinished_ones() {
        let dir = std::env::temp_dir().join(format!("facecast_raw_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let frame = vec![7u8; 4 * 4 * 4];
        let done = dir.join("done.rgba");
        let mut raw = RawFrames::create(&done, 4).unwrap();
        raw.write(&frame).unwrap();
        raw.write(&frame).unwrap();
        assert!(matches!(raw.write(&frame[1..]), Err(OutputError::FrameSize { got: 63, expected: 64 })));
        assert_eq!(raw.frames(), 2);
        let stage = raw.finish().unwrap().expect("a file is staged");
        assert!(!done.exists(), "the name appears only on commit");
        stage.commit().unwrap();
        assert_eq!(std::fs::read(&done).unwrap().len(), 128);
        // A render that fails drops the sink unfinished: no partial file is left.
        let failed = dir.join("failed.rgba");
        let mut raw = RawFrames::create(&failed, 4).unwrap();
        raw.write(&frame).unwrap();
        drop(raw);
        assert!(!failed.exists() && !Staged::partial_path(&failed).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
