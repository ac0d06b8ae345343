//! The live sections: `[live]`, what `facecast live` does when its command line does not say (so that a
//! preset, configs/kiosk.toml, streaming.toml or video-call.toml, is one file; a flag given wins),
//! `[control]`, the control API's limits, and `[tts]`, the text-to-speech engine.
//!
//! Input: their TOML tables. Output: [`LiveConfig`], [`ControlConfig`], [`TtsConfig`]. Thread: the
//! caller's, at start-up.

use serde::{Deserialize, Serialize};

/// `[live]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// `--input`: "mic", "mic:NAME", a file, "-", "test-pattern" or "api".
    pub input: String,
    /// `--output`, each as the flag takes it; empty: a window. Any `--output` flag replaces the list.
    pub outputs: Vec<String>,
    /// `--control`: serve the control API at this address; empty: no API (unless `--control`).
    pub control: String,
    /// `--fullscreen`.
    pub fullscreen: bool,
    /// `--hud`.
    pub hud: bool,
    /// `--speaker`: play the speech on this output device too, "default" for the default output;
    /// empty: no loudspeaker (unless `--speaker`).
    pub speaker: String,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            input: "mic".into(),
            outputs: Vec::new(),
            control: String::new(),
            fullscreen: false,
            hud: false,
            speaker: String::new(),
        }
    }
}

/// `[control]`: the control API's limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// The longest speech one `POST /speak` or `/say` may hold, seconds.
    pub max_speech_secs: f64,
    /// The longest text one `POST /say` may hold, characters.
    pub max_say_chars: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self { max_speech_secs: 300.0, max_say_chars: 5000 }
    }
}

/// `[tts]`: the text-to-speech engine of `POST /say`, `facecast say` and `facecast render --text`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TtsConfig {
    /// A command that writes a WAV file, `{wav}` in it; `{text}` and `{voice}` are filled in (the text
    /// goes to its standard input where it has no `{text}`); with `{phones}`, it also writes the time of
    /// each phone there (`START<TAB>END<TAB>NAME` a line: scripts/piper-say.py), and the mouth follows
    /// them. Empty: espeak-ng (its library times the phones).
    pub command: Vec<String>,
}
