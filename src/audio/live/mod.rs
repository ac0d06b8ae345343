//! Live audio: a microphone (cpal), a file played in real time, or raw PCM on standard input, behind one
//! trait, [`LiveSource`]; a streaming resampler to 16 kHz ([`StreamResampler`]); and the hop cutter
//! ([`HopCutter`]), which cuts the 16 kHz stream into 10 ms hops stamped on the arrival clock.
//!
//! Input: a device, a file or standard input. Output: stamped 10 ms hops of 16 kHz mono. Threads: the
//! audio host's callback thread (the microphone) and the live loop's audio thread (everything else).
//! One source per file: `mic.rs`, `file.rs`, `stdin.rs`; `capture.rs` holds the callback's rings.
//!
//! The microphone's data callback runs on the audio host's real-time thread. It follows cpal's rules: it
//! never allocates, locks or logs. It mixes the device's channels to mono into a pre-allocated lock-free
//! ring ([`rtrb`]), then pushes one [`RawStamp`] per block into a second ring: how many frames have been
//! written so far, when the block arrived, and how old the host says its first sample was. A full ring
//! drops the newest samples and counts them in an atomic ([`CaptureStats::overrun_frames`]).
//! [`CaptureWriter::write`] is that callback's body, so a test can call it under a counting allocator.

mod api;
mod capture;
mod device;
mod file;
mod hops;
mod mic;
mod resample;
mod speaker;
mod stdin;

pub use api::{ApiSource, MouthSpan, SpeechEvent, SpeechQueue, Utterance, UtteranceStart};
pub use capture::{CaptureReader, CaptureStats, CaptureWriter, RawStamp, capture_rings};
pub use device::AudioDeviceInfo;
pub use file::{FileSource, TEST_PATTERN_BEEP_SECS, TEST_PATTERN_LOOP_SECS, test_pattern_beep_secs};
pub use hops::{HopCutter, StampedHop};
pub use mic::{MicSource, input_devices};
pub use resample::StreamResampler;
pub use speaker::{Speaker, SpeakerFeed, SpeakerInput, SpeakerStats, output_devices, speaker_queue};
pub use stdin::{PcmFormat, PcmSpec, StdinSource};

use std::time::{Duration, Instant};

use super::AudioError;

/// How much audio the capture ring holds, seconds. The reader drains it every millisecond or so; a
/// stall longer than this loses audio (counted).
pub const RING_SECS: f64 = 2.0;

/// Errors of the live sources.
#[derive(Debug, thiserror::Error)]
pub enum LiveAudioError {
    /// There is no input device at all.
    #[error("no audio device: {0}")]
    NoDevice(String),
    /// No device of the kind asked for (`kind`: "input" or "output") has the requested name.
    #[error("no audio {kind} device named {name:?}; `facecast devices` lists them. Here: {available}")]
    UnknownDevice { kind: &'static str, name: String, available: String },
    /// The device refused to open or start.
    #[error("cannot open the audio device {name}: {reason}")]
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

/// Waits until a source that started at `start` may release its first `released` 16 kHz samples: a block
/// goes out once its last sample's time has come, as a microphone would deliver it. `false` (after
/// sleeping `timeout`) when that is further off than `timeout`.
fn wait_until_due(start: Instant, released: u64, timeout: Duration) -> bool {
    let due = start + Duration::from_secs_f64(crate::vocab::clock::secs_from_samples(released as usize));
    let now = Instant::now();
    if due > now {
        let wait = due - now;
        if wait > timeout {
            std::thread::sleep(timeout);
            return false;
        }
        std::thread::sleep(wait);
    }
    true
}
