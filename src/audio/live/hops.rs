//! The hop cutter: the 16 kHz stream cut into 10 ms hops, each numbered and stamped on the arrival clock.
//!
//! Input: resampled 16 kHz samples, with the stamp of the block they came from and the resampler's
//! backlog. Output: [`StampedHop`]s, handed to a closure. Thread: the live loop's audio thread. Holds at
//! most one hop of samples between calls; nothing is allocated per hop.

use std::time::{Duration, Instant};

use super::BlockStamp;
use crate::vocab::clock::{self, HOP_SAMPLES};

/// One 10 ms hop of 16 kHz mono, with where it lies in time.
#[derive(Debug, Clone, Copy)]
pub struct StampedHop {
    /// The samples.
    pub samples: [f32; HOP_SAMPLES],
    /// Arrival of the block that completed this hop.
    pub arrival: Instant,
    /// Where the hop's last sample lies on the arrival clock: the block's arrival less the samples that
    /// follow it in the block and the resampler's backlog.
    pub end_at: Instant,
    /// 16 kHz samples of input from the first one to this hop's last, inclusive: the hop's place in the
    /// input audio.
    pub end_sample: u64,
    /// How old the host says the block's first sample was when it arrived (the capture delay).
    pub host_delay: Option<Duration>,
}

/// Cuts hops off a 16 kHz stream and stamps them.
#[derive(Debug)]
pub struct HopCutter {
    pcm: Vec<f32>,
    samples_cut: u64,
}

impl Default for HopCutter {
    fn default() -> Self {
        Self::new()
    }
}

impl HopCutter {
    /// A cutter at the stream's first sample.
    pub fn new() -> Self {
        // A block of a second at 16 kHz fits without a reallocation.
        Self { pcm: Vec::with_capacity(2 * clock::SAMPLE_RATE_HZ as usize), samples_cut: 0 }
    }

    /// The buffer the resampler appends its output to.
    pub fn pcm(&mut self) -> &mut Vec<f32> {
        &mut self.pcm
    }

    /// Forgets samples not yet cut (a source that restarts at a new rate, a lost device); the hop count
    /// goes on, so the input's clock does not jump back.
    pub fn clear(&mut self) {
        self.pcm.clear();
    }

    /// Cuts every whole hop off the front of the buffer and hands it to `emit`, stamped from `stamp` (the
    /// block that completed it). The buffer's last sample lies `backlog_secs` before the block's last
    /// sample (the resampler's backlog).
    pub fn cut(&mut self, stamp: BlockStamp, backlog_secs: f64, mut emit: impl FnMut(StampedHop)) {
        let mut used = 0;
        while self.pcm.len() - used >= HOP_SAMPLES {
            let mut samples = [0.0f32; HOP_SAMPLES];
            samples.copy_from_slice(&self.pcm[used..used + HOP_SAMPLES]);
            used += HOP_SAMPLES;
            self.samples_cut += HOP_SAMPLES as u64;
            // On the arrival clock the block's last sample is at its arrival; this hop ends the samples
            // after it and the resampler's backlog before that. (The host's capture delay is reported
            // apart.)
            let behind = Duration::from_secs_f64(clock::secs_from_samples(self.pcm.len() - used) + backlog_secs);
            emit(StampedHop {
                samples,
                arrival: stamp.arrival,
                end_at: stamp.arrival.checked_sub(behind).unwrap_or(stamp.arrival),
                end_sample: self.samples_cut,
                host_delay: stamp.host_delay,
            });
        }
        self.pcm.drain(..used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_are_numbered_by_their_last_sample_and_stamped_back_from_the_block() {
        let mut cutter = HopCutter::new();
        let arrival = Instant::now() + Duration::from_secs(1);
        let stamp = BlockStamp { arrival, host_delay: None };
        // 2.5 hops: two are cut, half a hop waits.
        cutter.pcm().extend((0..400).map(|i| i as f32));
        let mut hops = Vec::new();
        cutter.cut(stamp, 0.001, |h| hops.push(h));
        assert_eq!(hops.len(), 2);
        assert_eq!((hops[0].end_sample, hops[1].end_sample), (160, 320));
        assert_eq!((hops[0].samples[0], hops[1].samples[159]), (0.0, 319.0));
        // Hop 2 ends 80 samples (5 ms) and the 1 ms backlog before the block's arrival.
        let behind = arrival - hops[1].end_at;
        assert!((behind.as_secs_f64() - 0.006).abs() < 1e-6, "{behind:?}");
        assert_eq!(arrival - hops[0].end_at, behind + Duration::from_millis(10));
        // The rest completes with the next block; the count goes on.
        cutter.pcm().extend([0.0; 80]);
        cutter.cut(stamp, 0.0, |h| hops.push(h));
        assert_eq!(hops.last().map(|h| h.end_sample), Some(480));
        assert!(cutter.pcm().is_empty());
    }
}
