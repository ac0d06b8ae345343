//! `--portrait camera`, through the CLI: the countdown, the face check and the saved PNG, headless and
//! with the preview window under Xvfb (then the avatar's own window in the same process). No camera is
//! attached on the machines CI runs on: `FACECAST_CAMERA_STANDIN` plays a video of a face (rendered by
//! facecast from the bundled portrait) in the camera's place, through the same frame source trait a
//! camera uses. A real camera (nokhwa) was not tried.

mod common;
#[path = "common/display.rs"]
mod display;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use display::start_xvfb;

fn facecast(dir: &Path, standin: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facecast"));
    cmd.current_dir(dir).env("FACECAST_LOG", "facecast=info").env("FACECAST_CAMERA_STANDIN", standin);
    cmd
}

/// A short video of the bundled portrait talking, as a camera would see a person.
fn face_video(dir: &Path) -> PathBuf {
    let video = dir.join("face.mp4");
    let out = Command::new(env!("CARGO_BIN_EXE_facecast"))
        .current_dir(common::root())
        .args(["render", "--portrait", "assets/portraits/astronaut.png", "--audio", "assets/speech/goforward.wav"])
        .args(["--size", "320", "--output"])
        .arg(&video)
        .output()
        .unwrap();
    assert!(out.status.success(), "render: {}", String::from_utf8_lossy(&out.stderr));
    video
}

fn speech() -> String {
    common::root().join("assets/speech/goforward.wav").display().to_string()
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("facecast-portrait-"))
        .collect();
    found.sort();
    found
}

fn check_taken(out: &Output, dir: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "facecast live failed: {stderr}");
    for n in ["3", "2", "1"] {
        assert!(stderr.contains(&format!("look at the camera: {n}")) || stderr.contains("window open"), "{stderr}");
    }
    let saved = snapshots(dir);
    assert_eq!(saved.len(), 1, "one PNG saved beside the run: {saved:?}");
    let image = image::open(&saved[0]).unwrap();
    assert_eq!((image.width(), image.height()), (320, 320), "the camera's frame, whole");
    assert!(stderr.contains("portrait taken"), "{stderr}");
    // The saved picture is a portrait facecast takes as a file.
    let reuse = Command::new(env!("CARGO_BIN_EXE_facecast"))
        .current_dir(dir)
        .args(["live", "--headless", "--duration", "1", "--input", &speech(), "--portrait"])
        .arg(&saved[0])
        .output()
        .unwrap();
    assert!(reuse.status.success(), "{}", String::from_utf8_lossy(&reuse.stderr));
}

#[test]
fn headless_the_countdown_goes_to_the_log_and_the_picture_is_saved() {
    let dir = common::scratch("snapshot_headless");
    let video = face_video(&dir);
    let out = facecast(&dir, &video)
        .args(["live", "--portrait", "camera", "--headless", "--duration", "1", "--input", &speech()])
        .output()
        .unwrap();
    check_taken(&out, &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (three, one) = (stderr.find("look at the camera: 3").unwrap(), stderr.find("look at the camera: 1").unwrap());
    assert!(three < one, "counts down: {stderr}");
}

#[test]
fn a_preview_window_counts_down_then_the_avatar_window_opens() {
    let dir = common::scratch("snapshot_window");
    let video = face_video(&dir);
    let (_x, display) = start_xvfb();
    let out = facecast(&dir, &video)
        .args(["live", "--portrait", "camera:1", "--duration", "2", "--input", &speech()])
        .env("DISPLAY", &display)
        .output()
        .unwrap();
    check_taken(&out, &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("window open").count(), 2, "the preview, then the avatar: {stderr}");
}

#[test]
fn a_picture_without_a_face_is_the_same_error_as_a_file_and_saves_nothing() {
    let dir = common::scratch("snapshot_noface");
    let frames = dir.join("wall");
    std::fs::create_dir_all(&frames).unwrap();
    let wall = image::RgbaImage::from_fn(320, 240, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255]));
    wall.save(frames.join("0001.png")).unwrap();
    let out = facecast(&dir, &frames)
        .args(["live", "--portrait", "camera", "--headless", "--duration", "1", "--input", &speech()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no face found in") && !stderr.contains("panicked"), "{stderr}");
    assert!(snapshots(&dir).is_empty(), "a picture without a face was saved");
}
