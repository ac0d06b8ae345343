//! Files bundled into the binary, so that `facecast` runs from any directory with no data beside it.
//!
//! The models are facecast's defaults; a config file may point at others. The portrait and the clip are
//! the defaults of `facecast bench` and of the demo. Origins and licences: models/README.md and
//! assets/README.md.
//!
//! Input: nothing (the bytes are compiled in). Output: `&'static [u8]` constants. Thread: any.

/// BlazeFace short-range face detector (MediaPipe, Apache-2.0), ONNX.
pub const FACE_DETECTOR_ONNX: &[u8] = include_bytes!("../models/face_detection_short_range.onnx");
/// Face Mesh, 468 landmarks (MediaPipe, Apache-2.0), ONNX.
pub const FACE_LANDMARK_ONNX: &[u8] = include_bytes!("../models/face_landmark.onnx");
/// Selfie segmentation, the person mask (MediaPipe, Apache-2.0), ONNX.
pub const SELFIE_SEGMENTATION_ONNX: &[u8] = include_bytes!("../models/selfie_segmentation.onnx");
/// The baseline audio-to-motion model (speech-band energy to jaw opening), built by
/// scripts/make_baseline_model.py.
pub const BASELINE_MOTION_ONNX: &[u8] = include_bytes!("../models/baseline_energy.onnx");
/// The bundled portrait: NASA astronaut Eileen Collins, public domain, 512x512 PNG.
pub const DEFAULT_PORTRAIT_PNG: &[u8] = include_bytes!("../assets/portraits/astronaut.png");
/// The bundled speech clip: "go forward ten meters", 16 kHz mono WAV (CMU Sphinx test data, BSD-style).
pub const DEFAULT_SPEECH_WAV: &[u8] = include_bytes!("../assets/speech/goforward.wav");
/// The trained audio-to-motion model for live use (no lookahead), built by training/train.sh.
pub const MOTION_LIVE_ONNX: &[u8] = include_bytes!("../models/motion_live.onnx");
/// The trained audio-to-motion model for offline render (200 ms lookahead), built by training/train.sh.
pub const MOTION_QUALITY_ONNX: &[u8] = include_bytes!("../models/motion_quality.onnx");
/// The offline render's model for speech among other voices (200 ms lookahead), blended in where the
/// denoiser leaves noise; built by training/train.sh.
pub const MOTION_NOISE_ONNX: &[u8] = include_bytes!("../models/motion_noise.onnx");
