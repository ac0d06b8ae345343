//! Renders the bundled portrait in a set of fixed poses and lays them out as one contact sheet:
//! neutral, jaw 0.5 and 1.0, lip_round, lip_stretch, blink, yaw +-10 deg, pitch +-8 deg, roll +-8 deg.
//! Usage: cargo run --release --example pose_sheet -- [SIZE] [OUT.png]

use facecast::Config;
use facecast::gpu::GpuContext;
use facecast::portrait::{self, FaceModels, Portrait};
use facecast::render::WarpRenderer;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let size: u32 = args.next().map_or(Ok(256), |s| s.parse())?;
    let out = args.next().unwrap_or_else(|| "out/pose_sheet.png".into());
    let cfg = Config::default();
    let img = portrait::decode_image(facecast::assets::DEFAULT_PORTRAIT_PNG, "astronaut.png")?;
    let mut models = FaceModels::load(&cfg.portrait)?;
    let p = Portrait::analyze(img, "astronaut.png", &mut models, &cfg)?;
    let ctx = GpuContext::new()?;
    let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), facecast::vocab::FrameGeometry::square(size, 30)?)?;
    let mut frames = Vec::new();
    for (_, params) in facecast::portrait::rig::sheet_poses() {
        let mut pose = p.rig.rest_pose();
        p.rig.drive(&params, &mut pose);
        frames.push(image::RgbaImage::from_raw(size, size, r.render(&ctx, &pose)?.to_vec()).expect("frame"));
    }
    facecast::output::contact_sheet(&frames, &[], 4, size).save(&out)?;
    println!("wrote {out}");
    Ok(())
}
