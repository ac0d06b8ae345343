//! The ground floor: the words every stage speaks, defined once.
//!
//! Input: nothing. Output: types and constants. Thread: any (plain data, no state).
//!
//! The stages (audio, features, motion, portrait, render, output) stand side by side and never name
//! each other; what they hand one another is spelled here, and `pipeline/` passes it between them:
//! - [`clock`]: the audio clock: the sample rate every stage after decoding works at, the hop, the
//!   mel window and where a mel frame lies in time;
//! - [`motion`]: the named motion parameters a model outputs and the rig follows;
//! - [`face`]: the output framing of the portrait, a pose (driving keypoints, Jacobians, lids, gaze)
//!   and the rig's geometry as the renderer needs it;
//! - [`phone`]: a phone of synthesized speech with its times, from a text-to-speech engine to the mouth
//!   track;
//! - [`frame`]: the geometry of a video frame (width, height, rate, bytes; the face square inside it), validated once at the edge.
//!
//! Architecture Invariant: `vocab/` imports no other module of the crate.

pub mod clock;
pub mod face;
pub mod frame;
pub mod latency;
pub mod motion;
pub mod phone;

pub use face::{Framing, MouthLook, Pose, RigGeometry, WarpKeypoint};
pub use frame::{FrameError, FrameGeometry};
pub use motion::{MotionParams, Visemes};
pub use phone::Phone;
