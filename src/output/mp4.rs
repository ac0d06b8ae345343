//! The MP4 sink: H.264 (openh264, constrained baseline) muxed with the input audio (AAC) by ffmpeg.
//!
//! Input: RGBA8 frames of one [`FrameGeometry`] and the decoded audio. Output: the MP4, staged. The
//! video goes to a temporary Annex-B stream as it comes, the audio to a temporary WAV; ffmpeg runs once
//! at the end as a subprocess (`-c:v copy`: it does not re-encode the video). Thread: the caller's (the
//! offline render's one thread). The encoder and its YUV buffer are set up once.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, Profile, RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::{RgbaSliceU8, YUVBuffer};

use super::{Frame, FrameSink, OutputError, Staged, check_frame_bytes, io_err};
use crate::vocab::FrameGeometry;

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
    frame: FrameGeometry,
    frames: u64,
    /// Frames with alpha are laid over black first (an MP4 has no alpha), into this buffer.
    over_black: Option<Vec<u8>>,
    audio_bitrate_kbps: u32,
    ffmpeg: PathBuf,
    /// The disclosure the file's metadata carries (`[output] disclosure`), if any.
    disclosure: Option<String>,
}

impl Mp4Writer {
    /// Prepares to write `output`: frames of `frame`'s side and rate, H.264 at `video_bitrate_kbps`. With
    /// `over_black`, each frame's alpha is laid over black first (a render with a transparent
    /// background).
    ///
    /// # Errors
    /// [`OutputError::Io`] when the output folder cannot be written, [`OutputError::Encode`] when the
    /// encoder refuses the settings.
    pub fn create(
        output: &Path,
        frame: FrameGeometry,
        over_black: bool,
        cfg: &crate::config::OutputConfig,
    ) -> Result<Self, OutputError> {
        let (width, height, fps) = (frame.width_px(), frame.height_px(), frame.fps());
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
            yuv: YUVBuffer::new(width as usize, height as usize),
            bitstream: BufWriter::new(file),
            bitstream_stage,
            audio_stage: Staged::file(&output.with_extension("wav"))?,
            audio: None,
            audio_samples: 0,
            output: output.to_owned(),
            frame,
            frames: 0,
            over_black: over_black.then(|| vec![0; frame.frame_bytes()]),
            audio_bitrate_kbps: cfg.audio_bitrate_kbps,
            ffmpeg: cfg.ffmpeg.clone(),
            disclosure: cfg.disclosure.then(|| cfg.disclosure_text.clone()),
        })
    }

    /// Encodes one RGBA8 frame.
    ///
    /// # Errors
    /// [`OutputError::FrameSize`], [`OutputError::Encode`] or [`OutputError::Io`].
    pub fn write_frame(&mut self, rgba: &[u8]) -> Result<(), OutputError> {
        check_frame_bytes(rgba, self.frame)?;
        let rgba = match self.over_black.as_mut() {
            None => rgba,
            Some(buf) => {
                for (dst, src) in buf.chunks_exact_mut(4).zip(rgba.chunks_exact(4)) {
                    let a = u16::from(src[3]);
                    for c in 0..3 {
                        dst[c] = ((u16::from(src[c]) * a + 127) / 255) as u8;
                    }
                    dst[3] = 255;
                }
                buf
            }
        };
        let (width, height) = (self.frame.width_px() as usize, self.frame.height_px() as usize);
        self.yuv.read_rgba8(RgbaSliceU8::new(rgba, (width, height)));
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
    pub fn finish(mut self, stop: &AtomicBool) -> Result<Staged, OutputError> {
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
        let video_secs = self.frame.frame_secs(self.frames);
        let mp4 = Staged::file(&self.output)?;
        let mut cmd = Command::new(&self.ffmpeg);
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(["-f", "h264", "-framerate", &self.frame.fps().to_string()])
            .arg("-i")
            .arg(self.bitstream_stage.path())
            .args(["-f", "wav", "-i"])
            .arg(audio.path())
            .args(["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac"])
            .args(["-b:a", &format!("{}k", self.audio_bitrate_kbps)])
            .args(["-t", &format!("{video_secs:.3}"), "-movflags", "+faststart+use_metadata_tags"]);
        if let Some(text) = &self.disclosure {
            // The disclosure in the file's metadata as well as on the picture: a `synthetic` key that a
            // program can read, and the text as the comment players show.
            cmd.args(["-metadata", "synthetic=true", "-metadata"])
                .arg(format!("comment={text}: synthetic video, made by facecast from one photograph and audio"));
        }
        cmd.args(["-f", "mp4"])
            .arg(mp4.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        crate::process::die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| OutputError::Mux {
            path: self.output.clone(),
            reason: format!("cannot run {}: {e} (scripts/setup.sh installs ffmpeg)", self.ffmpeg.display()),
        })?;
        // Polled, so that a stop ends it at once rather than after the whole mux.
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if stop.load(Ordering::Acquire) => {
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

impl FrameSink for Mp4Writer {
    fn write(&mut self, frame: &Frame<'_>) -> Result<(), OutputError> {
        self.write_frame(frame.rgba)
    }

    fn write_audio(&mut self, samples: &[f32], rate_hz: u32) -> Result<(), OutputError> {
        Mp4Writer::write_audio(self, samples, rate_hz)
    }

    fn finish(self: Box<Self>, stop: &AtomicBool) -> Result<Option<Staged>, OutputError> {
        Mp4Writer::finish(*self, stop).map(Some)
    }
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
