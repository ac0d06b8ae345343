// facecast frame finish: the warped square placed in a frame of any shape, the bands beside it, and
// the disclosure mark over a corner.
//
// The warp (warp.wgsl) draws the face in a square, the frame's shorter side. A frame that is not
// square (a call app's 640x480 or 1280x720) holds that square at its centre; the bands beside it show
// the portrait where it continues, unmoved (far from the face the warp is the identity, so the seam is
// the warp's own edge), over the backdrop the warp uses; beyond the portrait's border, what the warp
// shows there too: nothing, over the backdrop. The disclosure mark ("AI-generated", src/text.rs) is
// drawn over everything, straight alpha over straight alpha.

struct Finish {
    face_origin: vec2f,   // the face square's top-left corner in the frame, pixels
    face_side: f32,       // its side, pixels
    bg_mode: u32,         // what shows behind the person: BG_KEEP, BG_COLOR, BG_IMAGE, BG_ALPHA (warp.wgsl)
    uv_offset: vec2f,     // portrait texture coordinates of frame point (0, 0) ...
    uv_scale: vec2f,      // ... and per frame unit, as warp.wgsl's Params
    bg_color: vec4f,      // BG_COLOR's colour
    mark_origin: vec2f,   // the mark's top-left corner in the frame, pixels
    mark_size: vec2f,     // its size, pixels; zero for no mark
}

@group(0) @binding(0) var<uniform> finish: Finish;
@group(0) @binding(1) var face: texture_2d<f32>;        // the warp's square
@group(0) @binding(2) var portrait: texture_2d<f32>;
@group(0) @binding(3) var portrait_sampler: sampler;
@group(0) @binding(4) var backdrop: texture_2d<f32>;    // BG_IMAGE's picture, at the frame's size
@group(0) @binding(5) var mark: texture_2d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> @builtin(position) vec4f {
    // One triangle that covers the viewport.
    let xy = vec2f(f32((index << 1u) & 2u), f32(index & 2u)) * 2.0 - 1.0;
    return vec4f(xy, 0.0, 1.0);
}

@fragment
fn fs_finish(@builtin(position) position: vec4f) -> @location(0) vec4f {
    let pixel = vec2i(floor(position.xy));
    let q = position.xy - finish.face_origin;
    let side = i32(finish.face_side);
    let inside = all(q >= vec2f(0.0)) && all(q < vec2f(finish.face_side));
    let warped = textureLoad(face, clamp(vec2i(floor(q)), vec2i(0), vec2i(side - 1)), 0);

    // The bands: the portrait at the identity, frame coordinates continued beyond the square.
    let uv = finish.uv_offset + finish.uv_scale * (q / finish.face_side * 2.0 - 1.0);
    let on_portrait = all(uv >= vec2f(0.0)) && all(uv <= vec2f(1.0));
    let p = select(vec4f(0.0), textureSampleLevel(portrait, portrait_sampler, uv, 0.0), on_portrait);
    let behind = textureLoad(backdrop, clamp(pixel, vec2i(0), vec2i(textureDimensions(backdrop)) - 1), 0).rgb;
    var band = vec4f(p.rgb, 1.0);
    if (finish.bg_mode == 1u) {
        band = vec4f(mix(finish.bg_color.rgb, p.rgb, p.a), 1.0);
    } else if (finish.bg_mode == 2u) {
        band = vec4f(mix(behind, p.rgb, p.a), 1.0);
    } else if (finish.bg_mode == 3u) {
        band = p;
    }
    let c = select(band, warped, inside);

    // The mark, straight alpha over straight alpha; pixels it does not cover keep their exact value.
    let m = position.xy - finish.mark_origin;
    let on_mark = all(m >= vec2f(0.0)) && all(m < finish.mark_size);
    let dims = vec2i(textureDimensions(mark));
    let k = select(vec4f(0.0), textureLoad(mark, clamp(vec2i(floor(m)), vec2i(0), dims - 1), 0), on_mark);
    let a = k.a + c.a * (1.0 - k.a);
    let over = vec4f((k.rgb * k.a + c.rgb * c.a * (1.0 - k.a)) / max(a, 1e-6), a);
    return select(c, over, k.a > 0.0);
}
