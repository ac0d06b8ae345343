//! The renderer: driving keypoints in, RGBA frames out, by a dense-motion warp of the portrait in WGSL
//! on wgpu.
//!
//! Input: the portrait image and its [`RigGeometry`] once, then per frame a [`Pose`] (driving keypoints and
//! Jacobians) with the rig's source keypoints. Output: an RGBA8 frame of `size x size`, read back to the
//! CPU. Thread: the render thread (the offline render's one thread).
//!
//! How a frame is drawn (details in [`tiles`] and shaders/warp.wgsl): the keypoints go into a storage
//! buffer; they are wide (jaw, chin, head and body rings) or narrow (lips, lids, eyes) by their spread
//! at this frame size. The narrow ones are binned, on the CPU, into the 8-pixel screen tiles their
//! 3-sigma ellipses reach: the fine tiles. Each wide keypoint then draws one quad over its ellipse into
//! a coarse grid (one sample per 4 pixels), and each narrow one into a per-pixel texture over the fine
//! tiles, both summed by additive blending: the two parts of the blend. The warp pass draws one
//! instanced quad per run of tiles in a row, reading the grid bilinearly (plus the per-pixel part in
//! the fine tiles) and sampling the portrait bilinearly at the blended source point: every pixel is
//! drawn once. Small scissored render passes draw the mouth interior (with synthetic teeth for a
//! portrait that shows none) and the closing lids over it, and the frame is copied into a mapped
//! readback buffer.
//!
//! Following rerun's re_renderer, one [`GpuContext`] owns device and queue; [`WarpRenderer`] owns the
//! pipeline and every buffer and texture it uses, created once. Nothing is allocated per frame.
//!
//! Architecture Invariant: render/ never sees samples or motion parameters, only keypoints.

mod finish;
mod picture;
mod pipelines;
mod readback;
pub mod reference;
mod targets;
pub mod tiles;
mod uniforms;

use image::RgbaImage;

use crate::gpu::{GpuContext, GpuError};
use crate::vocab::{FrameGeometry, Pose, RigGeometry};
pub use finish::{Corner, FINISH_WGSL};
use finish::{Finish, FinishInputs, GpuFinish};
pub use picture::Picture;
use pipelines::Pipelines;
use readback::Readback;
use targets::{Targets, colour_pass};
use tiles::{Spread, TileDraw, Tiling};
pub use uniforms::SHADER_STRUCT_SIZES;
use uniforms::{GpuFrame, GpuKeypoint, GpuParams};

/// WGSL source of the warp, embedded at build time from shaders/warp.wgsl.
pub const WARP_WGSL: &str = include_str!("../../shaders/warp.wgsl");

/// Errors of the render stage.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No GPU device.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// The portrait does not fit in a texture on this adapter.
    #[error("the portrait is {width}x{height}; this GPU adapter takes textures up to {max}")]
    PortraitTooLarge { width: u32, height: u32, max: u32 },
    /// A rig with more keypoints than the renderer was built for.
    #[error("the pose has {got} keypoints; the renderer holds {max}")]
    TooManyKeypoints { got: usize, max: usize },
    /// Reading the frame back failed.
    #[error("reading the frame back from the GPU failed: {0}")]
    Readback(String),
}

/// What the renderer draws behind the person.
#[derive(Debug, Clone, Copy)]
pub enum Backdrop<'a> {
    /// The portrait's own background (the default).
    Keep,
    /// A solid colour, RGB 0..1.
    Color([f32; 3]),
    /// A picture, scaled to cover the frame.
    Image(&'a RgbaImage),
    /// Nothing: the frame's alpha is the person mask (straight alpha).
    Alpha,
}

/// The warp renderer for one portrait at one frame size: its named parts, made once, and the buffers a
/// frame writes.
pub struct WarpRenderer {
    pipelines: Pipelines,
    targets: Targets,
    finish: Finish,
    frame: FrameGeometry,
    readback: Readback,
    /// Group 0 (shared bindings) and group 1 (the coarse grid) of the passes.
    bind_group: wgpu::BindGroup,
    flow_group: wgpu::BindGroup,
    /// Instances (shaders/warp.wgsl `instances`): the keypoints that are narrow at this frame size,
    /// `0..n_narrow`, then the wide ones up to `n_keypoints` (written once); then this frame's runs of
    /// fine tiles and the runs of coarse tiles (`runs`, written per frame).
    instance_buffer: wgpu::Buffer,
    n_narrow: u32,
    n_keypoints: u32,
    runs: Vec<u32>,
    bg_mode: usize,
    keypoint_buffer: wgpu::Buffer,
    size: u32,
    rig: RigGeometry,
    staging: Vec<GpuKeypoint>,
    frame_buffer: wgpu::Buffer,
    tiling: Tiling,
    params: GpuParams,
    param_buffer: wgpu::Buffer,
}

impl WarpRenderer {
    /// Uploads the portrait and builds the pipelines, targets, readback and buffers for frames of
    /// `frame`'s size: the warp draws the face square (`frame.face_side_px()`), the finish pass places
    /// it in the frame.
    ///
    /// # Errors
    /// [`RenderError::PortraitTooLarge`].
    pub fn new(
        ctx: &GpuContext,
        image: &RgbaImage,
        rig: &RigGeometry,
        frame: FrameGeometry,
    ) -> Result<Self, RenderError> {
        let size = frame.face_side_px();
        let max = ctx.limits.max_texture_dimension_2d;
        if image.width() > max || image.height() > max {
            return Err(RenderError::PortraitTooLarge { width: image.width(), height: image.height(), max });
        }
        let device = &ctx.device;
        let tiling = Tiling::new(size, rig.keypoints.len().max(1));
        let n_tiles = (tiling.tiles_x() * tiling.tiles_x()) as usize;
        let pipelines = Pipelines::new(device);
        let targets = Targets::new(device, size, tiling.flow_side(), frame);
        // The narrow keypoints, then the wide ones; then room for the runs (at most as many as the
        // tiles they cover).
        let (mut keypoints, wide): (Vec<u32>, Vec<u32>) =
            (0..rig.keypoints.len() as u32).partition(|&i| tiling.is_narrow(rig.keypoints[i as usize].spread));
        let n_narrow = keypoints.len() as u32;
        keypoints.extend(wide);
        let instance_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("instances"),
            size: (4 * (keypoints.len() + n_tiles)) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if !keypoints.is_empty() {
            ctx.queue.write_buffer(&instance_buffer, 0, bytemuck::cast_slice(&keypoints));
        }
        let mut params = GpuParams::new(rig, glam::Vec2::new(image.width() as f32, image.height() as f32), &tiling);
        (params.backdrop_x, params.backdrop_y) = frame.face_origin_px();
        let uniform = |label: &str, size: usize| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let param_buffer = uniform("warp params", std::mem::size_of::<GpuParams>());
        ctx.queue.write_buffer(&param_buffer, 0, bytemuck::bytes_of(&params));
        let frame_buffer = uniform("warp frame", std::mem::size_of::<GpuFrame>());
        let keypoint_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("keypoints"),
            size: (std::mem::size_of::<GpuKeypoint>() * rig.keypoints.len().max(1)) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let buffers = [&param_buffer, &keypoint_buffer, &frame_buffer, &instance_buffer];
        let (portrait, sampler) = upload_portrait(ctx, image);
        let (bind_group, flow_group) =
            bind_groups(ctx, [&portrait, &targets.backdrop_view], &sampler, &pipelines, &targets, buffers);
        let (x, y) = frame.face_origin_px();
        let finish_uniform = GpuFinish {
            face_origin: [x as f32, y as f32],
            face_side: size as f32,
            bg_mode: 0,
            uv_offset: params.uv_offset,
            uv_scale: params.uv_scale,
            bg_color: [0.0; 4],
            mark_origin: [0.0; 2],
            mark_size: [0.0; 2],
        };
        let finish_inputs = FinishInputs {
            face: targets.target_view.clone(),
            portrait,
            sampler,
            backdrop: targets.backdrop_view.clone(),
        };
        let finish = Finish::new(ctx, frame, finish_uniform, finish_inputs);
        let staging = rig
            .keypoints
            .iter()
            .map(|k| GpuKeypoint {
                src: k.src.to_array(),
                drv: k.src.to_array(),
                jac: [1.0, 0.0, 0.0, 1.0],
                spread: Spread::new(k.spread, rig.right, rig.down, k.weight).coefficients,
                blink_offset: k.blink_offset.to_array(),
                _pad2: [0.0; 2],
            })
            .collect();
        Ok(Self {
            pipelines,
            targets,
            finish,
            frame,
            readback: Readback::new(device, frame),
            bind_group,
            flow_group,
            instance_buffer,
            n_narrow,
            n_keypoints: keypoints.len() as u32,
            runs: Vec::with_capacity(n_tiles),
            bg_mode: 0,
            keypoint_buffer,
            size,
            rig: rig.clone(),
            staging,
            frame_buffer,
            tiling,
            params,
            param_buffer,
        })
    }

    /// Sets what shows behind the person from the next frame on. Every mode but [`Backdrop::Keep`] needs
    /// the person mask in the portrait's alpha (`portrait::segment::mask_into_alpha`).
    pub fn set_backdrop(&mut self, ctx: &GpuContext, backdrop: &Backdrop) {
        let (mode, color) = match backdrop {
            Backdrop::Keep => (0, [0.0; 3]),
            Backdrop::Color(c) => (1, *c),
            Backdrop::Image(img) => {
                // Scale to cover the whole frame, then take its centre.
                let (fw, fh) = (self.frame.width_px(), self.frame.height_px());
                let (w, h) = (img.width().max(1) as f32, img.height().max(1) as f32);
                let scale = (fw as f32 / w).max(fh as f32 / h);
                let (sw, sh) = (((w * scale).round() as u32).max(fw), ((h * scale).round() as u32).max(fh));
                let scaled = image::imageops::resize(*img, sw, sh, image::imageops::FilterType::Triangle);
                let cropped = image::imageops::crop_imm(&scaled, (sw - fw) / 2, (sh - fh) / 2, fw, fh).to_image();
                ctx.queue.write_texture(
                    self.targets.backdrop.as_image_copy(),
                    cropped.as_raw(),
                    wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(4 * fw), rows_per_image: Some(fh) },
                    self.targets.backdrop.size(),
                );
                (2, [0.0; 3])
            }
            Backdrop::Alpha => (3, [0.0; 3]),
        };
        self.bg_mode = mode;
        // The still image changes with the backdrop: draw every tile again.
        self.tiling.forget();
        self.params.bg_color = [color[0], color[1], color[2], 1.0];
        ctx.queue.write_buffer(&self.param_buffer, 0, bytemuck::bytes_of(&self.params));
        self.finish.set_backdrop(ctx, mode as u32, self.params.bg_color);
    }

    /// Draws `text` (the disclosure, "AI-generated") over `corner` of every frame from the next on,
    /// white on translucent black, its glyphs a 240th of the frame's height (8 pixels at least);
    /// `None` draws no mark. For start-up, not per frame.
    pub fn set_mark(&mut self, ctx: &GpuContext, mark: Option<(&str, Corner)>) {
        let scale = (self.frame.height_px() / 240).max(1);
        let label = mark.map(|(text, corner)| (crate::text::label(text, scale, [[255; 4], [0, 0, 0, 160]]), corner));
        self.finish.set_mark(ctx, label.as_ref().map(|(image, corner)| (image, *corner)));
    }

    /// The frame's geometry.
    pub fn frame(&self) -> FrameGeometry {
        self.frame
    }

    /// Records the draw of the portrait moved by `pose` into `encoder`, into [`target_view`](Self::target_view)
    /// (RGBA8, straight alpha), without reading it back: a window samples the target directly. The
    /// uniforms and keypoints are written to the queue now, so submit `encoder` before the next call.
    ///
    /// # Errors
    /// [`RenderError::TooManyKeypoints`] for a pose that does not fit the rig.
    pub fn encode(
        &mut self,
        ctx: &GpuContext,
        pose: &Pose,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<(), RenderError> {
        if pose.drv.len() != self.staging.len() || pose.jac.len() != self.staging.len() {
            return Err(RenderError::TooManyKeypoints { got: pose.drv.len(), max: self.staging.len() });
        }
        for ((g, p), j) in self.staging.iter_mut().zip(&pose.drv).zip(&pose.jac) {
            g.drv = p.to_array();
            g.jac = [j.x_axis.x, j.y_axis.x, j.x_axis.y, j.y_axis.y];
        }
        ctx.queue.write_buffer(&self.keypoint_buffer, 0, bytemuck::cast_slice(&self.staging));
        let frame = self.frame_uniform(pose);
        ctx.queue.write_buffer(&self.frame_buffer, 0, bytemuck::bytes_of(&frame));
        self.tiling.bin(
            self.staging.iter().zip(&self.rig.keypoints).map(|(g, k)| (glam::Vec2::from(g.drv), k.spread)),
            self.rig.right,
            self.rig.down,
        );
        self.runs.clear();
        self.runs.extend(self.tiling.runs(TileDraw::Fine));
        let fine_runs = self.runs.len() as u32;
        self.runs.extend(self.tiling.runs(TileDraw::Coarse));
        self.tiling.drawn();
        ctx.queue.write_buffer(
            &self.instance_buffer,
            4 * u64::from(self.n_keypoints),
            bytemuck::cast_slice(&self.runs),
        );
        let (k, fine) = (self.n_keypoints, self.n_keypoints + fine_runs);
        let runs_end = k + self.runs.len() as u32;
        {
            let background = wgpu::Color { r: 0.0, g: 0.0, b: f64::from(self.params.bg_weight), a: 0.0 };
            let mut pass =
                colour_pass(encoder, "coarse flow", &self.targets.flow_view, wgpu::LoadOp::Clear(background));
            pass.set_pipeline(&self.pipelines.flow);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.draw(0..6, self.n_narrow..k);
        }
        if fine_runs > 0 {
            let mut pass = colour_pass(encoder, "narrow keypoints", &self.targets.narrow_view, wgpu::LoadOp::Load);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.set_pipeline(&self.pipelines.zero);
            pass.draw(0..6, k..fine);
            pass.set_pipeline(&self.pipelines.spot);
            pass.draw(0..6, 0..self.n_narrow);
        }
        let squeezed = self.rig.lip_squeeze(pose) > 0.25 * frame.pixel;
        let lips = if squeezed { self.lip_scissor(pose) } else { None };
        let mouth = if frame.interior > 0.0 { self.mouth_scissor(pose) } else { None };
        let gazing = frame.gaze != [0.0; 2];
        let eyes = [0, 1].map(|eye| {
            if frame.blink[eye] > 0.0 || gazing {
                self.scissor(self.rig.eye_outlines[eye].iter().map(|&i| pose.drv[i]))
            } else {
                None
            }
        });
        // The overlays draw over whatever tiles they cover: those hold no still image afterwards.
        for rect in [lips, mouth, eyes[0], eyes[1]].into_iter().flatten() {
            self.tiling.forget_rect(rect);
        }
        {
            // One pass into the frame: the tiles that no narrow keypoint reaches by the coarse flow, in
            // runs, and the fine tiles (every pixel is written once, or holds the still image from an
            // earlier frame, so the frame needs no clear), then the overlays, blended by coverage.
            let mut pass = colour_pass(encoder, "warp and overlays", &self.targets.target_view, wgpu::LoadOp::Load);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.set_bind_group(1, &self.flow_group, &[]);
            if runs_end > fine {
                pass.set_pipeline(&self.pipelines.warp[self.bg_mode]);
                pass.draw(0..6, fine..runs_end);
            }
            if fine > k {
                pass.set_pipeline(&self.pipelines.fine[self.bg_mode]);
                pass.draw(0..6, k..fine);
            }
            for (rect, pipeline) in [(lips, &self.pipelines.lip), (mouth, &self.pipelines.mouth)] {
                if let Some((x, y, w, h)) = rect {
                    pass.set_scissor_rect(x, y, w, h);
                    pass.set_pipeline(pipeline);
                    pass.draw(0..3, 0..1);
                }
            }
            for (eye, rect) in eyes.iter().enumerate() {
                if let Some((x, y, w, h)) = *rect {
                    pass.set_scissor_rect(x, y, w, h);
                    pass.set_pipeline(&self.pipelines.eye);
                    pass.draw(0..3, eye as u32..eye as u32 + 1);
                }
            }
        }
        if self.finish.needed() {
            self.finish.encode(encoder, &self.targets.target);
        }
        Ok(())
    }

    /// Whether the mouth interior shows synthetic teeth (`[rig] teeth`; in `auto`, when the portrait
    /// shows no teeth of its own).
    pub fn synthetic_teeth(&self) -> bool {
        self.params.teeth == 1
    }

    /// The finished frame: the frame's size, RGBA8.
    pub fn target_view(&self) -> &wgpu::TextureView {
        if self.finish.needed() { &self.finish.target_view } else { &self.targets.target_view }
    }

    /// Draws the portrait moved by `pose` and reads it back: [`FrameGeometry::frame_bytes`] of RGBA8, row-major.
    ///
    /// # Errors
    /// [`RenderError::TooManyKeypoints`] for a pose that does not fit the rig, [`RenderError::Readback`]
    /// when the device is lost.
    pub fn render(&mut self, ctx: &GpuContext, pose: &Pose) -> Result<&[u8], RenderError> {
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        self.encode(ctx, pose, &mut encoder)?;
        self.encode_readback(&mut encoder);
        ctx.queue.submit([encoder.finish()]);
        self.read_back(ctx)
    }

    /// Records the copy of the frame [`encode`](Self::encode) drew into the readback buffer; after the
    /// encoder is submitted, [`read_back`](Self::read_back) returns it. A window that also streams
    /// records both into its own encoder. The frame that `read_back` returned before is gone from here on.
    pub fn encode_readback(&mut self, encoder: &mut wgpu::CommandEncoder) {
        let finished = if self.finish.needed() { &self.finish.target } else { &self.targets.target };
        self.readback.encode(encoder, finished);
    }

    /// Waits for the copy recorded by [`encode_readback`](Self::encode_readback) (submitted since) and
    /// returns the frame: [`FrameGeometry::frame_bytes`] of RGBA8, row-major.
    ///
    /// # Errors
    /// [`RenderError::Readback`] when the device is lost.
    pub fn read_back(&mut self, ctx: &GpuContext) -> Result<&[u8], RenderError> {
        self.readback.read(ctx)
    }

    /// The per-frame uniform: how much mouth interior to draw. It fades in over the first two pixels of
    /// extra opening, so the rest pose stays exactly the portrait.
    fn frame_uniform(&self, pose: &Pose) -> GpuFrame {
        let pixel = 2.0 / self.size as f32;
        GpuFrame {
            interior: (self.rig.extra_gap(pose) / (2.0 * pixel)).clamp(0.0, 1.0),
            pixel,
            blink: pose.blink,
            gaze: pose.gaze,
            _pad: [0.0; 2],
        }
    }

    /// The pixel rectangle (x, y, w, h) around the driving outer-lip outline, two pixels wider on each
    /// side; `None` when it is off the frame.
    fn lip_scissor(&self, pose: &Pose) -> Option<(u32, u32, u32, u32)> {
        self.scissor(self.rig.outer_lip_outline.iter().map(|&i| pose.drv[i]))
    }

    /// The pixel rectangle (x, y, w, h) around the driving inner-lip outline, two pixels wider on each
    /// side; `None` when it is off the frame.
    fn mouth_scissor(&self, pose: &Pose) -> Option<(u32, u32, u32, u32)> {
        self.scissor(self.rig.inner_lip_outline.iter().map(|&i| pose.drv[i]))
    }

    /// The pixel rectangle (x, y, w, h) around `points` (frame coordinates), two pixels wider on each
    /// side; `None` when it is off the frame.
    fn scissor(&self, points: impl Iterator<Item = glam::Vec2>) -> Option<(u32, u32, u32, u32)> {
        let (mut lo, mut hi) = (glam::Vec2::splat(f32::MAX), glam::Vec2::splat(f32::MIN));
        for p in points {
            lo = lo.min(p);
            hi = hi.max(p);
        }
        let size = self.size as f32;
        let lo = ((lo + 1.0) * 0.5 * size - 2.0).floor().max(glam::Vec2::ZERO);
        let hi = ((hi + 1.0) * 0.5 * size + 2.0).ceil().min(glam::Vec2::splat(size));
        (hi.x > lo.x && hi.y > lo.y).then_some((lo.x as u32, lo.y as u32, (hi.x - lo.x) as u32, (hi.y - lo.y) as u32))
    }

    /// The rig this renderer was built for.
    pub fn rig(&self) -> &RigGeometry {
        &self.rig
    }
}

/// Uploads the portrait: its texture's view, and its bilinear sampler (clamped to the edge).
fn upload_portrait(ctx: &GpuContext, image: &RgbaImage) -> (wgpu::TextureView, wgpu::Sampler) {
    let device = &ctx.device;
    let portrait = targets::image_texture(ctx, "portrait", image);
    let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("portrait bilinear"),
        address_mode_u: wgpu::AddressMode::ClampToEdge,
        address_mode_v: wgpu::AddressMode::ClampToEdge,
        mag_filter: wgpu::FilterMode::Linear,
        min_filter: wgpu::FilterMode::Linear,
        ..Default::default()
    });
    (portrait.create_view(&wgpu::TextureViewDescriptor::default()), sampler)
}

/// Binds the portrait (`[portrait, backdrop]` views), its sampler, the buffers (`params`, `keypoints`,
/// `frame`, `instances`) and the targets the passes read: group 0, the shared bindings, and group 1, the
/// coarse grid and the per-pixel part that the warp passes read.
fn bind_groups(
    ctx: &GpuContext,
    [portrait_view, backdrop_view]: [&wgpu::TextureView; 2],
    sampler: &wgpu::Sampler,
    pipelines: &Pipelines,
    targets: &Targets,
    [params, keypoints, frame, instances]: [&wgpu::Buffer; 4],
) -> (wgpu::BindGroup, wgpu::BindGroup) {
    let device = &ctx.device;
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("warp"),
        layout: &pipelines.layout,
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: keypoints.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(portrait_view) },
            wgpu::BindGroupEntry { binding: 3, resource: wgpu::BindingResource::Sampler(sampler) },
            wgpu::BindGroupEntry { binding: 4, resource: frame.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 5, resource: wgpu::BindingResource::TextureView(backdrop_view) },
            wgpu::BindGroupEntry { binding: 6, resource: instances.as_entire_binding() },
        ],
    });
    let flow_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("coarse flow"),
        layout: &pipelines.flow_layout,
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Sampler(sampler) },
            wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&targets.flow_view) },
            wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&targets.narrow_view) },
        ],
    });
    (bind_group, flow_group)
}
