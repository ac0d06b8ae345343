//! `facecast live --vmc`: VMC (OSC over UDP) as a VTuber tool receives it, decoded by python-osc (not
//! facecast's own encoder; scripts/setup.sh puts it in .tools/python-osc): the blendshapes arrive at
//! the frame rate, and the vowels open on speech and rest on silence.

mod common;

use std::process::Command;

#[test]
fn a_python_osc_receiver_gets_the_blendshapes_at_the_frame_rate() {
    let dir = common::scratch("live_vmc");
    // A second and a half of silence, then "go forward ten meters".
    let clip = dir.join("speech.wav");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-t", "1.5", "-i", "anullsrc=r=16000:cl=mono", "-i"])
        .arg(common::root().join("assets/speech/goforward.wav"))
        .args(["-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1", "-ar", "16000", "-ac", "1"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(status.success());
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let received = dir.join("received.json");
    let mut receiver = Command::new("python3")
        .arg(common::root().join("tests/vmc/receive.py"))
        .args([&port.to_string(), "20"])
        .arg(&received)
        .env("PYTHONPATH", common::root().join(".tools/python-osc"))
        .spawn()
        .expect("python3");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = Command::new(env!("CARGO_BIN_EXE_facecast"))
        .current_dir(common::root())
        .env("FACECAST_LOG", "facecast=warn")
        .args(["live", "--headless", "--size", "128", "--input"])
        .arg(&clip)
        .args(["--vmc", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "facecast live failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(receiver.wait().unwrap().success(), "the python-osc receiver failed");
    let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&received).unwrap()).unwrap();
    let frames = got["frames"].as_array().unwrap();
    assert!(!frames.is_empty(), "nothing arrived");
    let t: Vec<f64> = frames.iter().map(|f| f["t"].as_f64().unwrap()).collect();
    let span = t.last().unwrap() - t[0];
    let rate = (frames.len() - 1) as f64 / span;
    eprintln!("{} frames over {span:.2} s: {rate:.1} a second", frames.len());
    assert!((27.0..=33.0).contains(&rate), "{rate:.1} VMC frames a second at 30 fps");
    let value = |f: &serde_json::Value, name: &str| f["values"][name].as_f64().unwrap_or(f64::NAN);
    for name in ["A", "I", "U", "E", "O", "Blink_L", "Blink_R", "jaw_open"] {
        assert!(frames.iter().all(|f| value(f, name).is_finite()), "{name} missing from a frame");
    }
    assert!(frames.iter().all(|f| f["head"].as_array().is_some_and(|h| h.len() == 8)), "the head bone");
    // The vowels rest on the leading silence and open on the speech ("go forward": O, then A).
    let open = |f: &serde_json::Value| value(f, "A").max(value(f, "O"));
    let silent = frames.iter().filter(|f| f["t"].as_f64().unwrap() < 1.0).map(open).fold(0.0, f64::max);
    let speaking = frames.iter().filter(|f| f["t"].as_f64().unwrap() > 1.5).map(open).fold(0.0, f64::max);
    eprintln!("A or O: at most {silent:.2} on silence, up to {speaking:.2} on speech");
    assert!(silent < 0.15, "the vowels open on silence: {silent:.2}");
    assert!(speaking > 0.3, "the vowels never open on speech: {speaking:.2}");
}
