//! One Euro filter (Casiez, Roussel and Vogel, CHI 2012) over a vector of values: every keypoint
//! coordinate and Jacobian entry gets its own filter, all run at one fixed rate.
//!
//! At rest the cutoff is `min_cutoff_hz`, which removes jitter; as a value moves faster, the cutoff
//! rises by `beta` per unit of speed, which keeps lag low on fast lip motion. For a first-order
//! low-pass at cutoff `fc`, the lag on a slow ramp is `1 / (2 pi fc)`: 53 ms at 3 Hz, 16 ms at 10 Hz.

use crate::config::SmoothingConfig;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SmoothingConfig {
        SmoothingConfig::default()
    }

    #[test]
    fn constant_passes_and_jitter_shrinks() {
        let mut f = OneEuro::new(&cfg(), 1, 0.01);
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
        let mut f = OneEuro::new(&cfg(), 1, 0.01);
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

    #[test]
    fn disabled_is_identity() {
        let mut c = cfg();
        c.enabled = false;
        let mut f = OneEuro::new(&c, 2, 0.01);
        let mut v = [0.1, 0.2];
        f.step(&mut v);
        let mut w = [0.9, -0.4];
        f.step(&mut w);
        assert_eq!(w, [0.9, -0.4]);
    }
}
