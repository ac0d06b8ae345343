//! Connects N WHEP viewers (the webrtc crate's clients, on loopback) to a running `facecast live
//! --output whep`, keeps them for a while, and prints what each received as one JSON object: the load
//! half of scripts/whep-bench.sh.
//!
//! ```sh
//! cargo run --release --example whep_viewers -- http://127.0.0.1:8080 --viewers 10 --seconds 30
//! ```
//!
//! With `--delete` the viewers leave as a WHEP player does (a `DELETE` on the session, then closing);
//! without it they vanish as a closed browser tab does, and the server notices when ICE fails.

#[path = "../tests/common/whep_client.rs"]
mod whep_client;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("usage: whep_viewers URL [--viewers N] [--seconds S] [--token T] [--delete]"))?;
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let viewers: usize = opt("--viewers").map_or(Ok(10), |v| v.parse())?;
    let seconds: f64 = opt("--seconds").map_or(Ok(30.0), |v| v.parse())?;
    let token = opt("--token");
    let delete = args.iter().any(|a| a == "--delete");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(async {
        let mut connected = Vec::new();
        for i in 0..viewers {
            let v = whep_client::connect(base.trim_end_matches('/'), token.as_deref(), whep_client::Reading::Count)
                .await
                .map_err(|r| anyhow::anyhow!("viewer {i}: {} {}", r.status, r.body.trim()))?;
            connected.push(v);
        }
        // Two seconds to connect and get a keyframe, then count.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let from = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        let to = Instant::now();
        let secs = (to - from).as_secs_f64();
        let per_viewer: Vec<_> = connected
            .iter()
            .map(|v| {
                serde_json::json!({
                    "fps": v.received.frames_between(from, to) as f64 / secs,
                    "video_packets": v.received.video_packets.load(Ordering::Relaxed),
                    "audio_packets": v.received.audio_packets.load(Ordering::Relaxed),
                })
            })
            .collect();
        for v in &connected {
            if delete {
                let (url, token) = (v.resource.clone(), token.clone());
                let reply = tokio::task::spawn_blocking(move || {
                    whep_client::request("DELETE", &url, None, token.as_deref(), b"")
                })
                .await?;
                anyhow::ensure!(reply.status == 200, "DELETE {}: {} {}", v.resource, reply.status, reply.body.trim());
            }
            let _ = v.pc.close().await;
        }
        anyhow::Ok(serde_json::json!({ "viewers": viewers, "seconds": secs, "per_viewer": per_viewer }))
    })?;
    println!("{report}");
    Ok(())
}
