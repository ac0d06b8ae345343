//! Person segmentation (MediaPipe selfie segmentation, run through ort) and its edge refinement.
//!
//! The model takes the whole image stretched to 256x256, RGB in 0..1 (NHWC), sampled bilinearly with no
//! half-pixel offset: input pixel (x, y) is image point (x w / 256, y h / 256), where image pixel i sits
//! at coordinate i (models/README.md; another resize gives visibly worse masks). It returns the person
//! probability per input pixel, which is upsampled the same way to the image. A guided filter with the
//! image as guide (He, Sun and Tang, ECCV 2010) then pulls the soft edge onto the image's own edges,
//! which matters around hair. It runs once per portrait; the mask becomes the portrait's alpha, so the
//! warp moves it with the head.
//!
//! Input: the portrait image. Output: the person mask in the image's alpha. Thread: the caller's, once per
//! portrait.

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

/// The guided filter of `p` with a colour guide (He, Sun and Tang, ECCV 2010, its colour form; both
/// `w x h`, 0..1): the output is locally a linear function of the guide's three channels, so the mask's
/// soft edge follows the image's edges (strands of hair, the shoulder line) within `radius` pixels, even
/// where the two sides differ in hue more than in brightness (skin against a light wall). `eps` sets
/// how strong an image edge must be to be followed.
pub fn guided_filter(guide: &[[f32; 3]], p: &[f32], w: usize, h: usize, radius: usize, eps: f32) -> Vec<f32> {
    let n = w * h;
    let mean = |v: &[f32]| box_mean(v, w, h, radius);
    let channel = |c: usize| -> Vec<f32> { guide.iter().map(|g| g[c]).collect() };
    let planes = [channel(0), channel(1), channel(2)];
    let mean_i = [mean(&planes[0]), mean(&planes[1]), mean(&planes[2])];
    let mean_p = mean(p);
    let product = |a: &[f32], b: &[f32]| -> Vec<f32> { a.iter().zip(b).map(|(x, y)| x * y).collect() };
    let corr_ip = [0, 1, 2].map(|c| mean(&product(&planes[c], p)));
    // The guide's covariance in each window: rr, rg, rb, gg, gb, bb.
    let pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)];
    let corr_ii = pairs.map(|(a, b)| mean(&product(&planes[a], &planes[b])));
    let mut coef = [vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]];
    let mut offset = vec![0.0f32; n];
    for k in 0..n {
        let mi = [mean_i[0][k], mean_i[1][k], mean_i[2][k]];
        let var = |i: usize| f64::from(corr_ii[i][k]) - f64::from(mi[pairs[i].0] * mi[pairs[i].1]);
        let sigma = glam::DMat3::from_cols_array(&[
            var(0) + f64::from(eps),
            var(1),
            var(2),
            var(1),
            var(3) + f64::from(eps),
            var(4),
            var(2),
            var(4),
            var(5) + f64::from(eps),
        ]);
        let cov = glam::DVec3::from_array([0, 1, 2].map(|c| f64::from(corr_ip[c][k] - mi[c] * mean_p[k])));
        // sigma is symmetric and positive definite (eps on the diagonal), so it inverts.
        let a = sigma.inverse() * cov;
        for c in 0..3 {
            coef[c][k] = a[c] as f32;
        }
        offset[k] = mean_p[k] - (a.x as f32 * mi[0] + a.y as f32 * mi[1] + a.z as f32 * mi[2]);
    }
    let mean_a = [mean(&coef[0]), mean(&coef[1]), mean(&coef[2])];
    let mean_b = mean(&offset);
    (0..n)
        .map(|k| {
            let g = guide[k];
            (mean_a[0][k] * g[0] + mean_a[1][k] * g[1] + mean_a[2][k] * g[2] + mean_b[k]).clamp(0.0, 1.0)
        })
        .collect()
}

/// Alpha at or above which a pixel is the person's own colour, untouched by decontamination.
const OPAQUE: f32 = 0.98;

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Colour decontamination of a soft mask's edge (the "halo" fix): where the person is partly
/// transparent (hair, the shoulder line), the portrait's colour is a mix of the person and the old
/// background, `I = a F + (1 - a) B`. Shown over a new background, the old one shines through as a
/// fringe. This replaces the colour of every pixel with alpha below 0.98 with an estimate of the person's
/// own colour `F`, leaving alpha as it is:
/// - `B` and a local person colour are weighted box means, within `radius` pixels, of the confidently
///   background (alpha < 0.2) and confidently person (alpha > 0.8) pixels; four times the radius where
///   the nearer ring holds none;
/// - where alpha is large enough to trust it, `F = (I - (1 - a) B) / a`; towards alpha 0 the estimate
///   fades into the local person colour.
///
/// Pixels just outside the person (alpha near 0) take the person's colour too, so that a straight-alpha
/// frame sampled bilinearly does not pull the old background into the edge. Pixels far from the person
/// keep their colour.
pub fn decontaminate(image: &mut RgbaImage, radius: usize) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let alpha: Vec<f32> = image.pixels().map(|p| f32::from(p[3]) / 255.0).collect();
    if alpha.iter().all(|&a| a >= OPAQUE) {
        return;
    }
    let fg_weight: Vec<f32> = alpha.iter().map(|&a| smoothstep(0.8, 1.0, a)).collect();
    let bg_weight: Vec<f32> = alpha.iter().map(|&a| smoothstep(0.8, 1.0, 1.0 - a)).collect();
    let radii = [radius.max(1), 4 * radius.max(1)];
    let support = |weights: &[f32]| radii.map(|r| box_mean(weights, w, h, r));
    let (fg_support, bg_support) = (support(&fg_weight), support(&bg_weight));
    let mut estimate = vec![[0.0f32; 3]; w * h];
    for c in 0..3 {
        let chan: Vec<f32> = image.pixels().map(|p| f32::from(p[c]) / 255.0).collect();
        let weighted = |weights: &[f32]| -> Vec<f32> { chan.iter().zip(weights).map(|(v, k)| v * k).collect() };
        let (fg_sum, bg_sum) = (weighted(&fg_weight), weighted(&bg_weight));
        let fg_mean = radii.map(|r| box_mean(&fg_sum, w, h, r));
        let bg_mean = radii.map(|r| box_mean(&bg_sum, w, h, r));
        // The weighted mean within the nearest ring that has support; None where neither has.
        let local = |means: &[Vec<f32>; 2], supports: &[Vec<f32>; 2], k: usize| {
            (0..2).find(|&i| supports[i][k] > 1e-3).map(|i| means[i][k] / supports[i][k])
        };
        for k in 0..w * h {
            let a = alpha[k];
            if a >= OPAQUE {
                estimate[k][c] = chan[k];
                continue;
            }
            let Some(person) = local(&fg_mean, &fg_support, k) else {
                estimate[k][c] = chan[k]; // far from anyone
                continue;
            };
            let back = local(&bg_mean, &bg_support, k).unwrap_or(chan[k]);
            let solved = ((chan[k] - (1.0 - a) * back) / a.max(1e-3)).clamp(0.0, 1.0);
            estimate[k][c] = person + (solved - person) * smoothstep(0.1, 0.6, a);
        }
    }
    for (p, f) in image.pixels_mut().zip(estimate) {
        for c in 0..3 {
            p[c] = (f[c] * 255.0).round() as u8;
        }
    }
}

/// Writes the person mask into `image`'s alpha channel: the model's probability, refined along the
/// image's edges when `refine` is set (radius 1% of the image's larger side, at least 2 px). The colour
/// along the soft edge is then decontaminated ([`decontaminate`], radius 2% of the larger side), so the
/// old background leaves no fringe over a new one.
///
/// # Errors
/// [`PortraitError::Inference`] when the model fails.
pub fn mask_into_alpha(seg: &mut Segmenter, image: &mut RgbaImage, refine: bool) -> Result<(), PortraitError> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut alpha = seg.probability(image)?;
    if refine {
        let guide: Vec<[f32; 3]> = image.pixels().map(|p| [0, 1, 2].map(|c| f32::from(p[c]) / 255.0)).collect();
        let radius = (w.max(h) / 100).max(2);
        alpha = guided_filter(&guide, &alpha, w, h, radius, 1e-3);
    }
    for (p, a) in image.pixels_mut().zip(alpha) {
        p[3] = (a * 255.0).round() as u8;
    }
    decontaminate(image, (w.max(h) / 50).max(4));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A person (warm, striped like hair) on a green wall, mixed through an uneven soft edge as a camera
    /// sees it: (image, the person's true colour per pixel).
    fn soft_edge_portrait() -> (RgbaImage, Vec<[f32; 3]>) {
        let (w, h) = (96u32, 48u32);
        let mut img = RgbaImage::new(w, h);
        let mut truth = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let stripe = if (x / 3 + y / 5) % 2 == 0 { 0.0 } else { 0.15 };
                let person = [0.75 + stripe, 0.35 + stripe, 0.2];
                let wall = [0.1 + 0.002 * y as f32, 0.8, 0.25];
                // The edge runs from x = 40 to x = 56, wavier from row to row.
                let edge = 40.0 + 4.0 * ((y as f32) * 0.7).sin();
                let a = (1.0 - (x as f32 - edge) / 12.0).clamp(0.0, 1.0);
                let mixed = [0, 1, 2].map(|c| a * person[c] + (1.0 - a) * wall[c]);
                let q = |v: f32| (v * 255.0).round() as u8;
                img.put_pixel(x, y, image::Rgba([q(mixed[0]), q(mixed[1]), q(mixed[2]), q(a)]));
                truth.push(person);
            }
        }
        (img, truth)
    }

    /// Mean colour error (0..1, per channel) of `img` against the person's true colour over a new blue
    /// background, where alpha is between `lo` and `hi`.
    fn composite_error(img: &RgbaImage, truth: &[[f32; 3]], lo: f32, hi: f32) -> f32 {
        let blue = [0.0, 0.0, 1.0];
        let (mut sum, mut n) = (0.0, 0);
        for (p, t) in img.pixels().zip(truth) {
            let a = f32::from(p[3]) / 255.0;
            if a > lo && a < hi {
                for c in 0..3 {
                    let shown = a * f32::from(p[c]) / 255.0 + (1.0 - a) * blue[c];
                    sum += (shown - (a * t[c] + (1.0 - a) * blue[c])).abs();
                }
                n += 3;
            }
        }
        sum / n as f32
    }

    #[test]
    fn decontamination_takes_the_old_background_out_of_the_soft_edge() {
        let (mut img, truth) = soft_edge_portrait();
        let before = img.clone();
        decontaminate(&mut img, 4);
        let (was, now) = (composite_error(&before, &truth, 0.05, 0.98), composite_error(&img, &truth, 0.05, 0.98));
        eprintln!("edge error over blue: {was:.4} before, {now:.4} after");
        assert!(now < 0.25 * was, "the fringe stays: {was:.4} before, {now:.4} after");
        // The green of the old wall is gone from the half-transparent hair.
        let green = |img: &RgbaImage| {
            let edge: Vec<_> = img.pixels().filter(|p| (60..200).contains(&p[3])).collect();
            edge.iter().map(|p| f32::from(p[1]) - f32::from(p[0])).sum::<f32>() / edge.len() as f32
        };
        assert!(green(&before) > 0.0 && green(&img) < -60.0, "{} -> {}", green(&before), green(&img));
        // Alpha is untouched, and so is every opaque pixel.
        for (a, b) in before.pixels().zip(img.pixels()) {
            assert_eq!(a[3], b[3]);
            if f32::from(a[3]) / 255.0 >= OPAQUE {
                assert_eq!(a, b);
            }
        }
        // Just outside the person, the colour is the person's (no wall pulled in by bilinear sampling).
        let outside = img.get_pixel(58, 20);
        assert_eq!(outside[3], 0);
        assert!(outside[0] > 150 && outside[1] < 120, "{outside:?}");
        // Far from the person, the wall keeps its colour.
        assert_eq!(img.get_pixel(95, 20), before.get_pixel(95, 20));
    }

    #[test]
    fn decontamination_leaves_an_opaque_image_alone() {
        let (mut img, _) = soft_edge_portrait();
        img.pixels_mut().for_each(|p| p[3] = 255);
        let before = img.clone();
        decontaminate(&mut img, 4);
        assert_eq!(img, before);
    }

    #[test]
    fn guided_filter_keeps_flat_masks_and_snaps_a_blurred_edge_to_the_image_edge() {
        let (w, h) = (40, 10);
        let grey = |v: f32| [v, v, v];
        // Flat in, flat out.
        let guide: Vec<[f32; 3]> = (0..w * h).map(|i| grey((i % w) as f32 / w as f32)).collect();
        let flat = guided_filter(&guide, &vec![0.7; w * h], w, h, 3, 1e-3);
        assert!(flat.iter().all(|v| (v - 0.7).abs() < 1e-4));
        // The mask ramps softly across 10 px around x = 20, where the image steps. Whether the step is
        // in brightness or, at equal brightness, in hue only (skin against a light wall), the edge
        // snaps to it.
        let ramp: Vec<f32> = (0..w * h).map(|i| (((i % w) as f32 - 15.0) / 10.0).clamp(0.0, 1.0)).collect();
        let luma = |c: [f32; 3]| 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
        let (skin, wall) = ([0.85, 0.62, 0.5], [0.62, 0.66, 0.8]);
        assert!((luma(skin) - luma(wall)).abs() < 0.02);
        for (dark, bright) in [(grey(0.1), grey(0.9)), (skin, wall)] {
            let step: Vec<[f32; 3]> = (0..w * h).map(|i| if i % w < 20 { dark } else { bright }).collect();
            let out = guided_filter(&step, &ramp, w, h, 4, 1e-3);
            let row = &out[5 * w..6 * w];
            // Closer to the step than the ramp was, on both sides of the edge.
            assert!(row[17] < ramp[17] && row[22] > ramp[22], "{:?}", &row[14..26]);
            assert!(row[10] < 0.05 && row[30] > 0.95);
        }
    }
}
