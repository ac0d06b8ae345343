//! The output side's sections of the config: `[background]`, `[output]` and `[stream]`.
//!
//! Input: their TOML tables. Output: the typed sections. Thread: the caller's, at start-up.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// What shows behind the person.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackgroundMode {
    /// The portrait's own background.
    Keep,
    /// A solid colour (`color`).
    Color,
    /// A replacement image (`image`), scaled to cover the frame.
    Image,
    /// Transparent: frames carry the person mask as alpha (PNG sequence or raw RGBA; an MP4 has no alpha).
    Alpha,
}

/// `[background]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BackgroundConfig {
    /// keep, color, image or alpha.
    pub mode: BackgroundMode,
    /// The colour of `color` mode, "#rrggbb".
    pub color: String,
    /// The picture of `image` mode.
    pub image: Option<PathBuf>,
    /// Pull the mask's soft edge onto the portrait's own edges (hair) with a guided filter.
    pub refine_edges: bool,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        Self { mode: BackgroundMode::Keep, color: "#00b140".into(), image: None, refine_edges: true }
    }
}

impl BackgroundConfig {
    /// The colour as linear 0..1 RGB values of the sRGB bytes (no conversion: the frame is sRGB bytes too).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] unless `color` is "#rrggbb".
    pub fn rgb(&self) -> Result<[f32; 3], ConfigError> {
        let hex = self.color.strip_prefix('#').filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()));
        let hex = hex.ok_or_else(|| {
            ConfigError::Invalid(format!("background.color must look like \"#00b140\", not {:?}", self.color))
        })?;
        let byte = |i: usize| f32::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        Ok([byte(0), byte(2), byte(4)])
    }

    /// Whether this mode needs the person mask.
    pub fn needs_mask(&self) -> bool {
        self.mode != BackgroundMode::Keep
    }
}

/// `[output]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// H.264 target bitrate, kbit/s.
    pub video_bitrate_kbps: u32,
    /// AAC bitrate of the muxed audio, kbit/s.
    pub audio_bitrate_kbps: u32,
    /// The ffmpeg executable used to mux video and audio into MP4.
    pub ffmpeg: PathBuf,
    /// `--vmc`: the names of the vowel and blink blendshapes, `vrm0` (`A I U E O Blink_L Blink_R`) or
    /// `vrm1` (`aa ih ou ee oh blinkLeft blinkRight`).
    pub vmc_names: VrmNames,
    /// The frame size when `--size` is not given: a side (`"512"`) or `"WIDTHxHEIGHT"`.
    pub size: String,
    /// The frame rate when `--fps` is not given.
    pub fps: u32,
    /// Draw the disclosure mark (`disclosure_text`) over a corner of every frame, live and rendered,
    /// and tag MP4 files as synthetic (the EU AI Act's Article 50 asks deployers to say so).
    pub disclosure: bool,
    /// The mark's text.
    pub disclosure_text: String,
    /// The mark's corner: `top-left`, `top-right`, `bottom-left` or `bottom-right`.
    pub disclosure_corner: MarkCorner,
}

/// `[output] disclosure_corner`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MarkCorner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

/// `[output] vmc_names`: which VRM version's blendshape names VMC out uses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VrmNames {
    /// VRM 0.x: `A I U E O Blink_L Blink_R`.
    Vrm0,
    /// VRM 1.0: `aa ih ou ee oh blinkLeft blinkRight`.
    Vrm1,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            video_bitrate_kbps: 2500,
            audio_bitrate_kbps: 128,
            ffmpeg: PathBuf::from("ffmpeg"),
            vmc_names: VrmNames::Vrm0,
            size: "512".into(),
            fps: 30,
            disclosure: true,
            disclosure_text: "AI-generated".into(),
            disclosure_corner: MarkCorner::BottomRight,
        }
    }
}

/// `[stream]`: WebRTC out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// H.264 target bitrate, kbit/s.
    pub video_bitrate_kbps: u32,
    /// Opus bitrate, kbit/s.
    pub audio_bitrate_kbps: u32,
    /// A keyframe at least this often, seconds (and whenever a viewer joins or asks).
    pub keyframe_interval_secs: f64,
    /// WHEP sessions at once, counting those still connecting.
    pub max_viewers: usize,
    /// The bearer token WHEP asks for; `FACECAST_TOKEN` overrides it. Empty: none on loopback, and a
    /// bind beyond loopback refuses to start.
    pub token: String,
    /// The bearer token sent to the WHIP server; `FACECAST_WHIP_TOKEN` overrides it.
    pub whip_token: String,
    /// STUN/TURN server URLs for ICE, e.g. "stun:stun.l.google.com:19302", "turn:turn.example:3478".
    pub ice_servers: Vec<String>,
    /// The user name and credential for the TURN servers among `ice_servers`.
    pub turn_username: String,
    /// See `turn_username`.
    pub turn_credential: String,
    /// Public IP addresses to announce beside the host's own, for a server behind 1:1 NAT (a cloud
    /// VM's elastic IP).
    pub public_ips: Vec<String>,
    /// Sends the audio this much later (negative: earlier) than the measured sync says, ms. Receivers
    /// hold audio in a jitter buffer some tens of ms deeper than video (Chromium's NetEq, measured in
    /// README.md), so the default sends it 20 ms early to make up for part of that.
    pub av_offset_ms: f64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            video_bitrate_kbps: 1500,
            audio_bitrate_kbps: 32,
            keyframe_interval_secs: 4.0,
            max_viewers: 16,
            token: String::new(),
            whip_token: String::new(),
            ice_servers: Vec::new(),
            turn_username: String::new(),
            turn_credential: String::new(),
            public_ips: Vec::new(),
            av_offset_ms: -20.0,
        }
    }
}
