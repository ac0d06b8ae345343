//! Latency histograms: durations in, percentiles in milliseconds out.
//!
//! Input: durations. Output: [`Percentiles`] (p50, p90, p99, max). Thread: the owner's; a histogram is
//! never shared between threads (each figure is carried to the one thread that records it).
//!
//! Every figure is a histogram of microseconds (hdrhistogram, 3 significant digits), reported in
//! milliseconds.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A latency histogram, 1 us to 60 s.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid"))
    }
}

/// p50, p90, p99 and max of a histogram, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// Records one duration (clamped to the histogram's range).
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, 60_000_000);
        self.0.saturating_record(us);
    }

    /// Records one duration given in seconds (negative values count as 0).
    pub fn record_secs(&mut self, secs: f64) {
        self.record(Duration::from_secs_f64(secs.clamp(0.0, 60.0)));
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The percentiles, or `None` when nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1e3;
        Some(Percentiles {
            p50: ms(self.0.value_at_quantile(0.5)),
            p90: ms(self.0.value_at_quantile(0.9)),
            p99: ms(self.0.value_at_quantile(0.99)),
            max: ms(self.0.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let mut h = Latency::default();
        assert!(h.percentiles().is_none());
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let p = h.percentiles().unwrap();
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p90 - 90.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
        h.record_secs(-1.0);
        assert_eq!(h.count(), 101);
    }
}
