//! Frame pacing: when each frame is due, and which ticks a late render thread skips.
//!
//! Input: the frame period and an optional run length. Output: the next tick, the skipped-tick count,
//! and the latest instant a frame may wait for a fresh pose. Thread: the render thread.

use std::time::{Duration, Instant};

/// How long past its tick a frame may wait for a fresh pose: two hops. PulseAudio's 10.7 ms blocks
/// now and then come a block late (about 21 ms after the one before); a frame that gave up sooner drew
/// the pose of the block before, 10 ms staler, and that was most of the processing latency's p99. At
/// most [`FRESH_POSE_WAIT_SHARE`] of the frame period, though, so that the wait plus a frame's draw stays
/// within a period at higher rates (at 30 fps both give 20 ms; at 60 fps the wait is 10 ms).
const FRESH_POSE_WAIT: Duration = Duration::from_millis(20);
/// The largest share of the frame period that a frame may wait for a fresh pose.
const FRESH_POSE_WAIT_SHARE: f64 = 0.6;

/// The render thread's clock.
pub(super) struct Pacer {
    period: Duration,
    run: Option<Duration>,
    start: Instant,
    next_due: Instant,
    deadline: Option<Instant>,
    skipped: u64,
}

impl Pacer {
    /// Ticks every `period`, for `run` (forever when `None`), from now.
    pub fn new(period: Duration, run: Option<Duration>) -> Self {
        let now = Instant::now();
        Self { period, run, start: now, next_due: now, deadline: run.map(|d| now + d), skipped: 0 }
    }

    /// Starts again from now (once the renderer is built): the first frame is due at once.
    pub fn restart(&mut self) {
        *self = Self::new(self.period, self.run);
    }

    /// When the loop (re)started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Instant {
        self.next_due
    }

    /// Ticks skipped because the render thread was late.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Whether the run length is up.
    pub fn is_over(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// The latest instant the frame now due may wait for a fresh pose.
    pub fn fresh_pose_deadline(&self) -> Instant {
        self.next_due + FRESH_POSE_WAIT.min(self.period.mul_f64(FRESH_POSE_WAIT_SHARE))
    }

    /// Moves to the next tick once a frame is handed off; ticks already missed are skipped (counted), not
    /// rendered late in a burst.
    pub fn advance(&mut self, now: Instant) {
        self.next_due += self.period;
        if now > self.next_due + self.period {
            let behind = (now - self.next_due).as_secs_f64() / self.period.as_secs_f64();
            let skipped = behind.floor() as u32;
            self.skipped += u64::from(skipped);
            self.next_due += self.period * skipped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_frame_skips_the_ticks_it_missed_and_counts_them() {
        let mut p = Pacer::new(Duration::from_millis(10), None);
        let t0 = p.next_due();
        p.advance(t0 + Duration::from_millis(1));
        assert_eq!((p.next_due() - t0, p.skipped()), (Duration::from_millis(10), 0));
        // Handed off 45 ms after the start: the ticks at 20 and 30 ms are skipped; 40 ms is next.
        p.advance(t0 + Duration::from_millis(45));
        assert_eq!((p.next_due() - t0, p.skipped()), (Duration::from_millis(40), 2));
        assert_eq!(p.fresh_pose_deadline() - p.next_due(), Duration::from_millis(6));
        assert!(!p.is_over(t0 + Duration::from_secs(1000)));
    }
}
