//! The host's audio devices, inputs (the microphone) and outputs (`--speaker`): listed for `facecast
//! devices` and found by name.
//!
//! Input: a direction and a device name, or none for the host's default. Output: cpal devices, or
//! [`AudioDeviceInfo`] rows. Thread: the caller's.

use cpal::traits::{DeviceTrait, HostTrait};

use super::LiveAudioError;

/// One audio device, input or output, as `facecast devices` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AudioDeviceInfo {
    /// The host's short id for it (ALSA's PCM name: `pulse`, `hw:CARD=PCH,DEV=0`): what to pass to
    /// `--input mic:NAME` (an input) or `--speaker NAME` (an output). Unique, unlike the name.
    pub id: String,
    /// Its description (`PulseAudio Sound Server`), which the options take too.
    pub name: String,
    /// Whether it is the host's default input (output).
    pub is_default: bool,
    /// Its default rate, channels and sample format, if it reports them.
    pub default_config: Option<String>,
}

/// Which of the host's devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Capture: `--input mic[:NAME]`.
    Input,
    /// Playback: `--speaker [NAME]`.
    Output,
}

impl Direction {
    fn devices(self, host: &cpal::Host) -> Result<Vec<cpal::Device>, LiveAudioError> {
        let devices = match self {
            Self::Input => host.input_devices().map(Iterator::collect),
            Self::Output => host.output_devices().map(Iterator::collect),
        };
        devices.map_err(|e| LiveAudioError::NoDevice(e.to_string()))
    }

    fn default_device(self, host: &cpal::Host) -> Option<cpal::Device> {
        match self {
            Self::Input => host.default_input_device(),
            Self::Output => host.default_output_device(),
        }
    }

    fn default_config(self, device: &cpal::Device) -> Option<cpal::SupportedStreamConfig> {
        match self {
            Self::Input => device.default_input_config().ok(),
            Self::Output => device.default_output_config().ok(),
        }
    }
}

/// The default host's devices of `direction`.
///
/// # Errors
/// [`LiveAudioError::NoDevice`] when the host cannot enumerate devices.
pub(super) fn list(direction: Direction) -> Result<Vec<AudioDeviceInfo>, LiveAudioError> {
    let host = cpal::default_host();
    let default_id = direction.default_device(&host).map(|d| short_id(&d));
    Ok(direction
        .devices(&host)?
        .into_iter()
        .map(|d| {
            let id = short_id(&d);
            AudioDeviceInfo {
                is_default: default_id.as_deref() == Some(id.as_str()),
                name: d.to_string(),
                default_config: direction
                    .default_config(&d)
                    .map(|c| format!("{} Hz, {} ch, {:?}", c.sample_rate(), c.channels(), c.sample_format())),
                id,
            }
        })
        .collect())
}

/// The host's own id for `device`, without the host's name (`pulse`, not `alsa:pulse`); its description
/// where the host gives no id.
fn short_id(device: &cpal::Device) -> String {
    device.id().map_or_else(|_| device.to_string(), |id| id.id().to_owned())
}

/// The device of `direction` whose id or description is `name`, or the host's default for `None`.
///
/// # Errors
/// [`LiveAudioError::NoDevice`] without a default, [`LiveAudioError::UnknownDevice`] (with the names
/// there are) for a name no device has.
pub(super) fn find(
    host: &cpal::Host,
    direction: Direction,
    name: Option<&str>,
) -> Result<cpal::Device, LiveAudioError> {
    let Some(want) = name else {
        return direction.default_device(host).ok_or_else(|| {
            LiveAudioError::NoDevice(match direction {
                Direction::Input => "the host has no default input".into(),
                Direction::Output => "the host has no default output (--speaker)".into(),
            })
        });
    };
    let devices = direction.devices(host)?;
    let found = devices.iter().find(|d| short_id(d) == want).or_else(|| devices.iter().find(|d| d.to_string() == want));
    found.cloned().ok_or_else(|| LiveAudioError::UnknownDevice {
        kind: match direction {
            Direction::Input => "input",
            Direction::Output => "output",
        },
        name: want.to_owned(),
        available: devices.iter().map(short_id).collect::<Vec<_>>().join(", "),
    })
}
