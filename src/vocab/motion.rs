//! The motion parameters: what a motion model outputs, the idle motion adds, the smoother filters and
//! the rig follows, one set per 10 ms hop.
//!
//! Input: nothing. Output: [`MotionParams`] and its ranges. Thread: any.

/// The 15 visemes of the common industry set (Oculus/Meta), in the order of [`Visemes`].
pub const VISEME_NAMES: [&str; 15] =
    ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U"];

/// Viseme weights, one per [`VISEME_NAMES`] entry (a model's `viseme_*` channels; all zero when the
/// model has none). Serialised as a name-to-weight map.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Visemes(pub [f32; 15]);

impl Visemes {
    /// True when no model filled them (every weight zero).
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0.0)
    }

    /// The viseme with the largest weight, if any weight is set.
    pub fn top(&self) -> Option<&'static str> {
        if self.is_empty() {
            return None;
        }
        let (i, _) = self.0.iter().enumerate().fold((0, f32::MIN), |b, (i, &w)| if w > b.1 { (i, w) } else { b });
        Some(VISEME_NAMES[i])
    }
}

impl serde::Serialize for Visemes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(VISEME_NAMES.len()))?;
        for (name, w) in VISEME_NAMES.iter().zip(self.0) {
            m.serialize_entry(name, &((w * 1e4).round() / 1e4))?;
        }
        m.end()
    }
}

/// The largest head angle a model may ask for, degrees.
pub const MAX_HEAD_DEG: f32 = 30.0;

/// The named motion parameters that drive the rig: mouth and eyes in 0..1, head angles in degrees.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct MotionParams {
    /// Jaw drop: 0 = at rest, 1 = the widest speech opening.
    pub jaw_open: f32,
    /// Lips pressed together (p, b, m).
    pub lip_close: f32,
    /// Lips pushed forward and rounded (oo, w).
    pub lip_round: f32,
    /// Lips pulled wide (ee).
    pub lip_stretch: f32,
    /// The person's right eye closed: 0 = open, 1 = shut.
    pub blink_right: f32,
    /// The person's left eye closed.
    pub blink_left: f32,
    /// Head turn about the vertical axis, degrees; positive turns the nose to the viewer's right.
    pub head_yaw_deg: f32,
    /// Head tilt up or down, degrees; positive tips the nose down (a nod).
    pub head_pitch_deg: f32,
    /// Head tilt to the side, degrees; positive turns the face clockwise on screen.
    pub head_roll_deg: f32,
    /// Breathing, -1..1: the head and shoulders rise (negative) and settle (positive) a little.
    pub breath: f32,
    /// A smile: the mouth corners and cheeks rise and the corners widen.
    pub smile: f32,
    /// Both brows raised.
    pub brow_raise: f32,
    /// Gaze across the eye, -1..1: positive looks to the viewer's right.
    pub gaze_x: f32,
    /// Gaze up and down, -1..1: positive looks down.
    pub gaze_y: f32,
    /// A nod, 0..1: the head tips down by up to [`NOD_DEG`] degrees, on top of `head_pitch_deg`.
    pub nod: f32,
    /// The model's viseme weights (they do not move the rig; they are reported in `--motion-out`).
    #[serde(skip_serializing_if = "Visemes::is_empty")]
    pub visemes: Visemes,
}

/// How far `nod = 1` tips the head down, degrees.
pub const NOD_DEG: f32 = 6.0;

impl MotionParams {
    /// Sets the parameter a model's output channel `name` names (`jaw_open`, `viseme_PP`, ...) to
    /// `value`, clamped to its range; false for a name it does not know.
    pub fn set_channel(&mut self, name: &str, value: f32) -> bool {
        let slot = match name {
            "jaw_open" => &mut self.jaw_open,
            "lip_close" => &mut self.lip_close,
            "lip_round" => &mut self.lip_round,
            "lip_stretch" => &mut self.lip_stretch,
            "blink_right" => &mut self.blink_right,
            "blink_left" => &mut self.blink_left,
            "smile" => &mut self.smile,
            "brow_raise" => &mut self.brow_raise,
            "nod" => &mut self.nod,
            "gaze_x" | "gaze_y" => {
                let slot = if name == "gaze_x" { &mut self.gaze_x } else { &mut self.gaze_y };
                *slot = value.clamp(-1.0, 1.0);
                return true;
            }
            "head_yaw_deg" | "head_pitch_deg" | "head_roll_deg" => {
                let slot = match name {
                    "head_yaw_deg" => &mut self.head_yaw_deg,
                    "head_pitch_deg" => &mut self.head_pitch_deg,
                    _ => &mut self.head_roll_deg,
                };
                *slot = value.clamp(-MAX_HEAD_DEG, MAX_HEAD_DEG);
                return true;
            }
            _ => {
                let Some(i) = name.strip_prefix("viseme_").and_then(|v| VISEME_NAMES.iter().position(|n| *n == v))
                else {
                    return false;
                };
                &mut self.visemes.0[i]
            }
        };
        *slot = value.clamp(0.0, 1.0);
        true
    }

    /// Takes the mouth (jaw, lips and visemes) from `from`, keeping the rest: a phone-timed mouth laid
    /// over what the model heard.
    pub fn take_mouth(&mut self, from: &Self) {
        self.jaw_open = from.jaw_open;
        self.lip_close = from.lip_close;
        self.lip_round = from.lip_round;
        self.lip_stretch = from.lip_stretch;
        self.visemes = from.visemes;
    }

    /// Linear interpolation from `self` (f = 0) to `other` (f = 1), every parameter.
    pub fn lerp(&self, other: &Self, f: f32) -> Self {
        let l = |x: f32, y: f32| x + (y - x) * f;
        Self {
            jaw_open: l(self.jaw_open, other.jaw_open),
            lip_close: l(self.lip_close, other.lip_close),
            lip_round: l(self.lip_round, other.lip_round),
            lip_stretch: l(self.lip_stretch, other.lip_stretch),
            blink_right: l(self.blink_right, other.blink_right),
            blink_left: l(self.blink_left, other.blink_left),
            head_yaw_deg: l(self.head_yaw_deg, other.head_yaw_deg),
            head_pitch_deg: l(self.head_pitch_deg, other.head_pitch_deg),
            head_roll_deg: l(self.head_roll_deg, other.head_roll_deg),
            breath: l(self.breath, other.breath),
            smile: l(self.smile, other.smile),
            brow_raise: l(self.brow_raise, other.brow_raise),
            gaze_x: l(self.gaze_x, other.gaze_x),
            gaze_y: l(self.gaze_y, other.gaze_y),
            nod: l(self.nod, other.nod),
            visemes: Visemes(std::array::from_fn(|i| l(self.visemes.0[i], other.visemes.0[i]))),
        }
    }
}
