//! Streaming log-mel front end: 16 kHz mono samples in, one 80-bin log10 mel frame per 10 ms hop out.
//!
//! Input: hops of exactly [`HOP_SAMPLES`] samples (16 kHz mono, -1..1). Output: a frame of
//! [`N_MELS`] `f32` values, `log10(max(mel_power, 1e-10))`, once per hop after the first window fills.
//! Thread: the caller's (the features stage). Nothing is allocated after [`LogMel::new`].
//!
//! Convention (the Whisper/librosa one, checked against librosa 0.11 in tests/mel_parity.rs to 1e-4):
//! 25 ms periodic Hann window (`n_fft = 400`), 10 ms hop (160), power spectrum, 80 mel bins on the
//! Slaney mel scale with Slaney area normalisation (librosa's `htk=False, norm="slaney"`), 0..8 kHz,
//! `center=False`: no padding, frame `i` covers samples `[160 i, 160 i + 400)` and its centre lies at
//! `(160 i + 200) / 16 kHz` s ([`crate::vocab::clock::frame_centre_secs`]). A streaming front end cannot reflect-pad samples it
//! has not yet received, so it does not pad at all; the pipeline maps frames to time by their centres.
//! The FFT runs in `f64` so that bins far below the frame's peak keep their precision.

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

use crate::vocab::clock::{HOP_SAMPLES, LOG10_FLOOR, N_FFT, N_MELS, SAMPLE_RATE_HZ, frame_count};

const N_BINS: usize = N_FFT / 2 + 1;

/// Errors of the feature stage.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// [`LogMel::step`] takes exactly one hop.
    #[error("a hop must hold exactly {HOP_SAMPLES} samples, got {0}")]
    HopLength(usize),
}

/// Slaney mel scale (librosa `hz_to_mel(htk=False)`): linear below 1 kHz, logarithmic above.
pub fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ { min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep } else { hz / F_SP }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel { MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp() } else { F_SP * mel }
}

/// One mel filter: its first FFT bin and its weights from there on.
#[derive(Debug, Clone)]
struct MelFilter {
    first_bin: usize,
    weights: Vec<f64>,
}

/// The Slaney-normalised triangular filter bank, as librosa.filters.mel builds it.
fn mel_filters(rate_hz: f64, fmin: f64, fmax: f64) -> Vec<MelFilter> {
    let fft_freqs: Vec<f64> = (0..N_BINS).map(|k| k as f64 * rate_hz / N_FFT as f64).collect();
    let (mel_lo, mel_hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let pts: Vec<f64> =
        (0..N_MELS + 2).map(|i| mel_to_hz(mel_lo + (mel_hi - mel_lo) * i as f64 / (N_MELS + 1) as f64)).collect();
    (0..N_MELS)
        .map(|m| {
            let (lo, mid, hi) = (pts[m], pts[m + 1], pts[m + 2]);
            let enorm = 2.0 / (hi - lo);
            let w: Vec<f64> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - lo) / (mid - lo);
                    let upper = (hi - f) / (hi - mid);
                    lower.min(upper).max(0.0) * enorm
                })
                .collect();
            let first = w.iter().position(|&v| v > 0.0).unwrap_or(0);
            let last = w.iter().rposition(|&v| v > 0.0).unwrap_or(first);
            MelFilter { first_bin: first, weights: w[first..=last].to_vec() }
        })
        .collect()
}

/// The streaming log-mel stage, shaped like candle's `StreamingModule`: [`step`](Self::step) one hop
/// at a time, [`reset`](Self::reset) between utterances.
pub struct LogMel {
    fft: Arc<dyn Fft<f64>>,
    window: Vec<f64>,
    filters: Vec<MelFilter>,
    /// The newest `N_FFT` samples, oldest first; only the last `filled` are real.
    history: Vec<f64>,
    filled: usize,
    spectrum: Vec<Complex64>,
    scratch: Vec<Complex64>,
    power: Vec<f64>,
    frame: Vec<f32>,
    frames_out: usize,
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    /// Plans the FFT and builds the filter bank; everything [`step`](Self::step) needs is allocated here.
    pub fn new() -> Self {
        let fft = FftPlanner::<f64>::new().plan_fft_forward(N_FFT);
        let scratch = vec![Complex64::default(); fft.get_inplace_scratch_len()];
        // Periodic Hann (scipy get_window("hann", N, fftbins=True)), as librosa uses.
        let window = (0..N_FFT).map(|n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / N_FFT as f64).cos()).collect();
        Self {
            fft,
            window,
            filters: mel_filters(f64::from(SAMPLE_RATE_HZ), 0.0, 8_000.0),
            history: vec![0.0; N_FFT + HOP_SAMPLES],
            filled: 0,
            spectrum: vec![Complex64::default(); N_FFT],
            scratch,
            power: vec![0.0; N_BINS],
            frame: vec![0.0; N_MELS],
            frames_out: 0,
        }
    }

    /// Takes one hop of samples. Returns the mel frame that this hop completed, if any: the first frame
    /// completes once 400 samples have arrived, then one per hop.
    ///
    /// # Errors
    /// [`FeatureError::HopLength`] when `hop` does not hold exactly [`HOP_SAMPLES`] samples.
    pub fn step(&mut self, hop: &[f32]) -> Result<Option<&[f32]>, FeatureError> {
        if hop.len() != HOP_SAMPLES {
            return Err(FeatureError::HopLength(hop.len()));
        }
        // history holds up to N_FFT + HOP samples; a frame starts at frame index * HOP.
        for (dst, &s) in self.history[self.filled..self.filled + HOP_SAMPLES].iter_mut().zip(hop) {
            *dst = f64::from(s);
        }
        self.filled += HOP_SAMPLES;
        if self.filled < N_FFT {
            return Ok(None);
        }
        // The frame is the first N_FFT samples held; afterwards drop one hop from the front.
        for ((c, &x), &w) in self.spectrum.iter_mut().zip(&self.history[..N_FFT]).zip(&self.window) {
            *c = Complex64::new(x * w, 0.0);
        }
        self.history.copy_within(HOP_SAMPLES..self.filled, 0);
        self.filled -= HOP_SAMPLES;
        self.fft.process_with_scratch(&mut self.spectrum, &mut self.scratch);
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        for (out, f) in self.frame.iter_mut().zip(&self.filters) {
            let e: f64 = f.weights.iter().zip(&self.power[f.first_bin..]).map(|(w, p)| w * p).sum();
            *out = e.max(LOG10_FLOOR).log10() as f32;
        }
        self.frames_out += 1;
        Ok(Some(&self.frame))
    }

    /// Frames emitted since the last reset.
    pub fn frames_out(&self) -> usize {
        self.frames_out
    }

    /// Forgets all samples, as at a new utterance.
    pub fn reset(&mut self) {
        self.history.fill(0.0);
        self.filled = 0;
        self.frames_out = 0;
    }

    /// Runs a whole signal through [`step`](Self::step), padding the last partial hop with zeros, and
    /// returns the frames row-major (`frames x N_MELS`). Convenience for offline use and tests.
    pub fn process_all(&mut self, samples: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity((frame_count(samples.len()) + 1) * N_MELS);
        let mut hop = [0.0f32; HOP_SAMPLES];
        for chunk in samples.chunks(HOP_SAMPLES) {
            hop[..chunk.len()].copy_from_slice(chunk);
            hop[chunk.len()..].fill(0.0);
            if let Some(frame) = self.step(&hop).expect("hop has the right length") {
                out.extend_from_slice(frame);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::clock::{CENTRE_BEFORE_HOP_END_SAMPLES, SILENT_LOG_MEL, frame_centre_secs};

    #[test]
    fn a_frame_centre_lies_its_constant_before_the_end_of_the_hop_that_completed_it() {
        // Every hop from the third on completes one frame; that frame's centre plus the constant is the
        // hop's last sample.
        assert_eq!(CENTRE_BEFORE_HOP_END_SAMPLES, 280);
        let mut mel = LogMel::new();
        let hop = [0.0f32; HOP_SAMPLES];
        for h in 0..20usize {
            let frame = mel.step(&hop).unwrap().is_some();
            let end_sample = (h + 1) * HOP_SAMPLES;
            if frame {
                let index = mel.frames_out() - 1;
                let centre = (frame_centre_secs(index) * f64::from(SAMPLE_RATE_HZ)).round() as usize;
                assert_eq!(centre + CENTRE_BEFORE_HOP_END_SAMPLES, end_sample, "hop {h}");
            } else {
                assert!(end_sample < N_FFT, "hop {h} completed no frame");
            }
        }
    }

    #[test]
    fn slaney_scale_round_trips_and_matches_librosa_points() {
        // librosa.hz_to_mel(1000) == 15, hz_to_mel(8000) == 45.2452...
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(8000.0) - 45.245_640_471_924_965).abs() < 1e-9);
        for hz in [0.0, 250.0, 999.0, 1000.0, 3000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
    }

    #[test]
    fn frame_count_and_timing_follow_center_false() {
        assert_eq!(frame_count(399), 0);
        assert_eq!(frame_count(400), 1);
        assert_eq!(frame_count(560), 2);
        let mut mel = LogMel::new();
        let hop = [0.0f32; HOP_SAMPLES];
        let emitted: Vec<bool> = (0..5).map(|_| mel.step(&hop).unwrap().is_some()).collect();
        assert_eq!(emitted, [false, false, true, true, true]);
        assert!((frame_centre_secs(0) - 0.0125).abs() < 1e-12);
    }

    #[test]
    fn wrong_hop_length_is_an_error() {
        assert!(matches!(LogMel::new().step(&[0.0; 10]), Err(FeatureError::HopLength(10))));
    }

    #[test]
    fn sine_peaks_in_its_mel_bin() {
        let samples: Vec<f32> = (0..4000)
            .map(|i| (std::f64::consts::TAU * 1000.0 * f64::from(i) / f64::from(SAMPLE_RATE_HZ)).sin() as f32)
            .collect();
        let frames = LogMel::new().process_all(&samples);
        let last = &frames[frames.len() - N_MELS..];
        let peak = last.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        let centre_hz = mel_to_hz(hz_to_mel(8000.0) * (peak + 1) as f64 / (N_MELS + 1) as f64);
        assert!((centre_hz - 1000.0).abs() < 80.0, "peak bin {peak} at {centre_hz} Hz");
    }

    #[test]
    fn reset_forgets_history() {
        let mut mel = LogMel::new();
        let loud = [0.5f32; HOP_SAMPLES];
        let quiet = [0.0f32; HOP_SAMPLES];
        for _ in 0..3 {
            mel.step(&loud).unwrap();
        }
        mel.reset();
        assert_eq!(mel.frames_out(), 0);
        let frames: Vec<Vec<f32>> = (0..3).filter_map(|_| mel.step(&quiet).unwrap().map(<[f32]>::to_vec)).collect();
        assert!(frames[0].iter().all(|&v| v == LOG10_FLOOR.log10() as f32));
        assert_eq!(SILENT_LOG_MEL, LOG10_FLOOR.log10() as f32);
    }
}
