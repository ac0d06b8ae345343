//! Live audio: a microphone (cpal), a file played in real time, or raw PCM on standard input, behind one
//! trait, [`LiveSource`], and a streaming resampler to 16 kHz ([`StreamResampler`]).
//!
//! The microphone's data callback runs on the audio host's real-time thread. It follows cpal's rules: it
//! never allocates, locks or logs. It mixes the device's channels to mono into a pre-allocated lock-free
//! ring ([`rtrb`]), then pushes one [`RawStamp`] per block into a second ring: how many frames have been
//! written so far, when the block arrived, and how old the host says its first sample was. A full ring
//! drops the newest samples and counts them in an atomic ([`CaptureStats::overrun_frames`]).
//! [`CaptureWriter::write`] is that callback's body, so a test can call it under a counting allocator.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};
use rubato::{Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction};

use super::{AudioError, SAMPLE_RATE_HZ};

/// How much audio the capture ring holds, seconds. The reader drains it every millisecond or so; a
/// stall longer than this loses audio (counted).
pub const RING_SECS: f64 = 2.0;

/// Errors of the live sources.
#[derive(Debug, thiserror::Error)]
pub enum LiveAudioError {
    /// There is no input device at all.
    #[error("no audio input device: {0}")]
    NoDevice(String),
    /// No input device has the requested name.
    #[error("no audio input device named {name:?}; `facecast devices` lists them. Inputs here: {available}")]
    UnknownDevice { name: String, available: String },
    /// The device refused to open or start.
    #[error("cannot open the audio input {name}: {reason}")]
    Open { name: String, reason: String },
    /// Standard input could not be read.
    #[error("cannot read PCM from standard input: {0}")]
    Stdin(#[source] std::io::Error),
    /// A malformed `--pcm` description.
    #[error(
        "invalid --pcm {spec:?}: {reason} (expected FORMAT:RATE:CHANNELS, FORMAT s16le or f32le, e.g. s16le:48000:1)"
    )]
    PcmSpec { spec: String, reason: String },
    /// A file could not be read.
    #[error(transparent)]
    File(#[from] AudioError),
    /// The resampler refused the rate.
    #[error("cannot resample live audio from {rate_hz} Hz: {reason}")]
    Resample { rate_hz: u32, reason: String },
}

/// When a block of samples arrived, and how old the host says it was then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockStamp {
    /// When the block reached facecast (the data callback, or the read of standard input).
    pub arrival: Instant,
    /// How long before `arrival` the block's first sample was captured, where the host reports it (cpal's
    /// capture timestamp); `None` where it does not.
    pub host_delay: Option<Duration>,
}

/// What one [`LiveSource::read`] gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRead {
    /// Samples were appended; their stamp.
    Samples(BlockStamp),
    /// Nothing arrived in time.
    Timeout,
    /// A finite input (file, standard input) has ended.
    End,
    /// The device has gone (unplugged, server gone); the reason. [`LiveSource::reopen`] retries.
    Lost(String),
}

/// A live audio input: mono samples at [`rate_hz`](Self::rate_hz), stamped as they arrive.
pub trait LiveSource: Send {
    /// A name for logs and stats.
    fn name(&self) -> &str;
    /// The rate of the samples [`read`](Self::read) appends.
    fn rate_hz(&self) -> u32;
    /// Waits up to `timeout` for audio and appends what came (mono, -1..1) to `out`.
    ///
    /// # Errors
    /// [`LiveAudioError`] when the input fails for good.
    fn read(&mut self, out: &mut Vec<f32>, timeout: Duration) -> Result<SourceRead, LiveAudioError>;
    /// Tries to open the input again after [`SourceRead::Lost`].
    ///
    /// # Errors
    /// [`LiveAudioError`] while the input is still missing.
    fn reopen(&mut self) -> Result<(), LiveAudioError> {
        Err(LiveAudioError::NoDevice(format!("{} cannot be reopened", self.name())))
    }
    /// Frames lost because the capture ring was full.
    fn overrun_frames(&self) -> u64 {
        0
    }
    /// Whether the source keeps time by itself (a microphone: its sound happens now, wanted or not).
    /// A file or a pipe does not: it plays on its own clock from its first read, so the loop holds that
    /// read back until it can show the first frame, and nothing of the input's start is lost.
    fn is_clock(&self) -> bool {
        true
    }
}

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

/// One audio input device, as `facecast devices` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputDeviceInfo {
    /// The name to pass to `--device`.
    pub name: String,
    /// Whether it is the host's default input.
    pub is_default: bool,
    /// Its default rate, channels and sample format, if it reports them.
    pub default_config: Option<String>,
}

/// Lists the audio input devices of the default host.
///
/// # Errors
/// [`LiveAudioError::NoDevice`] when the host cannot enumerate devices.
pub fn input_devices() -> Result<Vec<InputDeviceInfo>, LiveAudioError> {
    let host = cpal::default_host();
    let default_name = host.default_input_device().map(|d| d.to_string());
    let devices = host.input_devices().map_err(|e| LiveAudioError::NoDevice(e.to_string()))?;
    Ok(devices
        .map(|d| {
            let name = d.to_string();
            InputDeviceInfo {
                is_default: default_name.as_deref() == Some(name.as_str()),
                default_config: d
                    .default_input_config()
                    .ok()
                    .map(|c| format!("{} Hz, {} ch, {:?}", c.sample_rate(), c.channels(), c.sample_format())),
                name,
            }
        })
        .collect())
}

/// The microphone: a cpal input stream feeding the capture rings.
pub struct MicSource {
    device_name: Option<String>,
    name: String,
    rate_hz: u32,
    stream: Option<cpal::Stream>,
    reader: CaptureReader,
    overruns_before: u64,
    last_data: Instant,
    started: bool,
}

impl MicSource {
    /// Opens the input device called `device` (the default input when `None`) at its default rate and
    /// channel layout, and starts capturing.
    ///
    /// # Errors
    /// [`LiveAudioError`] when there is no such device or it will not start.
    pub fn open(device: Option<&str>) -> Result<Self, LiveAudioError> {
        let (stream, reader, name, rate_hz) = open_stream(device)?;
        tracing::info!(device = %name, rate_hz, "capturing from the microphone");
        Ok(Self {
            device_name: device.map(str::to_owned),
            name,
            rate_hz,
            stream: Some(stream),
            reader,
            overruns_before: 0,
            last_data: Instant::now(),
            started: false,
        })
    }
}

impl MicSource {
    /// Closes the stream without waiting for it. Dropping a cpal stream joins its callback thread, and
    /// when the sound server has died that thread can be stuck in a read that never returns (ALSA's
    /// PulseAudio plugin after the server is killed): the drop happens on a thread of its own, so the
    /// audio thread goes on idling the avatar and retrying.
    fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            let spawned = std::thread::Builder::new().name("audio-close".into()).spawn(move || drop(stream));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a thread to close the audio stream; leaving it open");
            }
        }
    }
}

impl Drop for MicSource {
    fn drop(&mut self) {
        self.close();
    }
}

fn find_device(host: &cpal::Host, device: Option<&str>) -> Result<cpal::Device, LiveAudioError> {
    match device {
        None => {
            host.default_input_device().ok_or_else(|| LiveAudioError::NoDevice("the host has no default input".into()))
        }
        Some(want) => {
            let devices: Vec<cpal::Device> =
                host.input_devices().map_err(|e| LiveAudioError::NoDevice(e.to_string()))?.collect();
            if let Some(d) = devices.iter().find(|d| d.to_string() == want) {
                return Ok(d.clone());
            }
            Err(LiveAudioError::UnknownDevice {
                name: want.to_owned(),
                available: devices.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            })
        }
    }
}

fn open_stream(device: Option<&str>) -> Result<(cpal::Stream, CaptureReader, String, u32), LiveAudioError> {
    let host = cpal::default_host();
    let dev = find_device(&host, device)?;
    let name = dev.to_string();
    let open_err = |reason: String| LiveAudioError::Open { name: name.clone(), reason };
    let supported = dev.default_input_config().map_err(|e| open_err(e.to_string()))?;
    let rate_hz = supported.sample_rate();
    let channels = usize::from(supported.channels());
    // The host's default buffer: asking ALSA-through-PulseAudio for 10 ms blocks made it buffer 670 ms.
    let config = supported.config();
    let (writer, reader) = capture_rings(channels, (RING_SECS * f64::from(rate_hz)) as usize);
    let stats = Arc::clone(writer.stats());
    let on_error = move |_e: cpal::Error| {
        // The error callback is not the real-time data path, but it too only flips a flag: the reader
        // reports the loss, and logs it, from its own thread.
        stats.lost.store(true, Ordering::Release);
    };
    let stream = match supported.sample_format() {
        cpal::SampleFormat::F32 => build::<f32>(&dev, &config, writer, on_error),
        cpal::SampleFormat::I16 => build::<i16>(&dev, &config, writer, on_error),
        cpal::SampleFormat::I32 => build::<i32>(&dev, &config, writer, on_error),
        cpal::SampleFormat::U16 => build::<u16>(&dev, &config, writer, on_error),
        cpal::SampleFormat::U8 => build::<u8>(&dev, &config, writer, on_error),
        cpal::SampleFormat::I8 => build::<i8>(&dev, &config, writer, on_error),
        cpal::SampleFormat::F64 => build::<f64>(&dev, &config, writer, on_error),
        other => return Err(open_err(format!("unsupported sample format {other:?}"))),
    }
    .map_err(|e| open_err(e.to_string()))?;
    stream.play().map_err(|e| open_err(e.to_string()))?;
    Ok((stream, reader, name, rate_hz))
}

fn build<T>(
    dev: &cpal::Device,
    config: &cpal::StreamConfig,
    mut writer: CaptureWriter,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    dev.build_input_stream::<T, _, _>(
        *config,
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let ts = info.timestamp();
            writer.write(data, ts.callback.checked_duration_since(ts.capture));
        },
        on_error,
        Some(Duration::from_secs(5)),
    )
}

/// How long a running stream may stay silent (no callbacks at all) before it counts as lost.
const STALL_SECS: f64 = 1.0;
/// How long a stream that has just been opened may take to deliver its first block (ALSA through
/// PulseAudio takes 0.7 s on an idle 2-core machine).
const STARTUP_SECS: f64 = 5.0;

impl LiveSource for MicSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    fn read(&mut self, out: &mut Vec<f32>, timeout: Duration) -> Result<SourceRead, LiveAudioError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stream.is_none() {
                return Ok(SourceRead::Lost("the input stream is closed".into()));
            }
            if self.reader.stats().lost.load(Ordering::Acquire) {
                self.close();
                return Ok(SourceRead::Lost(format!("{} reported an error (unplugged?)", self.name)));
            }
            if let Some(stamp) = self.reader.drain(out) {
                self.last_data = Instant::now();
                self.started = true;
                return Ok(SourceRead::Samples(stamp));
            }
            let limit = if self.started { STALL_SECS } else { STARTUP_SECS };
            if self.last_data.elapsed().as_secs_f64() > limit {
                self.close();
                return Ok(SourceRead::Lost(format!("{} delivered nothing for {limit} s", self.name)));
            }
            if Instant::now() >= deadline {
                return Ok(SourceRead::Timeout);
            }
            // The callback does not wake this thread (that would be a syscall in the callback); a 1 ms
            // poll adds at most 1 ms of latency.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn reopen(&mut self) -> Result<(), LiveAudioError> {
        self.close();
        let (stream, reader, name, rate_hz) = open_stream(self.device_name.as_deref())?;
        self.overruns_before += self.reader.stats().overrun_frames.load(Ordering::Relaxed);
        self.stream = Some(stream);
        self.reader = reader;
        self.name = name;
        self.rate_hz = rate_hz;
        self.last_data = Instant::now();
        self.started = false;
        Ok(())
    }

    fn overrun_frames(&self) -> u64 {
        self.overruns_before + self.reader.stats().overrun_frames.load(Ordering::Relaxed)
    }
}

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
const FILE_BLOCK: usize = (SAMPLE_RATE_HZ / 100) as usize;

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
        let decoded = super::decode_file(path)?;
        let audio = super::resample_to_16k(&decoded, path)?;
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
        // A block is released once its last sample's time has come, as a microphone would deliver it.
        let released = self.released + (end - self.next) as u64;
        let due = start + Duration::from_secs_f64(released as f64 / f64::from(SAMPLE_RATE_HZ));
        let now = Instant::now();
        if due > now {
            let wait = due - now;
            if wait > timeout {
                std::thread::sleep(timeout);
                return Ok(SourceRead::Timeout);
            }
            std::thread::sleep(wait);
        }
        out.extend_from_slice(&self.samples[self.next..end]);
        self.next = end;
        self.released = released;
        Ok(SourceRead::Samples(BlockStamp { arrival: Instant::now(), host_delay: None }))
    }
}

/// The sample encoding of raw PCM on standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcmFormat {
    /// Signed 16-bit little-endian.
    S16Le,
    /// 32-bit float little-endian.
    F32Le,
}

/// A raw PCM layout: `FORMAT:RATE:CHANNELS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmSpec {
    /// Sample encoding.
    pub format: PcmFormat,
    /// Frames per second.
    pub rate_hz: u32,
    /// Interleaved channels.
    pub channels: u16,
}

impl std::str::FromStr for PcmSpec {
    type Err = LiveAudioError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| LiveAudioError::PcmSpec { spec: spec.to_owned(), reason: reason.to_owned() };
        let parts: Vec<&str> = spec.split(':').collect();
        let [format, rate, channels] = parts[..] else {
            return Err(bad("three fields are needed"));
        };
        let format = match format.to_ascii_lowercase().as_str() {
            "s16le" => PcmFormat::S16Le,
            "f32le" => PcmFormat::F32Le,
            _ => return Err(bad("unknown format")),
        };
        let rate_hz: u32 = rate.parse().map_err(|_| bad("the rate is not a number"))?;
        if !super::INPUT_RATES_HZ.contains(&rate_hz) {
            return Err(bad("the rate must be 4000..=384000 Hz"));
        }
        let channels: u16 = channels.parse().map_err(|_| bad("the channel count is not a number"))?;
        if !(1..=super::MAX_INPUT_CHANNELS).contains(&usize::from(channels)) {
            return Err(bad("the channel count must be 1..=32"));
        }
        Ok(Self { format, rate_hz, channels })
    }
}

impl PcmSpec {
    fn bytes_per_frame(&self) -> usize {
        usize::from(self.channels) * if self.format == PcmFormat::S16Le { 2 } else { 4 }
    }

    /// Decodes whole frames of raw bytes to mono, appending to `out`.
    pub fn decode_mono(&self, bytes: &[u8], out: &mut Vec<f32>) {
        let ch = usize::from(self.channels);
        let inv = 1.0 / ch as f32;
        for frame in bytes.chunks_exact(self.bytes_per_frame()) {
            let sum: f32 = match self.format {
                PcmFormat::S16Le => {
                    frame.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0).sum()
                }
                PcmFormat::F32Le => frame.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).sum(),
            };
            out.push(sum * inv);
        }
    }
}

/// Raw PCM on standard input, read by a helper thread in 10 ms blocks. Standard input is no clock: a
/// pipe from ffmpeg or a file delivers far faster than real time, a live producer at about real time. So
/// nothing is dropped: the reader blocks when its queue (2.5 s) is full, which blocks the writer through
/// the pipe, and [`read`](LiveSource::read) releases each block when its last sample's time has come on
/// the stream's own clock, as a microphone would deliver it. A producer that falls behind real time
/// moves the clock on (no burst to catch up).
pub struct StdinSource {
    spec: PcmSpec,
    blocks: crossbeam_channel::Receiver<Result<Vec<u8>, String>>,
    /// The stream's clock: its first sample's time, and the frames released since.
    start: Option<Instant>,
    released: u64,
    /// A block taken from the queue that is not due yet.
    pending: Option<Vec<u8>>,
    ended: bool,
}

/// How far behind its clock a block may come before the clock moves on.
const STDIN_SLACK: Duration = Duration::from_millis(100);

impl StdinSource {
    /// Starts reading standard input as `spec`.
    pub fn open(spec: PcmSpec) -> Self {
        Self::from_reader(spec, std::io::stdin())
    }

    /// Reads `reader` as `spec` (standard input, or a stand-in in tests).
    pub fn from_reader(spec: PcmSpec, reader: impl Read + Send + 'static) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(256);
        let block_bytes = spec.bytes_per_frame() * (spec.rate_hz as usize / 100).max(1);
        let frame_bytes = spec.bytes_per_frame();
        let spawned = std::thread::Builder::new()
            .name("stdin-pcm".into())
            .spawn(move || read_blocks(reader, &tx, block_bytes, frame_bytes));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the standard-input reader");
        }
        Self { spec, blocks: rx, start: None, released: 0, pending: None, ended: false }
    }
}

/// The standard-input reader's loop: whole frames in blocks of `block_bytes` into `tx` until the end of
/// input, an error (sent on) or a closed queue (the loop stopped).
// This thread is no real-time stage: it blocks on a full queue on purpose. That is the back-pressure
// that holds a writer faster than real time, where a drop would lose its audio.
#[allow(clippy::disallowed_methods)]
fn read_blocks(
    mut reader: impl Read,
    tx: &crossbeam_channel::Sender<Result<Vec<u8>, String>>,
    block_bytes: usize,
    frame_bytes: usize,
) {
    loop {
        let mut buf = vec![0u8; block_bytes];
        let mut filled = 0;
        while filled < block_bytes {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            }
        }
        let whole = filled - filled % frame_bytes;
        if whole > 0 {
            buf.truncate(whole);
            if tx.send(Ok(buf)).is_err() {
                return;
            }
        }
        if filled < block_bytes {
            return; // end of input
        }
    }
}

impl LiveSource for StdinSource {
    fn name(&self) -> &str {
        "standard input"
    }

    fn is_clock(&self) -> bool {
        false
    }

    fn rate_hz(&self) -> u32 {
        self.spec.rate_hz
    }

    fn read(&mut self, out: &mut Vec<f32>, timeout: Duration) -> Result<SourceRead, LiveAudioError> {
        if self.ended {
            return Ok(SourceRead::End);
        }
        let bytes = match self.pending.take() {
            Some(b) => b,
            None => match self.blocks.recv_timeout(timeout) {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(e)) => return Err(LiveAudioError::Stdin(std::io::Error::other(e))),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => return Ok(SourceRead::Timeout),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    self.ended = true;
                    return Ok(SourceRead::End);
                }
            },
        };
        let frames = (bytes.len() / self.spec.bytes_per_frame()) as u64;
        let rate = f64::from(self.spec.rate_hz);
        let now = Instant::now();
        // The first block is due as it comes; so is one from a producer that fell behind.
        let behind = |start: Instant| start + Duration::from_secs_f64((self.released + frames) as f64 / rate);
        let start = match self.start {
            Some(start) if behind(start) + STDIN_SLACK >= now => start,
            _ => now.checked_sub(Duration::from_secs_f64((self.released + frames) as f64 / rate)).unwrap_or(now),
        };
        self.start = Some(start);
        let due = behind(start);
        if due > now {
            let wait = due - now;
            if wait > timeout {
                std::thread::sleep(timeout);
                self.pending = Some(bytes);
                return Ok(SourceRead::Timeout);
            }
            std::thread::sleep(wait);
        }
        self.released += frames;
        self.spec.decode_mono(&bytes, out);
        Ok(SourceRead::Samples(BlockStamp { arrival: Instant::now(), host_delay: None }))
    }
}

/// Streaming resampling of mono audio to 16 kHz: rubato's windowed-sinc resampler, fed 1 ms chunks, with
/// any delay of its output measured and removed, so that output sample `n` is input time `n / 16000` s.
/// The filter still holds back the last half of its length (about 1.3 ms at 48 kHz) until more input
/// comes: that and the unfilled chunk are the backlog.
///
/// Small chunks keep the audio that waits for a chunk to fill short: with 10 ms chunks a block of 512
/// frames (what PulseAudio's ALSA plugin delivers at 48 kHz) left up to 10 ms of sound behind, unresampled,
/// until the next block. [`backlog_secs`](Self::backlog_secs) says how much still waits.
pub struct StreamResampler {
    rate_hz: u32,
    inner: Option<SincFixedIn<f32>>,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    to_skip: usize,
    delay_samples: usize,
    /// Input samples taken, and output samples given (after the skipped delay), since the start.
    fed: u64,
    given: u64,
}

impl StreamResampler {
    /// A resampler from `rate_hz` to 16 kHz (a pass-through at 16 kHz).
    ///
    /// # Errors
    /// [`LiveAudioError::Resample`] for a rate rubato refuses.
    pub fn new(rate_hz: u32) -> Result<Self, LiveAudioError> {
        if rate_hz == SAMPLE_RATE_HZ {
            return Ok(Self::from_parts(rate_hz, None, Vec::new(), Vec::new(), 0));
        }
        let chunk = (rate_hz as usize / 1000).max(8);
        let params = SincInterpolationParameters {
            sinc_len: 128,
            f_cutoff: 0.92,
            oversampling_factor: 128,
            interpolation: SincInterpolationType::Linear,
            window: WindowFunction::BlackmanHarris2,
        };
        let err = |e: &dyn std::fmt::Display| LiveAudioError::Resample { rate_hz, reason: e.to_string() };
        let mut inner = SincFixedIn::<f32>::new(f64::from(SAMPLE_RATE_HZ) / f64::from(rate_hz), 1.0, params, chunk, 1)
            .map_err(|e| err(&e))?;
        let mut scratch = vec![0.0; inner.output_frames_max()];
        let delay = measured_delay(&mut inner, &mut scratch, rate_hz).map_err(|e| err(&e))?;
        Ok(Self::from_parts(rate_hz, Some(inner), Vec::with_capacity(4 * chunk), scratch, delay))
    }

    /// A resampler that has taken nothing yet and will drop its first `delay_samples` outputs.
    fn from_parts(
        rate_hz: u32,
        inner: Option<SincFixedIn<f32>>,
        pending: Vec<f32>,
        scratch: Vec<f32>,
        delay_samples: usize,
    ) -> Self {
        Self { rate_hz, inner, pending, scratch, to_skip: delay_samples, delay_samples, fed: 0, given: 0 }
    }

    /// The input rate.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Output samples dropped at the start: the resampler's filter delay.
    pub fn delay_samples(&self) -> usize {
        self.delay_samples
    }

    /// How far the end of the output lies behind the end of the input, seconds: the input that waits
    /// for its chunk to fill, plus what the filter holds back (it needs input past an output sample).
    /// Output sample `n` is input time `n / 16000` s, so this is the time fed minus the time given. 0 at
    /// 16 kHz, where nothing is resampled.
    pub fn backlog_secs(&self) -> f64 {
        if self.inner.is_none() {
            return 0.0;
        }
        (self.fed as f64 / f64::from(self.rate_hz) - self.given as f64 / f64::from(SAMPLE_RATE_HZ)).max(0.0)
    }

    /// Resamples `input` and appends the 16 kHz samples that are complete to `out`. Input that does not
    /// fill a chunk waits for the next call.
    ///
    /// # Errors
    /// [`LiveAudioError::Resample`] when rubato fails (it does not with these buffers).
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), LiveAudioError> {
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        self.fed += input.len() as u64;
        let mut used = 0;
        while self.pending.len() - used >= inner.input_frames_next() {
            let need = inner.input_frames_next();
            let (n_in, n_out) = inner
                .process_into_buffer(&[&self.pending[used..used + need]], &mut [&mut self.scratch[..]], None)
                .map_err(|e| LiveAudioError::Resample { rate_hz: self.rate_hz, reason: e.to_string() })?;
            used += n_in;
            let skip = self.to_skip.min(n_out);
            self.to_skip -= skip;
            out.extend_from_slice(&self.scratch[skip..n_out]);
            self.given += (n_out - skip) as u64;
        }
        self.pending.drain(..used);
        Ok(())
    }
}

/// The resampler's delay in output samples, measured: a unit impulse goes through it, and the output's
/// peak lands `delay` samples after the impulse's time. (rubato's `output_delay()` for the sinc
/// resampler leaves out part of the anti-aliasing filter's delay when it downsamples: 15 samples at
/// 48 kHz, which a test of the phase caught.) The resampler is reset afterwards.
fn measured_delay(
    inner: &mut SincFixedIn<f32>,
    scratch: &mut [f32],
    rate_hz: u32,
) -> Result<usize, rubato::ResampleError> {
    let chunk = inner.input_frames_next();
    let impulse_at = chunk; // the first sample of the second chunk
    let mut out = Vec::new();
    let mut input = vec![0.0f32; chunk];
    // Enough chunks for the impulse to pass the whole filter (sinc_len 128, at either rate).
    for c in 0..4 + 1024 / chunk {
        input.fill(0.0);
        if c == 1 {
            input[0] = 1.0;
        }
        let (_, n) = inner.process_into_buffer(&[&input[..]], &mut [&mut scratch[..]], None)?;
        out.extend_from_slice(&scratch[..n]);
    }
    inner.reset();
    let i = out.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map_or(0, |(i, _)| i);
    // The peak between samples: the vertex of the parabola through the largest sample and its neighbours.
    let mut peak = i as f64;
    if i > 0 && i + 1 < out.len() {
        let (a, b, c) = (f64::from(out[i - 1]), f64::from(out[i]), f64::from(out[i + 1]));
        let denom = a - 2.0 * b + c;
        if denom.abs() > 1e-12 {
            peak += (0.5 * (a - c) / denom).clamp(-0.5, 0.5);
        }
    }
    let expected = impulse_at as f64 * f64::from(SAMPLE_RATE_HZ) / f64::from(rate_hz);
    Ok((peak - expected).round().max(0.0) as usize)
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
        assert!((peak - 10f32.powf(-12.0 / 20.0)).abs() < 0.01, "peak {peak}");
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
    fn standard_input_faster_than_real_time_is_paced_and_nothing_is_dropped() {
        // 0.6 s of 48 kHz stereo PCM, all there at once (ffmpeg decoding a file into the pipe): before,
        // the reader dropped what its queue could not hold and the stream ended at once.
        let spec = PcmSpec { format: PcmFormat::S16Le, rate_hz: 48_000, channels: 2 };
        let frames = 28_800usize;
        let bytes: Vec<u8> =
            (0..frames).flat_map(|i| [(i as i16).to_le_bytes(), 0i16.to_le_bytes()]).flatten().collect();
        let mut src = StdinSource::from_reader(spec, std::io::Cursor::new(bytes));
        let start = Instant::now();
        let mut out = Vec::new();
        while let SourceRead::Samples(_) | SourceRead::Timeout = src.read(&mut out, Duration::from_millis(50)).unwrap()
        {
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(out.len(), frames, "samples lost");
        assert_eq!(src.overrun_frames(), 0);
        // Released on the stream's own clock: about 0.6 s, not at once.
        assert!(secs > 0.5, "read in {secs:.3} s");
        // Mixed to mono: the first channel's ramp halved.
        assert_eq!(out[2], 2.0 / 32_768.0 / 2.0);
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

    #[test]
    fn pcm_specs_parse_and_reject() {
        let s: PcmSpec = "s16le:48000:2".parse().unwrap();
        assert_eq!(s, PcmSpec { format: PcmFormat::S16Le, rate_hz: 48_000, channels: 2 });
        for bad in ["s16le:48000", "u8:48000:1", "f32le:abc:1", "f32le:48000:0", "s16le:10:1"] {
            assert!(bad.parse::<PcmSpec>().is_err(), "{bad}");
        }
        let mut out = Vec::new();
        s.decode_mono(&[0x00, 0x40, 0x00, 0xc0, 0x00, 0x40, 0x00, 0x40, 0xff], &mut out);
        assert_eq!(out, vec![0.0, 0.5], "a trailing partial frame is ignored");
    }

    #[test]
    fn streaming_resampler_keeps_rate_and_phase() {
        for rate in [44_100u32, 48_000, 22_050, 8_000] {
            let mut rs = StreamResampler::new(rate).unwrap();
            let n = rate as usize; // one second, fed in ragged blocks
            let x: Vec<f32> = (0..n)
                .map(|i| (std::f64::consts::TAU * 440.0 * i as f64 / f64::from(rate)).sin() as f32 * 0.5)
                .collect();
            let mut out = Vec::new();
            for block in x.chunks(rate as usize / 137 + 3) {
                rs.process(block, &mut out).unwrap();
                // 1 ms chunks: at most a chunk waits, beside what the filter holds back (half its 128
                // taps, and one more input sample to interpolate between them).
                assert!(
                    rs.backlog_secs() <= 1e-3 + 65.0 / f64::from(rate) + 2.0 / 16_000.0,
                    "rate {rate}: {}",
                    rs.backlog_secs()
                );
            }
            // All but the last block's worth and the filter delay come out, at 16 kHz.
            assert!((15_800..=16_000).contains(&out.len()), "rate {rate}: {} samples", out.len());
            // The output is the same sine: its best-fitting time offset is within a sample (62 us) of
            // none, and at that offset it matches to 1%.
            let max_err = |lag: f64| {
                (1_000..out.len() - 200)
                    .map(|i| {
                        let want = 0.5 * (std::f64::consts::TAU * 440.0 * (i as f64 + lag) / 16_000.0).sin();
                        (f64::from(out[i]) - want).abs()
                    })
                    .fold(0.0, f64::max)
            };
            let (lag, err) = (-60..=60)
                .map(|k| f64::from(k) * 0.05)
                .map(|lag| (lag, max_err(lag)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert!(lag.abs() <= 1.0, "rate {rate}: the output is {lag} samples off");
            assert!(err < 0.01, "rate {rate}: max error {err} at the best offset");
        }
    }
}
