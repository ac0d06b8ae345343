//! The command line's arguments (clap): each subcommand's flags, with the help text users read.
//!
//! Input: the process's arguments. Output: [`Cli`]. Thread: the main thread, once.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use facecast::Config;
use facecast::pipeline::live::PcmSpec;
use facecast::vocab::FrameGeometry;

/// facecast: a portrait that talks along with speech.
///
/// Renders a reference portrait speaking an audio file to an H.264 MP4, offline. The audio drives a
/// motion model (ONNX), whose output moves first-order-motion keypoints on the face, and a GPU warp
/// (wgpu; a software adapter where there is no GPU) draws each frame.
#[derive(Parser)]
#[command(name = "facecast", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Render a portrait speaking an audio file to an MP4 (H.264 video, AAC audio).
    Render(RenderArgs),
    /// Time every stage of the offline render on the bundled clip and report per-item costs.
    Bench(BenchArgs),
    /// Make the portrait talk along with live audio (a microphone, a file played in real time, raw PCM
    /// on standard input, or speech sent to the control API), in real time: in a window, as WebRTC to
    /// browsers (WHEP) and media servers (WHIP), as a virtual camera or a pipe, or as VMC to a VTuber
    /// tool. Esc, closing the window or Ctrl-C stops it.
    Live(LiveArgs),
    /// Say one text through the avatar, live (a window, or any --output of `facecast live`), with
    /// espeak-ng or the `[tts] command`; the mouth follows the phone times the engine reports (espeak-ng
    /// does; a command with {phones} does). It ends when the sentence does.
    Say(SayArgs),
    /// List audio input and output devices, cameras and GPU adapters.
    Devices(DevicesArgs),
}

#[derive(clap::Args)]
pub(crate) struct SayArgs {
    /// What to say.
    pub(crate) text: String,
    /// The voice: an espeak-ng voice (en, en-us, de, fr+f3, ...), or `{voice}` in the `[tts] command`.
    #[arg(long)]
    pub(crate) voice: Option<String>,
    #[command(flatten)]
    pub(crate) live: LiveArgs,
}

#[derive(clap::Args)]
pub(crate) struct LiveArgs {
    /// The reference portrait; the bundled one when omitted. "camera" or "camera:N" takes it with a
    /// camera: a preview window counts down 3-2-1 (headless: the log does), the picture must show one
    /// face, and it is saved as facecast-portrait-<time>.png to reuse with --portrait FILE.
    #[arg(long, value_name = "IMG|camera[:N]")]
    pub(crate) portrait: Option<PathBuf>,
    /// The audio: "mic" (the default input device), "mic:NAME" (a device from `facecast devices`),
    /// a file played in real time (see --loop), "-" for raw PCM on standard input (see --pcm),
    /// "test-pattern" (a 1 kHz beep about every second, with --sync-marker on: for checking A/V sync),
    /// or "api" (speech POSTed to the control API, see --control; the avatar idles in between).
    /// Default: `[live] input`, "mic".
    #[arg(long, short, value_name = "mic|mic:NAME|FILE|-|test-pattern|api")]
    pub(crate) input: Option<String>,
    /// Serve the control API (POST /speak, DELETE /speak, GET /health, /metrics, /events) at ADDR
    /// (default 127.0.0.1:8080, a port alone binds 127.0.0.1; the WHEP server's own address shares its
    /// server). Beyond loopback it needs a bearer token ([stream] token or FACECAST_TOKEN). Goes with
    /// --input api. Default: `[live] control` (empty: no API).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    pub(crate) control: Option<String>,
    /// Play the input file over and over, forever (a kiosk loop, a test stream).
    #[arg(long = "loop")]
    pub(crate) looping: bool,
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
    pub(crate) output: Vec<String>,
    /// Send each frame's lip sync and head over VMC (OSC over UDP) to a VTuber tool (VSeeFace, VNyan,
    /// Warudo): the VRM blendshapes A I U E O Blink_L Blink_R (VRM 1.0 names with [output] vmc_names =
    /// "vrm1"), facecast's other parameters under their own names, and the head bone.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) vmc: Option<SocketAddr>,
    /// Drive the avatar's head turns, tilts, blinks and gaze with a face: "camera" (the first camera),
    /// "camera:N" (a camera from `facecast devices`), a video file or a folder of images (played in
    /// real time at --head-fps). The voice still drives the mouth; without a face the avatar idles.
    #[arg(long, value_name = "camera[:N]|FILE|DIR")]
    pub(crate) head_from: Option<String>,
    /// Play the speech on a local output device too (a kiosk's own loudspeaker), in step with the
    /// frames: NAME as `facecast devices` lists outputs, the default output when left out. The WebRTC
    /// audio goes out either way; "none" turns off a config's loudspeaker. Default: `[live] speaker`
    /// (empty: none).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub(crate) speaker: Option<String>,
    /// The frame rate of a --head-from video or folder.
    #[arg(long, default_value_t = 30, value_name = "FPS")]
    pub(crate) head_fps: u32,
    /// Paint an A/V sync marker into the streamed frames: a corner square, white while the sound the
    /// frame shows is loud (a clap, a beep). On with --input test-pattern.
    #[arg(long)]
    pub(crate) sync_marker: bool,
    /// The layout of raw PCM on standard input: FORMAT:RATE:CHANNELS, FORMAT s16le or f32le.
    #[arg(long, default_value_t = PcmSpec::default(), value_name = "FMT:RATE:CH")]
    pub(crate) pcm: PcmSpec,
    #[command(flatten)]
    pub(crate) frame: FrameArgs,
    /// Open the window full screen (kiosks). Also `[live] fullscreen`.
    #[arg(long)]
    pub(crate) fullscreen: bool,
    /// Draw an overlay with fps, latency p50/p99 and drops. Also `[live] hud`.
    #[arg(long)]
    pub(crate) hud: bool,
    /// No window: render and read back every frame, then drop it or stream it (benchmarks, servers,
    /// machines without a display). The same as --output headless.
    #[arg(long)]
    pub(crate) headless: bool,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub(crate) duration: Option<f64>,
    /// Write latency and frame statistics as JSON here every 10 s and at exit.
    #[arg(long, value_name = "FILE.json")]
    pub(crate) stats_json: Option<PathBuf>,
    /// Write every frame's motion as JSON lines (README's format; t_secs from the start of the loop,
    /// audio_t_secs the input's position of the sound each frame shows).
    #[arg(long, value_name = "FILE.jsonl")]
    pub(crate) motion_out: Option<PathBuf>,
    /// Background: keep, alpha, "#rrggbb" or an image file (as for render). With alpha the window is
    /// transparent around the person where the window system composites windows (X11 with a
    /// compositor, Wayland, macOS, Windows). WebRTC video has no alpha channel.
    #[arg(long, value_name = "MODE")]
    pub(crate) background: Option<String>,
    #[command(flatten)]
    pub(crate) config: ConfigArg,
}

#[derive(clap::Args)]
pub(crate) struct DevicesArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct RenderArgs {
    /// The reference portrait (PNG, JPEG, WebP, BMP) with one visible face.
    #[arg(long, value_name = "IMG")]
    pub(crate) portrait: PathBuf,
    /// The speech (WAV, FLAC, MP3, OGG/Vorbis, AAC/M4A), any rate and channel count.
    #[arg(long, value_name = "AUDIO", required_unless_present = "text", conflicts_with = "text")]
    pub(crate) audio: Option<PathBuf>,
    /// A text to speak instead of --audio (espeak-ng, or the `[tts] command`); the mouth follows the
    /// phone times the engine reports.
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// The voice for --text: an espeak-ng voice (en, en-us, de, ...), or `{voice}` in the `[tts] command`.
    #[arg(long, requires = "text")]
    pub(crate) voice: Option<String>,
    /// The MP4 to write; its folder is created if missing.
    #[arg(long, short, value_name = "OUT.mp4")]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) frame: FrameArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Also write the motion of every frame as JSON lines (format: README.md).
    #[arg(long, value_name = "FILE.jsonl")]
    pub(crate) motion_out: Option<PathBuf>,
    /// Also write a contact sheet: 12 frames spread over the render, with mouth opening bars.
    #[arg(long, value_name = "FILE.png")]
    pub(crate) sheet: Option<PathBuf>,
    /// What shows behind the person: keep (the portrait's own), alpha (transparent; needs
    /// --frames-dir or --raw-out), a colour "#rrggbb", or an image file. Overrides [background] in the
    /// config.
    #[arg(long, value_name = "MODE")]
    pub(crate) background: Option<String>,
    /// Also write every frame as an RGBA PNG into this folder (frame_000000.png, ...): the output that
    /// keeps alpha.
    #[arg(long, value_name = "DIR")]
    pub(crate) frames_dir: Option<PathBuf>,
    /// Also write every frame as raw RGBA8 (SIZE x SIZE x 4 bytes, no header, straight alpha) to this
    /// file, or to standard output with "-" (the summary then goes to standard error). For example:
    /// --raw-out - | ffmpeg -f rawvideo -pix_fmt rgba -s 512x512 -r 30 -i - -c:v qtrle out.mov
    #[arg(long, value_name = "FILE|-")]
    pub(crate) raw_out: Option<PathBuf>,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Runs to make; the median of each figure is reported.
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: usize,
    #[command(flatten)]
    pub(crate) frame: FrameArgs,
    /// Portrait to use instead of the bundled one.
    #[arg(long)]
    pub(crate) portrait: Option<PathBuf>,
    /// Audio to use instead of the bundled clip.
    #[arg(long)]
    pub(crate) audio: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) config: ConfigArg,
}

/// The frame every command renders: `--size` and `--fps`, checked together before any work starts.
#[derive(clap::Args)]
pub(crate) struct FrameArgs {
    /// Frame size in pixels: a side (512: square) or WIDTHxHEIGHT (640x480, 1280x720 as call apps
    /// expect; the face fills the height, the portrait continues beside it). Even, at most 3840x2160;
    /// a window scales it. Default: `[output] size`, 512.
    #[arg(long, value_name = "N|WxH")]
    pub(crate) size: Option<String>,
    /// Frames per second (1..=120). Default: `[output] fps`, 30.
    #[arg(long)]
    pub(crate) fps: Option<u32>,
}

impl FrameArgs {
    pub(crate) fn geometry(&self, cfg: &facecast::config::OutputConfig) -> Result<FrameGeometry> {
        let (width, height) = facecast::vocab::frame::parse_size(self.size.as_deref().unwrap_or(&cfg.size))?;
        Ok(FrameGeometry::new(width, height, self.fps.unwrap_or(cfg.fps))?)
    }
}

/// `--config`, the same for every command.
#[derive(clap::Args)]
pub(crate) struct ConfigArg {
    /// A TOML config; see configs/default.toml for every key and its default.
    #[arg(long, value_name = "FILE.toml")]
    pub(crate) config: Option<PathBuf>,
}

impl ConfigArg {
    pub(crate) fn load(&self) -> Result<Config> {
        Ok(match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        })
    }
}
