//! Face Mesh: 468 landmarks (MediaPipe), run through ort on a crop around a detection.
//!
//! The crop follows MediaPipe's face_landmark_front graph: a square 1.5 times the detection box's
//! longer side, centred on the box and rotated so the eye line is horizontal, resampled bilinearly to
//! 192x192, RGB in 0..1 (NHWC). The outputs are 468 (x, y, z) in crop pixels and a presence logit.
//!
//! Input: the image and a detection. Output: 468 landmarks with depth, and the presence score. Thread: the
//! caller's, once per portrait.

use glam::Vec2;
use image::RgbaImage;
use ort::session::Session;
use ort::value::Tensor;

use super::detect::Detection;
use super::{PortraitError, crop_affine};

const INPUT: usize = 192;
/// Landmarks in a Face Mesh.
pub const N_LANDMARKS: usize = 468;

/// The landmark model: one session, built once.
pub struct FaceMesh {
    session: Session,
}

/// Landmarks in image pixels and the model's presence score.
#[derive(Debug, Clone)]
pub struct Landmarks {
    /// 468 points, image pixels.
    pub points: Vec<Vec2>,
    /// Their depth, image pixels (Face Mesh's relative z: smaller is nearer the camera).
    pub depth: Vec<f32>,
    /// Face presence, 0..1.
    pub presence: f32,
}

impl FaceMesh {
    /// Wraps a loaded Face Mesh session.
    pub fn new(session: Session) -> Self {
        Self { session }
    }

    /// Runs the mesh on the crop that `det` defines.
    ///
    /// # Errors
    /// [`PortraitError::Inference`] when the model fails or returns unexpected shapes.
    pub fn landmarks(&mut self, image: &RgbaImage, det: &Detection) -> Result<Landmarks, PortraitError> {
        let eye_line = det.left_eye - det.right_eye;
        let ex = if eye_line.length() > 1e-3 { eye_line.normalize() } else { Vec2::X };
        let ey = Vec2::new(-ex.y, ex.x);
        let side = 1.5 * det.size.max_element();
        let pixels = crop_affine(image, INPUT, det.centre, side, ex, ey, |v| v);
        let input = Tensor::<f32>::from_array(([1usize, INPUT, INPUT, 3], pixels))?;
        let outputs = self.session.run(ort::inputs!["input_1" => input])?;
        let (_, pts) = outputs["conv2d_21"].try_extract_tensor::<f32>()?;
        let (_, presence) = outputs["conv2d_31"].try_extract_tensor::<f32>()?;
        if pts.len() != N_LANDMARKS * 3 || presence.len() != 1 {
            return Err(PortraitError::Inference("Face Mesh output shapes are not [..,1404] and [..,1]".into()));
        }
        let points = pts
            .chunks_exact(3)
            .map(|p| {
                let u = Vec2::new(p[0], p[1]) / INPUT as f32 - 0.5;
                det.centre + (u.x * ex + u.y * ey) * side
            })
            .collect();
        let depth = pts.chunks_exact(3).map(|p| p[2] / INPUT as f32 * side).collect();
        let presence = 1.0 / (1.0 + (-presence[0].clamp(-100.0, 100.0)).exp());
        Ok(Landmarks { points, depth, presence })
    }
}
