//! The portrait: one reference image in; the face found, framed and rigged out.
//!
//! Input: an image file (PNG, JPEG, WebP, BMP). Output: [`Portrait`]: the RGBA image, the face's 468
//! landmarks, the output [`Framing`] (a square crop around the face) and the [`Rig`], the
//! first-order-motion keypoints placed on the face and the rules by which motion parameters move them.
//! Thread: the caller's, once at start-up. BlazeFace finds the face, Face Mesh places the landmarks;
//! both run through ort.
//!
//! Architecture Invariant: everything here happens once per portrait, before the first frame; nothing
//! in this module runs per frame except [`Rig::drive`], which allocates nothing.

pub mod camera;
pub mod detect;
pub mod frames;
pub mod landmarks;
pub mod mouth;
pub mod rig;
pub mod segment;
pub mod track;

use std::path::Path;

use glam::Vec2;
use image::RgbaImage;

pub use rig::{Rig, RigKeypoint};

use crate::config::PortraitConfig;
use crate::onnx::{ModelSource, OnnxError};
use crate::vocab::{Framing, RigGeometry};

/// Errors of the portrait stage.
#[derive(Debug, thiserror::Error)]
pub enum PortraitError {
    /// The file could not be read.
    #[error("cannot read portrait {path}: {reason}")]
    Read { path: String, reason: String },
    /// The file is not an image facecast can decode.
    #[error("{path} is not an image facecast can read (PNG, JPEG, WebP, BMP): {reason}")]
    NotAnImage { path: String, reason: String },
    /// The image is too small to hold a usable face.
    #[error("portrait {path} is {width}x{height}; it must be at least 64x64")]
    TooSmall { path: String, width: u32, height: u32 },
    /// The image's header declares more pixels than facecast decodes (checked before decoding).
    #[error(
        "portrait {path} is {width}x{height}; facecast takes at most {MAX_PORTRAIT_SIDE} pixels a side and {MAX_PORTRAIT_MEGAPIXELS} megapixels (scale it down first)"
    )]
    TooLarge { path: String, width: u32, height: u32 },
    /// No face was found.
    #[error(
        "no face found in {path} (best detection score {score:.2}, need {min:.2}); use a portrait with one clearly visible, roughly frontal face"
    )]
    NoFace { path: String, score: f32, min: f32 },
    /// More than one face was found.
    #[error(
        "several faces in {path} (the best scores {score:.2}, another {other:.2}); use a portrait with one person in it, or crop it to one face"
    )]
    SeveralFaces { path: String, score: f32, other: f32 },
    /// A model could not be loaded.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// A model failed at inference time.
    #[error("face model inference failed: {0}")]
    Inference(String),
    /// A camera could not be opened or stopped delivering.
    #[error("{camera}: {reason} (facecast devices lists the cameras)")]
    Camera { camera: String, reason: String },
    /// A head video or folder could not be read.
    #[error("head frames {path}: {reason}")]
    HeadFrames { path: String, reason: String },
}

impl From<ort::Error> for PortraitError {
    fn from(e: ort::Error) -> Self {
        Self::Inference(e.to_string())
    }
}

/// Samples `image` on an `n x n` grid spanning the square of side `side` pixels centred on `centre`,
/// with axes `ex`, `ey`; bilinear, pixel centres at +0.5, black outside. Returns RGB, channel-last,
/// each value `norm(v)` for `v` in 0..1.
pub(crate) fn crop_affine(
    image: &RgbaImage,
    n: usize,
    centre: Vec2,
    side: f32,
    ex: Vec2,
    ey: Vec2,
    norm: impl Fn(f32) -> f32,
) -> Vec<f32> {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let px = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h { 0.0 } else { f32::from(raw[((y * w + x) * 4) as usize + c]) }
    };
    let mut out = Vec::with_capacity(n * n * 3);
    for v in 0..n {
        for u in 0..n {
            let un = (u as f32 + 0.5) / n as f32 - 0.5;
            let vn = (v as f32 + 0.5) / n as f32 - 0.5;
            let p = centre + (un * ex + vn * ey) * side - Vec2::splat(0.5);
            let (x0, y0) = (p.x.floor(), p.y.floor());
            let (fx, fy) = (p.x - x0, p.y - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            for c in 0..3 {
                let top = px(x0, y0, c) * (1.0 - fx) + px(x0 + 1, y0, c) * fx;
                let bottom = px(x0, y0 + 1, c) * (1.0 - fx) + px(x0 + 1, y0 + 1, c) * fx;
                out.push(norm((top * (1.0 - fy) + bottom * fy) / 255.0));
            }
        }
    }
    out
}

/// Reads and decodes a portrait file.
///
/// # Errors
/// [`PortraitError::Read`], [`PortraitError::NotAnImage`] or [`PortraitError::TooSmall`].
pub fn load_image(path: &Path) -> Result<RgbaImage, PortraitError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| PortraitError::Read { path: name.clone(), reason: e.to_string() })?;
    decode_image(&bytes, &name)
}

/// The largest portrait side facecast decodes, pixels.
pub const MAX_PORTRAIT_SIDE: u32 = 8192;
/// The most pixels a portrait may have, in millions (a 48 MP phone photo fits).
pub const MAX_PORTRAIT_MEGAPIXELS: u32 = 64;

/// Decodes portrait bytes; `name` is used in messages. The size in the header is checked before any
/// pixel is decoded, and the EXIF orientation (a phone photo taken sideways) is applied, so the face
/// stands upright.
///
/// # Errors
/// [`PortraitError::NotAnImage`], [`PortraitError::TooSmall`] or [`PortraitError::TooLarge`].
pub fn decode_image(bytes: &[u8], name: &str) -> Result<RgbaImage, PortraitError> {
    use image::ImageDecoder as _;
    let not_image = |e: image::ImageError| PortraitError::NotAnImage { path: name.to_owned(), reason: e.to_string() };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| not_image(image::ImageError::IoError(e)))?;
    let mut decoder = reader.into_decoder().map_err(not_image)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_PORTRAIT_SIDE
        || height > MAX_PORTRAIT_SIDE
        || u64::from(width) * u64::from(height) > u64::from(MAX_PORTRAIT_MEGAPIXELS) * 1_000_000
    {
        return Err(PortraitError::TooLarge { path: name.to_owned(), width, height });
    }
    let orientation = decoder.orientation().map_err(not_image)?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(not_image)?;
    img.apply_orientation(orientation);
    let img = img.to_rgba8();
    if img.width() < 64 || img.height() < 64 {
        return Err(PortraitError::TooSmall { path: name.to_owned(), width: img.width(), height: img.height() });
    }
    Ok(img)
}

/// Face measurements, in image pixels.
#[derive(Debug, Clone, Copy)]
pub struct FaceGeometry {
    /// Unit vector along the eye line, from the person's right eye to the left.
    pub right: Vec2,
    /// Unit vector down the face (perpendicular to `right`).
    pub down: Vec2,
    /// Forehead (landmark 10) to chin (152).
    pub height_px: f32,
    /// Mouth corner to mouth corner (61 to 291).
    pub mouth_width_px: f32,
    /// Centre of the landmarks' bounding box.
    pub centre: Vec2,
}

impl FaceGeometry {
    fn from_landmarks(p: &[Vec2]) -> Self {
        let eye_line = p[263] - p[33];
        let right = if eye_line.length() > 1e-3 { eye_line.normalize() } else { Vec2::X };
        let (lo, hi) =
            p.iter().fold((Vec2::splat(f32::MAX), Vec2::splat(f32::MIN)), |(lo, hi), q| (lo.min(*q), hi.max(*q)));
        Self {
            right,
            down: Vec2::new(-right.y, right.x),
            height_px: p[10].distance(p[152]),
            mouth_width_px: p[61].distance(p[291]),
            centre: (lo + hi) * 0.5,
        }
    }
}

/// The two face models, loaded once and reusable for several portraits.
pub struct FaceModels {
    detector: detect::FaceDetector,
    mesh: landmarks::FaceMesh,
}

impl FaceModels {
    /// Loads the detector and landmark models named in `cfg` (the bundled ones by default).
    ///
    /// # Errors
    /// [`PortraitError::Onnx`] when ONNX Runtime or a model cannot be loaded.
    pub fn load(cfg: &PortraitConfig) -> Result<Self, PortraitError> {
        let det = cfg.detector_model.clone().map_or(
            ModelSource::Bundled { name: "face_detection_short_range.onnx", bytes: crate::assets::FACE_DETECTOR_ONNX },
            ModelSource::File,
        );
        let mesh = cfg.landmark_model.clone().map_or(
            ModelSource::Bundled { name: "face_landmark.onnx", bytes: crate::assets::FACE_LANDMARK_ONNX },
            ModelSource::File,
        );
        Ok(Self {
            detector: detect::FaceDetector::new(crate::onnx::session(&det, 1)?),
            mesh: landmarks::FaceMesh::new(crate::onnx::session(&mesh, 1)?),
        })
    }
}

/// A portrait, analysed and rigged.
pub struct Portrait {
    /// The reference image.
    pub image: RgbaImage,
    /// The detection that found the face.
    pub detection: detect::Detection,
    /// 468 Face Mesh landmarks, image pixels.
    pub landmarks: Vec<Vec2>,
    /// Their depth, image pixels (smaller is nearer the camera).
    pub depth: Vec<f32>,
    /// Face measurements.
    pub face: FaceGeometry,
    /// The output crop.
    pub framing: Framing,
    /// The keypoint rig, in output-frame coordinates.
    pub rig: Rig,
}

impl Portrait {
    /// Finds the face in `image`, frames it and builds its rig. `name` is used in messages.
    ///
    /// # Errors
    /// [`PortraitError::NoFace`] when no face is found, [`PortraitError::SeveralFaces`] when more than
    /// one is; [`PortraitError::Inference`] when a model fails.
    pub fn analyze(
        image: RgbaImage,
        name: &str,
        models: &mut FaceModels,
        cfg: &crate::Config,
    ) -> Result<Self, PortraitError> {
        let min = cfg.portrait.min_face_score;
        let best = models.detector.detect(&image, 0.0)?;
        let detection = best.filter(|d| d.score >= min).ok_or_else(|| PortraitError::NoFace {
            path: name.to_owned(),
            score: best.map_or(0.0, |d| d.score),
            min,
        })?;
        if detection.other_score >= min {
            return Err(PortraitError::SeveralFaces {
                path: name.to_owned(),
                score: detection.score,
                other: detection.other_score,
            });
        }
        let lm = models.mesh.landmarks(&image, &detection)?;
        if lm.presence < cfg.portrait.min_presence {
            return Err(PortraitError::NoFace {
                path: name.to_owned(),
                score: lm.presence,
                min: cfg.portrait.min_presence,
            });
        }
        let face = FaceGeometry::from_landmarks(&lm.points);
        let framing = frame_face(&image, &face, &cfg.portrait);
        let rig = Rig::new(&lm.points, &lm.depth, &face, &framing, &cfg.rig);
        tracing::info!(
            score = detection.score,
            presence = lm.presence,
            face_height_px = face.height_px,
            crop_px = framing.side,
            keypoints = rig.keypoints.len(),
            "face found and rigged"
        );
        Ok(Self { image, detection, landmarks: lm.points, depth: lm.depth, face, framing, rig })
    }

    /// The rig as the renderer draws it, with the mouth's look read from the image as it is now (after
    /// any background work on its alpha).
    pub fn geometry(&self) -> RigGeometry {
        self.rig.geometry(self.framing, mouth::look(&self.image, &self.framing, &self.rig))
    }
}

/// Chooses the output crop: a square `crop_face_heights` face heights wide with the face raised by
/// `crop_face_raise`, kept inside the image where the image is large enough.
pub fn frame_face(image: &RgbaImage, face: &FaceGeometry, cfg: &PortraitConfig) -> Framing {
    let (w, h) = (image.width() as f32, image.height() as f32);
    if cfg.crop_face_heights == 0.0 {
        let side = w.max(h);
        return Framing { origin: Vec2::new(w - side, h - side) * 0.5, side };
    }
    let side = (cfg.crop_face_heights * face.height_px).min(w.min(h)).max(16.0);
    let centre = face.centre + Vec2::new(0.0, cfg.crop_face_raise * side);
    let origin = (centre - Vec2::splat(side * 0.5)).clamp(Vec2::ZERO, Vec2::new(w - side, h - side).max(Vec2::ZERO));
    Framing { origin, side }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `jpeg` with an EXIF block saying `orientation` inserted after its start-of-image marker.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes());
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding of the value, no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xff, 0xe1]);
        out.extend_from_slice(&(app1.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn a_sideways_phone_photo_is_turned_upright() {
        // The portrait stored turned a quarter left, as a phone held sideways stores it, with EXIF
        // orientation 6 ("turn 90 degrees clockwise to view"): decoded, it matches the upright original.
        let upright = decode_image(crate::assets::DEFAULT_PORTRAIT_PNG, "astronaut.png").unwrap();
        let stored = image::DynamicImage::ImageRgba8(upright.clone()).rotate270().to_rgb8();
        let mut jpeg = Vec::new();
        stored.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let diff = |a: &RgbaImage, b: &RgbaImage| {
            a.pixels().zip(b.pixels()).map(|(p, q)| f64::from(p[0].abs_diff(q[0]))).sum::<f64>()
                / f64::from(a.width() * a.height())
        };
        let plain = decode_image(&jpeg, "plain.jpg").unwrap();
        let turned = decode_image(&with_exif_orientation(&jpeg, 6), "phone.jpg").unwrap();
        let (without, with) = (diff(&plain, &upright), diff(&turned, &upright));
        assert!(with < 6.0 && without > 4.0 * with, "mean red difference: {with:.1} with EXIF, {without:.1} without");
    }
}
