//! Audio to motion: log-mel frames in, named motion parameters out, one set per 10 ms hop.
//!
//! Input: [`N_MELS`]-bin log10 mel frames. Output: [`MotionParams`]
//! (`jaw_open`, `lip_close`, ... in 0..1). Thread: the caller's (the motion stage). The ONNX session is
//! built once, its input tensor once; a hop reuses both.
//!
//! A model declares its output channels in its ONNX metadata (`facecast.channels`, comma-separated).
//! Channels facecast knows fill [`MotionParams`]; others are kept by name (viseme weights, say).
//! [`smooth`] holds the One Euro filter that the pipeline runs over the rig's keypoints.
//!
//! Architecture Invariant: motion/ never sees samples or pixels; it maps feature frames to parameters.

pub mod idle;
pub mod smooth;

use ort::session::Session;
use ort::value::Tensor;

use crate::features::N_MELS;
use crate::onnx::{ModelSource, OnnxError};

/// Errors of the motion stage.
#[derive(Debug, thiserror::Error)]
pub enum MotionError {
    /// The model could not be loaded.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// The model does not have the shape facecast drives.
    #[error("motion model {model}: {reason}")]
    Model { model: String, reason: String },
    /// Inference failed.
    #[error("motion model inference failed: {0}")]
    Run(#[from] ort::Error),
    /// A mel frame of the wrong size.
    #[error("a mel frame must hold {N_MELS} values, got {0}")]
    FrameLength(usize),
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
}

/// How far `nod = 1` tips the head down, degrees.
pub const NOD_DEG: f32 = 6.0;

impl MotionParams {
    fn set(&mut self, name: &str, value: f32) -> bool {
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
            _ => return false,
        };
        *slot = value.clamp(0.0, 1.0);
        true
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
        }
    }
}

/// The bundled baseline: speech-band mel energy to jaw opening (scripts/make_baseline_model.py).
pub fn baseline_model() -> ModelSource {
    ModelSource::Bundled { name: "baseline_energy.onnx", bytes: crate::assets::BASELINE_MOTION_ONNX }
}

/// A streaming audio-to-motion model run by ort, shaped like candle's `StreamingModule`.
pub struct MotionModel {
    session: Session,
    name: String,
    kind: String,
    channels: Vec<String>,
    input: Tensor<f32>,
    raw: Vec<f32>,
    lookahead_frames: usize,
}

impl MotionModel {
    /// Loads a model whose input is `mel` `[batch, frames, 80]` and whose first output is
    /// `[batch, frames, channels]`.
    ///
    /// # Errors
    /// [`MotionError::Onnx`] when the model cannot be loaded, [`MotionError::Model`] when its
    /// inputs, outputs or metadata do not fit.
    pub fn load(source: &ModelSource, threads: usize) -> Result<Self, MotionError> {
        let session = crate::onnx::session(source, threads)?;
        let name = source.name();
        let bad = |reason: String| MotionError::Model { model: name.clone(), reason };
        let meta = session.metadata()?;
        let channels: Vec<String> = meta
            .custom("facecast.channels")
            .ok_or_else(|| bad("no facecast.channels in its metadata".into()))?
            .split(',')
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        let kind = meta.custom("facecast.kind").unwrap_or_else(|| "unknown".into());
        let lookahead_frames = match meta.custom("facecast.lookahead_frames") {
            None => 0,
            Some(v) => v.trim().parse().map_err(|_| bad(format!("facecast.lookahead_frames {v:?} is not a count")))?,
        };
        drop(meta);
        if session.inputs().len() != 1 || session.outputs().is_empty() {
            return Err(bad(format!("expected one input (mel [batch, frames, {N_MELS}]) and at least one output")));
        }
        if !channels.iter().any(|c| MotionParams::default().set(c, 0.0)) {
            return Err(bad(format!("none of its channels {channels:?} drives the rig")));
        }
        let input = Tensor::<f32>::from_array(([1usize, 1, N_MELS], vec![0.0f32; N_MELS]))?;
        let raw = vec![0.0; channels.len()];
        tracing::info!(model = %name, %kind, channels = ?channels, "motion model loaded (CPU)");
        Ok(Self { session, name, kind, channels, input, raw, lookahead_frames })
    }

    /// The model's name (file or bundled name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's kind from its metadata (`baseline`, ...).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// How far ahead of its newest output the model looks, seconds: the mel frames it must see after
    /// the frame an output belongs to (metadata `facecast.lookahead_frames`, 10 ms each; 0 when absent).
    /// The live loop adds it to the motion lag.
    pub fn lookahead_secs(&self) -> f64 {
        self.lookahead_frames as f64 * crate::features::HOP_SECS
    }

    /// The output channel names, in order.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// The raw output of the last step, one value per channel.
    pub fn raw(&self) -> &[f32] {
        &self.raw
    }

    /// Runs one mel frame through the model.
    ///
    /// # Errors
    /// [`MotionError::FrameLength`] for a frame of the wrong size, [`MotionError::Run`] when inference fails,
    /// [`MotionError::Model`] when the output has the wrong size.
    pub fn step(&mut self, mel_frame: &[f32]) -> Result<MotionParams, MotionError> {
        if mel_frame.len() != N_MELS {
            return Err(MotionError::FrameLength(mel_frame.len()));
        }
        self.input.extract_tensor_mut().1.copy_from_slice(mel_frame);
        let outputs = self.session.run(ort::inputs![&self.input])?;
        let (_, values) = outputs[0].try_extract_tensor::<f32>()?;
        if values.len() != self.raw.len() {
            return Err(MotionError::Model {
                model: self.name.clone(),
                reason: format!("output has {} values, metadata names {}", values.len(), self.raw.len()),
            });
        }
        self.raw.copy_from_slice(values);
        let mut params = MotionParams::default();
        for (name, &v) in self.channels.iter().zip(&self.raw) {
            params.set(name, v);
        }
        Ok(params)
    }

    /// Clears any state between utterances. The baseline has none; recurrent models will.
    pub fn reset(&mut self) {
        self.raw.fill(0.0);
    }
}
