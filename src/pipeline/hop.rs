//! The per-hop chain shared by the offline render and the live loop: one 10 ms hop of 16 kHz samples in,
//! the smoothed parameters and the pose (keypoints and Jacobians, flat) the rig makes of them out.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::features::{self, HOP_SAMPLES, LogMel};
use crate::motion::idle::IdleMotion;
use crate::motion::smooth::ParamSmoother;
use crate::motion::{MotionModel, MotionParams};
use crate::portrait::{Pose, Rig};

use super::PipelineError;

/// What one hop produced, besides the pose written into the caller's buffer.
#[derive(Debug, Clone, Copy)]
pub struct HopOutput {
    /// The speech parameters with the slow idle motion (sway, nods, breath) added, smoothed: what drove
    /// the rig.
    pub params: MotionParams,
    /// The fast idle motion (blinks, gaze), kept out of the filter and added after smoothing.
    pub idle: MotionParams,
}

impl HopOutput {
    /// The parameters a frame shows: the rig's, with the idle blinks and gaze (kept out of the filter)
    /// added back.
    pub fn frame_params(&self) -> MotionParams {
        let mut p = self.params;
        p.blink_right = p.blink_right.max(self.idle.blink_right);
        p.blink_left = p.blink_left.max(self.idle.blink_left);
        p.gaze_x += self.idle.gaze_x;
        p.gaze_y += self.idle.gaze_y;
        p
    }

    /// Linear interpolation from `self` (f = 0) to `other` (f = 1).
    pub fn lerp(&self, other: &Self, f: f32) -> Self {
        Self { params: self.params.lerp(&other.params, f), idle: self.idle.lerp(&other.idle, f) }
    }
}

/// Writes `a + (b - a) f` into `out`, element by element: a pose between two flat poses.
pub fn lerp_flat(out: &mut [f32], a: &[f32], b: &[f32], f: f32) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x + (y - x) * f;
    }
}

/// Time spent in each part of the last [`HopChain::step`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HopTimes {
    /// Log-mel.
    pub mel: Duration,
    /// Motion model and idle motion.
    pub motion: Duration,
    /// One Euro filter and rig.
    pub rig: Duration,
}

/// Log-mel, the motion model, idle motion, the One Euro filter and the rig, stepped one hop at a time
/// (a streaming module: [`step`](Self::step), [`reset`](Self::reset)).
pub struct HopChain {
    mel: LogMel,
    model: MotionModel,
    idle: IdleMotion,
    smoother: ParamSmoother,
    rig: Rig,
    pose: Pose,
    /// Times of the last step.
    pub times: HopTimes,
}

impl HopChain {
    /// A chain for `rig`, driven by `model`, with the config's idle motion and smoothing.
    pub fn new(model: MotionModel, rig: Rig, cfg: &Config) -> Self {
        Self {
            mel: LogMel::new(),
            model,
            idle: IdleMotion::new(&cfg.idle),
            smoother: ParamSmoother::new(&cfg.smoothing, features::HOP_SECS as f32),
            pose: rig.rest_pose(),
            rig,
            times: HopTimes::default(),
        }
    }

    /// Values per pose in the flat layout ([`Pose::to_flat`]).
    pub fn flat_len(&self) -> usize {
        self.rig.keypoints.len() * Pose::FLAT_PER_KEYPOINT
    }

    /// The rig.
    pub fn rig(&self) -> &Rig {
        &self.rig
    }

    /// The motion model.
    pub fn model(&self) -> &MotionModel {
        &self.model
    }

    /// The smoothing lag of the mouth at the last step, seconds ([`ParamSmoother::mouth_lag_secs`]).
    pub fn mouth_lag_secs(&self) -> f32 {
        self.smoother.mouth_lag_secs()
    }

    /// Feeds one hop. Once the first analysis window is full, writes the smoothed pose into `flat`
    /// ([`flat_len`](Self::flat_len) values) and returns its parameters; before that, `None`.
    ///
    /// # Errors
    /// A feature or model error.
    pub fn step(&mut self, hop: &[f32; HOP_SAMPLES], flat: &mut [f32]) -> Result<Option<HopOutput>, PipelineError> {
        let s = Instant::now();
        let frame = self.mel.step(hop)?;
        self.times.mel = s.elapsed();
        let Some(frame) = frame else { return Ok(None) };
        let s = Instant::now();
        let mut params = self.model.step(frame)?;
        let mut idle = MotionParams::default();
        self.idle.step(features::HOP_SECS, &params, &mut idle);
        // Head sway, nods and breathing are slow: they go through the rig and the filter with the speech.
        // Blinks and saccades are clean by construction: they are kept apart and added after smoothing.
        params.head_yaw_deg += idle.head_yaw_deg;
        params.head_pitch_deg += idle.head_pitch_deg;
        params.head_roll_deg += idle.head_roll_deg;
        params.breath += idle.breath;
        params.nod += idle.nod;
        self.times.motion = s.elapsed();
        let s = Instant::now();
        self.smoother.step(&mut params);
        self.rig.drive(&params, &mut self.pose);
        self.pose.to_flat(flat);
        self.times.rig = s.elapsed();
        Ok(Some(HopOutput { params, idle }))
    }

    /// Forgets all history (mel window, model state, filter); idle motion keeps its clock.
    pub fn reset(&mut self) {
        self.mel.reset();
        self.model.reset();
        self.smoother.reset();
    }
}
