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
//! - `blink_right` / `blink_left` shut an eye ([`Pose::blink`]): the renderer's lid pass closes each of
//!   the seven upper-lid keypoints 92% of the way to its lower-lid partner (`blink_offset`). The warp
//!   does not move them: blended Gaussian maps smeared the iris into a vertical bar instead of closing
//!   the eye.
//!
//! - `gaze_x` / `gaze_y` turn the eyeballs ([`Pose::gaze`]): the renderer's eye pass redraws each eye
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

use glam::{Mat2, Vec2};

use super::{FaceGeometry, Framing};
use crate::config::{RigConfig, Teeth};
use crate::motion::{MotionParams, NOD_DEG};

/// What part of the face a keypoint belongs to; it sets the spread and the jaw gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// Lower lip, inner and outer.
    LowerLip,
    /// Upper lip, inner and outer.
    UpperLip,
    /// Mouth corners, inner and outer.
    MouthCorner,
    /// Chin.
    Chin,
    /// Lower jaw line.
    Jaw,
    /// Upper jaw line, near the ears.
    UpperJaw,
    /// Eye corners.
    Eye,
    /// Upper lid of the person's right eye (on the image's left); it closes with `blink_right`.
    UpperLidRight,
    /// Upper lid of the person's left eye; it closes with `blink_left`.
    UpperLidLeft,
    /// Lower lids: they hold still and the upper lid closes onto them.
    LowerLid,
    /// Nose.
    Nose,
    /// Brows: they rise with `brow_raise`.
    Brow,
    /// Cheeks: they rise with `smile`.
    Cheek,
    /// Fixed anchors: forehead, face outline.
    Anchor,
    /// Hair and the back of the head: a ring outside the face oval that turns with the head.
    Head,
    /// Neck, shoulders and the background near the head: a wider ring that holds still while the head
    /// turns.
    Body,
}

impl Region {
    fn jaw_gain(self) -> f32 {
        match self {
            Self::LowerLip | Self::Chin => 1.0,
            Self::Jaw => 0.7,
            Self::MouthCorner => 0.45,
            Self::UpperJaw => 0.3,
            Self::UpperLip => -0.03,
            Self::Eye
            | Self::UpperLidRight
            | Self::UpperLidLeft
            | Self::LowerLid
            | Self::Nose
            | Self::Brow
            | Self::Cheek
            | Self::Anchor
            | Self::Head
            | Self::Body => 0.0,
        }
    }
}

/// The keypoints: (Face Mesh landmark, region). Face Mesh indices as in the MediaPipe canonical mesh.
const LAYOUT: &[(usize, Region)] = &[
    // lower lip: inner 14 (centre) .. then outer 17 (centre) ..
    (14, Region::LowerLip),
    (87, Region::LowerLip),
    (317, Region::LowerLip),
    (178, Region::LowerLip),
    (402, Region::LowerLip),
    (88, Region::LowerLip),
    (318, Region::LowerLip),
    (17, Region::LowerLip),
    (84, Region::LowerLip),
    (314, Region::LowerLip),
    (181, Region::LowerLip),
    (405, Region::LowerLip),
    (91, Region::LowerLip),
    (321, Region::LowerLip),
    // upper lip: inner 13 (centre) .., outer 0 (centre) ..
    (13, Region::UpperLip),
    (82, Region::UpperLip),
    (312, Region::UpperLip),
    (81, Region::UpperLip),
    (311, Region::UpperLip),
    (80, Region::UpperLip),
    (310, Region::UpperLip),
    (0, Region::UpperLip),
    (37, Region::UpperLip),
    (267, Region::UpperLip),
    (39, Region::UpperLip),
    (269, Region::UpperLip),
    (40, Region::UpperLip),
    (270, Region::UpperLip),
    // mouth corners: outer 61 / 291, inner 78 / 308
    (61, Region::MouthCorner),
    (291, Region::MouthCorner),
    (78, Region::MouthCorner),
    (308, Region::MouthCorner),
    // chin and jaw
    (152, Region::Chin),
    (148, Region::Chin),
    (377, Region::Chin),
    (175, Region::Chin),
    (199, Region::Chin),
    (200, Region::Chin),
    (176, Region::Jaw),
    (400, Region::Jaw),
    (149, Region::Jaw),
    (378, Region::Jaw),
    (150, Region::Jaw),
    (379, Region::Jaw),
    (136, Region::UpperJaw),
    (365, Region::UpperJaw),
    (172, Region::UpperJaw),
    (397, Region::UpperJaw),
    // eyes: corners 33, 133 (right), 362, 263 (left); upper and lower lids in matching order
    (33, Region::Eye),
    (133, Region::Eye),
    (362, Region::Eye),
    (263, Region::Eye),
    (246, Region::UpperLidRight),
    (161, Region::UpperLidRight),
    (160, Region::UpperLidRight),
    (159, Region::UpperLidRight),
    (158, Region::UpperLidRight),
    (157, Region::UpperLidRight),
    (173, Region::UpperLidRight),
    (7, Region::LowerLid),
    (163, Region::LowerLid),
    (144, Region::LowerLid),
    (145, Region::LowerLid),
    (153, Region::LowerLid),
    (154, Region::LowerLid),
    (155, Region::LowerLid),
    (466, Region::UpperLidLeft),
    (388, Region::UpperLidLeft),
    (387, Region::UpperLidLeft),
    (386, Region::UpperLidLeft),
    (385, Region::UpperLidLeft),
    (384, Region::UpperLidLeft),
    (398, Region::UpperLidLeft),
    (249, Region::LowerLid),
    (390, Region::LowerLid),
    (373, Region::LowerLid),
    (374, Region::LowerLid),
    (380, Region::LowerLid),
    (381, Region::LowerLid),
    (382, Region::LowerLid),
    // nose
    (1, Region::Nose),
    (2, Region::Nose),
    (4, Region::Nose),
    (98, Region::Nose),
    (327, Region::Nose),
    // brows: outer end, middle and inner end of the upper edge, person's right first
    (70, Region::Brow),
    (105, Region::Brow),
    (107, Region::Brow),
    (300, Region::Brow),
    (334, Region::Brow),
    (336, Region::Brow),
    // cheeks
    (205, Region::Cheek),
    (425, Region::Cheek),
    (50, Region::Cheek),
    (280, Region::Cheek),
    // fixed anchors: forehead, outline
    (10, Region::Anchor),
    (151, Region::Anchor),
    (9, Region::Anchor),
    (58, Region::Anchor),
    (288, Region::Anchor),
    (132, Region::Anchor),
    (361, Region::Anchor),
    (234, Region::Anchor),
    (454, Region::Anchor),
    (93, Region::Anchor),
    (323, Region::Anchor),
    (127, Region::Anchor),
    (356, Region::Anchor),
];

/// Each upper-lid landmark and the lower-lid landmark it closes onto.
const LID_PAIRS: [(usize, usize); 14] = [
    (246, 7),
    (161, 163),
    (160, 144),
    (159, 145),
    (158, 153),
    (157, 154),
    (173, 155),
    (466, 249),
    (388, 390),
    (387, 373),
    (386, 374),
    (385, 380),
    (384, 381),
    (398, 382),
];

/// Each eye's opening: outer corner, the seven upper-lid landmarks, inner corner, then the lower lid
/// back towards the outer corner. Person's right eye first (on the image's left).
pub const EYE_OUTLINES: [[usize; 16]; 2] = [
    [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7],
    [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249],
];

/// The face oval in Face Mesh order, clockwise from the forehead. Its upper part, pushed outwards, places
/// the hair ring ([`Region::Head`]); all of it, pushed further, the still ring ([`Region::Body`]).
const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150,
    136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];
/// The hair ring's distance from the face centre, as a multiple of the oval's.
const HEAD_RING: f32 = 1.5;
/// The still ring's distance from the face centre, as a multiple of the oval's.
const BODY_RING: f32 = 2.2;

/// How far a shut lid travels, as a share of the way to the lower lid (short of it, so the lids
/// never cross and fold).
const LID_CLOSURE: f32 = 0.92;

/// The inner-lip outline, Face Mesh landmarks in order around the mouth opening: from the corner on the
/// image's left along the upper lip to the other corner, then back along the lower lip.
pub const INNER_LIP_OUTLINE: [usize; 16] = [78, 80, 81, 82, 13, 312, 311, 310, 308, 318, 402, 317, 14, 87, 178, 88];

/// The outer-lip outline, in the same order: from the corner on the image's left along the upper lip's
/// outer edge to the other corner, then back along the lower lip's.
pub const OUTER_LIP_OUTLINE: [usize; 16] = [61, 40, 39, 37, 0, 267, 269, 270, 291, 321, 405, 314, 17, 84, 181, 91];

/// Whether point `q` lies inside the closed polygon through `points` (even-odd rule).
pub fn inside_polygon(points: &[Vec2], q: Vec2) -> bool {
    let mut inside = false;
    for (i, a) in points.iter().enumerate() {
        let b = points[(i + 1) % points.len()];
        if (a.y > q.y) != (b.y > q.y) && q.x < (b.x - a.x) * (q.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
    }
    inside
}

/// Face Mesh landmark of the inner upper lip's centre.
const INNER_UPPER: usize = 13;
/// Face Mesh landmark of the inner lower lip's centre.
const INNER_LOWER: usize = 14;

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
    /// Where the eyes look, (across, down), -1..1 ([`MotionParams::gaze_x`], `gaze_y`). The renderer's
    /// eye pass moves the eyeball under the lids; the warp does not see it.
    pub gaze: [f32; 2],
}

impl Pose {
    /// Values per keypoint in [`to_flat`](Self::to_flat): x, y and the four Jacobian entries.
    pub const FLAT_PER_KEYPOINT: usize = 6;

    /// Writes positions and Jacobians into `out` (6 values per keypoint: x, y, J00, J01, J10, J11),
    /// the layout the smoother filters.
    pub fn to_flat(&self, out: &mut [f32]) {
        for ((o, p), j) in out.chunks_exact_mut(Self::FLAT_PER_KEYPOINT).zip(&self.drv).zip(&self.jac) {
            o.copy_from_slice(&[p.x, p.y, j.x_axis.x, j.y_axis.x, j.x_axis.y, j.y_axis.y]);
        }
    }

    /// Reads the layout of [`to_flat`](Self::to_flat) back.
    pub fn from_flat(&mut self, flat: &[f32]) {
        for ((o, p), j) in flat.chunks_exact(Self::FLAT_PER_KEYPOINT).zip(&mut self.drv).zip(&mut self.jac) {
            *p = Vec2::new(o[0], o[1]);
            *j = Mat2::from_cols(Vec2::new(o[2], o[4]), Vec2::new(o[3], o[5]));
        }
    }
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

    /// Mouth width (corner to corner) of the source, frame units.
    pub fn mouth_width(&self) -> f32 {
        self.mouth_width
    }

    /// Index (into `keypoints`) of the inner upper lip's centre.
    pub fn inner_upper(&self) -> usize {
        self.inner_upper
    }

    /// Index (into `keypoints`) of the inner lower lip's centre.
    pub fn inner_lower(&self) -> usize {
        self.inner_lower
    }

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
    fn flat_round_trip() {
        let rig = rig();
        let mut pose = rig.rest_pose();
        rig.drive(&MotionParams { jaw_open: 0.7, lip_round: 0.3, ..Default::default() }, &mut pose);
        pose.jac[3] = Mat2::from_cols(Vec2::new(1.0, 0.2), Vec2::new(-0.1, 0.9));
        let mut flat = vec![0.0; pose.drv.len() * Pose::FLAT_PER_KEYPOINT];
        pose.to_flat(&mut flat);
        let mut back = rig.rest_pose();
        back.from_flat(&flat);
        assert_eq!(back, pose);
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

/// The poses of the reference contact sheet, by name: neutral, jaw 0.5 and 1.0, lip_round, lip_stretch,
/// blink, yaw +-10 degrees, pitch +-8 degrees, roll +-8 degrees, smile, brow_raise and gaze to either
/// side.
pub fn sheet_poses() -> [(&'static str, MotionParams); 16] {
    let p = MotionParams::default;
    [
        ("neutral", p()),
        ("jaw_0.5", MotionParams { jaw_open: 0.5, ..p() }),
        ("jaw_1.0", MotionParams { jaw_open: 1.0, ..p() }),
        ("lip_round", MotionParams { lip_round: 1.0, ..p() }),
        ("lip_stretch", MotionParams { lip_stretch: 1.0, ..p() }),
        ("blink", MotionParams { blink_right: 1.0, blink_left: 1.0, ..p() }),
        ("yaw_+10", MotionParams { head_yaw_deg: 10.0, ..p() }),
        ("yaw_-10", MotionParams { head_yaw_deg: -10.0, ..p() }),
        ("pitch_+8", MotionParams { head_pitch_deg: 8.0, ..p() }),
        ("pitch_-8", MotionParams { head_pitch_deg: -8.0, ..p() }),
        ("roll_+8", MotionParams { head_roll_deg: 8.0, ..p() }),
        ("roll_-8", MotionParams { head_roll_deg: -8.0, ..p() }),
        ("smile", MotionParams { smile: 1.0, ..p() }),
        ("brow_raise", MotionParams { brow_raise: 1.0, ..p() }),
        ("gaze_+1", MotionParams { gaze_x: 1.0, ..p() }),
        ("gaze_-1", MotionParams { gaze_x: -1.0, ..p() }),
    ]
}

/// [`sheet_poses`] with the mouth closed at rest (`lip_close = 1`): a portrait that shows its teeth
/// played as a closed-mouth one.
pub fn closed_sheet_poses() -> [(&'static str, MotionParams); 16] {
    sheet_poses().map(|(name, params)| (name, MotionParams { lip_close: 1.0, ..params }))
}
