//! Raw PCM on standard input as a [`LiveSource`], paced on the stream's own clock.
//!
//! Input: s16le or f32le PCM of any rate and channel count ([`PcmSpec`]). Output: mono blocks at that
//! rate. Threads: a reader thread that blocks on a full queue (back-pressure, not drops) and the live
//! loop's audio thread, which releases blocks in real time.

use std::io::Read;
use std::time::{Duration, Instant};

use super::{BlockStamp, LiveAudioError, LiveSource, SourceRead};

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
        if !crate::audio::INPUT_RATES_HZ.contains(&rate_hz) {
            return Err(bad("the rate must be 4000..=384000 Hz"));
        }
        let channels: u16 = channels.parse().map_err(|_| bad("the channel count is not a number"))?;
        if !(1..=crate::audio::MAX_INPUT_CHANNELS).contains(&usize::from(channels)) {
            return Err(bad("the channel count must be 1..=32"));
        }
        Ok(Self { format, rate_hz, channels })
    }
}

impl Default for PcmSpec {
    /// 16-bit mono at the pipeline's own rate: nothing to resample.
    fn default() -> Self {
        Self { format: PcmFormat::S16Le, rate_hz: crate::vocab::clock::SAMPLE_RATE_HZ, channels: 1 }
    }
}

impl std::fmt::Display for PcmSpec {
    /// As it is parsed: `FORMAT:RATE:CHANNELS`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = match self.format {
            PcmFormat::S16Le => "s16le",
            PcmFormat::F32Le => "f32le",
        };
        write!(f, "{format}:{}:{}", self.rate_hz, self.channels)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn pcm_specs_parse_and_reject() {
        let s: PcmSpec = "s16le:48000:2".parse().unwrap();
        assert_eq!(s, PcmSpec { format: PcmFormat::S16Le, rate_hz: 48_000, channels: 2 });
        assert_eq!(s.to_string(), "s16le:48000:2", "printed as parsed");
        assert_eq!(PcmSpec::default().to_string().parse::<PcmSpec>().unwrap(), PcmSpec::default());
        for bad in ["s16le:48000", "u8:48000:1", "f32le:abc:1", "f32le:48000:0", "s16le:10:1"] {
            assert!(bad.parse::<PcmSpec>().is_err(), "{bad}");
        }
        let mut out = Vec::new();
        s.decode_mono(&[0x00, 0x40, 0x00, 0xc0, 0x00, 0x40, 0x00, 0x40, 0xff], &mut out);
        assert_eq!(out, vec![0.0, 0.5], "a trailing partial frame is ignored");
    }
}
