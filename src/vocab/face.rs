//! The face as the stages hand it on: the output framing of the portrait, a pose, and the rig's
//! geometry as the renderer draws it.
//!
//! Input: nothing. Output: [`Framing`], [`Pose`], [`RigGeometry`]. Thread: any.
//!
//! All positions are output-frame coordinates: [-1, 1] on both axes, x right and y down. `portrait/`
//! builds a [`RigGeometry`] once per portrait and fills a [`Pose`] per hop; `render/` draws them and
//! knows nothing of how they were made.

use glam::{Mat2, Vec2};

/// The square region of the portrait that becomes the output frame, in image pixels. Output-frame
/// coordinates run over [-1, 1] on both axes, x right and y down: frame point `z` is image point
/// `origin + (z + 1) / 2 * side`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Framing {
    /// Top-left corner of the crop, image pixels (may be negative when letterboxed).
    pub origin: Vec2,
    /// Side of the crop, image pixels.
    pub side: f32,
}

impl Framing {
    /// Image pixels to output-frame coordinates.
    pub fn frame_from_image(&self, p: Vec2) -> Vec2 {
        (p - self.origin) / self.side * 2.0 - Vec2::ONE
    }

    /// A length in image pixels as a length in frame units.
    pub fn frame_len(&self, px: f32) -> f32 {
        px * 2.0 / self.side
    }
}

/// The driving state of every keypoint at one instant: positions and Jacobians, plus how far each
/// eye is shut.
#[derive(Debug, Clone, PartialEq)]
pub struct Pose {
    /// Driving positions, output-frame coordinates.
    pub drv: Vec<Vec2>,
    /// Jacobians.
    pub jac: Vec<Mat2>,
    /// How far each eye (person's right, left) is shut, 0..1. The renderer's lid pass closes the upper
    /// lid from its driving position towards the lower lid by this much; the warp does not see it.
    pub blink: [f32; 2],
    /// Where the eyes look, (across, down), -1..1 (`MotionParams::gaze_x`, `gaze_y`). The renderer's
    /// eye pass moves the eyeball under the lids; the warp does not see it.
    pub gaze: [f32; 2],
}

/// One keypoint as the warp sees it: where it sits in the portrait and how far its map reaches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarpKeypoint {
    /// Source position, output-frame coordinates.
    pub src: Vec2,
    /// Spread along the face's (right, down) axes, output-frame units.
    pub spread: Vec2,
    /// Blend weight.
    pub weight: f32,
    /// Upper lids: where the lid goes when the eye is shut, relative to `src` (zero elsewhere). The
    /// renderer's lid pass reads it.
    pub blink_offset: Vec2,
}

/// How the mouth interior is drawn: decided once per portrait, from its pixels and `[rig] teeth`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MouthLook {
    /// Whether an opening mouth shows synthetic teeth (the portrait shows none of its own, or the
    /// config asks for them).
    pub synthetic_teeth: bool,
    /// The synthetic teeth's colour, linear 0..1 RGB: enamel at the exposure of the portrait's lips.
    pub teeth_rgb: [f32; 3],
}

/// The rig of one portrait as the renderer needs it: the framing, the keypoints' source positions,
/// spreads and weights, the face axes, the outlines its mouth and eye passes draw, and the look of the
/// mouth. Built once by `portrait/`; the renderer keeps it for every frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RigGeometry {
    /// The square of the portrait that the frame shows.
    pub framing: Framing,
    /// The keypoints, in the rig's layout order (the order of [`Pose::drv`]).
    pub keypoints: Vec<WarpKeypoint>,
    /// Unit vector along the eye line, frame coordinates.
    pub right: Vec2,
    /// Unit vector down the face.
    pub down: Vec2,
    /// Weight of the identity term (the still background).
    pub background_weight: f32,
    /// The inner-lip outline (16 keypoint indices, from the left corner over the upper lip and back
    /// under the lower one).
    pub inner_lip_outline: [usize; 16],
    /// The outer-lip outline, in the same order.
    pub outer_lip_outline: [usize; 16],
    /// Each eye's outline (person's right, left).
    pub eye_outlines: [[usize; 16]; 2],
    /// Index of the inner upper lip's centre.
    pub inner_upper: usize,
    /// Index of the inner lower lip's centre.
    pub inner_lower: usize,
    /// Inner-lip gap of the source, frame units (0 for a closed mouth).
    pub rest_gap: f32,
    /// Mouth width (corner to corner) of the source, frame units.
    pub mouth_width: f32,
    /// How the mouth interior is drawn.
    pub mouth: MouthLook,
}

impl RigGeometry {
    /// The inner-lip gap in `pose` beyond the source's own, frame units: how much mouth interior the
    /// renderer must draw (0 at rest and whenever the lips are no further apart than in the portrait).
    pub fn extra_gap(&self, pose: &Pose) -> f32 {
        let gap = (pose.drv[self.inner_lower] - pose.drv[self.inner_upper]).dot(self.down);
        (gap - self.rest_gap).max(0.0)
    }

    /// How much nearer together the inner lips are in `pose` than in the portrait, frame units: the
    /// largest shrink of the seven upper/lower inner-lip pairs' gaps (0 when none is closer). Where the
    /// lips close over the portrait's own opening the renderer's lip pass keeps them apart from what
    /// was between them (teeth).
    pub fn lip_squeeze(&self, pose: &Pose) -> f32 {
        let o = &self.inner_lip_outline;
        (1..8)
            .map(|i| {
                let (up, low) = (o[i], o[16 - i]);
                let source_gap = (self.keypoints[low].src - self.keypoints[up].src).dot(self.down);
                source_gap - (pose.drv[low] - pose.drv[up]).dot(self.down)
            })
            .fold(0.0, f32::max)
    }
}
