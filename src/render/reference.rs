//! A CPU reference of the warp pass (`fs_main` in shaders/warp.wgsl), for tests: the same dense-motion
//! blend and the same bilinear sampling, in plain Rust, one pixel at a time. It is slow (every keypoint
//! for every pixel) and exists to check the GPU output, not to replace it. The overlay passes (mouth
//! interior, lids) are not part of it.

use glam::Vec2;
use image::RgbaImage;

use crate::portrait::{Framing, Pose, Rig};

/// Weights beyond 4 sigma are dropped, as in the shader.
const CUTOFF_SQ: f32 = 16.0;

/// Bilinear sample of `image` at normalised `uv` (texel centres at +0.5, clamped to the edge), as a
/// GPU sampler with linear filtering does; black outside [0, 1].
fn sample(image: &RgbaImage, uv: Vec2) -> [f32; 4] {
    if uv.x < 0.0 || uv.y < 0.0 || uv.x > 1.0 || uv.y > 1.0 {
        return [0.0, 0.0, 0.0, 255.0];
    }
    let (w, h) = (image.width() as i64, image.height() as i64);
    let p = uv * Vec2::new(w as f32, h as f32) - 0.5;
    let (x0, y0) = (p.x.floor(), p.y.floor());
    let (fx, fy) = (p.x - x0, p.y - y0);
    let texel = |x: i64, y: i64| image.get_pixel(x.clamp(0, w - 1) as u32, y.clamp(0, h - 1) as u32).0;
    let (x0, y0) = (x0 as i64, y0 as i64);
    let (a, b, c, d) = (texel(x0, y0), texel(x0 + 1, y0), texel(x0, y0 + 1), texel(x0 + 1, y0 + 1));
    let mut out = [0.0; 4];
    for (i, o) in out.iter_mut().enumerate() {
        let top = f32::from(a[i]) * (1.0 - fx) + f32::from(b[i]) * fx;
        let bottom = f32::from(c[i]) * (1.0 - fx) + f32::from(d[i]) * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// The source point (frame coordinates) that output point `z` takes its colour from.
pub fn source_point(rig: &Rig, pose: &Pose, z: Vec2) -> Vec2 {
    let mut acc = rig.background_weight * z;
    let mut weight_sum = rig.background_weight;
    for (i, k) in rig.keypoints.iter().enumerate() {
        let d = z - pose.drv[i];
        let local = Vec2::new(d.dot(rig.right), d.dot(rig.down)) / k.sigma;
        let q = local.length_squared();
        if q < CUTOFF_SQ {
            let w = k.weight * (-0.5 * q).exp();
            acc += w * (k.src + pose.jac[i] * d);
            weight_sum += w;
        }
    }
    acc / weight_sum
}

/// Renders the warp pass of `pose` at `size x size` on the CPU.
pub fn warp(image: &RgbaImage, framing: &Framing, rig: &Rig, pose: &Pose, size: u32) -> RgbaImage {
    let image_size = Vec2::new(image.width() as f32, image.height() as f32);
    RgbaImage::from_fn(size, size, |x, y| {
        let z = Vec2::new((x as f32 + 0.5) / size as f32, (y as f32 + 0.5) / size as f32) * 2.0 - 1.0;
        let s = source_point(rig, pose, z);
        let pixel = framing.origin + (s + 1.0) * 0.5 * framing.side;
        let c = sample(image, pixel / image_size);
        image::Rgba(c.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}
