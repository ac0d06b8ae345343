//! The `[live]` section: what `facecast live` does when its command line does not say, so that a preset
//! (configs/kiosk.toml, configs/streaming.toml, configs/video-call.toml) is one file.
//!
//! Input: its TOML table. Output: [`LiveConfig`]. Thread: the caller's, at start-up. Each key is the
//! default of the flag of the same name; a flag given on the command line wins.

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
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self { input: "mic".into(), outputs: Vec::new(), control: String::new(), fullscreen: false, hud: false }
    }
}
