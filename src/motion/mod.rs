//! Audio to motion: log-mel frames in, named motion parameters out, one set per 10 ms hop.
//!
//! Input: [`N_MELS`]-bin log10 mel frames. Output: [`MotionParams`]
//! (`jaw_open`, `lip_close`, ... in 0..1). Thread: the caller's (the motion stage). The ONNX session is
//! built once, its input tensor once; a hop reuses both.
//!
//! A model declares its output channels in its ONNX metadata (`facecast.channels`, comma-separated).
//! Channels facecast knows fill [`MotionParams`]; others are kept by name (viseme weights, say).
//! [`smooth`] holds the One Euro filter that the pipeline runs over the rig's keypoints; [`phones`] makes a
//! mouth track from a text-to-speech engine's phone timings.
//!
//! Architecture Invariant: motion/ never sees samples or pixels; it maps feature frames (or phone
//! timings) to parameters.

pub mod idle;
pub mod phones;
pub mod smooth;

use ort::session::Session;
use ort::value::Tensor;

use crate::onnx::{ModelSource, OnnxError};
use crate::vocab::clock::{HOP_SECS, N_MELS, SILENT_LOG_MEL};
use crate::vocab::motion::MotionParams;

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

/// The most lookahead a model's metadata may declare, in 10 ms frames (1 s).
pub const MAX_LOOKAHEAD_FRAMES: usize = 100;
/// The most output channels a model may declare.
pub const MAX_CHANNELS: usize = 256;
/// The most values a recurrent model's state may hold (4 MiB of f32).
pub const MAX_STATE_VALUES: usize = 1 << 20;

/// The bundled baseline: speech-band mel energy to jaw opening (scripts/make_baseline_model.py).
pub fn baseline_model() -> ModelSource {
    ModelSource::Bundled { name: "baseline_energy.onnx", bytes: crate::assets::BASELINE_MOTION_ONNX }
}

/// The bundled trained model for live use: no lookahead (training/, models/README.md).
pub fn live_model() -> ModelSource {
    ModelSource::Bundled { name: "motion_live.onnx", bytes: crate::assets::MOTION_LIVE_ONNX }
}

/// The bundled trained model for offline render: 200 ms lookahead (training/, models/README.md).
pub fn quality_model() -> ModelSource {
    ModelSource::Bundled { name: "motion_quality.onnx", bytes: crate::assets::MOTION_QUALITY_ONNX }
}

/// The bundled model for speech among other voices in the offline render (200 ms lookahead), blended in
/// by the noise the denoiser leaves (`[motion] noise_blend`; training/, models/README.md).
pub fn noise_model() -> ModelSource {
    ModelSource::Bundled { name: "motion_noise.onnx", bytes: crate::assets::MOTION_NOISE_ONNX }
}

/// A streaming audio-to-motion model run by ort, shaped like candle's `StreamingModule`.
///
/// Two kinds of model fit. A stateless one has one input, `mel` `[batch, frames, 80]`. A recurrent one
/// also has `state` (any fixed shape) and an output `state_out` of the same shape; the model's state is
/// kept here between steps and cleared by [`reset`](Self::reset). Either way the first output is
/// `[batch, frames, channels]`. The session and its input tensors are built once.
pub struct MotionModel {
    session: Session,
    name: String,
    kind: String,
    provider: &'static str,
    channels: Vec<String>,
    input: Tensor<f32>,
    /// The recurrent state fed to the next step, and the tensor the step writes the next one into,
    /// if the model has one. The two swap after every step.
    state: Option<(Tensor<f32>, Tensor<f32>)>,
    /// The first output, `[1, 1, channels]`, written in place by every step.
    output: Tensor<f32>,
    plan: crate::onnx::RunPlan,
    raw: Vec<f32>,
    lookahead_frames: usize,
    rest_deadzone: f32,
}

/// The frames of silence a recurrent model hears after [`MotionModel::reset`] (and at load).
pub const WARMUP_FRAMES: usize = 50;

/// The input name of a recurrent model's state, and the output that carries it to the next step.
const STATE_IN: &str = "state";
const STATE_OUT: &str = "state_out";

impl MotionModel {
    /// Loads a model on the CPU with `threads` intra-op threads.
    ///
    /// # Errors
    /// [`MotionError::Onnx`] when the model cannot be loaded, [`MotionError::Model`] when its
    /// inputs, outputs or metadata do not fit.
    pub fn load(source: &ModelSource, threads: usize) -> Result<Self, MotionError> {
        Self::load_on(source, threads, crate::onnx::Provider::Cpu)
    }

    /// Loads a model on the execution provider `provider` asks for, falling back to the CPU where that
    /// provider is missing (one log line says which one runs).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_on(source: &ModelSource, threads: usize, provider: crate::onnx::Provider) -> Result<Self, MotionError> {
        let (session, provider) = crate::onnx::session_on(source, threads, provider)?;
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
        // Metadata sizes buffers: it is checked before anything is allocated from it.
        if lookahead_frames > MAX_LOOKAHEAD_FRAMES {
            return Err(bad(format!(
                "facecast.lookahead_frames {lookahead_frames} is more than {MAX_LOOKAHEAD_FRAMES} (1 s of lookahead)"
            )));
        }
        if channels.len() > MAX_CHANNELS {
            return Err(bad(format!("{} channels in facecast.channels; at most {MAX_CHANNELS}", channels.len())));
        }
        drop(meta);
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        let state_shape = match inputs.as_slice() {
            [_] => None,
            [a, b] if [*a, *b].contains(&STATE_IN) => {
                let outlet = session.inputs().iter().find(|i| i.name() == STATE_IN).expect("listed");
                let ort::value::ValueType::Tensor { shape, .. } = outlet.dtype() else {
                    return Err(bad("its state input is not a tensor".into()));
                };
                // A batch or other free dimension of the state is 1: facecast runs one stream.
                let dims: Vec<usize> = shape.iter().map(|&d| usize::try_from(d).unwrap_or(1).max(1)).collect();
                if dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).is_none_or(|n| n > MAX_STATE_VALUES) {
                    return Err(bad(format!("its state {dims:?} is larger than {MAX_STATE_VALUES} values")));
                }
                if !session.outputs().iter().any(|o| o.name() == STATE_OUT) {
                    return Err(bad(format!("it has a {STATE_IN} input but no {STATE_OUT} output")));
                }
                Some(dims)
            }
            _ => {
                return Err(bad(format!(
                    "expected the input mel [batch, frames, {N_MELS}], and {STATE_IN} for a recurrent model; it has {inputs:?}"
                )));
            }
        };
        if session.outputs().is_empty() {
            return Err(bad("it has no output".into()));
        }
        if !channels.iter().any(|c| !c.starts_with("viseme_") && MotionParams::default().set_channel(c, 0.0)) {
            return Err(bad(format!("none of its channels {channels:?} drives the rig")));
        }
        let input = Tensor::<f32>::from_array(([1usize, 1, N_MELS], vec![0.0f32; N_MELS]))?;
        let output = Tensor::<f32>::from_array(([1usize, 1, channels.len()], vec![0.0f32; channels.len()]))?;
        let mel_name = session.inputs().iter().map(|i| i.name()).find(|n| *n != STATE_IN).expect("one input is mel");
        let out_name = session.outputs()[0].name();
        let (state, plan) = match state_shape {
            Some(dims) => {
                let n: usize = dims.iter().product();
                let a = Tensor::<f32>::from_array((dims.clone(), vec![0.0f32; n]))?;
                let b = Tensor::<f32>::from_array((dims, vec![0.0f32; n]))?;
                (Some((a, b)), crate::onnx::RunPlan::new(&[mel_name, STATE_IN], &[out_name, STATE_OUT]))
            }
            None => (None, crate::onnx::RunPlan::new(&[mel_name], &[out_name])),
        };
        let raw = vec![0.0; channels.len()];
        tracing::info!(
            model = %name, %kind, provider, lookahead_ms = lookahead_frames * 10, recurrent = state.is_some(),
            "motion model loaded"
        );
        let mut model = Self {
            session,
            name,
            kind,
            provider,
            channels,
            input,
            state,
            output,
            plan,
            raw,
            lookahead_frames,
            rest_deadzone: 0.0,
        };
        // One step on a silent frame checks that the first output really is [1, 1, channels] (and the
        // state's shape); then the state goes back to zero.
        let silent = [SILENT_LOG_MEL; N_MELS];
        if let Err(e) = model.step(&silent) {
            let reason = format!(
                "one step on one frame fails ({e}); its first output must be [batch, frames, {}] for the channels \
                 its metadata names{}",
                model.channels.len(),
                if model.state.is_some() {
                    format!(", and {STATE_OUT} must have {STATE_IN}'s shape")
                } else {
                    String::new()
                }
            );
            return Err(MotionError::Model { model: model.name.clone(), reason });
        }
        model.reset();
        Ok(model)
    }

    /// Sets the dead zone at rest of the mouth parameters (jaw_open, lip_close, lip_round,
    /// lip_stretch): each becomes `max(0, v - d) / (1 - d)`, so the faint openings a model gives to
    /// breaths and clicks leave the face still. 0 (the default here) passes the model's values through.
    pub fn set_rest_deadzone(&mut self, d: f32) {
        self.rest_deadzone = d.clamp(0.0, 0.5);
    }

    /// The model's name (file or bundled name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's kind from its metadata (`baseline`, `trained`, ...).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The execution provider the session runs on (`CPUExecutionProvider`, ...).
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// How many hops the model's output trails its newest input: the output of a step belongs to the
    /// mel frame this many hops before the one just fed (metadata `facecast.lookahead_frames`).
    pub fn lookahead_frames(&self) -> usize {
        self.lookahead_frames
    }

    /// How far ahead of its newest output the model looks, seconds: the mel frames it must see after
    /// the frame an output belongs to (metadata `facecast.lookahead_frames`, 10 ms each; 0 when absent).
    /// The live loop adds it to the motion lag.
    pub fn lookahead_secs(&self) -> f64 {
        self.lookahead_frames as f64 * HOP_SECS
    }

    /// The output channel names, in order.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// The raw output of the last step, one value per channel.
    pub fn raw(&self) -> &[f32] {
        &self.raw
    }

    /// Runs one mel frame through the model. For a model with lookahead, the parameters returned belong
    /// to the frame [`lookahead_frames`](Self::lookahead_frames) hops back.
    ///
    /// # Errors
    /// [`MotionError::FrameLength`] for a frame of the wrong size, [`MotionError::Run`] when inference fails,
    /// [`MotionError::Model`] when the output has the wrong size.
    pub fn step(&mut self, mel_frame: &[f32]) -> Result<MotionParams, MotionError> {
        if mel_frame.len() != N_MELS {
            return Err(MotionError::FrameLength(mel_frame.len()));
        }
        self.input.extract_tensor_mut().1.copy_from_slice(mel_frame);
        match &mut self.state {
            Some((state, next)) => {
                self.plan.run(&mut self.session, [&self.input, &*state], [&mut self.output, &mut *next])?;
                std::mem::swap(state, next);
            }
            None => self.plan.run(&mut self.session, [&self.input], [&mut self.output])?,
        }
        self.raw.copy_from_slice(self.output.extract_tensor().1);
        let mut params = MotionParams::default();
        for (name, &v) in self.channels.iter().zip(&self.raw) {
            params.set_channel(name, v);
        }
        let d = self.rest_deadzone;
        if d > 0.0 {
            for v in [&mut params.jaw_open, &mut params.lip_close, &mut params.lip_round, &mut params.lip_stretch] {
                *v = (*v - d).max(0.0) / (1.0 - d);
            }
        }
        Ok(params)
    }

    /// Clears the model's state and its last output. A recurrent model then hears
    /// [`WARMUP_FRAMES`] frames of digital silence, so that it starts from its rest state rather than
    /// from zeros (which it never saw in training: the first frames of every training window were
    /// left out of the loss).
    pub fn reset(&mut self) {
        if let Some((state, _)) = &mut self.state {
            state.extract_tensor_mut().1.fill(0.0);
            let silent = [SILENT_LOG_MEL; N_MELS];
            for _ in 0..WARMUP_FRAMES {
                // The same step already ran at load; a failure here would have failed there.
                if self.step(&silent).is_err() {
                    break;
                }
            }
        }
        self.raw.fill(0.0);
    }
}

/// The lips meet as the jaw shuts: below `part_jaw` of jaw opening, `lip_close` is raised to at least
/// `1 - jaw_open / part_jaw` (shut with the jaw); never lowered. `part_jaw` 0 leaves it as it is
/// (`[motion] lips_meet_jaw`).
///
/// The rig draws the portrait's own lip gap until `lip_close` shuts it. On real voices the models shut
/// the jaw at /p b m/ (median jaw_open 0.065 on the dev set) but mostly leave lip_close low, so the lips
/// stayed a third apart through closures. A person's lips come together as the jaw rises; read so (0.5),
/// `facecast render` closed 76% of the dev set's /p b m/ rather than 46% (open vowels 95.9% rather
/// than 97.2%, correlation with the phone target 0.756 rather than 0.735; models/README.md).
pub fn lips_meet_as_the_jaw_shuts(params: &mut MotionParams, part_jaw: f32) {
    if part_jaw > 0.0 {
        params.lip_close = params.lip_close.max((1.0 - params.jaw_open / part_jaw).clamp(0.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled baseline with one more metadata entry appended (an ONNX `ModelProto.metadata_props`
    /// entry is field 14; protobuf takes repeated fields in any order).
    fn baseline_with_metadata(key: &str, value: &str) -> ModelSource {
        fn varint(mut n: usize, out: &mut Vec<u8>) {
            while n >= 0x80 {
                out.push((n as u8 & 0x7f) | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
        let mut entry = Vec::new();
        for (tag, text) in [(0x0a, key), (0x12, value)] {
            entry.push(tag);
            varint(text.len(), &mut entry);
            entry.extend_from_slice(text.as_bytes());
        }
        let mut bytes = crate::assets::BASELINE_MOTION_ONNX.to_vec();
        bytes.push(0x72);
        varint(entry.len(), &mut bytes);
        bytes.extend_from_slice(&entry);
        ModelSource::Bundled { name: "hostile.onnx", bytes: Box::leak(bytes.into_boxed_slice()) }
    }

    #[test]
    fn metadata_that_would_size_a_huge_buffer_is_refused() {
        // 3.9 TB of lookahead aborted the process in an allocation.
        let ok = MotionModel::load(&baseline_with_metadata("facecast.lookahead_frames", "100"), 1).unwrap();
        assert_eq!(ok.lookahead_frames(), 100);
        for huge in ["101", "100000000000"] {
            let source = baseline_with_metadata("facecast.lookahead_frames", huge);
            let err = MotionModel::load(&source, 1).err().expect("refused").to_string();
            assert!(err.contains("hostile.onnx") && err.contains("lookahead"), "{err}");
        }
    }

    #[test]
    fn viseme_channels_fill_the_weights_and_serialise_by_name() {
        let mut p = MotionParams::default();
        assert!(p.visemes.is_empty() && p.visemes.top().is_none());
        assert!(p.set_channel("viseme_PP", 0.75) && p.set_channel("viseme_aa", 0.25));
        assert!(!p.set_channel("viseme_XX", 1.0), "an unknown viseme is not a channel");
        assert_eq!(p.visemes.top(), Some("PP"));
        let json = serde_json::to_value(p).unwrap();
        assert_eq!(json["visemes"]["PP"], 0.75);
        assert_eq!(json["visemes"]["aa"], 0.25);
        assert_eq!(json["visemes"].as_object().unwrap().len(), 15);
        // A model without visemes writes none.
        let none = serde_json::to_value(MotionParams::default()).unwrap();
        assert!(none.get("visemes").is_none());
        // Interpolation covers them.
        let mid = p.lerp(&MotionParams::default(), 0.5);
        assert!((mid.visemes.0[1] - 0.375).abs() < 1e-6);
    }

    #[test]
    fn the_lips_meet_as_the_jaw_shuts_and_never_part_for_it() {
        let at = |jaw_open: f32, lip_close: f32, part: f32| {
            let mut p = MotionParams { jaw_open, lip_close, ..MotionParams::default() };
            lips_meet_as_the_jaw_shuts(&mut p, part);
            p.lip_close
        };
        assert_eq!(at(0.0, 0.0, 0.5), 1.0, "a shut jaw shuts the lips");
        assert!((at(0.25, 0.0, 0.5) - 0.5).abs() < 1e-6, "half way");
        assert_eq!(at(0.5, 0.0, 0.5), 0.0, "open from part_jaw up");
        assert_eq!(at(0.9, 0.3, 0.5), 0.3, "the model's lip_close stands above it");
        assert_eq!(at(0.1, 0.95, 0.5), 0.95, "never lowered");
        assert_eq!(at(0.0, 0.2, 0.0), 0.2, "0 is off");
    }
}
