//! A picture drawn on the CPU and shown from the GPU: the camera's preview while `--portrait camera`
//! counts down.
//!
//! Input: RGBA8 frames of one size. Output: a texture a window samples. Thread: the window's (the main
//! thread). The texture is made once; each frame is a queue write into it.

use super::targets::texture_2d;
use crate::gpu::GpuContext;

/// A texture of one size that RGBA8 pictures are written into.
pub struct Picture {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
}

impl Picture {
    /// A texture for pictures of `width` x `height`.
    pub fn new(ctx: &GpuContext, (width, height): (u32, u32)) -> Self {
        let texture = texture_2d(
            &ctx.device,
            "picture",
            (width.max(1), height.max(1)),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Self { texture, view }
    }

    /// Writes `rgba` (the texture's size, row-major); a picture of another size is not shown.
    pub fn write(&self, ctx: &GpuContext, rgba: &[u8]) {
        let size = self.texture.size();
        if rgba.len() != (size.width * size.height * 4) as usize {
            return;
        }
        ctx.queue.write_texture(
            self.texture.as_image_copy(),
            rgba,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * size.width),
                rows_per_image: Some(size.height),
            },
            size,
        );
    }

    /// The texture, for a window to sample.
    pub fn view(&self) -> &wgpu::TextureView {
        &self.view
    }
}
