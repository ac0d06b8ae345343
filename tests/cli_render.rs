//! `facecast render` end to end, as a user runs it: a bundled clip to an MP4 checked with ffprobe and
//! ffmpeg, its motion JSONL checked against the audio, and bad inputs answered with clear errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn facecast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facecast"))
        .args(args)
        .env("FACECAST_LOG", "facecast=warn")
        .output()
        .expect("run facecast")
}

fn ffprobe_streams(path: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_streams", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe (scripts/setup.sh installs ffmpeg)");
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["streams"].as_array().unwrap().clone()
}

/// Decodes the MP4's video to RGB frames.
fn decode_frames(path: &Path, size: usize) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout.chunks_exact(size * size * 3).map(<[u8]>::to_vec).collect()
}

fn render_clip(dir: &Path, audio: &Path) -> (PathBuf, PathBuf, Output) {
    let mp4 = dir.join("out.mp4");
    let jsonl = dir.join("motion.jsonl");
    let out = facecast(&[
        "render",
        "--portrait",
        common::root().join("assets/portraits/astronaut.png").to_str().unwrap(),
        "--audio",
        audio.to_str().unwrap(),
        "--output",
        mp4.to_str().unwrap(),
        "--size",
        "256",
        "--fps",
        "30",
        "--motion-out",
        jsonl.to_str().unwrap(),
    ]);
    (mp4, jsonl, out)
}

#[test]
fn renders_a_talking_mp4_in_sync_with_its_motion() {
    let dir = common::scratch("cli_e2e");
    let audio_path = common::root().join("assets/speech/goforward.wav");
    let (mp4, jsonl, out) = render_clip(&dir, &audio_path);
    assert!(out.status.success(), "facecast failed: {}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("wrote"), "{summary}");

    // Streams: one H.264 video at 256x256, one audio; frame count = duration x fps (+-1).
    let audio = facecast::audio::decode_file(&audio_path).unwrap();
    let secs = audio.duration_secs();
    let streams = ffprobe_streams(&mp4);
    let video: Vec<_> = streams.iter().filter(|s| s["codec_type"] == "video").collect();
    let audio_streams: Vec<_> = streams.iter().filter(|s| s["codec_type"] == "audio").collect();
    assert_eq!(video.len(), 1, "{streams:?}");
    assert_eq!(audio_streams.len(), 1, "{streams:?}");
    assert_eq!(video[0]["codec_name"], "h264");
    assert_eq!(video[0]["width"], 256);
    // The file says it is synthetic (`[output] disclosure`, on by default), for programs to read.
    let tags = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format_tags=synthetic,comment", "-of", "json"])
        .arg(&mp4)
        .output()
        .unwrap();
    let tags: serde_json::Value = serde_json::from_slice(&tags.stdout).unwrap();
    assert_eq!(tags["format"]["tags"]["synthetic"], "true", "{tags}");
    assert!(tags["format"]["tags"]["comment"].as_str().unwrap().starts_with("AI-generated"), "{tags}");
    let frames: i64 = video[0]["nb_read_frames"].as_str().unwrap().parse().unwrap();
    let want = (secs * 30.0).round() as i64;
    assert!((frames - want).abs() <= 1, "{frames} frames for {secs:.3} s at 30 fps");
    let audio_secs: f64 = audio_streams[0]["duration"].as_str().unwrap().parse().unwrap();
    assert!((audio_secs - secs).abs() < 0.1, "audio stream {audio_secs} s vs {secs} s");

    // The motion JSONL: one object per frame, in order, with the documented fields.
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len() as i64, frames);
    for (n, r) in records.iter().enumerate() {
        assert_eq!(r["frame"], n);
        let t = r["t_secs"].as_f64().unwrap();
        assert!((t - n as f64 / 30.0).abs() < 1e-9);
        let kp = r["keypoints"].as_array().unwrap();
        assert_eq!(kp.len(), r["jacobians"].as_array().unwrap().len());
        assert!(kp.iter().all(|p| p[0].as_f64().unwrap().abs() <= 1.0 && p[1].as_f64().unwrap().abs() <= 1.0));
    }

    // Speech vs silence, from the audio itself: RMS in a 40 ms window around each frame's time.
    let rms: Vec<f64> = (0..records.len())
        .map(|n| {
            let c = (n as f64 / 30.0 * f64::from(audio.rate_hz)) as usize;
            let half = audio.rate_hz as usize / 50;
            let w = &audio.samples[c.saturating_sub(half)..(c + half).min(audio.samples.len())];
            (w.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / w.len().max(1) as f64).sqrt()
        })
        .collect();
    let peak = rms.iter().copied().fold(0.0, f64::max);
    let mean_open = |pick: &dyn Fn(f64) -> bool| {
        let v: Vec<f64> = records
            .iter()
            .zip(&rms)
            .filter(|(_, r)| pick(**r))
            .map(|(rec, _)| rec["mouth_open"].as_f64().unwrap())
            .collect();
        assert!(v.len() >= 5, "too few frames in a class");
        v.iter().sum::<f64>() / v.len() as f64
    };
    let speech = mean_open(&|r| r > 0.3 * peak);
    let silence = mean_open(&|r| r < 0.03 * peak);
    assert!(speech > silence + 0.15, "mean mouth_open: speech {speech:.3}, silence {silence:.3}");

    // The rendered opening follows the (smoothed) jaw_open that drove it, frame for frame, with no shift.
    let jaw: Vec<f64> = records.iter().map(|r| r["params"]["jaw_open"].as_f64().unwrap()).collect();
    let open: Vec<f64> = records.iter().map(|r| r["mouth_open"].as_f64().unwrap()).collect();
    let corr_at = |lag: usize, mouth_later: bool| {
        let (x, y) = if mouth_later {
            (&jaw[..jaw.len() - lag], &open[lag..])
        } else {
            (&jaw[lag..], &open[..open.len() - lag])
        };
        let (mx, my) = (x.iter().sum::<f64>() / x.len() as f64, y.iter().sum::<f64>() / y.len() as f64);
        let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
        cov / (vx * vy).sqrt()
    };
    let at0 = corr_at(0, true);
    assert!(at0 > 0.9, "mouth_open vs jaw_open correlation {at0:.3}");
    assert!(at0 > corr_at(1, true) && at0 > corr_at(1, false), "the mouth is shifted in time against the model");

    // The pictures move while speech plays and hold still on silence.
    let decoded = decode_frames(&mp4, 256);
    assert_eq!(decoded.len() as i64, frames);
    let changed = |a: &[u8], b: &[u8]| a.iter().zip(b).filter(|(x, y)| x.abs_diff(**y) > 40).count();
    let first = &decoded[0];
    let speech_change =
        decoded.iter().zip(&rms).filter(|(_, r)| **r > 0.3 * peak).map(|(f, _)| changed(first, f)).max().unwrap();
    let silent_change = decoded
        .iter()
        .zip(&rms)
        .take(10)
        .filter(|(_, r)| **r < 0.03 * peak)
        .map(|(f, _)| changed(first, f))
        .max()
        .unwrap_or(0);
    assert!(speech_change > 150, "only {speech_change} values changed during speech");
    assert!(silent_change < 40, "{silent_change} values changed during leading silence");
}

fn assert_clean_failure(out: &Output, needle: &str, mp4: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!mp4.exists(), "a failed render left {}", mp4.display());
}

#[test]
fn bad_inputs_are_clear_errors_not_panics() {
    let dir = common::scratch("cli_bad");
    let mp4 = dir.join("out.mp4");
    let portrait = common::root().join("assets/portraits/astronaut.png");
    let speech = common::root().join("assets/speech/cards_001.wav");
    // `facecast render` on portrait `p` and audio `a`, at 128 px unless `extra` says otherwise.
    let run_with = |p: &Path, a: &Path, extra: &[&str]| {
        let mut args = vec!["render", "--portrait", p.to_str().unwrap(), "--audio", a.to_str().unwrap()];
        args.extend(["-o", mp4.to_str().unwrap()]);
        args.extend(if extra.is_empty() { &["--size", "128"][..] } else { extra });
        facecast(&args)
    };
    let run = |p: &Path, a: &Path| run_with(p, a, &[]);

    assert_clean_failure(&run(&portrait, &dir.join("missing.wav")), "cannot open audio", &mp4);
    assert_clean_failure(&run(&dir.join("missing.png"), &speech), "cannot read portrait", &mp4);

    let empty = dir.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    assert_clean_failure(&run(&portrait, &empty), "is not audio facecast can read", &mp4);

    let text = dir.join("face.png");
    std::fs::write(&text, "hello").unwrap();
    assert_clean_failure(&run(&text, &speech), "is not an image", &mp4);

    let blank = dir.join("blank.png");
    image::RgbaImage::from_pixel(200, 200, image::Rgba([200, 180, 160, 255])).save(&blank).unwrap();
    assert_clean_failure(&run(&blank, &speech), "no face found", &mp4);

    let bad_cfg = dir.join("bad.toml");
    std::fs::write(&bad_cfg, "[rig]\nmax_jaw_dorp = 0.2\n").unwrap();
    let out = run_with(&portrait, &speech, &["--config", bad_cfg.to_str().unwrap()]);
    assert_clean_failure(&out, "max_jaw_dorp", &mp4);

    let out = run_with(&portrait, &speech, &["--size", "101"]);
    assert_clean_failure(&out, "--size 101: the frame side must be even", &mp4);
    let out = run_with(&portrait, &speech, &["--size", "640x481"]);
    assert_clean_failure(&out, "--size 640x481: width and height must be even", &mp4);
    let out = run_with(&portrait, &speech, &["--size", "wide"]);
    assert_clean_failure(&out, "--size \"wide\": give a side (512, a square frame) or a width and height", &mp4);

    let out = run_with(&portrait, &speech, &["--background", "#12"]);
    assert_clean_failure(&out, "background.color must look like", &mp4);
    let out = run_with(&portrait, &speech, &["--background", dir.join("missing.jpg").to_str().unwrap()]);
    assert_clean_failure(&out, "cannot read background image", &mp4);
    let out = run_with(&portrait, &speech, &["--background", "alpha"]);
    assert_clean_failure(&out, "alpha needs --frames-dir or --raw-out", &mp4);
}

#[test]
fn raw_rgba_frames_stream_to_stdout_with_alpha_and_nothing_else() {
    // `--raw-out -` is for a pipe into ffmpeg or OBS: standard output must hold the frames and nothing
    // else (the summary goes to standard error), with the person's alpha.
    let dir = common::scratch("cli_raw");
    let mp4 = dir.join("raw.mp4");
    let size = 128usize;
    let render_raw = |raw_out: &str| {
        facecast(&[
            "render",
            "--portrait",
            common::root().join("assets/portraits/astronaut.png").to_str().unwrap(),
            "--audio",
            common::root().join("tests/data/cards_001_22k.wav").to_str().unwrap(),
            "--output",
            mp4.to_str().unwrap(),
            "--size",
            &size.to_string(),
            "--fps",
            "25",
            "--background",
            "alpha",
            "--raw-out",
            raw_out,
        ])
    };
    let out = render_raw("-");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("raw RGBA frames: standard output"), "summary not on stderr: {stderr}");
    let frame_bytes = size * size * 4;
    assert_eq!(out.stdout.len() % frame_bytes, 0, "stdout is not whole frames ({} bytes)", out.stdout.len());
    let frames = out.stdout.len() / frame_bytes;
    let mp4_frames: usize = ffprobe_streams(&mp4)
        .iter()
        .find(|s| s["codec_type"] == "video")
        .and_then(|s| s["nb_read_frames"].as_str())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(frames, mp4_frames, "raw and MP4 frame counts differ");
    // Every frame: the wall is transparent (top corners) and the face is opaque (the centre).
    for f in out.stdout.chunks_exact(frame_bytes) {
        let alpha = |x: usize, y: usize| f[(y * size + x) * 4 + 3];
        assert!(alpha(2, 2) < 20 && alpha(size - 3, 2) < 20, "wall alpha {} {}", alpha(2, 2), alpha(size - 3, 2));
        assert!(alpha(size / 2, size / 2) > 240, "face alpha {}", alpha(size / 2, size / 2));
    }

    // To a file: the same bytes.
    let raw = dir.join("frames.rgba");
    let out2 = render_raw(raw.to_str().unwrap());
    assert!(out2.status.success(), "{}", String::from_utf8_lossy(&out2.stderr));
    assert!(std::fs::read(&raw).unwrap() == out.stdout, "the raw file differs from the stdout stream");
}

#[test]
fn truncated_audio_renders_what_is_there_and_says_so() {
    let dir = common::scratch("cli_truncated");
    let wav = std::fs::read(common::root().join("assets/speech/cards_001.wav")).unwrap();
    let cut = dir.join("cut.wav");
    std::fs::write(&cut, &wav[..wav.len() / 2]).unwrap();
    let (mp4, _, out) = render_clip(&dir, &cut);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("truncated"), "{stdout}");
    let streams = ffprobe_streams(&mp4);
    let frames: i64 = streams.iter().find(|s| s["codec_type"] == "video").unwrap()["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((frames - 16).abs() <= 1, "{frames} frames for about 0.55 s");
}

#[test]
fn a_text_is_spoken_by_render_and_by_say() {
    let dir = common::scratch("cli_text");
    let (mp4, motion) = (dir.join("talk.mp4"), dir.join("talk.jsonl"));
    let portrait = common::root().join("assets/portraits/astronaut.png");
    let out = facecast(&[
        "render",
        "--portrait",
        portrait.to_str().unwrap(),
        "--text",
        "Good morning. How can I help you today?",
        "--voice",
        "en-us",
        "--size",
        "128",
        "-o",
        mp4.to_str().unwrap(),
        "--motion-out",
        motion.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let streams = ffprobe_streams(&mp4);
    let secs: f64 = streams[0]["duration"].as_str().unwrap().parse().unwrap();
    assert!((1.5..6.0).contains(&secs), "{secs} s for a sentence");
    let opening = |path: &Path| -> Vec<f64> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["mouth_open"].as_f64().unwrap())
            .collect()
    };
    let open = opening(&motion);
    let most = open.iter().copied().fold(f64::MIN, f64::max);
    assert!(most > open[0] + 0.3, "the mouth barely moved: rest {:.2}, at most {most:.2}", open[0]);

    // `facecast say`: the same text live, headless; it ends when the sentence does.
    let (live_motion, live_stats) = (dir.join("say.jsonl"), dir.join("say.json"));
    let started = std::time::Instant::now();
    let out = facecast(&[
        "say",
        "Good morning. How can I help you today?",
        "--headless",
        "--size",
        "128",
        "--motion-out",
        live_motion.to_str().unwrap(),
        "--stats-json",
        live_stats.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed().as_secs_f64() < 30.0, "say did not end with its sentence");
    let open = opening(&live_motion);
    let most = open.iter().copied().fold(f64::MIN, f64::max);
    assert!(most > open[0] + 0.3, "the mouth barely moved live: rest {:.2}, at most {most:.2}", open[0]);
    // The mouth follows espeak-ng's phone times rather than waiting to hear them: the lag from a sound
    // to the frame that shows it is the render's alone (the model hearing the same file: p50 about 28 ms).
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&live_stats).unwrap()).unwrap();
    let lag = stats["motion_lag_ms"]["p50"].as_f64().unwrap();
    assert!(lag < 15.0, "motion lag p50 {lag} ms");

    // Text and audio together, an empty text, an unknown voice: clear errors.
    let both = facecast(&["render", "--portrait", "x.png", "--audio", "a.wav", "--text", "hi", "-o", "o.mp4"]);
    assert_eq!(both.status.code(), Some(2), "{}", String::from_utf8_lossy(&both.stderr));
    let empty = facecast(&["say", "   ", "--headless"]);
    assert!(String::from_utf8_lossy(&empty.stderr).contains("the text is empty"));
    let voice = facecast(&["say", "hello", "--voice", "no-such-voice", "--headless"]);
    assert!(String::from_utf8_lossy(&voice.stderr).contains("espeak-ng has no voice"));
    assert_eq!(voice.status.code(), Some(1));
}
