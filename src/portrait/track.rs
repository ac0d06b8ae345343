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
//! The angles come from the head's rotation in Face Mesh's 3D space, decomposed the way the rig composes
//! it (roll after pitch after yaw): positive yaw moves the nose to the viewer's right, positive pitch
//! moves it down, positive roll turns the face clockwise on screen. The rotation is found two ways:
//! - **From the face's axes** ([`measure`]), for the first frames: the eye line (outer corner to outer
//!   corner) across, forehead to chin down, their cross product into the picture.
//! - **From the rigid face**, after that: those first frames, turned square on by their axes, make the
//!   person's own shape of 38 landmarks that move with the skull (forehead, eye corners, nose,
//!   cheekbones; not the jaw, lips or brows), and each frame's rotation is the least-squares fit of
//!   that shape to its landmarks. The chin moves with the jaw: read through it, a person talking or
//!   smiling nods. Against a reference measured without facecast (README "Use it in a video call"), a
//!   man talking in a small video: pitch correlation 0.84 from the axes, 0.88 from the fit; a woman
//!   smiling: pitch gain 1.25 from the axes, 1.09 from the fit.

use glam::{Mat3, Vec2, Vec3};
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
    /// Where the irises sit in the eyes (across towards the viewer's right, down), in half eye widths
    /// from the middle of the corners, the eyes averaged: the darkest part of each eye opening. `None`
    /// where no eye is open enough to read (a blink).
    pub iris: Option<[f32; 2]>,
}

/// One eye's landmarks.
#[derive(Clone, Copy)]
struct Eye {
    outer: usize,
    inner: usize,
    /// Upper and lower lid pairs, across the eye.
    lids: [(usize, usize); 3],
}

/// Each eye's opening, round its edge (the person's right eye, then the left): the corners and the
/// lids between them.
const EYE_OUTLINES: [[usize; 8]; 2] =
    [[33, 160, 159, 158, 133, 153, 145, 144], [263, 387, 386, 385, 362, 380, 374, 373]];

/// The person's right eye, then the left.
const EYES: [Eye; 2] = [
    Eye { outer: 33, inner: 133, lids: [(160, 144), (159, 145), (158, 153)] },
    Eye { outer: 263, inner: 362, lids: [(387, 373), (386, 374), (385, 380)] },
];

/// Face Mesh's landmarks that move with the skull: the forehead's midline, the nose from its bridge to its
/// base, the eyes' corners, the cheekbones and the face's sides at the eyes and the nose. Not the jaw,
/// the lips, the cheeks below the nose or the brows, which speech and expressions move.
const RIGID: [usize; 38] = [
    10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 2, 98, 327, 33, 133, 362, 263, 234, 454, 127, 356, 93, 323, 116, 345,
    123, 352, 143, 372, 21, 251, 54, 284, 103, 332, 67, 297,
];

/// Frames with a face, turned square on, that make the person's rigid face (half a second at 30 fps).
const SHAPE_FRAMES: usize = 15;

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
    /// The person's rigid face, once the first frames have made it.
    shape: RigidFace,
}

impl HeadTracker {
    /// A tracker running `models`.
    pub fn new(models: FaceModels) -> Self {
        Self { models, last: None, shape: RigidFace::default() }
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
        let mut m = measure(&lm.points, &lm.depth);
        if let Some([yaw_deg, pitch_deg, roll_deg]) = self.shape.step(&lm.points, &lm.depth) {
            (m.yaw_deg, m.pitch_deg, m.roll_deg) = (yaw_deg, pitch_deg, roll_deg);
        }
        m.iris = iris(frame, &lm.points);
        Ok(Some(m))
    }

    /// Forgets the face: the next frame is searched from scratch, and the rigid face is made again.
    pub fn reset(&mut self) {
        self.last = None;
        self.shape = RigidFace::default();
    }
}

/// The person's rigid face ([`RIGID`]'s landmarks, square on, centred, of unit spread): summed over the
/// first [`SHAPE_FRAMES`] frames, then fitted to each frame. Allocates nothing.
struct RigidFace {
    sum: [Vec3; RIGID.len()],
    frames: usize,
    /// The shape, once made.
    shape: Option<[Vec3; RIGID.len()]>,
}

impl Default for RigidFace {
    fn default() -> Self {
        Self { sum: [Vec3::ZERO; RIGID.len()], frames: 0, shape: None }
    }
}

impl RigidFace {
    /// Takes one frame's landmarks. Once the shape is made: the head's (yaw, pitch, roll) in degrees from
    /// the shape's fit; `None` while it is being made (the axes measure stands), or where the fit fails.
    fn step(&mut self, points: &[Vec2], depth: &[f32]) -> Option<[f32; 3]> {
        let now = centred(RIGID.map(|i| Vec3::new(points[i].x, points[i].y, depth[i])));
        let Some(shape) = self.shape else {
            // Square on by this frame's axes: the axes' noise (and the jaw's pull on them) averages out.
            let square = axes(points, depth).transpose();
            for (s, p) in self.sum.iter_mut().zip(&now) {
                *s += square * *p;
            }
            self.frames += 1;
            if self.frames == SHAPE_FRAMES {
                self.shape = Some(centred(self.sum));
            }
            return None;
        };
        // The rotation that best carries the shape onto this frame: the orthogonal factor of the
        // cross-covariance (Kabsch), found by Newton's iteration for the polar decomposition.
        let mut cov = Mat3::ZERO;
        for (a, b) in shape.iter().zip(&now) {
            cov += Mat3::from_cols(*b * a.x, *b * a.y, *b * a.z);
        }
        if cov.determinant() <= 1e-9 {
            return None;
        }
        let mut rot = cov * (1.0 / cov.determinant().cbrt());
        for _ in 0..30 {
            let next = 0.5 * (rot + rot.inverse().transpose());
            let done = (next - rot).to_cols_array().iter().all(|d| d.abs() < 1e-6);
            rot = next;
            if done {
                break;
            }
        }
        rot.is_finite().then(|| angles(rot))
    }
}

/// `points` less their mean, scaled to a unit root-mean-square distance from it.
fn centred<const N: usize>(points: [Vec3; N]) -> [Vec3; N] {
    let mean = points.iter().copied().sum::<Vec3>() / N as f32;
    let spread = (points.iter().map(|p| p.distance_squared(mean)).sum::<f32>() / N as f32).sqrt();
    points.map(|p| (p - mean) / spread.max(1e-6))
}

/// The face's axes from its landmarks, as the columns of its rotation: the eye line across, forehead to
/// chin down (square to it), and their cross product into the picture.
fn axes(points: &[Vec2], depth: &[f32]) -> Mat3 {
    let p = |i: usize| Vec3::new(points[i].x, points[i].y, depth[i]);
    let across = (p(263) - p(33)).normalize_or(Vec3::X);
    let down_raw = p(152) - p(10);
    let down = (down_raw - across * down_raw.dot(across)).normalize_or(Vec3::Y);
    Mat3::from_cols(across, down, across.cross(down))
}

/// (yaw, pitch, roll) in degrees of a head rotation whose columns are the face's axes (across, down,
/// into the picture), decomposed as the rig composes it: R = Rz(roll) Rx(pitch) Ry(-yaw) (`HeadTurn`).
/// Its bottom row is (-cos p sin(-y), sin p, cos p cos(-y)) and its middle column's top two entries
/// (-sin r cos p, cos r cos p).
fn angles(rot: Mat3) -> [f32; 3] {
    let (across, down, forward) = (rot.x_axis, rot.y_axis, rot.z_axis);
    let pitch = down.z.clamp(-1.0, 1.0).asin();
    let yaw = across.z.atan2(forward.z);
    let roll = (-down.x).atan2(down.y);
    [yaw.to_degrees(), pitch.to_degrees(), roll.to_degrees()]
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

/// The head's angles (from the face's axes) and the eyes' openness from 468 landmarks (image pixels) and
/// their depths.
pub fn measure(points: &[Vec2], depth: &[f32]) -> HeadMeasure {
    let [yaw_deg, pitch_deg, roll_deg] = angles(axes(points, depth));
    let eye_open = EYES.map(|e| {
        let width = points[e.outer].distance(points[e.inner]).max(1e-3);
        e.lids.iter().map(|&(up, low)| points[up].distance(points[low])).sum::<f32>() / (3.0 * width)
    });
    HeadMeasure { yaw_deg, pitch_deg, roll_deg, eye_open, iris: None }
}

/// Where the irises sit: in each eye opening (a polygon of its landmarks), the centroid of the darkest
/// quarter of its pixels (iris and pupil), relative to the middle of the corners, in half eye widths
/// along the eye line (towards the viewer's right) and across it (down); the eyes averaged. An eye too
/// too small or too shut to read is left out; `None` when both are.
pub fn iris(frame: &RgbaImage, points: &[Vec2]) -> Option<[f32; 2]> {
    let mut sum = Vec2::ZERO;
    let mut eyes = 0.0;
    let mut lumas: Vec<(f32, Vec2)> = Vec::with_capacity(1024);
    for outline in EYE_OUTLINES {
        let poly: Vec<Vec2> = outline.iter().map(|&i| points[i]).collect();
        let (a, b) = (poly[0], poly[4]);
        let (left, right) = if a.x <= b.x { (a, b) } else { (b, a) };
        let half_width = 0.5 * left.distance(right);
        let gap = poly[2].distance(poly[6]);
        if half_width < 3.0 || gap < 0.3 * half_width {
            continue;
        }
        let across = (right - left) / (2.0 * half_width);
        let down = Vec2::new(-across.y, across.x);
        let middle = 0.5 * (left + right);
        let (lo, hi) = poly.iter().fold((Vec2::MAX, Vec2::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
        lumas.clear();
        let (x0, y0) = (lo.x.floor().max(0.0) as u32, lo.y.floor().max(0.0) as u32);
        let (x1, y1) =
            (hi.x.ceil().min(frame.width() as f32 - 1.0) as u32, hi.y.ceil().min(frame.height() as f32 - 1.0) as u32);
        for y in y0..=y1.max(y0) {
            for x in x0..=x1.max(x0) {
                let p = Vec2::new(x as f32 + 0.5, y as f32 + 0.5);
                if inside(&poly, p) && x < frame.width() && y < frame.height() {
                    let [r, g, b, _] = frame.get_pixel(x, y).0;
                    lumas.push((0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b), p));
                }
            }
        }
        if lumas.len() < 12 {
            continue;
        }
        lumas.sort_by(|p, q| p.0.total_cmp(&q.0));
        let dark = &lumas[..lumas.len() / 4];
        let threshold = dark[dark.len() - 1].0 + 1.0;
        // Weighted by how much darker than the quarter's edge, so the pupil counts most.
        let (mut centre, mut weight) = (Vec2::ZERO, 0.0);
        for &(l, p) in dark {
            centre += (threshold - l) * p;
            weight += threshold - l;
        }
        let d = centre / weight - middle;
        sum += Vec2::new(d.dot(across), d.dot(down)) / half_width;
        eyes += 1.0;
    }
    (eyes > 0.0).then(|| (sum / eyes).to_array())
}

/// Whether `p` is inside the polygon `poly` (even-odd rule).
fn inside(poly: &[Vec2], p: Vec2) -> bool {
    let mut inside = false;
    for (i, &a) in poly.iter().enumerate() {
        let b = poly[(i + 1) % poly.len()];
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic face: the landmarks the measure reads, placed on a head turned by (yaw, pitch, roll).
    fn face(yaw_deg: f32, pitch_deg: f32, roll_deg: f32, eye_gap: f32) -> (Vec<Vec2>, Vec<f32>) {
        speaking_face(yaw_deg, pitch_deg, roll_deg, eye_gap, 0.0)
    }

    /// The same, with the jaw dropped by `jaw` pixels: the chin moves down and back, as the jaw hinges.
    fn speaking_face(yaw_deg: f32, pitch_deg: f32, roll_deg: f32, eye_gap: f32, jaw: f32) -> (Vec<Vec2>, Vec<f32>) {
        // Face axes: x across (to the person's left = the image's right), y down, z into the picture.
        // The rigid landmarks not set below lie scattered over the upper face, some nearer, some deeper.
        let mut pts = vec![Vec3::ZERO; 468];
        for i in RIGID {
            let k = i as f32;
            pts[i] = Vec3::new((k * 37.0) % 90.0 - 45.0, (k * 53.0) % 90.0 - 60.0, (k * 17.0) % 30.0 - 20.0);
        }
        let set = |pts: &mut Vec<Vec3>, i: usize, x: f32, y: f32, z: f32| pts[i] = Vec3::new(x, y, z);
        set(&mut pts, 33, -45.0, 0.0, 5.0);
        set(&mut pts, 133, -15.0, 0.0, 0.0);
        set(&mut pts, 263, 45.0, 0.0, 5.0);
        set(&mut pts, 362, 15.0, 0.0, 0.0);
        set(&mut pts, 10, 0.0, -60.0, 5.0);
        set(&mut pts, 152, 0.0, 80.0 + jaw, 5.0 + 0.6 * jaw);
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
    fn eye_openness_is_the_lid_gap_over_the_eye_width() {
        let (open, depth) = face(0.0, 0.0, 0.0, 9.0);
        let (shut, _) = face(0.0, 0.0, 0.0, 1.0);
        let (o, s) = (measure(&open, &depth).eye_open, measure(&shut, &depth).eye_open);
        assert!((o[0] - 0.3).abs() < 1e-3 && (o[1] - 0.3).abs() < 1e-3, "{o:?}");
        assert!(s[0] < 0.05 && s[1] < 0.05, "{s:?}");
    }

    /// The rigid face, made from `SHAPE_FRAMES` frames square on (with a little jaw movement, as a person
    /// talking through the calibration), then fitted to `pts`.
    fn fitted(pts: &[Vec2], depth: &[f32]) -> [f32; 3] {
        let mut shape = RigidFace::default();
        for i in 0..SHAPE_FRAMES {
            let (p, d) = speaking_face(0.0, 0.0, 0.0, 9.0, (i % 3) as f32 * 4.0);
            assert!(shape.step(&p, &d).is_none(), "the shape is still being made");
        }
        shape.step(pts, depth).expect("a fit")
    }

    #[test]
    fn the_angles_of_a_turned_face_come_back_in_the_rigs_convention_from_the_axes_and_the_rigid_fit() {
        for (yaw, pitch, roll) in [
            (0.0, 0.0, 0.0),
            (15.0, 0.0, 0.0),
            (-12.0, 8.0, 0.0),
            (5.0, -10.0, 7.0),
            (0.0, 0.0, -9.0),
            (25.0, 12.0, -20.0),
        ] {
            let (pts, depth) = face(yaw, pitch, roll, 9.0);
            let m = measure(&pts, &depth);
            let err = [m.yaw_deg - yaw, m.pitch_deg - pitch, m.roll_deg - roll];
            assert!(err.iter().all(|e| e.abs() < 1.5), "({yaw}, {pitch}, {roll}) measured {m:?}");
            let got = fitted(&pts, &depth);
            let err = [got[0] - yaw, got[1] - pitch, got[2] - roll];
            // The shape's square-on turn comes from frames whose jaw moved: a little of that stays.
            assert!(err.iter().all(|e| e.abs() < 1.0), "({yaw}, {pitch}, {roll}) fitted {got:?}");
        }
    }

    #[test]
    fn a_dropping_jaw_tips_the_axes_but_not_the_rigid_fit() {
        let (shut, depth_shut) = speaking_face(10.0, 5.0, 0.0, 9.0, 0.0);
        let (open, depth_open) = speaking_face(10.0, 5.0, 0.0, 9.0, 20.0);
        let axes_nod = measure(&open, &depth_open).pitch_deg - measure(&shut, &depth_shut).pitch_deg;
        let fit_nod = fitted(&open, &depth_open)[1] - fitted(&shut, &depth_shut)[1];
        assert!(axes_nod.abs() > 2.0, "the axes should feel the jaw (this test's premise): {axes_nod}");
        assert!(fit_nod.abs() < 0.05, "a dropping jaw nods the fitted head by {fit_nod} degrees");
    }
}
