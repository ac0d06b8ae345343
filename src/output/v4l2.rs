//! The virtual camera: live frames to a V4L2 output device (a v4l2loopback device on Linux), which any
//! call app or OBS then opens as a camera.
//!
//! Input: RGBA8 frames of one [`FrameGeometry`] from the render thread. Output: I420 frames (BT.601
//! limited range, `output::i420`) written to the device at a steady rate; when the pipeline stalls, the last
//! frame is written again, so that the call app never sees a frozen or vanished camera. Threads: the
//! render thread converts and queues (it never waits on the device); a `v4l2` thread writes on its own
//! clock.
//!
//! The device is reached through [`V4l2Device`], the three calls the writer makes: the capability query
//! (`VIDIOC_QUERYCAP`), the output format (`VIDIOC_S_FMT`) and `write`. [`LinuxV4l2`] makes them with
//! the v4l crate; tests make them on a stand-in, because no kernel module can be loaded where they run.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::i420::I420;
use super::{Frame, FrameSink, OutputError, Staged, check_frame_bytes};
use crate::queue::{Disconnected, DropOldestReceiver, DropOldestSender, drop_oldest};
use crate::vocab::FrameGeometry;

/// The four-character code of planar YUV 4:2:0 (`V4L2_PIX_FMT_YUV420`).
pub const I420_FOURCC: [u8; 4] = *b"YU12";

/// What a device says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCaps {
    /// The driver (`v4l2 loopback` for v4l2loopback).
    pub driver: String,
    /// The card name (v4l2loopback's `card_label`).
    pub card: String,
    /// Whether it takes video output (a camera does not).
    pub video_output: bool,
}

/// An output pixel format: size and four-character code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixFormat {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// The pixel format's four-character code.
    pub fourcc: [u8; 4],
}

impl std::fmt::Display for PixFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}x{}", String::from_utf8_lossy(&self.fourcc), self.width, self.height)
    }
}

/// The calls the writer makes on a V4L2 output device.
pub trait V4l2Device: Send {
    /// `VIDIOC_QUERYCAP`.
    ///
    /// # Errors
    /// The device's error.
    fn query_caps(&mut self) -> io::Result<DeviceCaps>;

    /// `VIDIOC_S_FMT` on the output queue: asks for `want`, returns what the driver set.
    ///
    /// # Errors
    /// The device's error (`EINVAL`, `EBUSY` while another writer holds it).
    fn set_format(&mut self, want: PixFormat) -> io::Result<PixFormat>;

    /// Writes one whole frame.
    ///
    /// # Errors
    /// The device's error; `WouldBlock` means the device had no room for this frame.
    fn write_frame(&mut self, bytes: &[u8]) -> io::Result<()>;
}

/// A V4L2 device node, through the v4l crate's ioctls.
#[cfg(target_os = "linux")]
pub struct LinuxV4l2 {
    device: v4l::Device,
}

#[cfg(target_os = "linux")]
impl LinuxV4l2 {
    /// Opens the device node `path` (read-write, non-blocking).
    ///
    /// # Errors
    /// The open's error.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self { device: v4l::Device::with_path(path)? })
    }
}

#[cfg(target_os = "linux")]
impl V4l2Device for LinuxV4l2 {
    fn query_caps(&mut self) -> io::Result<DeviceCaps> {
        let caps = self.device.query_caps()?;
        Ok(DeviceCaps {
            driver: caps.driver,
            card: caps.card,
            video_output: caps.capabilities.contains(v4l::capability::Flags::VIDEO_OUTPUT),
        })
    }

    fn set_format(&mut self, want: PixFormat) -> io::Result<PixFormat> {
        let mut fmt = v4l::Format::new(want.width, want.height, v4l::FourCC::new(&want.fourcc));
        fmt.colorspace = v4l::format::Colorspace::SMPTE170M;
        fmt.quantization = v4l::format::Quantization::LimitedRange;
        let got = v4l::video::Output::set_format(&self.device, &fmt)?;
        Ok(PixFormat { width: got.width, height: got.height, fourcc: got.fourcc.repr })
    }

    fn write_frame(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.device, bytes)
    }
}

/// What the writer thread did, reported when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// New frames written.
    pub written: u64,
    /// Ticks that wrote the last frame again (the pipeline stalled).
    pub repeated: u64,
    /// Frames the device had no room for.
    pub refused: u64,
}

/// The virtual-camera sink.
pub struct V4l2Sink {
    path: PathBuf,
    frame: FrameGeometry,
    i420: I420,
    frames: DropOldestSender<Vec<u8>>,
    recycle: DropOldestReceiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
    writer: Option<JoinHandle<Result<WriterStats, OutputError>>>,
}

impl V4l2Sink {
    /// Opens the device node `path` and starts writing to it.
    ///
    /// # Errors
    /// As [`start`](Self::start), and [`OutputError::Device`] when the node cannot be opened.
    #[cfg(target_os = "linux")]
    pub fn open(path: &Path, frame: FrameGeometry) -> Result<Self, OutputError> {
        let device = LinuxV4l2::open(path).map_err(|e| OutputError::Device {
            path: path.to_owned(),
            reason: format!(
                "cannot open it: {e} (load v4l2loopback: sudo modprobe v4l2loopback devices=1 video_nr=10 \
                 card_label=facecast exclusive_caps=1, then use /dev/video10)"
            ),
        })?;
        Self::start(Box::new(device), path, frame)
    }

    /// Virtual cameras are v4l2loopback devices: Linux only.
    ///
    /// # Errors
    /// Always [`OutputError::Device`].
    #[cfg(not(target_os = "linux"))]
    pub fn open(path: &Path, _frame: FrameGeometry) -> Result<Self, OutputError> {
        Err(OutputError::Device { path: path.to_owned(), reason: "virtual cameras need Linux's v4l2loopback".into() })
    }

    /// Negotiates the format (I420 at the frame's size) with `device` and starts the writer thread.
    ///
    /// # Errors
    /// [`OutputError::Device`] when the device is no video output, refuses the format or sets another.
    pub fn start(mut device: Box<dyn V4l2Device>, path: &Path, frame: FrameGeometry) -> Result<Self, OutputError> {
        let err = |reason: String| OutputError::Device { path: path.to_owned(), reason };
        let caps = device.query_caps().map_err(|e| err(format!("cannot query its capabilities: {e}")))?;
        if !caps.video_output {
            return Err(err(format!(
                "{} ({}) takes no video output: it is a camera or another device, not a v4l2loopback device",
                caps.card, caps.driver
            )));
        }
        let want = PixFormat { width: frame.width_px(), height: frame.height_px(), fourcc: I420_FOURCC };
        let got = device.set_format(want).map_err(|e| err(format!("refused the format {want}: {e}")))?;
        if got != want {
            return Err(err(format!(
                "set {got} when asked for {want} (another program may hold it at another format: close it, or \
                 reload v4l2loopback)"
            )));
        }
        tracing::info!(device = %path.display(), card = %caps.card, format = %got, "virtual camera open");
        let (frames, frames_rx) = drop_oldest::<Vec<u8>>(2);
        let (recycle_tx, recycle) = drop_oldest::<Vec<u8>>(4);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, path) = (Arc::clone(&stop), path.to_owned());
            let period = Duration::from_secs_f64(frame.period_secs());
            std::thread::Builder::new()
                .name("v4l2".into())
                .spawn(move || write_loop(device, &frames_rx, &recycle_tx, period, &stop, &path))
                .map_err(|e| err(format!("cannot start its writer thread: {e}")))?
        };
        let i420 = I420::new(frame);
        Ok(Self { path: path.to_owned(), frame, i420, frames, recycle, stop, writer: Some(writer) })
    }

    /// Ends the writer and returns what it did.
    fn end(&mut self) -> Result<WriterStats, OutputError> {
        self.stop.store(true, Ordering::Release);
        let Some(writer) = self.writer.take() else { return Ok(WriterStats::default()) };
        writer
            .join()
            .map_err(|_| OutputError::Device { path: self.path.clone(), reason: "its writer thread panicked".into() })?
    }
}

/// The writer thread: at every tick of `period`, the newest frame queued, or the last one again.
fn write_loop(
    mut device: Box<dyn V4l2Device>,
    frames: &DropOldestReceiver<Vec<u8>>,
    recycle: &DropOldestSender<Vec<u8>>,
    period: Duration,
    stop: &AtomicBool,
    path: &Path,
) -> Result<WriterStats, OutputError> {
    let mut stats = WriterStats::default();
    let mut last: Option<Vec<u8>> = None;
    let mut next = Instant::now();
    while !stop.load(Ordering::Acquire) {
        // Wait for the tick, taking frames as they come; keep only the newest.
        let mut fresh = false;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match frames.recv_timeout(wait.min(Duration::from_millis(50))) {
                Ok(Some(f)) => {
                    if let Some(old) = last.replace(f) {
                        recycle.send(old);
                    }
                    fresh = true;
                }
                Ok(None) if Instant::now() < next && !stop.load(Ordering::Acquire) => {}
                Ok(None) => break,
                Err(Disconnected) => return Ok(stats),
            }
            if Instant::now() >= next {
                break;
            }
        }
        if let Some(bytes) = &last {
            match device.write_frame(bytes) {
                Ok(()) if fresh => stats.written += 1,
                Ok(()) => stats.repeated += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stats.refused += 1,
                Err(e) => {
                    return Err(OutputError::Device { path: path.to_owned(), reason: format!("a write failed: {e}") });
                }
            }
        }
        // The next tick; ticks already missed are not written late in a burst.
        next += period;
        let now = Instant::now();
        if now > next + period {
            next = now;
        }
    }
    Ok(stats)
}

impl FrameSink for V4l2Sink {
    fn write(&mut self, frame: &Frame<'_>) -> Result<(), OutputError> {
        check_frame_bytes(frame.rgba, self.frame)?;
        if self.writer.as_ref().is_some_and(JoinHandle::is_finished) {
            // The writer ended on its own: a failed write. Report it now.
            self.end()?;
        }
        let mut buf = match self.recycle.try_recv() {
            Ok(Some(mut v)) => {
                v.clear();
                v
            }
            _ => Vec::with_capacity(self.i420.frame_bytes()),
        };
        self.i420.convert_into(frame.rgba, &mut buf);
        self.frames.send(buf);
        Ok(())
    }

    fn finish(mut self: Box<Self>, _stop: &AtomicBool) -> Result<Option<Staged>, OutputError> {
        let stats = self.end()?;
        tracing::info!(device = %self.path.display(), ?stats, "virtual camera closed");
        Ok(None)
    }
}

impl Drop for V4l2Sink {
    fn drop(&mut self) {
        let _ = self.end();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A stand-in device that records every call, as the ioctls would reach a driver.
    struct Fake {
        calls: Arc<Mutex<Vec<String>>>,
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        output: bool,
        /// What S_FMT sets instead of what was asked (a device that refuses the format).
        forced: Option<PixFormat>,
    }

    impl V4l2Device for Fake {
        fn query_caps(&mut self) -> io::Result<DeviceCaps> {
            self.calls.lock().unwrap().push("QUERYCAP".into());
            Ok(DeviceCaps { driver: "v4l2 loopback".into(), card: "facecast".into(), video_output: self.output })
        }

        fn set_format(&mut self, want: PixFormat) -> io::Result<PixFormat> {
            self.calls.lock().unwrap().push(format!("S_FMT {want}"));
            Ok(self.forced.unwrap_or(want))
        }

        fn write_frame(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.calls.lock().unwrap().push(format!("WRITE {}", bytes.len()));
            self.writes.lock().unwrap().push(bytes.to_vec());
            Ok(())
        }
    }

    /// The calls a fake saw, and the frames written to it.
    type Log<T> = Arc<Mutex<Vec<T>>>;

    fn fake(output: bool, forced: Option<PixFormat>) -> (Fake, Log<String>, Log<Vec<u8>>) {
        let (calls, writes) = (Arc::default(), Arc::default());
        (Fake { calls: Arc::clone(&calls), writes: Arc::clone(&writes), output, forced }, calls, writes)
    }

    fn frame_of(rgba: &[u8], index: u64) -> Frame<'_> {
        Frame { index, rgba, presented: Instant::now(), motion_lag_secs: None, marker: None }
    }

    #[test]
    fn the_format_is_set_then_frames_are_written_at_a_steady_rate_and_repeated_in_a_stall() {
        let geometry = FrameGeometry::square(64, 50).unwrap();
        let (device, calls, writes) = fake(true, None);
        let mut sink = V4l2Sink::start(Box::new(device), Path::new("/dev/video10"), geometry).unwrap();
        let (grey, white) = (vec![128u8; geometry.frame_bytes()], vec![255u8; geometry.frame_bytes()]);
        sink.write(&frame_of(&grey, 0)).unwrap();
        // The pipeline stalls for 200 ms (10 ticks at 50 fps): the writer repeats the grey frame.
        std::thread::sleep(Duration::from_millis(200));
        sink.write(&frame_of(&white, 1)).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        let stats = sink.end().unwrap();
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls[..2], ["QUERYCAP", "S_FMT YU12 64x64"], "{calls:?}");
        let i420_bytes = 64 * 64 * 3 / 2;
        assert!(calls[2..].iter().all(|c| *c == format!("WRITE {i420_bytes}")), "{calls:?}");
        assert_eq!(stats.written, 2, "{stats:?}");
        assert!((5..=14).contains(&stats.repeated), "{stats:?}: a 200 ms stall at 50 fps repeats about 10 frames");
        let writes = writes.lock().unwrap();
        assert_eq!(writes.len() as u64, stats.written + stats.repeated);
        let (first, last) = (&writes[0], writes.last().unwrap());
        assert_eq!(first[0], 126, "grey is Y 126 in limited range");
        assert_eq!(last[0], 235, "the new frame replaced the repeated one");
        assert!(writes.iter().take_while(|w| w[0] == 126).count() >= 5, "the stalled frame was repeated");
    }

    #[test]
    fn a_device_that_takes_no_output_or_sets_another_format_is_a_clear_error() {
        let geometry = FrameGeometry::square(64, 30).unwrap();
        let (camera, calls, _) = fake(false, None);
        let err = V4l2Sink::start(Box::new(camera), Path::new("/dev/video0"), geometry).err().unwrap().to_string();
        assert!(err.contains("/dev/video0") && err.contains("takes no video output"), "{err}");
        assert_eq!(*calls.lock().unwrap(), ["QUERYCAP"], "nothing is set on a camera");

        let yuyv = PixFormat { width: 64, height: 64, fourcc: *b"YUYV" };
        let (stubborn, calls, writes) = fake(true, Some(yuyv));
        let err = V4l2Sink::start(Box::new(stubborn), Path::new("/dev/video10"), geometry).err().unwrap().to_string();
        assert!(err.contains("set YUYV 64x64 when asked for YU12 64x64"), "{err}");
        assert_eq!(*calls.lock().unwrap(), ["QUERYCAP", "S_FMT YU12 64x64"]);
        assert!(writes.lock().unwrap().is_empty(), "no frame goes to a device in the wrong format");
    }

    #[test]
    fn a_failed_write_ends_the_sink_with_the_device_named() {
        struct Broken;
        impl V4l2Device for Broken {
            fn query_caps(&mut self) -> io::Result<DeviceCaps> {
                Ok(DeviceCaps { driver: "v4l2 loopback".into(), card: "x".into(), video_output: true })
            }
            fn set_format(&mut self, want: PixFormat) -> io::Result<PixFormat> {
                Ok(want)
            }
            fn write_frame(&mut self, _: &[u8]) -> io::Result<()> {
                Err(io::Error::from_raw_os_error(libc::ENODEV))
            }
        }
        let geometry = FrameGeometry::square(64, 30).unwrap();
        let mut sink = V4l2Sink::start(Box::new(Broken), Path::new("/dev/video10"), geometry).unwrap();
        let rgba = vec![0u8; geometry.frame_bytes()];
        sink.write(&frame_of(&rgba, 0)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let err = sink.write(&frame_of(&rgba, 1)).expect_err("the failed write is reported").to_string();
        assert!(err.contains("/dev/video10") && err.contains("a write failed"), "{err}");
    }
}
