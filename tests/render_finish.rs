//! The finish pass on wgpu (lavapipe here): a frame that is not square holds the warp's square at its
//! centre, byte for byte, and the bands beside it continue the portrait without a seam; the disclosure
//! mark covers its corner and nothing else, and is opaque even over a transparent background.

mod common;

use facecast::Config;
use facecast::gpu::GpuContext;
use facecast::portrait::{self, FaceModels, Portrait};
use facecast::render::{Backdrop, Corner, WarpRenderer};
use facecast::vocab::{FrameGeometry, MotionParams};
use image::RgbaImage;

fn portrait() -> Portrait {
    let cfg = Config::default();
    let img = portrait::load_image(&common::root().join("assets/portraits/astronaut.png")).unwrap();
    let mut models = FaceModels::load(&cfg.portrait).unwrap();
    Portrait::analyze(img, "astronaut.png", &mut models, &cfg).unwrap()
}

fn render(p: &Portrait, ctx: &GpuContext, r: &mut WarpRenderer, params: &MotionParams) -> RgbaImage {
    let mut pose = p.rig.rest_pose();
    p.rig.drive(params, &mut pose);
    let (w, h) = (r.frame().width_px(), r.frame().height_px());
    RgbaImage::from_raw(w, h, r.render(ctx, &pose).unwrap().to_vec()).unwrap()
}

/// Mean absolute RGB difference between columns `a` and `b` of `img`.
fn column_step(img: &RgbaImage, a: u32, b: u32) -> f64 {
    let mut sum = 0.0;
    for y in 0..img.height() {
        let (pa, pb) = (img.get_pixel(a, y).0, img.get_pixel(b, y).0);
        sum += (0..3).map(|c| (f64::from(pa[c]) - f64::from(pb[c])).abs()).sum::<f64>() / 3.0;
    }
    sum / f64::from(img.height())
}

#[test]
fn a_wide_frame_holds_the_square_at_its_centre_and_continues_the_portrait_beside_it() {
    let p = portrait();
    let ctx = GpuContext::new().expect("a wgpu adapter (lavapipe: apt install mesa-vulkan-drivers)");
    let wide = FrameGeometry::new(320, 240, 30).unwrap();
    let mut r_wide = WarpRenderer::new(&ctx, &p.image, &p.geometry(), wide).unwrap();
    let mut r_square =
        WarpRenderer::new(&ctx, &p.image, &p.geometry(), FrameGeometry::square(240, 30).unwrap()).unwrap();
    let talking = MotionParams { jaw_open: 0.8, head_yaw_deg: 12.0, head_pitch_deg: -5.0, ..MotionParams::default() };
    for params in [MotionParams::default(), talking] {
        let (a, b) = (render(&p, &ctx, &mut r_wide, &params), render(&p, &ctx, &mut r_square, &params));
        assert_eq!(a.dimensions(), (320, 240));
        let (x0, _) = wide.face_origin_px();
        assert_eq!(x0, 40);
        for y in 0..240 {
            for x in 0..240 {
                assert_eq!(a.get_pixel(x0 + x, y), b.get_pixel(x, y), "pixel ({x}, {y}) of the square moved");
            }
        }
        // The bands show the portrait (this one's crop leaves image on both sides), not black.
        let band_luma = |x: u32| (0..240).map(|y| f64::from(a.get_pixel(x, y).0[0])).sum::<f64>() / 240.0;
        assert!(band_luma(10) > 40.0 && band_luma(310) > 40.0, "bands {} {}", band_luma(10), band_luma(310));
        // No seam where the square meets a band: the step across the border is like the steps beside it.
        for (left, right) in [(x0 - 1, x0), (x0 + 239, x0 + 240)] {
            let seam = column_step(&a, left, right);
            let beside = (column_step(&a, left - 2, left - 1) + column_step(&a, right + 1, right + 2)) / 2.0;
            assert!(seam < beside + 6.0, "seam {seam:.1} at x={right} against {beside:.1} beside it");
        }
    }
}

#[test]
fn the_mark_covers_its_corner_only_and_is_opaque_over_alpha() {
    let p = portrait();
    let ctx = GpuContext::new().expect("a wgpu adapter");
    let frame = FrameGeometry::square(256, 30).unwrap();
    let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame).unwrap();
    let plain = render(&p, &ctx, &mut r, &MotionParams::default());
    r.set_mark(&ctx, Some(("AI-generated", Corner::BottomRight)));
    let marked = render(&p, &ctx, &mut r, &MotionParams::default());
    let changed: Vec<(u32, u32)> =
        plain.enumerate_pixels().filter(|&(x, y, px)| marked.get_pixel(x, y) != px).map(|(x, y, _)| (x, y)).collect();
    // 12 glyphs of 8 pixels, with a margin: about 100 x 10 pixels in the bottom-right corner.
    assert!(changed.len() > 500, "only {} pixels changed", changed.len());
    assert!(changed.iter().all(|&(x, y)| x >= 256 - 110 && y >= 256 - 16), "the mark left its corner");
    r.set_mark(&ctx, Some(("AI-generated", Corner::TopLeft)));
    let top = render(&p, &ctx, &mut r, &MotionParams::default());
    assert!(
        top.enumerate_pixels().filter(|&(x, y, px)| plain.get_pixel(x, y) != px).all(|(x, y, _)| x < 110 && y < 16)
    );
    r.set_mark(&ctx, None);
    assert_eq!(render(&p, &ctx, &mut r, &MotionParams::default()), plain, "no mark: the frame as before");

    // Over a transparent background the mark still shows: its box is opaque enough to read.
    let mut masked = p.image.clone();
    for px in masked.pixels_mut() {
        px.0[3] = 0;
    }
    let mut r = WarpRenderer::new(&ctx, &masked, &p.geometry(), frame).unwrap();
    r.set_backdrop(&ctx, &Backdrop::Alpha);
    r.set_mark(&ctx, Some(("AI-generated", Corner::BottomRight)));
    let clear = render(&p, &ctx, &mut r, &MotionParams::default());
    assert_eq!(clear.get_pixel(10, 10).0[3], 0, "the background is transparent");
    let lit = clear.pixels().filter(|px| px.0 == [255, 255, 255, 255]).count();
    assert!(lit > 100, "{lit} opaque white text pixels");
    assert!(clear.get_pixel(255 - 4, 255 - 4).0[3] >= 150, "the mark's box is opaque");
}
