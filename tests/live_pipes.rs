//! The live loop's pipes, through the CLI as a user runs them: `--output y4m:-` into ffprobe and
//! ffmpeg, and `--output raw:-` with alpha. The virtual camera (`--output v4l2:`) is tested against a
//! stand-in device in src/output/v4l2.rs; `a_real_v4l2loopback_device_takes_the_frames` here runs only
//! where a v4l2loopback device exists and says so when it is skipped (no kernel module can be loaded on
//! the machines CI runs on).

mod common;

use std::process::{Command, Stdio};

fn facecast() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facecast"));
    cmd.current_dir(common::root()).env("FACECAST_LOG", "facecast=warn");
    cmd
}

/// A clip longer than the runs below: real speech, the lip-sync fixture.
fn speech() -> String {
    common::data("lipsync/real_clips.wav").display().to_string()
}

#[test]
fn a_y4m_pipe_plays_in_ffprobe_and_ffmpeg_at_the_frame_rate() {
    let dir = common::scratch("live_pipes_y4m");
    let stream = dir.join("out.y4m");
    let out = facecast()
        .args(["live", "--input", &speech(), "--size", "320", "--duration", "5", "--output", "y4m:-"])
        .stdout(std::fs::File::create(&stream).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "facecast live failed: {stderr}");
    assert!(stderr.contains("live: "), "the summary goes to standard error: {stderr}");

    // Standard output holds the stream and nothing else: the header, then whole frames.
    let bytes = std::fs::read(&stream).unwrap();
    let header_len = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let header = std::str::from_utf8(&bytes[..header_len]).unwrap();
    assert!(header.starts_with("YUV4MPEG2 W320 H320 F30:1 Ip A1:1 C420jpeg"), "{header}");
    let per_frame = 6 + 320 * 320 * 3 / 2;
    assert_eq!((bytes.len() - header_len) % per_frame, 0, "a log line or a partial frame in the stream");
    let frames = (bytes.len() - header_len) / per_frame;
    assert!(frames >= 145, "{frames} frames in 5 s at 30 fps");

    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries", "stream=width,height,r_frame_rate,nb_read_frames"])
        .args(["-of", "csv=p=0"])
        .arg(&stream)
        .output()
        .expect("ffprobe (scripts/setup.sh installs ffmpeg)");
    let fields = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    assert_eq!(fields, format!("320,320,30/1,{frames}"), "ffprobe: {}", String::from_utf8_lossy(&probe.stderr));

    // ffmpeg re-encodes it without a single warning.
    let encode = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "warning", "-i"])
        .arg(&stream)
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-y"])
        .arg(dir.join("re.mp4"))
        .output()
        .unwrap();
    let warnings = String::from_utf8_lossy(&encode.stderr);
    assert!(encode.status.success() && warnings.trim().is_empty(), "ffmpeg warned: {warnings}");
}

#[test]
fn a_call_app_frame_size_goes_down_the_pipe() {
    // 640x480, as call apps and v4l2loopback devices expect: the face fills the height.
    let out = facecast()
        .args(["live", "--input", &speech(), "--size", "640x480", "--duration", "2", "--output", "y4m:-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "facecast live failed: {stderr}");
    let header_len = out.stdout.iter().position(|&b| b == b'\n').unwrap() + 1;
    let header = std::str::from_utf8(&out.stdout[..header_len]).unwrap();
    assert!(header.starts_with("YUV4MPEG2 W640 H480 F30:1"), "{header}");
    let per_frame = 6 + 640 * 480 * 3 / 2;
    assert_eq!((out.stdout.len() - header_len) % per_frame, 0, "a partial frame in the stream");
    let frames = (out.stdout.len() - header_len) / per_frame;
    assert!(frames >= 55, "{frames} frames in 2 s at 30 fps");
}

#[test]
fn raw_frames_on_standard_output_keep_the_alpha() {
    let out = facecast()
        .args(["live", "--input", &speech(), "--size", "128", "--duration", "2", "--background", "alpha"])
        .args(["--output", "raw:-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "facecast live failed: {stderr}");
    let frame_bytes = 128 * 128 * 4;
    assert_eq!(out.stdout.len() % frame_bytes, 0, "a log line or a partial frame on standard output");
    let frames = out.stdout.len() / frame_bytes;
    assert!(frames >= 55, "{frames} frames in 2 s at 30 fps");
    let last = &out.stdout[(frames - 1) * frame_bytes..];
    let alpha: Vec<u8> = last.chunks_exact(4).map(|p| p[3]).collect();
    let (clear, opaque) = (alpha.iter().filter(|&&a| a == 0).count(), alpha.iter().filter(|&&a| a == 255).count());
    assert!(clear > 1000 && opaque > 1000, "the person mask is in the alpha: {clear} clear, {opaque} opaque pixels");
}

#[test]
fn two_outputs_on_standard_output_or_a_missing_device_are_clear_errors() {
    let out =
        facecast().args(["live", "--input", &speech(), "--output", "y4m:-", "--output", "raw:-"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("only one --output can go to standard output"), "{stderr}");

    let out = facecast()
        .args(["live", "--input", &speech(), "--duration", "1", "--output", "v4l2:/dev/facecast-no-such-video"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/dev/facecast-no-such-video") && stderr.contains("modprobe v4l2loopback"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Where a v4l2loopback device exists (`modprobe v4l2loopback ...`), facecast writes to it and another
/// program reads the frames back. Skipped, and saying so, elsewhere.
#[test]
fn a_real_v4l2loopback_device_takes_the_frames() {
    let loopback = std::fs::read_dir("/sys/class/video4linux").ok().and_then(|entries| {
        entries.flatten().find_map(|e| {
            // v4l2loopback's devices are virtual (no hardware behind them), named by card_label.
            let real = std::fs::canonicalize(e.path()).unwrap_or_default();
            let name = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
            (real.starts_with("/sys/devices/virtual") || name.contains("facecast"))
                .then(|| format!("/dev/{}", e.file_name().to_string_lossy()))
        })
    });
    let Some(device) = loopback else {
        eprintln!("skipped: no v4l2loopback device here (no kernel module can be loaded on this machine)");
        return;
    };
    let mut live = facecast()
        .args(["live", "--input", &speech(), "--size", "320", "--duration", "6"])
        .arg("--output")
        .arg(format!("v4l2:{device}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let read = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-f", "v4l2", "-i", &device, "-frames:v", "30"])
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let status = live.wait().unwrap();
    assert!(status.success(), "facecast live on {device} failed");
    assert!(read.status.success(), "ffmpeg could not read {device}: {}", String::from_utf8_lossy(&read.stderr));
}
