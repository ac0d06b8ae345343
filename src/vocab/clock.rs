//! The audio clock: one sample rate, one hop, one mel window, and the map from mel frames to time.
//!
//! Input: nothing. Output: constants and pure functions. Thread: any.
//!
//! Every stage after decoding works on 16 kHz mono samples cut into 10 ms hops; the log-mel front end
//! windows them 25 ms at a time with librosa's `center=False` convention (frame `i` covers samples
//! `[160 i, 160 i + 400)`).
//!
//! Architecture Invariant: this is the only place that writes the sample rate or the hop as a number
//! (tests/architecture.rs reads the code for a literal 16000 or 0.01 anywhere else).

/// The sample rate every stage after decoding works at.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// One hop, samples: the step of the mel front end and of every per-hop stage (10 ms).
pub const HOP_SAMPLES: usize = 160;
/// One hop, seconds.
pub const HOP_SECS: f64 = HOP_SAMPLES as f64 / SAMPLE_RATE_HZ as f64;
/// The mel window (the FFT length), samples (25 ms).
pub const N_FFT: usize = 400;
/// Mel bins per frame.
pub const N_MELS: usize = 80;
/// Floor applied to the mel power before log10.
pub const LOG10_FLOOR: f64 = 1e-10;
/// The log-mel value of digital silence in every bin: log10 of [`LOG10_FLOOR`].
pub const SILENT_LOG_MEL: f32 = -10.0;

/// How far the centre of the mel frame that a hop completes lies before that hop's last sample, in
/// samples. A frame is cut once a whole number of hops covers its window (480 samples, three hops): it
/// is the oldest [`N_FFT`] of them, so its centre lies 480 - 200 = 280 samples (17.5 ms) before the end
/// of the hop that completed it. The live loop stamps hops by their last sample and maps poses to sound
/// with this.
pub const CENTRE_BEFORE_HOP_END_SAMPLES: usize = N_FFT.div_ceil(HOP_SAMPLES) * HOP_SAMPLES - N_FFT / 2;

/// Seconds of `samples` samples at [`SAMPLE_RATE_HZ`].
pub fn secs_from_samples(samples: usize) -> f64 {
    samples as f64 / f64::from(SAMPLE_RATE_HZ)
}

/// The time, in seconds from the first sample, of the centre of mel frame `index`.
pub fn frame_centre_secs(index: usize) -> f64 {
    secs_from_samples(index * HOP_SAMPLES + N_FFT / 2)
}

/// How many frames a signal of `samples` samples yields (librosa's `center=False` count).
pub fn frame_count(samples: usize) -> usize {
    if samples < N_FFT { 0 } else { (samples - N_FFT) / HOP_SAMPLES + 1 }
}
