//! Test helpers for programs with a window: a private X server (Xvfb), tools checked by name, and
//! children killed when a test ends.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills its child when dropped, so a failing test leaves no server behind.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn tool(name: &str) -> String {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().is_ok_and(|o| o.status.success());
    assert!(found, "{name} is missing: run scripts/setup.sh (it installs the live test's tools)");
    name.to_owned()
}

pub fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn start_xvfb() -> (Reaped, String) {
    let xvfb = tool("Xvfb");
    // A display number nobody uses.
    let n = (100..400)
        .map(|i| i + std::process::id() % 300)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("a free display number");
    let child = Command::new(xvfb)
        .args([format!(":{n}"), "-screen".into(), "0".into(), "800x600x24".into(), "-nolisten".into(), "tcp".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let reaped = Reaped(child);
    wait_for("Xvfb", Duration::from_secs(10), || Path::new(&format!("/tmp/.X11-unix/X{n}")).exists());
    (reaped, format!(":{n}"))
}

/// A screenshot of the whole X display `display`, as PNG (ImageMagick's import).
pub fn screenshot(display: &str, png: &Path) {
    let import = Command::new(tool("import"))
        .args(["-window", "root"])
        .arg(png)
        .env("DISPLAY", display)
        .status()
        .expect("run import");
    assert!(import.success(), "import could not take a screenshot");
}
