//! The window sink: winit and a wgpu surface. Frames come from a [`FrameProducer`] (the live loop), drawn
//! straight from the renderer's target texture, letterboxed into a resizable window, with an optional HUD.
//!
//! Thread: the main thread (winit's event loop must own it on most platforms). It wakes when the
//! producer's next frame is due and sleeps otherwise. The surface, the present pipeline, its bind groups,
//! the HUD texture and its pixel buffer are made once; a frame allocates nothing of ours.
//!
//! Architecture Invariant: only this file knows winit.
//!
//! Input: the producer's GPU texture at each frame tick, and the HUD's text. Output: the window's surface.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use winit::application::ApplicationHandler;
use winit::event::{ElementState, KeyEvent, StartCause, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, NamedKey};
use winit::platform::run_on_demand::EventLoopExtRunOnDemand as _;
use winit::window::{Fullscreen, Window, WindowId};

use super::OutputError;
use crate::gpu::GpuContext;

/// The present shader (shaders/present.wgsl).
pub const PRESENT_WGSL: &str = include_str!("../../shaders/present.wgsl");

/// HUD text: this many characters per line, this many lines, 8x8 pixels each.
const HUD_COLS: u32 = 56;
const HUD_LINES: u32 = 3;
/// The HUD is drawn at this many window pixels per font pixel.
const HUD_SCALE: f32 = 2.0;

/// What the window shows: the live loop implements it.
pub trait FrameProducer {
    /// Called once the GPU context exists (made for the window's surface); builds the renderer.
    ///
    /// # Errors
    /// Whatever stops the renderer from being built.
    fn start(&mut self, ctx: &GpuContext) -> Result<(), OutputError>;
    /// The texture [`draw`](Self::draw) renders into (valid after [`start`](Self::start)).
    fn target(&self) -> &wgpu::TextureView;
    /// When the next frame is due.
    fn next_due(&self) -> Instant;
    /// Records the next frame into `encoder`, into [`target`](Self::target).
    ///
    /// # Errors
    /// A render error; the window closes with it.
    fn draw(&mut self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder) -> Result<(), OutputError>;
    /// The frame was submitted at `submitted` and handed to the surface at `presented`. `ctx` is there
    /// to read back what [`draw`](Self::draw) also recorded for another sink (a stream).
    fn handed_off(&mut self, ctx: &GpuContext, submitted: Instant, presented: Instant);
    /// Writes the HUD text (lines separated by '\n') into `text` and returns true when it has changed
    /// since the last call.
    fn hud(&mut self, text: &mut String) -> bool;
    /// Whether the loop has ended (the input ended, the time is up, an error).
    fn finished(&self) -> bool;
}

/// How the window is opened.
#[derive(Debug, Clone)]
pub struct WindowOptions {
    /// Title.
    pub title: String,
    /// Initial inner size, logical pixels: the frame's width and height.
    pub size: (u32, u32),
    /// Borderless full screen (kiosks).
    pub fullscreen: bool,
    /// Draw the HUD (fps, latency, drops).
    pub hud: bool,
    /// A transparent window (for `--background alpha`): where the frame's alpha is 0 the desktop
    /// shows through, on platforms whose compositor blends windows (a warning says so elsewhere).
    pub transparent: bool,
}

/// The surface's alpha mode. The present pass writes premultiplied alpha, so a transparent window
/// takes `PreMultiplied` (or `Inherit`, where the window system's own is premultiplied, as X11's
/// 32-bit visuals are); where the surface offers neither, the window stays opaque, with a warning. An
/// opaque window takes `Opaque`.
fn alpha_mode(offered: &[wgpu::CompositeAlphaMode], transparent: bool) -> wgpu::CompositeAlphaMode {
    use wgpu::CompositeAlphaMode::{Inherit, Opaque, PreMultiplied};
    let first = offered.first().copied().unwrap_or(wgpu::CompositeAlphaMode::Auto);
    if !transparent {
        return if offered.contains(&Opaque) { Opaque } else { first };
    }
    match [PreMultiplied, Inherit].into_iter().find(|m| offered.contains(m)) {
        Some(mode) => mode,
        None => {
            tracing::warn!(
                ?offered,
                "this window system cannot show a transparent window: the background is black (the frames \
                 streamed or written keep their alpha)"
            );
            first
        }
    }
}

thread_local! {
    /// winit allows one event loop per process: it is made for the first window and run again for the
    /// next (the camera's preview, then the avatar), on the same (main) thread.
    static EVENT_LOOP: RefCell<Option<EventLoop<()>>> = const { RefCell::new(None) };
}

/// Opens the window and runs until Esc, the window's close button, or the producer finishing; the
/// window closes when it returns. It may be called again (on the same thread) for another window.
///
/// # Errors
/// [`OutputError::Window`] when there is no display or the surface cannot be made, or the producer's
/// error.
pub fn run(options: WindowOptions, producer: &mut dyn FrameProducer) -> Result<(), OutputError> {
    EVENT_LOOP.with_borrow_mut(|slot| {
        let event_loop = match slot {
            Some(event_loop) => event_loop,
            None => slot.insert(
                EventLoop::new().map_err(|e| OutputError::Window(format!("no display to open a window on: {e}")))?,
            ),
        };
        let mut app = App { options, producer, state: None, error: None };
        event_loop.run_app_on_demand(&mut app).map_err(|e| OutputError::Window(e.to_string()))?;
        match app.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })
}

struct App<'p> {
    options: WindowOptions,
    producer: &'p mut dyn FrameProducer,
    state: Option<Gpu>,
    error: Option<OutputError>,
}

struct Gpu {
    window: Arc<Window>,
    ctx: GpuContext,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    pipeline: wgpu::RenderPipeline,
    frame_group: wgpu::BindGroup,
    frame_quad: wgpu::Buffer,
    hud_group: wgpu::BindGroup,
    hud_quad: wgpu::Buffer,
    hud_texture: wgpu::Texture,
    hud_pixels: Vec<u8>,
    hud_text: String,
    srgb: f32,
    /// The frame's width and height, pixels.
    frame_size: (u32, u32),
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct QuadUniform {
    rect: [f32; 4],
    flags: [f32; 4],
}

impl App<'_> {
    fn fail(&mut self, event_loop: &ActiveEventLoop, e: OutputError) {
        self.error.get_or_insert(e);
        event_loop.exit();
    }

    fn init(&mut self, event_loop: &ActiveEventLoop) -> Result<Gpu, OutputError> {
        let mut attrs = Window::default_attributes()
            .with_title(self.options.title.clone())
            .with_inner_size(winit::dpi::LogicalSize::new(self.options.size.0, self.options.size.1));
        if self.options.fullscreen {
            attrs = attrs.with_fullscreen(Some(Fullscreen::Borderless(None)));
            // The fullscreen state is the window manager's to grant, and a kiosk often runs its X
            // server with no window manager at all (`xinit facecast ...`): ask for the monitor's whole
            // area and no decorations too, which a bare server honours as asked.
            if let Some(monitor) = event_loop.primary_monitor().or_else(|| event_loop.available_monitors().next()) {
                attrs = attrs.with_decorations(false).with_position(monitor.position()).with_inner_size(monitor.size());
            }
        }
        if self.options.transparent {
            attrs = attrs.with_transparent(true);
        }
        let window = Arc::new(
            event_loop.create_window(attrs).map_err(|e| OutputError::Window(format!("cannot open a window: {e}")))?,
        );
        let (ctx, surface) = GpuContext::with_window(event_loop.owned_display_handle(), Arc::clone(&window))
            .map_err(|e| OutputError::Window(e.to_string()))?;
        self.producer.start(&ctx)?;
        let caps = surface.get_capabilities(&ctx.adapter);
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .or_else(|| caps.formats.first().copied())
            .ok_or_else(|| OutputError::Window("the surface supports no format".into()))?;
        // Our own pacing decides when a frame is drawn; a present mode that waits for vblank would add
        // up to a refresh of latency, so Mailbox or Immediate where offered.
        let present_mode = [wgpu::PresentMode::Mailbox, wgpu::PresentMode::Immediate]
            .into_iter()
            .find(|m| caps.present_modes.contains(m))
            .unwrap_or(wgpu::PresentMode::Fifo);
        let size = window.inner_size();
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            width: size.width.max(1),
            height: size.height.max(1),
            present_mode,
            desired_maximum_frame_latency: 1,
            alpha_mode: alpha_mode(&caps.alpha_modes, self.options.transparent),
            view_formats: vec![],
            color_space: wgpu::SurfaceColorSpace::default(),
        };
        surface.configure(&ctx.device, &config);
        tracing::info!(
            ?format,
            ?present_mode,
            alpha = ?config.alpha_mode,
            width = config.width,
            height = config.height,
            "window open"
        );

        let device = &ctx.device;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("present"),
            source: wgpu::ShaderSource::Wgsl(PRESENT_WGSL.into()),
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("present"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            primitive: wgpu::PrimitiveState { topology: wgpu::PrimitiveTopology::TriangleStrip, ..Default::default() },
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            multiview_mask: None,
            cache: None,
        });
        let sampler = |filter| {
            device.create_sampler(&wgpu::SamplerDescriptor {
                label: Some("present"),
                mag_filter: filter,
                min_filter: filter,
                ..Default::default()
            })
        };
        let quad_buffer = || {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("quad"),
                size: std::mem::size_of::<QuadUniform>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let group = |view: &wgpu::TextureView, sampler: &wgpu::Sampler, quad: &wgpu::Buffer| {
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("present"),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(view) },
                    wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::Sampler(sampler) },
                    wgpu::BindGroupEntry { binding: 2, resource: quad.as_entire_binding() },
                ],
            })
        };
        let frame_quad = quad_buffer();
        let frame_group = group(self.producer.target(), &sampler(wgpu::FilterMode::Linear), &frame_quad);
        let (hud_w, hud_h) = (HUD_COLS * 8, HUD_LINES * 8);
        let hud_texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("hud"),
            size: wgpu::Extent3d { width: hud_w, height: hud_h, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let hud_quad = quad_buffer();
        let hud_group = group(
            &hud_texture.create_view(&wgpu::TextureViewDescriptor::default()),
            &sampler(wgpu::FilterMode::Nearest),
            &hud_quad,
        );
        let mut gpu = Gpu {
            frame_size: self.options.size,
            window,
            ctx,
            surface,
            config,
            pipeline,
            frame_group,
            frame_quad,
            hud_group,
            hud_quad,
            hud_texture,
            hud_pixels: vec![0; (hud_w * hud_h * 4) as usize],
            hud_text: String::with_capacity((HUD_COLS * HUD_LINES) as usize * 2),
            srgb: if format.is_srgb() { 1.0 } else { 0.0 },
        };
        gpu.layout();
        Ok(gpu)
    }

    fn frame(&mut self, event_loop: &ActiveEventLoop) {
        let hud = self.options.hud;
        let Some(gpu) = self.state.as_mut() else { return };
        let surface_texture = match gpu.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                gpu.surface.configure(&gpu.ctx.device, &gpu.config);
                return;
            }
            other => {
                // Timeout or occluded: skip this frame; the producer counts it when it falls behind.
                tracing::debug!(?other, "no surface texture this frame");
                return;
            }
        };
        let view = surface_texture.texture.create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder =
            gpu.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("window frame") });
        if let Err(e) = self.producer.draw(&gpu.ctx, &mut encoder) {
            self.fail(event_loop, e);
            return;
        }
        if hud && self.producer.hud(&mut gpu.hud_text) {
            gpu.upload_hud();
        }
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("present"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(if self.options.transparent {
                            wgpu::Color::TRANSPARENT
                        } else {
                            wgpu::Color::BLACK
                        }),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&gpu.pipeline);
            pass.set_bind_group(0, &gpu.frame_group, &[]);
            pass.draw(0..4, 0..1);
            if hud {
                pass.set_bind_group(0, &gpu.hud_group, &[]);
                pass.draw(0..4, 0..1);
            }
        }
        gpu.ctx.queue.submit([encoder.finish()]);
        let submitted = Instant::now();
        gpu.window.pre_present_notify();
        gpu.ctx.queue.present(surface_texture);
        self.producer.handed_off(&gpu.ctx, submitted, Instant::now());
    }
}

impl Gpu {
    /// Places the frame (centred, as large as fits, its shape kept) and the HUD (top left) in the
    /// window's current size.
    fn layout(&mut self) {
        let (w, h) = (self.config.width as f32, self.config.height as f32);
        let (fw, fh) = (self.frame_size.0 as f32, self.frame_size.1 as f32);
        let fit = (w / fw).min(h / fh);
        let (sx, sy) = (fw * fit / w, fh * fit / h);
        let frame = QuadUniform { rect: [-sx, -sy, sx, sy], flags: [self.srgb, 0.0, 0.0, 0.0] };
        self.ctx.queue.write_buffer(&self.frame_quad, 0, bytemuck::bytes_of(&frame));
        let (hw, hh) = ((HUD_COLS * 8) as f32 * HUD_SCALE, (HUD_LINES * 8) as f32 * HUD_SCALE);
        let margin = 8.0;
        let px = |x: f32| 2.0 * x / w - 1.0;
        let py = |y: f32| 1.0 - 2.0 * y / h;
        let hud = QuadUniform {
            rect: [px(margin), py(margin + hh), px(margin + hw), py(margin)],
            flags: [self.srgb, 0.0, 0.0, 0.0],
        };
        self.ctx.queue.write_buffer(&self.hud_quad, 0, bytemuck::bytes_of(&hud));
    }

    /// Rasterises the HUD text (white on translucent black) into the HUD texture.
    fn upload_hud(&mut self) {
        let width = (HUD_COLS * 8) as usize;
        self.hud_pixels.fill(0);
        for (line, text) in self.hud_text.lines().take(HUD_LINES as usize).enumerate() {
            let end = text.char_indices().nth(HUD_COLS as usize).map_or(text.len(), |(i, _)| i);
            crate::text::draw(&mut self.hud_pixels, width, (0, line * 8), &text[..end], 1, [[255; 4], [0, 0, 0, 150]]);
        }
        self.ctx.queue.write_texture(
            self.hud_texture.as_image_copy(),
            &self.hud_pixels,
            wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(HUD_COLS * 8 * 4), rows_per_image: None },
            self.hud_texture.size(),
        );
    }
}

impl ApplicationHandler for App<'_> {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.state.is_some() {
            return;
        }
        match self.init(event_loop) {
            Ok(gpu) => self.state = Some(gpu),
            Err(e) => self.fail(event_loop, e),
        }
    }

    fn new_events(&mut self, event_loop: &ActiveEventLoop, cause: StartCause) {
        if matches!(cause, StartCause::ResumeTimeReached { .. } | StartCause::Poll) && self.state.is_some() {
            if self.producer.finished() {
                event_loop.exit();
                return;
            }
            if Instant::now() >= self.producer.next_due() {
                self.frame(event_loop);
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::KeyboardInput {
                event: KeyEvent { logical_key: Key::Named(NamedKey::Escape), state: ElementState::Pressed, .. },
                ..
            } => event_loop.exit(),
            WindowEvent::Resized(size) => {
                if let Some(gpu) = self.state.as_mut()
                    && size.width > 0
                    && size.height > 0
                {
                    gpu.config.width = size.width;
                    gpu.config.height = size.height;
                    gpu.surface.configure(&gpu.ctx.device, &gpu.config);
                    gpu.layout();
                }
            }
            _ => {}
        }
    }

    fn exiting(&mut self, _event_loop: &ActiveEventLoop) {
        // The window closes with the run, so that the next run opens its own.
        self.state = None;
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        if self.producer.finished() {
            event_loop.exit();
            return;
        }
        event_loop.set_control_flow(ControlFlow::WaitUntil(self.producer.next_due()));
    }
}
