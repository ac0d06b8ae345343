//! The streaming resampler to 16 kHz: rubato's sinc resampler fed 1 ms chunks, its delay removed.
//!
//! Input: mono samples at the source's rate. Output: mono samples at [`SAMPLE_RATE_HZ`], output sample
//! `n` at input time `n / SAMPLE_RATE_HZ`. Thread: the live loop's audio thread.

use rubato::{Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction};

use super::LiveAudioError;
use crate::vocab::clock::SAMPLE_RATE_HZ;

/// Streaming resampling of mono audio to 16 kHz: rubato's windowed-sinc resampler, fed 1 ms chunks, with
/// any delay of its output measured and removed, so that output sample `n` is input time
/// `n / SAMPLE_RATE_HZ` s.
/// The filter still holds back the last half of its length (about 1.3 ms at 48 kHz) until more input
/// comes: that and the unfilled chunk are the backlog.
///
/// Small chunks keep the audio that waits for a chunk to fill short: with 10 ms chunks a block of 512
/// frames (what PulseAudio's ALSA plugin delivers at 48 kHz) left up to 10 ms of sound behind, unresampled,
/// until the next block. [`backlog_secs`](Self::backlog_secs) says how much still waits.
pub struct StreamResampler {
    rate_hz: u32,
    inner: Option<SincFixedIn<f32>>,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    to_skip: usize,
    delay_samples: usize,
    /// Input samples taken, and output samples given (after the skipped delay), since the start.
    fed: u64,
    given: u64,
}

impl StreamResampler {
    /// A resampler from `rate_hz` to 16 kHz (a pass-through at 16 kHz).
    ///
    /// # Errors
    /// [`LiveAudioError::Resample`] for a rate rubato refuses.
    pub fn new(rate_hz: u32) -> Result<Self, LiveAudioError> {
        if rate_hz == SAMPLE_RATE_HZ {
            return Ok(Self::from_parts(rate_hz, None, Vec::new(), Vec::new(), 0));
        }
        let chunk = (rate_hz as usize / 1000).max(8);
        let params = SincInterpolationParameters {
            sinc_len: 128,
            f_cutoff: 0.92,
            oversampling_factor: 128,
            interpolation: SincInterpolationType::Linear,
            window: WindowFunction::BlackmanHarris2,
        };
        let err = |e: &dyn std::fmt::Display| LiveAudioError::Resample { rate_hz, reason: e.to_string() };
        let mut inner = SincFixedIn::<f32>::new(f64::from(SAMPLE_RATE_HZ) / f64::from(rate_hz), 1.0, params, chunk, 1)
            .map_err(|e| err(&e))?;
        let mut scratch = vec![0.0; inner.output_frames_max()];
        let delay = measured_delay(&mut inner, &mut scratch, rate_hz).map_err(|e| err(&e))?;
        Ok(Self::from_parts(rate_hz, Some(inner), Vec::with_capacity(4 * chunk), scratch, delay))
    }

    /// A resampler that has taken nothing yet and will drop its first `delay_samples` outputs.
    fn from_parts(
        rate_hz: u32,
        inner: Option<SincFixedIn<f32>>,
        pending: Vec<f32>,
        scratch: Vec<f32>,
        delay_samples: usize,
    ) -> Self {
        Self { rate_hz, inner, pending, scratch, to_skip: delay_samples, delay_samples, fed: 0, given: 0 }
    }

    /// The input rate.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Output samples dropped at the start: the resampler's filter delay.
    pub fn delay_samples(&self) -> usize {
        self.delay_samples
    }

    /// How far the end of the output lies behind the end of the input, seconds: the input that waits
    /// for its chunk to fill, plus what the filter holds back (it needs input past an output sample).
    /// Output sample `n` is input time `n / SAMPLE_RATE_HZ` s, so this is the time fed minus the time given. 0 at
    /// 16 kHz, where nothing is resampled.
    pub fn backlog_secs(&self) -> f64 {
        if self.inner.is_none() {
            return 0.0;
        }
        (self.fed as f64 / f64::from(self.rate_hz) - self.given as f64 / f64::from(SAMPLE_RATE_HZ)).max(0.0)
    }

    /// Resamples `input` and appends the 16 kHz samples that are complete to `out`. Input that does not
    /// fill a chunk waits for the next call.
    ///
    /// # Errors
    /// [`LiveAudioError::Resample`] when rubato fails (it does not with these buffers).
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), LiveAudioError> {
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        self.fed += input.len() as u64;
        let mut used = 0;
        while self.pending.len() - used >= inner.input_frames_next() {
            let need = inner.input_frames_next();
            let (n_in, n_out) = inner
                .process_into_buffer(&[&self.pending[used..used + need]], &mut [&mut self.scratch[..]], None)
                .map_err(|e| LiveAudioError::Resample { rate_hz: self.rate_hz, reason: e.to_string() })?;
            used += n_in;
            let skip = self.to_skip.min(n_out);
            self.to_skip -= skip;
            out.extend_from_slice(&self.scratch[skip..n_out]);
            self.given += (n_out - skip) as u64;
        }
        self.pending.drain(..used);
        Ok(())
    }
}

/// The resampler's delay in output samples, measured: a unit impulse goes through it, and the output's
/// peak lands `delay` samples after the impulse's time. (rubato's `output_delay()` for the sinc
/// resampler leaves out part of the anti-aliasing filter's delay when it downsamples: 15 samples at
/// 48 kHz, which a test of the phase caught.) The resampler is reset afterwards.
fn measured_delay(
    inner: &mut SincFixedIn<f32>,
    scratch: &mut [f32],
    rate_hz: u32,
) -> Result<usize, rubato::ResampleError> {
    let chunk = inner.input_frames_next();
    let impulse_at = chunk; // the first sample of the second chunk
    let mut out = Vec::new();
    let mut input = vec![0.0f32; chunk];
    // Enough chunks for the impulse to pass the whole filter (sinc_len 128, at either rate).
    for c in 0..4 + 1024 / chunk {
        input.fill(0.0);
        if c == 1 {
            input[0] = 1.0;
        }
        let (_, n) = inner.process_into_buffer(&[&input[..]], &mut [&mut scratch[..]], None)?;
        out.extend_from_slice(&scratch[..n]);
    }
    inner.reset();
    let i = out.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map_or(0, |(i, _)| i);
    // The peak between samples: the vertex of the parabola through the largest sample and its neighbours.
    let mut peak = i as f64;
    if i > 0 && i + 1 < out.len() {
        let (a, b, c) = (f64::from(out[i - 1]), f64::from(out[i]), f64::from(out[i + 1]));
        let denom = a - 2.0 * b + c;
        if denom.abs() > 1e-12 {
            peak += (0.5 * (a - c) / denom).clamp(-0.5, 0.5);
        }
    }
    let expected = impulse_at as f64 * f64::from(SAMPLE_RATE_HZ) / f64::from(rate_hz);
    Ok((peak - expected).round().max(0.0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_resampler_keeps_rate_and_phase() {
        for rate in [44_100u32, 48_000, 22_050, 8_000] {
            let mut rs = StreamResampler::new(rate).unwrap();
            let n = rate as usize; // one second, fed in ragged blocks
            let x: Vec<f32> = (0..n)
                .map(|i| (std::f64::consts::TAU * 440.0 * i as f64 / f64::from(rate)).sin() as f32 * 0.5)
                .collect();
            let mut out = Vec::new();
            for block in x.chunks(rate as usize / 137 + 3) {
                rs.process(block, &mut out).unwrap();
                // 1 ms chunks: at most a chunk waits, beside what the filter holds back (half its 128
                // taps, and one more input sample to interpolate between them).
                assert!(
                    rs.backlog_secs() <= 1e-3 + 65.0 / f64::from(rate) + 2.0 / f64::from(SAMPLE_RATE_HZ),
                    "rate {rate}: {}",
                    rs.backlog_secs()
                );
            }
            // All but the last block's worth and the filter delay come out, at 16 kHz.
            assert!((15_800..=SAMPLE_RATE_HZ as usize).contains(&out.len()), "rate {rate}: {} samples", out.len());
            // The output is the same sine: its best-fitting time offset is within a sample (62 us) of
            // none, and at that offset it matches to 1%.
            let max_err = |lag: f64| {
                (1_000..out.len() - 200)
                    .map(|i| {
                        let want =
                            0.5 * (std::f64::consts::TAU * 440.0 * (i as f64 + lag) / f64::from(SAMPLE_RATE_HZ)).sin();
                        (f64::from(out[i]) - want).abs()
                    })
                    .fold(0.0, f64::max)
            };
            let (lag, err) = (-60..=60)
                .map(|k| f64::from(k) * 0.05)
                .map(|lag| (lag, max_err(lag)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert!(lag.abs() <= 1.0, "rate {rate}: the output is {lag} samples off");
            assert!(err < 1e-2, "rate {rate}: max error {err} at the best offset");
        }
    }
}
