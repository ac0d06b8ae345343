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
    assert!(checked >= 2, "expected warp.wgsl and present.wgsl in in {}", dir.display());
}

#[test]
fn the_embedded_warp_shader_is_the_file_on_disk() {
    let disk = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders/warp.wgsl")).unwrap();
    assert_eq!(facecast::render::WARP_WGSL, disk);
}
