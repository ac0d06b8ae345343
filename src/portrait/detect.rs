//! BlazeFace short-range face detection (MediaPipe), run through ort.
//!
//! The model takes the image letterboxed to a square and resized to 128x128, RGB in -1..1 (NHWC), and
//! returns 896 anchor-relative boxes with six keypoints each, plus logits. The anchors are MediaPipe's
//! SSD anchors for this model: stride 8 (16x16 cells, 2 anchors each) then stride 16 (8x8 cells,
//! 6 anchors each), centres at cell centres, fixed size 1.
//!
//! Input: the portrait image. Output: the best face box with its six keypoints. Thread: the caller's, once per
//! portrait.

use glam::Vec2;
use image::RgbaImage;
use ort::session::Session;
use ort::value::Tensor;

use super::{PortraitError, crop_affine};

const INPUT: usize = 128;

/// One detected face, in image pixels.
#[derive(Debug, Clone, Copy)]
pub struct Detection {
    /// Sigmoid score, 0..1.
    pub score: f32,
    /// Box centre.
    pub centre: Vec2,
    /// Box size (width, height).
    pub size: Vec2,
    /// The person's right eye (on the image's left for a frontal face).
    pub right_eye: Vec2,
    /// The person's left eye.
    pub left_eye: Vec2,
    /// Nose tip.
    pub nose: Vec2,
    /// Mouth centre.
    pub mouth: Vec2,
    /// The best score of a detection centred outside this face's box: another face (0 when none).
    pub other_score: f32,
}

fn anchors() -> Vec<Vec2> {
    let mut out = Vec::with_capacity(896);
    for (grid, per_cell) in [(16usize, 2usize), (8, 6)] {
        for y in 0..grid {
            for x in 0..grid {
                let c = Vec2::new((x as f32 + 0.5) / grid as f32, (y as f32 + 0.5) / grid as f32);
                out.extend(std::iter::repeat_n(c, per_cell));
            }
        }
    }
    out
}

/// The face detector: one session, built once.
pub struct FaceDetector {
    session: Session,
    anchors: Vec<Vec2>,
}

impl FaceDetector {
    /// Wraps a loaded BlazeFace session.
    pub fn new(session: Session) -> Self {
        Self { session, anchors: anchors() }
    }

    /// Finds the highest-scoring face. Returns `None` when no anchor scores `min_score`.
    ///
    /// # Errors
    /// [`PortraitError::Inference`] when the model fails or returns unexpected shapes.
    pub fn detect(&mut self, image: &RgbaImage, min_score: f32) -> Result<Option<Detection>, PortraitError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let side = w.max(h);
        let centre = Vec2::new(w, h) * 0.5;
        // Letterbox: the square of `side` around the image centre; outside the image is black.
        let pixels = crop_affine(image, INPUT, centre, side, Vec2::X, Vec2::Y, |v| v * 2.0 - 1.0);
        let input = Tensor::<f32>::from_array(([1usize, INPUT, INPUT, 3], pixels))?;
        let outputs = self.session.run(ort::inputs!["input" => input])?;
        let (_, reg) = outputs["regressors"].try_extract_tensor::<f32>()?;
        let (_, cls) = outputs["classificators"].try_extract_tensor::<f32>()?;
        if reg.len() != 896 * 16 || cls.len() != 896 {
            return Err(PortraitError::Inference("BlazeFace output shapes are not [1,896,16] and [1,896,1]".into()));
        }
        let best = cls
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, &logit)| (i, 1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp())));
        let Some((i, score)) = best else { return Ok(None) };
        if score < min_score {
            return Ok(None);
        }
        let r = &reg[i * 16..(i + 1) * 16];
        let a = self.anchors[i];
        // Normalised letterbox coordinates -> image pixels.
        let origin = centre - Vec2::splat(side * 0.5);
        let to_px = |x: f32, y: f32| origin + (a + Vec2::new(x, y) / INPUT as f32) * side;
        let kp = |k: usize| to_px(r[4 + 2 * k], r[5 + 2 * k]);
        let (centre_px, size_px) = (to_px(r[0], r[1]), Vec2::new(r[2], r[3]) / INPUT as f32 * side);
        // Another face: the best anchor whose box centre falls outside this face's box (the anchors
        // around one face all centre inside it).
        let other_score = cls
            .iter()
            .enumerate()
            .filter(|&(j, _)| {
                let c = origin + (self.anchors[j] + Vec2::new(reg[j * 16], reg[j * 16 + 1]) / INPUT as f32) * side;
                let d = (c - centre_px).abs();
                d.x > 0.5 * size_px.x || d.y > 0.5 * size_px.y
            })
            .map(|(_, &logit)| 1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp()))
            .fold(0.0f32, f32::max);
        Ok(Some(Detection {
            score,
            centre: centre_px,
            size: size_px,
            other_score,
            right_eye: kp(0),
            left_eye: kp(1),
            nose: kp(2),
            mouth: kp(3),
        }))
    }
}
