//! Idle life: blinks at natural, random intervals, slow head sway and breathing that no audio drives,
//! and nods that follow the speech's emphasis.
//!
//! Shaped like a streaming module: [`IdleMotion::step`] once per 10 ms hop adds its parameters to the
//! model's, [`IdleMotion::reset`] starts over. Seeded, so a render is reproducible.
//!
//! Sway is two slow sines per axis (0.07 and 0.17 Hz for yaw, 0.05 and 0.13 Hz for pitch, 0.06 and 0.11 Hz
//! for roll) with seeded phases. A nod follows emphasis: how far the jaw's fast envelope (rising in
//! 30 ms, falling in 250 ms) stands above its slow one (1.5 s). Breathing is a 0.25 Hz sine.
//!
//! A blink closes in 40% of its duration, stays shut for 20% and opens in the remaining 40%, with
//! smoothstep ramps. Intervals are drawn uniformly from `blink_interval_secs`; the first blink comes
//! after one such interval.
//!
//! Saccades: at intervals drawn from `saccade_interval_secs` the gaze jumps, in [`SACCADE_SECS`] with a
//! smoothstep, to a new fixation drawn uniformly within `gaze_range` across and half that up and down;
//! every third fixation returns to straight ahead. They draw from their own random stream, so
//! switching them off leaves the blinks where they were.
//!
//! Input: the hop's duration and the model's parameters (for the emphasis nods). Output: idle parameters to add.
//! Thread: the motion stage's (the caller's).

use crate::config::IdleConfig;
use crate::vocab::motion::{MotionParams, NOD_DEG};

/// How long one saccade (a jump of gaze) takes, seconds.
pub const SACCADE_SECS: f64 = 0.04;

/// Gaze jumps: where the eyes look, where they are going, and when.
#[derive(Debug, Clone)]
struct Saccades {
    rng: fastrand::Rng,
    from: [f32; 2],
    to: [f32; 2],
    start_secs: f64,
    next_secs: f64,
    count: u32,
}

impl Saccades {
    /// Eyes straight ahead at time 0, the first jump one interval away; seeded from `cfg.seed`.
    fn new(cfg: &IdleConfig) -> Self {
        let mut rng = fastrand::Rng::with_seed(cfg.seed ^ 0x5acc_ade5);
        let [lo, hi] = cfg.saccade_interval_secs;
        let next_secs = f64::from(lo) + rng.f64() * f64::from(hi - lo);
        Self { rng, from: [0.0; 2], to: [0.0; 2], start_secs: 0.0, next_secs, count: 0 }
    }
}

/// Blink scheduler.
#[derive(Debug, Clone)]
pub struct IdleMotion {
    cfg: IdleConfig,
    rng: fastrand::Rng,
    t_secs: f64,
    next_blink_secs: f64,
    phases: [f64; 6],
    jaw_fast: f32,
    jaw_slow: f32,
    saccades: Saccades,
}

impl IdleMotion {
    /// A scheduler with the configured rates and seed.
    pub fn new(cfg: &IdleConfig) -> Self {
        let mut idle = Self {
            cfg: cfg.clone(),
            rng: fastrand::Rng::with_seed(cfg.seed),
            t_secs: 0.0,
            next_blink_secs: 0.0,
            phases: [0.0; 6],
            jaw_fast: 0.0,
            jaw_slow: 0.0,
            saccades: Saccades::new(cfg),
        };
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

    /// Advances by `dt_secs`, given the speech's parameters at this hop (`speech`, for nods), and sets the
    /// idle parameters in `params`: blinks, head angles and breath.
    pub fn step(&mut self, dt_secs: f64, speech: &MotionParams, params: &mut MotionParams) {
        let t = self.t_secs;
        let wave = |hz: f64, phase: f64| (std::f64::consts::TAU * hz * t + phase).sin() as f32;
        let ph = self.phases;
        let sway = self.cfg.sway_gain;
        params.head_yaw_deg += sway * 3.0 * (0.6 * wave(0.07, ph[0]) + 0.4 * wave(0.17, ph[1]));
        params.head_pitch_deg += sway * 1.5 * (0.6 * wave(0.05, ph[2]) + 0.4 * wave(0.13, ph[3]));
        params.head_roll_deg += sway * 1.5 * (0.6 * wave(0.06, ph[4]) + 0.4 * wave(0.11, ph[5]));
        let follow = |env: f32, target: f32, tau_secs: f32| env + (target - env) * (dt_secs as f32 / tau_secs).min(1.0);
        let jaw = speech.jaw_open;
        self.jaw_fast = follow(self.jaw_fast, jaw, if jaw > self.jaw_fast { 0.03 } else { 0.25 });
        self.jaw_slow = follow(self.jaw_slow, jaw, 1.5);
        let emphasis = ((self.jaw_fast - self.jaw_slow) * 2.0).clamp(0.0, 1.0);
        // 3 degrees at gain 1.
        params.nod += (self.cfg.nod_gain * 3.0 / NOD_DEG * emphasis).min(1.0);
        params.breath += self.cfg.breathing_gain * wave(0.25, 0.0);
        if self.cfg.blinks {
            let b = self.blink();
            params.blink_left = params.blink_left.max(b);
            params.blink_right = params.blink_right.max(b);
            if self.t_secs >= self.next_blink_secs + f64::from(self.cfg.blink_duration_secs) {
                self.next_blink_secs += f64::from(self.cfg.blink_duration_secs) + self.draw_interval();
            }
        }
        if self.cfg.saccades {
            let [x, y] = self.gaze();
            params.gaze_x += x;
            params.gaze_y += y;
        }
        self.t_secs += dt_secs;
    }

    /// The gaze at the current time. A jump starts when its time has come; the next one is scheduled
    /// an interval after it ends.
    fn gaze(&mut self) -> [f32; 2] {
        let [lo, hi] = self.cfg.saccade_interval_secs;
        let range = self.cfg.gaze_range;
        let s = &mut self.saccades;
        if self.t_secs >= s.next_secs {
            s.count += 1;
            s.from = s.to;
            s.to = if s.count.is_multiple_of(3) {
                [0.0; 2]
            } else {
                [range * (2.0 * s.rng.f32() - 1.0), 0.5 * range * (2.0 * s.rng.f32() - 1.0)]
            };
            s.start_secs = self.t_secs;
            s.next_secs = self.t_secs + SACCADE_SECS + f64::from(lo) + s.rng.f64() * f64::from(hi - lo);
        }
        let u = ((self.t_secs - s.start_secs) / SACCADE_SECS).clamp(0.0, 1.0);
        let k = (u * u * (3.0 - 2.0 * u)) as f32;
        [s.from[0] + (s.to[0] - s.from[0]) * k, s.from[1] + (s.to[1] - s.from[1]) * k]
    }

    /// Starts over from time 0 with the configured seed.
    pub fn reset(&mut self) {
        self.rng = fastrand::Rng::with_seed(self.cfg.seed);
        self.t_secs = 0.0;
        self.next_blink_secs = self.draw_interval();
        self.phases = std::array::from_fn(|_| self.rng.f64() * std::f64::consts::TAU);
        self.jaw_fast = 0.0;
        self.jaw_slow = 0.0;
        self.saccades = Saccades::new(&self.cfg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::clock::HOP_SECS;

    #[test]
    fn blinks_come_at_natural_intervals_and_last_about_150_ms() {
        let cfg = IdleConfig::default();
        let mut idle = IdleMotion::new(&cfg);
        let (mut starts, mut shut_hops, mut was_closed) = (Vec::new(), 0, false);
        for hop in 0..60_000 {
            let mut p = MotionParams::default();
            idle.step(HOP_SECS, &MotionParams::default(), &mut p);
            let closed = p.blink_left > 1e-2;
            if closed && !was_closed {
                starts.push(hop as f64 * HOP_SECS);
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
        let per_blink_secs = shut_hops as f64 * HOP_SECS / starts.len() as f64;
        assert!((0.12..=0.16).contains(&per_blink_secs), "a blink lasts {per_blink_secs:.3} s");
    }

    #[test]
    fn off_means_no_blinks_and_reset_repeats() {
        let cfg = IdleConfig { blinks: false, ..IdleConfig::default() };
        let mut idle = IdleMotion::new(&cfg);
        for _ in 0..2_000 {
            let mut p = MotionParams::default();
            idle.step(HOP_SECS, &MotionParams::default(), &mut p);
            assert_eq!(p.blink_left, 0.0);
        }
        let run = |idle: &mut IdleMotion| {
            (0..1_000)
                .map(|_| {
                    let mut p = MotionParams::default();
                    idle.step(HOP_SECS, &MotionParams::default(), &mut p);
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

#[cfg(test)]
mod life_tests {
    use super::*;
    use crate::vocab::clock::HOP_SECS;

    fn run(cfg: &IdleConfig, speech: impl Fn(usize) -> f32, hops: usize) -> Vec<MotionParams> {
        let mut idle = IdleMotion::new(cfg);
        (0..hops)
            .map(|h| {
                let mut p = MotionParams::default();
                idle.step(HOP_SECS, &MotionParams { jaw_open: speech(h), ..Default::default() }, &mut p);
                p
            })
            .collect()
    }

    #[test]
    fn sway_is_slow_and_small_and_gains_switch_it_off() {
        let cfg = IdleConfig { nod_gain: 0.0, ..IdleConfig::default() };
        let p = run(&cfg, |_| 0.0, 6_000);
        let yaw_max = p.iter().map(|q| q.head_yaw_deg.abs()).fold(0.0, f32::max);
        assert!(yaw_max > 1.0 && yaw_max <= 3.0, "yaw reaches {yaw_max}");
        let step_max = p.windows(2).map(|w| (w[1].head_yaw_deg - w[0].head_yaw_deg).abs()).fold(0.0, f32::max);
        // The sines' peak rate is 3 * 2 pi * (0.6 * 0.07 + 0.4 * 0.17) = 2.07 deg/s: slow, never a jerk.
        assert!(step_max <= 0.021, "yaw changes {step_max} deg in 10 ms");
        let off = IdleConfig { sway_gain: 0.0, nod_gain: 0.0, breathing_gain: 0.0, ..IdleConfig::default() };
        for q in run(&off, |h| if h % 50 < 20 { 0.8 } else { 0.0 }, 1_000) {
            assert_eq!((q.head_yaw_deg, q.head_pitch_deg, q.head_roll_deg, q.breath), (0.0, 0.0, 0.0, 0.0));
        }
    }

    #[test]
    fn nods_follow_emphasis_not_silence() {
        let cfg = IdleConfig { sway_gain: 0.0, breathing_gain: 0.0, ..IdleConfig::default() };
        let quiet = run(&cfg, |_| 0.0, 500);
        assert!(quiet.iter().all(|q| q.head_pitch_deg == 0.0));
        // Stressed syllables: the jaw opens wide for 150 ms every 600 ms.
        let speech = run(&cfg, |h| if h % 60 < 15 { 0.9 } else { 0.1 }, 600);
        assert!(quiet.iter().all(|q| q.nod == 0.0));
        let nod = speech.iter().map(|q| q.nod * NOD_DEG).fold(0.0, f32::max);
        assert!(nod > 1.0 && nod <= 3.0, "nod reaches {nod} deg");
    }

    #[test]
    fn saccades_are_quick_small_jumps_at_random_intervals() {
        let cfg = IdleConfig { sway_gain: 0.0, nod_gain: 0.0, breathing_gain: 0.0, ..IdleConfig::default() };
        let p = run(&cfg, |_| 0.0, 60_000);
        // A hop is "moving" when the gaze changed since the last; a run of moving hops is one jump.
        let moving: Vec<bool> =
            p.windows(2).map(|w| (w[1].gaze_x - w[0].gaze_x).abs() + (w[1].gaze_y - w[0].gaze_y).abs() > 0.0).collect();
        let mut jumps = Vec::new();
        let mut run_len = 0;
        for (i, &m) in moving.iter().enumerate() {
            if m {
                run_len += 1;
            } else if run_len > 0 {
                jumps.push((i, run_len));
                run_len = 0;
            }
        }
        // 600 s at one jump every 0.8..2.5 s (plus 40 ms each): about 240..720.
        assert!((230..=730).contains(&jumps.len()), "{} saccades in 600 s", jumps.len());
        assert!(jumps.iter().all(|&(_, len)| len <= 5), "a saccade takes at most 50 ms");
        for w in jumps.windows(2) {
            let gap_secs = (w[1].0 - w[0].0) as f64 * HOP_SECS;
            assert!((0.75..=2.6).contains(&gap_secs), "saccades {gap_secs:.2} s apart");
        }
        let (gx, gy) = p.iter().fold((0.0f32, 0.0f32), |(x, y), q| (x.max(q.gaze_x.abs()), y.max(q.gaze_y.abs())));
        assert!(gx > 0.2 && gx <= 0.35 && gy > 0.1 && gy <= 0.175, "gaze reaches {gx} across, {gy} down");
        let off = IdleConfig { saccades: false, ..cfg.clone() };
        assert!(run(&off, |_| 0.0, 3_000).iter().all(|q| q.gaze_x == 0.0 && q.gaze_y == 0.0));
        // Saccades draw from their own stream: the blinks are the same with them on or off.
        let blinks = |c: &IdleConfig| run(c, |_| 0.0, 3_000).iter().map(|q| q.blink_left).collect::<Vec<_>>();
        assert_eq!(blinks(&cfg), blinks(&off));
    }
}
