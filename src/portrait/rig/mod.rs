//! The keypoint rig: first-order-motion keypoints placed on Face Mesh landmarks, and how motion
//! parameters move them.
//!
//! Each keypoint has a source position `p_src` (where it sits in the portrait), a driving position
//! `p_drv` and a 2x2 Jacobian `J` (where it is now, and how the neighbourhood turns and stretches), as in
//! Siarohin et al., "First Order Motion Model", NeurIPS 2019. The renderer maps an output point `z` near
//! keypoint k to the source point `p_src + J (z - p_drv)`. All positions are in output-frame
//! coordinates ([-1, 1], x right, y down); spreads are in the face's own axes (along the eye line and
//! down the face).
//!
//! Motion, in this first rig (the "portrait looks alive" work deepens it):
//! - `jaw_open` drops the lower lip, chin and jaw along the face's down axis, by up to
//!   `rig.max_jaw_drop` face heights, each point by its own gain (chin 1, lower jaw 0.7, mouth corners
//!   0.45, upper jaw 0.3, upper lip -0.03, everything else 0; the lower lip 1 at its centre, falling
//!   to the corners' 0.45 as `1 - u^2` along the mouth, so the opening is an arc);
//! - `lip_close` brings the inner lips together over the source's own gap;
//! - `lip_round` draws the mouth corners in, `lip_stretch` pushes them out (0.12 and 0.08 mouth widths);
//! - `blink_right` / `blink_left` shut an eye (`Pose::blink`): the renderer's lid pass closes each of
//!   the seven upper-lid keypoints 92% of the way to its lower-lid partner (`blink_offset`). The warp
//!   does not move them: blended Gaussian maps smeared the iris into a vertical bar instead of closing
//!   the eye.
//!
//! - `gaze_x` / `gaze_y` turn the eyeballs (`Pose::gaze`): the renderer's eye pass redraws each eye
//!   from the source in the eye's own coordinates, shifted; no keypoint moves;
//! - `smile` lifts the mouth corners (0.07 mouth widths) and widens them (0.06), the lips by the square
//!   of their place along the mouth so they curve up, and lifts the cheeks (0.04);
//! - `brow_raise` lifts the brows by 0.04 face heights. Each brow keypoint's Jacobian stretches the
//!   skin down to the upper lid below it, which holds; translation alone copied the lash line up into
//!   the stretched skin;
//! - `nod` (0..1) adds a downward pitch of up to [`NOD_DEG`] degrees;
//! - `head_yaw_deg`, `head_pitch_deg`, `head_roll_deg` turn the head in 3D: every keypoint but the still
//!   ring rotates about a pivot at the top of the neck, 0.6 face heights behind the face, using Face
//!   Mesh's depth, and is projected orthographically. Its Jacobian is the inverse of the rotation's
//!   projected 2x2 block (the foreshortening of a turn). A hair ring outside the face oval turns with the
//!   head, and a wider ring holds the neck, shoulders and background still;
//! - `breath` raises the head and shoulders by up to 0.006 face heights.
//!
//! Without head motion the Jacobians are the identity: the mouth and eye keypoints translate.
//!
//! Input: the landmarks, the face's measures, the framing and `[rig]`, once; then motion parameters per frame.
//! Output: [`Rig`], then a [`Pose`] per frame. Thread: the caller's (the render thread drives it per frame).

use glam::{Mat2, Vec2};

mod layout;
mod poses;

pub use layout::{EYE_OUTLINES, INNER_LIP_OUTLINE, OUTER_LIP_OUTLINE, Region, inside_polygon};
pub use poses::{closed_sheet_poses, sheet_poses};

use layout::{BODY_RING, FACE_OVAL, HEAD_RING, INNER_LOWER, INNER_UPPER, LAYOUT, LID_CLOSURE, LID_PAIRS};

use super::FaceGeometry;
use crate::config::{RigConfig, Teeth};
use crate::vocab::motion::{MotionParams, NOD_DEG};
use crate::vocab::{Framing, MouthLook, Pose, RigGeometry, WarpKeypoint};

/// One keypoint of the rig.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RigKeypoint {
    /// The Face Mesh landmark it sits on.
    pub landmark: usize,
    /// Its region.
    pub region: Region,
    /// Source position, output-frame coordinates.
    #[serde(skip)]
    pub src: Vec2,
    /// Spread along the face's (right, down) axes, output-frame units.
    #[serde(skip)]
    pub sigma: Vec2,
    /// Blend weight.
    pub weight: f32,
    /// How far it drops at `jaw_open = 1`, as a share of the full jaw drop.
    pub jaw_gain: f32,
    /// Brows: the distance down to the upper lid below, frame units (0 for every other keypoint). A brow
    /// raise stretches the skin between over it.
    pub lid_gap: f32,
    /// Lips and mouth corners: where it sits along the mouth, -1 at the corner on the image's left, 1
    /// at the other (0 for every other keypoint). A smile lifts and widens the lips by its square.
    pub along_mouth: f32,
    /// Upper lids: where the lid goes when the eye is shut, relative to `src`.
    #[serde(skip)]
    pub blink_offset: Vec2,
    /// Depth behind the head's pivot, frame units (Face Mesh z; the head turns about the pivot).
    pub depth: f32,
}

/// How far breathing moves the head and shoulders at `breath = 1`, in face heights.
const BREATH_FACE_HEIGHTS: f32 = 0.006;
/// How far `brow_raise = 1` lifts the brows, in face heights.
const BROW_RAISE_FACE_HEIGHTS: f32 = 0.04;
/// How far `smile = 1` lifts the mouth corners, in mouth widths (the lips by the square of their place
/// along the mouth).
const SMILE_LIFT: f32 = 0.07;
/// How far `smile = 1` widens each mouth corner, in mouth widths.
const SMILE_WIDEN: f32 = 0.06;
/// How far `smile = 1` lifts the cheeks, in mouth widths.
const SMILE_CHEEK_LIFT: f32 = 0.04;

/// A head pose as a rotation about the pivot, applied to points with depth and projected
/// orthographically onto the frame.
struct HeadTurn {
    /// Rotation in face axes (x along the eye line, y down the face, z into the picture).
    rot: glam::Mat3,
    /// The Jacobian every turned keypoint gets: the inverse of the rotation's projected 2x2 block, in
    /// frame axes (source offset per output offset near the keypoint).
    jac: Mat2,
    pivot: Vec2,
    right: Vec2,
    down: Vec2,
}

impl HeadTurn {
    fn new(params: &MotionParams, pivot: Vec2, right: Vec2, down: Vec2) -> Self {
        let pitch_deg = params.head_pitch_deg + params.nod.clamp(0.0, 1.0) * NOD_DEG;
        let (yaw, pitch, roll) =
            (params.head_yaw_deg.to_radians(), pitch_deg.to_radians(), params.head_roll_deg.to_radians());
        // Positive yaw moves the (near) nose to the viewer's right, positive pitch moves it down, positive
        // roll turns the face clockwise on screen (y points down).
        let rot =
            glam::Mat3::from_rotation_z(roll) * glam::Mat3::from_rotation_x(pitch) * glam::Mat3::from_rotation_y(-yaw);
        let block = Mat2::from_cols(rot.x_axis.truncate(), rot.y_axis.truncate());
        let basis = Mat2::from_cols(right, down);
        let inverse = if block.determinant().abs() > 1e-3 { block.inverse() } else { Mat2::IDENTITY };
        Self { rot, jac: basis * inverse * basis.transpose(), pivot, right, down }
    }

    /// The turned position of frame point `p` at `depth`, and its Jacobian.
    fn apply(&self, p: Vec2, depth: f32) -> (Vec2, Mat2) {
        let d = p - self.pivot;
        let v = self.rot * glam::Vec3::new(d.dot(self.right), d.dot(self.down), depth);
        (self.pivot + self.right * v.x + self.down * v.y, self.jac)
    }
}

/// The rig of one portrait.
#[derive(Debug, Clone)]
pub struct Rig {
    /// The keypoints, in the rig's fixed layout order (the same for every portrait).
    pub keypoints: Vec<RigKeypoint>,
    /// Unit vector along the eye line, frame coordinates.
    pub right: Vec2,
    /// Unit vector down the face.
    pub down: Vec2,
    /// Jaw drop at `jaw_open = 1`, frame units.
    max_drop: f32,
    mouth_width: f32,
    inner_upper: usize,
    inner_lower: usize,
    /// Inner-lip gap of the source, frame units (0 for a closed mouth).
    rest_gap: f32,
    /// Where the teeth of an opening mouth come from (`[rig] teeth`); the renderer decides `auto`,
    /// by whether the portrait shows teeth.
    pub teeth: Teeth,
    /// Weight of the identity term.
    pub background_weight: f32,
    /// [`INNER_LIP_OUTLINE`] as indices into `keypoints`.
    pub inner_lip_outline: [usize; 16],
    /// [`EYE_OUTLINES`] as indices into `keypoints`.
    pub eye_outlines: [[usize; 16]; 2],
    /// [`OUTER_LIP_OUTLINE`] as indices into `keypoints`.
    pub outer_lip_outline: [usize; 16],
    /// The point the head turns about (the top of the neck), frame coordinates.
    pivot: Vec2,
    /// Face height, frame units.
    face_height: f32,
}

impl Rig {
    /// Places the keypoints on `landmarks` (image pixels) and sizes the motion by the face.
    /// `depth` is Face Mesh's z per landmark in image pixels (smaller is nearer); it lets the head turn in
    /// 3D.
    pub fn new(landmarks: &[Vec2], depth: &[f32], face: &FaceGeometry, framing: &Framing, cfg: &RigConfig) -> Self {
        let mw = framing.frame_len(face.mouth_width_px);
        let lip_sigma = Vec2::new(cfg.lip_sigma[1], cfg.lip_sigma[0]) * mw;
        let jaw_sigma = Vec2::splat(cfg.jaw_sigma * mw);
        // Lids: narrow across the lid (a sharp seam between the closing lid and the eye below it), wide
        // along it. In eye widths (outer to inner corner, both eyes averaged), as in the design notes.
        let eye_width = 0.5
            * (framing.frame_len(landmarks[33].distance(landmarks[133]))
                + framing.frame_len(landmarks[263].distance(landmarks[362])));
        let lid_sigma = Vec2::new(0.18, 0.06) * eye_width;
        let mouth_centre = (framing.frame_from_image(landmarks[61]) + framing.frame_from_image(landmarks[291])) * 0.5;
        // The head turns about the top of the neck, behind the face: 0.6 face heights below the face
        // centre and 0.6 face heights behind the mean depth of the face.
        let face_height = framing.frame_len(face.height_px);
        let centre = framing.frame_from_image(face.centre);
        let pivot = centre + face.down * (0.6 * face_height);
        let mean_depth = depth.iter().sum::<f32>() / depth.len().max(1) as f32;
        let depth_of = |lm: usize| {
            framing.frame_len(depth.get(lm).copied().unwrap_or(mean_depth) - mean_depth) + 0.6 * face_height
        };
        let mut keypoints: Vec<RigKeypoint> = LAYOUT
            .iter()
            .map(|&(landmark, region)| {
                let sigma = match region {
                    Region::LowerLip | Region::UpperLip => lip_sigma,
                    Region::MouthCorner => Vec2::new(0.08, 0.07) * mw,
                    Region::Eye => Vec2::new(0.10, 0.08) * mw,
                    Region::UpperLidRight | Region::UpperLidLeft | Region::LowerLid => lid_sigma,
                    Region::Nose => Vec2::splat(0.12 * mw),
                    Region::Brow => Vec2::new(0.14, 0.10) * mw,
                    Region::Chin
                    | Region::Jaw
                    | Region::UpperJaw
                    | Region::Cheek
                    | Region::Anchor
                    | Region::Head
                    | Region::Body => jaw_sigma,
                };
                let src = framing.frame_from_image(landmarks[landmark]);
                // The lower lip drops most at its centre and less towards the corners, so the opening
                // is a rounded arc rather than a flat-bottomed trapezoid.
                let along_mouth = match region {
                    Region::LowerLip | Region::UpperLip | Region::MouthCorner => {
                        ((src - mouth_centre).dot(face.right) / (0.5 * mw)).clamp(-1.0, 1.0)
                    }
                    _ => 0.0,
                };
                // A brow's lid: the upper-lid centre (159 or 386) on its side of the face.
                let lid_gap = if region == Region::Brow {
                    let lids = [159, 386].map(|lm| framing.frame_from_image(landmarks[lm]));
                    let side = |p: Vec2| (p - centre).dot(face.right);
                    let lid = if side(lids[0]).signum() == side(src).signum() { lids[0] } else { lids[1] };
                    (lid - src).dot(face.down).max(0.0)
                } else {
                    0.0
                };
                let jaw_gain = match region {
                    Region::LowerLip => {
                        let u = along_mouth.abs();
                        let corner = Region::MouthCorner.jaw_gain();
                        corner + (1.0 - corner) * (1.0 - u * u)
                    }
                    _ => region.jaw_gain(),
                };
                let (weight, blink_offset) = match region {
                    Region::UpperLidRight | Region::UpperLidLeft => {
                        let lower = LID_PAIRS.iter().find(|(u, _)| *u == landmark).map_or(landmark, |p| p.1);
                        (3.0, (framing.frame_from_image(landmarks[lower]) - src) * LID_CLOSURE)
                    }
                    // Heavy lid rows keep the unmoved surroundings from leaking into the eye.
                    Region::LowerLid => (3.0, Vec2::ZERO),
                    _ => (1.0, Vec2::ZERO),
                };
                RigKeypoint {
                    landmark,
                    region,
                    src,
                    sigma,
                    weight,
                    jaw_gain,
                    lid_gap,
                    along_mouth,
                    blink_offset,
                    depth: depth_of(landmark),
                }
            })
            .collect();
        // Rings outside the face: hair that turns with the head (the oval's upper part and sides), and
        // a wider ring that holds the neck, shoulders and background still.
        let ring_sigma = Vec2::splat(0.3 * mw);
        for &landmark in &FACE_OVAL {
            let p = framing.frame_from_image(landmarks[landmark]);
            let ring = |scale: f32, region: Region| RigKeypoint {
                landmark,
                region,
                src: centre + (p - centre) * scale,
                sigma: ring_sigma,
                weight: 1.0,
                jaw_gain: 0.0,
                lid_gap: 0.0,
                along_mouth: 0.0,
                blink_offset: Vec2::ZERO,
                depth: depth_of(landmark),
            };
            if (p - centre).dot(face.down) < 0.15 * face_height {
                keypoints.push(ring(HEAD_RING, Region::Head));
            }
            keypoints.push(ring(BODY_RING, Region::Body));
        }
        let find = |lm: usize| LAYOUT.iter().position(|&(l, _)| l == lm).expect("landmark in layout");
        let (inner_upper, inner_lower) = (find(INNER_UPPER), find(INNER_LOWER));
        let inner_lip_outline = INNER_LIP_OUTLINE.map(find);
        let eye_outlines = EYE_OUTLINES.map(|eye| eye.map(find));
        let outer_lip_outline = OUTER_LIP_OUTLINE.map(find);
        let down = face.down;
        let rest_gap = (keypoints[inner_lower].src - keypoints[inner_upper].src).dot(down).max(0.0);
        Self {
            keypoints,
            right: face.right,
            down,
            max_drop: framing.frame_len(cfg.max_jaw_drop * face.height_px),
            mouth_width: mw,
            inner_upper,
            inner_lower,
            rest_gap,
            teeth: cfg.teeth,
            background_weight: cfg.background_weight,
            inner_lip_outline,
            eye_outlines,
            outer_lip_outline,
            pivot,
            face_height,
        }
    }

    /// The rig as the renderer draws it, with the portrait's `framing` and the `mouth` look that
    /// [`super::mouth::look`] found.
    pub fn geometry(&self, framing: Framing, mouth: MouthLook) -> RigGeometry {
        RigGeometry {
            framing,
            keypoints: self
                .keypoints
                .iter()
                .map(|k| WarpKeypoint { src: k.src, spread: k.sigma, weight: k.weight, blink_offset: k.blink_offset })
                .collect(),
            right: self.right,
            down: self.down,
            background_weight: self.background_weight,
            inner_lip_outline: self.inner_lip_outline,
            outer_lip_outline: self.outer_lip_outline,
            eye_outlines: self.eye_outlines,
            inner_upper: self.inner_upper,
            inner_lower: self.inner_lower,
            rest_gap: self.rest_gap,
            mouth_width: self.mouth_width,
            mouth,
        }
    }

    /// Index (into `keypoints`) of the inner upper lip's centre.
    pub fn inner_upper(&self) -> usize {
        self.inner_upper
    }

    /// Index (into `keypoints`) of the inner lower lip's centre.
    pub fn inner_lower(&self) -> usize {
        self.inner_lower
    }

    /// A pose with every keypoint at rest (driving = source, identity Jacobians).
    pub fn rest_pose(&self) -> Pose {
        Pose {
            drv: self.keypoints.iter().map(|k| k.src).collect(),
            jac: vec![Mat2::IDENTITY; self.keypoints.len()],
            blink: [0.0; 2],
            gaze: [0.0; 2],
        }
    }

    /// Moves the keypoints for `params` into `pose` (which must come from [`rest_pose`](Self::rest_pose)).
    /// Allocates nothing.
    pub fn drive(&self, params: &MotionParams, pose: &mut Pose) {
        let drop = params.jaw_open.clamp(0.0, 1.0) * self.max_drop;
        let close = params.lip_close.clamp(0.0, 1.0) * 0.5 * self.rest_gap;
        let corner_in =
            (0.12 * params.lip_round.clamp(0.0, 1.0) - 0.08 * params.lip_stretch.clamp(0.0, 1.0)) * self.mouth_width;
        let smile = params.smile.clamp(0.0, 1.0) * self.mouth_width;
        let brow = params.brow_raise.clamp(0.0, 1.0) * BROW_RAISE_FACE_HEIGHTS * self.face_height;
        // No turn, no transform: the rest pose stays exactly the source.
        let turned = params.head_yaw_deg != 0.0
            || params.head_pitch_deg != 0.0
            || params.head_roll_deg != 0.0
            || params.nod > 0.0;
        let head = turned.then(|| HeadTurn::new(params, self.pivot, self.right, self.down));
        for ((k, drv), jac) in self.keypoints.iter().zip(&mut pose.drv).zip(&mut pose.jac) {
            let mut p = k.src + self.down * (k.jaw_gain * drop);
            match k.region {
                Region::UpperLip => p += self.down * close,
                Region::LowerLip => p -= self.down * close,
                Region::MouthCorner => p -= self.right * (k.along_mouth.signum() * corner_in),
                Region::Brow => p -= self.down * brow,
                Region::Cheek => p -= self.down * (SMILE_CHEEK_LIFT * smile),
                _ => {}
            }
            // A smile lifts and widens the mouth, most at the corners: by the square of the place
            // along the mouth, so the lips curve up.
            let u = k.along_mouth;
            p += (self.right * (SMILE_WIDEN * u * u.abs()) - self.down * (SMILE_LIFT * u * u)) * smile;
            // The still ring never turns; without a turn nothing does.
            (*drv, *jac) = match &head {
                Some(head) if k.region != Region::Body => head.apply(p, k.depth),
                _ => (p, Mat2::IDENTITY),
            };
            // A raised brow stretches the skin down to the lid, which holds: its map takes the lid's
            // source point at the lid (down axis scaled by gap / (gap + raise)), so the lashes are not
            // copied up into the stretched skin.
            if k.region == Region::Brow && brow > 0.0 && k.lid_gap > 0.0 {
                let scale = k.lid_gap / (k.lid_gap + brow);
                let down = self.down;
                let stretch = Mat2::IDENTITY + Mat2::from_cols(down * down.x, down * down.y) * (scale - 1.0);
                *jac = stretch * *jac;
            }
            *drv += self.down * (params.breath.clamp(-1.0, 1.0) * BREATH_FACE_HEIGHTS * self.face_height);
        }
        self.set_eyes(params, pose);
    }

    /// Sets the lids (`blink_right`, `blink_left`, 0 = open, 1 = shut) and the gaze (`gaze_x`, `gaze_y`)
    /// of `params` in `pose`. The pipeline calls it after smoothing: blinks and saccades are quick, clean
    /// signals that a jitter filter would only blunt.
    pub fn set_eyes(&self, params: &MotionParams, pose: &mut Pose) {
        pose.blink = [params.blink_right.clamp(0.0, 1.0), params.blink_left.clamp(0.0, 1.0)];
        pose.gaze = [params.gaze_x.clamp(-1.0, 1.0), params.gaze_y.clamp(-1.0, 1.0)];
    }

    /// The opening of the inner lips in `pose`, 0 = closed, 1 = the widest this rig opens
    /// (`jaw_open = 1`, lips apart).
    pub fn mouth_open(&self, pose: &Pose) -> f32 {
        let gap = (pose.drv[self.inner_lower] - pose.drv[self.inner_upper]).dot(self.down).max(0.0);
        let widest = self.rest_gap
            + self.max_drop * (self.keypoints[self.inner_lower].jaw_gain - self.keypoints[self.inner_upper].jaw_gain);
        if widest <= 1e-6 { 0.0 } else { (gap / widest).clamp(0.0, 1.0) }
    }

    /// The inner-lip gap of the source portrait as a fraction of the widest opening.
    pub fn rest_mouth_open(&self) -> f32 {
        self.mouth_open(&self.rest_pose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rig() -> Rig {
        // A synthetic face: landmarks on a grid, mouth at y = 0.3, eyes level.
        let mut lm = vec![Vec2::new(100.0, 100.0); 468];
        for (i, p) in lm.iter_mut().enumerate() {
            *p = Vec2::new(60.0 + (i % 20) as f32 * 4.0, 60.0 + (i / 20) as f32 * 4.0);
        }
        lm[13] = Vec2::new(100.0, 130.0);
        lm[14] = Vec2::new(100.0, 132.0);
        let face = FaceGeometry {
            right: Vec2::X,
            down: Vec2::Y,
            height_px: 80.0,
            mouth_width_px: 40.0,
            centre: Vec2::new(100.0, 100.0),
        };
        let framing = Framing { origin: Vec2::ZERO, side: 200.0 };
        Rig::new(&lm, &[0.0; 468], &face, &framing, &RigConfig::default())
    }

    #[test]
    fn rest_pose_is_source_and_jaw_opens_mouth() {
        let rig = rig();
        let mut pose = rig.rest_pose();
        rig.drive(&MotionParams::default(), &mut pose);
        assert_eq!(pose, rig.rest_pose());
        let rest = rig.mouth_open(&pose);
        rig.drive(&MotionParams { jaw_open: 1.0, ..Default::default() }, &mut pose);
        assert!((rig.mouth_open(&pose) - 1.0).abs() < 1e-5);
        rig.drive(&MotionParams { jaw_open: 0.5, ..Default::default() }, &mut pose);
        let half = rig.mouth_open(&pose);
        assert!(rest < half && half < 1.0, "rest {rest}, half {half}");
    }

    #[test]
    fn smile_lifts_and_widens_the_corners_and_nod_tips_the_head() {
        let rig = rig();
        let rest = rig.rest_pose();
        let mut pose = rig.rest_pose();
        rig.drive(&MotionParams { smile: 1.0, ..Default::default() }, &mut pose);
        for (i, k) in rig.keypoints.iter().enumerate() {
            let d = pose.drv[i] - rest.drv[i];
            match k.region {
                Region::MouthCorner if k.along_mouth.abs() > 0.9 => {
                    // Up (negative y) and outwards, by the square of the place along the mouth.
                    assert!(d.y < -0.5 * SMILE_LIFT * rig.mouth_width, "corner {} rose {}", k.landmark, -d.y);
                    assert!(d.x * k.along_mouth > 0.0, "corner {} moved {d} inwards", k.landmark);
                }
                Region::Cheek => assert!(d.y < 0.0 && d.x == 0.0, "cheek {} moved {d}", k.landmark),
                Region::Nose | Region::Eye | Region::Anchor | Region::Body => assert_eq!(d, Vec2::ZERO),
                _ => {}
            }
        }
        // A nod is a downward pitch of NOD_DEG at 1.
        let (mut a, mut b) = (rig.rest_pose(), rig.rest_pose());
        rig.drive(&MotionParams { nod: 0.5, ..Default::default() }, &mut a);
        rig.drive(&MotionParams { head_pitch_deg: 0.5 * NOD_DEG, ..Default::default() }, &mut b);
        assert_eq!(a, b);
        assert_ne!(a.drv, rest.drv);
        // Eyes: set_eyes carries blinks and gaze into the pose, clamped.
        rig.set_eyes(&MotionParams { gaze_x: 2.0, gaze_y: -0.3, blink_left: 0.4, ..Default::default() }, &mut a);
        assert_eq!((a.gaze, a.blink), ([1.0, -0.3], [0.0, 0.4]));
    }

    #[test]
    fn lip_close_closes_the_source_gap() {
        let rig = rig();
        let mut pose = rig.rest_pose();
        rig.drive(&MotionParams { lip_close: 1.0, ..Default::default() }, &mut pose);
        assert!(rig.mouth_open(&pose) < 1e-5);
    }
}

#[cfg(test)]
mod blink_tests {
    use super::*;

    #[test]
    fn a_blink_shuts_its_eye_and_moves_no_keypoint() {
        let mut lm: Vec<Vec2> =
            (0..468).map(|i| Vec2::new(50.0 + (i % 30) as f32 * 3.0, 50.0 + (i / 30) as f32 * 3.0)).collect();
        for (u, l) in LID_PAIRS {
            lm[l] = lm[u] + Vec2::new(0.0, 8.0);
        }
        let face = FaceGeometry {
            right: Vec2::X,
            down: Vec2::Y,
            height_px: 80.0,
            mouth_width_px: 40.0,
            centre: Vec2::splat(100.0),
        };
        let framing = Framing { origin: Vec2::ZERO, side: 200.0 };
        let rig = Rig::new(&lm, &[0.0; 468], &face, &framing, &RigConfig::default());
        let mut pose = rig.rest_pose();
        rig.drive(&MotionParams { blink_right: 1.0, ..Default::default() }, &mut pose);
        assert_eq!(pose.blink, [1.0, 0.0]);
        assert_eq!(pose.drv, rig.rest_pose().drv);
        // Each upper lid closes 92% of the way to its lower-lid partner (8 px = 0.08 frame units).
        for k in rig.keypoints.iter().filter(|k| k.region == Region::UpperLidRight) {
            assert!((k.blink_offset - Vec2::new(0.0, 0.92 * 0.08)).length() < 1e-5, "lid {}", k.landmark);
        }
    }
}
