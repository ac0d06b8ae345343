//! Child processes (ffmpeg) that never outlive facecast.
//!
//! Input: a `Command` about to be spawned. Output: the same, set to be ended with facecast. Thread: the
//! caller's.

use std::process::Command;

/// Asks the kernel to end the child when facecast dies (Linux's parent-death signal), so that a muxer
/// never outlives a facecast that was killed.
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which is
        // async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}
