//! WHIP push to a real WHIP server from Debian's archive: Meetecho's simple-whip-server in front of the
//! Janus VideoRoom (tests/whip/janus_whip.sh runs them, and `facecast live --output whip:URL`, in a
//! private network namespace). facecast starts before the endpoint exists, is refused, retries, and
//! then publishes: Janus reports a connected ICE and DTLS session with H.264 and Opus flowing in, the
//! VideoRoom lists the publisher, and when facecast stops it deletes its session, so the room is empty.
//!
//! Needs root (for the namespace), janus, node, tests/whip's node_modules and the simple-whip-server
//! package unpacked under .tools/, which scripts/setup.sh provides.

mod common;

use std::process::Command;

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn pushes_to_janus_through_simple_whip_server() {
    let root = common::root();
    let sws = root.join(".tools/simple-whip-server/usr/share/simple-whip-server");
    assert!(
        sws.join("src/server.js").exists() && root.join("tests/whip/node_modules/express").is_dir(),
        "simple-whip-server or its Node.js modules are missing: run scripts/setup.sh"
    );
    let dir = common::scratch("whip_push");
    let out = Command::new("unshare")
        .args(["--net", "--", "bash"])
        .arg(root.join("tests/whip/janus_whip.sh"))
        .arg(env!("CARGO_BIN_EXE_facecast"))
        .arg(&dir)
        .arg(&sws)
        .current_dir(&root)
        .output()
        .expect("run unshare (util-linux)");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "the WHIP harness failed: {}\n{}\nfacecast: {}\nwhip server: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
        read("facecast.log"),
        read("whip-server.log")
    );
    let log = read("facecast.log");
    assert_eq!(read("facecast.status").trim(), "0", "facecast failed: {log}");
    assert!(log.contains("WHIP push failed"), "the first push should be refused (no endpoint yet): {log}");
    assert!(log.contains("WHIP: pushing"), "{log}");
    assert!(!log.contains("refused to delete") && !log.contains("panicked"), "{log}");

    // Janus's view of the publisher, eleven seconds after the endpoint was made.
    let handles = json(&dir.join("handle_info.json"));
    let publisher = handles
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["plugin_specific"]["type"] == "publisher")
        .unwrap_or_else(|| panic!("no VideoRoom publisher: {handles}"));
    let webrtc = &publisher["webrtc"];
    assert_eq!(webrtc["dtls"]["dtls-state"], "connected", "{webrtc}");
    assert!(webrtc["ice"]["selected-pair"].as_str().is_some_and(|p| p.contains("10.203.0.")), "{webrtc}");
    let media: Vec<&serde_json::Value> = webrtc["media"].as_object().unwrap().values().collect();
    let inbound = |kind: &str, codec: &str| {
        let m = media.iter().find(|m| m["type"] == kind).unwrap_or_else(|| panic!("no {kind}: {webrtc}"));
        assert_eq!(m["codecs"]["codec"], codec, "{m}");
        m["stats"]["in"]["packets"].as_u64().unwrap()
    };
    let (video, audio) = (inbound("video", "h264"), inbound("audio", "opus"));
    assert!(video >= 30 * 5, "Janus received {video} H.264 packets");
    assert!(audio >= 50 * 5, "Janus received {audio} Opus packets");
    let participants = json(&dir.join("participants.json"));
    let list = participants["response"]["participants"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{participants}");
    assert_eq!(list[0]["publisher"], true, "{participants}");

    // Stopped: the session was deleted at the server, and the room is empty.
    let after = json(&dir.join("after.json"));
    assert_eq!(after["response"]["participants"].as_array().map(Vec::len), Some(0), "{after}");
    assert!(read("whip-server.log").contains("Terminating WHIP session"), "no DELETE reached the server");
    let stats = json(&dir.join("stats.json"));
    assert_eq!(stats["stream"]["peers_total"].as_u64(), Some(1), "{stats}");
}
