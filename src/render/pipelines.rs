//! The warp's pipelines: one shader module (shaders/warp.wgsl), its bind group layouts and every
//! render pipeline the passes use, built once.
//!
//! Input: the device. Output: [`Pipelines`]. Thread: the render thread, at start-up.

use super::WARP_WGSL;
use super::targets::{FLOW_FORMAT, NARROW_FORMAT};

/// Background modes: the variants of [`super::Backdrop`], in the order of shaders/warp.wgsl's
/// `BG_KEEP` ... `BG_ALPHA`.
pub(super) const BG_MODES: usize = 4;

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
pub(super) fn texture_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    filterable: bool,
) -> wgpu::BindGroupLayoutEntry {
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

const UNIFORM: wgpu::BufferBindingType = wgpu::BufferBindingType::Uniform;
const STORAGE: wgpu::BufferBindingType = wgpu::BufferBindingType::Storage { read_only: true };

/// Every pipeline of the warp, and the layouts its bind groups are made for.
pub(super) struct Pipelines {
    /// Group 0: the shared bindings (parameters, keypoints, portrait, sampler, frame uniform, backdrop,
    /// instances).
    pub layout: wgpu::BindGroupLayout,
    /// Group 1 of the warp passes: the coarse grid and the per-pixel part they read.
    pub flow_layout: wgpu::BindGroupLayout,
    /// The wide keypoints into the coarse grid.
    pub flow: wgpu::RenderPipeline,
    /// The narrow pass: zeroes the fine tiles, then adds every narrow keypoint's part.
    pub zero: wgpu::RenderPipeline,
    pub spot: wgpu::RenderPipeline,
    /// The warp over the runs of coarse tiles and over the fine tiles, one of each per background
    /// mode (shaders/warp.wgsl `BG_MODE`).
    pub warp: [wgpu::RenderPipeline; BG_MODES],
    pub fine: [wgpu::RenderPipeline; BG_MODES],
    /// The overlays: lips, mouth interior, eyes.
    pub lip: wgpu::RenderPipeline,
    pub mouth: wgpu::RenderPipeline,
    pub eye: wgpu::RenderPipeline,
}

impl Pipelines {
    pub fn new(device: &wgpu::Device) -> Self {
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
        Self {
            layout,
            flow_layout,
            flow: flow_pipeline,
            zero: zero_pipeline,
            spot: spot_pipeline,
            warp: warp_pipelines,
            fine: fine_pipelines,
            lip: lip_pipeline,
            mouth: mouth_pipeline,
            eye: eye_pipeline,
        }
    }
}
