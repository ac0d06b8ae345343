//! A file played in real time (and the A/V test pattern) as a [`LiveSource`].
//!
//! Input: a decoded file, or the generated test pattern. Output: 10 ms mono blocks released on the
//! wall clock, over and over when looping. Thread: the live loop's audio thread.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{BlockStamp, LiveAudioError, LiveSource, SourceRead};
use crate::vocab::clock::{HOP_SAMPLES, SAMPLE_RATE_HZ};

/// A file played in real time: 10 ms blocks at 16 kHz, each released when its time comes; once, or
/// over and over (`looping`). [`FileSource::test_pattern`] plays a synthetic beep pattern the same way.
pub struct FileSource {
    name: String,
    samples: Vec<f32>,
    next: usize,
    /// Samples released since the start, over every loop: the clock the blocks are paced by.
    released: u64,
    looping: bool,
    start: Option<Instant>,
}

/// Samples per block of the file source (10 ms at 16 kHz).
const FILE_BLOCK: usize = HOP_SAMPLES;

/// The test pattern repeats every this many seconds, with one beep in each of its seconds.
pub const TEST_PATTERN_LOOP_SECS: usize = 7;
/// How long each beep lasts, seconds.
pub const TEST_PATTERN_BEEP_SECS: f64 = 0.1;

/// Where beep `i` of the loop starts, seconds: half-way through second `i`, plus `i / 210` s, so the
/// seven beeps fall at seven evenly spread phases of a 30 fps frame clock (a pattern locked to the frame
/// clock would measure the same rounding every time).
pub fn test_pattern_beep_secs(i: usize) -> f64 {
    i as f64 + 0.5 + i as f64 / (30.0 * TEST_PATTERN_LOOP_SECS as f64)
}

impl FileSource {
    /// Decodes and resamples the whole file up front; [`read`](LiveSource::read) then paces it. With
    /// `looping` it starts over at the end, without a gap, and never ends.
    ///
    /// # Errors
    /// [`LiveAudioError::File`] when the file cannot be read as audio.
    pub fn open(path: &Path, looping: bool) -> Result<Self, LiveAudioError> {
        let decoded = crate::audio::decode_file(path)?;
        let audio = crate::audio::resample_to_16k(&decoded, path)?;
        Ok(Self::from_samples(path.display().to_string(), audio.samples, looping))
    }

    /// The A/V sync test pattern, forever: a 1 kHz beep of 100 ms at -12 dBFS about once a second
    /// ([`test_pattern_beep_secs`]), silence between. A receiver times the beeps it hears against the
    /// frames' sync markers.
    pub fn test_pattern() -> Self {
        let rate = f64::from(SAMPLE_RATE_HZ);
        let amplitude = 10f32.powf(-12.0 / 20.0);
        let mut samples = vec![0.0f32; TEST_PATTERN_LOOP_SECS * SAMPLE_RATE_HZ as usize];
        for beep in 0..TEST_PATTERN_LOOP_SECS {
            let on = (test_pattern_beep_secs(beep) * rate) as usize;
            let len = (TEST_PATTERN_BEEP_SECS * rate) as usize;
            for (k, x) in samples[on..on + len].iter_mut().enumerate() {
                *x = amplitude * (std::f64::consts::TAU * 1000.0 * k as f64 / rate).sin() as f32;
            }
        }
        Self::from_samples("test pattern (a 1 kHz beep about every second)".into(), samples, true)
    }

    fn from_samples(name: String, samples: Vec<f32>, looping: bool) -> Self {
        Self { name, samples, next: 0, released: 0, looping, start: None }
    }
}

impl LiveSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn rate_hz(&self) -> u32 {
        SAMPLE_RATE_HZ
    }

    fn is_clock(&self) -> bool {
        false
    }

    fn read(&mut self, out: &mut Vec<f32>, timeout: Duration) -> Result<SourceRead, LiveAudioError> {
        if self.next >= self.samples.len() {
            if !self.looping || self.samples.is_empty() {
                return Ok(SourceRead::End);
            }
            self.next = 0;
        }
        let start = *self.start.get_or_insert_with(Instant::now);
        let end = (self.next + FILE_BLOCK).min(self.samples.len());
        let released = self.released + (end - self.next) as u64;
        if !super::wait_until_due(start, released, timeout) {
            return Ok(SourceRead::Timeout);
        }
        out.extend_from_slice(&self.samples[self.next..end]);
        self.next = end;
        self.released = released;
        Ok(SourceRead::Samples(BlockStamp { arrival: Instant::now(), host_delay: None }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_pattern_loops_its_beeps_at_the_planned_instants() {
        let mut src = FileSource::test_pattern();
        assert_eq!(src.samples.len(), TEST_PATTERN_LOOP_SECS * SAMPLE_RATE_HZ as usize);
        // Beep i starts at test_pattern_beep_secs(i), within a sample, and lasts 100 ms.
        let rate = f64::from(SAMPLE_RATE_HZ);
        let onsets: Vec<usize> = (1..src.samples.len())
            .filter(|&i| src.samples[i] != 0.0 && src.samples[i - 1] == 0.0 && src.samples[i.saturating_sub(2)] == 0.0)
            .collect();
        assert_eq!(onsets.len(), TEST_PATTERN_LOOP_SECS, "{onsets:?}");
        for (i, &at) in onsets.iter().enumerate() {
            assert!((at as f64 / rate - test_pattern_beep_secs(i)).abs() <= 2.0 / rate, "beep {i} at {at}");
        }
        let peak = src.samples.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((peak - 10f32.powf(-12.0 / 20.0)).abs() < 1e-2, "peak {peak}");
        // Looping: reading past the end starts over without a gap and never ends.
        src.next = src.samples.len() - 80;
        src.start = Some(Instant::now() - Duration::from_secs(60));
        src.released = 60 * SAMPLE_RATE_HZ as u64;
        let mut out = Vec::new();
        for _ in 0..3 {
            assert!(matches!(src.read(&mut out, Duration::from_millis(10)).unwrap(), SourceRead::Samples(_)));
        }
        assert_eq!(out.len(), 80 + 160 + 160);
        assert_eq!(&out[80..240], &src.samples[..160]);
    }

    #[test]
    fn a_file_source_without_looping_ends() {
        let mut src = FileSource::from_samples("x".into(), vec![0.1; 200], false);
        src.start = Some(Instant::now() - Duration::from_secs(1));
        let mut out = Vec::new();
        assert!(matches!(src.read(&mut out, Duration::ZERO).unwrap(), SourceRead::Samples(_)));
        assert!(matches!(src.read(&mut out, Duration::ZERO).unwrap(), SourceRead::Samples(_)));
        assert!(matches!(src.read(&mut out, Duration::ZERO).unwrap(), SourceRead::End));
        assert_eq!(out.len(), 200);
    }
}
