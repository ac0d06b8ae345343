//! The rig's layout: which Face Mesh landmarks carry keypoints and in what region, the lid pairs, the
//! eye and lip outlines and the face oval the head and body rings are pushed out from.
//!
//! Input: nothing (tables of landmark indices). Output: constants and [`inside_polygon`]. Thread: any.

use glam::Vec2;

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
    pub(super) fn jaw_gain(self) -> f32 {
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
pub(super) const LAYOUT: &[(usize, Region)] = &[
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
pub(super) const LID_PAIRS: [(usize, usize); 14] = [
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
pub(super) const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150,
    136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];
/// The hair ring's distance from the face centre, as a multiple of the oval's.
pub(super) const HEAD_RING: f32 = 1.5;
/// The still ring's distance from the face centre, as a multiple of the oval's.
pub(super) const BODY_RING: f32 = 2.2;

/// How far a shut lid travels, as a share of the way to the lower lid (short of it, so the lids
/// never cross and fold).
pub(super) const LID_CLOSURE: f32 = 0.92;

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
pub(super) const INNER_UPPER: usize = 13;
/// Face Mesh landmark of the inner lower lip's centre.
pub(super) const INNER_LOWER: usize = 14;
