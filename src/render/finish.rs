//! The finish pass: the warp's square placed in the frame (centred, with the bands beside it when the
//! frame is not square) and the disclosure mark drawn over a corner (shaders/finish.wgsl).
//!
//! Input: the warp's square, the portrait, the backdrop, and the mark once. Output: the frame at its
//! full size, which the readback copies and a window shows. Thread: the render thread. Its pipeline,
//! target, uniform and mark texture are made once (the mark again only when it is changed); nothing
//! per frame. A square frame without a mark skips the pass: the warp's square is the frame.
//!
//! The bands and the mark do not move: the whole frame is drawn once (and again when the backdrop or
//! the mark changes); after that a frame is the warp's square copied into place and the pass again
//! over the mark's rectangle only (it draws the finished pixels there, the mark over what is beneath,
//! so nothing builds up). A full-frame pass every frame cost 5 ms at 512 px on lavapipe, as much as the
//! warp itself.

use bytemuck::{Pod, Zeroable};
use image::RgbaImage;

use super::pipelines::texture_entry;
use super::targets::{colour_pass, image_texture, texture_2d};
use crate::gpu::GpuContext;
use crate::vocab::FrameGeometry;

/// WGSL source of the finish pass, embedded at build time from shaders/finish.wgsl.
pub const FINISH_WGSL: &str = include_str!("../../shaders/finish.wgsl");

/// The corner the disclosure mark sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

/// shaders/finish.wgsl `Finish`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct GpuFinish {
    pub face_origin: [f32; 2],
    pub face_side: f32,
    pub bg_mode: u32,
    pub uv_offset: [f32; 2],
    pub uv_scale: [f32; 2],
    pub bg_color: [f32; 4],
    pub mark_origin: [f32; 2],
    pub mark_size: [f32; 2],
}

/// What the finish pass reads that the warp owns (handles to the same GPU objects).
pub(super) struct FinishInputs {
    pub face: wgpu::TextureView,
    pub portrait: wgpu::TextureView,
    pub sampler: wgpu::Sampler,
    pub backdrop: wgpu::TextureView,
}

/// The finish pass's pipeline, target and bindings.
pub(super) struct Finish {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    bind_group: wgpu::BindGroup,
    uniform: GpuFinish,
    uniform_buffer: wgpu::Buffer,
    inputs: FinishInputs,
    frame: FrameGeometry,
    /// The whole frame must be drawn (at the start, and after the backdrop or the mark changed).
    whole_frame: bool,
    /// The finished frame, `frame`'s size, RGBA8 straight alpha.
    pub target: wgpu::Texture,
    pub target_view: wgpu::TextureView,
}

/// The mark's margin from the frame's edges, in the mark's own glyph pixels.
const MARK_MARGIN_GLYPH_PX: u32 = 2;

impl Finish {
    pub fn new(ctx: &GpuContext, frame: FrameGeometry, uniform: GpuFinish, inputs: FinishInputs) -> Self {
        let device = &ctx.device;
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("finish.wgsl"),
            source: wgpu::ShaderSource::Wgsl(FINISH_WGSL.into()),
        });
        let texture = |binding, filterable| texture_entry(binding, wgpu::ShaderStages::FRAGMENT, filterable);
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("finish"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                texture(1, false),
                texture(2, true),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                texture(4, false),
                texture(5, false),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("finish"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("finish"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_finish"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: wgpu::TextureFormat::Rgba8Unorm,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let uniform_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("finish"),
            size: std::mem::size_of::<GpuFinish>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.queue.write_buffer(&uniform_buffer, 0, bytemuck::bytes_of(&uniform));
        let target = texture_2d(
            device,
            "finished frame",
            (frame.width_px(), frame.height_px()),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::COPY_DST,
        );
        let target_view = target.create_view(&wgpu::TextureViewDescriptor::default());
        let mark = mark_texture(ctx, &RgbaImage::new(1, 1));
        let bind_group = bind_group(device, &layout, &uniform_buffer, &inputs, &mark);
        Self {
            pipeline,
            layout,
            bind_group,
            uniform,
            uniform_buffer,
            inputs,
            frame,
            whole_frame: true,
            target,
            target_view,
        }
    }

    /// Whether the frame needs this pass: it is not square, or it carries a mark.
    pub fn needed(&self) -> bool {
        !self.frame.is_square() || self.uniform.mark_size != [0.0; 2]
    }

    /// Sets the backdrop mode and colour the bands show.
    pub fn set_backdrop(&mut self, ctx: &GpuContext, mode: u32, color: [f32; 4]) {
        self.uniform.bg_mode = mode;
        self.uniform.bg_color = color;
        self.whole_frame = true;
        ctx.queue.write_buffer(&self.uniform_buffer, 0, bytemuck::bytes_of(&self.uniform));
    }

    /// Sets the mark drawn over `corner` (`None`: no mark). Made at start-up, not per frame.
    pub fn set_mark(&mut self, ctx: &GpuContext, mark: Option<(&RgbaImage, Corner)>) {
        self.whole_frame = true;
        let (width, height) = (self.frame.width_px() as f32, self.frame.height_px() as f32);
        match mark {
            None => {
                self.uniform.mark_size = [0.0; 2];
            }
            Some((image, corner)) => {
                let texture = mark_texture(ctx, image);
                self.bind_group = bind_group(&ctx.device, &self.layout, &self.uniform_buffer, &self.inputs, &texture);
                let (w, h) = (image.width() as f32, image.height() as f32);
                // The label's own margin is one glyph pixel (text::label): its height is 10 of them.
                let margin = (MARK_MARGIN_GLYPH_PX as f32 * h / 10.0).round();
                let x = match corner {
                    Corner::TopLeft | Corner::BottomLeft => margin,
                    Corner::TopRight | Corner::BottomRight => (width - w - margin).max(0.0),
                };
                let y = match corner {
                    Corner::TopLeft | Corner::TopRight => margin,
                    Corner::BottomLeft | Corner::BottomRight => (height - h - margin).max(0.0),
                };
                self.uniform.mark_origin = [x, y];
                self.uniform.mark_size = [w, h];
            }
        }
        ctx.queue.write_buffer(&self.uniform_buffer, 0, bytemuck::bytes_of(&self.uniform));
    }

    /// Records the frame's finish into `encoder`: the whole frame where it must be drawn again, else the
    /// warp's square copied into place and the mark's rectangle drawn over.
    pub fn encode(&mut self, encoder: &mut wgpu::CommandEncoder, face: &wgpu::Texture) {
        if std::mem::take(&mut self.whole_frame) {
            let mut pass =
                colour_pass(encoder, "finish", &self.target_view, wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT));
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.draw(0..3, 0..1);
            return;
        }
        let [x, y] = self.uniform.face_origin.map(|v| v as u32);
        encoder.copy_texture_to_texture(
            face.as_image_copy(),
            wgpu::TexelCopyTextureInfo {
                texture: &self.target,
                mip_level: 0,
                origin: wgpu::Origin3d { x, y, z: 0 },
                aspect: wgpu::TextureAspect::All,
            },
            face.size(),
        );
        if self.uniform.mark_size == [0.0; 2] {
            return;
        }
        let (width, height) = (self.frame.width_px(), self.frame.height_px());
        let [mx, my] = self.uniform.mark_origin.map(|v| v as u32);
        let [mw, mh] = self.uniform.mark_size.map(|v| v as u32);
        let (mx, my) = (mx.min(width), my.min(height));
        let (mw, mh) = (mw.min(width - mx), mh.min(height - my));
        if mw == 0 || mh == 0 {
            return;
        }
        let mut pass = colour_pass(encoder, "finish: mark", &self.target_view, wgpu::LoadOp::Load);
        pass.set_scissor_rect(mx, my, mw, mh);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

/// The mark's pixels in a texture of their own size.
fn mark_texture(ctx: &GpuContext, image: &RgbaImage) -> wgpu::Texture {
    image_texture(ctx, "disclosure mark", image)
}

fn bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    uniform: &wgpu::Buffer,
    inputs: &FinishInputs,
    mark: &wgpu::Texture,
) -> wgpu::BindGroup {
    let mark_view = mark.create_view(&wgpu::TextureViewDescriptor::default());
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("finish"),
        layout,
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&inputs.face) },
            wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&inputs.portrait) },
            wgpu::BindGroupEntry { binding: 3, resource: wgpu::BindingResource::Sampler(&inputs.sampler) },
            wgpu::BindGroupEntry { binding: 4, resource: wgpu::BindingResource::TextureView(&inputs.backdrop) },
            wgpu::BindGroupEntry { binding: 5, resource: wgpu::BindingResource::TextureView(&mark_view) },
        ],
    })
}
