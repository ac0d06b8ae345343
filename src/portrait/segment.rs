//! Person segmentation (MediaPipe selfie segmentation, run through ort) and its edge refinement.
//!
//! The model takes the whole image stretched to 256x256, RGB in 0..1 (NHWC), sampled bilinearly with no
//! half-pixel offset: input pixel (x, y) is image point (x w / 256, y h / 256), where image pixel i sits
//! at coordinate i (models/README.md; another resize gives visibly worse masks). It returns the person
//! probability per input pixel, which is upsampled the same way to the image. A guided filter with the
//! image as guide (He, Sun and Tang, ECCV 2010) then pulls the soft edge onto the image's own edges,
//! which matters around hair. It runs once per portrait; the mask becomes the portrait's alpha, so the
//! warp moves it with the head.

use image::RgbaImage;
use ort::session::Session;
use ort::value::Tensor;

use super::PortraitError;

const INPUT: usize = 256;

/// Bilinear sample of a `w x h` single-channel grid at (x, y), pixel i at coordinate i, clamped.
fn bilinear(grid: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = grid[y0 * w + x0] * (1.0 - fx) + grid[y0 * w + x1] * fx;
    let bottom = grid[y1 * w + x0] * (1.0 - fx) + grid[y1 * w + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The person segmenter: one session, built once.
pub struct Segmenter {
    session: Session,
}

impl Segmenter {
    /// Wraps a loaded selfie-segmentation session.
    pub fn new(session: Session) -> Self {
        Self { session }
    }

    /// The person probability (0..1) of every image pixel, row-major, before refinement.
    ///
    /// # Errors
    /// [`PortraitError::Inference`] when the model fails or returns an unexpected shape.
    pub fn probability(&mut self, image: &RgbaImage) -> Result<Vec<f32>, PortraitError> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let mut channels = [vec![0.0f32; w * h], vec![0.0f32; w * h], vec![0.0f32; w * h]];
        for (i, p) in image.pixels().enumerate() {
            for (c, plane) in channels.iter_mut().enumerate() {
                plane[i] = f32::from(p[c]) / 255.0;
            }
        }
        let mut pixels = Vec::with_capacity(INPUT * INPUT * 3);
        let (sx, sy) = (w as f32 / INPUT as f32, h as f32 / INPUT as f32);
        for y in 0..INPUT {
            for x in 0..INPUT {
                for plane in &channels {
                    pixels.push(bilinear(plane, w, h, x as f32 * sx, y as f32 * sy));
                }
            }
        }
        let input = Tensor::<f32>::from_array(([1usize, INPUT, INPUT, 3], pixels))?;
        let outputs = self.session.run(ort::inputs!["input_1" => input])?;
        let (_, mask) = outputs["activation_10"].try_extract_tensor::<f32>()?;
        if mask.len() != INPUT * INPUT {
            return Err(PortraitError::Inference("selfie segmentation output is not [1,256,256,1]".into()));
        }
        let (ux, uy) = (INPUT as f32 / w as f32, INPUT as f32 / h as f32);
        Ok((0..w * h)
            .map(|i| bilinear(mask, INPUT, INPUT, (i % w) as f32 * ux, (i / w) as f32 * uy).clamp(0.0, 1.0))
            .collect())
    }
}

/// Box mean over a (2r+1)^2 window (clipped at the borders) of a `w x h` grid, by an integral image.
fn box_mean(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut integral = vec![0.0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0.0f64;
        for x in 0..w {
            row += f64::from(v[y * w + x]);
            integral[(y + 1) * (w + 1) + x + 1] = integral[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let sum = integral[y1 * (w + 1) + x1] - integral[y0 * (w + 1) + x1] - integral[y1 * (w + 1) + x0]
                + integral[y0 * (w + 1) + x0];
            out[y * w + x] = (sum / ((y1 - y0) * (x1 - x0)) as f64) as f32;
        }
    }
    out
}

/// The guided filter of `p` with grey guide `guide` (both `w x h`, 0..1): the output is locally a linear
/// function of the guide, so the mask's soft edge follows the image's edges (strands of hair, the
/// shoulder line) within `radius` pixels. `eps` sets how strong an image edge must be to be followed.
pub fn guided_filter(guide: &[f32], p: &[f32], w: usize, h: usize, radius: usize, eps: f32) -> Vec<f32> {
    let mean_i = box_mean(guide, w, h, radius);
    let mean_p = box_mean(p, w, h, radius);
    let ip: Vec<f32> = guide.iter().zip(p).map(|(a, b)| a * b).collect();
    let ii: Vec<f32> = guide.iter().map(|a| a * a).collect();
    let corr_ip = box_mean(&ip, w, h, radius);
    let corr_ii = box_mean(&ii, w, h, radius);
    let mut a = vec![0.0f32; w * h];
    let mut b = vec![0.0f32; w * h];
    for k in 0..w * h {
        let var = corr_ii[k] - mean_i[k] * mean_i[k];
        let cov = corr_ip[k] - mean_i[k] * mean_p[k];
        a[k] = cov / (var + eps);
        b[k] = mean_p[k] - a[k] * mean_i[k];
    }
    let (mean_a, mean_b) = (box_mean(&a, w, h, radius), box_mean(&b, w, h, radius));
    (0..w * h).map(|k| (mean_a[k] * guide[k] + mean_b[k]).clamp(0.0, 1.0)).collect()
}

/// Writes the person mask into `image`'s alpha channel: the model's probability, refined along the
/// image's edges when `refine` is set (radius 1% of the image's larger side, at least 2 px).
///
/// # Errors
/// [`PortraitError::Inference`] when the model fails.
pub fn mask_into_alpha(seg: &mut Segmenter, image: &mut RgbaImage, refine: bool) -> Result<(), PortraitError> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut alpha = seg.probability(image)?;
    if refine {
        let guide: Vec<f32> = image
            .pixels()
            .map(|p| (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])) / 255.0)
            .collect();
        let radius = (w.max(h) / 100).max(2);
        alpha = guided_filter(&guide, &alpha, w, h, radius, 1e-3);
    }
    for (p, a) in image.pixels_mut().zip(alpha) {
        p[3] = (a * 255.0).round() as u8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guided_filter_keeps_flat_masks_and_snaps_a_blurred_edge_to_the_image_edge() {
        let (w, h) = (40, 10);
        // Flat in, flat out.
        let guide: Vec<f32> = (0..w * h).map(|i| (i % w) as f32 / w as f32).collect();
        let flat = guided_filter(&guide, &vec![0.7; w * h], w, h, 3, 1e-3);
        assert!(flat.iter().all(|v| (v - 0.7).abs() < 1e-4));
        // The image steps from dark to bright at x = 20; the mask ramps softly across 10 px around it.
        let step: Vec<f32> = (0..w * h).map(|i| if i % w < 20 { 0.1 } else { 0.9 }).collect();
        let ramp: Vec<f32> = (0..w * h).map(|i| (((i % w) as f32 - 15.0) / 10.0).clamp(0.0, 1.0)).collect();
        let out = guided_filter(&step, &ramp, w, h, 4, 1e-3);
        let row = &out[5 * w..6 * w];
        // Closer to the step than the ramp was, on both sides of the edge.
        assert!(row[17] < ramp[17] && row[22] > ramp[22], "{:?}", &row[14..26]);
        assert!(row[10] < 0.05 && row[30] > 0.95);
    }
}
