//! The uniforms and storage the warp shader reads, laid out as shaders/warp.wgsl declares them.
//!
//! Input: the rig's geometry and the frame's tiling. Output: the plain-old-data structs written to the
//! GPU. Thread: the render thread.

use bytemuck::{Pod, Zeroable};

use super::tiles::{FLOW_STEP_PX, TILE_PX, Tiling};
use crate::vocab::RigGeometry;

/// The shaders' structs and the size of each as the renderer writes it, bytes, by shader file;
/// tests/shader_validation.rs holds shaders/ to them.
pub const SHADER_STRUCT_SIZES: [(&str, &str, usize); 4] = [
    ("warp.wgsl", "Params", std::mem::size_of::<GpuParams>()),
    ("warp.wgsl", "Frame", std::mem::size_of::<GpuFrame>()),
    ("warp.wgsl", "Keypoint", std::mem::size_of::<GpuKeypoint>()),
    ("finish.wgsl", "Finish", std::mem::size_of::<super::finish::GpuFinish>()),
];

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct GpuParams {
    pub uv_offset: [f32; 2],
    pub _pad0: f32,
    pub bg_weight: f32,
    pub uv_scale: [f32; 2],
    pub right: [f32; 2],
    pub down: [f32; 2],
    pub count: u32,
    pub tiles_x: u32,
    pub tile_px: u32,
    pub flow_step: u32,
    pub flow_side: u32,
    pub backdrop_x: u32,
    pub outlines: [u32; 64],
    pub inner_upper: u32,
    pub inner_lower: u32,
    pub backdrop_y: u32,
    pub teeth: u32,
    pub bg_color: [f32; 4],
    pub teeth_colour: [f32; 4],
}

/// The per-frame uniform (shaders/warp.wgsl `Frame`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct GpuFrame {
    pub interior: f32,
    pub pixel: f32,
    pub blink: [f32; 2],
    pub gaze: [f32; 2],
    pub _pad: [f32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct GpuKeypoint {
    pub src: [f32; 2],
    pub drv: [f32; 2],
    pub jac: [f32; 4],
    pub spread: [f32; 4],
    pub blink_offset: [f32; 2],
    pub _pad2: [f32; 2],
}

impl GpuParams {
    /// The parameters of `rig` on a portrait of `image_size` pixels, drawn with `tiling`; the backdrop
    /// colour is set later.
    pub fn new(rig: &RigGeometry, image_size: glam::Vec2, tiling: &Tiling) -> Self {
        let (tiles_x, flow_side) = (tiling.tiles_x(), tiling.flow_side());
        Self {
            // Frame point s is image pixel origin + (s + 1) side / 2; texture coordinates divide by the size.
            uv_offset: ((rig.framing.origin + 0.5 * rig.framing.side) / image_size).to_array(),
            _pad0: 0.0,
            bg_weight: rig.background_weight,
            uv_scale: (0.5 * rig.framing.side / image_size).to_array(),
            right: rig.right.to_array(),
            down: rig.down.to_array(),
            count: rig.keypoints.len() as u32,
            tiles_x,
            tile_px: TILE_PX,
            flow_step: FLOW_STEP_PX,
            flow_side,
            backdrop_x: 0,
            outlines: {
                let mut outlines = [0u32; 64];
                let all =
                    rig.inner_lip_outline.iter().chain(rig.eye_outlines.iter().flatten()).chain(&rig.outer_lip_outline);
                for (dst, &i) in outlines.iter_mut().zip(all) {
                    *dst = i as u32;
                }
                outlines
            },
            inner_upper: rig.inner_upper as u32,
            inner_lower: rig.inner_lower as u32,
            backdrop_y: 0,
            teeth: u32::from(rig.mouth.synthetic_teeth),
            bg_color: [0.0; 4],
            teeth_colour: {
                let [r, g, b] = rig.mouth.teeth_rgb;
                [r, g, b, rig.mouth_width]
            },
        }
    }
}
