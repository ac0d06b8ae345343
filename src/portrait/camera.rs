//! Cameras (nokhwa): listed for `facecast devices`, and captured from for head tracking
//! (`--head-from camera[:N]`).
//!
//! Input: a camera index. Output: the cameras the platform sees; RGBA frames as the camera delivers
//! them, each stamped when it arrived. Thread: the caller's for the list; the live loop's head thread
//! owns a capturing camera, and its frames stay inside the process.

use std::time::Instant;

use image::RgbaImage;

use super::PortraitError;
use super::frames::HeadFrames;

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

/// A camera capturing at its highest frame rate, as head-tracking frames.
pub struct CameraFrames {
    camera: nokhwa::Camera,
    name: String,
    buf: Vec<u8>,
}

impl CameraFrames {
    /// Opens camera `index` and starts its stream.
    ///
    /// # Errors
    /// [`PortraitError::Camera`] when there is no such camera or it will not stream.
    pub fn open(index: u32) -> Result<Self, PortraitError> {
        use nokhwa::utils::{CameraIndex, RequestedFormat, RequestedFormatType};
        let fail =
            |e: nokhwa::NokhwaError| PortraitError::Camera { camera: format!("camera:{index}"), reason: e.to_string() };
        let requested =
            RequestedFormat::new::<nokhwa::pixel_format::RgbAFormat>(RequestedFormatType::AbsoluteHighestFrameRate);
        let mut camera = nokhwa::Camera::new(CameraIndex::Index(index), requested).map_err(fail)?;
        camera.open_stream().map_err(fail)?;
        let name = format!("camera:{index} ({})", camera.info().human_name());
        Ok(Self { camera, name, buf: Vec::new() })
    }
}

impl HeadFrames for CameraFrames {
    fn name(&self) -> &str {
        &self.name
    }

    fn next_frame(&mut self) -> Result<Option<(RgbaImage, Instant)>, PortraitError> {
        let fail = |e: nokhwa::NokhwaError| PortraitError::Camera { camera: self.name.clone(), reason: e.to_string() };
        let frame = self.camera.frame().map_err(fail)?;
        let arrived = Instant::now();
        let res = frame.resolution();
        self.buf.resize(res.width() as usize * res.height() as usize * 4, 0);
        frame.decode_image_to_buffer::<nokhwa::pixel_format::RgbAFormat>(&mut self.buf).map_err(fail)?;
        let image = RgbaImage::from_raw(res.width(), res.height(), self.buf.clone()).ok_or_else(|| {
            PortraitError::Camera { camera: self.name.clone(), reason: "a frame of the wrong size".into() }
        })?;
        Ok(Some((image, arrived)))
    }
}
