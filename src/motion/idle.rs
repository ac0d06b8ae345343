//! Idle life that no audio drives: blinks at natural, random intervals.
//!
//! Shaped like a streaming module: [`IdleMotion::step`] once per 10 ms hop adds its parameters to the
//! model's, [`IdleMotion::reset`] starts over. Seeded, so a render is reproducible.
//!
//! A blink closes in 40% of its duration, stays shut for 20% and opens in the remaining 40%, with
//! smoothstep ramps. Intervals are drawn uniformly from `blink_interval_secs`; the first blink comes
//! after one such interval.

use super::MotionParams;
use crate::config::IdleConfig;

/// Blink scheduler.
#[derive(Debug, Clone)]
pub struct IdleMotion {
    cfg: IdleConfig,
    rng: fastrand::Rng,
    t_secs: f64,
    next_blink_secs: f64,
}

impl IdleMotion {
    /// A scheduler with the configured rates and seed.
    pub fn new(cfg: &IdleConfig) -> Self {
        let mut idle =
            Self { cfg: cfg.clone(), rng: fastrand::Rng::with_seed(cfg.seed), t_secs: 0.0, next_blink_secs: 0.0 };
        idle.reset();
        idle
    }

    fn draw_interval(&mut self) -> f64 {
        let [lo, hi] = self.cfg.blink_interval_secs;
        f64::from(lo) + self.rng.f64() * f64::from(hi - lo)
    }

    /// The blink closure (0 = open, 1 = shut) at the current time.
    fn blink(&self) -> f32 {
        let duration = f64::from(self.cfg.blink_duration_secs);
        let u = (self.t_secs - self.next_blink_secs) / duration;
        if !(0.0..1.0).contains(&u) {
            return 0.0;
        }
        let smooth = |x: f64| x * x * (3.0 - 2.0 * x);
        let closure = if u < 0.4 {
            smooth(u / 0.4)
        } else if u < 0.6 {
            1.0
        } else {
            smooth((1.0 - u) / 0.4)
        };
        closure as f32
    }

    /// Advances by `dt_secs` and adds the idle parameters to `params`.
    pub fn step(&mut self, dt_secs: f64, params: &mut MotionParams) {
        if self.cfg.blinks {
            let b = self.blink();
            params.blink_left = params.blink_left.max(b);
            params.blink_right = params.blink_right.max(b);
            if self.t_secs >= self.next_blink_secs + f64::from(self.cfg.blink_duration_secs) {
                self.next_blink_secs += f64::from(self.cfg.blink_duration_secs) + self.draw_interval();
            }
        }
        self.t_secs += dt_secs;
    }

    /// Starts over from time 0 with the configured seed.
    pub fn reset(&mut self) {
        self.rng = fastrand::Rng::with_seed(self.cfg.seed);
        self.t_secs = 0.0;
        self.next_blink_secs = self.draw_interval();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blinks_come_at_natural_intervals_and_last_about_150_ms() {
        let cfg = IdleConfig::default();
        let mut idle = IdleMotion::new(&cfg);
        let (mut starts, mut shut_hops, mut was_closed) = (Vec::new(), 0, false);
        for hop in 0..60_000 {
            let mut p = MotionParams::default();
            idle.step(0.01, &mut p);
            let closed = p.blink_left > 0.01;
            if closed && !was_closed {
                starts.push(hop as f64 * 0.01);
            }
            shut_hops += usize::from(closed);
            was_closed = closed;
            assert_eq!(p.blink_left, p.blink_right);
        }
        // 600 s at one blink every 3..5 s (plus 0.15 s each): about 120..190 blinks.
        assert!((115..=195).contains(&starts.len()), "{} blinks in 600 s", starts.len());
        for w in starts.windows(2) {
            let gap = w[1] - w[0];
            assert!((3.0..=5.3).contains(&gap), "blinks {gap:.2} s apart");
        }
        let per_blink_secs = shut_hops as f64 * 0.01 / starts.len() as f64;
        assert!((0.12..=0.16).contains(&per_blink_secs), "a blink lasts {per_blink_secs:.3} s");
    }

    #[test]
    fn off_means_no_blinks_and_reset_repeats() {
        let cfg = IdleConfig { blinks: false, ..IdleConfig::default() };
        let mut idle = IdleMotion::new(&cfg);
        for _ in 0..2_000 {
            let mut p = MotionParams::default();
            idle.step(0.01, &mut p);
            assert_eq!(p.blink_left, 0.0);
        }
        let run = |idle: &mut IdleMotion| {
            (0..1_000)
                .map(|_| {
                    let mut p = MotionParams::default();
                    idle.step(0.01, &mut p);
                    p.blink_left
                })
                .collect::<Vec<_>>()
        };
        let mut idle = IdleMotion::new(&IdleConfig::default());
        let a = run(&mut idle);
        idle.reset();
        assert_eq!(a, run(&mut idle));
    }
}
