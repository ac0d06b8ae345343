// facecast dense-motion warp (first-order motion, Siarohin et al. 2019, with analytic masks).
//
// For an output point z (frame coordinates, [-1,1], x right, y down) every keypoint k proposes the
// source point  p_src_k + J_k (z - p_drv_k), weighted by a Gaussian around its driving position
// (spread given per face axis). The identity map z, weighted by `bg_weight`, holds the background.
// The blended source point is sampled bilinearly from the portrait; outside the portrait is black.
//
// Keypoints are binned per screen tile on the CPU (by their 4-sigma ellipse): a pixel visits only the
// keypoints whose support reaches its tile, and a tile with none is the identity map. Beyond 4 sigma a
// weight is dropped anyway, so binning changes no pixel.

struct Params {
    crop_origin: vec2f,   // image pixels of frame point (-1,-1)
    crop_side: f32,       // image pixels spanned by the frame
    bg_weight: f32,       // weight of the identity term
    image_size: vec2f,    // portrait size in pixels
    right: vec2f,         // face axis along the eye line (unit, frame coordinates)
    down: vec2f,          // face axis down the face (unit)
    count: u32,           // keypoints in use
    tiles_x: u32,         // tiles per row
    tile_px: u32,         // tile side in pixels
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Keypoint {
    src: vec2f,           // source position
    drv: vec2f,           // driving position
    jac: vec4f,           // Jacobian, row-major: (J00, J01, J10, J11)
    inv_sigma: vec2f,     // 1 / spread along (right, down)
    weight: f32,
    _pad: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> keypoints: array<Keypoint>;
@group(0) @binding(2) var portrait: texture_2d<f32>;
@group(0) @binding(3) var portrait_sampler: sampler;
// Tile t's keypoints are tile_keypoints[tile_offsets[t] .. tile_offsets[t + 1]].
@group(0) @binding(4) var<storage, read> tile_offsets: array<u32>;
@group(0) @binding(5) var<storage, read> tile_keypoints: array<u32>;

struct VertexOut {
    @builtin(position) position: vec4f,
    @location(0) frame_uv: vec2f,   // 0..1, y down
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    // One triangle that covers the viewport.
    let xy = vec2f(f32((index << 1u) & 2u), f32(index & 2u)) * 2.0 - 1.0;
    var out: VertexOut;
    out.position = vec4f(xy, 0.0, 1.0);
    out.frame_uv = vec2f(xy.x * 0.5 + 0.5, 0.5 - xy.y * 0.5);
    return out;
}

// Beyond 4 sigma a keypoint's weight (< 3.4e-4 of its peak) is dropped.
const CUTOFF_SQ: f32 = 16.0;

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4f {
    let z = in.frame_uv * 2.0 - 1.0;
    var acc = params.bg_weight * z;
    var weight_sum = params.bg_weight;
    let tile = vec2u(in.position.xy) / params.tile_px;
    let t = tile.y * params.tiles_x + tile.x;
    let first = tile_offsets[t];
    let last = tile_offsets[t + 1u];
    for (var i = first; i < last; i++) {
        let kp = keypoints[tile_keypoints[i]];
        let d = z - kp.drv;
        let local = vec2f(dot(d, params.right), dot(d, params.down)) * kp.inv_sigma;
        let q = dot(local, local);
        if (q < CUTOFF_SQ) {
            let w = kp.weight * exp(-0.5 * q);
            let jd = vec2f(kp.jac.x * d.x + kp.jac.y * d.y, kp.jac.z * d.x + kp.jac.w * d.y);
            acc += w * (kp.src + jd);
            weight_sum += w;
        }
    }
    let s = acc / weight_sum;
    let pixel = params.crop_origin + (s + 1.0) * 0.5 * params.crop_side;
    let uv = pixel / params.image_size;
    if (any(uv < vec2f(0.0)) || any(uv > vec2f(1.0))) {
        return vec4f(0.0, 0.0, 0.0, 1.0);
    }
    return textureSampleLevel(portrait, portrait_sampler, uv, 0.0);
}
