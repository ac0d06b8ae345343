//! facecast: a real-time, audio-driven talking-avatar engine.
//!
//! # How a frame is made
//!
//! Speech is decoded and resampled to 16 kHz mono ([`audio`]). Every 10 ms hop the streaming log-mel
//! front end ([`features`]) emits one 80-bin frame. An ONNX audio-to-motion model run by ort
//! ([`motion`]) turns each frame into named motion parameters (`jaw_open`, ...). The portrait rig
//! ([`portrait`]) was built once from the reference image: face detection, 468 landmarks, and a set of
//! first-order-motion keypoints with Jacobians placed on the face. It turns the parameters into driving
//! keypoints, which a One Euro filter smooths ([`motion::smooth`]). Each video frame takes the smoothed
//! keypoints at its own time, and a WGSL dense-motion warp on wgpu ([`render`]) draws the portrait
//! moved by them. The frames go to a sink ([`output`]): an H.264 MP4 with the input audio, a motion
//! JSONL, a contact sheet. [`pipeline`] is the only module that wires these stages together.
//!
//! The crate's binary (`facecast`) is a thin command line over [`pipeline`].

pub mod assets;
pub mod audio;
pub mod config;
pub mod features;
pub mod motion;
pub mod onnx;
pub mod output;
pub mod pipeline;
pub mod portrait;
pub mod render;

pub use config::Config;
