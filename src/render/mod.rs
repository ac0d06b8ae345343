//! The renderer: driving keypoints in, RGBA frames out, by a dense-motion warp of the portrait in WGSL
//! on wgpu.
//!
//! Input: the portrait image and [`Framing`] once, then per frame a [`Pose`] (driving keypoints and
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
//! Following rerun's re_renderer, one [`RenderContext`] owns device and queue; [`WarpRenderer`] owns the
//! pipeline and every buffer and texture it uses, created once. Nothing is allocated per frame.
//!
//! Architecture Invariant: render/ never sees samples or motion parameters, only keypoints.

pub mod reference;
pub mod tiles;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytemuck::{Pod, Zeroable};
use image::RgbaImage;

use crate::config::Teeth;
use crate::portrait::{Framing, Pose, Rig};
use tiles::{FLOW_STEP_PX, Spread, TILE_PX, TileDraw, Tiling};

/// WGSL source of the warp, embedded at build time from shaders/warp.wgsl.
pub const WARP_WGSL: &str = include_str!("../../shaders/warp.wgsl");

/// The frame sides facecast renders, pixels (even only): the H.264 encoder takes at most 3840x2160, so
/// a square frame at most 2160 a side.
pub const FRAME_SIDES: std::ops::RangeInclusive<u32> = 64..=2160;

/// Checks a frame side against [`FRAME_SIDES`] (and evenness, which YUV 4:2:0 needs).
///
/// # Errors
/// [`RenderError::Size`].
pub fn check_frame_side(size: u32) -> Result<(), RenderError> {
    if size.is_multiple_of(2) && FRAME_SIDES.contains(&size) { Ok(()) } else { Err(RenderError::Size(size)) }
}

/// Errors of the render stage.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No GPU adapter at all, not even a software one.
    #[error(
        "no GPU adapter found ({0}); install a Vulkan driver (on Debian: mesa-vulkan-drivers, which has the lavapipe software adapter)"
    )]
    NoAdapter(String),
    /// The adapter refused a device.
    #[error("the GPU adapter refused a device: {0}")]
    Device(String),
    /// The portrait does not fit in a texture on this adapter.
    #[error("the portrait is {width}x{height}; this GPU adapter takes textures up to {max}")]
    PortraitTooLarge { width: u32, height: u32, max: u32 },
    /// An invalid frame size.
    #[error("frame size {0} must be even and in 64..=2160 (2160 is the most the H.264 encoder takes)")]
    Size(u32),
    /// A rig with more keypoints than the renderer was built for.
    #[error("the pose has {got} keypoints; the renderer holds {max}")]
    TooManyKeypoints { got: usize, max: usize },
    /// Reading the frame back failed.
    #[error("reading the frame back from the GPU failed: {0}")]
    Readback(String),
}

/// Every adapter wgpu can see (Vulkan, Metal, DX12 and GL), as "name (backend, type)".
pub fn adapters() -> Vec<String> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = wgpu::Backends::all();
    let instance = wgpu::Instance::new(desc);
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
        })
        .collect()
}

/// Device and queue, shared by every renderer.
pub struct RenderContext {
    /// The wgpu device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What adapter runs it (name, backend, type).
    pub adapter_info: wgpu::AdapterInfo,
    /// The adapter.
    pub adapter: wgpu::Adapter,
    limits: wgpu::Limits,
}

impl RenderContext {
    /// Picks an adapter (a GPU where there is one; lavapipe or llvmpipe otherwise) and opens a device.
    /// `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` choose, as in wgpu.
    ///
    /// # Errors
    /// [`RenderError::NoAdapter`] or [`RenderError::Device`].
    pub fn new() -> Result<Self, RenderError> {
        Ok(Self::open(|_| Ok(None), wgpu::InstanceDescriptor::new_without_display_handle_from_env)?.0)
    }

    /// As [`new`](Self::new), for a window: the adapter is one that can present to `window`, and the
    /// window's surface comes with the context. `display` is the windowing system's display handle
    /// (winit's `OwnedDisplayHandle`), which GL needs on some platforms.
    ///
    /// # Errors
    /// [`RenderError::NoAdapter`] when no adapter can present to the window, [`RenderError::Device`].
    pub fn with_window<W, D>(display: D, window: W) -> Result<(Self, wgpu::Surface<'static>), RenderError>
    where
        W: Into<wgpu::SurfaceTarget<'static>> + Clone,
        D: wgpu::rwh::HasDisplayHandle + std::fmt::Debug + Send + Sync + Clone + 'static,
    {
        let (ctx, surface) = Self::open(
            |instance| {
                instance
                    .create_surface(window.clone())
                    .map(Some)
                    .map_err(|e| RenderError::NoAdapter(format!("cannot make a surface for the window: {e}")))
            },
            move || wgpu::InstanceDescriptor::new_with_display_handle_from_env(Box::new(display.clone())),
        )?;
        let surface = surface.ok_or_else(|| RenderError::NoAdapter("no surface".into()))?;
        Ok((ctx, surface))
    }

    fn open(
        make_surface: impl Fn(&wgpu::Instance) -> Result<Option<wgpu::Surface<'static>>, RenderError>,
        descriptor: impl Fn() -> wgpu::InstanceDescriptor,
    ) -> Result<(Self, Option<wgpu::Surface<'static>>), RenderError> {
        // Vulkan/Metal/DX12 first; GL (llvmpipe, say) only where none of those has an adapter. Probing GL
        // up front costs time and prints EGL errors on machines without a display.
        let from_env = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        let tiers = if std::env::var_os("WGPU_BACKEND").is_some() {
            vec![from_env.backends]
        } else {
            vec![wgpu::Backends::PRIMARY, wgpu::Backends::GL]
        };
        let mut last_err = String::from("no backend tried");
        let mut found = None;
        for backends in tiers {
            let mut desc = descriptor();
            desc.backends = backends;
            let instance = wgpu::Instance::new(desc);
            let surface = match make_surface(&instance) {
                Ok(s) => s,
                Err(e) => {
                    last_err = format!("{backends:?}: {e}");
                    continue;
                }
            };
            match pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: surface.as_ref(),
                apply_limit_buckets: false,
            })) {
                Ok(a) => {
                    found = Some((a, surface));
                    break;
                }
                Err(e) => last_err = format!("{backends:?}: {e}"),
            }
        }
        let (adapter, surface) = found.ok_or(RenderError::NoAdapter(last_err))?;
        let adapter_info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("facecast"),
            required_limits: wgpu::Limits::downlevel_defaults().using_resolution(limits.clone()),
            ..Default::default()
        }))
        .map_err(|e| RenderError::Device(e.to_string()))?;
        if adapter_info.device_type == wgpu::DeviceType::Cpu {
            tracing::info!(adapter = %adapter_info.name, backend = ?adapter_info.backend, "no GPU: rendering on the software adapter");
        } else {
            tracing::info!(adapter = %adapter_info.name, backend = ?adapter_info.backend, "rendering on GPU");
        }
        Ok((Self { device, queue, adapter_info, adapter, limits }, surface))
    }
}

/// Stages that see the shared bindings (group 0): the passes' fragment stages, and the vertex stage that
/// places the fine tiles.
const VISIBLE: wgpu::ShaderStages = wgpu::ShaderStages::FRAGMENT.union(wgpu::ShaderStages::VERTEX);

/// A buffer binding of group 0: a uniform, or a read-only storage buffer.
fn buffer_entry(binding: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: VISIBLE,
        ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
        count: None,
    }
}

/// A 2D sampled-texture binding of float texels, filterable or not (read with textureLoad).
fn texture_entry(binding: u32, visibility: wgpu::ShaderStages, filterable: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable },
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    }
}

/// A render pass into one colour attachment, loaded (or cleared) by `load` and stored.
fn colour_pass<'e>(
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
fn texture_2d(
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

/// Colour of the enamel that a bright, neutral light shows.
const ENAMEL: [f32; 3] = [0.93, 0.89, 0.81];

/// Luma of lips in a well exposed portrait: the synthetic teeth are as much brighter or darker.
const LIP_LUMA: f32 = 0.45;

/// A portrait shows its teeth when at least this share of its mouth opening (the source inner-lip
/// outline) looks like teeth: light, and near grey, against its lips. The bundled portrait's smile has
/// 32% of such pixels; the same face with its lips closed by the rig, 0.9%.
const TEETH_SHARE: f32 = 0.1;

/// The image pixel under frame point `p`, if it lies in the image.
fn image_pixel(image: &RgbaImage, framing: &Framing, p: glam::Vec2) -> Option<glam::Vec3> {
    let px = framing.origin + (p + 1.0) * 0.5 * framing.side;
    let inside = px.x >= 0.0 && px.y >= 0.0 && (px.x as u32) < image.width() && (px.y as u32) < image.height();
    inside.then(|| {
        let c = image.get_pixel(px.x as u32, px.y as u32);
        glam::Vec3::new(f32::from(c[0]), f32::from(c[1]), f32::from(c[2])) / 255.0
    })
}

/// The mean colour of the portrait's lips: halfway between each outer-lip point and its inner one.
fn lip_colour(image: &RgbaImage, framing: &Framing, rig: &Rig) -> Option<glam::Vec3> {
    let samples: Vec<glam::Vec3> = (rig.outer_lip_outline.iter().zip(&rig.inner_lip_outline))
        .filter_map(|(&o, &i)| image_pixel(image, framing, 0.5 * (rig.keypoints[o].src + rig.keypoints[i].src)))
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum::<glam::Vec3>() / samples.len() as f32)
}

/// Whether the portrait shows teeth of its own ([`TEETH_SHARE`] of its mouth opening is teeth-like:
/// brighter than its lips by a tenth and with under half their saturation, or near grey). A closed
/// mouth's opening is a sliver of lip, so it shows none.
fn shows_teeth(image: &RgbaImage, framing: &Framing, rig: &Rig) -> bool {
    let outline: Vec<glam::Vec2> = rig.inner_lip_outline.iter().map(|&i| rig.keypoints[i].src).collect();
    let Some(lips) = lip_colour(image, framing, rig) else { return false };
    let luma = |c: glam::Vec3| c.dot(glam::Vec3::new(0.299, 0.587, 0.114));
    let saturation = |c: glam::Vec3| (c.max_element() - c.min_element()) / c.max_element().max(1e-3);
    let (lo, hi) = outline.iter().fold((glam::Vec2::MAX, glam::Vec2::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    let to_px = |p: glam::Vec2| framing.origin + (p + 1.0) * 0.5 * framing.side;
    let (lo_px, hi_px) = (to_px(lo).floor().max(glam::Vec2::ZERO), to_px(hi).ceil());
    let (mut teeth, mut n) = (0usize, 0usize);
    for y in lo_px.y as u32..(hi_px.y as u32).min(image.height()) {
        for x in lo_px.x as u32..(hi_px.x as u32).min(image.width()) {
            let q = framing.frame_from_image(glam::Vec2::new(x as f32 + 0.5, y as f32 + 0.5));
            if !crate::portrait::rig::inside_polygon(&outline, q) {
                continue;
            }
            let p = image.get_pixel(x, y);
            let c = glam::Vec3::new(f32::from(p[0]), f32::from(p[1]), f32::from(p[2])) / 255.0;
            n += 1;
            teeth += usize::from(luma(c) > 1.1 * luma(lips) && saturation(c) < (0.5 * saturation(lips)).max(0.15));
        }
    }
    tracing::debug!(teeth, pixels = n, "teeth-like pixels in the portrait's mouth opening");
    n > 0 && teeth as f32 >= TEETH_SHARE * n as f32
}

/// The synthetic teeth's colour (rgb) and the source mouth's width (w, frame units). The colour is
/// enamel at the exposure of the portrait's own lips (their mean luma against [`LIP_LUMA`]), with a
/// tenth of the lips' colour for the light around the mouth.
fn teeth_colour(image: &RgbaImage, framing: &Framing, rig: &Rig) -> [f32; 4] {
    let lips = lip_colour(image, framing, rig).unwrap_or(glam::Vec3::splat(LIP_LUMA));
    let luma = lips.dot(glam::Vec3::new(0.299, 0.587, 0.114));
    let exposure = (luma / LIP_LUMA).clamp(0.6, 1.15);
    let c = (glam::Vec3::from(ENAMEL) * exposure).lerp(lips, 0.1).min(glam::Vec3::ONE);
    [c.x, c.y, c.z, rig.mouth_width()]
}

/// The coarse flow's texels: half floats, so that the warp passes can read it with one filtered sample.
const FLOW_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;
/// The narrow keypoints' part of the blend, per pixel, summed by additive blending: half floats, which
/// every adapter can blend.
const NARROW_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;

const UNIFORM: wgpu::BufferBindingType = wgpu::BufferBindingType::Uniform;
const STORAGE: wgpu::BufferBindingType = wgpu::BufferBindingType::Storage { read_only: true };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GpuParams {
    uv_offset: [f32; 2],
    _pad0: f32,
    bg_weight: f32,
    uv_scale: [f32; 2],
    right: [f32; 2],
    down: [f32; 2],
    count: u32,
    tiles_x: u32,
    tile_px: u32,
    flow_step: u32,
    flow_side: u32,
    _pad: u32,
    outlines: [u32; 64],
    inner_upper: u32,
    inner_lower: u32,
    _pad3: u32,
    teeth: u32,
    bg_color: [f32; 4],
    teeth_colour: [f32; 4],
}

/// The per-frame uniform (shaders/warp.wgsl `Frame`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GpuFrame {
    interior: f32,
    pixel: f32,
    blink: [f32; 2],
    gaze: [f32; 2],
    _pad: [f32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GpuKeypoint {
    src: [f32; 2],
    drv: [f32; 2],
    jac: [f32; 4],
    spread: [f32; 4],
    blink_offset: [f32; 2],
    _pad2: [f32; 2],
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

/// Background modes: [`Backdrop`]'s variants, in the order of shaders/warp.wgsl's `BG_KEEP` ...
/// `BG_ALPHA`.
const BG_MODES: usize = 4;

/// The warp renderer for one portrait at one frame size.
pub struct WarpRenderer {
    flow_pipeline: wgpu::RenderPipeline,
    /// The narrow pass: zeroes the fine tiles, then adds every narrow keypoint's part.
    zero_pipeline: wgpu::RenderPipeline,
    spot_pipeline: wgpu::RenderPipeline,
    narrow_view: wgpu::TextureView,
    /// Instances (shaders/warp.wgsl `instances`): the keypoints that are narrow at this frame size,
    /// `0..n_narrow`, then the wide ones up to `n_keypoints` (written once); then this frame's runs of
    /// fine tiles and the runs of coarse tiles (`runs`, written per frame).
    instance_buffer: wgpu::Buffer,
    n_narrow: u32,
    n_keypoints: u32,
    runs: Vec<u32>,
    /// The warp over the runs of coarse tiles and over the fine tiles, one of each per background
    /// mode (shaders/warp.wgsl `BG_MODE`), indexed by `bg_mode`.
    warp_pipelines: [wgpu::RenderPipeline; BG_MODES],
    fine_pipelines: [wgpu::RenderPipeline; BG_MODES],
    bg_mode: usize,
    lip_pipeline: wgpu::RenderPipeline,
    mouth_pipeline: wgpu::RenderPipeline,
    eye_pipeline: wgpu::RenderPipeline,
    bind_group: wgpu::BindGroup,
    flow_view: wgpu::TextureView,
    flow_group: wgpu::BindGroup,
    keypoint_buffer: wgpu::Buffer,
    target: wgpu::Texture,
    target_view: wgpu::TextureView,
    readback: wgpu::Buffer,
    padded_row_bytes: u32,
    size: u32,
    rig: Rig,
    staging: Vec<GpuKeypoint>,
    frame_buffer: wgpu::Buffer,
    tiling: Tiling,
    params: GpuParams,
    param_buffer: wgpu::Buffer,
    backdrop: wgpu::Texture,
    /// The frame read back, where the readback buffer's rows are padded (sizes not a multiple of 64).
    frame: Vec<u8>,
    mapped: Arc<AtomicBool>,
    /// The readback buffer, mapped since the last [`read_back`](WarpRenderer::read_back) where its rows
    /// are not padded: the frame is read from it in place, and it is unmapped before the next copy.
    view: Option<wgpu::BufferView>,
}

impl WarpRenderer {
    /// Uploads the portrait and builds the pipeline and buffers for `size x size` frames.
    ///
    /// # Errors
    /// [`RenderError::Size`] or [`RenderError::PortraitTooLarge`].
    pub fn new(
        ctx: &RenderContext,
        image: &RgbaImage,
        framing: &Framing,
        rig: &Rig,
        size: u32,
    ) -> Result<Self, RenderError> {
        check_frame_side(size)?;
        let max = ctx.limits.max_texture_dimension_2d;
        if image.width() > max || image.height() > max {
            return Err(RenderError::PortraitTooLarge { width: image.width(), height: image.height(), max });
        }
        let device = &ctx.device;
        let n_keypoints = rig.keypoints.len().max(1);
        let tiling = Tiling::new(size, n_keypoints);
        let tiles_x = tiling.tiles_x();
        let n_tiles = (tiles_x * tiles_x) as usize;
        let flow_side = tiling.flow_side();
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
        // The narrow keypoints, then the wide ones; then room for the runs (at most as many as the
        // tiles they cover).
        let (mut keypoints, wide): (Vec<u32>, Vec<u32>) =
            (0..rig.keypoints.len() as u32).partition(|&i| tiling.is_narrow(rig.keypoints[i as usize].sigma));
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
        let portrait = texture_2d(
            device,
            "portrait",
            (image.width(), image.height()),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        ctx.queue.write_texture(
            portrait.as_image_copy(),
            image.as_raw(),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * image.width()),
                rows_per_image: Some(image.height()),
            },
            portrait.size(),
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("portrait bilinear"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let image_size = glam::Vec2::new(image.width() as f32, image.height() as f32);
        let params = GpuParams {
            // Frame point s is image pixel origin + (s + 1) side / 2; texture coordinates divide by the size.
            uv_offset: ((framing.origin + 0.5 * framing.side) / image_size).to_array(),
            _pad0: 0.0,
            bg_weight: rig.background_weight,
            uv_scale: (0.5 * framing.side / image_size).to_array(),
            right: rig.right.to_array(),
            down: rig.down.to_array(),
            count: rig.keypoints.len() as u32,
            tiles_x,
            tile_px: TILE_PX,
            flow_step: FLOW_STEP_PX,
            flow_side,
            _pad: 0,
            outlines: {
                let mut outlines = [0u32; 64];
                let all =
                    rig.inner_lip_outline.iter().chain(rig.eye_outlines.iter().flatten()).chain(&rig.outer_lip_outline);
                for (dst, &i) in outlines.iter_mut().zip(all) {
                    *dst = i as u32;
                }
                outlines
            },
            inner_upper: rig.inner_upper() as u32,
            inner_lower: rig.inner_lower() as u32,
            _pad3: 0,
            teeth: u32::from(match rig.teeth {
                Teeth::Auto => !shows_teeth(image, framing, rig),
                Teeth::Portrait => false,
                Teeth::Synthetic => true,
            }),
            bg_color: [0.0; 4],
            teeth_colour: teeth_colour(image, framing, rig),
        };
        let param_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("warp params"),
            size: std::mem::size_of::<GpuParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.queue.write_buffer(&param_buffer, 0, bytemuck::bytes_of(&params));
        let frame_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("warp frame"),
            size: std::mem::size_of::<GpuFrame>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let keypoint_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("keypoints"),
            size: (std::mem::size_of::<GpuKeypoint>() * rig.keypoints.len().max(1)) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
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
        let padded_row_bytes = (4 * size).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame readback"),
            size: u64::from(padded_row_bytes) * u64::from(size),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let backdrop = texture_2d(
            device,
            "backdrop",
            (size, size),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("warp.wgsl"),
            source: wgpu::ShaderSource::Wgsl(WARP_WGSL.into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("warp"),
            entries: &[
                buffer_entry(0, UNIFORM),
                buffer_entry(1, STORAGE),
                texture_entry(2, VISIBLE, true),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: VISIBLE,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                buffer_entry(4, UNIFORM),
                texture_entry(5, VISIBLE, false),
                buffer_entry(6, STORAGE),
            ],
        });
        // Group 1 of the warp passes: the coarse grid they read.
        let flow_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("coarse flow"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                texture_entry(1, wgpu::ShaderStages::FRAGMENT, true),
                texture_entry(2, wgpu::ShaderStages::FRAGMENT, false),
            ],
        });
        let portrait_view = portrait.create_view(&wgpu::TextureViewDescriptor::default());
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("warp"),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: param_buffer.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: keypoint_buffer.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&portrait_view) },
                wgpu::BindGroupEntry { binding: 3, resource: wgpu::BindingResource::Sampler(&sampler) },
                wgpu::BindGroupEntry { binding: 4, resource: frame_buffer.as_entire_binding() },
                wgpu::BindGroupEntry {
                    binding: 5,
                    resource: wgpu::BindingResource::TextureView(
                        &backdrop.create_view(&wgpu::TextureViewDescriptor::default()),
                    ),
                },
                wgpu::BindGroupEntry { binding: 6, resource: instance_buffer.as_entire_binding() },
            ],
        });
        let flow_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("coarse flow"),
            layout: &flow_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Sampler(&sampler) },
                wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&flow_view) },
                wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&narrow_view) },
            ],
        });
        // The coarse flow and the overlays see group 0 only; the warp passes also read the flow.
        let render_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("render passes"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let warp_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("warp"),
            bind_group_layouts: &[Some(&layout), Some(&flow_layout)],
            immediate_size: 0,
        });
        // Overlay passes (mouth interior, lids): colour over the warp by coverage; the warp's alpha stays.
        let overlay = Some(wgpu::BlendState {
            color: wgpu::BlendComponent {
                src_factor: wgpu::BlendFactor::SrcAlpha,
                dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
                operation: wgpu::BlendOperation::Add,
            },
            alpha: wgpu::BlendComponent {
                src_factor: wgpu::BlendFactor::Zero,
                dst_factor: wgpu::BlendFactor::One,
                operation: wgpu::BlendOperation::Add,
            },
        });
        let make_pipeline = |label: &str,
                             layout: &wgpu::PipelineLayout,
                             [vertex, entry]: [&str; 2],
                             format: wgpu::TextureFormat,
                             blend: Option<wgpu::BlendState>,
                             constants: &[(&str, f64)]| {
            let compilation_options = wgpu::PipelineCompilationOptions { constants, ..Default::default() };
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(layout),
                vertex: wgpu::VertexState {
                    module: &shader,
                    entry_point: Some(vertex),
                    compilation_options: compilation_options.clone(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &shader,
                    entry_point: Some(entry),
                    compilation_options,
                    targets: &[Some(wgpu::ColorTargetState { format, blend, write_mask: wgpu::ColorWrites::ALL })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let rgba8 = wgpu::TextureFormat::Rgba8Unorm;
        let add = wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::One,
            dst_factor: wgpu::BlendFactor::One,
            operation: wgpu::BlendOperation::Add,
        };
        let flow_pipeline = make_pipeline(
            "coarse flow",
            &render_layout,
            ["vs_wide", "fs_wide"],
            FLOW_FORMAT,
            Some(wgpu::BlendState { color: add, alpha: add }),
            &[],
        );
        let zero_pipeline =
            make_pipeline("narrow: zero", &render_layout, ["vs_run", "fs_zero"], NARROW_FORMAT, None, &[]);
        let spot_pipeline = make_pipeline(
            "narrow: keypoints",
            &render_layout,
            ["vs_spot", "fs_spot"],
            NARROW_FORMAT,
            Some(wgpu::BlendState { color: add, alpha: add }),
            &[],
        );
        let warp_pipelines = std::array::from_fn(|mode| {
            let constants = [("BG_MODE", mode as f64)];
            make_pipeline("warp", &warp_layout, ["vs_run", "fs_warp"], rgba8, None, &constants)
        });
        let fine_pipelines = std::array::from_fn(|mode| {
            let constants = [("BG_MODE", mode as f64)];
            make_pipeline("warp fine tiles", &warp_layout, ["vs_run", "fs_warp_fine"], rgba8, None, &constants)
        });
        let lip_pipeline = make_pipeline("lips", &render_layout, ["vs_main", "fs_lips"], rgba8, overlay, &[]);
        let mouth_pipeline =
            make_pipeline("mouth interior", &render_layout, ["vs_main", "fs_mouth"], rgba8, overlay, &[]);
        let eye_pipeline = make_pipeline("eyes", &render_layout, ["vs_main", "fs_eyes"], rgba8, overlay, &[]);
        let staging = rig
            .keypoints
            .iter()
            .map(|k| GpuKeypoint {
                src: k.src.to_array(),
                drv: k.src.to_array(),
                jac: [1.0, 0.0, 0.0, 1.0],
                spread: Spread::new(k.sigma, rig.right, rig.down, k.weight).coefficients,
                blink_offset: k.blink_offset.to_array(),
                _pad2: [0.0; 2],
            })
            .collect();
        Ok(Self {
            flow_pipeline,
            zero_pipeline,
            spot_pipeline,
            narrow_view,
            instance_buffer,
            n_narrow,
            n_keypoints: keypoints.len() as u32,
            runs: Vec::with_capacity(n_tiles),
            warp_pipelines,
            fine_pipelines,
            bg_mode: 0,
            lip_pipeline,
            mouth_pipeline,
            eye_pipeline,
            bind_group,
            flow_view,
            flow_group,
            keypoint_buffer,
            target,
            target_view,
            readback,
            padded_row_bytes,
            size,
            rig: rig.clone(),
            staging,
            frame_buffer,
            tiling,
            params,
            param_buffer,
            backdrop,
            frame: if padded_row_bytes == 4 * size { Vec::new() } else { vec![0; (size * size * 4) as usize] },
            mapped: Arc::new(AtomicBool::new(false)),
            view: None,
        })
    }

    /// Sets what shows behind the person from the next frame on. Every mode but [`Backdrop::Keep`] needs
    /// the person mask in the portrait's alpha (`portrait::segment::mask_into_alpha`).
    pub fn set_backdrop(&mut self, ctx: &RenderContext, backdrop: &Backdrop) {
        let (mode, color) = match backdrop {
            Backdrop::Keep => (0, [0.0; 3]),
            Backdrop::Color(c) => (1, *c),
            Backdrop::Image(img) => {
                // Scale to cover the square frame, then take its centre.
                let (w, h) = (img.width().max(1) as f32, img.height().max(1) as f32);
                let scale = self.size as f32 / w.min(h);
                let (sw, sh) =
                    (((w * scale).round() as u32).max(self.size), ((h * scale).round() as u32).max(self.size));
                let scaled = image::imageops::resize(*img, sw, sh, image::imageops::FilterType::Triangle);
                let cropped = image::imageops::crop_imm(
                    &scaled,
                    (sw - self.size) / 2,
                    (sh - self.size) / 2,
                    self.size,
                    self.size,
                )
                .to_image();
                ctx.queue.write_texture(
                    self.backdrop.as_image_copy(),
                    cropped.as_raw(),
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(4 * self.size),
                        rows_per_image: Some(self.size),
                    },
                    self.backdrop.size(),
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
    }

    /// Frame side in pixels.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Records the draw of the portrait moved by `pose` into `encoder`, into [`target_view`](Self::target_view)
    /// (RGBA8, straight alpha), without reading it back: a window samples the target directly. The
    /// uniforms and keypoints are written to the queue now, so submit `encoder` before the next call.
    ///
    /// # Errors
    /// [`RenderError::TooManyKeypoints`] for a pose that does not fit the rig.
    pub fn encode(
        &mut self,
        ctx: &RenderContext,
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
            self.staging.iter().zip(&self.rig.keypoints).map(|(g, k)| (glam::Vec2::from(g.drv), k.sigma)),
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
            let mut pass = colour_pass(encoder, "coarse flow", &self.flow_view, wgpu::LoadOp::Clear(background));
            pass.set_pipeline(&self.flow_pipeline);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.draw(0..6, self.n_narrow..k);
        }
        if fine_runs > 0 {
            let mut pass = colour_pass(encoder, "narrow keypoints", &self.narrow_view, wgpu::LoadOp::Load);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.set_pipeline(&self.zero_pipeline);
            pass.draw(0..6, k..fine);
            pass.set_pipeline(&self.spot_pipeline);
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
            let mut pass = colour_pass(encoder, "warp and overlays", &self.target_view, wgpu::LoadOp::Load);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.set_bind_group(1, &self.flow_group, &[]);
            if runs_end > fine {
                pass.set_pipeline(&self.warp_pipelines[self.bg_mode]);
                pass.draw(0..6, fine..runs_end);
            }
            if fine > k {
                pass.set_pipeline(&self.fine_pipelines[self.bg_mode]);
                pass.draw(0..6, k..fine);
            }
            for (rect, pipeline) in [(lips, &self.lip_pipeline), (mouth, &self.mouth_pipeline)] {
                if let Some((x, y, w, h)) = rect {
                    pass.set_scissor_rect(x, y, w, h);
                    pass.set_pipeline(pipeline);
                    pass.draw(0..3, 0..1);
                }
            }
            for (eye, rect) in eyes.iter().enumerate() {
                if let Some((x, y, w, h)) = *rect {
                    pass.set_scissor_rect(x, y, w, h);
                    pass.set_pipeline(&self.eye_pipeline);
                    pass.draw(0..3, eye as u32..eye as u32 + 1);
                }
            }
        }
        Ok(())
    }

    /// Whether the mouth interior shows synthetic teeth (`[rig] teeth`; in `auto`, when the portrait
    /// shows no teeth of its own).
    pub fn synthetic_teeth(&self) -> bool {
        self.params.teeth == 1
    }

    /// The frame the renderer draws into: `size x size`, RGBA8.
    pub fn target_view(&self) -> &wgpu::TextureView {
        &self.target_view
    }

    /// Draws the portrait moved by `pose` and reads it back: `size * size * 4` bytes of RGBA8, row-major.
    ///
    /// # Errors
    /// [`RenderError::TooManyKeypoints`] for a pose that does not fit the rig, [`RenderError::Readback`]
    /// when the device is lost.
    pub fn render(&mut self, ctx: &RenderContext, pose: &Pose) -> Result<&[u8], RenderError> {
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
        if self.view.take().is_some() {
            self.readback.unmap();
        }
        encoder.copy_texture_to_buffer(
            self.target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &self.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row_bytes),
                    rows_per_image: Some(self.size),
                },
            },
            self.target.size(),
        );
    }

    /// Waits for the copy recorded by [`encode_readback`](Self::encode_readback) (submitted since) and
    /// returns the frame: `size * size * 4` bytes of RGBA8, row-major.
    ///
    /// # Errors
    /// [`RenderError::Readback`] when the device is lost.
    pub fn read_back(&mut self, ctx: &RenderContext) -> Result<&[u8], RenderError> {
        if self.view.is_some() {
            // Read back already, and no copy recorded since: the same frame.
            return Ok(self.view.as_deref().unwrap_or(&self.frame));
        }
        let slice = self.readback.slice(..);
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
        let row = (self.size * 4) as usize;
        if self.padded_row_bytes as usize == row {
            // Rows without padding: the mapped buffer is the frame (a copy of 1 MiB saved at 512 px).
            return Ok(self.view.insert(data));
        }
        for (dst, src) in self.frame.chunks_exact_mut(row).zip(data.chunks_exact(self.padded_row_bytes as usize)) {
            dst.copy_from_slice(&src[..row]);
        }
        drop(data);
        self.readback.unmap();
        Ok(&self.frame)
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
    pub fn rig(&self) -> &Rig {
        &self.rig
    }
}
