//! facecast's configuration: one TOML file, every key optional, every default sane.
//!
//! configs/default.toml lists every key with its default and what it does. Unknown keys are an error,
//! so a typo never silently does nothing.
//!
//! Input: a TOML file (or nothing: the defaults). Output: [`Config`], validated, one section per stage. Thread: the
//! caller's, at start-up.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod live;
mod output;

pub use live::{ControlConfig, LiveConfig, TtsConfig};
pub use output::{BackgroundConfig, BackgroundMode, MarkCorner, OutputConfig, StreamConfig, VrmNames};

/// Errors from reading a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for facecast's config.
    #[error("invalid config {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A value is out of its range.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// What is done to the speech before the features.
    pub audio: AudioConfig,
    /// The audio-to-motion model.
    pub motion: MotionConfig,
    /// The One Euro filter over keypoints and Jacobians.
    pub smoothing: SmoothingConfig,
    /// Face finding and framing.
    pub portrait: PortraitConfig,
    /// How motion parameters move the keypoints, and how far.
    pub rig: RigConfig,
    /// The H.264/MP4 file sink, the frame size and the disclosure.
    pub output: OutputConfig,
    /// `facecast live`'s defaults for its flags (presets).
    pub live: LiveConfig,
    /// The control API's limits.
    pub control: ControlConfig,
    /// The text-to-speech engine.
    pub tts: TtsConfig,
    /// Idle life that no audio drives (blinks).
    pub idle: IdleConfig,
    /// What shows behind the person.
    pub background: BackgroundConfig,
    /// WebRTC out (WHEP viewers, WHIP push).
    pub stream: StreamConfig,
}

/// `[idle]`: motion with no audio behind it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IdleConfig {
    /// Blink at random intervals.
    pub blinks: bool,
    /// Blinks come this far apart, seconds, drawn uniformly from [min, max].
    pub blink_interval_secs: [f32; 2],
    /// How long one blink lasts, seconds.
    pub blink_duration_secs: f32,
    /// Seed of the random intervals and phases, so a render can be repeated exactly.
    pub seed: u64,
    /// Slow head sway; 0 switches it off. At 1: yaw within +-3 degrees, pitch and roll within +-1.5.
    pub sway_gain: f32,
    /// Nods with speech emphasis; 0 switches them off. At 1: up to 3 degrees down on stressed syllables.
    pub nod_gain: f32,
    /// Breathing, a 4 s rise and fall of head and shoulders; 0 switches it off.
    pub breathing_gain: f32,
    /// Small, quick shifts of gaze (saccades) at random intervals.
    pub saccades: bool,
    /// Saccades come this far apart, seconds, drawn uniformly from [min, max].
    pub saccade_interval_secs: [f32; 2],
    /// How far a saccade may look away from straight ahead, 0..1 of the gaze range (half that
    /// vertically).
    pub gaze_range: f32,
}

impl Default for IdleConfig {
    fn default() -> Self {
        Self {
            blinks: true,
            blink_interval_secs: [3.0, 5.0],
            blink_duration_secs: 0.15,
            seed: 7,
            sway_gain: 1.0,
            nod_gain: 1.0,
            breathing_gain: 1.0,
            saccades: true,
            saccade_interval_secs: [0.8, 2.5],
            gaze_range: 0.35,
        }
    }
}

impl IdleConfig {
    /// No idle motion: no blinks, saccades, sway, nods or breathing, so that only the audio moves the face.
    pub fn still() -> Self {
        Self { blinks: false, saccades: false, sway_gain: 0.0, nod_gain: 0.0, breathing_gain: 0.0, ..Self::default() }
    }
}

/// `[audio]`: the speech before the features.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Noise suppression (RNNoise) before the features in `facecast render`: in steady room noise the
    /// mouth keeps more of its closures. Not in `facecast live`, where it would add 64 ms of latency.
    pub denoise: bool,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self { denoise: true }
    }
}

/// `[motion]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MotionConfig {
    /// The offline render's ONNX audio-to-motion model; empty means the bundled trained quality model
    /// (models/motion_quality.onnx, 200 ms lookahead).
    pub model: Option<PathBuf>,
    /// The live loop's model; empty means the bundled trained live model (models/motion_live.onnx,
    /// no lookahead).
    pub live_model: Option<PathBuf>,
    /// With other people talking, the offline render blends in a model trained among other voices: by
    /// as much noise as the noise suppression (`[audio] denoise`) leaves in the speech, hop by hop
    /// (`Denoiser::take_hop_noise`), so that clean speech, and steady noise that RNNoise takes away, are
    /// the main model's alone (models/README.md, "Among other voices"). On by default; off without
    /// `[audio] denoise`.
    pub noise_blend: bool,
    /// That noisy-room model; empty means the bundled one (models/motion_noise.onnx, 200 ms lookahead,
    /// as the main model must have).
    pub noise_model: Option<PathBuf>,
    /// ONNX Runtime intra-op threads for the motion model.
    pub threads: usize,
    /// The execution provider: cpu, cuda, webgpu, directml, coreml or auto (the first GPU provider the
    /// loaded ONNX Runtime has); the CPU where the one asked for is missing.
    pub provider: crate::onnx::Provider,
    /// Dead zone at rest of the mouth parameters, 0..0.5: values below it read as 0 (the rest are
    /// rescaled), so breaths and clicks leave the face still. 0 = off.
    pub rest_deadzone: f32,
    /// The lips meet as the jaw shuts: below this jaw opening (0..1 of its range) the portrait's own lip
    /// gap closes in proportion (`lip_close` at least `1 - jaw_open / lips_meet_jaw`), shut with the jaw.
    /// 0 = off: the lips part as the portrait has them unless the model closes them.
    pub lips_meet_jaw: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            model: None,
            live_model: None,
            noise_blend: true,
            noise_model: None,
            threads: 1,
            provider: crate::onnx::Provider::Cpu,
            rest_deadzone: 0.05,
            lips_meet_jaw: 0.5,
        }
    }
}

/// `[smoothing]`: One Euro filter (Casiez et al., CHI 2012) on the motion parameters that move the rig
/// (mouth, smile, brows, head), each in units of its full range, at the 100 Hz hop rate, before the rig.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SmoothingConfig {
    /// Off: the model's parameters drive the rig unfiltered.
    pub enabled: bool,
    /// Cutoff at rest, Hz. Lower removes more jitter and adds more lag on slow motion.
    pub min_cutoff_hz: f32,
    /// How fast the cutoff rises with speed: Hz per unit of a parameter's full range per second (a jaw
    /// opening from 0 to 1 in 100 ms moves at 10 units/s).
    pub beta: f32,
    /// Cutoff of the derivative estimate, Hz.
    pub d_cutoff_hz: f32,
    /// Offline renders only: filter backward as well as forward, which cancels the filter's lag.
    pub offline_zero_phase: bool,
    /// The live loop's cutoff at rest, Hz, in place of `min_cutoff_hz`: live, the filter's lag shows as
    /// lips trailing the voice (5 ms at 30 Hz against 53 ms at 3 Hz), and nothing cancels it.
    pub live_min_cutoff_hz: f32,
}

impl Default for SmoothingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_cutoff_hz: 3.0,
            beta: 2.0,
            d_cutoff_hz: 10.0,
            offline_zero_phase: true,
            live_min_cutoff_hz: 30.0,
        }
    }
}

/// `[portrait]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PortraitConfig {
    /// A BlazeFace short-range ONNX model; empty means the bundled one.
    pub detector_model: Option<PathBuf>,
    /// A Face Mesh (468 landmarks) ONNX model; empty means the bundled one.
    pub landmark_model: Option<PathBuf>,
    /// Minimum detection score (0..1) for a face to count.
    pub min_face_score: f32,
    /// Minimum Face Mesh presence score (0..1).
    pub min_presence: f32,
    /// Output framing: the side of the square crop, in face heights (forehead to chin). 0 keeps
    /// the whole image (letterboxed to a square).
    pub crop_face_heights: f32,
    /// Where the face centre sits in the crop, as a fraction of the crop side above its centre.
    pub crop_face_raise: f32,
}

impl Default for PortraitConfig {
    fn default() -> Self {
        Self {
            detector_model: None,
            landmark_model: None,
            min_face_score: 0.5,
            min_presence: 0.5,
            crop_face_heights: 2.8,
            crop_face_raise: 0.08,
        }
    }
}

/// `[rig]`: sizes are in face heights (forehead to chin), so the same parameters look alike on
/// any portrait.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RigConfig {
    /// How far the lower lip and chin drop at `jaw_open = 1`.
    pub max_jaw_drop: f32,
    /// Weight of the identity (background) term in the warp blend.
    pub background_weight: f32,
    /// Spread of the lip keypoints, in mouth widths: across the lip, then along it.
    pub lip_sigma: [f32; 2],
    /// Spread of jaw, chin and fixed anchor keypoints, in mouth widths.
    pub jaw_sigma: f32,
    /// What the opening mouth shows for teeth.
    pub teeth: Teeth,
}

impl Default for RigConfig {
    fn default() -> Self {
        Self {
            max_jaw_drop: 0.11,
            background_weight: 0.02,
            lip_sigma: [0.07, 0.16],
            jaw_sigma: 0.22,
            teeth: Teeth::Auto,
        }
    }
}

/// `[rig] teeth`: where the teeth in an opening mouth come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Teeth {
    /// The portrait's own where its lips are parted, synthesised where they are closed.
    Auto,
    /// Always the portrait's own mouth opening (nothing where it has none).
    Portrait,
    /// Always synthesised: upper teeth hanging from the upper lip, lower teeth when the mouth is wide open.
    Synthetic,
}

impl Config {
    /// Reads a TOML config file; keys it leaves out keep their defaults.
    ///
    /// # Errors
    /// [`ConfigError`] when the file cannot be read, does not parse, or holds values out of range.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let cfg: Self =
            toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), source: Box::new(e) })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks value ranges.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first key out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: &str| Err(ConfigError::Invalid(what.to_owned()));
        // Every number first: NaN or infinity in any key is refused by name (beta = inf drew a black
        // blob; nan passes every range test written as `!(x < lo)`).
        if let Some(key) =
            first_non_finite(&toml::Value::try_from(self).map_err(|e| ConfigError::Invalid(e.to_string()))?, "")
        {
            return Err(ConfigError::Invalid(format!("{key} must be a finite number")));
        }
        let s = &self.smoothing;
        let hz = 0.0..=1000.0;
        if ![s.min_cutoff_hz, s.live_min_cutoff_hz, s.d_cutoff_hz].iter().all(|v| *v > 0.0 && hz.contains(v))
            || !hz.contains(&s.beta)
        {
            return bad(
                "smoothing: min_cutoff_hz, live_min_cutoff_hz and d_cutoff_hz must be in (0, 1000], beta in 0..1000",
            );
        }
        let p = &self.portrait;
        if !(0.0..=1.0).contains(&p.min_face_score) || !(0.0..=1.0).contains(&p.min_presence) {
            return bad("portrait: min_face_score and min_presence must be in 0..1");
        }
        if !(p.crop_face_heights == 0.0 || (1.2..=20.0).contains(&p.crop_face_heights)) {
            return bad("portrait.crop_face_heights must be 0 (whole image) or in 1.2..20");
        }
        if !(-0.5..=0.5).contains(&p.crop_face_raise) {
            return bad("portrait.crop_face_raise must be in -0.5..0.5 (a fraction of the frame)");
        }
        let r = &self.rig;
        if !(0.0..=0.5).contains(&r.max_jaw_drop) {
            return bad("rig.max_jaw_drop must be in 0..0.5 face heights");
        }
        if ![r.background_weight, r.jaw_sigma, r.lip_sigma[0], r.lip_sigma[1]].iter().all(|v| *v > 0.0 && *v <= 10.0) {
            return bad("rig: background_weight and sigmas must be in (0, 10]");
        }
        self.background.rgb()?;
        if self.background.mode == BackgroundMode::Image && self.background.image.is_none() {
            return bad("background.mode = \"image\" needs background.image = \"picture.jpg\"");
        }
        if self.output.video_bitrate_kbps < 100 || self.output.audio_bitrate_kbps < 16 {
            return bad("output: video_bitrate_kbps >= 100 and audio_bitrate_kbps >= 16");
        }
        crate::vocab::frame::parse_size(&self.output.size)
            .and_then(|(w, h)| crate::vocab::FrameGeometry::new(w, h, self.output.fps))
            .map_err(|e| ConfigError::Invalid(format!("output.size / output.fps: {e}")))?;
        if !(1.0..=3600.0).contains(&self.control.max_speech_secs)
            || !(1..=100_000).contains(&self.control.max_say_chars)
        {
            return bad("control: max_speech_secs must be in 1..3600 and max_say_chars in 1..100000");
        }
        if !self.tts.command.is_empty() && !self.tts.command.iter().any(|a| a.contains("{wav}")) {
            return bad(
                "tts.command must write its speech to {wav} (e.g. [\"piper\", \"--model\", \"voice.onnx\", \"--output_file\", \"{wav}\"])",
            );
        }
        let text = &self.output.disclosure_text;
        if self.output.disclosure && !(1..=64).contains(&text.chars().count()) {
            return bad("output.disclosure_text must be 1 to 64 characters (or set disclosure = false)");
        }
        let i = &self.idle;
        if !(i.blink_interval_secs[0] > 0.0
            && i.blink_interval_secs[1] >= i.blink_interval_secs[0]
            && i.blink_interval_secs[1] <= 3600.0)
        {
            return bad("idle.blink_interval_secs must be [min, max] with 0 < min <= max <= 3600");
        }
        if !(0.05..=1.0).contains(&i.blink_duration_secs) {
            return bad("idle.blink_duration_secs must be in 0.05..1");
        }
        if [i.sway_gain, i.nod_gain, i.breathing_gain].iter().any(|g| !(0.0..=3.0).contains(g)) {
            return bad("idle: sway_gain, nod_gain and breathing_gain must be in 0..3");
        }
        if !(i.saccade_interval_secs[0] >= 0.1
            && i.saccade_interval_secs[1] >= i.saccade_interval_secs[0]
            && i.saccade_interval_secs[1] <= 3600.0)
        {
            return bad("idle.saccade_interval_secs must be [min, max] with 0.1 <= min <= max <= 3600");
        }
        if !(0.0..=1.0).contains(&i.gaze_range) {
            return bad("idle.gaze_range must be in 0..1");
        }
        if !(0.0..=0.5).contains(&self.motion.rest_deadzone) {
            return bad("motion.rest_deadzone must be in 0..0.5");
        }
        if !(0.0..=1.0).contains(&self.motion.lips_meet_jaw) {
            return bad("motion.lips_meet_jaw must be in 0..1 (0 = off)");
        }
        let st = &self.stream;
        if !(100..=20_000).contains(&st.video_bitrate_kbps) || !(8..=256).contains(&st.audio_bitrate_kbps) {
            return bad("stream: video_bitrate_kbps in 100..20000 and audio_bitrate_kbps in 8..256");
        }
        if !(-500.0..=500.0).contains(&st.av_offset_ms) {
            return bad("stream.av_offset_ms must be in -500..500");
        }
        if !(0.5..=60.0).contains(&st.keyframe_interval_secs) || !(1..=1000).contains(&st.max_viewers) {
            return bad("stream: keyframe_interval_secs in 0.5..60 and max_viewers in 1..1000");
        }
        if self.motion.threads == 0 {
            return bad("motion.threads must be >= 1");
        }
        Ok(())
    }
}

/// The dotted key of the first NaN or infinite float in `value`, if any.
fn first_non_finite(value: &toml::Value, key: &str) -> Option<String> {
    let join = |k: &str| if key.is_empty() { k.to_owned() } else { format!("{key}.{k}") };
    match value {
        toml::Value::Float(f) if !f.is_finite() => Some(key.to_owned()),
        toml::Value::Table(t) => t.iter().find_map(|(k, v)| first_non_finite(v, &join(k))),
        toml::Value::Array(a) => a.iter().enumerate().find_map(|(i, v)| first_non_finite(v, &format!("{key}[{i}]"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dotted keys of every float in the default config.
    fn float_keys(value: &toml::Value, key: &str, out: &mut Vec<String>) {
        let join = |k: &str| if key.is_empty() { k.to_owned() } else { format!("{key}.{k}") };
        match value {
            toml::Value::Float(_) => out.push(key.to_owned()),
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| float_keys(v, &join(k), out)),
            toml::Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| float_keys(v, &format!("{key}[{i}]"), out)),
            _ => {}
        }
    }

    /// `value` with the float at `key` replaced.
    fn set_float(value: &mut toml::Value, key: &str, to: f64) {
        let (head, rest) = key.split_once('.').map_or((key, None), |(h, r)| (h, Some(r)));
        let (name, index) = match head.split_once('[') {
            Some((n, i)) => (n, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
            None => (head, None),
        };
        let mut slot = &mut value.as_table_mut().unwrap()[name];
        if let Some(i) = index {
            slot = &mut slot.as_array_mut().unwrap()[i];
        }
        match rest {
            Some(rest) => set_float(slot, rest, to),
            None => *slot = toml::Value::Float(to),
        }
    }

    #[test]
    fn every_float_key_refuses_nan_and_infinity_by_name() {
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        let mut keys = Vec::new();
        float_keys(&defaults, "", &mut keys);
        assert!(keys.len() >= 25, "only {keys:?}");
        for key in &keys {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut v = defaults.clone();
                set_float(&mut v, key, bad);
                // Through the text a user writes (`beta = inf`), not only the struct.
                let text = toml::to_string(&v).unwrap();
                let cfg: Config = toml::from_str(&text).unwrap();
                let err = cfg.validate().expect_err(&format!("{key} = {bad} passed"));
                assert!(err.to_string().contains(key.as_str()), "{key} = {bad}: {err}");
            }
        }
    }

    #[test]
    fn finite_but_absurd_values_are_refused() {
        type Change = fn(&mut Config);
        let cases: [(&str, Change); 4] = [
            ("beta", |c| c.smoothing.beta = 1e30),
            ("crop_face_raise", |c| c.portrait.crop_face_raise = 7.0),
            ("sigmas", |c| c.rig.jaw_sigma = 1e9),
            ("blink_interval_secs", |c| c.idle.blink_interval_secs = [1.0, 1e12]),
        ];
        for (what, change) in cases {
            let mut cfg = Config::default();
            change(&mut cfg);
            let err = cfg.validate().expect_err(what);
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn default_file_matches_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/default.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
    }

    #[test]
    fn every_preset_loads_and_sets_what_it_is_for() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let load = |name: &str| Config::load(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let call = load("video-call.toml");
        assert_eq!(
            (call.output.size.as_str(), call.live.outputs.as_slice()),
            ("640x480", &["v4l2:/dev/video10".to_owned()][..])
        );
        let kiosk = load("kiosk.toml");
        assert_eq!((kiosk.live.input.as_str(), kiosk.live.control.as_str()), ("api", "127.0.0.1:8080"));
        assert!(kiosk.live.fullscreen && kiosk.output.disclosure && kiosk.idle.blinks);
        assert_eq!(kiosk.live.speaker, "default");
        let streaming = load("streaming.toml");
        assert_eq!(streaming.background.mode, BackgroundMode::Alpha);
        assert!(streaming.live.outputs.iter().any(|o| o.starts_with("whep")));
        // Every file in configs/ is one of these or the defaults.
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["default.toml", "kiosk.toml", "streaming.toml", "video-call.toml"]);
    }

    #[test]
    fn unknown_key_is_an_error() {
        let err = toml::from_str::<Config>("[rig]\nmax_jaw_dorp = 0.1\n").unwrap_err();
        assert!(err.to_string().contains("max_jaw_dorp"), "{err}");
    }

    #[test]
    fn out_of_range_is_an_error() {
        let mut cfg = Config::default();
        cfg.rig.max_jaw_drop = 2.0;
        assert!(matches!(cfg.validate(), Err(ConfigError::Invalid(_))));
    }
}
