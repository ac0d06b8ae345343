//! The A/V sync marker's ear: the loudness of the last second of hops.
//!
//! Input: each hop's RMS and where it ends on the arrival clock. Output: whether the sound at an
//! instant was loud, which paints the marker white. Thread: the render thread.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::vocab::clock::{self, HOP_SAMPLES};

/// The test pattern's sound is loud above this RMS (-34 dBFS); speech peaks are louder still.
pub(crate) const MARKER_RMS: f32 = 0.02;

/// Hops the sync marker looks back over (one second).
const MARKER_HISTORY: usize = 100;

/// The loudness of the last second of hops, to tell whether the sound a frame shows was loud.
#[derive(Default)]
pub(crate) struct Loudness(VecDeque<(Instant, f32)>);

impl Loudness {
    /// Records a hop ending at `end_at` on the arrival clock.
    pub(crate) fn push(&mut self, end_at: Instant, rms: f32) {
        if self.0.len() == MARKER_HISTORY {
            self.0.pop_front();
        }
        self.0.push_back((end_at, rms));
    }

    /// Whether the hop holding the instant `at` was loud.
    pub(crate) fn loud_at(&self, at: Instant) -> bool {
        let hop = Duration::from_secs_f64(clock::secs_from_samples(HOP_SAMPLES));
        self.0.iter().find(|(end, _)| at <= *end && *end <= at + hop).is_some_and(|(_, rms)| *rms > MARKER_RMS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loudness_is_looked_up_by_the_hop_that_holds_the_instant() {
        let t0 = Instant::now();
        let mut l = Loudness::default();
        for i in 1..=20u64 {
            l.push(t0 + Duration::from_millis(10 * i), if (5..8).contains(&i) { 0.3 } else { 0.0 });
        }
        // Hop i covers (10 (i - 1), 10 i] ms: hops 5 to 7 are loud, (40, 70] ms.
        assert!(l.loud_at(t0 + Duration::from_millis(45)));
        assert!(l.loud_at(t0 + Duration::from_millis(69)));
        assert!(!l.loud_at(t0 + Duration::from_millis(75)));
        assert!(!l.loud_at(t0 + Duration::from_millis(35)));
        assert!(!l.loud_at(t0 + Duration::from_secs(5)), "an instant past the history is not loud");
    }
}
