//! The live loop: a live audio source to a window (or a headless loop) and the sinks, in real time,
//! with telemetry.
//!
//! Input: a [`LiveJob`]. Output: frames in a window and to the sinks, [`LiveStats`]. Threads (queues
//! bounded, dropping the oldest item, drops counted), each in its own file:
//!
//! ```text
//! [audio host thread] cpal callback -> lock-free ring (audio::live)
//! [audio]   audio.rs:  ring -> 16 kHz -> stamped 10 ms hops          --hops (64)-->
//! [motion]  motion.rs: log-mel -> model -> idle -> One Euro          --poses (16)-->
//! [render]  frames.rs (the caller's thread; the window's event loop): pacing.rs says when,
//!           poses.rs picks the newest parameters and rigs them, the warp draws, the sinks take it
//! ```
//!
//! With a WebRTC output (`LiveJob::stream`) the render also reads every frame back (in the window's
//! own command buffer, or headless) and hands it to the stream sink, whose branch
//! (`output::stream::StreamBranch`: an encode thread, and an audio-out thread fed a copy of every hop)
//! publishes into the hub.
//!
//! The render thread wakes at the output rate. Each frame takes the newest smoothed parameters,
//! interpolated between the last two to the frame's time on the audio's arrival clock, and rigs them
//! (`hop::frame_pose`, as the offline render does). In live use the frame's time is never behind the
//! newest pose, so that is the newest pose; the interpolation only matters when poses arrive in bursts.
//! Under overload the render thread skips frame ticks (counted); the audio and motion threads never wait
//! on it, and no queue grows.
//!
//! Every frame records two end-to-end figures: the processing latency (`audio_to_frame_ms`: from the
//! arrival of the audio block that completed the newest hop to the frame's hand-off) and the motion lag
//! (`motion_lag_ms`: from the capture of the sound at the centre of that hop's mel window, plus the
//! model's lookahead and the smoothing lag at that frame).

mod audio;
mod control;
mod expression;
mod frames;
mod head;
mod motion;
mod pacing;
mod poses;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use audio::Hop;
use frames::{FrameLoop, Inputs, Outputs, Scene};
use motion::PoseSample;
use pacing::Pacer;
use poses::PoseChooser;

use super::hop::HopChain;
use super::telemetry::LiveStats;
use super::{Input, PipelineError};
pub use crate::audio::live::PcmSpec;
pub use crate::output::stream::{DEFAULT_WHEP_ADDR, StreamOptions};
pub use crate::portrait::frames::HeadFrom;

use crate::audio::live::{ApiSource, FileSource, LiveSource, MicSource, SpeechQueue, StdinSource};
use crate::config::{BackgroundMode, Config};
use crate::output::stream::ControlOptions;
use crate::output::stream::{MediaHub, StreamBranch, StreamProbe, StreamServer};
use crate::output::vmc::VmcSender;
use crate::output::window::WindowOptions;
use crate::output::{FrameSink, MotionWriter, RawFrames, V4l2Sink, Y4mSink};
use crate::queue::drop_oldest;
use crate::vocab::FrameGeometry;

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
    /// Speech from the control API (`POST /speak`); silence, and idle motion, in between.
    Api,
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

/// A pixel output of the live loop besides the window and WebRTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameOutput {
    /// A YUV4MPEG2 stream (`-`: standard output).
    Y4m(PathBuf),
    /// Raw RGBA8 frames (`-`: standard output).
    Raw(PathBuf),
    /// A V4L2 output device (a v4l2loopback virtual camera).
    V4l2(PathBuf),
}

impl FrameOutput {
    /// Whether it writes to standard output.
    pub fn is_stdout(&self) -> bool {
        match self {
            Self::Y4m(p) | Self::Raw(p) => p.as_os_str() == "-",
            Self::V4l2(_) => false,
        }
    }

    /// Opens the sink for frames of `frame`.
    fn open(&self, frame: FrameGeometry) -> Result<Box<dyn FrameSink>, PipelineError> {
        Ok(match self {
            Self::Y4m(path) => Box::new(Y4mSink::create(path, frame)?),
            Self::Raw(path) => Box::new(RawFrames::create_in_place(path, frame)?),
            Self::V4l2(path) => Box::new(V4l2Sink::open(path, frame)?),
        })
    }
}

/// Where the control API listens, and its bearer token (needed beyond loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSpec {
    /// The address (the WHEP server's own, when they are the same).
    pub addr: std::net::SocketAddr,
    /// The bearer token (`[stream] token` or `FACECAST_TOKEN`).
    pub token: Option<String>,
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
    /// Frame side and rate, checked when it was built.
    pub frame: FrameGeometry,
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
    /// Pipes and virtual cameras.
    pub frame_outputs: Vec<FrameOutput>,
    /// The control API (`--control`), with `--input api`.
    pub control: Option<ControlSpec>,
    /// VMC out: each frame's blendshapes and head to a VTuber tool's receiver (`--vmc HOST:PORT`).
    pub vmc: Option<std::net::SocketAddr>,
    /// Play the input on a local output device (`--speaker [NAME]`; `Some(None)`: the default output).
    pub speaker: Option<Option<String>>,
    /// The user's head from a camera, a video or a folder of images drives the avatar's head and
    /// blinks (the voice still drives the mouth).
    pub head_from: Option<HeadFrom>,
    /// The mouth of a file input from its first sample, where a text-to-speech engine timed its phones
    /// (`facecast say`): shown in place of the mouth the model hears, as for `POST /say`.
    pub mouth: Option<Arc<[crate::vocab::MotionParams]>>,
}

/// The silence queued ahead of the speech on `--speaker`: room for the audio thread's 10 ms hops to
/// arrive unevenly without the device running dry. The frames show a sound about the motion lag (some
/// 30 ms here) after it arrives; the device adds its own buffer on top of this lead.
const SPEAKER_LEAD_SECS: f64 = 0.02;

/// The longest the loudspeaker may play on after the input file ended.
const SPEAKER_DRAIN_MAX: Duration = Duration::from_secs(6);

/// Counters the audio and motion threads update.
#[derive(Default)]
pub(super) struct Shared {
    /// The renderer is built: a source that is no clock (a file, a pipe) may start.
    pub render_ready: AtomicBool,
    pub input_ended: AtomicBool,
    pub failed: AtomicBool,
    pub audio_losses: AtomicU64,
    pub audio_overruns: AtomicU64,
    pub hops_dropped: AtomicU64,
    /// Frames handed off and ticks skipped, for the control API's metrics.
    pub frames_rendered: AtomicU64,
    pub frames_dropped: AtomicU64,
    /// The GPU adapter, once the renderer has one (for the control API's health).
    pub adapter: std::sync::OnceLock<String>,
}

/// Runs the live loop until the input ends, the duration is up, the window closes, or `job.stop` is set.
///
/// # Errors
/// The first [`PipelineError`] that stops the loop; the stats are written before it returns either way.
pub fn run_live(job: &LiveJob) -> Result<LiveStats, PipelineError> {
    let cfg = &job.config;
    cfg.validate()?;
    if job.duration_secs.is_some_and(|d| d.is_nan() || d <= 0.0) {
        return Err(PipelineError::Invalid("--duration must be positive".into()));
    }
    let backdrop_image = super::backdrop_image(cfg)?;
    // Open the source first: a missing device or file is the likeliest mistake, and the cheapest to report.
    // The network side's hub: its events are the control API's (viewers joining and leaving).
    let hub = MediaHub::new(Instant::now());
    let events = hub.events.clone();
    let speech = Arc::new(SpeechQueue::default());
    let source: Box<dyn LiveSource> = match &job.input {
        LiveInput::Microphone(name) => Box::new(MicSource::open(name.as_deref())?),
        LiveInput::File { path, looping } => Box::new(FileSource::open(path, *looping)?),
        LiveInput::TestPattern => Box::new(FileSource::test_pattern()),
        LiveInput::Stdin(spec) => Box::new(StdinSource::open(*spec)),
        LiveInput::Api => Box::new(ApiSource::new(Arc::clone(&speech), control::publisher(events.clone()))),
    };
    if matches!(job.input, LiveInput::Api) != job.control.is_some() {
        return Err(PipelineError::Invalid(
            "--input api and --control go together: the control API is where the speech comes from".into(),
        ));
    }
    let source_name = source.name().to_owned();
    let shared = Arc::new(Shared::default());
    let latency = Arc::new(std::sync::Mutex::new(control::LatencySnapshot::default()));
    let expression = Arc::new(expression::ExpressionState::new());
    // The network side next: a taken port or a missing token is reported before the slow set-up.
    let control = job.control.as_ref().map(|c| ControlOptions {
        addr: c.addr,
        api: Arc::new(control::LiveControl {
            queue: Arc::clone(&speech),
            shared: Arc::clone(&shared),
            latency: Arc::clone(&latency),
            hub: job.stream.is_some().then(|| Arc::clone(&hub)),
            started: Instant::now(),
            expression: Arc::clone(&expression),
            tts: crate::audio::tts::Tts::new(&cfg.tts.command),
            max_speech_secs: cfg.control.max_speech_secs,
            max_say_chars: cfg.control.max_say_chars,
        }),
        events: events.clone(),
    });
    let server = match (&job.stream, &job.control) {
        (Some(options), _) => Some(StreamServer::start(options, hub, control)?),
        (None, Some(c)) => {
            let options = StreamOptions { token: c.token.clone(), ..StreamOptions::default() };
            Some(StreamServer::start(&options, hub, control)?)
        }
        (None, None) => None,
    };
    let portrait = super::prepare_portrait(&job.portrait, cfg)?;
    let model = super::load_motion_model(cfg, true)?;
    let lookahead_secs = model.lookahead_secs();
    // Live, nothing cancels the filter's lag: the live cutoff at rest replaces the offline one.
    let mut live_cfg = cfg.clone();
    live_cfg.smoothing.min_cutoff_hz = cfg.smoothing.live_min_cutoff_hz;
    let chain = HopChain::new(model, &live_cfg);

    let stop = Arc::clone(&job.stop);
    let (hop_tx, hop_rx) = drop_oldest::<Hop>(64);
    let (pose_tx, pose_rx) = drop_oldest::<PoseSample>(16);
    let mut branch = match (&server, &job.stream) {
        (Some(server), Some(_)) => Some(StreamBranch::start(server.hub(), job.frame, &cfg.stream, &job.stop)?),
        _ => None,
    };
    let audio_out = branch.as_mut().and_then(|b| b.audio.take());
    // The head thread opens its camera (or file) and face models before the audio starts.
    let head = match &job.head_from {
        Some(from) => Some(head::start(from.clone(), cfg, &stop, &shared)?),
        None => None,
    };
    let (head_thread, head_events) = head.map_or((None, None), |(t, rx)| (Some(t), Some(rx)));

    let mut speaker = match &job.speaker {
        Some(name) => Some(crate::audio::live::Speaker::open(name.as_deref(), SPEAKER_LEAD_SECS)?),
        None => None,
    };
    let speaker_stats = speaker.as_ref().map(|s| Arc::clone(s.stats()));
    let audio_thread = {
        let (stop, shared) = (Arc::clone(&stop), Arc::clone(&shared));
        std::thread::Builder::new()
            .name("audio".into())
            .spawn(move || {
                let outputs = audio::AudioOutputs { stream: audio_out.as_ref(), speaker: speaker.as_mut() };
                let result = audio::audio_loop(source, &hop_tx, outputs, &stop, &shared);
                // A file that ended is heard to its end before the loudspeaker closes; a stop is at once.
                if let Some(s) = &speaker
                    && shared.input_ended.load(Ordering::Acquire)
                {
                    s.drain(SPEAKER_DRAIN_MAX);
                }
                result
            })
            .map_err(|e| PipelineError::Invalid(format!("cannot start the audio thread: {e}")))?
    };
    let motion_thread = {
        let (stop, shared) = (Arc::clone(&stop), Arc::clone(&shared));
        if let (Some(track), LiveInput::File { looping: false, .. }) = (&job.mouth, &job.input) {
            speech.place_mouth(0.0, Arc::clone(track));
        }
        let mouths = (matches!(job.input, LiveInput::Api) || job.mouth.is_some()).then(|| Arc::clone(&speech));
        std::thread::Builder::new()
            .name("motion".into())
            .spawn(move || motion::motion_loop(chain, &hop_rx, &pose_tx, mouths.as_deref(), &stop, &shared))
            .map_err(|e| PipelineError::Invalid(format!("cannot start the motion thread: {e}")))?
    };

    let mut sinks: Vec<Box<dyn FrameSink>> = Vec::new();
    if let Some(sink) = branch.as_mut().and_then(StreamBranch::take_sink) {
        sinks.push(Box::new(sink));
    }
    for output in &job.frame_outputs {
        sinks.push(output.open(job.frame)?);
    }
    let outputs = Outputs {
        sinks,
        motion_out: job.motion_out.as_deref().map(MotionWriter::create_growing).transpose()?,
        vmc: job.vmc.map(|addr| VmcSender::new(addr, cfg.output.vmc_names)).transpose()?,
        stats_json: job.stats_json.clone(),
        sync_marker: job.sync_marker && branch.is_some(),
        stream_probe: server.as_ref().zip(branch.as_ref()).map(|(s, b)| StreamProbe::new(s, b)),
        source: source_name,
        latency,
    };
    let scene = Scene {
        geometry: portrait.geometry(),
        rig: portrait.rig,
        image: portrait.image,
        backdrop_image,
        cfg: cfg.clone(),
        frame: job.frame,
    };
    let pacer =
        Pacer::new(Duration::from_secs_f64(job.frame.period_secs()), job.duration_secs.map(Duration::from_secs_f64));
    let mut frames = FrameLoop::new(
        scene,
        Inputs {
            poses: PoseChooser::new(pose_rx, cfg.motion.lips_meet_jaw),
            head: head_events.map(head::HeadFollower::new),
            lookahead_secs,
            speech: matches!(job.input, LiveInput::Api).then(|| Arc::clone(&speech)),
            expression: job.control.is_some().then_some(expression),
        },
        pacer,
        outputs,
        Arc::clone(&shared),
        Arc::clone(&stop),
    );

    let result = match &job.output {
        LiveOutput::Window { fullscreen, hud } => crate::output::window::run(
            WindowOptions {
                title: "facecast".into(),
                size: (job.frame.width_px(), job.frame.height_px()),
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
    if let Some(s) = &speaker_stats {
        let (short, dropped) = (s.underrun_samples.load(Ordering::Relaxed), s.dropped_samples.load(Ordering::Relaxed));
        tracing::info!(underrun_samples = short, dropped_samples = dropped, "speaker closed");
    }
    let motion_result = motion_thread.join();
    let head_result = head_thread.map(JoinHandle::join);
    let outputs_result = frames.finish_outputs();
    let branch_result = branch.map_or(Ok(()), StreamBranch::join);
    let stats = frames.stats();
    if let Some(server) = server {
        server.shutdown();
    }
    if let Some(path) = frames.stats_json() {
        stats.write(path)?;
    }
    outputs_result?;
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
    match head_result {
        Some(Ok(r)) => r?,
        Some(Err(_)) => return Err(PipelineError::Invalid("the head thread panicked".into())),
        None => {}
    }
    Ok(stats)
}
