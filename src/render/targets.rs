//! The warp's render targets: the coarse flow grid, the per-pixel part of the narrow keypoints, the
//! frame and the backdrop, made once for one frame size.
//!
//! Input: the device and the frame size. Output: [`Targets`]. Thread: the render thread, at start-up.

/// The coarse flow's texels: half floats, so that the warp passes can read it with one filtered sample.
pub(super) const FLOW_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;
/// The narrow keypoints' part of the blend, per pixel, summed by additive blending: half floats, which
/// every adapter can blend.
pub(super) const NARROW_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;

/// A render pass into one colour attachment, loaded (or cleared) by `load` and stored.
pub(super) fn colour_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    label: &str,
    view: &wgpu::TextureView,
    load: wgpu::LoadOp<wgpu::Color>,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations { load, store: wgpu::StoreOp::Store },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}

/// A 2D texture with one mip level and one sample.
pub(super) fn texture_2d(
    device: &wgpu::Device,
    label: &str,
    (width, height): (u32, u32),
    format: wgpu::TextureFormat,
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}

/// A texture holding `image` (RGBA8, sampled), uploaded once.
pub(super) fn image_texture(ctx: &crate::gpu::GpuContext, label: &str, image: &image::RgbaImage) -> wgpu::Texture {
    let texture = texture_2d(
        &ctx.device,
        label,
        image.dimensions(),
        wgpu::TextureFormat::Rgba8Unorm,
        wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
    );
    ctx.queue.write_texture(
        texture.as_image_copy(),
        image.as_raw(),
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(4 * image.width()),
            rows_per_image: Some(image.height()),
        },
        texture.size(),
    );
    texture
}

/// The textures the passes draw into.
pub(super) struct Targets {
    pub flow_view: wgpu::TextureView,
    pub narrow_view: wgpu::TextureView,
    /// The frame: RGBA8, straight alpha; a window samples it, the readback copies it.
    pub target: wgpu::Texture,
    pub target_view: wgpu::TextureView,
    /// What shows behind the person (`Backdrop::Image`), at the whole frame's size.
    pub backdrop: wgpu::Texture,
    pub backdrop_view: wgpu::TextureView,
}

impl Targets {
    /// The targets of a `size` x `size` face square with a coarse grid of `flow_side` samples a side, in
    /// `frame`.
    pub fn new(device: &wgpu::Device, size: u32, flow_side: u32, frame: crate::vocab::FrameGeometry) -> Self {
        let flow_view = texture_2d(
            device,
            "coarse flow",
            (flow_side, flow_side),
            FLOW_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        )
        .create_view(&wgpu::TextureViewDescriptor::default());
        let narrow_view = texture_2d(
            device,
            "narrow keypoints' blend",
            (size, size),
            NARROW_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        )
        .create_view(&wgpu::TextureViewDescriptor::default());
        let target = texture_2d(
            device,
            "frame",
            (size, size),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
        );
        let target_view = target.create_view(&wgpu::TextureViewDescriptor::default());
        let backdrop = texture_2d(
            device,
            "backdrop",
            (frame.width_px(), frame.height_px()),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        let backdrop_view = backdrop.create_view(&wgpu::TextureViewDescriptor::default());
        Self { flow_view, narrow_view, target, target_view, backdrop, backdrop_view }
    }
}
