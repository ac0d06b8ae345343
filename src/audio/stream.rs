//! Audio as a stream: [`AudioStream`] decodes a file packet by packet into mono chunks at the file's own
//! rate, and [`Resampler16k`] turns such chunks into 16 kHz samples as they come. The offline render
//! runs both as it goes, so its memory does not grow with the audio's length; [`super::decode_file`] and
//! [`super::resample_to_16k`] are the same two run to the end.
//!
//! Thread: the caller's.
//!
//! Input: a file or bytes in any container facecast reads. Output: mono chunks at the file's rate, then 16 kHz samples.

use std::io::{Cursor, Read as _, Seek as _};
use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatReader;
use symphonia::core::io::{MediaSource, ReadOnlySource};

use super::source::{check_wav_header, checked_source, probe_format};
use super::{AudioError, INPUT_RATES_HZ, MAX_INPUT_CHANNELS};
use crate::vocab::clock::SAMPLE_RATE_HZ;

/// Checks a rate and channel count, from a header or a decoded packet, before they size anything.
pub(super) fn check_layout(path: &Path, rate_hz: u32, channels: usize) -> Result<(), AudioError> {
    if INPUT_RATES_HZ.contains(&rate_hz) && (1..=MAX_INPUT_CHANNELS).contains(&channels) {
        Ok(())
    } else {
        Err(AudioError::Layout { path: path.to_owned(), rate_hz, channels })
    }
}

thread_local! {
    /// Set while this thread runs symphonia under [`guarded`].
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside symphonia where a panic is caught and becomes the file's error: the
/// command line's panic hook prints nothing for those (the error says it once).
pub fn decoding_now() -> bool {
    DECODING.with(std::cell::Cell::get)
}

/// symphonia panics on some malformed input (a WAV of 0 Hz: "TimeBase cannot have 0 numerator", though
/// [`check_wav_header`] refuses that first; built with debug assertions, a FLAC whose predictor overflows,
/// found by fuzz/fuzz_targets/audio_decode); that is bad input, not a bug of ours, so it becomes this
/// file's error. (A raw AAC stream whose first frame lies past the middle of a short file panicked too,
/// "step != 0"; [`probe_format`] now keeps symphonia from the estimate that did.)
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T, AudioError>) -> Result<T, AudioError> {
    let was = DECODING.with(|d| d.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    DECODING.with(|d| d.set(was));
    result.unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the decoder failed".into());
        Err(AudioError::Decode { path: path.to_owned(), reason: format!("malformed stream ({reason})") })
    })
}

/// A file decoded as it is read: mono chunks (channels averaged) at the file's rate, one packet at a
/// time. NaN and infinite samples come out as silence (counted; [`finish`](Self::finish) warns).
pub struct AudioStream {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    declared_frames: Option<u64>,
    rate_hz: u32,
    channels: usize,
    buf: Option<SampleBuffer<f32>>,
    chunk: Vec<f32>,
    frames: u64,
    decode_errors: usize,
    non_finite: u64,
    ended_early: bool,
    ended: bool,
}

impl AudioStream {
    /// Opens a file, or standard input for `-`; a FIFO or device is read as a stream, once.
    ///
    /// # Errors
    /// [`AudioError`] when the file is missing, not audio, or its header is impossible.
    pub fn open_file(path: &Path) -> Result<Self, AudioError> {
        let open_err = |source| AudioError::Open { path: path.to_owned(), source };
        if path.as_os_str() == "-" {
            let mut stdin = std::io::stdin();
            let mut head = Vec::with_capacity(4096);
            (&mut stdin).take(4096).read_to_end(&mut head).map_err(open_err)?;
            let name = Path::new("standard input");
            check_wav_header(&head, name)?;
            let rest = Cursor::new(head).chain(stdin);
            return Self::open(Box::new(ReadOnlySource::new(rest)), name);
        }
        let mut file = std::fs::File::open(path).map_err(open_err)?;
        let mut head = Vec::with_capacity(4096);
        (&mut file).take(4096).read_to_end(&mut head).map_err(open_err)?;
        check_wav_header(&head, path)?;
        if file.metadata().is_ok_and(|m| m.is_file()) {
            file.rewind().map_err(open_err)?;
            Self::open(Box::new(file), path)
        } else {
            // A FIFO or a device: no seeking back, so the bytes already read go first.
            let rest = Cursor::new(head).chain(file);
            Self::open(Box::new(ReadOnlySource::new(rest)), path)
        }
    }

    /// Opens bytes (a bundled clip); `name` is used in messages.
    ///
    /// # Errors
    /// As [`open_file`](Self::open_file).
    pub fn open_bytes(bytes: &'static [u8], name: &Path) -> Result<Self, AudioError> {
        check_wav_header(bytes, name)?;
        Self::open(Box::new(Cursor::new(bytes)), name)
    }

    /// Opens owned bytes; `name` is used in messages.
    ///
    /// # Errors
    /// As [`open_file`](Self::open_file).
    pub fn open_owned(bytes: Vec<u8>, name: &Path) -> Result<Self, AudioError> {
        check_wav_header(&bytes, name)?;
        Self::open(Box::new(Cursor::new(bytes)), name)
    }

    fn open(source: Box<dyn MediaSource>, path: &Path) -> Result<Self, AudioError> {
        let source = checked_source(source, path)?;
        guarded(path, || {
            let unsupported =
                |e: SymphoniaError| AudioError::Unsupported { path: path.to_owned(), reason: e.to_string() };
            let format = probe_format(source).map_err(unsupported)?;
            let track = format
                .tracks()
                .iter()
                .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
                .ok_or_else(|| AudioError::NoTrack { path: path.to_owned() })?;
            let rate_hz = track.codec_params.sample_rate.unwrap_or(0);
            let channels = track.codec_params.channels.map_or(0, |c| c.count());
            // A header that states its layout is checked before the decoder is built.
            if rate_hz != 0 || channels != 0 {
                check_layout(path, rate_hz, channels.max(1))?;
            }
            let decoder = symphonia::default::get_codecs()
                .make(&track.codec_params, &DecoderOptions::default())
                .map_err(unsupported)?;
            Ok(Self {
                path: path.to_owned(),
                track_id: track.id,
                declared_frames: track.codec_params.n_frames,
                format,
                decoder,
                rate_hz,
                channels,
                buf: None,
                chunk: Vec::new(),
                frames: 0,
                decode_errors: 0,
                non_finite: 0,
                ended_early: false,
                ended: false,
            })
        })
    }

    /// The name used in messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sample rate: the header's until the first chunk, then the stream's (0 if neither said yet).
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// The channel count before the down-mix.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The length the header declares, seconds, if it declares one.
    pub fn declared_secs(&self) -> Option<f64> {
        self.declared_frames.filter(|_| self.rate_hz > 0).map(|n| n as f64 / f64::from(self.rate_hz))
    }

    /// The next mono chunk and its rate, or `None` at the end of the stream.
    ///
    /// # Errors
    /// [`AudioError`] for a stream that is corrupt from its start, or whose layout is impossible or
    /// changes mid-way.
    pub fn next_chunk(&mut self) -> Result<Option<(&[f32], u32)>, AudioError> {
        if self.ended {
            return Ok(None);
        }
        let path = self.path.clone();
        let got = guarded(&path, || self.decode_next())?;
        if got {
            Ok(Some((&self.chunk, self.rate_hz)))
        } else {
            self.ended = true;
            Ok(None)
        }
    }

    /// Decodes packets until one yields samples (true) or the stream ends (false).
    fn decode_next(&mut self) -> Result<bool, AudioError> {
        let path = &self.path;
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(SymphoniaError::ResetRequired) => return Ok(false),
                Err(e) => {
                    // A stream that breaks off mid-way: keep what was decoded, say so.
                    if self.frames == 0 {
                        return Err(AudioError::Decode { path: path.clone(), reason: e.to_string() });
                    }
                    self.ended_early = true;
                    return Ok(false);
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(decoded) => {
                    let spec = *decoded.spec();
                    let channels = spec.channels.count();
                    check_layout(path, spec.rate, channels)?;
                    if self.frames > 0 && spec.rate != self.rate_hz {
                        return Err(AudioError::Decode {
                            path: path.clone(),
                            reason: format!(
                                "the sample rate changes mid-stream ({} to {} Hz)",
                                self.rate_hz, spec.rate
                            ),
                        });
                    }
                    (self.rate_hz, self.channels) = (spec.rate, channels);
                    let needed = decoded.capacity() * channels;
                    let sb = match &mut self.buf {
                        Some(sb) if sb.capacity() >= needed => sb,
                        _ => self.buf.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
                    };
                    sb.copy_interleaved_ref(decoded);
                    let inv = 1.0 / channels as f32;
                    let non_finite = &mut self.non_finite;
                    self.chunk.clear();
                    self.chunk.extend(sb.samples().chunks_exact(channels).map(|f| {
                        let v = f.iter().sum::<f32>() * inv;
                        // NaN or infinite samples (a float WAV can hold them) are no sound.
                        if v.is_finite() {
                            v
                        } else {
                            *non_finite += 1;
                            0.0
                        }
                    }));
                    if self.chunk.is_empty() {
                        continue;
                    }
                    self.frames += self.chunk.len() as u64;
                    return Ok(true);
                }
                Err(SymphoniaError::DecodeError(reason)) => {
                    // A damaged packet: skip it, as players do, but give up on a stream of garbage.
                    self.decode_errors += 1;
                    tracing::warn!(path = %path.display(), %reason, "skipping an undecodable audio packet");
                    if self.decode_errors > 16 && self.frames == 0 {
                        return Err(AudioError::Decode { path: path.clone(), reason: reason.to_owned() });
                    }
                }
                Err(SymphoniaError::IoError(_)) => {
                    self.ended_early = true;
                    return Ok(false);
                }
                Err(e) => return Err(AudioError::Decode { path: path.clone(), reason: e.to_string() }),
            }
        }
    }

    /// After the last chunk: checks that there was audio, warns about what was odd, and says whether
    /// the stream ended before the length its header declared (a truncated file).
    ///
    /// # Errors
    /// [`AudioError::Empty`] when no sample was decoded.
    pub fn finish(&self) -> Result<bool, AudioError> {
        if self.frames == 0 || self.rate_hz == 0 {
            return Err(AudioError::Empty { path: self.path.clone() });
        }
        if self.non_finite > 0 {
            tracing::warn!(
                path = %self.path.display(),
                samples = self.non_finite,
                "the audio holds NaN or infinite samples; they are played as silence"
            );
        }
        let truncated = self.ended_early || self.declared_frames.is_some_and(|n| self.frames < n);
        if truncated {
            tracing::warn!(
                path = %self.path.display(),
                decoded_secs = self.frames as f64 / f64::from(self.rate_hz),
                declared_secs = self.declared_secs(),
                "the audio stream ends early (truncated file?); using what was decoded"
            );
        }
        Ok(truncated)
    }
}

/// The input chunk for rubato's FFT resampler from `rate_hz` to 16 kHz: at least 1024 samples, a whole
/// number of rate-ratio units, with both FFT sizes even. Only then is `output_delay()` the exact delay;
/// with other chunks rubato rounds its FFT sizes and the output lands a fraction of a sample late (a third
/// of a sample at 48 kHz with a chunk of 1024).
pub(super) fn fft_chunk_len(rate_hz: u32) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let (rate, out) = (rate_hz as usize, SAMPLE_RATE_HZ as usize);
    let g = gcd(rate, out);
    let (in_unit, out_unit) = (rate / g, out / g);
    let mut k = 1024usize.div_ceil(in_unit);
    while (k * in_unit) % 2 != 0 || (k * out_unit) % 2 != 0 {
        k += 1;
    }
    k * in_unit
}

/// Mono audio to [`SAMPLE_RATE_HZ`] as it comes, with rubato's FFT resampler, its delay compensated: out
/// sample `n` is input time `n / SAMPLE_RATE_HZ` s, and after [`finish`](Self::finish) the length is
/// `round(len * SAMPLE_RATE_HZ / rate)` (at least 1). A pass-through at 16 kHz.
pub struct Resampler16k {
    path: PathBuf,
    rate_hz: u32,
    inner: Option<FftFixedIn<f32>>,
    chunk_len: usize,
    pending: Vec<f32>,
    to_skip: usize,
    fed: u64,
    given: u64,
}

impl Resampler16k {
    /// A resampler from `rate_hz`; `path` names the input in errors.
    ///
    /// # Errors
    /// [`AudioError::Resample`] when rubato rejects the rate.
    pub fn new(rate_hz: u32, path: &Path) -> Result<Self, AudioError> {
        let (inner, chunk_len, delay) = if rate_hz == SAMPLE_RATE_HZ {
            (None, 0, 0)
        } else {
            let chunk_len = fft_chunk_len(rate_hz);
            let r = FftFixedIn::<f32>::new(rate_hz as usize, SAMPLE_RATE_HZ as usize, chunk_len, 1, 1)
                .map_err(|e| AudioError::Resample { path: path.to_owned(), rate_hz, reason: e.to_string() })?;
            let delay = r.output_delay();
            (Some(r), chunk_len, delay)
        };
        Ok(Self {
            path: path.to_owned(),
            rate_hz,
            inner,
            chunk_len,
            pending: Vec::with_capacity(2 * chunk_len),
            to_skip: delay,
            fed: 0,
            given: 0,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> AudioError {
        AudioError::Resample { path: self.path.clone(), rate_hz: self.rate_hz, reason: e.to_string() }
    }

    /// Appends to `out` the 16 kHz samples of every whole chunk `input` completes.
    ///
    /// # Errors
    /// [`AudioError::Resample`] when rubato fails.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.fed += input.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            self.given += input.len() as u64;
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut used = 0;
        while self.pending.len() - used >= self.chunk_len {
            let y = inner.process(&[&self.pending[used..used + self.chunk_len]], None).map_err(|e| {
                AudioError::Resample { path: self.path.clone(), rate_hz: self.rate_hz, reason: e.to_string() }
            })?;
            used += self.chunk_len;
            let skip = self.to_skip.min(y[0].len());
            self.to_skip -= skip;
            out.extend_from_slice(&y[0][skip..]);
            self.given += (y[0].len() - skip) as u64;
        }
        self.pending.drain(..used);
        Ok(())
    }

    /// Appends the rest: the partial last chunk and the filter's tail, up to the length the input
    /// makes at 16 kHz.
    ///
    /// # Errors
    /// [`AudioError::Resample`] when rubato fails.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let expected =
            ((self.fed as f64) * f64::from(SAMPLE_RATE_HZ) / f64::from(self.rate_hz)).round().max(1.0) as u64;
        if self.inner.is_none() {
            return Ok(());
        }
        let mut take = |y: &[f32], this: &mut Self| {
            let skip = this.to_skip.min(y.len());
            this.to_skip -= skip;
            let keep = ((y.len() - skip) as u64).min(expected.saturating_sub(this.given)) as usize;
            out.extend_from_slice(&y[skip..skip + keep]);
            this.given += keep as u64;
        };
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let y = self.inner.as_mut().expect("resampling").process_partial(Some(&[rest.as_slice()]), None);
            let y = y.map_err(|e| self.err(e))?;
            take(&y[0], self);
        }
        while self.given < expected {
            let y = self.inner.as_mut().expect("resampling").process_partial::<&[f32]>(None, None);
            let y = y.map_err(|e| self.err(e))?;
            take(&y[0], self);
        }
        Ok(())
    }
}
