//! The microphone: any cpal input device, rate and channel layout, as a [`LiveSource`].
//!
//! Input: a device name, or the host's default. Output: mono blocks at the device's rate, each
//! stamped. Threads: cpal's callback (through [`super::capture`]) and the live loop's audio thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

use super::capture::{CaptureReader, CaptureWriter, capture_rings};
use super::device::{self, AudioDeviceInfo, Direction};
use super::{LiveAudioError, LiveSource, RING_SECS, SourceRead};

/// Lists the audio input devices of the default host.
///
/// # Errors
/// [`LiveAudioError::NoDevice`] when the host cannot enumerate devices.
pub fn input_devices() -> Result<Vec<AudioDeviceInfo>, LiveAudioError> {
    device::list(Direction::Input)
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

fn open_stream(device: Option<&str>) -> Result<(cpal::Stream, CaptureReader, String, u32), LiveAudioError> {
    let host = cpal::default_host();
    let dev = device::find(&host, Direction::Input, device)?;
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
