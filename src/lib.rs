//! facecast: a real-time, audio-driven talking-avatar engine.
//!
//! # How a frame is made
//!
//! Speech is decoded and resampled to 16 kHz mono ([`audio`]). Every 10 ms hop the streaming log-mel
//! front end ([`features`]) emits one 80-bin frame. An ONNX audio-to-motion model run by ort
//! ([`motion`]) turns each frame into named motion parameters (`jaw_open`, ...), to which idle life is
//! added and which a One Euro filter smooths ([`motion::smooth`]). The portrait ([`portrait`]) was
//! analysed once: face detection, 468 landmarks, and a rig of first-order-motion keypoints with
//! Jacobians placed on the face. Each video frame takes the parameters at its own time and the rig turns
//! them into a pose, which a WGSL dense-motion warp on wgpu ([`render`]) draws. The frames go to the
//! sinks ([`output`]): an H.264 MP4 with the input audio, PNG or raw frames, a window, WebRTC, and a
//! motion JSONL.
//!
//! The stages stand side by side on a ground floor that every one of them may use: the shared
//! vocabulary ([`vocab`]: the audio clock, motion parameters, pose, frame geometry), the drop-oldest
//! queue ([`queue`]), child processes ([`process`]), the GPU context ([`gpu`]), ONNX Runtime ([`onnx`]),
//! the config ([`config`]), text as pixels ([`text`]) and the bundled assets ([`assets`]). No stage names another; [`pipeline`] is the only module that wires them
//! together (ARCHITECTURE.md; tests/architecture.rs holds it).
//!
//! The crate's binary (`facecast`) is a thin command line over [`pipeline`].
//!
//! Input: speech and a portrait. Output: a talking portrait, offline ([`pipeline::render_offline`]) or live
//! ([`pipeline::live::run_live`]). Thread: the pipeline's; every module says its own.

pub mod assets;
pub mod audio;
pub mod config;
pub mod features;
pub mod gpu;
pub mod motion;
pub mod onnx;
pub mod output;
pub mod pipeline;
pub mod portrait;
pub mod process;
pub mod queue;
pub mod render;
pub mod text;
pub mod vocab;

pub use config::Config;
