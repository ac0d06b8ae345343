//! The live loop: a live audio source to a window (or a headless sink), in real time, with telemetry.
//!
//! Threads and queues (bounded, dropping the oldest item, drops counted):
//!
//! ```text
//! [audio host thread] cpal callback -> lock-free ring (audio::live)
//! [audio]   ring -> 16 kHz -> 10 ms hops            --hops (64)-->
//! [motion]  log-mel -> model -> idle -> rig -> One Euro --poses (16)-->
//! [render]  (the caller's thread; the window's event loop) newest pose -> warp -> surface
//!           <--recycle (32)-- pose buffers go back, so a hop allocates nothing
//! ```
//!
//! With a WebRTC output (`LiveJob::stream`) the render also reads every frame back (in the window's
//! own command buffer, or headless) and hands it to the stream branch (`pipeline/stream.rs`: an encode thread, and an audio-out thread fed a copy of every
//! hop), which publishes into `output::stream`'s hub.
//!
//! The render thread wakes at the output rate. Each frame takes the newest smoothed pose, interpolated
//! between the last two to the frame's time on the audio's arrival clock. In live use the frame's time is
//! never behind the newest pose, so that is the newest pose; the interpolation only matters when poses
//! arrive in bursts. Under overload the render thread skips frame ticks (counted); the audio and motion
//! threads never wait on it, and no queue grows.
//!
//! Every frame records two end-to-end figures: the processing latency (`audio_to_frame_ms`: from the
//! arrival of the audio block that completed the newest hop to the frame's hand-off) and the motion lag
//! (`motion_lag_ms`: from the capture of the sound at the centre of that hop's mel window, plus the
//! model's lookahead and the smoothing lag at that frame).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::audio::SAMPLE_RATE_HZ;
use crate::audio::live::{
    BlockStamp, FileSource, LiveAudioError, LiveSource, MicSource, PcmSpec, SourceRead, StdinSource, StreamResampler,
};
use crate::config::{BackgroundMode, Config};
use crate::features::{CENTRE_BEFORE_HOP_END_SAMPLES, HOP_SAMPLES};
use crate::motion::MotionParams;
use crate::output::stream::{MediaHub, StreamOptions, StreamServer};
use crate::output::window::{FrameProducer, WindowOptions};
use crate::output::{MotionWriter, OutputError};
use crate::portrait::{Pose, Rig};
use crate::render::{RenderContext, WarpRenderer};

use super::hop::HopChain;
use super::queue::{Disconnected, DropOldestReceiver, DropOldestSender, drop_oldest};
use super::stream::{AudioHop, Loudness, StreamBranch, StreamFrame, StreamProbe};
use super::telemetry::{Latency, LiveStats, StageLatencies};
use super::{Input, PipelineError};

/// Where live audio comes from.
#[derive(Debug, Clone)]
pub enum LiveInput {
    /// An input device; `None` is the host's default.
    Microphone(Option<String>),
    /// A file played in real time; over and over with `looping`.
    File {
        /// The file.
        path: PathBuf,
        /// Start over at the end, forever.
        looping: bool,
    },
    /// The A/V sync test pattern: a 1 kHz beep about every second (with the sync marker on).
    TestPattern,
    /// Raw PCM on standard input.
    Stdin(PcmSpec),
}

/// Where live frames go.
#[derive(Debug, Clone)]
pub enum LiveOutput {
    /// A window.
    Window {
        /// Borderless full screen.
        fullscreen: bool,
        /// Draw the HUD.
        hud: bool,
    },
    /// No window: frames are rendered and read back, then dropped (for benchmarks and machines without
    /// a display).
    Headless,
}

/// One live run.
#[derive(Debug, Clone)]
pub struct LiveJob {
    /// The reference portrait.
    pub portrait: Input,
    /// The audio source.
    pub input: LiveInput,
    /// The sink.
    pub output: LiveOutput,
    /// Frame side, pixels.
    pub size: u32,
    /// Output frame rate.
    pub fps: u32,
    /// Configuration.
    pub config: Config,
    /// Write the stats here every 10 s and at exit.
    pub stats_json: Option<PathBuf>,
    /// Write every frame's motion as JSON lines (README's format; `t_secs` from the loop's start).
    pub motion_out: Option<PathBuf>,
    /// Stop after this long.
    pub duration_secs: Option<f64>,
    /// Set to stop the loop (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    /// WebRTC out (WHEP viewers, WHIP push); every frame is then read back for the encoder too.
    pub stream: Option<StreamOptions>,
    /// Paint the A/V sync marker into streamed frames: white while the sound a frame shows is loud.
    pub sync_marker: bool,
}

/// A pose younger than this is fresh enough to draw at once.
const FRESH_POSE_AGE: Duration = Duration::from_millis(2);
/// How long past its tick a frame may wait for a fresh pose: two hops. PulseAudio's 10.7 ms blocks
/// now and then come a block late (about 21 ms after the one before); a frame that gave up sooner drew
/// the pose of the block before, 10 ms staler, and that was most of the processing latency's p99. At
/// most [`FRESH_POSE_WAIT_SHARE`] of the frame period, though, so that the wait plus a frame's draw stays
/// within a period at higher rates (at 30 fps both give 20 ms; at 60 fps the wait is 10 ms).
const FRESH_POSE_WAIT: Duration = Duration::from_millis(20);
/// The largest share of the frame period that a frame may wait for a fresh pose.
const FRESH_POSE_WAIT_SHARE: f64 = 0.6;

/// How often the stats file is rewritten.
const STATS_EVERY_SECS: f64 = 10.0;

/// One hop from the audio thread.
struct Hop {
    samples: [f32; HOP_SAMPLES],
    /// Arrival of the block that completed this hop.
    arrival: Instant,
    /// Where the hop's last sample lies on the arrival clock: the block's arrival less the samples that
    /// follow it in the block.
    end_at: Instant,
    /// 16 kHz samples of input from the first one to this hop's last, inclusive: the hop's place in the
    /// input audio.
    end_sample: u64,
    host_delay: Option<Duration>,
    /// Audio thread time from the block's arrival to this hop's send.
    audio_secs: f32,
    sent: Instant,
}

/// One smoothed pose from the motion thread.
struct PoseSample {
    flat: Vec<f32>,
    out: super::hop::HopOutput,
    arrival: Instant,
    host_delay: Option<Duration>,
    /// Where the sound at the centre of this hop's mel window lies on the arrival clock.
    centre_at: Instant,
    /// Where the hop's last sample lies on the arrival clock, and the hop's RMS (for the sync marker).
    end_at: Instant,
    rms: f32,
    /// The moment of the input audio this pose shows, seconds from its first sample.
    audio_t_secs: f64,
    smoothing_lag_secs: f32,
    audio_secs: f32,
    audio_queue_secs: f32,
    motion_secs: f32,
    sent: Instant,
}

/// Counters the audio and motion threads update.
#[derive(Default)]
struct Shared {
    /// The renderer is built: a source that is no clock (a file, a pipe) may start.
    render_ready: AtomicBool,
    input_ended: AtomicBool,
    failed: AtomicBool,
    audio_losses: AtomicU64,
    audio_overruns: AtomicU64,
    hops_dropped: AtomicU64,
}

/// Runs the live loop until the input ends, the duration is up, the window closes, or `job.stop` is set.
///
/// # Errors
/// The first [`PipelineError`] that stops the loop; the stats are written before it returns either way.
pub fn run_live(job: &LiveJob) -> Result<LiveStats, PipelineError> {
    let cfg = &job.config;
    cfg.validate()?;
    if job.fps == 0 || job.fps > 240 {
        return Err(PipelineError::Invalid(format!("--fps {} must be in 1..=240", job.fps)));
    }
    crate::render::check_frame_side(job.size)?;
    if job.duration_secs.is_some_and(|d| d.is_nan() || d <= 0.0) {
        return Err(PipelineError::Invalid("--duration must be positive".into()));
    }
    let backdrop_image = super::backdrop_image(cfg)?;
    // Open the source first: a missing device or file is the likeliest mistake, and the cheapest to report.
    let source: Box<dyn LiveSource> = match &job.input {
        LiveInput::Microphone(name) => Box::new(MicSource::open(name.as_deref())?),
        LiveInput::File { path, looping } => Box::new(FileSource::open(path, *looping)?),
        LiveInput::TestPattern => Box::new(FileSource::test_pattern()),
        LiveInput::Stdin(spec) => Box::new(StdinSource::open(*spec)),
    };
    let source_name = source.name().to_owned();
    // The network side next: a taken port or a missing token is reported before the slow set-up.
    let server = match &job.stream {
        Some(options) => Some(StreamServer::start(options, MediaHub::new(Instant::now()))?),
        None => None,
    };
    let portrait = super::prepare_portrait(&job.portrait, cfg)?;
    let model = super::load_motion_model(cfg, true)?;
    let lookahead_secs = model.lookahead_secs();
    // Live, nothing cancels the filter's lag: the live cutoff at rest replaces the offline one.
    let mut live_cfg = cfg.clone();
    live_cfg.smoothing.min_cutoff_hz = cfg.smoothing.live_min_cutoff_hz;
    let chain = HopChain::new(model, portrait.rig.clone(), &live_cfg);
    let flat_len = chain.flat_len();

    let shared = Arc::new(Shared::default());
    let stop = Arc::clone(&job.stop);
    let (hop_tx, hop_rx) = drop_oldest::<Hop>(64);
    let (pose_tx, pose_rx) = drop_oldest::<PoseSample>(16);
    let (recycle_tx, recycle_rx) = drop_oldest::<Vec<f32>>(32);
    let mut branch = match &server {
        Some(server) => Some(StreamBranch::start(server.hub(), job.size, job.fps, &cfg.stream, &job.stop)?),
        None => None,
    };
    let audio_out = branch.as_mut().and_then(|b| b.audio.take());

    let audio_thread = {
        let (stop, shared) = (Arc::clone(&stop), Arc::clone(&shared));
        std::thread::Builder::new()
            .name("audio".into())
            .spawn(move || audio_loop(source, &hop_tx, audio_out.as_ref(), &stop, &shared))
            .map_err(|e| PipelineError::Invalid(format!("cannot start the audio thread: {e}")))?
    };
    let motion_thread = {
        let (stop, shared) = (Arc::clone(&stop), Arc::clone(&shared));
        std::thread::Builder::new()
            .name("motion".into())
            .spawn(move || motion_loop(chain, &hop_rx, &pose_tx, &recycle_rx, &stop, &shared))
            .map_err(|e| PipelineError::Invalid(format!("cannot start the motion thread: {e}")))?
    };

    let now = Instant::now();
    let mut frames = FrameLoop {
        rig: portrait.rig.clone(),
        image: portrait.image,
        framing: portrait.framing,
        backdrop_image,
        cfg: cfg.clone(),
        size: job.size,
        renderer: None,
        adapter: String::new(),
        poses: pose_rx,
        poses_dropped_before_start: 0,
        recycle: recycle_tx,
        newest: None,
        prev: None,
        pose: portrait.rig.rest_pose(),
        flat: vec![0.0; flat_len],
        period: Duration::from_secs_f64(1.0 / f64::from(job.fps)),
        fps: job.fps,
        start: now,
        next_due: now,
        deadline: job.duration_secs.map(|d| now + Duration::from_secs_f64(d)),
        used: None,
        submitted_draw: None,
        frames_rendered: 0,
        frames_dropped: 0,
        lookahead_secs,
        tele: Telemetry::default(),
        stats_json: job.stats_json.clone(),
        last_stats: now,
        motion_out: job.motion_out.as_deref().map(MotionWriter::create_growing).transpose()?,
        record_scratch: super::MotionScratch::new(portrait.rig.keypoints.len()),
        shared: Arc::clone(&shared),
        stop: Arc::clone(&stop),
        source: source_name,
        hud_updated: now,
        error: None,
        sync_marker: job.sync_marker && branch.is_some(),
        loudness: Loudness::default(),
        stream_probe: server.as_ref().zip(branch.as_ref()).map(|(s, b)| StreamProbe::new(s, b)),
        branch,
    };

    let result = match &job.output {
        LiveOutput::Window { fullscreen, hud } => crate::output::window::run(
            WindowOptions {
                title: "facecast".into(),
                size: job.size,
                fullscreen: *fullscreen,
                hud: *hud,
                transparent: cfg.background.mode == BackgroundMode::Alpha,
            },
            &mut frames,
        )
        .map_err(PipelineError::from),
        LiveOutput::Headless => frames.run_headless(),
    };
    stop.store(true, Ordering::Release);
    let audio_result = audio_thread.join();
    let motion_result = motion_thread.join();
    let branch_result = frames.branch.take().map_or(Ok(()), StreamBranch::join);
    let stats = frames.stats();
    if let Some(server) = server {
        server.shutdown();
    }
    if let Some(path) = &frames.stats_json {
        stats.write(path)?;
    }
    if let Some(w) = frames.motion_out.take() {
        w.finish()?;
    }
    result?;
    if let Some(e) = frames.error.take() {
        return Err(e);
    }
    branch_result?;
    match audio_result {
        Ok(r) => r?,
        Err(_) => return Err(PipelineError::Invalid("the audio thread panicked".into())),
    }
    match motion_result {
        Ok(r) => r?,
        Err(_) => return Err(PipelineError::Invalid("the motion thread panicked".into())),
    }
    Ok(stats)
}

/// The audio thread: source -> 16 kHz -> hops. On a lost device it warns once, sends silence (the avatar
/// idles) and retries every second.
fn audio_loop(
    mut source: Box<dyn LiveSource>,
    hops: &DropOldestSender<Hop>,
    audio_out: Option<&DropOldestSender<AudioHop>>,
    stop: &AtomicBool,
    shared: &Shared,
) -> Result<(), LiveAudioError> {
    let fail = |e: LiveAudioError| {
        shared.failed.store(true, Ordering::Release);
        e
    };
    let mut resampler = StreamResampler::new(source.rate_hz()).map_err(fail)?;
    let mut block: Vec<f32> = Vec::with_capacity(source.rate_hz() as usize);
    let mut pcm: Vec<f32> = Vec::with_capacity(2 * SAMPLE_RATE_HZ as usize);
    let mut overruns_seen = 0u64;
    let mut samples_sent = 0u64;
    // A file or a pipe starts when the first frame can show it; a microphone's sound is happening now.
    while !source.is_clock() && !shared.render_ready.load(Ordering::Acquire) && !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(2));
    }
    while !stop.load(Ordering::Acquire) {
        block.clear();
        match source.read(&mut block, Duration::from_millis(50)).map_err(fail)? {
            SourceRead::Samples(stamp) => {
                if source.rate_hz() != resampler.rate_hz() {
                    resampler = StreamResampler::new(source.rate_hz()).map_err(fail)?;
                    pcm.clear();
                }
                resampler.process(&block, &mut pcm).map_err(fail)?;
                send_hops(&mut pcm, &mut samples_sent, stamp, resampler.backlog_secs(), hops, audio_out);
            }
            SourceRead::Timeout => {}
            SourceRead::End => {
                shared.input_ended.store(true, Ordering::Release);
                break;
            }
            SourceRead::Lost(reason) => {
                shared.audio_losses.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%reason, "audio input lost: the avatar idles, and facecast retries every second");
                pcm.clear();
                'retry: while !stop.load(Ordering::Acquire) {
                    // A second of silence, paced like audio, so the motion thread keeps the avatar idling.
                    let start = Instant::now();
                    for i in 1..=100u32 {
                        if stop.load(Ordering::Acquire) {
                            break 'retry;
                        }
                        let due = start + Duration::from_millis(10 * u64::from(i));
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        pcm.extend_from_slice(&[0.0; HOP_SAMPLES]);
                        let stamp = BlockStamp { arrival: Instant::now(), host_delay: None };
                        send_hops(&mut pcm, &mut samples_sent, stamp, 0.0, hops, audio_out);
                    }
                    match source.reopen() {
                        Ok(()) => {
                            tracing::info!(device = source.name(), "audio input is back");
                            resampler = StreamResampler::new(source.rate_hz()).map_err(fail)?;
                            break;
                        }
                        Err(e) => tracing::debug!(error = %e, "audio input still missing"),
                    }
                }
            }
        }
        let overruns = source.overrun_frames();
        if overruns > overruns_seen {
            tracing::warn!(lost_frames = overruns - overruns_seen, "audio overrun: the capture ring was full");
            overruns_seen = overruns;
        }
        shared.audio_overruns.store(overruns, Ordering::Relaxed);
        shared.hops_dropped.store(hops.dropped(), Ordering::Relaxed);
    }
    Ok(())
}

/// Cuts whole hops off the front of `pcm` and sends them, stamped from the block that completed them
/// and numbered by `samples_sent` (16 kHz samples sent before, which it advances); a copy goes to the
/// stream's audio-out thread when there is one. `pcm`'s last sample lies `backlog_secs` before the
/// block's last sample (the resampler's backlog).
fn send_hops(
    pcm: &mut Vec<f32>,
    samples_sent: &mut u64,
    stamp: BlockStamp,
    backlog_secs: f64,
    hops: &DropOldestSender<Hop>,
    audio_out: Option<&DropOldestSender<AudioHop>>,
) {
    let mut used = 0;
    while pcm.len() - used >= HOP_SAMPLES {
        let mut samples = [0.0f32; HOP_SAMPLES];
        samples.copy_from_slice(&pcm[used..used + HOP_SAMPLES]);
        used += HOP_SAMPLES;
        *samples_sent += HOP_SAMPLES as u64;
        // On the arrival clock the block's last sample is at its arrival; this hop ends the samples after
        // it and the resampler's backlog before that. (The host's capture delay is reported apart, in
        // capture_to_frame.)
        let behind = Duration::from_secs_f64((pcm.len() - used) as f64 / f64::from(SAMPLE_RATE_HZ) + backlog_secs);
        let now = Instant::now();
        let end_at = stamp.arrival.checked_sub(behind).unwrap_or(stamp.arrival);
        if let Some(out) = audio_out {
            out.send(AudioHop { samples, end_at });
        }
        hops.send(Hop {
            samples,
            arrival: stamp.arrival,
            end_at,
            end_sample: *samples_sent,
            host_delay: stamp.host_delay,
            audio_secs: now.saturating_duration_since(stamp.arrival).as_secs_f32(),
            sent: now,
        });
    }
    pcm.drain(..used);
}

/// The motion thread: hops -> smoothed poses.
fn motion_loop(
    mut chain: HopChain,
    hops: &DropOldestReceiver<Hop>,
    poses: &DropOldestSender<PoseSample>,
    recycle: &DropOldestReceiver<Vec<f32>>,
    stop: &AtomicBool,
    shared: &Shared,
) -> Result<(), PipelineError> {
    // The mel window's centre lies this far before the end of the hop that completes it.
    let centre_behind_secs = CENTRE_BEFORE_HOP_END_SAMPLES as f64 / f64::from(SAMPLE_RATE_HZ);
    let centre_behind = Duration::from_secs_f64(centre_behind_secs);
    // A model with lookahead speaks, at each hop, for the mel frame that many hops back.
    let lookahead_secs = chain.model().lookahead_secs();
    let flat_len = chain.flat_len();
    let mut spare = vec![0.0f32; flat_len];
    loop {
        let hop = match hops.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(h)) => h,
            Ok(None) => {
                if stop.load(Ordering::Acquire) {
                    return Ok(());
                }
                continue;
            }
            Err(Disconnected) => return Ok(()),
        };
        let start = Instant::now();
        let out = match chain.step(&hop.samples, &mut spare) {
            Ok(out) => out,
            Err(e) => {
                shared.failed.store(true, Ordering::Release);
                return Err(e);
            }
        };
        let Some(out) = out else { continue };
        let mut flat = match recycle.try_recv() {
            Ok(Some(v)) if v.len() == flat_len => v,
            _ => vec![0.0; flat_len],
        };
        std::mem::swap(&mut flat, &mut spare);
        let now = Instant::now();
        poses.send(PoseSample {
            flat,
            out,
            arrival: hop.arrival,
            host_delay: hop.host_delay,
            centre_at: hop.end_at.checked_sub(centre_behind).unwrap_or(hop.end_at),
            end_at: hop.end_at,
            rms: (hop.samples.iter().map(|x| x * x).sum::<f32>() / HOP_SAMPLES as f32).sqrt(),
            audio_t_secs: hop.end_sample as f64 / f64::from(SAMPLE_RATE_HZ) - centre_behind_secs - lookahead_secs,
            smoothing_lag_secs: chain.mouth_lag_secs(),
            audio_secs: hop.audio_secs,
            audio_queue_secs: start.saturating_duration_since(hop.sent).as_secs_f32(),
            motion_secs: now.saturating_duration_since(start).as_secs_f32(),
            sent: now,
        });
    }
}

#[derive(Default)]
struct Telemetry {
    audio_to_frame: Latency,
    capture_to_frame: Latency,
    motion_lag: Latency,
    audio: Latency,
    audio_queue: Latency,
    motion: Latency,
    pose_queue: Latency,
    render: Latency,
    present: Latency,
}

/// What the frame being drawn was made from, kept until its hand-off.
#[derive(Clone, Copy)]
struct FrameSource {
    arrival: Instant,
    host_delay: Option<Duration>,
    centre_at: Instant,
    smoothing_lag_secs: f32,
    params: MotionParams,
    audio_t_secs: f64,
}

/// The render side of the loop: paces frames, picks poses, renders, keeps the telemetry.
struct FrameLoop {
    rig: Rig,
    image: image::RgbaImage,
    framing: crate::portrait::Framing,
    backdrop_image: Option<image::RgbaImage>,
    cfg: Config,
    size: u32,
    renderer: Option<WarpRenderer>,
    adapter: String,
    poses: DropOldestReceiver<PoseSample>,
    poses_dropped_before_start: u64,
    recycle: DropOldestSender<Vec<f32>>,
    newest: Option<PoseSample>,
    prev: Option<PoseSample>,
    pose: Pose,
    flat: Vec<f32>,
    period: Duration,
    fps: u32,
    start: Instant,
    next_due: Instant,
    deadline: Option<Instant>,
    used: Option<FrameSource>,
    submitted_draw: Option<Instant>,
    frames_rendered: u64,
    frames_dropped: u64,
    lookahead_secs: f64,
    tele: Telemetry,
    stats_json: Option<PathBuf>,
    last_stats: Instant,
    motion_out: Option<MotionWriter>,
    record_scratch: super::MotionScratch,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    source: String,
    hud_updated: Instant,
    error: Option<PipelineError>,
    /// The WebRTC branch, when streaming.
    branch: Option<StreamBranch>,
    /// Paint the sync marker, from the loudness of recent hops.
    sync_marker: bool,
    loudness: Loudness,
    stream_probe: Option<StreamProbe>,
}

impl FrameLoop {
    fn build_renderer(&mut self, ctx: &RenderContext) -> Result<(), PipelineError> {
        let mut renderer = WarpRenderer::new(ctx, &self.image, &self.framing, &self.rig, self.size)?;
        renderer.set_backdrop(ctx, &super::backdrop(&self.cfg, self.backdrop_image.as_ref())?);
        super::warm_up(&self.rig, &mut renderer, ctx)?;
        self.renderer = Some(renderer);
        self.adapter = format!("{} ({:?})", ctx.adapter_info.name, ctx.adapter_info.backend);
        // Poses that queued up while the renderer was being built are stale, not dropped frames' work.
        while let Ok(Some(p)) = self.poses.try_recv() {
            self.recycle.send(p.flat);
        }
        self.poses_dropped_before_start = self.poses.dropped();
        self.start = Instant::now();
        self.next_due = self.start;
        self.shared.render_ready.store(true, Ordering::Release);
        Ok(())
    }

    fn accept(&mut self, p: PoseSample) {
        if self.sync_marker {
            self.loudness.push(p.end_at, p.rms);
        }
        self.tele.audio.record_secs(f64::from(p.audio_secs));
        self.tele.audio_queue.record_secs(f64::from(p.audio_queue_secs));
        self.tele.motion.record_secs(f64::from(p.motion_secs));
        if let Some(old) = self.prev.take() {
            self.recycle.send(old.flat);
        }
        self.prev = self.newest.replace(p);
    }

    /// When the frame is due and the newest pose is older than [`FRESH_POSE_AGE`], waits for the next
    /// one, up to [`FRESH_POSE_WAIT`] (or [`FRESH_POSE_WAIT_SHARE`] of the period) past the tick: frames
    /// then lock onto the arrival of motion rather than show a pose up to a hop old. The average rate
    /// stays the output rate; a frame moves by at most the wait.
    fn await_fresh_pose(&mut self) {
        while let Ok(Some(p)) = self.poses.try_recv() {
            self.accept(p);
        }
        let Some(newest) = &self.newest else { return };
        if newest.sent.elapsed() < FRESH_POSE_AGE || self.shared.input_ended.load(Ordering::Acquire) {
            return;
        }
        let deadline = self.next_due + FRESH_POSE_WAIT.min(self.period.mul_f64(FRESH_POSE_WAIT_SHARE));
        let now = Instant::now();
        if now < deadline
            && let Ok(Some(p)) = self.poses.recv_timeout(deadline - now)
        {
            self.accept(p);
        }
    }

    /// Takes every pose that has arrived, keeps the newest two, and sets `self.pose` for a frame now.
    fn prepare(&mut self, now: Instant) {
        while let Ok(Some(p)) = self.poses.try_recv() {
            self.accept(p);
        }
        let Some(newest) = &self.newest else {
            // No audio yet: the portrait at rest.
            self.pose = self.rig.rest_pose();
            self.used = None;
            return;
        };
        // Interpolate to the frame's time on the arrival clock; in live use that is at or past the
        // newest pose, which is then taken as it is.
        let (flat, out, audio_t_secs) = match &self.prev {
            Some(prev) if newest.arrival > prev.arrival && now < newest.arrival => {
                let f = now.saturating_duration_since(prev.arrival).as_secs_f32()
                    / (newest.arrival - prev.arrival).as_secs_f32();
                super::hop::lerp_flat(&mut self.flat, &prev.flat, &newest.flat, f);
                let audio_t_secs = prev.audio_t_secs + (newest.audio_t_secs - prev.audio_t_secs) * f64::from(f);
                (&self.flat, prev.out.lerp(&newest.out, f), audio_t_secs)
            }
            _ => (&newest.flat, newest.out, newest.audio_t_secs),
        };
        self.pose.from_flat(flat);
        let params = out.frame_params();
        self.rig.set_eyes(&params, &mut self.pose);
        self.tele.pose_queue.record(now.saturating_duration_since(newest.sent));
        self.used = Some(FrameSource {
            arrival: newest.arrival,
            host_delay: newest.host_delay,
            centre_at: newest.centre_at,
            smoothing_lag_secs: newest.smoothing_lag_secs,
            params,
            audio_t_secs,
        });
    }

    /// Records a frame handed off at `presented`, and schedules the next one.
    fn record(&mut self, submitted: Instant, presented: Instant) -> Result<(), PipelineError> {
        if let Some(draw_start) = self.submitted_draw.take() {
            self.tele.render.record(submitted.saturating_duration_since(draw_start));
        }
        self.tele.present.record(presented.saturating_duration_since(submitted));
        if let Some(u) = self.used {
            let processing = presented.saturating_duration_since(u.arrival);
            self.tele.audio_to_frame.record(processing);
            if let Some(d) = u.host_delay {
                self.tele.capture_to_frame.record(processing + d);
            }
            if let Some(lag) = self.motion_lag_secs(presented) {
                self.tele.motion_lag.record_secs(lag);
            }
        }
        if let Some(w) = self.motion_out.as_mut() {
            let params = self.used.map(|u| u.params).unwrap_or_default();
            let time = super::RecordTime {
                t_secs: presented.saturating_duration_since(self.start).as_secs_f64(),
                audio_t_secs: self.used.map(|u| u.audio_t_secs),
            };
            let mouth_open = self.rig.mouth_open(&self.pose);
            self.record_scratch.write(w, self.frames_rendered, time, mouth_open, &self.pose, &params)?;
        }
        self.frames_rendered += 1;
        // The next tick; ticks already missed are dropped, not rendered late in a burst.
        self.next_due += self.period;
        let now = Instant::now();
        if now > self.next_due + self.period {
            let behind = (now - self.next_due).as_secs_f64() / self.period.as_secs_f64();
            let skipped = behind.floor() as u32;
            self.frames_dropped += u64::from(skipped);
            self.next_due += self.period * skipped;
        }
        if now.saturating_duration_since(self.last_stats).as_secs_f64() >= STATS_EVERY_SECS {
            self.last_stats = now;
            if let Some(path) = &self.stats_json {
                self.stats().write(path)?;
            }
        }
        Ok(())
    }

    /// How late the frame handed off at `presented` shows the sound it was made from: from the sound
    /// at the centre of the newest mel window to the hand-off, plus the model's lookahead and the
    /// smoothing lag. `None` before any audio.
    fn motion_lag_secs(&self, presented: Instant) -> Option<f64> {
        self.used.map(|u| {
            presented.saturating_duration_since(u.centre_at).as_secs_f64()
                + self.lookahead_secs
                + f64::from(u.smoothing_lag_secs)
        })
    }

    /// Hands the frame just read back to the stream branch, with its timing and sync marker.
    fn stream_frame(&self, rgba: &[u8], presented: Instant) {
        let Some(branch) = &self.branch else { return };
        let motion_lag_secs = self.motion_lag_secs(presented);
        let marker = self.sync_marker.then(|| {
            motion_lag_secs.is_some_and(|lag| {
                presented.checked_sub(Duration::from_secs_f64(lag)).is_some_and(|at| self.loudness.loud_at(at))
            })
        });
        let mut buf = branch.buffer(rgba.len());
        buf.extend_from_slice(rgba);
        branch.frames.send(StreamFrame { rgba: buf, presented, motion_lag_secs, marker });
    }

    fn is_finished(&self) -> bool {
        self.stop.load(Ordering::Acquire)
            || self.error.is_some()
            || self.shared.input_ended.load(Ordering::Acquire) && self.poses.is_empty()
            || self.shared.failed.load(Ordering::Acquire)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn run_headless(&mut self) -> Result<(), PipelineError> {
        let ctx = RenderContext::new()?;
        self.build_renderer(&ctx)?;
        while !self.is_finished() {
            let now = Instant::now();
            if now < self.next_due {
                std::thread::sleep(self.next_due - now);
                continue;
            }
            self.await_fresh_pose();
            self.prepare(Instant::now());
            // Out of self while it lends the frame, which stream_frame reads beside self.
            let mut renderer = self.renderer.take().expect("built above");
            self.submitted_draw = Some(Instant::now());
            let rgba = renderer.render(&ctx, &self.pose)?;
            let done = Instant::now();
            self.stream_frame(rgba, done);
            self.renderer = Some(renderer);
            self.record(done, done)?;
        }
        Ok(())
    }

    fn stats(&self) -> LiveStats {
        let elapsed = self.start.elapsed().as_secs_f64();
        let t = &self.tele;
        LiveStats {
            elapsed_secs: elapsed,
            target_fps: f64::from(self.fps),
            measured_fps: if elapsed > 0.0 { self.frames_rendered as f64 / elapsed } else { 0.0 },
            frames_rendered: self.frames_rendered,
            frames_dropped: self.frames_dropped,
            audio_overruns: self.shared.audio_overruns.load(Ordering::Relaxed),
            hops_dropped: self.shared.hops_dropped.load(Ordering::Relaxed),
            poses_dropped: self.poses.dropped() - self.poses_dropped_before_start,
            audio_losses: self.shared.audio_losses.load(Ordering::Relaxed),
            audio_to_frame_ms: t.audio_to_frame.percentiles(),
            capture_to_frame_ms: t.capture_to_frame.percentiles(),
            motion_lag_ms: t.motion_lag.percentiles(),
            stages_ms: StageLatencies {
                audio: t.audio.percentiles(),
                audio_queue: t.audio_queue.percentiles(),
                motion: t.motion.percentiles(),
                pose_queue: t.pose_queue.percentiles(),
                render: t.render.percentiles(),
                present: t.present.percentiles(),
            },
            source: self.source.clone(),
            adapter: self.adapter.clone(),
            size: self.size,
            stream: self.stream_probe.as_ref().map(StreamProbe::stats),
        }
    }
}

impl FrameProducer for FrameLoop {
    fn start(&mut self, ctx: &RenderContext) -> Result<(), OutputError> {
        self.build_renderer(ctx).map_err(|e| OutputError::Window(format!("cannot build the renderer: {e}")))
    }

    fn target(&self) -> &wgpu::TextureView {
        self.renderer.as_ref().expect("start() builds the renderer first").target_view()
    }

    fn next_due(&self) -> Instant {
        self.next_due
    }

    fn draw(&mut self, ctx: &RenderContext, encoder: &mut wgpu::CommandEncoder) -> Result<(), OutputError> {
        self.await_fresh_pose();
        self.prepare(Instant::now());
        self.submitted_draw = Some(Instant::now());
        let renderer = self.renderer.as_mut().expect("start() builds the renderer first");
        renderer.encode(ctx, &self.pose, encoder).map_err(|e| OutputError::Window(e.to_string()))?;
        if self.branch.is_some() {
            // Streaming too: the same frame is copied out for the encoder.
            renderer.encode_readback(encoder);
        }
        Ok(())
    }

    fn handed_off(&mut self, ctx: &RenderContext, submitted: Instant, presented: Instant) {
        if self.branch.is_some() {
            let mut renderer = self.renderer.take().expect("start() builds the renderer first");
            match renderer.read_back(ctx) {
                Ok(rgba) => self.stream_frame(rgba, presented),
                Err(e) => {
                    self.error.get_or_insert(e.into());
                }
            }
            self.renderer = Some(renderer);
        }
        if let Err(e) = self.record(submitted, presented) {
            self.error.get_or_insert(e);
        }
    }

    fn hud(&mut self, text: &mut String) -> bool {
        use std::fmt::Write as _;
        let now = Instant::now();
        if now.saturating_duration_since(self.hud_updated) < Duration::from_millis(500) && !text.is_empty() {
            return false;
        }
        self.hud_updated = now;
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64().max(1e-3);
        let p = |l: &Latency| l.percentiles().map_or((0.0, 0.0), |p| (p.p50, p.p99));
        let (lat50, lat99) = p(&self.tele.audio_to_frame);
        let (lag50, lag99) = p(&self.tele.motion_lag);
        text.clear();
        let _ = write!(
            text,
            "{:5.1} fps  drops {}  overruns {}\nlatency p50 {:5.1} p99 {:5.1} ms\nlip lag p50 {:5.1} p99 {:5.1} ms",
            self.frames_rendered as f64 / elapsed,
            self.frames_dropped,
            self.shared.audio_overruns.load(Ordering::Relaxed),
            lat50,
            lat99,
            lag50,
            lag99
        );
        true
    }

    fn finished(&self) -> bool {
        self.is_finished()
    }
}
