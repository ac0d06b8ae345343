//! Cameras (nokhwa), listed for `facecast devices`. A camera is where a reference portrait can come from;
//! facecast does not capture from one yet (the portrait is an image file), so this only enumerates.
//!
//! Input: nothing. Output: the cameras the platform sees. Thread: the caller's.

/// One camera as the platform's capture API reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraInfo {
    /// The camera's index in the capture API.
    pub index: String,
    /// Its name.
    pub name: String,
    /// The driver's description (on Linux, the V4L2 device path and driver).
    pub description: String,
}

/// Lists the cameras the platform's native capture API (V4L2, AVFoundation, Media Foundation) sees.
///
/// # Errors
/// The capture API's error, as text (no camera support on this platform, no permission).
pub fn list() -> Result<Vec<CameraInfo>, String> {
    let cameras = nokhwa::query(nokhwa::utils::ApiBackend::Auto).map_err(|e| e.to_string())?;
    Ok(cameras
        .iter()
        .map(|c| CameraInfo {
            index: c.index().to_string(),
            name: c.human_name(),
            description: c.description().to_owned(),
        })
        .collect())
}
