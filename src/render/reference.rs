//! A CPU reference of the warp passes (`fs_wide`, `fs_spot`, `fs_warp` and `fs_warp_fine` in
//! shaders/warp.wgsl), for tests: the same dense-motion blend, the same coarse flow grid for the wide
//! keypoints, the narrow ones at every pixel of the tiles they reach, and the same bilinear sampling,
//! in plain Rust, one pixel at a time. It is slow and exists to check the GPU output, not to replace
//! it. The overlay passes (mouth interior, lids) are not part of it. [`warp_exact`] evaluates the blend
//! at every pixel, to measure what the coarse grid costs in accuracy.
//!
//! Input: the portrait, its rig geometry and a pose. Output: the frame (or its source points). Thread: the
//! caller's (tests).

use glam::Vec2;
use image::RgbaImage;

use super::tiles::{FLOW_STEP_PX, Spread, Tiling};
use crate::vocab::{Framing, Pose, RigGeometry};

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

/// Every keypoint's Gaussian, as the renderer uploads it.
fn spreads(rig: &RigGeometry) -> Vec<Spread> {
    rig.keypoints.iter().map(|k| Spread::new(k.spread, rig.right, rig.down, k.weight)).collect()
}

/// One list's part of the blend at `z` (sum of w (m - z), sum of w), over the keypoints `indices`.
fn blend(
    rig: &RigGeometry,
    pose: &Pose,
    spreads: &[Spread],
    z: Vec2,
    indices: impl Iterator<Item = usize>,
) -> (Vec2, f32) {
    let (mut acc, mut weight_sum) = (Vec2::ZERO, 0.0);
    for i in indices {
        let k = &rig.keypoints[i];
        let d = z - pose.drv[i];
        let w = spreads[i].weight(d);
        if w > 0.0 {
            acc += w * (k.src + pose.jac[i] * d - z);
            weight_sum += w;
        }
    }
    (acc, weight_sum)
}

/// The source point (frame coordinates) that output point `z` takes its colour from, every keypoint
/// evaluated exactly at `z`.
pub fn source_point(rig: &RigGeometry, pose: &Pose, z: Vec2) -> Vec2 {
    exact_at(rig, pose, &spreads(rig), z)
}

fn exact_at(rig: &RigGeometry, pose: &Pose, spreads: &[Spread], z: Vec2) -> Vec2 {
    let (acc, weight_sum) = blend(rig, pose, spreads, z, 0..rig.keypoints.len());
    z + acc / (rig.background_weight + weight_sum)
}

/// The source point of every output pixel, row-major, as the renderer computes it: the wide keypoints
/// on the coarse grid, read bilinearly, and the narrow ones at every pixel.
pub fn source_points(rig: &RigGeometry, pose: &Pose, size: u32) -> Vec<Vec2> {
    let mut tiling = Tiling::new(size, rig.keypoints.len());
    tiling.bin(pose.drv.iter().zip(&rig.keypoints).map(|(&d, k)| (d, k.spread)), rig.right, rig.down);
    let px = 2.0 / size as f32;
    let step = FLOW_STEP_PX as f32;
    let side = tiling.flow_side() as usize;
    let spreads = spreads(rig);
    let wide: Vec<usize> = (0..rig.keypoints.len()).filter(|&i| !tiling.is_narrow(rig.keypoints[i].spread)).collect();
    // The coarse grid: sample (i, j) at the centre of its step x step square, as (N.x, N.y, D).
    let mut grid = vec![glam::Vec3::ZERO; side * side];
    for (n, g) in grid.iter_mut().enumerate() {
        let z = (Vec2::new((n % side) as f32, (n / side) as f32) + 0.5) * step * px - 1.0;
        let (acc, w) = blend(rig, pose, &spreads, z, wide.iter().copied());
        *g = acc.extend(w + rig.background_weight);
    }
    let at = |i: i64, j: i64| grid[j.clamp(0, side as i64 - 1) as usize * side + i.clamp(0, side as i64 - 1) as usize];
    let mut out = Vec::with_capacity((size * size) as usize);
    for y in 0..size {
        for x in 0..size {
            let frag = Vec2::new(x as f32 + 0.5, y as f32 + 0.5);
            let z = frag * px - 1.0;
            let u = frag / step - 0.5;
            let lo = u.floor();
            let f = u - lo;
            let (i, j) = (lo.x as i64, lo.y as i64);
            let top = at(i, j).lerp(at(i + 1, j), f.x);
            let bottom = at(i, j + 1).lerp(at(i + 1, j + 1), f.x);
            let coarse = top.lerp(bottom, f.y);
            let narrow = tiling.list(tiling.tile_of(x, y)).iter().map(|&k| k as usize);
            let (acc, w) = blend(rig, pose, &spreads, z, narrow);
            out.push(z + (coarse.truncate() + acc) / (coarse.z + w));
        }
    }
    out
}

/// The source point of every output pixel, evaluated exactly at each (no coarse grid).
pub fn exact_source_points(rig: &RigGeometry, pose: &Pose, size: u32) -> Vec<Vec2> {
    let px = 2.0 / size as f32;
    let spreads = spreads(rig);
    (0..size * size)
        .map(|n| exact_at(rig, pose, &spreads, Vec2::new((n % size) as f32 + 0.5, (n / size) as f32 + 0.5) * px - 1.0))
        .collect()
}

fn colour(image: &RgbaImage, framing: Framing, size: u32, sources: &[Vec2]) -> RgbaImage {
    let image_size = Vec2::new(image.width() as f32, image.height() as f32);
    RgbaImage::from_fn(size, size, |x, y| {
        let s = sources[(y * size + x) as usize];
        let pixel = framing.origin + (s + 1.0) * 0.5 * framing.side;
        let c = sample(image, pixel / image_size);
        image::Rgba(c.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

/// Renders the warp passes of `pose` at `size x size` on the CPU, as the GPU does.
pub fn warp(image: &RgbaImage, rig: &RigGeometry, pose: &Pose, size: u32) -> RgbaImage {
    colour(image, rig.framing, size, &source_points(rig, pose, size))
}

/// Renders the warp of `pose` with the blend evaluated at every pixel (no coarse grid).
pub fn warp_exact(image: &RgbaImage, rig: &RigGeometry, pose: &Pose, size: u32) -> RgbaImage {
    colour(image, rig.framing, size, &exact_source_points(rig, pose, size))
}
