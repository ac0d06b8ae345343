//! Head tracking: a face in a camera frame (or a video frame) in; the head's angles and how open each
//! eye is out, measured from Face Mesh's 3D landmarks.
//!
//! Input: RGBA frames of any size, one at a time. Output: [`HeadMeasure`] per frame with a face (yaw,
//! pitch and roll in degrees in the rig's convention, each eye's openness as a ratio), `None` without
//! one. Thread: the live loop's head thread; the camera's frames stay inside the process.
//!
//! BlazeFace finds the face where there was none; after that the box around the previous frame's
//! landmarks seeds Face Mesh directly (as MediaPipe's face-mesh graph does), and BlazeFace runs again only
//! when Face Mesh loses the face.
//!
//! The angles come from the face's own axes in Face Mesh's 3D space: the eye line (outer corner to outer
//! corner) gives the across axis, forehead to chin the down axis, and their cross product the axis into
//! the picture. Those are the columns of the head's rotation, which is decomposed the way the rig
//! composes it (roll after pitch after yaw): positive yaw moves the nose to the viewer's right, positive
//! pitch moves it down, positive roll turns the face clockwise on screen.

use glam::{Vec2, Vec3};
use image::RgbaImage;

use super::detect::Detection;
use super::{FaceModels, PortraitError};

/// What one frame shows of the head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadMeasure {
    /// Turn about the vertical axis, degrees; positive turns the nose to the viewer's right.
    pub yaw_deg: f32,
    /// Tilt up or down, degrees; positive tips the nose down.
    pub pitch_deg: f32,
    /// Tilt to the side, degrees; positive turns the face clockwise on screen.
    pub roll_deg: f32,
    /// Each eye's opening (the person's right, left): lid gap over eye width, about 0.25 to 0.35 open
    /// and under 0.1 shut.
    pub eye_open: [f32; 2],
}

/// One eye's landmarks.
#[derive(Clone, Copy)]
struct Eye {
    outer: usize,
    inner: usize,
    /// Upper and lower lid pairs, across the eye.
    lids: [(usize, usize); 3],
}

/// The person's right eye, then the left.
const EYES: [Eye; 2] = [
    Eye { outer: 33, inner: 133, lids: [(160, 144), (159, 145), (158, 153)] },
    Eye { outer: 263, inner: 362, lids: [(387, 373), (386, 374), (385, 380)] },
];

/// Face Mesh's presence score under which a frame shows no face.
const MIN_PRESENCE: f32 = 0.5;
/// BlazeFace's score under which a detection is no face.
const MIN_SCORE: f32 = 0.5;

/// Tracks one head through a sequence of frames (a streaming module: [`step`](Self::step),
/// [`reset`](Self::reset)).
pub struct HeadTracker {
    models: FaceModels,
    /// The box from the last frame's landmarks, to seed the next frame without a detection.
    last: Option<Detection>,
}

impl HeadTracker {
    /// A tracker running `models`.
    pub fn new(models: FaceModels) -> Self {
        Self { models, last: None }
    }

    /// Measures the head in `frame`; `None` when it shows no face.
    ///
    /// # Errors
    /// [`PortraitError::Inference`] when a model fails.
    pub fn step(&mut self, frame: &RgbaImage) -> Result<Option<HeadMeasure>, PortraitError> {
        let seeded = match self.last.take() {
            Some(d) => Some(d),
            None => self.models.detector.detect(frame, 0.0)?.filter(|d| d.score >= MIN_SCORE),
        };
        let Some(det) = seeded else { return Ok(None) };
        let lm = self.models.mesh.landmarks(frame, &det)?;
        if lm.presence < MIN_PRESENCE {
            // Lost: the next frame looks for the face afresh.
            return Ok(None);
        }
        // The next crop follows the face, but not its landmarks' noise: a box that moved or grew by under
        // 3% of its size is kept, so that a still face is cropped the same way frame after frame (a crop
        // that followed every wobble fed the noise back into the next frame's landmarks as drift).
        let next = box_around(&lm.points, det);
        let moved = (next.centre - det.centre).length().max((next.size - det.size).abs().max_element());
        self.last = Some(if moved < 0.03 * det.size.max_element() { det } else { next });
        Ok(Some(measure(&lm.points, &lm.depth)))
    }

    /// Forgets the face: the next frame is searched from scratch.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// A detection-shaped box around `points`: what Face Mesh needs to crop the next frame (the centre, the
/// size and the eyes for the rotation).
fn box_around(points: &[Vec2], prev: Detection) -> Detection {
    let (lo, hi) = points.iter().fold((Vec2::MAX, Vec2::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    let eye = |e: Eye| 0.5 * (points[e.outer] + points[e.inner]);
    Detection {
        centre: 0.5 * (lo + hi),
        // Face Mesh's landmarks span about the face; BlazeFace's box is a little smaller than that.
        size: (hi - lo) * 0.9,
        right_eye: eye(EYES[0]),
        left_eye: eye(EYES[1]),
        ..prev
    }
}

/// The head's angles and the eyes' openness from 468 landmarks (image pixels) and their depths.
pub fn measure(points: &[Vec2], depth: &[f32]) -> HeadMeasure {
    let p = |i: usize| Vec3::new(points[i].x, points[i].y, depth[i]);
    let across = (p(263) - p(33)).normalize_or(Vec3::X);
    let down_raw = p(152) - p(10);
    let down = (down_raw - across * down_raw.dot(across)).normalize_or(Vec3::Y);
    let forward = across.cross(down);
    // The face's axes are the columns of the head's rotation R = Rz(roll) Rx(pitch) Ry(-yaw), the
    // rig's composition (`HeadTurn`). Its bottom row is (-cos p sin(-y), sin p, cos p cos(-y)) and its
    // middle column's top two entries (-sin r cos p, cos r cos p).
    let pitch = down.z.clamp(-1.0, 1.0).asin();
    let yaw = across.z.atan2(forward.z);
    let roll = (-down.x).atan2(down.y);
    let eye_open = EYES.map(|e| {
        let width = points[e.outer].distance(points[e.inner]).max(1e-3);
        e.lids.iter().map(|&(up, low)| points[up].distance(points[low])).sum::<f32>() / (3.0 * width)
    });
    HeadMeasure { yaw_deg: yaw.to_degrees(), pitch_deg: pitch.to_degrees(), roll_deg: roll.to_degrees(), eye_open }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic face: the landmarks the measure reads, placed on a head turned by (yaw, pitch, roll).
    fn face(yaw_deg: f32, pitch_deg: f32, roll_deg: f32, eye_gap: f32) -> (Vec<Vec2>, Vec<f32>) {
        let mut pts = vec![Vec3::ZERO; 468];
        // Face axes: x across (to the person's left = the image's right), y down, z into the picture.
        let set = |pts: &mut Vec<Vec3>, i: usize, x: f32, y: f32, z: f32| pts[i] = Vec3::new(x, y, z);
        set(&mut pts, 33, -45.0, 0.0, 5.0);
        set(&mut pts, 133, -15.0, 0.0, 0.0);
        set(&mut pts, 263, 45.0, 0.0, 5.0);
        set(&mut pts, 362, 15.0, 0.0, 0.0);
        set(&mut pts, 10, 0.0, -60.0, 5.0);
        set(&mut pts, 152, 0.0, 80.0, 5.0);
        for (up, low, x) in [(160, 144, -38.0), (159, 145, -30.0), (158, 153, -22.0)] {
            set(&mut pts, up, x, -eye_gap / 2.0, 0.0);
            set(&mut pts, low, x, eye_gap / 2.0, 0.0);
        }
        for (up, low, x) in [(387, 373, 38.0), (386, 374, 30.0), (385, 380, 22.0)] {
            set(&mut pts, up, x, -eye_gap / 2.0, 0.0);
            set(&mut pts, low, x, eye_gap / 2.0, 0.0);
        }
        // The rig's head turn: Rz(roll) Rx(pitch) Ry(-yaw), about the origin.
        let rot = glam::Mat3::from_rotation_z(roll_deg.to_radians())
            * glam::Mat3::from_rotation_x(pitch_deg.to_radians())
            * glam::Mat3::from_rotation_y(-yaw_deg.to_radians());
        let turned: Vec<Vec3> = pts.iter().map(|&q| rot * q + Vec3::new(300.0, 200.0, 0.0)).collect();
        (turned.iter().map(|q| q.truncate()).collect(), turned.iter().map(|q| q.z).collect())
    }

    #[test]
    fn the_angles_of_a_turned_face_come_back_in_the_rigs_convention() {
        for (yaw, pitch, roll) in
            [(0.0, 0.0, 0.0), (15.0, 0.0, 0.0), (-12.0, 8.0, 0.0), (5.0, -10.0, 7.0), (0.0, 0.0, -9.0)]
        {
            let (pts, depth) = face(yaw, pitch, roll, 9.0);
            let m = measure(&pts, &depth);
            let err = [m.yaw_deg - yaw, m.pitch_deg - pitch, m.roll_deg - roll];
            assert!(err.iter().all(|e| e.abs() < 1.5), "({yaw}, {pitch}, {roll}) measured {m:?}");
        }
    }

    #[test]
    fn eye_openness_is_the_lid_gap_over_the_eye_width() {
        let (open, depth) = face(0.0, 0.0, 0.0, 9.0);
        let (shut, _) = face(0.0, 0.0, 0.0, 1.0);
        let (o, s) = (measure(&open, &depth).eye_open, measure(&shut, &depth).eye_open);
        assert!((o[0] - 0.3).abs() < 1e-3 && (o[1] - 0.3).abs() < 1e-3, "{o:?}");
        assert!(s[0] < 0.05 && s[1] < 0.05, "{s:?}");
    }
}
