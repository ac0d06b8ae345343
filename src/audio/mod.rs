//! Audio in: files of any common format, rate and channel count, turned into 16 kHz mono `f32`.
//!
//! Input: a path (or bytes) holding WAV, FLAC, MP3, OGG/Vorbis (and AAC/M4A). Output: [`Audio`],
//! 16 kHz mono samples in -1..1. Decoding is symphonia's, resampling rubato's.
//! Thread: the caller's; the offline render decodes the whole file up front.
//!
//! [`live`] holds the live inputs: the microphone (cpal; its callback runs on the audio host's thread
//! and writes a lock-free ring), a file played in real time and raw PCM on standard input, all behind
//! [`live::LiveSource`], and [`live::StreamResampler`], the streaming resampler to 16 kHz. The live loop's
//! audio thread reads them.
//!
//! Architecture Invariant: only this module knows symphonia, rubato and cpal; later stages see 16 kHz
//! mono `f32` samples and nothing of devices, containers, codecs or rates.

pub mod live;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// The sample rate every stage after this one works at.
pub const SAMPLE_RATE_HZ: u32 = 16_000;

/// The input sample rates facecast takes, from a file header, a device or `--pcm`: anything outside is a
/// damaged or hostile header (a 1 Hz WAV would be resampled into gigabytes).
pub const INPUT_RATES_HZ: std::ops::RangeInclusive<u32> = 4_000..=384_000;

/// The most channels an input may have.
pub const MAX_INPUT_CHANNELS: usize = 32;

/// Errors from reading audio. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened.
    #[error("cannot open audio {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The format is not recognised (or the file is not audio at all).
    #[error("{path} is not audio facecast can read (WAV, FLAC, MP3, OGG/Vorbis, AAC/M4A): {reason}")]
    Unsupported { path: PathBuf, reason: String },
    /// The container holds no decodable audio track.
    #[error("{path} has no audio track")]
    NoTrack { path: PathBuf },
    /// The stream is corrupt beyond recovery.
    #[error("cannot decode {path}: {reason}")]
    Decode { path: PathBuf, reason: String },
    /// The file holds no samples.
    #[error("{path} contains no audio samples")]
    Empty { path: PathBuf },
    /// Resampling failed.
    #[error("cannot resample {path} from {rate_hz} Hz: {reason}")]
    Resample { path: PathBuf, rate_hz: u32, reason: String },
    /// The header declares a sample rate or channel count outside what facecast takes.
    #[error(
        "{path} declares {rate_hz} Hz and {channels} channels; facecast reads 4000 to 384000 Hz and 1 to 32 channels (a damaged header?)"
    )]
    Layout { path: PathBuf, rate_hz: u32, channels: usize },
}

/// Audio as decoded, before resampling: mono (channels averaged), at the file's own rate.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    /// Mono samples in -1..1.
    pub samples: Vec<f32>,
    /// The file's sample rate.
    pub rate_hz: u32,
    /// The file's channel count (before the down-mix).
    pub channels: usize,
    /// True when the stream ended before the length its header declared (a truncated file); the
    /// samples hold what could be read.
    pub truncated: bool,
}

impl DecodedAudio {
    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate_hz)
    }
}

/// 16 kHz mono audio, ready for the feature front end.
#[derive(Debug, Clone)]
pub struct Audio {
    /// Samples in -1..1 at [`SAMPLE_RATE_HZ`].
    pub samples: Vec<f32>,
}

impl Audio {
    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(SAMPLE_RATE_HZ)
    }
}

/// Decodes a file to mono at its own rate.
///
/// # Errors
/// [`AudioError`] when the file is missing, not audio, has no track, is corrupt or holds no samples.
pub fn decode_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    use std::io::{Read as _, Seek as _};
    let open_err = |source| AudioError::Open { path: path.to_owned(), source };
    let ext = path.extension().and_then(|e| e.to_str());
    if path.as_os_str() == "-" {
        // Standard input: read as a stream, once.
        let mut stdin = std::io::stdin();
        let mut head = Vec::with_capacity(4096);
        (&mut stdin).take(4096).read_to_end(&mut head).map_err(open_err)?;
        check_wav_header(&head, path)?;
        let rest = std::io::Cursor::new(head).chain(stdin);
        return decode_source(Box::new(ReadOnlySource::new(rest)), ext, Path::new("standard input"));
    }
    let mut file = std::fs::File::open(path).map_err(open_err)?;
    let mut head = Vec::with_capacity(4096);
    (&mut file).take(4096).read_to_end(&mut head).map_err(open_err)?;
    check_wav_header(&head, path)?;
    if file.metadata().is_ok_and(|m| m.is_file()) {
        file.rewind().map_err(open_err)?;
        decode_source(Box::new(file), ext, path)
    } else {
        // A FIFO or a device: no seeking back, so the bytes already read go first.
        let rest = std::io::Cursor::new(head).chain(file);
        decode_source(Box::new(ReadOnlySource::new(rest)), ext, path)
    }
}

/// A WAV's rate and channel count from its `fmt ` chunk, checked before symphonia reads them (it panics
/// on a rate of 0). Anything that is not a RIFF WAV passes.
fn check_wav_header(head: &[u8], path: &Path) -> Result<(), AudioError> {
    if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Ok(());
    }
    let mut at = 12;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let len = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]) as usize;
        if id == b"fmt " {
            let Some(fmt) = head.get(at + 8..at + 16) else { return Ok(()) };
            let channels = usize::from(u16::from_le_bytes([fmt[2], fmt[3]]));
            let rate_hz = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
            return check_layout(path, rate_hz, channels);
        }
        at = at.saturating_add(8).saturating_add(len + (len & 1));
    }
    Ok(())
}

/// Decodes in-memory bytes (for bundled clips); `name` is used in messages and its extension as a hint.
///
/// # Errors
/// As [`decode_file`].
pub fn decode_bytes(bytes: &'static [u8], name: &Path) -> Result<DecodedAudio, AudioError> {
    check_wav_header(bytes, name)?;
    let ext = name.extension().and_then(|e| e.to_str());
    decode_source(Box::new(Cursor::new(bytes)), ext, name)
}

fn decode_source(source: Box<dyn MediaSource>, ext: Option<&str>, path: &Path) -> Result<DecodedAudio, AudioError> {
    // symphonia panics on some malformed headers (a WAV of 0 Hz: "TimeBase cannot have 0 numerator");
    // that is bad input, not a bug of ours, so it becomes this file's error.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_unchecked(source, ext, path)))
        .unwrap_or_else(|panic| {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the decoder failed".into());
            Err(AudioError::Decode { path: path.to_owned(), reason: format!("malformed stream ({reason})") })
        })?;
    Ok(decoded)
}

/// Checks a rate and channel count, from a header or a decoded packet, before they size anything.
fn check_layout(path: &Path, rate_hz: u32, channels: usize) -> Result<(), AudioError> {
    if INPUT_RATES_HZ.contains(&rate_hz) && (1..=MAX_INPUT_CHANNELS).contains(&channels) {
        Ok(())
    } else {
        Err(AudioError::Layout { path: path.to_owned(), rate_hz, channels })
    }
}

fn decode_unchecked(source: Box<dyn MediaSource>, ext: Option<&str>, path: &Path) -> Result<DecodedAudio, AudioError> {
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let unsupported = |e: SymphoniaError| AudioError::Unsupported { path: path.to_owned(), reason: e.to_string() };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(unsupported)?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::NoTrack { path: path.to_owned() })?;
    let track_id = track.id;
    let declared_frames = track.codec_params.n_frames;
    let mut rate_hz = track.codec_params.sample_rate.unwrap_or(0);
    let mut channels = track.codec_params.channels.map_or(0, |c| c.count());
    // A header that states its layout is checked before the decoder is built.
    if rate_hz != 0 || channels != 0 {
        check_layout(path, rate_hz, channels.max(1))?;
    }
    let mut decoder =
        symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default()).map_err(unsupported)?;

    let mut samples: Vec<f32> = Vec::new();
    let mut buf: Option<SampleBuffer<f32>> = None;
    let mut decode_errors = 0usize;
    let mut non_finite = 0usize;
    let mut ended_early = false;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => {
                // A stream that breaks off mid-way: keep what was decoded, say so.
                if samples.is_empty() {
                    return Err(AudioError::Decode { path: path.to_owned(), reason: e.to_string() });
                }
                ended_early = true;
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(decoded) => {
                let spec = *decoded.spec();
                rate_hz = spec.rate;
                channels = spec.channels.count();
                check_layout(path, rate_hz, channels)?;
                let needed = decoded.capacity() * channels;
                let sb = match &mut buf {
                    Some(sb) if sb.capacity() >= needed => sb,
                    _ => buf.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
                };
                sb.copy_interleaved_ref(decoded);
                let inv = 1.0 / channels as f32;
                samples.extend(sb.samples().chunks_exact(channels).map(|f| {
                    let v = f.iter().sum::<f32>() * inv;
                    // NaN or infinite samples (a float WAV can hold them) are no sound: silence in
                    // their place, counted and reported below.
                    if v.is_finite() {
                        v
                    } else {
                        non_finite += 1;
                        0.0
                    }
                }));
            }
            Err(SymphoniaError::DecodeError(reason)) => {
                // A damaged packet: skip it, as players do, but give up on a stream of garbage.
                decode_errors += 1;
                tracing::warn!(path = %path.display(), %reason, "skipping an undecodable audio packet");
                if decode_errors > 16 && samples.is_empty() {
                    return Err(AudioError::Decode { path: path.to_owned(), reason: reason.to_owned() });
                }
            }
            Err(SymphoniaError::IoError(_)) => {
                ended_early = true;
                break;
            }
            Err(e) => return Err(AudioError::Decode { path: path.to_owned(), reason: e.to_string() }),
        }
    }
    if samples.is_empty() {
        return Err(AudioError::Empty { path: path.to_owned() });
    }
    if rate_hz == 0 {
        return Err(AudioError::Decode { path: path.to_owned(), reason: "no sample rate".into() });
    }
    if non_finite > 0 {
        tracing::warn!(
            path = %path.display(),
            samples = non_finite,
            "the audio holds NaN or infinite samples; they are played as silence"
        );
    }
    let truncated = ended_early || declared_frames.is_some_and(|n| (samples.len() as u64) < n);
    if truncated {
        tracing::warn!(
            path = %path.display(),
            decoded_secs = samples.len() as f64 / f64::from(rate_hz),
            declared_secs = declared_frames.map(|n| n as f64 / f64::from(rate_hz)),
            "the audio stream ends early (truncated file?); using what was decoded"
        );
    }
    Ok(DecodedAudio { samples, rate_hz, channels, truncated })
}

/// The input chunk for rubato's FFT resampler from `rate_hz` to 16 kHz: at least 1024 samples, a whole
/// number of rate-ratio units, with both FFT sizes even. Only then is `output_delay()` the exact delay;
/// with other chunks rubato rounds its FFT sizes and the output lands a fraction of a sample late (a third
/// of a sample at 48 kHz with a chunk of 1024).
fn fft_chunk_len(rate_hz: u32) -> usize {
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

/// Resamples mono audio to [`SAMPLE_RATE_HZ`] with rubato's FFT resampler, compensating its delay,
/// so that output sample `n` is input time `n / 16000` s and the length is `round(len * 16000 / rate)`.
///
/// # Errors
/// [`AudioError::Resample`] when rubato rejects the rate.
pub fn resample_to_16k(decoded: &DecodedAudio, path: &Path) -> Result<Audio, AudioError> {
    let rate = decoded.rate_hz;
    if rate == SAMPLE_RATE_HZ {
        return Ok(Audio { samples: decoded.samples.clone() });
    }
    let err = |reason: String| AudioError::Resample { path: path.to_owned(), rate_hz: rate, reason };
    let chunk_len = fft_chunk_len(rate);
    let mut resampler = FftFixedIn::<f32>::new(rate as usize, SAMPLE_RATE_HZ as usize, chunk_len, 1, 1)
        .map_err(|e| err(e.to_string()))?;
    let x = &decoded.samples;
    let expected = ((x.len() as f64) * f64::from(SAMPLE_RATE_HZ) / f64::from(rate)).round().max(1.0) as usize;
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + resampler.output_frames_max());
    let mut chunks = x.chunks_exact(chunk_len);
    for chunk in &mut chunks {
        let y = resampler.process(&[chunk], None).map_err(|e| err(e.to_string()))?;
        out.extend_from_slice(&y[0]);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let y = resampler.process_partial(Some(&[rest]), None).map_err(|e| err(e.to_string()))?;
        out.extend_from_slice(&y[0]);
    }
    while out.len() < expected + delay {
        let y = resampler.process_partial::<&[f32]>(None, None).map_err(|e| err(e.to_string()))?;
        out.extend_from_slice(&y[0]);
    }
    out.drain(..delay);
    out.truncate(expected);
    Ok(Audio { samples: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, secs: f64, hz: f64) -> DecodedAudio {
        let n = (f64::from(rate) * secs) as usize;
        let samples = (0..n).map(|i| (0.5 * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin()) as f32);
        DecodedAudio { samples: samples.collect(), rate_hz: rate, channels: 1, truncated: false }
    }

    #[test]
    fn resampling_keeps_length_phase_and_level() {
        for rate in [8_000, 11_025, 22_050, 37_800, 44_100, 48_000, 96_000, 16_001] {
            let a = resample_to_16k(&tone(rate, 1.0, 440.0), Path::new("t")).unwrap();
            assert_eq!(a.samples.len(), 16_000, "rate {rate}");
            // Away from the edges the output is the same sine at 16 kHz, in phase (delay compensated).
            let max_err = (2_000..14_000)
                .map(|i| {
                    let want = 0.5 * (std::f64::consts::TAU * 440.0 * i as f64 / 16_000.0).sin();
                    (f64::from(a.samples[i]) - want).abs()
                })
                .fold(0.0, f64::max);
            assert!(max_err < 0.01, "rate {rate}: max error {max_err}");
            assert!(fft_chunk_len(rate) >= 1024);
        }
    }

    /// A WAV file: 32-bit float samples (`float`) or 16-bit PCM, with whatever rate and channel count
    /// its header should claim.
    fn wav(rate_hz: u32, channels: u16, float: bool, samples: &[f32]) -> &'static [u8] {
        let (format, bits): (u16, u16) = if float { (3, 32) } else { (1, 16) };
        let data: Vec<u8> = if float {
            samples.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            samples.iter().flat_map(|v| ((v * 32767.0) as i16).to_le_bytes()).collect()
        };
        let block = channels * bits / 8;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&format.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate_hz.to_le_bytes());
        b.extend_from_slice(&rate_hz.wrapping_mul(u32::from(block)).to_le_bytes());
        b.extend_from_slice(&block.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&data);
        Box::leak(b.into_boxed_slice())
    }

    #[test]
    fn headers_with_impossible_rates_or_channels_are_refused_before_decoding() {
        let samples = vec![0.1f32; 16_000];
        assert!(decode_bytes(wav(16_000, 1, false, &samples), Path::new("ok.wav")).is_ok());
        // 0 Hz panicked inside symphonia; 1 Hz and 4294967295 Hz grew past 3 GB in the resampler.
        for (rate, channels) in [(0, 1), (1, 1), (u32::MAX, 1), (3_999, 1), (384_001, 1), (16_000, 0), (16_000, 33)] {
            let bytes = wav(rate, channels, false, &samples[..(channels.max(1) as usize) * 100]);
            let err = decode_bytes(bytes, Path::new("bad.wav")).unwrap_err();
            assert!(matches!(err, AudioError::Layout { .. }), "{rate} Hz, {channels} ch: {err}");
            assert!(err.to_string().contains("bad.wav"), "{err}");
        }
    }

    #[test]
    fn non_finite_samples_become_silence() {
        let mut samples = vec![0.25f32; 1_000];
        samples[10] = f32::NAN;
        samples[20] = f32::INFINITY;
        samples[30] = f32::NEG_INFINITY;
        let d = decode_bytes(wav(16_000, 1, true, &samples), Path::new("nan.wav")).unwrap();
        assert_eq!(d.samples.len(), 1_000);
        assert!(d.samples.iter().all(|v| v.is_finite()));
        assert_eq!((d.samples[10], d.samples[20], d.samples[30], d.samples[40]), (0.0, 0.0, 0.0, 0.25));
    }

    #[test]
    fn sixteen_khz_passes_through() {
        let d = tone(16_000, 0.25, 300.0);
        assert_eq!(resample_to_16k(&d, Path::new("t")).unwrap().samples, d.samples);
    }
}
