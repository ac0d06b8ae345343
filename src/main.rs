//! The `facecast` command line: a thin layer over `facecast::pipeline`.
//!
//! Input: the command line. Output: the chosen command's work, a summary on standard output (or standard error
//! when frames go to standard output) and an exit code (0, 1, or 128 + the signal that stopped it).
//! Thread: the main thread; the pipeline starts any others.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use facecast::Config;
use facecast::config::BackgroundMode;
use facecast::pipeline::live::{ControlSpec, FrameOutput, HeadFrom, LiveInput, LiveJob, LiveOutput, PcmSpec};
use facecast::pipeline::{self, Input, PipelineError, RenderJob};
use facecast::vocab::FrameGeometry;

/// facecast: a portrait that talks along with speech.
///
/// Renders a reference portrait speaking an audio file to an H.264 MP4, offline. The audio drives a
/// motion model (ONNX), whose output moves first-order-motion keypoints on the face, and a GPU warp
/// (wgpu; a software adapter where there is no GPU) draws each frame.
#[derive(Parser)]
#[command(name = "facecast", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a portrait speaking an audio file to an MP4 (H.264 video, AAC audio).
    Render(RenderArgs),
    /// Time every stage of the offline render on the bundled clip and report per-item costs.
    Bench(BenchArgs),
    /// Make the portrait talk along with live audio (a microphone, a file played in real time, raw PCM
    /// on standard input, or speech sent to the control API), in real time: in a window, as WebRTC to
    /// browsers (WHEP) and media servers (WHIP), as a virtual camera or a pipe, or as VMC to a VTuber
    /// tool. Esc, closing the window or Ctrl-C stops it.
    Live(LiveArgs),
    /// List audio input devices, cameras and GPU adapters.
    Devices(DevicesArgs),
}

#[derive(clap::Args)]
struct LiveArgs {
    /// The reference portrait; the bundled one when omitted. "camera" or "camera:N" takes it with a
    /// camera: a preview window counts down 3-2-1 (headless: the log does), the picture must show one
    /// face, and it is saved as facecast-portrait-<time>.png to reuse with --portrait FILE.
    #[arg(long, value_name = "IMG|camera[:N]")]
    portrait: Option<PathBuf>,
    /// The audio: "mic" (the default input device), "mic:NAME" (a device from `facecast devices`),
    /// a file played in real time (see --loop), "-" for raw PCM on standard input (see --pcm),
    /// "test-pattern" (a 1 kHz beep about every second, with --sync-marker on: for checking A/V sync),
    /// or "api" (speech POSTed to the control API, see --control; the avatar idles in between).
    /// Default: `[live] input`, "mic".
    #[arg(long, short, value_name = "mic|mic:NAME|FILE|-|test-pattern|api")]
    input: Option<String>,
    /// Serve the control API (POST /speak, DELETE /speak, GET /health, /metrics, /events) at ADDR
    /// (default 127.0.0.1:8080, a port alone binds 127.0.0.1; the WHEP server's own address shares its
    /// server). Beyond loopback it needs a bearer token ([stream] token or FACECAST_TOKEN). Goes with
    /// --input api. Default: `[live] control` (empty: no API).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    control: Option<String>,
    /// Play the input file over and over, forever (a kiosk loop, a test stream).
    #[arg(long = "loop")]
    looping: bool,
    /// Where the avatar goes; repeat for several. "window" (the default), "headless" (no window),
    /// "whep[:ADDR]" (a viewer page at http://ADDR/ and WHEP at /whep, for browsers, OBS and players;
    /// ADDR defaults to 127.0.0.1:8080, a port alone binds 127.0.0.1; any address beyond loopback
    /// needs a token: [stream] token or FACECAST_TOKEN), "whip:URL" (push to a WHIP server or SFU;
    /// its token from [stream] whip_token or FACECAST_WHIP_TOKEN), "y4m:PATH" (a YUV4MPEG2 stream for
    /// ffmpeg, GStreamer or OBS; "-" for standard output), "raw:PATH" (raw RGBA8 frames, alpha kept;
    /// "-" for standard output) or "v4l2:/dev/videoN" (a virtual camera: a v4l2loopback device, Linux).
    /// With any of these there is no window unless "window" is given too (a preview). With standard
    /// output taken by frames, every message goes to standard error. Default: `[live] outputs`.
    #[arg(long, value_name = "window|headless|whep[:ADDR]|whip:URL|y4m:PATH|raw:PATH|v4l2:DEV")]
    output: Vec<String>,
    /// Send each frame's lip sync and head over VMC (OSC over UDP) to a VTuber tool (VSeeFace, VNyan,
    /// Warudo): the VRM blendshapes A I U E O Blink_L Blink_R (VRM 1.0 names with [output] vmc_names =
    /// "vrm1"), facecast's other parameters under their own names, and the head bone.
    #[arg(long, value_name = "HOST:PORT")]
    vmc: Option<SocketAddr>,
    /// Drive the avatar's head turns, tilts and blinks with a face: "camera" (the first camera),
    /// "camera:N" (a camera from `facecast devices`), a video file or a folder of images (played in
    /// real time at --head-fps). The voice still drives the mouth; without a face the avatar idles.
    #[arg(long, value_name = "camera[:N]|FILE|DIR")]
    head_from: Option<String>,
    /// The frame rate of a --head-from video or folder.
    #[arg(long, default_value_t = 30, value_name = "FPS")]
    head_fps: u32,
    /// Paint an A/V sync marker into the streamed frames: a corner square, white while the sound the
    /// frame shows is loud (a clap, a beep). On with --input test-pattern.
    #[arg(long)]
    sync_marker: bool,
    /// The layout of raw PCM on standard input: FORMAT:RATE:CHANNELS, FORMAT s16le or f32le.
    #[arg(long, default_value_t = PcmSpec::default(), value_name = "FMT:RATE:CH")]
    pcm: PcmSpec,
    #[command(flatten)]
    frame: FrameArgs,
    /// Open the window full screen (kiosks). Also `[live] fullscreen`.
    #[arg(long)]
    fullscreen: bool,
    /// Draw an overlay with fps, latency p50/p99 and drops. Also `[live] hud`.
    #[arg(long)]
    hud: bool,
    /// No window: render and read back every frame, then drop it or stream it (benchmarks, servers,
    /// machines without a display). The same as --output headless.
    #[arg(long)]
    headless: bool,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Write latency and frame statistics as JSON here every 10 s and at exit.
    #[arg(long, value_name = "FILE.json")]
    stats_json: Option<PathBuf>,
    /// Write every frame's motion as JSON lines (README's format; t_secs from the start of the loop,
    /// audio_t_secs the input's position of the sound each frame shows).
    #[arg(long, value_name = "FILE.jsonl")]
    motion_out: Option<PathBuf>,
    /// Background: keep, alpha, "#rrggbb" or an image file (as for render). With alpha the window is
    /// transparent around the person where the window system composites windows (X11 with a
    /// compositor, Wayland, macOS, Windows). WebRTC video has no alpha channel.
    #[arg(long, value_name = "MODE")]
    background: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(clap::Args)]
struct DevicesArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct RenderArgs {
    /// The reference portrait (PNG, JPEG, WebP, BMP) with one visible face.
    #[arg(long, value_name = "IMG")]
    portrait: PathBuf,
    /// The speech (WAV, FLAC, MP3, OGG/Vorbis, AAC/M4A), any rate and channel count.
    #[arg(long, value_name = "AUDIO")]
    audio: PathBuf,
    /// The MP4 to write; its folder is created if missing.
    #[arg(long, short, value_name = "OUT.mp4")]
    output: PathBuf,
    #[command(flatten)]
    frame: FrameArgs,
    #[command(flatten)]
    config: ConfigArg,
    /// Also write the motion of every frame as JSON lines (format: README.md).
    #[arg(long, value_name = "FILE.jsonl")]
    motion_out: Option<PathBuf>,
    /// Also write a contact sheet: 12 frames spread over the render, with mouth opening bars.
    #[arg(long, value_name = "FILE.png")]
    sheet: Option<PathBuf>,
    /// What shows behind the person: keep (the portrait's own), alpha (transparent; needs
    /// --frames-dir or --raw-out), a colour "#rrggbb", or an image file. Overrides [background] in the
    /// config.
    #[arg(long, value_name = "MODE")]
    background: Option<String>,
    /// Also write every frame as an RGBA PNG into this folder (frame_000000.png, ...): the output that
    /// keeps alpha.
    #[arg(long, value_name = "DIR")]
    frames_dir: Option<PathBuf>,
    /// Also write every frame as raw RGBA8 (SIZE x SIZE x 4 bytes, no header, straight alpha) to this
    /// file, or to standard output with "-" (the summary then goes to standard error). For example:
    /// --raw-out - | ffmpeg -f rawvideo -pix_fmt rgba -s 512x512 -r 30 -i - -c:v qtrle out.mov
    #[arg(long, value_name = "FILE|-")]
    raw_out: Option<PathBuf>,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Runs to make; the median of each figure is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[command(flatten)]
    frame: FrameArgs,
    /// Portrait to use instead of the bundled one.
    #[arg(long)]
    portrait: Option<PathBuf>,
    /// Audio to use instead of the bundled clip.
    #[arg(long)]
    audio: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArg,
}

/// The frame every command renders: `--size` and `--fps`, checked together before any work starts.
#[derive(clap::Args)]
struct FrameArgs {
    /// Frame size in pixels: a side (512: square) or WIDTHxHEIGHT (640x480, 1280x720 as call apps
    /// expect; the face fills the height, the portrait continues beside it). Even, at most 3840x2160;
    /// a window scales it. Default: `[output] size`, 512.
    #[arg(long, value_name = "N|WxH")]
    size: Option<String>,
    /// Frames per second (1..=120). Default: `[output] fps`, 30.
    #[arg(long)]
    fps: Option<u32>,
}

impl FrameArgs {
    fn geometry(&self, cfg: &facecast::config::OutputConfig) -> Result<FrameGeometry> {
        let (width, height) = facecast::vocab::frame::parse_size(self.size.as_deref().unwrap_or(&cfg.size))?;
        Ok(FrameGeometry::new(width, height, self.fps.unwrap_or(cfg.fps))?)
    }
}

/// `--config`, the same for every command.
#[derive(clap::Args)]
struct ConfigArg {
    /// A TOML config; see configs/default.toml for every key and its default.
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    fn load(&self) -> Result<Config> {
        Ok(match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        })
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FACECAST_LOG")
        // The WebRTC stack warns about routine ICE and DTLS events; its errors still show.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("facecast=info,warn,webrtc=error,rtc=error"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    init_logging();
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot install the SIGINT and SIGTERM handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(Cli::parse(), &signals) {
        Ok(()) => ExitCode::SUCCESS,
        // A signal ends the run however the work noticed it: the stop flag, or a child (ffmpeg) that got
        // the terminal's Ctrl-C too and failed.
        Err(e)
            if signals.received.load(Ordering::Acquire) != 0
                || e.chain().any(|c| matches!(c.downcast_ref(), Some(PipelineError::Interrupted))) =>
        {
            // The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
            let signal = signals.received.load(Ordering::Acquire);
            eprintln!("facecast: stopped by signal {signal}; nothing was left behind");
            ExitCode::from(128u8.saturating_add(u8::try_from(signal).unwrap_or(0)))
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM: each sets `stop`, which the render and the live loop poll, and
/// `received`, the signal's number, for the exit code. A render stops at the next frame and removes what
/// it staged; a live run closes its stats and motion files.
struct Signals {
    stop: Arc<AtomicBool>,
    received: Arc<AtomicUsize>,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let (stop, received) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register_usize(signal, Arc::clone(&received), signal as usize)?;
            signal_hook::flag::register(signal, Arc::clone(&stop))?;
        }
        Ok(Self { stop, received })
    }
}

/// The error and its causes on one line, each said once. Many errors quote their source in their own
/// message (`cannot open audio X: No such file`), which `{:#}` would print a second time.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

fn run(cli: Cli, signals: &Signals) -> Result<()> {
    match cli.command {
        Command::Render(args) => render(args, &signals.stop),
        Command::Bench(args) => bench(args, &signals.stop),
        Command::Live(args) => live(args, &signals.stop),
        Command::Devices(args) => devices(args),
    }
}

/// `--background MODE` over the config's `[background]`.
fn apply_background(config: &mut Config, mode: Option<&str>) -> Result<()> {
    let Some(mode) = mode else { return Ok(()) };
    let bg = &mut config.background;
    match mode {
        "keep" => bg.mode = BackgroundMode::Keep,
        "alpha" => bg.mode = BackgroundMode::Alpha,
        colour if colour.starts_with('#') => {
            bg.mode = BackgroundMode::Color;
            bg.color = colour.to_owned();
        }
        path => {
            bg.mode = BackgroundMode::Image;
            bg.image = Some(PathBuf::from(path));
        }
    }
    config.validate().context("--background")?;
    Ok(())
}

/// One `--output` value.
#[derive(Debug, PartialEq)]
enum OutputArg {
    Window,
    Headless,
    Whep(SocketAddr),
    Whip(String),
    Frames(FrameOutput),
}

fn parse_output(s: &str) -> Result<OutputArg> {
    Ok(match s {
        "window" => OutputArg::Window,
        "headless" => OutputArg::Headless,
        "whep" => OutputArg::Whep(pipeline::live::DEFAULT_WHEP_ADDR),
        _ if s.starts_with("whep:") => {
            let addr = &s["whep:".len()..];
            OutputArg::Whep(parse_addr(addr).map_err(|_| {
                anyhow::anyhow!("--output {s}: ADDR must be PORT or IP:PORT (e.g. 127.0.0.1:8080, 0.0.0.0:8080)")
            })?)
        }
        _ if s.starts_with("whip:") => {
            let url = &s["whip:".len()..];
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "--output {s}: the WHIP endpoint must be an http:// or https:// URL"
            );
            OutputArg::Whip(url.to_owned())
        }
        _ if s.starts_with("y4m:") => OutputArg::Frames(FrameOutput::Y4m(path_after(s, "y4m:")?)),
        _ if s.starts_with("raw:") => OutputArg::Frames(FrameOutput::Raw(path_after(s, "raw:")?)),
        _ if s.starts_with("v4l2:") => OutputArg::Frames(FrameOutput::V4l2(path_after(s, "v4l2:")?)),
        _ => anyhow::bail!(
            "--output {s}: expected window, headless, whep[:ADDR], whip:URL, y4m:PATH, raw:PATH or v4l2:/dev/videoN"
        ),
    })
}

/// `PORT` (on 127.0.0.1) or `IP:PORT`.
fn parse_addr(addr: &str) -> Result<SocketAddr, std::net::AddrParseError> {
    match addr.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), port)),
        Err(_) => addr.parse::<SocketAddr>(),
    }
}

/// The path after `prefix` in an `--output` value; not empty.
fn path_after(s: &str, prefix: &str) -> Result<PathBuf> {
    let path = &s[prefix.len()..];
    anyhow::ensure!(!path.is_empty(), "--output {s}: give a path after {prefix} (\"-\" for standard output)");
    Ok(PathBuf::from(path))
}

/// `camera` or `camera:N` as a camera index (`None` for anything else: a path).
fn camera_index(s: &str, flag: &str) -> Option<Result<u32>> {
    let n = if s == "camera" { "0" } else { s.strip_prefix("camera:")? };
    Some(n.parse().map_err(|_| anyhow::anyhow!("{flag} {s}: N must be a camera number (facecast devices)")))
}

/// Camera `index`, or, where `FACECAST_CAMERA_STANDIN` names a video or a folder of images, that
/// played at 30 fps in every camera's place (for tests and demos on machines without a camera).
fn camera_source(index: u32) -> HeadFrom {
    match std::env::var_os("FACECAST_CAMERA_STANDIN") {
        Some(path) if !path.is_empty() => HeadFrom::Path { path: path.into(), fps: 30 },
        _ => HeadFrom::Camera(index),
    }
}

/// A token from the environment, else from the config.
fn token(env: &str, config: &str) -> Option<String> {
    std::env::var(env).ok().filter(|t| !t.is_empty()).or_else(|| Some(config.to_owned()).filter(|t| !t.is_empty()))
}

fn live(args: LiveArgs, stop: &Arc<AtomicBool>) -> Result<()> {
    let mut config = args.config.load()?;
    let frame = args.frame.geometry(&config.output)?;
    apply_background(&mut config, args.background.as_deref())?;
    let live_cfg = config.live.clone();
    let input = match args.input.as_deref().unwrap_or(&live_cfg.input) {
        "mic" => LiveInput::Microphone(None),
        "-" => LiveInput::Stdin(args.pcm),
        "test-pattern" => LiveInput::TestPattern,
        "api" => LiveInput::Api,
        s if s.starts_with("mic:") => LiveInput::Microphone(Some(s["mic:".len()..].to_owned())),
        path => LiveInput::File { path: PathBuf::from(path), looping: args.looping },
    };
    anyhow::ensure!(
        !args.looping || matches!(input, LiveInput::File { .. }),
        "--loop plays a file over and over: give --input FILE"
    );
    let output_args = if args.output.is_empty() { &live_cfg.outputs } else { &args.output };
    let outputs = output_args.iter().map(|s| parse_output(s)).collect::<Result<Vec<_>>>()?;
    let mut whep = None;
    let mut whip = None;
    let mut frame_outputs = Vec::new();
    for o in &outputs {
        match o {
            OutputArg::Whep(addr) => {
                anyhow::ensure!(whep.replace(*addr).is_none(), "--output whep is given twice");
            }
            OutputArg::Whip(url) => {
                anyhow::ensure!(whip.replace(url.clone()).is_none(), "--output whip is given twice");
            }
            OutputArg::Window | OutputArg::Headless => {}
            OutputArg::Frames(f) => frame_outputs.push(f.clone()),
        }
    }
    anyhow::ensure!(
        frame_outputs.iter().filter(|f| f.is_stdout()).count() <= 1,
        "only one --output can go to standard output"
    );
    let sync_marker = args.sync_marker || matches!(input, LiveInput::TestPattern);
    let streaming = whep.is_some() || whip.is_some();
    anyhow::ensure!(!args.sync_marker || streaming, "--sync-marker marks streamed frames: add --output whep or whip");
    // A window by default; with a WebRTC, pipe or camera output only when asked for (a server has no
    // display, and a pipe's user wants the frames, not a window).
    let elsewhere = streaming || !frame_outputs.is_empty();
    let window = outputs.contains(&OutputArg::Window)
        || (!elsewhere && !args.headless && !outputs.contains(&OutputArg::Headless));
    anyhow::ensure!(
        !(window && (args.headless || outputs.contains(&OutputArg::Headless))),
        "--output window and headless exclude each other"
    );
    let stream = streaming.then(|| pipeline::live::StreamOptions {
        whep,
        whip,
        size: (frame.width_px(), frame.height_px()),
        token: token("FACECAST_TOKEN", &config.stream.token),
        whip_token: token("FACECAST_WHIP_TOKEN", &config.stream.whip_token),
        config: config.stream.clone(),
    });
    anyhow::ensure!((1..=120).contains(&args.head_fps), "--head-fps {} must be in 1..=120", args.head_fps);
    let head_from = args.head_from.as_deref().map(|s| match camera_index(s, "--head-from") {
        Some(index) => index.map(camera_source),
        None => Ok(HeadFrom::Path { path: PathBuf::from(s), fps: args.head_fps }),
    });
    let head_from = head_from.transpose()?;
    let portrait = match args.portrait.as_deref().and_then(|p| camera_index(p.to_str()?, "--portrait")) {
        Some(index) => {
            let snapshot = pipeline::snapshot::SnapshotJob {
                source: camera_source(index?),
                countdown_secs: 3,
                preview: window,
                save_to: pipeline::snapshot::default_snapshot_path(),
            };
            Input::File(pipeline::snapshot::take_portrait(&snapshot, &config).context("--portrait camera")?)
        }
        None => args.portrait.map_or_else(Input::default_portrait, Input::File),
    };
    let control = match args.control.as_deref().or(Some(live_cfg.control.as_str()).filter(|c| !c.is_empty())) {
        Some(addr) => Some(ControlSpec {
            addr: parse_addr(addr).map_err(|_| anyhow::anyhow!("--control {addr}: ADDR must be PORT or IP:PORT"))?,
            token: token("FACECAST_TOKEN", &config.stream.token),
        }),
        None => None,
    };
    let stop = Arc::clone(stop);
    let job = LiveJob {
        portrait,
        input,
        output: if window {
            LiveOutput::Window { fullscreen: args.fullscreen || live_cfg.fullscreen, hud: args.hud || live_cfg.hud }
        } else {
            LiveOutput::Headless
        },
        frame,
        config,
        stats_json: args.stats_json,
        motion_out: args.motion_out,
        duration_secs: args.duration,
        stop,
        sync_marker,
        stream,
        frame_outputs,
        head_from,
        vmc: args.vmc,
        control,
    };
    let stats = pipeline::live::run_live(&job).context("live loop failed")?;
    eprint!("{}", stats.summary_text());
    Ok(())
}

fn devices(args: DevicesArgs) -> Result<()> {
    let devices = pipeline::devices::list();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&devices.to_json())?);
    } else {
        print!("{}", devices.to_text());
    }
    Ok(())
}

fn render(args: RenderArgs, stop: &Arc<AtomicBool>) -> Result<()> {
    let mut config = args.config.load()?;
    let frame = args.frame.geometry(&config.output)?;
    apply_background(&mut config, args.background.as_deref())?;
    let job = RenderJob {
        portrait: Input::File(args.portrait),
        audio: Input::File(args.audio),
        output: args.output,
        frame,
        motion_out: args.motion_out,
        sheet_out: args.sheet,
        frames_dir: args.frames_dir,
        raw_out: args.raw_out,
        config,
        progress: !args.json,
        stop: Arc::clone(stop),
    };
    let summary = pipeline::render_offline(&job).context("render failed")?;
    // With raw frames on standard output, the summary goes to standard error.
    let raw_to_stdout = job.raw_to_stdout();
    let mut out: Box<dyn Write> = if raw_to_stdout { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        write!(out, "{}", summary.to_text(&job))?;
    }
    Ok(())
}

fn bench(args: BenchArgs, stop: &Arc<AtomicBool>) -> Result<()> {
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    let config = args.config.load()?;
    let frame = args.frame.geometry(&config.output)?;
    let dir = std::env::temp_dir().join(format!("facecast-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let job = RenderJob {
        portrait: args.portrait.map_or_else(Input::default_portrait, Input::File),
        audio: args.audio.map_or_else(Input::default_speech, Input::File),
        output: dir.join("bench.mp4"),
        frame,
        motion_out: None,
        sheet_out: None,
        frames_dir: None,
        raw_out: None,
        config,
        progress: false,
        stop: Arc::clone(stop),
    };
    let report = pipeline::bench::bench(&job, args.runs, |i, s| {
        if !args.json {
            eprintln!("run {}/{}: {:.2} s", i + 1, args.runs, s.wall_secs);
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let report = report.context("bench failed")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
