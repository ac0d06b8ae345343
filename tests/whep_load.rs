//! Ten WHEP viewers at once for a minute, as the webrtc crate's clients on loopback, plus an eleventh that
//! stops reading after five seconds: every reading viewer gets the frames at the target rate, one of them
//! decodes every frame at 512 x 512, the stalled one slows nobody down, and facecast neither panics nor
//! drops frames.
//!
//! The figures (server CPU per viewer, encode time) come from scripts/whep-bench.sh, not from here.

mod common;
#[path = "common/whep_client.rs"]
mod whep_client;
#[path = "common/whep_server.rs"]
mod whep_server;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use whep_client::{Reading, Viewer, connect};
use whep_server::Server;

const VIEWERS: usize = 10;
const RUN: Duration = Duration::from_secs(60);
const FPS: f64 = 30.0;

#[test]
fn ten_viewers_for_a_minute_and_a_stalled_one() {
    let dir = common::scratch("whep_load");
    let mut server = Server::start(&dir, &["--input", "test-pattern", "--duration", "90"], &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let base = server.base.clone();
    let (viewers, stalled, window) = runtime.block_on(async {
        let mut viewers: Vec<Viewer> = Vec::new();
        for i in 0..VIEWERS {
            let reading = if i == 0 { Reading::Decode } else { Reading::Count };
            let v =
                connect(&base, None, reading).await.unwrap_or_else(|r| panic!("viewer {i}: {} {}", r.status, r.body));
            viewers.push(v);
        }
        let stalled = connect(&base, None, Reading::StopAfter(Duration::from_secs(5)))
            .await
            .unwrap_or_else(|r| panic!("the stalled viewer: {} {}", r.status, r.body));
        // Every viewer is connected and has had its first keyframe within a few seconds.
        let deadline = Instant::now() + Duration::from_secs(20);
        while viewers.iter().chain([&stalled]).any(|v| v.received.video_frames.load(Ordering::Relaxed) == 0) {
            assert!(Instant::now() < deadline, "not every viewer received video within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let from = Instant::now();
        tokio::time::sleep(RUN).await;
        let to = Instant::now();
        (viewers, stalled, (from, to))
    });
    let secs = (window.1 - window.0).as_secs_f64();
    let mut rates = Vec::new();
    for (i, v) in viewers.iter().enumerate() {
        let r = &v.received;
        assert!(!r.failed.load(Ordering::Acquire), "viewer {i}'s connection failed");
        let fps = r.frames_between(window.0, window.1) as f64 / secs;
        rates.push(fps);
        assert!(
            r.audio_packets.load(Ordering::Relaxed) as f64 >= 0.9 * 50.0 * secs,
            "viewer {i}: too few audio packets"
        );
    }
    let slowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(slowest >= 0.95 * FPS, "viewer frame rates over {secs:.0} s: {rates:.1?} (the slowest under 95% of {FPS})");
    // The decoding viewer decoded every frame it completed, at the rendered size.
    let r = &viewers[0].received;
    let decoded = r.decoded.load(Ordering::Relaxed);
    assert_eq!(r.decode_errors.load(Ordering::Relaxed), 0, "H.264 decode errors");
    assert!(decoded as f64 >= 0.99 * r.video_frames.load(Ordering::Relaxed) as f64, "decoded {decoded} frames");
    assert_eq!(*r.decoded_size.lock().unwrap(), Some((512, 512)));
    // The stalled viewer stopped reading five seconds after it joined.
    let stalled_frames = stalled.received.frames_between(window.0 + Duration::from_secs(10), window.1);
    assert_eq!(stalled_frames, 0, "the stalled viewer kept reading");

    for v in &viewers {
        runtime.block_on(v.pc.close()).ok();
    }
    runtime.block_on(stalled.pc.close()).ok();
    let clean = server.stop();
    let log = server.log_text();
    assert!(clean, "facecast did not exit cleanly: {log}");
    assert!(!log.contains("panicked"), "facecast panicked: {log}");
    let s = server.stats_json();
    let (elapsed, frames) = (s["elapsed_secs"].as_f64().unwrap(), s["frames_rendered"].as_f64().unwrap());
    assert!(frames >= 0.95 * FPS * elapsed, "facecast rendered {frames} frames in {elapsed:.1} s");
    assert_eq!(s["stream"]["peers_total"].as_u64(), Some(VIEWERS as u64 + 1), "{s}");
    eprintln!("viewer frame rates: {rates:.2?}; stream stats: {}", s["stream"]);
}
