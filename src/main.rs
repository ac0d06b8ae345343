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
use clap::Parser;
use facecast::Config;
use facecast::config::BackgroundMode;
use facecast::pipeline::live::{ControlSpec, FrameOutput, HeadFrom, LiveInput, LiveJob, LiveOutput};
use facecast::pipeline::{self, Input, PipelineError, RenderJob};

#[path = "main/args.rs"]
mod args;

use args::{BenchArgs, Cli, Command, DevicesArgs, LiveArgs, RenderArgs};

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
    // A panic inside the audio decoder on malformed input is caught and reported as that file's error;
    // its message and backtrace would only repeat it as noise. Every other panic prints as before.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !pipeline::decoder_panic_is_caught() {
            default_hook(info);
        }
    }));
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
        Command::Say(args) => say(args, &signals.stop),
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
    live_with_mouth(args, stop, None)
}

/// `facecast live`, with the mouth track of a spoken text where `facecast say` has one.
fn live_with_mouth(
    args: LiveArgs,
    stop: &Arc<AtomicBool>,
    mouth: Option<Arc<[facecast::vocab::MotionParams]>>,
) -> Result<()> {
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
        speaker: speaker_choice(args.speaker.as_deref(), &live_cfg.speaker),
        control,
        mouth,
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

/// `--speaker [NAME]` or `[live] speaker`: `None` for no loudspeaker, `Some(None)` for the default
/// output, `Some(Some(name))` for a named one. The flag wins; "default" and a bare flag mean the default,
/// "none" none (a preset's loudspeaker turned off).
fn speaker_choice(flag: Option<&str>, config: &str) -> Option<Option<String>> {
    let name = flag.or(Some(config).filter(|c| !c.is_empty()))?;
    if name == "none" {
        return None;
    }
    Some(Some(name.to_owned()).filter(|n| !n.is_empty() && n != "default"))
}

/// `facecast say TEXT`: the text spoken into a WAV, played live as `--input FILE` is.
fn say(mut args: args::SayArgs, stop: &Arc<AtomicBool>) -> Result<()> {
    anyhow::ensure!(args.live.input.is_none(), "facecast say speaks its text: it takes no --input");
    let config = args.live.config.load()?;
    let spoken = pipeline::spoken::SpokenText::new(&args.text, args.voice.as_deref(), &config)?;
    args.live.input = Some(spoken.path().display().to_string());
    live_with_mouth(args.live, stop, spoken.mouth().cloned())
}

fn render(args: RenderArgs, stop: &Arc<AtomicBool>) -> Result<()> {
    let mut config = args.config.load()?;
    let frame = args.frame.geometry(&config.output)?;
    apply_background(&mut config, args.background.as_deref())?;
    let spoken = match &args.text {
        Some(text) => Some(pipeline::spoken::SpokenText::new(text, args.voice.as_deref(), &config)?),
        None => None,
    };
    let audio = match (&spoken, args.audio) {
        (Some(s), _) => s.path().to_owned(),
        (None, Some(path)) => path,
        (None, None) => anyhow::bail!("give --audio FILE or --text TEXT"),
    };
    let job = RenderJob {
        portrait: Input::File(args.portrait),
        audio: Input::File(audio),
        output: args.output,
        frame,
        motion_out: args.motion_out,
        sheet_out: args.sheet,
        frames_dir: args.frames_dir,
        raw_out: args.raw_out,
        config,
        progress: !args.json,
        stop: Arc::clone(stop),
        mouth: spoken.as_ref().and_then(|s| s.mouth().cloned()),
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
        mouth: None,
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

#[cfg(test)]
mod tests {
    use super::speaker_choice;

    #[test]
    fn the_speaker_flag_wins_over_the_config_and_none_turns_it_off() {
        assert_eq!(speaker_choice(None, ""), None, "no flag, no config: no loudspeaker");
        assert_eq!(speaker_choice(None, "default"), Some(None));
        assert_eq!(speaker_choice(Some(""), ""), Some(None), "a bare --speaker: the default output");
        assert_eq!(speaker_choice(Some("hw:1,0"), "default"), Some(Some("hw:1,0".into())));
        assert_eq!(speaker_choice(Some("none"), "default"), None, "the kiosk preset's loudspeaker, off");
        assert_eq!(speaker_choice(None, "pulse"), Some(Some("pulse".into())));
    }
}
