//! Every WGSL file in shaders/ parses and validates with naga (as wgpu would on any backend).

use std::path::PathBuf;

#[test]
fn every_shader_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
        checked += 1;
    }
    assert!(checked >= 3, "expected warp.wgsl, finish.wgsl and present.wgsl in {}", dir.display());
}

#[test]
fn the_warp_shaders_structs_have_the_sizes_the_renderer_writes() {
    // The renderer writes its uniforms and keypoints as plain bytes (bytemuck): a field added on one side
    // only, or a padding rule missed, would shift every value after it without any error from wgpu.
    for (file, name, rust_bytes) in facecast::render::SHADER_STRUCT_SIZES {
        let src = match file {
            "warp.wgsl" => facecast::render::WARP_WGSL,
            "finish.wgsl" => facecast::render::FINISH_WGSL,
            other => panic!("SHADER_STRUCT_SIZES names {other}, which the renderer does not embed"),
        };
        let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{}", e.emit_to_string(src)));
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let (handle, _) = module
            .types
            .iter()
            .find(|(_, ty)| ty.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{file} has no struct {name}"));
        let wgsl_bytes = layouter[handle].size as usize;
        assert_eq!(rust_bytes, wgsl_bytes, "struct {name}: {rust_bytes} bytes in Rust, {wgsl_bytes} in {file}");
    }
}
