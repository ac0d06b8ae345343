//! One Euro filter (Casiez, Roussel and Vogel, CHI 2012) over the motion parameters, in their own units,
//! before the rig: each parameter gets its own filter, all run at the 100 Hz hop rate.
//!
//! At rest the cutoff is `min_cutoff_hz`, which removes jitter; as a parameter moves faster, the cutoff
//! rises by `beta` Hz per unit of the parameter's full range per second, so that articulation (a jaw
//! opening or a lip closure of 0.5 to 1 in 50-100 ms, 5 to 20 units/s) lifts it far above the rate of
//! the closures it must pass, while model jitter at rest (under 0.1 units/s) barely moves it. The rig's
//! geometry follows the filtered parameters, so keypoints and Jacobians need no filter of their own.
//! For a first-order low-pass at cutoff `fc`, the lag on a slow ramp is `1 / (2 pi fc)`.
//!
//! Input: [`MotionParams`] per hop. Output: the same, filtered in place. Thread: the caller's (the
//! motion thread live, the render's thread offline).

use crate::config::SmoothingConfig;
use crate::vocab::motion::{MAX_HEAD_DEG, MotionParams};

fn alpha(cutoff_hz: f32, dt_secs: f32) -> f32 {
    let tau = 1.0 / (std::f32::consts::TAU * cutoff_hz);
    1.0 / (1.0 + tau / dt_secs)
}

/// A One Euro filter over `len` values sampled every `dt_secs`, shaped like a streaming module.
#[derive(Debug, Clone)]
pub struct OneEuro {
    cfg: SmoothingConfig,
    dt_secs: f32,
    x: Vec<f32>,
    dx: Vec<f32>,
    primed: bool,
}

impl OneEuro {
    /// A filter for `len` values at a rate of `1 / dt_secs`.
    pub fn new(cfg: &SmoothingConfig, len: usize, dt_secs: f32) -> Self {
        Self { cfg: cfg.clone(), dt_secs, x: vec![0.0; len], dx: vec![0.0; len], primed: false }
    }

    /// Filters one sample of every value in place. The first sample passes through unchanged.
    ///
    /// # Panics
    /// If `values` does not hold the length given to [`new`](Self::new) (a programming error).
    pub fn step(&mut self, values: &mut [f32]) {
        assert_eq!(values.len(), self.x.len(), "OneEuro::step: wrong vector length");
        if !self.cfg.enabled {
            return;
        }
        if !self.primed {
            self.x.copy_from_slice(values);
            self.dx.fill(0.0);
            self.primed = true;
            return;
        }
        let a_d = alpha(self.cfg.d_cutoff_hz, self.dt_secs);
        for ((v, x), dx) in values.iter_mut().zip(&mut self.x).zip(&mut self.dx) {
            let raw_dx = (*v - *x) / self.dt_secs;
            *dx += a_d * (raw_dx - *dx);
            let cutoff = self.cfg.min_cutoff_hz + self.cfg.beta * dx.abs();
            *x += alpha(cutoff, self.dt_secs) * (*v - *x);
            *v = *x;
        }
    }

    /// The lag the filter adds to value `index` at its current cutoff, seconds: the mean delay of the
    /// exponential smoother, `dt (1 - alpha) / alpha`, which is `1 / (2 pi fc)` for a cutoff `fc` well
    /// below the rate. At rest (the cutoff at `min_cutoff_hz`) that is the largest lag; as the value moves,
    /// the cutoff rises by `beta` per unit of speed and the lag falls. 0 when smoothing is off.
    pub fn lag_secs(&self, index: usize) -> f32 {
        if !self.cfg.enabled {
            return 0.0;
        }
        let cutoff = self.cfg.min_cutoff_hz + self.cfg.beta * self.dx.get(index).map_or(0.0, |d| d.abs());
        let a = alpha(cutoff, self.dt_secs);
        self.dt_secs * (1.0 - a) / a
    }

    /// Forgets the history: the next sample passes through unchanged.
    pub fn reset(&mut self) {
        self.primed = false;
    }
}

/// One field of the parameters.
type Field = fn(&mut MotionParams) -> &mut f32;

/// The parameters the filter smooths, each with its full range: the filter sees `value / range`, so one
/// `beta` serves lips and head alike. Blinks and gaze are left out: they are quick by nature, and the
/// idle motion makes them clean.
const FILTERED: [(Field, f32); 11] = [
    (|p| &mut p.jaw_open, 1.0),
    (|p| &mut p.lip_close, 1.0),
    (|p| &mut p.lip_round, 1.0),
    (|p| &mut p.lip_stretch, 1.0),
    (|p| &mut p.smile, 1.0),
    (|p| &mut p.brow_raise, 1.0),
    (|p| &mut p.head_yaw_deg, MAX_HEAD_DEG),
    (|p| &mut p.head_pitch_deg, MAX_HEAD_DEG),
    (|p| &mut p.head_roll_deg, MAX_HEAD_DEG),
    (|p| &mut p.breath, 1.0),
    (|p| &mut p.nod, 1.0),
];

/// The slot of `jaw_open` in [`FILTERED`]: its lag stands for the mouth's.
const JAW_SLOT: usize = 0;

/// A One Euro filter over the motion parameters that move the rig, in units of each one's full range
/// (a streaming module: [`step`](Self::step), [`reset`](Self::reset)). Visemes, blinks and gaze pass
/// through.
#[derive(Debug, Clone)]
pub struct ParamSmoother {
    filter: OneEuro,
    values: [f32; FILTERED.len()],
}

impl ParamSmoother {
    /// A filter at a rate of `1 / dt_secs`.
    pub fn new(cfg: &SmoothingConfig, dt_secs: f32) -> Self {
        Self { filter: OneEuro::new(cfg, FILTERED.len(), dt_secs), values: [0.0; FILTERED.len()] }
    }

    /// Filters one hop's parameters in place. The first hop passes through unchanged.
    pub fn step(&mut self, params: &mut MotionParams) {
        for (v, (field, range)) in self.values.iter_mut().zip(FILTERED) {
            *v = *field(params) / range;
        }
        self.filter.step(&mut self.values);
        for (v, (field, range)) in self.values.iter().zip(FILTERED) {
            *field(params) = v * range;
        }
    }

    /// The lag the filter adds to the mouth (`jaw_open`) at its current cutoff, seconds; 0 when off.
    pub fn mouth_lag_secs(&self) -> f32 {
        self.filter.lag_secs(JAW_SLOT)
    }

    /// Forgets the history: the next hop passes through unchanged.
    pub fn reset(&mut self) {
        self.filter.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One hop, seconds, as the filters take it.
    const HOP: f32 = crate::vocab::clock::HOP_SECS as f32;

    fn cfg() -> SmoothingConfig {
        SmoothingConfig::default()
    }

    #[test]
    fn constant_passes_and_jitter_shrinks() {
        let mut f = OneEuro::new(&cfg(), 1, HOP);
        let mut noisy_sq = 0.0;
        let mut out_sq = 0.0;
        let mut seed = 12345u32;
        for i in 0..2000 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let mut v = [0.3 + 1e-3 * noise];
            f.step(&mut v);
            if i > 100 {
                noisy_sq += (1e-3 * noise).powi(2);
                out_sq += (v[0] - 0.3).powi(2);
            }
        }
        assert!(out_sq < 0.25 * noisy_sq, "jitter power {out_sq} vs input {noisy_sq}");
    }

    #[test]
    fn follows_a_fast_step_within_100_ms() {
        let mut f = OneEuro::new(&cfg(), 1, HOP);
        let mut v = [0.0];
        f.step(&mut v);
        let mut reached = None;
        for i in 0..50 {
            let mut v = [0.2];
            f.step(&mut v);
            if v[0] > 0.18 && reached.is_none() {
                reached = Some(i);
            }
        }
        assert!(reached.is_some_and(|i| i < 10), "reached 90% after {reached:?} hops");
    }

    /// A 60 ms bilabial closure between two open vowels, as the model gives it at 100 Hz: jaw_open
    /// 0.7, down to 0 with the lips shut for 60 ms, back up, with the transitions 30 ms each.
    fn closure_track() -> Vec<MotionParams> {
        (0..60)
            .map(|i| {
                let shut = match i {
                    ..20 | 40.. => 0.0,
                    20..23 => (i - 19) as f32 / 3.0,
                    23..29 => 1.0,
                    _ => (32 - i) as f32 / 3.0,
                }
                .clamp(0.0, 1.0);
                MotionParams { jaw_open: 0.7 * (1.0 - shut), lip_close: shut, ..MotionParams::default() }
            })
            .collect()
    }

    #[test]
    fn a_short_closure_reaches_the_rig_offline_and_live() {
        let dt = HOP;
        // Offline: forward, then backward (zero phase), at the offline cutoff.
        let mut track = closure_track();
        let mut fwd = ParamSmoother::new(&cfg(), dt);
        track.iter_mut().for_each(|p| fwd.step(p));
        let mut bwd = ParamSmoother::new(&cfg(), dt);
        track.iter_mut().rev().for_each(|p| bwd.step(p));
        let (jaw, close) = (track[26].jaw_open, track[26].lip_close);
        assert!(jaw < 0.1 && close > 0.85, "offline: jaw {jaw:.3}, lip_close {close:.3} mid-closure");
        // The vowels either side stay open.
        assert!(track[10].jaw_open > 0.6 && track[50].jaw_open > 0.6);
        // Live: forward only, at the live cutoff.
        let mut live_cfg = cfg();
        live_cfg.min_cutoff_hz = live_cfg.live_min_cutoff_hz;
        let mut track = closure_track();
        let mut live = ParamSmoother::new(&live_cfg, dt);
        track.iter_mut().for_each(|p| live.step(p));
        let min_jaw = track.iter().map(|p| p.jaw_open).fold(f32::MAX, f32::min);
        let max_close = track.iter().map(|p| p.lip_close).fold(0.0, f32::max);
        assert!(min_jaw < 0.05 && max_close > 0.95, "live: jaw {min_jaw:.3}, lip_close {max_close:.3}");
    }

    #[test]
    fn parameter_jitter_at_rest_shrinks() {
        // The model's jaw at rest wobbling by 0.005 (its standard deviation on quiet noise): the speed
        // term must not lift the cutoff on it.
        let mut f = ParamSmoother::new(&cfg(), HOP);
        let mut rng = fastrand::Rng::with_seed(9);
        let (mut noisy_sq, mut out_sq) = (0.0, 0.0);
        for i in 0..2000 {
            let wobble = 0.005 * 3f32.sqrt() * (rng.f32() * 2.0 - 1.0);
            let mut p = MotionParams { jaw_open: 0.05 + wobble, ..MotionParams::default() };
            f.step(&mut p);
            if i > 100 {
                noisy_sq += wobble * wobble;
                out_sq += (p.jaw_open - 0.05).powi(2);
            }
        }
        assert!(out_sq < 0.15 * noisy_sq, "jitter power {out_sq} vs input {noisy_sq}");
    }

    #[test]
    fn head_angles_are_filtered_in_degrees_and_visemes_pass() {
        let mut f = ParamSmoother::new(&cfg(), HOP);
        let mut p = MotionParams { head_yaw_deg: 10.0, ..MotionParams::default() };
        f.step(&mut p);
        assert_eq!(p.head_yaw_deg, 10.0, "the first hop passes");
        let mut q = MotionParams { head_yaw_deg: 12.0, blink_left: 1.0, gaze_x: 0.5, ..MotionParams::default() };
        f.step(&mut q);
        assert!(q.head_yaw_deg > 10.0 && q.head_yaw_deg < 12.0, "yaw {}", q.head_yaw_deg);
        assert_eq!((q.blink_left, q.gaze_x), (1.0, 0.5), "blinks and gaze are not filtered");
    }

    #[test]
    fn disabled_is_identity() {
        let mut c = cfg();
        c.enabled = false;
        let mut f = OneEuro::new(&c, 2, HOP);
        let mut v = [0.1, 0.2];
        f.step(&mut v);
        let mut w = [0.9, -0.4];
        f.step(&mut w);
        assert_eq!(w, [0.9, -0.4]);
    }
}
