//! Noise suppression before the features: RNNoise (Valin 2018, the `nnnoiseless` port, its weights
//! inside the crate), which runs on 10 ms frames at 48 kHz. The 16 kHz speech is resampled up by three
//! (rubato's FFT resampler), denoised, and resampled back, each step's delay removed, so output sample
//! `n` is input time `n / SAMPLE_RATE_HZ` s and the output is as long as the input.
//!
//! A gate ([`Gate`]) decides how much of it to use: where the speech is clean (the quietest 10 ms of the
//! last 3 s at least 45 dB under the loudest) the input passes untouched, where there is noise (35 dB or
//! less) the denoised signal, in between a mix. How far RNNoise lowers that quietest 10 ms says how much
//! of the noise it left, hop by hop ([`Denoiser::take_hop_noise`]): steady noise it takes away, other
//! voices it keeps, and there the offline render blends in its noisy-room model.
//!
//! Why: in a room with steady noise the motion model misses closures that it finds in quiet (on the dev
//! set, pink noise at 10 dB SNR: 83.3% of /p b m/ closed without it, 85.6% with it; models/README.md, "Noise
//! suppression"), while on clean speech RNNoise only takes a little away. The offline render uses it
//! by default (`[audio] denoise`); its chunks add 64 ms of latency, so the live loop does not.
//!
//! Input: 16 kHz mono samples, in chunks of any length. Output: as many 16 kHz samples, a few chunks
//! behind until [`Denoiser::finish`]. Thread: the caller's (the offline render's).

use std::collections::VecDeque;

use nnnoiseless::DenoiseState;
use rubato::{FftFixedIn, Resampler};

use super::Resampler16k;
use crate::vocab::clock::{HOP_SAMPLES, SAMPLE_RATE_HZ};

/// RNNoise's own rate.
const DENOISE_RATE_HZ: u32 = 48_000;
/// 48 kHz samples per 16 kHz sample.
const UP: u64 = (DENOISE_RATE_HZ / SAMPLE_RATE_HZ) as u64;
/// 16 kHz samples per chunk of the up-sampler (a whole number of 1:3 units, both FFT sizes even).
const CHUNK_16K: usize = 1024;
/// RNNoise's 48 kHz frame.
const FRAME: usize = DenoiseState::FRAME_SIZE;
/// RNNoise's delay: its output frame is the input one frame back.
const DENOISE_DELAY_48K: usize = FRAME;
/// RNNoise works on 16-bit sample values.
const PCM_SCALE: f32 = 32_768.0;

/// Errors from the denoiser: only the resamplers can fail, on sizes this module chooses.
#[derive(Debug, thiserror::Error)]
#[error("noise suppression failed: {0}")]
pub struct DenoiseError(String);

/// Streaming noise suppression of 16 kHz mono audio; see the module docs.
pub struct Denoiser {
    up: FftFixedIn<f32>,
    /// Back to 16 kHz, its delay removed.
    down: Resampler16k,
    rnn: Box<DenoiseState<'static>>,
    /// 16 kHz input not yet a whole up-sampler chunk.
    pending_16k: Vec<f32>,
    /// 48 kHz input to RNNoise, not yet a whole frame.
    pending_48k: Vec<f32>,
    frame_out: Vec<f32>,
    /// RNNoise's output from one up-sampled chunk, scaled back, then the down-sampler's output from it.
    clean_48k: Vec<f32>,
    wet_16k: Vec<f32>,
    /// The input not yet given out, which the gate mixes back in where the speech is clean.
    dry: VecDeque<f32>,
    gate: Gate,
    /// How noisy each hop given out and not yet taken is ([`take_hop_noise`](Self::take_hop_noise)).
    hop_noise: Vec<f32>,
    /// 48 kHz samples still to drop (the up-sampler's and RNNoise's delays).
    skip_48k: usize,
    /// 48 kHz samples given to the down-sampler: never more than the input makes at 48 kHz.
    to_down: u64,
    fed: u64,
}

impl Denoiser {
    /// A denoiser at the start of a stream.
    ///
    /// # Errors
    /// [`DenoiseError`] when rubato refuses the sizes (it does not for these).
    pub fn new() -> Result<Self, DenoiseError> {
        let up = FftFixedIn::<f32>::new(SAMPLE_RATE_HZ as usize, DENOISE_RATE_HZ as usize, CHUNK_16K, 1, 1)
            .map_err(failed)?;
        let down = Resampler16k::new(DENOISE_RATE_HZ, std::path::Path::new("RNNoise's output")).map_err(failed)?;
        let chunk_48k = CHUNK_16K * UP as usize;
        Ok(Self {
            skip_48k: up.output_delay() + DENOISE_DELAY_48K,
            up,
            down,
            rnn: DenoiseState::new(),
            pending_16k: Vec::with_capacity(2 * CHUNK_16K),
            pending_48k: Vec::with_capacity(2 * chunk_48k),
            frame_out: vec![0.0; FRAME],
            clean_48k: Vec::with_capacity(2 * chunk_48k),
            wet_16k: Vec::with_capacity(2 * CHUNK_16K),
            dry: VecDeque::with_capacity(8 * CHUNK_16K),
            gate: Gate::new(),
            hop_noise: Vec::with_capacity(4 * CHUNK_16K / HOP_SAMPLES),
            to_down: 0,
            fed: 0,
        })
    }

    /// Appends to `out` the denoised samples that `input` completes (they lag the input by up to a few
    /// chunks; [`finish`](Self::finish) gives the rest).
    ///
    /// # Errors
    /// [`DenoiseError`] when rubato fails.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), DenoiseError> {
        self.fed += input.len() as u64;
        self.dry.extend(input);
        self.pending_16k.extend_from_slice(input);
        self.up_whole_chunks(out)
    }

    /// Appends the rest, so that the whole output is as long as the whole input.
    ///
    /// # Errors
    /// [`DenoiseError`] when rubato fails.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), DenoiseError> {
        // Silence through the up-sampler and RNNoise until the whole input has reached the down-sampler,
        // whose own tail then comes to the input's length.
        let zeros = vec![0.0f32; CHUNK_16K];
        let mut rounds = 0;
        while self.to_down < UP * self.fed {
            let before = self.to_down;
            let need = CHUNK_16K - self.pending_16k.len() % CHUNK_16K;
            self.pending_16k.extend_from_slice(&zeros[..need]);
            self.up_whole_chunks(out)?;
            rounds += 1;
            if rounds > 64 && self.to_down == before {
                return Err(DenoiseError("the up-sampler gave no more output".into()));
            }
        }
        self.wet_16k.clear();
        self.down.finish(&mut self.wet_16k).map_err(failed)?;
        self.mix_out(out);
        Ok(())
    }

    /// Every whole chunk of the 16 kHz input waiting, up-sampled and on through RNNoise.
    fn up_whole_chunks(&mut self, out: &mut Vec<f32>) -> Result<(), DenoiseError> {
        let mut used = 0;
        while self.pending_16k.len() - used >= CHUNK_16K {
            let mut y = self.up.process(&[&self.pending_16k[used..used + CHUNK_16K]], None).map_err(failed)?;
            used += CHUNK_16K;
            self.denoise_48k(&y.swap_remove(0), out)?;
        }
        self.pending_16k.drain(..used);
        Ok(())
    }

    /// RNNoise over whole frames of up-sampled audio, its output on through the down-sampler.
    fn denoise_48k(&mut self, x: &[f32], out: &mut Vec<f32>) -> Result<(), DenoiseError> {
        self.pending_48k.extend(x.iter().map(|v| v * PCM_SCALE));
        let mut used = 0;
        self.clean_48k.clear();
        while self.pending_48k.len() - used >= FRAME {
            self.rnn.process_frame(&mut self.frame_out, &self.pending_48k[used..used + FRAME]);
            used += FRAME;
            let skip = self.skip_48k.min(FRAME);
            self.skip_48k -= skip;
            let keep = ((FRAME - skip) as u64).min(UP * self.fed - self.to_down) as usize;
            self.to_down += keep as u64;
            self.clean_48k.extend(self.frame_out[skip..skip + keep].iter().map(|v| v / PCM_SCALE));
        }
        self.pending_48k.drain(..used);
        self.wet_16k.clear();
        self.down.push(&self.clean_48k, &mut self.wet_16k).map_err(failed)?;
        self.mix_out(out);
        Ok(())
    }

    /// The down-sampler's new output, mixed with as much of the input by the gate, onto `out`.
    fn mix_out(&mut self, out: &mut Vec<f32>) {
        for &wet in &self.wet_16k {
            let dry = self.dry.pop_front().unwrap_or(0.0);
            if self.gate.input.at_block_start() {
                self.hop_noise.push(self.gate.noise());
            }
            out.push(self.gate.mix(dry, wet));
        }
    }

    /// Appends to `out` how noisy each hop given out since the last call still is after the denoiser: 0
    /// where the input passed untouched or RNNoise took the noise away (steady noise: a fan, a hiss, a
    /// hum), 1 where the output is the denoised signal and RNNoise left the noise in it (other voices).
    /// The gate's mix times the share of the noise left: how far RNNoise lowered the quietest 10 ms of the
    /// last 3 s (20 dB or less: all of it left, 28 dB or more: none). The k-th value over all calls is
    /// output samples `k * HOP_SAMPLES ..`, the last one of a partial hop. The offline render blends its
    /// noisy-room model in by it.
    pub fn take_hop_noise(&mut self, out: &mut Vec<f32>) {
        out.append(&mut self.hop_noise);
    }
}

/// A resampler's error as this module's.
fn failed(e: impl std::fmt::Display) -> DenoiseError {
    DenoiseError(e.to_string())
}

/// 16 kHz samples per block of the gate's level meters: one hop, 10 ms.
const BLOCK: usize = HOP_SAMPLES;
/// Blocks the gate looks back over (3 s): the loudest is the speech, the quietest the noise floor.
const WINDOW_BLOCKS: usize = 300;
/// At or below this ratio of loudest to quietest block of the input the output is the denoised signal
/// alone...
const WET_BELOW_DB: f32 = 35.0;
/// ...at or above this one the input as it is, and in between a mix in proportion.
const DRY_ABOVE_DB: f32 = 45.0;
/// Where RNNoise lowers the noise floor (the quietest block of the last 3 s) by this much or less, it
/// left the noise in the speech ([`Gate::noise`] 1)...
const LEFT_BELOW_DB: f32 = 20.0;
/// ...where by this much or more, it took the noise away (0), in between in proportion. On the dev set
/// (`training/eval_product.py`'s conditions, 52 min) RNNoise lowers the floor of pink noise at 10 dB SNR
/// by 29-46 dB (5th to 95th percentile of the 3 s windows), of babble at 10 dB SNR by 2-20 dB (median
/// 11): it removes steady noise, not other voices.
const GONE_ABOVE_DB: f32 = 28.0;
/// How fast the mix follows the measured ratio: a one-pole step per block (time constant 0.3 s).
const MIX_STEP: f32 = 0.033;
/// The quietest block power counted (-100 dBFS), so that digital silence reads as a finite ratio.
const POWER_FLOOR: f32 = 1e-10;
/// A window whose loudest block is under this power (-70 dBFS) holds silence, nothing to denoise.
const SILENCE: f32 = 1e-7;

/// Where the speech is clean the input passes untouched; where there is noise, the denoised signal.
/// The measure is the ratio of the loudest to the quietest 10 ms block over the last 3 s, causal, of the
/// input: studio speech with pauses reads 85-90 dB, speech with a -60 dBFS hiss about 50, pink noise or
/// babble at 10 dB SNR 20-38 (the dev set, `training/eval_product.py`'s conditions).
///
/// How far RNNoise lowers the quietest block says how much of the noise it left: [`noise`](Self::noise).
struct Gate {
    input: Meter,
    denoised: Meter,
    /// How much of the denoised signal the output is, 0..1.
    wet: f32,
    /// How much of the noise RNNoise left, 0 (none, or no noise) .. 1 (all that there was).
    left: f32,
}

impl Gate {
    fn new() -> Self {
        Self { input: Meter::new(), denoised: Meter::new(), wet: 0.0, left: 0.0 }
    }

    /// One sample of the input (`dry`) and RNNoise's output (`wet`) in, the output sample out.
    fn mix(&mut self, dry: f32, wet: f32) -> f32 {
        // The two meters take the same samples, so they end their blocks together.
        self.denoised.push(wet);
        if self.input.push(dry) {
            let (quietest, loudest) = self.input.extremes();
            // A window of silence has nothing to denoise and no noise to measure.
            let (target, left) = if loudest < SILENCE {
                (0.0, 0.0)
            } else {
                let ratio_db = 10.0 * (loudest / quietest).log10();
                // How far RNNoise lowered the noise floor.
                let drop_db = 10.0 * (quietest / self.denoised.extremes().0).log10();
                (ramp(ratio_db, DRY_ABOVE_DB, WET_BELOW_DB), ramp(drop_db, GONE_ABOVE_DB, LEFT_BELOW_DB))
            };
            self.wet += (target - self.wet) * MIX_STEP;
            self.left += (left - self.left) * MIX_STEP;
        }
        self.wet * wet + (1.0 - self.wet) * dry
    }

    /// How noisy the speech is after the denoiser, 0..1: the share of the output that is denoised times
    /// the share of the noise that RNNoise left in it. Steady noise reads near 0 once RNNoise has taken
    /// it away; other voices, which it keeps, read near 1 (on the dev set, in pink noise and in babble at
    /// 10 dB SNR, means 0.006 and 0.93).
    fn noise(&self) -> f32 {
        self.wet * self.left
    }
}

/// 0 at or above `zero_at` dB, 1 at or below `one_at`, in proportion between.
fn ramp(ratio_db: f32, zero_at: f32, one_at: f32) -> f32 {
    ((zero_at - ratio_db) / (zero_at - one_at)).clamp(0.0, 1.0)
}

/// The loudest and the quietest 10 ms block of a signal over the last 3 s.
struct Meter {
    powers: VecDeque<f32>,
    sum: f32,
    n: usize,
}

impl Meter {
    fn new() -> Self {
        Self { powers: VecDeque::with_capacity(WINDOW_BLOCKS), sum: 0.0, n: 0 }
    }

    /// One sample in; true where it ends a block.
    fn push(&mut self, x: f32) -> bool {
        self.sum += x * x;
        self.n += 1;
        if self.n < BLOCK {
            return false;
        }
        if self.powers.len() == WINDOW_BLOCKS {
            self.powers.pop_front();
        }
        self.powers.push_back((self.sum / BLOCK as f32).max(POWER_FLOOR));
        (self.sum, self.n) = (0.0, 0);
        true
    }

    /// The quietest and the loudest block's power in the window (`f32::MAX` and 0 before the first).
    fn extremes(&self) -> (f32, f32) {
        self.powers.iter().fold((f32::MAX, 0.0f32), |(lo, hi), &p| (lo.min(p), hi.max(p)))
    }

    /// Whether the next sample starts a block.
    fn at_block_start(&self) -> bool {
        self.n == 0
    }
}

/// Denoises a whole 16 kHz signal (see [`Denoiser`]).
///
/// # Errors
/// [`DenoiseError`] when rubato fails.
pub fn denoise(samples: &[f32]) -> Result<Vec<f32>, DenoiseError> {
    let mut d = Denoiser::new()?;
    let mut out = Vec::with_capacity(samples.len());
    d.push(samples, &mut out)?;
    d.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: usize = SAMPLE_RATE_HZ as usize;

    fn white(n: usize, amp: f32, seed: u64) -> Vec<f32> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n).map(|_| amp * (rng.f32() * 2.0 - 1.0)).collect()
    }

    /// Speech-like sound: a 120 Hz glottal pulse train through a crude formant (a decaying 700 Hz
    /// ring), on from 1 s to 2 s of 3 s, digital silence around it.
    fn voiced(n: usize) -> Vec<f32> {
        let mut x = vec![0.0f32; n];
        for p in (SR..2 * SR).step_by(133) {
            for k in 0..120 {
                let t = k as f32 / SR as f32;
                x[p + k] += 0.4 * (-t * 300.0).exp() * (2.0 * std::f32::consts::PI * 700.0 * t).sin();
            }
        }
        x
    }

    fn best_lag(x: &[f32], y: &[f32]) -> isize {
        let xc = |lag: isize| -> f64 {
            (0..x.len())
                .filter_map(|i| {
                    let j = i as isize + lag;
                    (j >= 0 && (j as usize) < y.len()).then(|| f64::from(x[i]) * f64::from(y[j as usize]))
                })
                .sum()
        };
        (-40..=40).max_by(|a, b| xc(*a).total_cmp(&xc(*b))).unwrap()
    }

    #[test]
    fn output_is_as_long_as_the_input_in_any_chunking() {
        for len in [1usize, 159, 1024, 5000, SR] {
            let x = white(len, 0.05, 1);
            let whole = denoise(&x).unwrap();
            assert_eq!(whole.len(), len);
            let mut d = Denoiser::new().unwrap();
            let mut out = Vec::new();
            for c in x.chunks(333) {
                d.push(c, &mut out).unwrap();
            }
            d.finish(&mut out).unwrap();
            assert_eq!(out, whole, "chunking changes nothing (len {len})");
        }
    }

    /// Clean speech (pauses of digital silence) passes untouched: the gate keeps the input.
    #[test]
    fn clean_speech_passes_untouched() {
        let x = voiced(3 * SR);
        assert_eq!(denoise(&x).unwrap(), x);
    }

    /// In steady noise the denoised speech keeps its timing: the resamplers' and RNNoise's delays are
    /// removed to the sample.
    #[test]
    fn denoised_speech_keeps_its_timing() {
        let clean = voiced(3 * SR);
        let noisy: Vec<f32> = clean.iter().zip(white(3 * SR, 0.02, 2)).map(|(s, n)| s + n).collect();
        let y = denoise(&noisy).unwrap();
        assert_ne!(y, noisy, "the gate let the noisy input through");
        assert_eq!(best_lag(&clean, &y), 0, "the denoised speech lands off its time");
    }

    /// Steady noise alone is suppressed by at least 6 dB (white noise at -30 dBFS, after the first
    /// second; it measured 9 dB when written), where a pass-through would keep all of it.
    #[test]
    fn steady_noise_is_suppressed() {
        let x = white(2 * SR, 0.03, 3);
        let y = denoise(&x).unwrap();
        let energy = |v: &[f32]| v[SR..].iter().map(|s| s * s).sum::<f32>();
        assert!(energy(&y) < 0.25 * energy(&x), "noise kept {:.3} of its energy", energy(&y) / energy(&x));
    }

    /// The English lip-sync fixture (real read speech, 16 kHz, 62 s) from sample `from`, `len` samples
    /// or to its end.
    fn real_speech(from: usize, len: usize) -> Vec<f32> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/lipsync/real_clips.wav");
        let mut reader = hound::WavReader::open(path).unwrap();
        let x: Vec<f32> = reader.samples::<i16>().map(|s| f32::from(s.unwrap()) / 32768.0).collect();
        x[from..(from + len).min(x.len())].to_vec()
    }

    /// Pink noise (Paul Kellet's economy filter of white noise: within 0.5 dB of 1/f above 40 Hz).
    fn pink(n: usize, seed: u64) -> Vec<f32> {
        let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
        white(n, 1.0, seed)
            .into_iter()
            .map(|w| {
                b0 = 0.99765 * b0 + w * 0.099_046;
                b1 = 0.963 * b1 + w * 0.296_516_4;
                b2 = 0.57 * b2 + w * 1.052_691_3;
                b0 + b1 + b2 + w * 0.1848
            })
            .collect()
    }

    /// `speech` with `noise` scaled to 10 dB under it.
    fn at_10_db(speech: &[f32], noise: &[f32]) -> Vec<f32> {
        let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        let gain = rms(speech) / rms(noise) * 10f32.powf(-10.0 / 20.0);
        speech.iter().zip(noise).map(|(s, n)| s + gain * n).collect()
    }

    /// How noisy each hop is, hop by hop: one value per hop given out, the last partial hop too, in any
    /// chunking; 0 all through clean speech; in real speech with pink noise 10 dB under it, which
    /// RNNoise takes away, low; with other voices 10 dB under it (babble: four later stretches of the
    /// fixture, talking on), which RNNoise keeps, high. When written: means 0.000 and 1.000 after the first
    /// 3 s.
    #[test]
    fn hop_noise_is_the_noise_the_denoiser_leaves() {
        let noise_of = |x: &[f32], chunk: usize| {
            let mut d = Denoiser::new().unwrap();
            let (mut out, mut noise) = (Vec::new(), Vec::new());
            for c in x.chunks(chunk) {
                d.push(c, &mut out).unwrap();
                d.take_hop_noise(&mut noise);
            }
            d.finish(&mut out).unwrap();
            d.take_hop_noise(&mut noise);
            assert_eq!(noise.len(), out.len().div_ceil(HOP_SAMPLES));
            noise
        };
        let mean_after_3_s = |v: &[f32]| v[300..].iter().sum::<f32>() / (v.len() - 300) as f32;
        let clean = voiced(3 * SR + 77);
        assert!(noise_of(&clean, 1000).iter().all(|&m| m == 0.0), "clean speech read as noisy");

        let len = 8 * SR;
        let speech = real_speech(0, len);
        let steady = at_10_db(&speech, &pink(len, 4));
        let noise = noise_of(&steady, 333);
        assert_eq!(noise, noise_of(&steady, 4096), "the chunking changed the measure");
        assert!(noise[..10].iter().all(|&m| m < 0.1), "it starts from clean: {:?}", &noise[..10]);
        let steady_mean = mean_after_3_s(&noise);
        // Four other talkers, talking on: the fixture's later speech, its pauses taken out.
        let talk: Vec<f32> = real_speech(len, usize::MAX - len)
            .chunks_exact(HOP_SAMPLES)
            .filter(|hop| hop.iter().map(|x| x * x).sum::<f32>() > 1e-6 * HOP_SAMPLES as f32)
            .flatten()
            .copied()
            .collect();
        let others: Vec<f32> = (0..len).map(|i| (0..4).map(|k| talk[k * len + i]).sum()).collect();
        let babble_mean = mean_after_3_s(&noise_of(&at_10_db(&speech, &others), 4096));
        eprintln!("steady {steady_mean:.3} babble {babble_mean:.3}");
        assert!(steady_mean < 0.2, "steady noise, which RNNoise removes, read {steady_mean:.2}");
        assert!(babble_mean > 0.6, "other voices, which RNNoise keeps, read {babble_mean:.2}");
    }
}
