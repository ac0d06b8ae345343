//! The capture rings: the microphone callback's side (mix to mono, push, count overruns) and the
//! reader's side (drain, stamp).
//!
//! Input: interleaved device samples, one block per callback. Output: mono samples and one
//! [`BlockStamp`] per drain. Threads: [`CaptureWriter::write`] runs on the audio host's real-time thread
//! and never allocates, locks or logs; [`CaptureReader`] on the live loop's audio thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpal::{FromSample, SizedSample};

use super::BlockStamp;

/// Counters the capture callback updates and the rest of the pipeline reads.
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Frames dropped because the ring was full.
    pub overrun_frames: AtomicU64,
    /// Blocks whose stamp did not fit (the stamp ring was full).
    pub stamp_overruns: AtomicU64,
    /// Blocks received.
    pub blocks: AtomicU64,
    /// Set by the error callback when the stream fails (device unplugged).
    pub lost: AtomicBool,
}

/// The stamp the callback pushes per block.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawStamp {
    /// Frames written to the sample ring so far, this block included.
    pub end_frame: u64,
    /// Arrival, nanoseconds since the writer's epoch.
    pub arrival_ns: u64,
    /// The host's capture-to-callback delay in nanoseconds, or `u64::MAX` where it gives none.
    pub host_delay_ns: u64,
}

/// The writing half of the capture rings: owned by the data callback.
pub struct CaptureWriter {
    samples: rtrb::Producer<f32>,
    stamps: rtrb::Producer<RawStamp>,
    channels: usize,
    written: u64,
    epoch: Instant,
    stats: Arc<CaptureStats>,
}

/// The reading half of the capture rings.
pub struct CaptureReader {
    samples: rtrb::Consumer<f32>,
    stamps: rtrb::Consumer<RawStamp>,
    read: u64,
    epoch: Instant,
    stats: Arc<CaptureStats>,
}

/// Rings for `capacity_frames` mono frames from a device with `channels` channels.
pub fn capture_rings(channels: usize, capacity_frames: usize) -> (CaptureWriter, CaptureReader) {
    let (samples_tx, samples_rx) = rtrb::RingBuffer::new(capacity_frames.max(1));
    // One stamp per block; blocks hold at least a few frames, so this many stamps never run out first.
    let (stamps_tx, stamps_rx) = rtrb::RingBuffer::new(capacity_frames.div_ceil(16).max(64));
    let epoch = Instant::now();
    let stats = Arc::new(CaptureStats::default());
    (
        CaptureWriter {
            samples: samples_tx,
            stamps: stamps_tx,
            channels: channels.max(1),
            written: 0,
            epoch,
            stats: Arc::clone(&stats),
        },
        CaptureReader { samples: samples_rx, stamps: stamps_rx, read: 0, epoch, stats },
    )
}

impl CaptureWriter {
    /// The data callback's body: mixes one interleaved block to mono into the ring and stamps it.
    /// Allocates nothing, takes no lock, logs nothing.
    pub fn write<T>(&mut self, data: &[T], host_delay: Option<Duration>)
    where
        T: SizedSample,
        f32: FromSample<T>,
    {
        let arrival_ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let frames = data.len() / self.channels;
        let fit = frames.min(self.samples.slots());
        if fit < frames {
            self.stats.overrun_frames.fetch_add((frames - fit) as u64, Ordering::Relaxed);
        }
        if fit > 0
            && let Ok(chunk) = self.samples.write_chunk_uninit(fit)
        {
            let inv = 1.0 / self.channels as f32;
            let mono =
                data.chunks_exact(self.channels).map(|f| f.iter().map(|&s| f32::from_sample_(s)).sum::<f32>() * inv);
            self.written += chunk.fill_from_iter(mono) as u64;
        }
        let host_delay_ns = host_delay.map_or(u64::MAX, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1));
        if self.stamps.push(RawStamp { end_frame: self.written, arrival_ns, host_delay_ns }).is_err() {
            self.stats.stamp_overruns.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.blocks.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters this writer updates.
    pub fn stats(&self) -> &Arc<CaptureStats> {
        &self.stats
    }
}

impl CaptureReader {
    /// Moves every complete block the writer has stamped into `out` (appended) and returns the newest
    /// block's stamp, or `None` when nothing new has come.
    pub fn drain(&mut self, out: &mut Vec<f32>) -> Option<BlockStamp> {
        let mut newest = None;
        while let Ok(s) = self.stamps.pop() {
            newest = Some(s);
        }
        let s = newest?;
        let n = usize::try_from(s.end_frame.saturating_sub(self.read)).unwrap_or(0).min(self.samples.slots());
        if let Ok(chunk) = self.samples.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            out.extend_from_slice(a);
            out.extend_from_slice(b);
            chunk.commit_all();
        }
        self.read += n as u64;
        Some(BlockStamp {
            arrival: self.epoch + Duration::from_nanos(s.arrival_ns),
            host_delay: (s.host_delay_ns != u64::MAX).then(|| Duration::from_nanos(s.host_delay_ns)),
        })
    }

    /// The counters the writer updates.
    pub fn stats(&self) -> &Arc<CaptureStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_mixes_to_mono_and_stamps_each_block() {
        let (mut w, mut r) = capture_rings(2, 1000);
        w.write(&[0.5f32, -0.5, 1.0, 0.0], Some(Duration::from_micros(300)));
        w.write(&[1000i16, 3000], None);
        let mut out = Vec::new();
        let stamp = r.drain(&mut out).expect("a stamp");
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], 0.0);
        assert_eq!(out[1], 0.5);
        assert!((out[2] - 2000.0 / 32768.0).abs() < 1e-6);
        assert_eq!(stamp.host_delay, None, "the newest block's stamp is returned");
        assert!(r.drain(&mut out).is_none());
    }

    #[test]
    fn a_full_ring_counts_the_overrun_and_keeps_what_fit() {
        let (mut w, mut r) = capture_rings(1, 100);
        w.write(&[0.25f32; 150], None);
        assert_eq!(w.stats().overrun_frames.load(Ordering::Relaxed), 50);
        let mut out = Vec::new();
        r.drain(&mut out);
        assert_eq!(out.len(), 100);
        w.write(&[0.5f32; 10], None);
        out.clear();
        r.drain(&mut out);
        assert_eq!(out, vec![0.5; 10]);
    }
}
