// Shows a texture in a rectangle of the window: the rendered frame (letterboxed), or the HUD over it.
// Vertices: a 4-vertex triangle strip over `quad.rect` (clip space: x0, y0 bottom, x1, y1 top).
// Output is premultiplied alpha, blended with premultiplied-alpha blending, so the frame shows over the
// cleared (black) window and the HUD over the frame.

struct Quad {
    rect: vec4<f32>,
    // x: 1 when the surface is sRGB (the texture's bytes are already sRGB-encoded: decode them first,
    // so the surface's encoding gives the same bytes back).
    flags: vec4<f32>,
}

@group(0) @binding(0) var tex: texture_2d<f32>;
@group(0) @binding(1) var samp: sampler;
@group(0) @binding(2) var<uniform> quad: Quad;

struct VsOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> VsOut {
    let c = vec2<f32>(f32(i & 1u), f32(i >> 1u));
    let xy = mix(quad.rect.xy, quad.rect.zw, c);
    var out: VsOut;
    out.pos = vec4<f32>(xy, 0.0, 1.0);
    out.uv = vec2<f32>(c.x, 1.0 - c.y);
    return out;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let c = textureSample(tex, samp, in.uv);
    var rgb = c.rgb;
    if (quad.flags.x > 0.5) {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb * c.a, c.a);
}
