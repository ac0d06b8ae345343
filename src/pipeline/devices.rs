//! `facecast devices`: what each stage can find on this machine, gathered in one place.
//!
//! Input: nothing. Output: [`Devices`]: audio inputs and outputs, cameras and GPU adapters, each list or the reason
//! it could not be had. Thread: the caller's.

use crate::audio::live::AudioDeviceInfo;
use crate::portrait::camera::CameraInfo;

/// The devices every stage sees.
#[derive(Debug, serde::Serialize)]
pub struct Devices {
    /// Audio inputs (`--input mic:NAME`), or why they cannot be listed.
    pub audio_inputs: Result<Vec<AudioDeviceInfo>, String>,
    /// Audio outputs (`--speaker NAME`), or why they cannot be listed.
    pub audio_outputs: Result<Vec<AudioDeviceInfo>, String>,
    /// Cameras, or why they cannot be listed.
    pub cameras: Result<Vec<CameraInfo>, String>,
    /// GPU adapters, as "name (backend, type)".
    pub gpu_adapters: Vec<String>,
}

/// Asks audio, portrait and render for their devices.
pub fn list() -> Devices {
    Devices {
        audio_inputs: crate::audio::live::input_devices().map_err(|e| e.to_string()),
        audio_outputs: crate::audio::live::output_devices().map_err(|e| e.to_string()),
        cameras: crate::portrait::camera::list(),
        gpu_adapters: crate::gpu::adapters(),
    }
}

impl Devices {
    /// The lists as JSON: each list, or `{"error": reason}` in its place.
    pub fn to_json(&self) -> serde_json::Value {
        fn list<T: serde::Serialize>(l: &Result<Vec<T>, String>) -> serde_json::Value {
            match l {
                Ok(items) => serde_json::to_value(items).unwrap_or_default(),
                Err(e) => serde_json::json!({ "error": e }),
            }
        }
        serde_json::json!({
            "audio_inputs": list(&self.audio_inputs),
            "audio_outputs": list(&self.audio_outputs),
            "cameras": list(&self.cameras),
            "gpu_adapters": self.gpu_adapters,
        })
    }

    /// The lists as text, one section each.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        audio_section(&mut out, "audio inputs (--input mic:NAME):", &self.audio_inputs);
        audio_section(&mut out, "audio outputs (--speaker NAME):", &self.audio_outputs);
        let _ = writeln!(out, "cameras (--head-from camera:N):");
        match &self.cameras {
            Ok(list) if list.is_empty() => out.push_str("  none\n"),
            Ok(list) => {
                for c in list {
                    let _ = writeln!(out, "  {} {} ({})", c.index, c.name, c.description);
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  cannot list: {e}");
            }
        }
        out.push_str("GPU adapters:\n");
        if self.gpu_adapters.is_empty() {
            out.push_str("  none\n");
        }
        for a in &self.gpu_adapters {
            let _ = writeln!(out, "  {a}");
        }
        out
    }
}

/// One list of audio devices as text: a heading, then a device a line.
fn audio_section(out: &mut String, heading: &str, devices: &Result<Vec<AudioDeviceInfo>, String>) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "{heading}");
    match devices {
        Ok(list) if list.is_empty() => out.push_str("  none\n"),
        Ok(list) => {
            for d in list {
                let _ = writeln!(
                    out,
                    "  {}  ({}){}{}",
                    d.id,
                    d.name,
                    if d.is_default { " (default)" } else { "" },
                    d.default_config.as_ref().map(|c| format!("  [{c}]")).unwrap_or_default()
                );
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  cannot list: {e}");
        }
    }
}
