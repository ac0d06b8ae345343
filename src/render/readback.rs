//! The readback belt: the frame copied from the GPU into a mapped buffer, and handed to the CPU without
//! a copy where its rows need no padding.
//!
//! Input: the frame texture, after a draw. Output: the frame's RGBA8 bytes. Thread: the render thread.
//! One buffer, made once; nothing is allocated per frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::RenderError;
use crate::gpu::GpuContext;
use crate::vocab::FrameGeometry;

/// The buffer a frame is copied into, and the frame as the CPU reads it.
pub(super) struct Readback {
    buffer: wgpu::Buffer,
    padded_row_bytes: u32,
    frame: FrameGeometry,
    /// The frame read back, where the buffer's rows are padded (widths not a multiple of 64).
    bytes: Vec<u8>,
    mapped: Arc<AtomicBool>,
    /// The buffer, mapped since the last [`read`](Self::read) where its rows are not padded: the frame
    /// is read from it in place, and it is unmapped before the next copy.
    view: Option<wgpu::BufferView>,
}

impl Readback {
    pub fn new(device: &wgpu::Device, frame: FrameGeometry) -> Self {
        let padded_row_bytes = (frame.row_bytes() as u32).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame readback"),
            size: u64::from(padded_row_bytes) * u64::from(frame.height_px()),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            buffer,
            padded_row_bytes,
            frame,
            bytes: if padded_row_bytes as usize == frame.row_bytes() {
                Vec::new()
            } else {
                vec![0; frame.frame_bytes()]
            },
            mapped: Arc::new(AtomicBool::new(false)),
            view: None,
        }
    }

    /// Records the copy of the frame the renderer drew into the readback buffer; after the
    /// encoder is submitted, [`read`](Self::read) returns it. A window that also streams
    /// records both into its own encoder. The frame that `read` returned before is gone from here on.
    pub fn encode(&mut self, encoder: &mut wgpu::CommandEncoder, target: &wgpu::Texture) {
        if self.view.take().is_some() {
            self.buffer.unmap();
        }
        encoder.copy_texture_to_buffer(
            target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &self.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row_bytes),
                    rows_per_image: Some(self.frame.height_px()),
                },
            },
            target.size(),
        );
    }

    /// Waits for the copy recorded by [`encode`](Self::encode) (submitted since) and
    /// returns the frame: [`FrameGeometry::frame_bytes`] of RGBA8, row-major.
    ///
    /// # Errors
    /// [`RenderError::Readback`] when the device is lost.
    pub fn read(&mut self, ctx: &GpuContext) -> Result<&[u8], RenderError> {
        if self.view.is_some() {
            // Read back already, and no copy recorded since: the same frame.
            return Ok(self.view.as_deref().unwrap_or(&self.bytes));
        }
        let slice = self.buffer.slice(..);
        self.mapped.store(false, Ordering::Release);
        let mapped = Arc::clone(&self.mapped);
        slice.map_async(wgpu::MapMode::Read, move |r| {
            if r.is_ok() {
                mapped.store(true, Ordering::Release);
            }
        });
        ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| RenderError::Readback(e.to_string()))?;
        if !self.mapped.load(Ordering::Acquire) {
            return Err(RenderError::Readback("the readback buffer was not mapped".into()));
        }
        let data = slice.get_mapped_range().map_err(|e| RenderError::Readback(e.to_string()))?;
        let row = self.frame.row_bytes();
        if self.padded_row_bytes as usize == row {
            // Rows without padding: the mapped buffer is the frame (a copy of 1 MiB saved at 512 px).
            return Ok(self.view.insert(data));
        }
        for (dst, src) in self.bytes.chunks_exact_mut(row).zip(data.chunks_exact(self.padded_row_bytes as usize)) {
            dst.copy_from_slice(&src[..row]);
        }
        drop(data);
        self.buffer.unmap();
        Ok(&self.bytes)
    }
}
