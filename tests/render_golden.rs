//! The WGSL warp on wgpu (lavapipe here, any adapter elsewhere): a golden image at fixed motion, the
//! identity at rest against a CPU bilinear reference, and an unmoved background.
//!
//! Regenerate the golden (after a deliberate change, and look at it): FACECAST_UPDATE_GOLDEN=1 cargo test
//! --test render_golden.

mod common;

use facecast::Config;
use facecast::gpu::GpuContext;
use facecast::portrait::{self, FaceModels, Portrait};
use facecast::render::WarpRenderer;
use facecast::vocab::FrameGeometry;
use facecast::vocab::MotionParams;
use image::RgbaImage;

const SIZE: u32 = 256;

/// A frame of `side` pixels (the rate does not matter to the renderer).
fn frame(side: u32) -> FrameGeometry {
    FrameGeometry::square(side, 30).unwrap()
}

fn setup() -> (Portrait, GpuContext, WarpRenderer) {
    let cfg = Config::default();
    let img = portrait::load_image(&common::root().join("assets/portraits/astronaut.png")).unwrap();
    let mut models = FaceModels::load(&cfg.portrait).unwrap();
    let p = Portrait::analyze(img, "astronaut.png", &mut models, &cfg).unwrap();
    let ctx = GpuContext::new().expect("a wgpu adapter (lavapipe: apt install mesa-vulkan-drivers)");
    let r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame(SIZE)).unwrap();
    (p, ctx, r)
}

/// One frame at the renderer's size, posed by `params`.
fn render(p: &Portrait, ctx: &GpuContext, r: &mut WarpRenderer, params: MotionParams) -> RgbaImage {
    let mut pose = p.rig.rest_pose();
    p.rig.drive(&params, &mut pose);
    RgbaImage::from_raw(r.frame().width_px(), r.frame().height_px(), r.render(ctx, &pose).unwrap().to_vec()).unwrap()
}

/// (mean absolute difference, share of channel values off by more than 16), over RGB.
fn compare(a: &RgbaImage, b: &RgbaImage) -> (f64, f64) {
    let (mut sum, mut big, mut n) = (0.0f64, 0usize, 0usize);
    for (pa, pb) in a.pixels().zip(b.pixels()) {
        for c in 0..3 {
            let d = (i32::from(pa[c]) - i32::from(pb[c])).abs();
            sum += f64::from(d);
            big += usize::from(d > 16);
            n += 1;
        }
    }
    (sum / n as f64, big as f64 / n as f64)
}

#[test]
fn golden_at_fixed_motion() {
    let (p, ctx, mut r) = setup();
    let got = render(&p, &ctx, &mut r, MotionParams { jaw_open: 0.6, ..Default::default() });
    let golden_path = common::data("golden/render_jaw060_256.png");
    if std::env::var_os("FACECAST_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_path.parent().unwrap()).unwrap();
        got.save(&golden_path).unwrap();
    }
    let golden = image::open(&golden_path).expect("golden image").to_rgba8();
    let (mean, big) = compare(&got, &golden);
    if mean > 1.0 || big > 0.002 {
        let dir = common::scratch("render_golden");
        got.save(dir.join("got.png")).unwrap();
        panic!(
            "differs from the golden: mean |d| {mean:.3}, {:.3}% values off by > 16 (see {})",
            big * 100.0,
            dir.display()
        );
    }
}

#[test]
fn rest_pose_is_the_portrait_crop() {
    let (p, ctx, mut r) = setup();
    let got = render(&p, &ctx, &mut r, MotionParams::default());
    // At rest every keypoint's map is the identity, so the reference warp is a plain bilinear crop.
    let want = facecast::render::reference::warp(&p.image, &p.geometry(), &p.rig.rest_pose(), SIZE);
    let (mean, big) = compare(&got, &want);
    assert!(mean < 0.6 && big == 0.0, "rest render vs CPU crop: mean |d| {mean:.3}, share > 16: {big}");
}

#[test]
fn jaw_moves_the_mouth_and_not_the_background() {
    let (p, ctx, mut r) = setup();
    let rest = render(&p, &ctx, &mut r, MotionParams::default());
    let open = render(&p, &ctx, &mut r, MotionParams { jaw_open: 1.0, ..Default::default() });
    let to_px = |v: glam::Vec2| ((v + 1.0) * 0.5 * SIZE as f32).as_ivec2();
    let mouth = to_px(p.rig.keypoints[0].src); // inner lower lip
    let (mut moved_near, mut moved_far) = (0, 0);
    for (x, y, a) in rest.enumerate_pixels() {
        let b = open.get_pixel(x, y);
        let d = (0..3).map(|c| (i32::from(a[c]) - i32::from(b[c])).abs()).max().unwrap();
        let dist = glam::IVec2::new(x as i32, y as i32).as_vec2().distance(mouth.as_vec2());
        if dist < 0.15 * SIZE as f32 && d > 24 {
            moved_near += 1;
        }
        // Far from the face (beyond the cheeks and chin): nothing may move.
        if dist > 0.35 * SIZE as f32 && d > 2 {
            moved_far += 1;
        }
    }
    assert!(moved_near > 200, "only {moved_near} pixels near the mouth changed");
    assert!(moved_far == 0, "{moved_far} pixels far from the face changed");
}

#[test]
fn an_open_mouth_shows_a_dark_interior_not_stretched_teeth() {
    let (p, ctx, mut r) = setup();
    let open = render(&p, &ctx, &mut r, MotionParams { jaw_open: 1.0, ..Default::default() });
    // Between the driving inner lips, at the centre of the opening: the cavity, dark and reddish.
    let mut pose = p.rig.rest_pose();
    p.rig.drive(&MotionParams { jaw_open: 1.0, ..Default::default() }, &mut pose);
    let (up, low) = (pose.drv[p.rig.inner_upper()], pose.drv[p.rig.inner_lower()]);
    let centre = (up + low) * 0.5;
    let px = ((centre + 1.0) * 0.5 * SIZE as f32).as_uvec2();
    let c = open.get_pixel(px.x, px.y);
    let luma = 0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2]);
    assert!(luma < 60.0 && c[0] >= c[2], "centre of the open mouth is {c:?} (luma {luma:.0})");
    // At rest the same pixel is the portrait's teeth or lips: light.
    let rest = render(&p, &ctx, &mut r, MotionParams::default());
    let c0 = rest.get_pixel(px.x, px.y);
    let luma0 = 0.299 * f32::from(c0[0]) + 0.587 * f32::from(c0[1]) + 0.114 * f32::from(c0[2]);
    assert!(luma0 > 100.0, "at rest that pixel is {c0:?}");
}

#[test]
fn a_blink_covers_the_iris_with_lid() {
    let (p, ctx, mut r) = setup();
    let rest = render(&p, &ctx, &mut r, MotionParams::default());
    let shut = render(&p, &ctx, &mut r, MotionParams { blink_right: 1.0, blink_left: 1.0, ..Default::default() });
    let luma = |img: &RgbaImage, v: glam::Vec2| {
        let q = ((v + 1.0) * 0.5 * SIZE as f32).as_uvec2();
        let c = img.get_pixel(q.x, q.y);
        0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2])
    };
    for (upper, lower) in [(159, 145), (386, 374)] {
        let at = |lm: usize| p.rig.keypoints.iter().find(|k| k.landmark == lm).unwrap().src;
        let iris = (at(upper) + at(lower)) * 0.5;
        let (open, closed) = (luma(&rest, iris), luma(&shut, iris));
        assert!(closed > open + 25.0, "eye {upper}: iris luma {open:.0} open, {closed:.0} shut");
    }
    // One eye at a time: a right-eye blink leaves the left eye as it was.
    let wink = render(&p, &ctx, &mut r, MotionParams { blink_right: 1.0, ..Default::default() });
    let left = p.rig.keypoints.iter().find(|k| k.landmark == 386).unwrap().src;
    assert!((luma(&wink, left) - luma(&rest, left)).abs() < 2.0);
}

#[test]
fn gpu_warp_matches_the_cpu_reference() {
    // At 256 px nearly every keypoint is narrow (evaluated per pixel); at 512 the jaw, chin and rings
    // go through the coarse flow grid.
    let (p, ctx, _) = setup();
    for size in [SIZE, 512] {
        let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame(size)).unwrap();
        gpu_matches_cpu_at(&p, &ctx, &mut r, size);
    }
}

fn gpu_matches_cpu_at(p: &Portrait, ctx: &GpuContext, r: &mut WarpRenderer, size: u32) {
    use glam::{Mat2, Vec2};
    // A pose that exercises the whole warp but parts no lips and shuts no eye (those are the overlay
    // passes, tested above): corners drawn in, chin and jaw pushed sideways and down, and non-identity
    // Jacobians (a turn and a stretch) on the jaw and chin keypoints.
    let mut pose = p.rig.rest_pose();
    p.rig.drive(&MotionParams { lip_round: 1.0, ..Default::default() }, &mut pose);
    for (i, k) in p.rig.keypoints.iter().enumerate() {
        use facecast::portrait::rig::Region;
        if matches!(k.region, Region::Chin | Region::Jaw) {
            pose.drv[i] += Vec2::new(0.02, 0.015);
            pose.jac[i] = Mat2::from_cols(Vec2::new(0.95, 0.08), Vec2::new(-0.05, 1.1));
        }
    }
    assert_eq!(p.geometry().extra_gap(&pose), 0.0, "the pose must not open the mouth");
    let gpu = RgbaImage::from_raw(size, size, r.render(ctx, &pose).unwrap().to_vec()).unwrap();
    let cpu = facecast::render::reference::warp(&p.image, &p.geometry(), &pose, size);
    let (mean, big) = compare(&gpu, &cpu);
    let max = gpu
        .pixels()
        .zip(cpu.pixels())
        .flat_map(|(a, b)| (0..3).map(move |c| (i32::from(a[c]) - i32::from(b[c])).abs()))
        .max()
        .unwrap();
    // The pose must actually move pixels, or this compares two copies of the portrait.
    let rest = facecast::render::reference::warp(&p.image, &p.geometry(), &p.rig.rest_pose(), size);
    let (moved, _) = compare(&cpu, &rest);
    assert!(moved > 0.3, "the test pose barely moves anything (mean |d| {moved:.3})");
    eprintln!(
        "GPU vs CPU warp at {size} px: mean |d| {mean:.4}, max {max}; the pose moves mean |d| {moved:.3} from rest"
    );
    assert!(mean < 0.5 && big == 0.0 && max <= 8, "GPU vs CPU warp: mean |d| {mean:.3}, max {max}, share > 16: {big}");
}

#[test]
fn the_coarse_flow_grid_stays_within_a_pixel_of_the_exact_blend() {
    // The renderer evaluates the wide keypoints on a grid one sample per 4 px and interpolates (see
    // src/render/tiles.rs). Against the blend evaluated exactly at every pixel, at 512 px, where the
    // grid carries the jaw, chin and rings: the source points differ by a hundredth of a pixel on
    // average. The largest differences sit where almost no keypoint reaches (weights near the
    // background's) next to the turning jaw, and stay under a pixel for 999 pixels in 1000.
    let (p, _, _) = setup();
    let size = 512u32;
    let half = size as f32 / 2.0;
    for (name, params) in facecast::portrait::rig::sheet_poses() {
        if !["jaw_1.0", "yaw_+10", "pitch_+8"].contains(&name) {
            continue;
        }
        let mut pose = p.rig.rest_pose();
        p.rig.drive(&params, &mut pose);
        let coarse = facecast::render::reference::source_points(&p.geometry(), &pose, size);
        let exact = facecast::render::reference::exact_source_points(&p.geometry(), &pose, size);
        let mut err: Vec<f32> = coarse.iter().zip(&exact).map(|(a, b)| a.distance(*b) * half).collect();
        err.sort_by(f32::total_cmp);
        let mean = err.iter().sum::<f32>() / err.len() as f32;
        let p999 = err[err.len() * 999 / 1000];
        eprintln!("{name}: coarse vs exact source points: mean {mean:.4} px, 99.9th percentile {p999:.3} px");
        assert!(mean < 0.02 && p999 < 1.0, "{name}: mean {mean:.4} px, 99.9th percentile {p999:.3} px");
    }
}

#[test]
fn golden_pose_sheets_at_256_and_512() {
    // neutral, jaw 0.5/1.0, lip_round, lip_stretch, blink, yaw +-10, pitch +-8, roll +-8, smile,
    // brow_raise, gaze +-1; then all of them again with the mouth closed at rest by the rig.
    let cfg = Config::default();
    let img = portrait::load_image(&common::root().join("assets/portraits/astronaut.png")).unwrap();
    let mut models = FaceModels::load(&cfg.portrait).unwrap();
    let p = Portrait::analyze(img, "astronaut.png", &mut models, &cfg).unwrap();
    let ctx = GpuContext::new().unwrap();
    let sheets =
        [("poses", facecast::portrait::rig::sheet_poses()), ("closed", facecast::portrait::rig::closed_sheet_poses())];
    for (size, (sheet, poses)) in [256u32, 512].into_iter().flat_map(|s| sheets.iter().map(move |p| (s, p))) {
        check_sheet(&p, &ctx, poses, sheet, size);
    }
}

/// Renders `poses` of portrait `p` at `size` and compares each with its cell of the golden contact
/// sheet tests/data/golden/{sheet}_{size}.png (written instead with FACECAST_UPDATE_GOLDEN set).
fn check_sheet(p: &Portrait, ctx: &GpuContext, poses: &[(&str, MotionParams)], sheet: &str, size: u32) {
    let mut r = WarpRenderer::new(ctx, &p.image, &p.geometry(), frame(size)).unwrap();
    let frames: Vec<RgbaImage> = poses.iter().map(|(_, params)| render(p, ctx, &mut r, *params)).collect();
    let golden_path = common::data(&format!("golden/{sheet}_{size}.png"));
    if std::env::var_os("FACECAST_UPDATE_GOLDEN").is_some() {
        facecast::output::contact_sheet(&frames, &[], 4, size).save(&golden_path).unwrap();
    }
    let golden = image::open(&golden_path).expect("golden sheet").to_rgba8();
    let cell = size + 4;
    for (i, ((name, _), frame)) in poses.iter().zip(&frames).enumerate() {
        let (x0, y0) = ((i % 4) as u32 * cell + 4, (i / 4) as u32 * (cell + (size / 24).max(4) + 4) + 4);
        let want = image::imageops::crop_imm(&golden, x0, y0, size, size).to_image();
        let (mean, big) = compare(frame, &want);
        if mean > 1.0 || big > 0.002 {
            let dir = common::scratch(&format!("{sheet}_{size}"));
            frame.save(dir.join(format!("{name}.png"))).unwrap();
            want.save(dir.join(format!("{name}_golden.png"))).unwrap();
            panic!("{size} px {name}: mean |d| {mean:.3}, {:.3}% off by > 16 (see {})", big * 100.0, dir.display());
        }
    }
}

#[test]
fn background_holds_still_while_the_head_moves_and_speaks() {
    use facecast::config::IdleConfig;
    use facecast::motion::idle::IdleMotion;
    let (p, ctx, mut r) = setup();
    let rest = render(&p, &ctx, &mut r, MotionParams::default());
    // Face centre and width (cheek to cheek, landmarks 234 and 454) in output pixels.
    let to_px = |v: glam::Vec2| (v + 1.0) * 0.5 * SIZE as f32;
    let centre = to_px(p.framing.frame_from_image(p.face.centre));
    let face_width = to_px(p.framing.frame_from_image(p.landmarks[454]))
        .distance(to_px(p.framing.frame_from_image(p.landmarks[234])));
    let far: Vec<(u32, u32)> = (0..SIZE)
        .flat_map(|y| (0..SIZE).map(move |x| (x, y)))
        .filter(|&(x, y)| glam::Vec2::new(x as f32 + 0.5, y as f32 + 0.5).distance(centre) > 1.5 * face_width)
        .collect();
    assert!(far.len() > (SIZE * SIZE / 5) as usize, "only {} background pixels", far.len());
    // Ten seconds of speech-like jaw motion with every idle motion on, sampled at 10 frames per second.
    let mut idle = IdleMotion::new(&IdleConfig::default());
    let (mut sum, mut n, mut worst) = (0.0f64, 0usize, 0.0f64);
    for hop in 0..1000 {
        let speech = MotionParams { jaw_open: if hop % 40 < 18 { 0.8 } else { 0.05 }, ..Default::default() };
        let mut params = speech;
        idle.step(0.01, &speech, &mut params);
        if hop % 10 != 0 {
            continue;
        }
        let frame = render(&p, &ctx, &mut r, params);
        let diff: f64 = far
            .iter()
            .map(|&(x, y)| {
                let (a, b) = (frame.get_pixel(x, y), rest.get_pixel(x, y));
                (0..3).map(|c| f64::from((i32::from(a[c]) - i32::from(b[c])).abs())).sum::<f64>() / 3.0
            })
            .sum::<f64>()
            / far.len() as f64;
        sum += diff;
        worst = worst.max(diff);
        n += 1;
    }
    let mean = sum / n as f64;
    eprintln!("background beyond 1.5 face widths: mean change {mean:.3}/255 over {n} frames, worst frame {worst:.3}");
    assert!(mean <= 2.0, "the background moves: mean change {mean:.3}/255 (worst frame {worst:.3})");
}

#[test]
fn tiles_held_from_earlier_frames_are_what_a_fresh_renderer_draws() {
    // The renderer skips the tiles that no keypoint reaches and that already hold the still image
    // (render/tiles.rs, TileDraw::Held; at this size about 7% of them at rest). Through a sequence that
    // moves the head (so tiles change between reached and not), blinks, looks and opens the mouth, every
    // frame must be exactly the one a renderer that has drawn nothing before draws for the same pose.
    let (p, ctx, mut r) = setup();
    let poses = [
        MotionParams::default(),
        MotionParams { head_yaw_deg: 10.0, jaw_open: 0.6, breath: 1.0, ..Default::default() },
        MotionParams { head_pitch_deg: -8.0, head_roll_deg: 4.0, blink_left: 1.0, gaze_x: 0.5, ..Default::default() },
        MotionParams { head_yaw_deg: -10.0, lip_close: 1.0, breath: -1.0, ..Default::default() },
        MotionParams::default(),
    ];
    for (i, params) in poses.into_iter().enumerate() {
        let drawn = render(&p, &ctx, &mut r, params);
        let mut fresh = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame(SIZE)).unwrap();
        let expected = render(&p, &ctx, &mut fresh, params);
        let differ = drawn.pixels().zip(expected.pixels()).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "pose {i}: {differ} pixels differ from a fresh renderer's");
    }
}

#[test]
fn background_modes_cut_the_person_out_with_the_selfie_mask() {
    use facecast::portrait::segment::{Segmenter, mask_into_alpha};
    use facecast::render::Backdrop;
    let (mut p, ctx, _) = setup();
    let source = facecast::onnx::ModelSource::Bundled {
        name: "selfie_segmentation.onnx",
        bytes: facecast::assets::SELFIE_SEGMENTATION_ONNX,
    };
    let mut seg = Segmenter::new(facecast::onnx::session(&source, 1).unwrap());
    mask_into_alpha(&mut seg, &mut p.image, true).unwrap();
    let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame(SIZE)).unwrap();
    let face = p.rig.keypoints.iter().find(|k| k.landmark == 1).unwrap().src; // nose tip
    let at = |img: &RgbaImage, z: glam::Vec2| {
        let q = (z + 1.0) * 0.5 * SIZE as f32;
        *img.get_pixel(q.x as u32, q.y as u32)
    };
    // The wall above her right shoulder, near the frame's top-left corner, and her nose.
    let wall = glam::Vec2::new(-0.9, -0.7);
    r.set_backdrop(&ctx, &Backdrop::Alpha);
    let alpha = render(&p, &ctx, &mut r, MotionParams { jaw_open: 0.4, ..Default::default() });
    assert!(at(&alpha, wall)[3] < 20, "wall alpha {:?}", at(&alpha, wall));
    assert_eq!(at(&alpha, face)[3], 255, "face alpha");
    r.set_backdrop(&ctx, &Backdrop::Color([0.0, 0.0, 1.0]));
    let blue = render(&p, &ctx, &mut r, MotionParams { jaw_open: 0.4, ..Default::default() });
    let w = at(&blue, wall);
    assert!(w[2] > 230 && w[0] < 30 && w[3] == 255, "wall over blue {w:?}");
    assert_eq!(at(&blue, face), at(&alpha, face), "the face is the same over any background");
    r.set_backdrop(&ctx, &Backdrop::Keep);
    let keep = render(&p, &ctx, &mut r, MotionParams { jaw_open: 0.4, ..Default::default() });
    assert_eq!(at(&keep, wall)[3], 255);
    assert!(at(&keep, wall)[0] > 150, "the portrait's own wall is light: {:?}", at(&keep, wall));
}

/// Whether frame point `p` lies inside the polygon through the rig keypoints `outline` (source
/// positions).
fn inside(p: &Portrait, outline: &[usize], q: glam::Vec2) -> bool {
    let pts: Vec<glam::Vec2> = outline.iter().map(|&i| p.rig.keypoints[i].src).collect();
    facecast::portrait::rig::inside_polygon(&pts, q)
}

/// Pixels of `img` (side `size`) inside the outline, as (x, y, rgb).
fn pixels_in(p: &Portrait, img: &RgbaImage, outline: &[usize]) -> Vec<(f32, f32, [f32; 3])> {
    let size = img.width();
    img.enumerate_pixels()
        .filter_map(|(x, y, c)| {
            let q = (glam::Vec2::new(x as f32, y as f32) + 0.5) / size as f32 * 2.0 - 1.0;
            inside(p, outline, q).then(|| (x as f32, y as f32, [0, 1, 2].map(|i| f32::from(c[i]))))
        })
        .collect()
}

#[test]
fn lips_closed_over_smiling_teeth_leave_no_ghost_of_them() {
    // The bundled portrait smiles with its upper teeth showing. Closed by the rig (lip_close = 1), the
    // lips meet: inside the outer lip outline no teeth-coloured pixel (light, and yellow-white rather
    // than the pink of a lip highlight) may remain but a few at the corners.
    let (p, ctx, _) = setup();
    let size = 512;
    let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame(size)).unwrap();
    let teeth_coloured = |[r, g, b]: [f32; 3]| r > 170.0 && g / r > 0.9 && g - b > -2.0;
    let teeth =
        |img: &RgbaImage| pixels_in(&p, img, &p.rig.outer_lip_outline).iter().filter(|q| teeth_coloured(q.2)).count();
    let rest = render(&p, &ctx, &mut r, MotionParams::default());
    let open = teeth(&rest);
    // The lips themselves have a few such pixels (highlights): those on the lips, outside the opening.
    let opening = pixels_in(&p, &rest, &p.rig.inner_lip_outline).iter().filter(|q| teeth_coloured(q.2)).count();
    let highlights = open - opening;
    for params in [
        MotionParams { lip_close: 1.0, ..Default::default() },
        MotionParams { lip_close: 1.0, smile: 1.0, ..Default::default() },
        MotionParams { lip_close: 1.0, lip_round: 1.0, ..Default::default() },
        MotionParams { lip_close: 1.0, head_yaw_deg: 8.0, ..Default::default() },
    ] {
        let closed = teeth(&render(&p, &ctx, &mut r, params));
        eprintln!(
            "teeth-coloured pixels in the lips: {open} open ({highlights} on the lips), {closed} closed ({params:?})"
        );
        assert!(opening > 150, "the portrait shows only {opening} teeth pixels");
        assert!(
            closed <= highlights + opening / 20,
            "closed lips show {closed} teeth-coloured pixels: the lips' own {highlights} highlights and {} of the \
             {opening} teeth ({params:?})",
            closed.saturating_sub(highlights)
        );
    }
}

#[test]
fn gaze_turns_the_iris_and_leaves_the_lids() {
    let (p, ctx, _) = setup();
    let size = 512;
    let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame(size)).unwrap();
    let mut draw = |params: MotionParams| render(&p, &ctx, &mut r, params);
    let (rest, right, left) = (
        draw(MotionParams::default()),
        draw(MotionParams { gaze_x: 1.0, ..Default::default() }),
        draw(MotionParams { gaze_x: -1.0, ..Default::default() }),
    );
    // The iris is the darkest stretch of the eye's middle rows: its centre (the darkest 7-px window of
    // column means) moves with the gaze, in both eyes.
    let iris_x = |img: &RgbaImage, eye: usize| {
        let pts = pixels_in(&p, img, &p.rig.eye_outlines[eye]);
        let (y_lo, y_hi) = pts.iter().fold((f32::MAX, f32::MIN), |(lo, hi), q| (lo.min(q.1), hi.max(q.1)));
        let (band_lo, band_hi) = (y_lo + 0.3 * (y_hi - y_lo), y_lo + 0.7 * (y_hi - y_lo));
        let mut columns = std::collections::BTreeMap::<i32, (f32, f32)>::new();
        for (x, _, [r, g, b]) in pts.iter().filter(|q| q.1 >= band_lo && q.1 <= band_hi) {
            let e = columns.entry(*x as i32).or_default();
            *e = (e.0 + 0.299 * r + 0.587 * g + 0.114 * b, e.1 + 1.0);
        }
        let means: Vec<(i32, f32)> = columns.iter().map(|(&x, &(sum, n))| (x, sum / n)).collect();
        assert!(means.len() > 20, "eye {eye}: only {} columns", means.len());
        let best = means
            .windows(7)
            .min_by(|a, b| {
                let m = |w: &[(i32, f32)]| w.iter().map(|q| q.1).sum::<f32>();
                m(a).total_cmp(&m(b))
            })
            .unwrap();
        best[3].0 as f32
    };
    for eye in 0..2 {
        let (x0, xr, xl) = (iris_x(&rest, eye), iris_x(&right, eye), iris_x(&left, eye));
        eprintln!("eye {eye}: iris centre x {x0:.1} ahead, {xr:.1} looking right, {xl:.1} looking left");
        assert!(xr > x0 + 1.5 && xl < x0 - 1.5, "eye {eye}: iris at {x0:.1}, {xr:.1} (right), {xl:.1} (left)");
    }
    // Outside the eyes nothing changes.
    let changed = rest
        .enumerate_pixels()
        .filter(|&(x, y, a)| {
            let b = right.get_pixel(x, y);
            let q = (glam::Vec2::new(x as f32, y as f32) + 0.5) / size as f32 * 2.0 - 1.0;
            // Within two pixels of an eye's outline, or inside it.
            let near_eye = p.rig.eye_outlines.iter().any(|o| {
                let seg = |i: usize| {
                    let (a, b) = (p.rig.keypoints[o[i]].src, p.rig.keypoints[o[(i + 1) % 16]].src);
                    let t = ((q - a).dot(b - a) / (b - a).length_squared().max(1e-12)).clamp(0.0, 1.0);
                    q.distance(a + (b - a) * t)
                };
                (0..16).any(|i| seg(i) < 2.0 * 2.0 / size as f32) || inside(&p, o, q)
            });
            !near_eye && (0..3).any(|c| a[c].abs_diff(b[c]) > 1)
        })
        .count();
    assert_eq!(changed, 0, "{changed} pixels outside the eyes changed with the gaze");
}

#[test]
fn a_brow_raise_lifts_the_brows_without_copying_the_lashes_up() {
    let (p, ctx, _) = setup();
    let size = 512;
    let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame(size)).unwrap();
    let mut draw = |params: MotionParams| render(&p, &ctx, &mut r, params);
    let (rest, raised) = (draw(MotionParams::default()), draw(MotionParams { brow_raise: 1.0, ..Default::default() }));
    let to_px = |v: glam::Vec2| (v + 1.0) * 0.5 * size as f32;
    let luma = |img: &RgbaImage, x: u32, y: u32| {
        let c = img.get_pixel(x, y);
        0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2])
    };
    // A column through each brow's middle (105 / 334), down to its upper lid (159 / 386). The brow's
    // profile (from 5 px above the landmark to 8 px below) reappears higher up: the shift that matches
    // it best is the rise. Below the raised brow, the skin down to the lashes stays as light as at
    // rest, give or take the lid's shading, which the stretch moves up a little (a copied lash line
    // would be a dark band there, 60 to 100 darker).
    for (brow, lid) in [(105, 159), (334, 386)] {
        let at = |lm: usize| to_px(p.rig.keypoints.iter().find(|k| k.landmark == lm).unwrap().src);
        let (b, l) = (at(brow), at(lid));
        let xs = (b.x.round() as u32 - 3)..=(b.x.round() as u32 + 3);
        let profile = |img: &RgbaImage, y: u32| xs.clone().map(|x| luma(img, x, y)).sum::<f32>() / 7.0;
        let brow_rows = (b.y.round() as u32 - 5)..=(b.y.round() as u32 + 8);
        let mismatch =
            |k: u32| brow_rows.clone().map(|y| (profile(&rest, y) - profile(&raised, y - k)).abs()).sum::<f32>();
        let rise = (0..16).min_by(|&a, &c| mismatch(a).total_cmp(&mismatch(c))).unwrap();
        // 0.04 face heights, in pixels.
        let want = 0.04 * p.face.height_px / p.framing.side * size as f32;
        eprintln!("brow {brow}: rose {rise} px (the rig asks {want:.1})");
        assert!((rise as f32 - want).abs() <= 2.0, "brow {brow} rose {rise} px, not {want:.1}");
        let bottom = (l.y - 5.0) as u32;
        let below = |img: &RgbaImage, from: u32| (from..bottom).map(|y| profile(img, y)).fold(f32::MAX, f32::min);
        let (skin, band) = (below(&rest, *brow_rows.end()), below(&raised, *brow_rows.end() - rise));
        eprintln!("  darkest row under it: {band:.0} raised, {skin:.0} at rest");
        assert!(band > skin - 35.0, "brow {brow}: a dark band ({band:.0}) under the raised brow (skin {skin:.0})");
    }
}

#[test]
fn a_closed_mouth_portrait_opens_onto_synthetic_teeth() {
    // A portrait whose lips are closed: the bundled one, rendered with its lips closed by the rig and
    // analysed afresh. It shows no teeth of its own, so `[rig] teeth = "auto"` synthesises them: an
    // opening mouth shows a light row of upper teeth under the upper lip, and a dark cavity below it.
    let (p, ctx, _) = setup();
    let size = 512;
    let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), frame(size)).unwrap();
    assert!(!r.synthetic_teeth(), "the bundled portrait shows its own teeth");
    let closed = render(&p, &ctx, &mut r, MotionParams { lip_close: 1.0, ..Default::default() });
    let dir = common::scratch("closed_mouth_portrait");
    closed.save(dir.join("portrait.png")).unwrap();
    let mut cfg = Config::default();
    let mut models = FaceModels::load(&cfg.portrait).unwrap();
    let q = Portrait::analyze(closed.clone(), "closed.png", &mut models, &cfg).unwrap();
    assert!(
        WarpRenderer::new(&ctx, &q.image, &q.geometry(), frame(size)).unwrap().synthetic_teeth(),
        "the closed-mouth portrait gets synthetic teeth"
    );
    cfg.rig.teeth = facecast::config::Teeth::Portrait;
    let q_own = Portrait::analyze(closed, "closed.png", &mut models, &cfg).unwrap();

    // (teeth-coloured pixels, dark pixels) in the upper and the lower half of the driving opening.
    let census = |q: &Portrait, params: MotionParams, name: &str| {
        let mut r = WarpRenderer::new(&ctx, &q.image, &q.geometry(), frame(size)).unwrap();
        let img = render(q, &ctx, &mut r, params);
        img.save(dir.join(format!("{name}.png"))).unwrap();
        let mut pose = q.rig.rest_pose();
        q.rig.drive(&params, &mut pose);
        let pts: Vec<glam::Vec2> = q.rig.inner_lip_outline.iter().map(|&i| pose.drv[i]).collect();
        let (up, low) = (pose.drv[q.rig.inner_upper()], pose.drv[q.rig.inner_lower()]);
        let mut counts = [[0usize; 2]; 2];
        for (x, y, c) in img.enumerate_pixels() {
            let z = (glam::Vec2::new(x as f32, y as f32) + 0.5) / size as f32 * 2.0 - 1.0;
            if !facecast::portrait::rig::inside_polygon(&pts, z) {
                continue;
            }
            let half = usize::from((z - up).dot(q.rig.down) > 0.5 * (low - up).dot(q.rig.down));
            let [r, g, b] = [0, 1, 2].map(|i| f32::from(c[i]));
            let luma = 0.299 * r + 0.587 * g + 0.114 * b;
            counts[half][0] += usize::from(luma > 150.0 && g / r > 0.85 && b / r > 0.7);
            counts[half][1] += usize::from(luma < 60.0);
        }
        counts
    };
    let open = MotionParams { jaw_open: 1.0, ..Default::default() };
    let synth = census(&q, open, "synthetic_jaw100");
    let own = census(&q_own, open, "own_jaw100");
    census(&q, MotionParams { jaw_open: 0.5, ..Default::default() }, "synthetic_jaw050");
    eprintln!("[upper, lower] x [teeth, dark]: synthetic {synth:?}, portrait's own {own:?}");
    assert!(synth[0][0] > 150, "upper half of the opening: only {} teeth pixels ({synth:?})", synth[0][0]);
    assert!(synth[1][1] > 150, "lower half of the opening: only {} dark pixels ({synth:?})", synth[1][1]);
    // Without synthesis the same opening is cavity: the teeth come from the synthesis.
    assert!(own[0][0] < synth[0][0] / 10, "the portrait's own (closed) opening shows teeth: {own:?}");
    // The pose sheet of this closed-mouth portrait, against its golden (looked at).
    check_sheet(&q, &ctx, &facecast::portrait::rig::sheet_poses(), "closed_portrait", size);
}
