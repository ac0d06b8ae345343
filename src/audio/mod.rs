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
//! Architecture Invariant: only this module knows symphonia, rubato, nnnoiseless and cpal; later stages see 16 kHz
//! mono `f32` samples and nothing of devices, containers, codecs or rates.

mod denoise;
mod espeak;
mod flac;
pub mod live;
mod mp4;
mod ogg;
mod source;
mod stream;
pub mod tts;

pub use denoise::{DenoiseError, Denoiser, denoise};
pub use stream::{AudioStream, Resampler16k, decoding_now};

use std::path::{Path, PathBuf};

use crate::vocab::clock::SAMPLE_RATE_HZ;

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
    /// Noise suppression failed.
    #[error(transparent)]
    Denoise(#[from] DenoiseError),
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

/// Decodes a file (or standard input, `-`; a FIFO is read once) to mono at its own rate.
///
/// # Errors
/// [`AudioError`] when the file is missing, not audio, has no track, is corrupt or holds no samples.
pub fn decode_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    decode_all(AudioStream::open_file(path)?)
}

/// Decodes in-memory bytes (for bundled clips); `name` is used in messages and its extension as a hint.
///
/// # Errors
/// As [`decode_file`].
pub fn decode_bytes(bytes: &'static [u8], name: &Path) -> Result<DecodedAudio, AudioError> {
    decode_all(AudioStream::open_bytes(bytes, name)?)
}

/// Decodes owned bytes (an upload, a fuzzer's input); `name` is used in messages and its extension as a
/// hint.
///
/// # Errors
/// As [`decode_file`].
pub fn decode_owned(bytes: Vec<u8>, name: &Path) -> Result<DecodedAudio, AudioError> {
    decode_all(AudioStream::open_owned(bytes, name)?)
}

fn decode_all(mut stream: AudioStream) -> Result<DecodedAudio, AudioError> {
    let mut samples = Vec::new();
    while let Some((chunk, _)) = stream.next_chunk()? {
        samples.extend_from_slice(chunk);
    }
    let truncated = stream.finish()?;
    Ok(DecodedAudio { samples, rate_hz: stream.rate_hz(), channels: stream.channels(), truncated })
}

/// Resamples mono audio to [`SAMPLE_RATE_HZ`] with rubato's FFT resampler, compensating its delay,
/// so that output sample `n` is input time `n / SAMPLE_RATE_HZ` s and the length is
/// `round(len * SAMPLE_RATE_HZ / rate)`.
///
/// # Errors
/// [`AudioError::Resample`] when rubato rejects the rate.
pub fn resample_to_16k(decoded: &DecodedAudio, path: &Path) -> Result<Audio, AudioError> {
    let mut r = Resampler16k::new(decoded.rate_hz, path)?;
    let mut samples = Vec::with_capacity(
        (decoded.samples.len() as f64 * f64::from(SAMPLE_RATE_HZ) / f64::from(decoded.rate_hz)) as usize + 1,
    );
    r.push(&decoded.samples, &mut samples)?;
    r.finish(&mut samples)?;
    Ok(Audio { samples })
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
            assert_eq!(a.samples.len(), SAMPLE_RATE_HZ as usize, "rate {rate}");
            // Away from the edges the output is the same sine at 16 kHz, in phase (delay compensated).
            let max_err = (2_000..14_000)
                .map(|i| {
                    let want = 0.5 * (std::f64::consts::TAU * 440.0 * i as f64 / f64::from(SAMPLE_RATE_HZ)).sin();
                    (f64::from(a.samples[i]) - want).abs()
                })
                .fold(0.0, f64::max);
            assert!(max_err < 1e-2, "rate {rate}: max error {max_err}");
            assert!(stream::fft_chunk_len(rate) >= 1024);
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
        let samples = vec![0.1f32; SAMPLE_RATE_HZ as usize];
        assert!(decode_bytes(wav(SAMPLE_RATE_HZ, 1, false, &samples), Path::new("ok.wav")).is_ok());
        // 0 Hz panicked inside symphonia; 1 Hz and 4294967295 Hz grew past 3 GB in the resampler.
        for (rate, channels) in
            [(0, 1), (1, 1), (u32::MAX, 1), (3_999, 1), (384_001, 1), (SAMPLE_RATE_HZ, 0), (SAMPLE_RATE_HZ, 33)]
        {
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
        let d = decode_bytes(wav(SAMPLE_RATE_HZ, 1, true, &samples), Path::new("nan.wav")).unwrap();
        assert_eq!(d.samples.len(), 1_000);
        assert!(d.samples.iter().all(|v| v.is_finite()));
        assert_eq!((d.samples[10], d.samples[20], d.samples[30], d.samples[40]), (0.0, 0.0, 0.0, 0.25));
    }

    #[test]
    fn resampling_in_pieces_gives_what_resampling_at_once_gives() {
        // The offline render resamples each decoded packet as it comes.
        for rate in [44_100, 48_000, 22_050] {
            let whole = tone(rate, 1.3, 300.0);
            let at_once = resample_to_16k(&whole, Path::new("t")).unwrap().samples;
            let mut r = Resampler16k::new(rate, Path::new("t")).unwrap();
            let mut pieces = Vec::new();
            for chunk in whole.samples.chunks(777) {
                r.push(chunk, &mut pieces).unwrap();
            }
            r.finish(&mut pieces).unwrap();
            assert_eq!(pieces, at_once, "rate {rate}");
        }
    }

    #[test]
    fn sixteen_khz_passes_through() {
        let d = tone(SAMPLE_RATE_HZ, 0.25, 300.0);
        assert_eq!(resample_to_16k(&d, Path::new("t")).unwrap().samples, d.samples);
    }
}
