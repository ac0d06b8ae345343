//! Face detection and Face Mesh on the bundled portrait land where shared/assets/README.md says they
//! do (measured there with MediaPipe's own pipeline), and bad portraits are clear errors.

mod common;

use facecast::Config;
use facecast::portrait::{self, FaceModels, Portrait, PortraitError};
use glam::Vec2;

fn astronaut() -> Portrait {
    let cfg = Config::default();
    let img = portrait::load_image(&common::root().join("assets/portraits/astronaut.png")).unwrap();
    let mut models = FaceModels::load(&cfg.portrait).unwrap();
    Portrait::analyze(img, "astronaut.png", &mut models, &cfg).unwrap()
}

#[test]
fn landmarks_land_where_the_asset_readme_says() {
    let p = astronaut();
    assert!(p.detection.score > 0.8, "score {}", p.detection.score);
    // (Face Mesh index, expected image position, what it is)
    let expected = [
        (61, (203.0, 139.0), "mouth corner (left in image)"),
        (291, (247.0, 142.0), "mouth corner (right in image)"),
        (13, (224.0, 143.0), "upper inner lip"),
        (14, (224.0, 149.0), "lower inner lip"),
        (1, (224.0, 131.0), "nose tip"),
        (152, (223.0, 175.0), "chin"),
    ];
    for (idx, (x, y), what) in expected {
        let got = p.landmarks[idx];
        let d = got.distance(Vec2::new(x, y));
        assert!(
            d <= 4.0,
            "{what} (landmark {idx}) at ({:.1}, {:.1}), expected ({x}, {y}): {d:.1} px off",
            got.x,
            got.y
        );
    }
    // The face is about 95 px; the crop frames it and stays inside the 512x512 image.
    assert!((80.0..120.0).contains(&p.face.height_px), "face height {}", p.face.height_px);
    assert!(p.framing.origin.x >= 0.0 && p.framing.origin.y >= 0.0);
    assert!(p.framing.origin.x + p.framing.side <= 512.0 && p.framing.origin.y + p.framing.side <= 512.0);
}

#[test]
fn rig_keypoints_sit_on_the_parts_an_independent_detector_finds() {
    // The rig places its keypoints on Face Mesh landmarks by a table of indices; BlazeFace, a different
    // model, finds the eyes and the mouth on its own. Each region's keypoints must sit on its part of
    // the face as BlazeFace sees it: a wrong index in the table, a landmark model that drifted or a
    // framing error moves a region off its part.
    use facecast::portrait::rig::Region;
    let p = astronaut();
    let d = &p.detection;
    let frame = |q: Vec2| p.framing.frame_from_image(q);
    let (eyes, mouth) = ([frame(d.right_eye), frame(d.left_eye)], frame(d.mouth));
    let eye_gap = eyes[0].distance(eyes[1]);
    let down = p.rig.down;
    let mean = |region: Region| {
        let pts: Vec<Vec2> = p.rig.keypoints.iter().filter(|k| k.region == region).map(|k| k.src).collect();
        assert!(!pts.is_empty(), "no {region:?} keypoint");
        pts.iter().sum::<Vec2>() / pts.len() as f32
    };
    for region in [Region::UpperLip, Region::LowerLip, Region::MouthCorner] {
        let off = mean(region).distance(mouth) / eye_gap;
        assert!(off < 0.3, "{region:?} keypoints sit {off:.2} eye gaps from BlazeFace's mouth");
    }
    assert!((mean(Region::LowerLip) - mean(Region::UpperLip)).dot(down) > 0.0, "the lower lip is not below the upper");
    let chin_below_mouth = (mean(Region::Chin) - mouth).dot(down) / eye_gap;
    assert!((0.3..1.2).contains(&chin_below_mouth), "the chin sits {chin_below_mouth:.2} eye gaps below the mouth");
    // Eye keypoints (corners and lids) lie on the eye line, within half an eye's width of an eye centre;
    // a brow is about a third of an eye gap above it.
    let right = p.rig.right;
    for k in p.rig.keypoints.iter().filter(|k| k.region == Region::Eye) {
        let eye = if k.src.distance(eyes[0]) < k.src.distance(eyes[1]) { eyes[0] } else { eyes[1] };
        let (across, up_down) = ((k.src - eye).dot(right) / eye_gap, (k.src - eye).dot(down) / eye_gap);
        assert!(
            across.abs() < 0.4 && up_down.abs() < 0.15,
            "an eye keypoint (landmark {}) sits {across:.2} across and {up_down:.2} down from its eye, in eye gaps",
            k.landmark
        );
    }
    for k in &p.rig.keypoints {
        assert!(k.src.x.abs() < 1.0 && k.src.y.abs() < 1.0, "keypoint {k:?} outside the frame");
    }
    // The smiling source already shows teeth: its inner lips are apart at rest.
    let rest = p.rig.rest_mouth_open();
    assert!(rest > 0.1 && rest < 0.8, "rest opening {rest}");
}

#[test]
fn a_portrait_without_a_face_is_a_clear_error() {
    // A smooth colour field: an image, but no face.
    let img = image::RgbaImage::from_fn(256, 256, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255]));
    let cfg = Config::default();
    let mut models = FaceModels::load(&cfg.portrait).unwrap();
    let err = Portrait::analyze(img, "gradient.png", &mut models, &cfg).err().expect("no face");
    assert!(matches!(err, PortraitError::NoFace { .. }), "{err:?}");
    assert!(err.to_string().contains("no face found in gradient.png"), "{err}");
}

#[test]
fn a_portrait_with_two_faces_is_a_clear_error() {
    // Two people side by side: the astronaut's head and shoulders twice.
    let one = portrait::load_image(&common::root().join("assets/portraits/astronaut.png")).unwrap();
    let half = image::imageops::crop_imm(&one, 128, 32, 256, 256).to_image();
    let mut two = image::RgbaImage::from_pixel(512, 256, image::Rgba([90, 90, 90, 255]));
    image::imageops::overlay(&mut two, &half, 0, 0);
    image::imageops::overlay(&mut two, &half, 256, 0);
    let cfg = Config::default();
    let mut models = FaceModels::load(&cfg.portrait).unwrap();
    let err = Portrait::analyze(two, "pair.png", &mut models, &cfg).err().expect("two faces");
    assert!(matches!(err, PortraitError::SeveralFaces { .. }), "{err:?}");
    assert!(err.to_string().contains("several faces in pair.png"), "{err}");
    // One of them alone is fine.
    let mut single = image::RgbaImage::from_pixel(512, 256, image::Rgba([90, 90, 90, 255]));
    image::imageops::overlay(&mut single, &half, 128, 0);
    Portrait::analyze(single, "single.png", &mut models, &cfg).expect("one face");
}

#[test]
fn non_images_and_missing_files_are_clear_errors() {
    let dir = common::scratch("portrait_bad");
    let text = dir.join("portrait.png");
    std::fs::write(&text, "not a picture").unwrap();
    assert!(matches!(portrait::load_image(&text), Err(PortraitError::NotAnImage { .. })));
    assert!(matches!(portrait::load_image(&dir.join("missing.png")), Err(PortraitError::Read { .. })));
    let tiny = dir.join("tiny.png");
    image::RgbaImage::new(16, 16).save(&tiny).unwrap();
    assert!(matches!(portrait::load_image(&tiny), Err(PortraitError::TooSmall { .. })));
}
