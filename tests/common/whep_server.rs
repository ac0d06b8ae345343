//! `facecast live --output whep` for the integration tests, on a free loopback port.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// `facecast live` serving WHEP on a free loopback port, killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
    pub log: std::path::PathBuf,
    pub stats: std::path::PathBuf,
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// Starts `facecast live --headless --output whep:127.0.0.1:PORT --stats-json ... EXTRA` in `dir`'s
    /// files, with `env`, and waits for the viewer page to answer.
    pub fn start(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = dir.join("facecast.log");
        let stats = dir.join("stats.json");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_facecast"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["live", "--output", &format!("whep:127.0.0.1:{port}"), "--stats-json"])
            .arg(&stats)
            .args(extra)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("start facecast live");
        let server = Self { child, base: format!("http://127.0.0.1:{port}"), log, stats };
        let start = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            let exited = server.log_text();
            assert!(start.elapsed() < Duration::from_secs(60), "the WHEP server did not come up: {exited}");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it as a user would (Ctrl-C) and returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-INT", &pid]).status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(start.elapsed() < Duration::from_secs(20), "facecast did not stop on SIGINT: {}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stats_json(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&self.stats).expect("the stats file")).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
