//! The GPU context: one wgpu device and queue for the whole process, on a GPU or a software adapter.
//!
//! Input: the environment (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`) and, for a window, its handles. Output:
//! [`GpuContext`] (and the window's surface). Thread: opened once on the caller's thread (the render
//! thread); the renderer records into it and the window presents with it, so both share one device.
//!
//! Architecture Invariant: only this module picks an adapter or opens a device; the renderer and the
//! window are handed the context (as `onnx.rs` hands out ONNX Runtime sessions).

/// Errors of opening the GPU.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No GPU adapter at all, not even a software one.
    #[error(
        "no GPU adapter found ({0}); install a Vulkan driver (on Debian: mesa-vulkan-drivers, which has the lavapipe software adapter)"
    )]
    NoAdapter(String),
    /// The adapter refused a device.
    #[error("the GPU adapter refused a device: {0}")]
    Device(String),
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

/// The device and queue, opened once and shared by the renderer and the window.
pub struct GpuContext {
    /// The wgpu device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What adapter runs it (name, backend, type).
    pub adapter_info: wgpu::AdapterInfo,
    /// The adapter.
    pub adapter: wgpu::Adapter,
    /// What the adapter allows (texture sizes, say).
    pub limits: wgpu::Limits,
}

impl GpuContext {
    /// Picks an adapter (a GPU where there is one; lavapipe or llvmpipe otherwise) and opens a device.
    /// `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` choose, as in wgpu.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] or [`GpuError::Device`].
    pub fn new() -> Result<Self, GpuError> {
        Ok(Self::open(|_| Ok(None), wgpu::InstanceDescriptor::new_without_display_handle_from_env)?.0)
    }

    /// As [`new`](Self::new), for a window: the adapter is one that can present to `window`, and the
    /// window's surface comes with the context. `display` is the windowing system's display handle
    /// (winit's `OwnedDisplayHandle`), which GL needs on some platforms.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] when no adapter can present to the window, [`GpuError::Device`].
    pub fn with_window<W, D>(display: D, window: W) -> Result<(Self, wgpu::Surface<'static>), GpuError>
    where
        W: Into<wgpu::SurfaceTarget<'static>> + Clone,
        D: wgpu::rwh::HasDisplayHandle + std::fmt::Debug + Send + Sync + Clone + 'static,
    {
        let (ctx, surface) = Self::open(
            |instance| {
                instance
                    .create_surface(window.clone())
                    .map(Some)
                    .map_err(|e| GpuError::NoAdapter(format!("cannot make a surface for the window: {e}")))
            },
            move || wgpu::InstanceDescriptor::new_with_display_handle_from_env(Box::new(display.clone())),
        )?;
        let surface = surface.ok_or_else(|| GpuError::NoAdapter("no surface".into()))?;
        Ok((ctx, surface))
    }

    fn open(
        make_surface: impl Fn(&wgpu::Instance) -> Result<Option<wgpu::Surface<'static>>, GpuError>,
        descriptor: impl Fn() -> wgpu::InstanceDescriptor,
    ) -> Result<(Self, Option<wgpu::Surface<'static>>), GpuError> {
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
        let (adapter, surface) = found.ok_or(GpuError::NoAdapter(last_err))?;
        let adapter_info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("facecast"),
            required_limits: wgpu::Limits::downlevel_defaults().using_resolution(limits.clone()),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        if adapter_info.device_type == wgpu::DeviceType::Cpu {
            tracing::info!(adapter = %adapter_info.name, backend = ?adapter_info.backend, "no GPU: rendering on the software adapter");
        } else {
            tracing::info!(adapter = %adapter_info.name, backend = ?adapter_info.backend, "rendering on GPU");
        }
        Ok((Self { device, queue, adapter_info, adapter, limits }, surface))
    }
}
