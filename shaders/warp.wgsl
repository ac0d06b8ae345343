// facecast dense-motion warp (first-order motion, Siarohin et al. 2019, with analytic masks).
//
// For an output point z (frame coordinates, [-1,1], x right, y down) every keypoint k proposes the
// source point  p_src_k + J_k (z - p_drv_k), weighted by a Gaussian around its driving position
// (spread given per face axis). The identity map z, weighted by `bg_weight`, holds the background.
// The blended source point is sampled bilinearly from the portrait; outside the portrait is black.
//
// Two resolutions (src/render/tiles.rs): the blend is s(z) = z + N / D with N = sum of w_k (m_k(z) - z)
// and D = bg_weight + sum of w_k. The wide keypoints' part (jaw, head and body rings, smooth over a
// few pixels) is summed on a coarse grid, one sample per `flow_step` pixels, which the warp passes
// read bilinearly; the narrow keypoints' part (lips, lids, eyes, nose) is summed at every pixel of the
// tiles they reach (the fine tiles, binned on the CPU by each keypoint's 3-sigma ellipse).
//
// Both sums are drawn, not looped over: every keypoint draws one quad over its 3-sigma ellipse's
// bounding box into its sum's texture (`vs_wide` / `fs_wide` into the coarse grid, cleared to the
// background weight; `vs_spot` / `fs_spot` into the per-pixel one, whose fine tiles `fs_zero` clears
// first), added by the blend unit in keypoint order, with nothing written beyond the cutoff. The
// keypoint reaches its fragments as flat varyings, the same for the whole quad: software rasterisers
// (lavapipe) run that as plain vector arithmetic, where a per-pixel keypoint loop costs a gather per
// lane for every load. Beyond 3 sigma a weight is zero, so the quads' extent changes no pixel.
//
// The warp itself is one render pass into the frame, drawn as one instanced quad per run of tiles in a
// row (`vs_run`; few triangles, which software rasterisers set up one by one): `fs_warp` draws the
// tiles that no narrow keypoint reaches with the coarse part alone, `fs_warp_fine` the tiles that
// narrow keypoints reach (about a tenth of them at 512 px), adding the per-pixel sum. Fragment
// shaders, not a compute shader: as fast on lavapipe, and no storage-texture writes needed.
// The mouth interior and the lids are drawn over the result by small scissored render passes.

struct Params {
    uv_offset: vec2f,     // portrait texture coordinates of frame point (0, 0) ...
    _pad0: f32,
    bg_weight: f32,       // weight of the identity term
    uv_scale: vec2f,      // ... and per frame unit: uv = uv_offset + uv_scale s
    right: vec2f,         // face axis along the eye line (unit, frame coordinates)
    down: vec2f,          // face axis down the face (unit)
    count: u32,           // keypoints in use
    tiles_x: u32,         // tiles per row
    tile_px: u32,         // tile side in pixels
    flow_step: u32,       // pixels between coarse flow samples
    flow_side: u32,       // coarse flow samples per row
    backdrop_x: u32,      // where the face square sits in the frame (and in `backdrop`), pixels across
    // Four outlines of 16 keypoint indices each: the inner lips (around the mouth opening), each eye's
    // opening (outer corner, 7 upper-lid points, inner corner, lower lid; person's right first), and
    // the outer edge of the lips. Each lip outline runs from the corner on the image's left along the
    // upper lip and back along the lower one.
    outlines: array<vec4u, 16>,
    inner_upper: u32,           // keypoint index of the inner upper lip's centre
    inner_lower: u32,           // keypoint index of the inner lower lip's centre
    backdrop_y: u32,            // ... and down
    teeth: u32,                 // 1: synthesise the teeth (Rig::synthetic_teeth), 0: the portrait's own
    bg_color: vec4f,            // BG_COLOR's colour
    teeth_colour: vec4f,        // rgb: the synthetic teeth's colour; w: the source mouth's width
}

// What shows behind the person (BG_KEEP, BG_COLOR, BG_IMAGE or BG_ALPHA); the portrait's alpha is the
// person mask (1 in BG_KEEP). A pipeline constant, one warp pipeline per mode, so that no pixel
// evaluates the other modes' branches.
override BG_MODE: u32 = 0u;
const BG_KEEP: u32 = 0u;
const BG_COLOR: u32 = 1u;
const BG_IMAGE: u32 = 2u;
const BG_ALPHA: u32 = 3u;

// What changes per frame besides the keypoints.
struct Frame {
    interior: f32,        // 0..1: how much mouth interior to draw (0 = lips no wider apart than at rest)
    pixel: f32,           // one pixel in frame units
    blink: vec2f,         // how far each eye (person's right, left) is shut, 0..1
    gaze: vec2f,          // where the eyes look (across, down), -1..1
    _pad: vec2f,
}

struct Keypoint {
    src: vec2f,           // source position
    drv: vec2f,           // driving position
    jac: vec4f,           // Jacobian, row-major: (J00, J01, J10, J11)
    // The Gaussian: exponent e(d) = x d.x^2 + y d.x d.y + z d.y^2 for d = z - drv, and a weight w (see
    // src/render/tiles.rs, `Spread`): the keypoint weighs w (exp(e) - CUTOFF_WEIGHT) where e > CUTOFF_EXPONENT.
    spread: vec4f,
    blink_offset: vec2f,  // upper lids: where the lid goes, relative to its driving position, when shut
    _pad2: vec2f,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> keypoints: array<Keypoint>;
@group(0) @binding(2) var portrait: texture_2d<f32>;
@group(0) @binding(3) var portrait_sampler: sampler;
@group(0) @binding(4) var<uniform> frame: Frame;
// BG_IMAGE's picture, already at the whole frame's size (the face square sits at backdrop_x, backdrop_y).
@group(0) @binding(5) var backdrop: texture_2d<f32>;
// Instance data: the narrow keypoints (one instance of vs_spot each), the wide ones (vs_wide), then
// this frame's runs of fine tiles and of coarse tiles (vs_run).
@group(0) @binding(6) var<storage, read> instances: array<u32>;
// The wide keypoints' part of the blend on the coarse grid (rgb: sum of w (m - z), sum of w plus the
// background weight): drawn by vs_wide / fs_wide, read by the warp passes.
@group(1) @binding(0) var flow_sampler: sampler;   // bilinear, clamped to the edge
@group(1) @binding(1) var flow: texture_2d<f32>;
// The narrow keypoints' part of the blend at every pixel of the fine tiles (rgb as `flow`, without the
// background weight): rendered by vs_spot / fs_spot, read by fs_warp_fine.
@group(1) @binding(2) var narrow_sum: texture_2d<f32>;

struct VertexOut {
    @builtin(position) position: vec4f,
    @location(0) frame_uv: vec2f,   // 0..1, y down
    @location(1) @interpolate(flat) instance: u32,
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32, @builtin(instance_index) instance: u32) -> VertexOut {
    // One triangle that covers the viewport.
    let xy = vec2f(f32((index << 1u) & 2u), f32(index & 2u)) * 2.0 - 1.0;
    var out: VertexOut;
    out.position = vec4f(xy, 0.0, 1.0);
    out.frame_uv = vec2f(xy.x * 0.5 + 0.5, 0.5 - xy.y * 0.5);
    out.instance = instance;
    return out;
}

// Beyond 3 sigma a keypoint's weight is zero. exp(CUTOFF_EXPONENT) is subtracted from every weight so
// that it falls to zero there without a seam.
const CUTOFF_EXPONENT: f32 = -4.5;
const CUTOFF_WEIGHT: f32 = 0.011108996538242306;

const LIPS: u32 = 0u;
const RIGHT_EYE: u32 = 1u;
const OUTER_LIPS: u32 = 3u;

// Keypoint index of point i of outline `which` (LIPS, RIGHT_EYE, RIGHT_EYE + 1, OUTER_LIPS).
fn outline_index(which: u32, i: u32) -> u32 {
    let n = which * 16u + i;
    return params.outlines[n / 4u][n % 4u];
}

// Signed distance from p to an outline (negative inside), through driving or source positions.
fn outline_distance(p: vec2f, which: u32, driving: bool) -> f32 {
    var inside = false;
    var best = 1e9;
    for (var i = 0u; i < 16u; i++) {
        let ka = keypoints[outline_index(which, i)];
        let kb = keypoints[outline_index(which, (i + 1u) % 16u)];
        let a = select(ka.src, ka.drv, driving);
        let b = select(kb.src, kb.drv, driving);
        if ((a.y > p.y) != (b.y > p.y)) && (p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x) {
            inside = !inside;
        }
        let e = b - a;
        let t = clamp(dot(p - a, e) / max(dot(e, e), 1e-12), 0.0, 1.0);
        best = min(best, length(p - a - e * t));
    }
    return select(best, -best, inside);
}

fn sample_frame(s: vec2f) -> vec4f {
    let uv = params.uv_offset + params.uv_scale * s;
    // Outside the portrait: black, and no person. A select, not an early return: software rasterisers
    // run both sides of a branch that lanes take apart.
    let inside = all(uv >= vec2f(0.0)) && all(uv <= vec2f(1.0));
    return select(vec4f(0.0), textureSampleLevel(portrait, portrait_sampler, uv, 0.0), inside);
}

// The mouth interior at frame point z, where the lips have opened wider than in the portrait:
// - the upper half of the portrait's own mouth opening (upper teeth, if it shows them) stays fixed to
//   the skull (the inner upper lip's map, so it follows the head);
// - its lower half moves with the inner lower lip's map (lower teeth, tongue);
// - elsewhere a shaded cavity, darkest in the middle, with a darker rim along the inner lips.
fn local_map(kp: Keypoint, z: vec2f) -> vec2f {
    let d = z - kp.drv;
    return kp.src + vec2f(kp.jac.x * d.x + kp.jac.y * d.y, kp.jac.z * d.x + kp.jac.w * d.y);
}

// Synthetic teeth, in mouth widths (params.teeth_colour.w): the upper ones hang UPPER_TEETH below
// the source's inner upper lip line, fixed to the skull; the lower ones stand LOWER_TEETH above the
// source's inner lower lip line and ride the jaw, shown once the opening passes LOWER_TEETH_GAP.
const UPPER_TEETH: f32 = 0.16;
const LOWER_TEETH: f32 = 0.09;
const LOWER_TEETH_GAP: vec2f = vec2f(0.22, 0.4);
// Where one tooth meets the next, from the middle of the mouth (0) to a corner (1): the incisors, the
// laterals, the canines and two premolars.
const TOOTH_EDGES: array<f32, 6> = array<f32, 6>(0.0, 0.21, 0.38, 0.53, 0.66, 0.78);

// One row of teeth over `colour`. `depth` is how far the point lies from the lip line the teeth grow
// from (mouth widths, positive into the mouth); `across` its place from the middle (0) to a corner (1);
// `height` the row's height in the middle. Each tooth's free edge is rounded; the row shortens and
// darkens towards the corners, where it turns away into the mouth; thin dark lines part the teeth.
fn tooth_row(colour: vec3f, depth: f32, across: f32, height: f32, shade: f32, aa: f32) -> vec3f {
    let a = abs(across);
    // The tooth that a lies on runs from `start` to `next`; `edge` is the distance to the nearer one.
    var start = 0.0;
    var next = 1.0;
    for (var i = 0u; i < 6u; i++) {
        if (a >= TOOTH_EDGES[i]) {
            start = TOOTH_EDGES[i];
        } else {
            next = min(next, TOOTH_EDGES[i]);
        }
    }
    let edge = min(a - start, next - a);
    // Across one tooth, 0 at its edges and 1 in its middle.
    let t = clamp((a - start) / max(next - start, 1e-3), 0.0, 1.0);
    let round = 1.0 - (2.0 * t - 1.0) * (2.0 * t - 1.0);
    let h = height * (1.0 - 0.55 * a * a) * (0.8 + 0.2 * round);
    let inside = smoothstep(-aa, aa, depth) * smoothstep(aa, -aa, depth - h) * (1.0 - smoothstep(0.85, 1.0, a));
    let parted = mix(0.7, 1.0, smoothstep(0.0, 3.0 * aa, edge));
    // Towards the corners the row turns away from the light; near the gum it is a little darker.
    let lit = shade * mix(1.0, 0.4, smoothstep(0.25, 0.95, a)) * mix(0.85, 1.0, smoothstep(0.0, 0.5 * height, depth));
    return mix(colour, params.teeth_colour.rgb * lit * parted, inside);
}

// The mouth interior with synthetic teeth: `colour` is the cavity; `s_up` / `s_low` the source points
// of the upper and lower lips' own maps (skull and jaw), `gap` the driving opening.
fn synthetic_teeth(colour: vec3f, s_up: vec2f, s_low: vec2f, gap: f32, d_drv: f32) -> vec3f {
    let mw = max(params.teeth_colour.w, 1e-6);
    let aa = frame.pixel / mw;
    let corner0 = dot(keypoints[outline_index(LIPS, 0u)].src, params.right);
    let corner1 = dot(keypoints[outline_index(LIPS, 8u)].src, params.right);
    let middle = 0.5 * (corner0 + corner1);
    let half = max(0.5 * abs(corner1 - corner0), 1e-6);
    var c = colour;
    // Lower teeth, behind the upper ones.
    let u_low = dot(s_low, params.right);
    let lower = segment_at(LIPS, 8u, u_low, false);
    if (lower.z > 0.0) {
        let line = segment_point(LIPS, lower, false);
        let show = smoothstep(LOWER_TEETH_GAP.x, LOWER_TEETH_GAP.y, gap / mw);
        let row = tooth_row(c, dot(line - s_low, params.down) / mw, (u_low - middle) / half, LOWER_TEETH, 0.8, aa);
        c = mix(c, row, show);
    }
    let u_up = dot(s_up, params.right);
    let upper = segment_at(LIPS, 0u, u_up, false);
    if (upper.z > 0.0) {
        let line = segment_point(LIPS, upper, false);
        c = tooth_row(c, dot(s_up - line, params.down) / mw, (u_up - middle) / half, UPPER_TEETH, 1.0, aa);
    }
    // A darker rim just inside the lips.
    return c * mix(0.65, 1.0, smoothstep(0.0, 3.0 * frame.pixel, -d_drv));
}

fn mouth_interior(z: vec2f, d_drv: f32) -> vec3f {
    let up = keypoints[params.inner_upper];
    let low = keypoints[params.inner_lower];
    let mid_src = 0.5 * (up.src + low.src);
    // The upper content follows the inner upper lip's own first-order map (skull and head motion), the
    // lower content the inner lower lip's (jaw too). Not the blended warp: inside the opening that is
    // the stretched flow this pass covers.
    let s_up = local_map(up, z);
    let gap = max(dot(low.drv - up.drv, params.down), frame.pixel);
    let px = frame.pixel;

    // Cavity: warm dark red at the lips, near black in the middle, and a hint of tongue rising from
    // behind the lower lip.
    let depth = clamp(-d_drv / (0.5 * gap), 0.0, 1.0);
    var colour = mix(vec3f(0.34, 0.12, 0.11), vec3f(0.09, 0.025, 0.03), smoothstep(0.0, 1.0, depth));
    let from_lower = dot(low.drv - z, params.down) / gap;          // 0 at the lower lip, 1 at the upper
    let across = abs(dot(z - 0.5 * (up.drv + low.drv), params.right)) / (2.0 * gap);
    let tongue = (1.0 - smoothstep(0.15, 0.55, from_lower)) * (1.0 - smoothstep(0.4, 1.0, across));
    colour = mix(colour, vec3f(0.55, 0.22, 0.22), 0.6 * tongue);

    let s_low = local_map(low, z);
    if (params.teeth == 1u) {
        return synthetic_teeth(colour, s_up, s_low, gap, d_drv);
    }

    // Lower content: the lower half of the source opening, carried down with the lower lip.
    let below = smoothstep(-px, px, dot(s_low - mid_src, params.down));
    let in_low = smoothstep(px, -px, outline_distance(s_low, LIPS, false)) * below;
    colour = mix(colour, sample_frame(s_low).rgb, in_low);

    // Upper content: the upper half of the source opening, unmoved.
    let above = smoothstep(px, -px, dot(s_up - mid_src, params.down));
    let in_up = smoothstep(px, -px, outline_distance(s_up, LIPS, false)) * above;
    colour = mix(colour, sample_frame(s_up).rgb, in_up);

    // A darker rim just inside the lips.
    return colour * mix(0.65, 1.0, smoothstep(0.0, 3.0 * px, -d_drv));
}

// The coarse part of the blend at pixel position `frag`, bilinear between the four nearest samples
// (the edge samples repeat beyond the grid): sample i's centre is at (i + 0.5) flow_step pixels, so
// the texture coordinate is frag / (flow_step flow_side).
fn coarse_blend(frag: vec2f) -> vec3f {
    let uv = frag / f32(params.flow_step * params.flow_side);
    return textureSampleLevel(flow, flow_sampler, uv, 0.0).xyz;
}

// The frame's colour at pixel position `frag` (centre, pixels) given the blend's sums there
// (sum of w (m - z), sum of w): the portrait sampled at the blended source point, over the backdrop.
fn warp_colour(frag: vec2f, sum: vec3f) -> vec4f {
    let z = frag * frame.pixel - 1.0;
    let c = sample_frame(z + sum.xy / sum.z);
    if (BG_MODE == BG_COLOR) {
        return vec4f(mix(params.bg_color.rgb, c.rgb, c.a), 1.0);
    } else if (BG_MODE == BG_IMAGE) {
        let at = vec2i(frag) + vec2i(i32(params.backdrop_x), i32(params.backdrop_y));
        return vec4f(mix(textureLoad(backdrop, at, 0).rgb, c.rgb, c.a), 1.0);
    } else if (BG_MODE == BG_ALPHA) {
        return c;   // straight alpha
    }
    return vec4f(c.rgb, 1.0);
}

// A quad's two triangles, in units of its sides.
const QUAD: array<vec2f, 6> = array<vec2f, 6>(
    vec2f(0.0, 0.0), vec2f(1.0, 0.0), vec2f(0.0, 1.0),
    vec2f(0.0, 1.0), vec2f(1.0, 0.0), vec2f(1.0, 1.0),
);

// One quad per run of consecutive tiles in a row, all fine or all coarse (instances[instance],
// encoded as first tile + tiles * (length - 1)).
@vertex
fn vs_run(@builtin(vertex_index) index: u32, @builtin(instance_index) instance: u32) -> VertexOut {
    let tiles = params.tiles_x * params.tiles_x;
    let run = instances[instance];
    let first = run % tiles;
    let origin = vec2f(f32(first % params.tiles_x), f32(first / params.tiles_x));
    let px = (origin + QUAD[index] * vec2f(f32(run / tiles + 1u), 1.0)) * f32(params.tile_px);
    let ndc = px * frame.pixel - 1.0;
    var out: VertexOut;
    out.position = vec4f(ndc.x, -ndc.y, 0.0, 1.0);
    out.frame_uv = 0.5 * px * frame.pixel;
    out.instance = instance;
    return out;
}

// The warp by the coarse (wide) part of the blend alone.
@fragment
fn fs_warp(in: VertexOut) -> @location(0) vec4f {
    return warp_colour(in.position.xy, coarse_blend(in.position.xy));
}

// The warp in a tile that narrow keypoints reach: the coarse part plus the narrow keypoints' part.
@fragment
fn fs_warp_fine(in: VertexOut) -> @location(0) vec4f {
    let frag = in.position.xy;
    return warp_colour(frag, coarse_blend(frag) + textureLoad(narrow_sum, vec2i(frag), 0).xyz);
}

// The narrow pass, before the warp: the fine tiles are zeroed (vs_run / fs_zero), then every narrow
// keypoint adds its part of the blend (vs_spot / fs_spot, additive blending).
@fragment
fn fs_zero(in: VertexOut) -> @location(0) vec4f {
    return vec4f(0.0);
}

struct SpotOut {
    @builtin(position) position: vec4f,
    @location(0) @interpolate(flat) drv_src: vec4f,
    @location(1) @interpolate(flat) jac: vec4f,
    @location(2) @interpolate(flat) spread: vec4f,
}

// The quad over keypoint instances[instance]'s 3-sigma ellipse's bounding box, for a target whose
// pixels are `step` frame pixels (1: the frame; flow_step: the coarse grid) and whose side covers
// `cover` frame units from -1. (A quad, not a polygon closer to the ellipse: lavapipe sets up
// triangles one by one, and an octagon's six cost more than the quad's corners.)
fn spot(index: u32, instance: u32, step: f32, cover: f32) -> SpotOut {
    let kp = keypoints[instances[instance]];
    // e(d) = -d^T A d with A = [[a, b], [b, c]]; e > CUTOFF_EXPONENT within |d.x| < sqrt(-CUTOFF c / det)
    // and |d.y| < sqrt(-CUTOFF a / det). Half a target pixel more, against rounding.
    let a = -kp.spread.x;
    let b = -0.5 * kp.spread.y;
    let c = -kp.spread.z;
    let det = max(a * c - b * b, 1e-20);
    let half = sqrt(-CUTOFF_EXPONENT * vec2f(c, a) / det) + 0.5 * step * frame.pixel;
    let corner = (kp.drv + 1.0 + (QUAD[index] * 2.0 - 1.0) * half) * (2.0 / cover) - 1.0;
    var out: SpotOut;
    out.position = vec4f(corner.x, -corner.y, 0.0, 1.0);
    out.drv_src = vec4f(kp.drv, kp.src);
    out.jac = kp.jac;
    out.spread = kp.spread;
    return out;
}

// A narrow keypoint's quad on the frame.
@vertex
fn vs_spot(@builtin(vertex_index) index: u32, @builtin(instance_index) instance: u32) -> SpotOut {
    return spot(index, instance, 1.0, 2.0);
}

// A wide keypoint's quad on the coarse grid.
@vertex
fn vs_wide(@builtin(vertex_index) index: u32, @builtin(instance_index) instance: u32) -> SpotOut {
    let step = f32(params.flow_step);
    return spot(index, instance, step, step * f32(params.flow_side) * frame.pixel);
}

// A keypoint's part of the blend at frame point z: (w (m(z) - z), w), or nothing beyond its cutoff.
fn spot_part(in: SpotOut, z: vec2f) -> vec4f {
    let d = z - in.drv_src.xy;
    let e = in.spread.x * d.x * d.x + in.spread.y * d.x * d.y + in.spread.z * d.y * d.y;
    if (e <= CUTOFF_EXPONENT) {
        discard;
    }
    let w = in.spread.w * (exp(e) - CUTOFF_WEIGHT);
    let jd = vec2f(in.jac.x * d.x + in.jac.y * d.y, in.jac.z * d.x + in.jac.w * d.y);
    return vec4f(w * vec3f(in.drv_src.zw + jd - z, 1.0), 0.0);
}

@fragment
fn fs_spot(in: SpotOut) -> @location(0) vec4f {
    return spot_part(in, in.position.xy * frame.pixel - 1.0);
}

// The coarse grid: cleared to the background's weight, then every wide keypoint adds its part at the
// centre of each flow_step square.
@fragment
fn fs_wide(in: SpotOut) -> @location(0) vec4f {
    return spot_part(in, in.position.xy * f32(params.flow_step) * frame.pixel - 1.0);
}

// The segment of outline `which` among points first .. first + 8 (an upper line: first = 0u; a lower
// one: first = 8u) that spans place u along the face's right axis, through driving or source
// positions: (index of its first point, t along it, 1), or all 0 when none does. Lip outlines run
// corner, upper line, corner, lower line; eye outlines outer corner, upper lid, inner corner, lower lid.
fn segment_at(which: u32, first: u32, u: f32, driving: bool) -> vec3f {
    for (var i = first; i < first + 8u; i++) {
        let a = keypoints[outline_index(which, i)];
        let b = keypoints[outline_index(which, (i + 1u) % 16u)];
        let ua = dot(select(a.src, a.drv, driving), params.right);
        let ub = dot(select(b.src, b.drv, driving), params.right);
        if (abs(ub - ua) > 1e-9 && u >= min(ua, ub) && u <= max(ua, ub)) {
            return vec3f(f32(i), (u - ua) / (ub - ua), 1.0);
        }
    }
    return vec3f(0.0);
}

// The two keypoints at the ends of a segment from `segment_at`.
fn segment_ends(which: u32, seg: vec3f) -> array<Keypoint, 2> {
    let i = u32(seg.x);
    return array<Keypoint, 2>(keypoints[outline_index(which, i)], keypoints[outline_index(which, (i + 1u) % 16u)]);
}

// The driving (or source) point of a segment from `segment_at`, at its t.
fn segment_point(which: u32, seg: vec3f, driving: bool) -> vec2f {
    let k = segment_ends(which, seg);
    return mix(select(k[0].src, k[0].drv, driving), select(k[1].src, k[1].drv, driving), seg.y);
}
// The source point that a segment's two keypoints' maps give for output point z (blended by t).
fn segment_map(which: u32, seg: vec3f, z: vec2f) -> vec2f {
    let k = segment_ends(which, seg);
    return mix(local_map(k[0], z), local_map(k[1], z), seg.y);
}

const LIP_INSET_PX: f32 = 1.5;
const LIP_PRESS_PX: f32 = 5.0;

// The lips, drawn inside a scissor rectangle around them and alpha-blended over the warp, whenever
// they close over the portrait's opening (Rig::lip_squeeze). The Gaussian blend averages the
// maps of keypoints that move apart or together, so between closing lips it would keep showing what
// lay between them (teeth). Here every pixel inside the outer lip outline takes one map: above the
// driving inner upper lip line the upper lip's (its keypoints' maps at that place), below the inner
// lower lip line the lower lip's, and in between the portrait's own opening, squeezed or stretched
// between the two. Closed lips meet with nothing between them. Where the lips have opened wider than
// in the portrait fs_mouth then covers the opening.
@fragment
fn fs_lips(in: VertexOut) -> @location(0) vec4f {
    let z = in.frame_uv * 2.0 - 1.0;
    let px = frame.pixel;
    // Inside the outer lip edge, fading in over two pixels so the warp's lip edge shows through.
    var coverage = smoothstep(0.0, 2.0 * px, -outline_distance(z, OUTER_LIPS, true));
    let u = dot(z, params.right);
    let upper = segment_at(LIPS, 0u, u, true);
    let lower = segment_at(LIPS, 8u, u, true);
    // Past the inner corners there is no opening: fade out towards them over a pixel.
    let u0 = dot(keypoints[outline_index(LIPS, 0u)].drv, params.right);
    let u1 = dot(keypoints[outline_index(LIPS, 8u)].drv, params.right);
    coverage *= smoothstep(0.0, px, min(abs(u - u0), abs(u - u1))) * upper.z * lower.z;
    if (coverage <= 0.0) {
        discard;
    }
    let top = segment_point(LIPS, upper, true);
    let bottom = segment_point(LIPS, lower, true);
    let below_top = dot(z - top, params.down);
    let above_bottom = dot(bottom - z, params.down);
    // Lips pressed together thin out: where they are closer than in the portrait each is drawn from a
    // little further into itself near the line where they meet (up to LIP_INSET_PX, fading out over
    // LIP_PRESS_PX), so no sliver of what lay between them survives at the seam.
    let gap_src = dot(segment_map(LIPS, lower, bottom) - segment_map(LIPS, upper, top), params.down);
    let squeeze = max(gap_src - (below_top + above_bottom), 0.0);
    let inset = min(0.5 * squeeze, LIP_INSET_PX * px);
    var s: vec2f;
    if (below_top <= 0.0) {
        let f = 1.0 - smoothstep(0.0, LIP_PRESS_PX * px, -below_top);
        s = segment_map(LIPS, upper, z - params.down * (inset * f));
    } else if (above_bottom <= 0.0) {
        let f = 1.0 - smoothstep(0.0, LIP_PRESS_PX * px, -above_bottom);
        s = segment_map(LIPS, lower, z + params.down * (inset * f));
    } else {
        let v = below_top / max(below_top + above_bottom, 1e-6);
        s = mix(segment_map(LIPS, upper, top), segment_map(LIPS, lower, bottom), v);
    }
    return vec4f(sample_frame(s).rgb, coverage);
}

// Drawn inside a scissor rectangle around the driving inner lips, after fs_lips, and alpha-blended:
// the mouth interior, where the lips have opened wider than in the portrait. (Separate passes, because
// software rasterisers run both sides of a branch: in the warp pass this would cost every pixel.)
@fragment
fn fs_mouth(in: VertexOut) -> @location(0) vec4f {
    let z = in.frame_uv * 2.0 - 1.0;
    let d_drv = outline_distance(z, LIPS, true);
    let coverage = smoothstep(frame.pixel, -frame.pixel, d_drv) * frame.interior;
    if (coverage <= 0.0) {
        discard;
    }
    return vec4f(mouth_interior(z, d_drv), coverage);
}

// How far gaze = 1 moves the middle of the eye, as a share of the eye's width (across) and of its
// opening (down). The shift tapers as sin(pi t) to zero at the corners and lids, so the map stays
// one-to-one (below 1 / pi) and the outline does not move.
const GAZE_ACROSS: f32 = 0.2;
const GAZE_DOWN: f32 = 0.2;

// The eyeball under the lids, turned by the gaze: the source point for output point z inside an eye's
// driving outline. The eye is mapped by its own coordinates: t across, from the outer corner to the
// inner one, and v down, from the upper lid line to the lower one at that place. The gaze shifts
// (t, v), and the source outline maps them back.
fn gazed_source(which: u32, z: vec2f) -> vec2f {
    let outer = keypoints[outline_index(which, 0u)];
    let inner = keypoints[outline_index(which, 8u)];
    let u = dot(z, params.right);
    let u0 = dot(outer.drv, params.right);
    let u1 = dot(inner.drv, params.right);
    let t = clamp((u - u0) / (u1 - u0), 0.0, 1.0);
    let top_seg = segment_at(which, 0u, u, true);
    let bottom_seg = segment_at(which, 8u, u, true);
    let top = segment_point(which, top_seg, true);
    let bottom = segment_point(which, bottom_seg, true);
    let opening = dot(bottom - top, params.down);
    let v = clamp(dot(z - top, params.down) / max(opening, 1e-6), 0.0, 1.0);
    // Gaze is in frame axes; t runs towards the viewer's right for the person's right eye and left for
    // the other.
    let across = frame.gaze.x * sign(u1 - u0);
    let ts = clamp(t - GAZE_ACROSS * across * sin(3.14159265 * t), 0.0, 1.0);
    let vs = clamp(v - GAZE_DOWN * frame.gaze.y * sin(3.14159265 * v), 0.0, 1.0);
    let us = mix(dot(outer.src, params.right), dot(inner.src, params.right), ts);
    let top_src = segment_at(which, 0u, us, false);
    let bottom_src = segment_at(which, 8u, us, false);
    if (top_seg.z * bottom_seg.z * top_src.z * bottom_src.z == 0.0) {
        return z + (outer.src - outer.drv);   // off the lines (only at the corners): no gaze
    }
    return mix(segment_point(which, top_src, false), segment_point(which, bottom_src, false), vs);
}

// One instance per eye, scissored to the eye and alpha-blended: the eyeball turned by the gaze, and the
// closing upper lid over it.
// Inside the eye's driving outline (where the warp put the open eye) the gaze redraws the eye from
// the source (`gazed_source`). Everything above the closing lid line (each upper-lid point moved by
// blink * blink_offset) is lid: skin from just above the source lid, stretched down over the closing
// distance, with the source's lash line at the lid's new edge. Below the closing lid the eye is the
// warp's, or the gaze's.
@fragment
fn fs_eyes(in: VertexOut) -> @location(0) vec4f {
    let eye = in.instance;
    let which = RIGHT_EYE + eye;
    let closure = frame.blink[eye];
    let z = in.frame_uv * 2.0 - 1.0;
    let px = frame.pixel;
    let inside = smoothstep(px, -px, outline_distance(z, which, true));
    if (inside <= 0.0) {
        discard;
    }
    let gazing = any(frame.gaze != vec2f(0.0));
    var eye_colour = vec3f(0.0);
    if (gazing) {
        eye_colour = sample_frame(gazed_source(which, z)).rgb;
    }
    // The upper-lid line at z's place along the eye: where the warp draws it, where it closes to, and
    // where it is in the portrait.
    let lid = segment_at(which, 0u, dot(z, params.right), true);
    let found = lid.z > 0.0;
    let k = segment_ends(which, lid);
    let lid_open = mix(k[0].drv, k[1].drv, lid.y);
    let lid_shut = mix(k[0].drv + closure * k[0].blink_offset, k[1].drv + closure * k[1].blink_offset, lid.y);
    let lid_src = mix(k[0].src, k[1].src, lid.y);
    let drop = dot(lid_shut - lid_open, params.down);
    let above_shut = dot(lid_shut - z, params.down);
    var cover = 0.0;
    if (found && drop > 0.25 * px) {
        cover = inside * smoothstep(-px, px, above_shut) * clamp(drop / (2.0 * px), 0.0, 1.0);
    }
    let base = select(0.0, inside, gazing);
    let alpha = max(base, cover);
    if (alpha <= 0.0) {
        discard;
    }
    let t = clamp(dot(z - lid_open, params.down) / max(drop, 1e-6), 0.0, 1.0);
    let band = 0.5 * drop + 2.0 * px;
    var lid_colour = sample_frame(lid_src - params.down * ((1.0 - t) * band + 1.5 * px)).rgb;
    let lash = 1.0 - smoothstep(0.0, 2.0 * px, above_shut);
    lid_colour = mix(lid_colour, 0.85 * sample_frame(lid_src + params.down * 0.5 * px).rgb, lash);
    return vec4f(mix(eye_colour, lid_colour, cover / alpha), alpha);
}
