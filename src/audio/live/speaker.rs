//! The speech on a local loudspeaker (`--speaker [NAME]`, a kiosk's own): the live input's 16 kHz hops,
//! resampled to the output device's rate (rubato) and played by cpal, a fixed lead of silence ahead of
//! them so that the sound comes out about when the frames that show it do.
//!
//! Input: 10 ms hops from the live loop's audio thread. Output: a cpal output stream. Threads: the audio
//! thread resamples and pushes into a ring (rtrb); cpal's callback pops from it, never allocating,
//! locking or logging. A callback that finds the ring short plays silence and counts the missing
//! samples in an atomic. One that finds more waiting than the lead, a period's slack and what the
//! device owes (the samples its clock ran through since it last asked, for a device that takes sound
//! in bursts) skips the oldest, so that the sound stays with the frames, and counts them too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SizedSample};
use rubato::{FastFixedIn, PolynomialDegree, Resampler};

use super::LiveAudioError;
use super::device::{self, AudioDeviceInfo, Direction};
use crate::vocab::clock::{HOP_SAMPLES, SAMPLE_RATE_HZ};

/// Lists the audio output devices of the default host (`--speaker NAME`).
///
/// # Errors
/// [`LiveAudioError::NoDevice`] when the host cannot enumerate devices.
pub fn output_devices() -> Result<Vec<AudioDeviceInfo>, LiveAudioError> {
    device::list(Direction::Output)
}

/// What the callback counts, for the stats.
#[derive(Debug, Default)]
pub struct SpeakerStats {
    /// Samples the callback played as silence because the ring ran short.
    pub underrun_samples: AtomicU64,
    /// Samples skipped because too many waited (a late device), or dropped because the ring was full.
    pub dropped_samples: AtomicU64,
    /// Device buffers filled so far.
    pub callbacks: AtomicU64,
    /// The device's latency as its last callback reported it (from the callback to the playback of
    /// the buffer's first sample), microseconds.
    pub device_latency_us: AtomicU64,
}

/// The slack over the lead that the callback lets wait before it skips: more than a period of any
/// device's buffer.
const SLACK_SECS: f64 = 0.15;

/// The audio thread's end of the loudspeaker: resamples each 16 kHz hop to the device's rate and
/// queues it for the callback.
pub struct SpeakerInput {
    ring: rtrb::Producer<f32>,
    resampler: FastFixedIn<f32>,
    out: Vec<Vec<f32>>,
    stats: Arc<SpeakerStats>,
}

/// The device callback's end: fills each buffer from the queue, never allocating, locking or logging.
pub struct SpeakerFeed {
    reader: rtrb::Consumer<f32>,
    channels: usize,
    rate_hz: u32,
    most_waiting: usize,
    /// What the device owes: the samples its clock has run through since it last asked, beyond what it
    /// took. A device that works in bursts (PulseAudio's null sink takes two seconds at a time, a
    /// Bluetooth or network sink large blocks) lets the queue grow between bursts without the sound
    /// falling behind; only what waits beyond this is late.
    owed: usize,
    last_call: Option<Instant>,
    stats: Arc<SpeakerStats>,
}

/// The two ends of a loudspeaker's queue, for a device at `rate_hz` with `channels`, `lead_secs` of
/// silence queued ahead of the first hop. No device is opened: [`Speaker::open`] hands the feed to
/// cpal's callback; tests drive it by hand.
///
/// # Errors
/// [`LiveAudioError::Resample`] when rubato refuses the rate.
pub fn speaker_queue(
    rate_hz: u32,
    channels: usize,
    lead_secs: f64,
) -> Result<(SpeakerInput, SpeakerFeed), LiveAudioError> {
    // Room for the longest burst a device may take at once, and the lead of silence first.
    let (mut ring, reader) = rtrb::RingBuffer::<f32>::new((RING_SECS * f64::from(rate_hz)) as usize);
    let lead_secs = lead_secs.clamp(0.0, 0.4);
    for _ in 0..((lead_secs * f64::from(rate_hz)) as usize) {
        let _ = ring.push(0.0);
    }
    let most_waiting = ((lead_secs + SLACK_SECS) * f64::from(rate_hz)) as usize;
    let stats = Arc::new(SpeakerStats::default());
    let resampler = FastFixedIn::<f32>::new(
        f64::from(rate_hz) / f64::from(SAMPLE_RATE_HZ),
        1.0,
        PolynomialDegree::Cubic,
        HOP_SAMPLES,
        1,
    )
    .map_err(|e| LiveAudioError::Resample { rate_hz, reason: e.to_string() })?;
    let out = resampler.output_buffer_allocate(true);
    let feed = SpeakerFeed {
        reader,
        channels: channels.max(1),
        rate_hz,
        most_waiting,
        owed: 0,
        last_call: None,
        stats: Arc::clone(&stats),
    };
    Ok((SpeakerInput { ring, resampler, out, stats }, feed))
}

impl SpeakerInput {
    /// Queues one hop (16 kHz mono) after those before it. Allocates nothing; a full queue drops the
    /// samples that do not fit and counts them.
    pub fn push(&mut self, hop: &[f32; HOP_SAMPLES]) {
        let Ok((_, written)) = self.resampler.process_into_buffer(&[&hop[..]], &mut self.out, None) else {
            return;
        };
        for &s in &self.out[0][..written] {
            if self.ring.push(s).is_err() {
                self.stats.dropped_samples.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// What the two ends have counted.
    pub fn stats(&self) -> &Arc<SpeakerStats> {
        &self.stats
    }
}

impl SpeakerFeed {
    /// Fills one device buffer (`channels` interleaved), the same sample on every channel. Where more
    /// than the lead, the slack and what the device owes wait (a device that started late or stalled),
    /// the oldest are skipped first, so that the sound stays with the frames; where the queue runs
    /// short, silence. Both are counted.
    pub fn fill<T: SizedSample + FromSample<f32>>(&mut self, data: &mut [T]) {
        self.fill_at(data, Instant::now());
    }

    /// [`Self::fill`] as if called at `now`.
    pub fn fill_at<T: SizedSample + FromSample<f32>>(&mut self, data: &mut [T], now: Instant) {
        let frames = data.len() / self.channels;
        if let Some(last) = self.last_call {
            let ran = (now.saturating_duration_since(last).as_secs_f64() * f64::from(self.rate_hz)) as usize;
            self.owed = (self.owed + ran).saturating_sub(frames).min(self.reader.buffer().capacity());
        }
        self.last_call = Some(now);
        let excess = self.reader.slots().saturating_sub(self.most_waiting + frames + self.owed);
        if excess > 0
            && let Ok(chunk) = self.reader.read_chunk(excess)
        {
            chunk.commit_all();
            self.stats.dropped_samples.fetch_add(excess as u64, Ordering::Relaxed);
        }
        let mut short = 0u64;
        for frame in data.chunks_mut(self.channels) {
            let s = self.reader.pop().unwrap_or_else(|_| {
                short += 1;
                0.0
            });
            frame.fill(T::from_sample(s));
        }
        if short > 0 {
            self.stats.underrun_samples.fetch_add(short, Ordering::Relaxed);
        }
        self.stats.callbacks.fetch_add(1, Ordering::Release);
    }
}

/// A loudspeaker playing the live input.
pub struct Speaker {
    _stream: cpal::Stream,
    input: SpeakerInput,
    name: String,
    rate_hz: u32,
}

impl Speaker {
    /// Opens the output device `name` (the default output where `None`) at its default rate and
    /// channels, with `lead_secs` of silence queued ahead of the first hop.
    ///
    /// # Errors
    /// [`LiveAudioError`] when there is no such device or it will not play.
    pub fn open(name: Option<&str>, lead_secs: f64) -> Result<Self, LiveAudioError> {
        let host = cpal::default_host();
        let device = device::find(&host, Direction::Output, name)?;
        let dev_name = device.to_string();
        let open_err = |reason: String| LiveAudioError::Open { name: dev_name.clone(), reason };
        let supported = device.default_output_config().map_err(|e| open_err(e.to_string()))?;
        let rate_hz = supported.sample_rate();
        let channels = usize::from(supported.channels());
        let mut config = supported.config();
        // A short device buffer, so that the sound leaves about when it is pushed: the default (ALSA
        // through PulseAudio) holds more than a second, which puts the voice a second behind the face
        // and cuts the last second of speech when the run ends.
        config.buffer_size = device_buffer(supported.buffer_size(), rate_hz);
        let (input, feed) = speaker_queue(rate_hz, channels, lead_secs)?;
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => build::<f32>(&device, &config, feed),
            cpal::SampleFormat::I16 => build::<i16>(&device, &config, feed),
            cpal::SampleFormat::I32 => build::<i32>(&device, &config, feed),
            cpal::SampleFormat::U16 => build::<u16>(&device, &config, feed),
            cpal::SampleFormat::U8 => build::<u8>(&device, &config, feed),
            other => return Err(open_err(format!("unsupported sample format {other:?}"))),
        }
        .map_err(|e| open_err(e.to_string()))?;
        stream.play().map_err(|e| open_err(e.to_string()))?;
        // The device asks for its first buffer some time after `play` (ALSA through PulseAudio: most of
        // a second). Until then what is pushed would wait and then be skipped as late, so the live loop
        // starts only once the device plays.
        let asked = Instant::now();
        while input.stats().callbacks.load(Ordering::Acquire) == 0 {
            if asked.elapsed() > DEVICE_START_TIMEOUT {
                return Err(open_err(format!(
                    "the device asked for no sound within {} s",
                    DEVICE_START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        tracing::info!(
            device = %dev_name,
            rate_hz,
            channels,
            start_ms = asked.elapsed().as_millis() as u64,
            "playing the speech on the speaker"
        );
        Ok(Self { _stream: stream, input, name: dev_name, rate_hz })
    }

    /// Plays one hop (16 kHz mono) after those before it. Allocates nothing.
    pub fn push(&mut self, hop: &[f32; HOP_SAMPLES]) {
        self.input.push(hop);
    }

    /// Waits, at most `most`, until what was pushed has been played: the queue empty, then the
    /// device's own latency (at most `MAX_DRAIN_LATENCY`, 2 s). For the end of a file or a sentence, so
    /// that its last words are heard before the device closes.
    pub fn drain(&self, most: Duration) {
        let start = Instant::now();
        while !self.input.ring.is_abandoned()
            && self.input.ring.slots() < self.input.ring.buffer().capacity()
            && start.elapsed() < most
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let latency = Duration::from_micros(self.stats().device_latency_us.load(Ordering::Relaxed));
        std::thread::sleep(latency.min(MAX_DRAIN_LATENCY).min(most.saturating_sub(start.elapsed())));
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's rate, Hz.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// What the callback has counted.
    pub fn stats(&self) -> &Arc<SpeakerStats> {
        self.input.stats()
    }
}

/// The device buffer `--speaker` asks for: [`DEVICE_BUFFER_SECS`] at `rate_hz`, within what the
/// device supports; the device's default where it does not say.
fn device_buffer(supported: &cpal::SupportedBufferSize, rate_hz: u32) -> cpal::BufferSize {
    match *supported {
        cpal::SupportedBufferSize::Range { min, max } => {
            let want = (DEVICE_BUFFER_SECS * f64::from(rate_hz)).round() as u32;
            cpal::BufferSize::Fixed(want.clamp(min, max.max(min)))
        }
        cpal::SupportedBufferSize::Unknown => cpal::BufferSize::Default,
    }
}

/// The queue's room, seconds: more than the longest burst a device takes (two seconds for
/// PulseAudio's null sink).
const RING_SECS: f64 = 4.0;

/// The most of a device's latency that [`Speaker::drain`] waits out.
const MAX_DRAIN_LATENCY: Duration = Duration::from_secs(2);

/// How long [`Speaker::open`] waits for the device's first callback.
const DEVICE_START_TIMEOUT: Duration = Duration::from_secs(5);

/// The device buffer asked for: two of the live loop's hops.
const DEVICE_BUFFER_SECS: f64 = 0.02;

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut feed: SpeakerFeed,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    // An error (a device unplugged) is seen by the stats: the callback stops and the queue overflows.
    let on_error = |_e: cpal::Error| {};
    device.build_output_stream::<T, _, _>(
        *config,
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            let ts = info.timestamp();
            let latency = ts.playback.duration_since(ts.callback);
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            feed.stats.device_latency_us.store(us, Ordering::Relaxed);
            feed.fill(data);
        },
        on_error,
        Some(Duration::from_secs(5)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_that_takes_sound_in_bursts_gets_it_all_and_a_late_one_is_caught_up() {
        // A 16 kHz mono device (no resampling to think of), 20 ms of lead: the slack lets 170 ms wait.
        let (mut input, mut feed) = speaker_queue(SAMPLE_RATE_HZ, 1, 0.02).unwrap();
        let t0 = Instant::now();
        let hop = [0.25f32; HOP_SAMPLES];
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut block = vec![0.0f32; 160];
        // A burst device: one call at 0, then none for 2 s while 2 s of hops arrive, then it catches
        // up in 10 ms blocks, quickly. Nothing is skipped.
        feed.fill_at(&mut block, at(0));
        for _ in 0..200 {
            input.push(&hop);
        }
        for i in 0..220u64 {
            feed.fill_at(&mut block, at(2_000 + i / 10));
        }
        let stats = Arc::clone(input.stats());
        assert_eq!(stats.dropped_samples.load(Ordering::Relaxed), 0);
        // A device that keeps a steady cadence, a hop pushed for each call, then a second more arrives
        // at once (the audio came in a rush): the excess beyond the lead and slack is skipped at once.
        let mut t = 2_100;
        for _ in 0..50 {
            t += 10;
            input.push(&hop);
            feed.fill_at(&mut block, at(t));
        }
        assert_eq!(stats.dropped_samples.load(Ordering::Relaxed), 0);
        for _ in 0..100 {
            input.push(&hop);
        }
        let before = stats.dropped_samples.load(Ordering::Relaxed);
        for _ in 0..5 {
            t += 10;
            input.push(&hop);
            feed.fill_at(&mut block, at(t));
        }
        let skipped = stats.dropped_samples.load(Ordering::Relaxed) - before;
        assert!(skipped > 10_000, "a second of late sound was not caught up (skipped {skipped})");
    }

    #[test]
    fn the_device_buffer_is_two_hops_within_the_devices_range() {
        let range = |min, max| cpal::SupportedBufferSize::Range { min, max };
        assert_eq!(device_buffer(&range(64, 8192), 48_000), cpal::BufferSize::Fixed(960));
        assert_eq!(device_buffer(&range(64, 8192), 44_100), cpal::BufferSize::Fixed(882));
        assert_eq!(device_buffer(&range(2048, 8192), 48_000), cpal::BufferSize::Fixed(2048));
        assert_eq!(device_buffer(&range(16, 256), 48_000), cpal::BufferSize::Fixed(256));
        assert_eq!(device_buffer(&cpal::SupportedBufferSize::Unknown, 48_000), cpal::BufferSize::Default);
    }
}
