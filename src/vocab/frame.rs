//! The geometry of a video frame: its side, its rate and its size in bytes, checked once.
//!
//! Input: the side and rate a user asked for. Output: [`FrameGeometry`], valid by construction.
//! Thread: any. The command line builds it before any thread, server or file is started; every stage
//! after that takes it as given.

use std::ops::RangeInclusive;

/// The frame sides facecast renders, pixels (even only): the H.264 encoder takes at most 3840x2160, so
/// a square frame is at most 2160 a side.
pub const FRAME_SIDES: RangeInclusive<u32> = 64..=2160;

/// The frame rates facecast renders and streams, frames per second.
pub const FRAME_RATES: RangeInclusive<u32> = 1..=120;

/// Bytes per pixel of every frame facecast hands on: RGBA8, straight alpha.
pub const BYTES_PER_PIXEL: usize = 4;

/// A frame size or rate outside what facecast renders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A side that is odd or outside [`FRAME_SIDES`].
    #[error("--size {0}: the frame side must be even and within 64..=2160 pixels (H.264 takes at most 3840x2160)")]
    Side(u32),
    /// A rate outside [`FRAME_RATES`].
    #[error("--fps {0} must be in 1..=120")]
    Rate(u32),
}

/// A square RGBA8 frame's side and the rate frames come at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameGeometry {
    side_px: u32,
    fps: u32,
}

impl FrameGeometry {
    /// Checks `side_px` (even, within [`FRAME_SIDES`]) and `fps` (within [`FRAME_RATES`]).
    ///
    /// # Errors
    /// [`FrameError::Side`] or [`FrameError::Rate`].
    pub fn new(side_px: u32, fps: u32) -> Result<Self, FrameError> {
        if !side_px.is_multiple_of(2) || !FRAME_SIDES.contains(&side_px) {
            return Err(FrameError::Side(side_px));
        }
        if !FRAME_RATES.contains(&fps) {
            return Err(FrameError::Rate(fps));
        }
        Ok(Self { side_px, fps })
    }

    /// The frame's side, pixels.
    pub fn side_px(&self) -> u32 {
        self.side_px
    }

    /// Frames per second.
    pub fn fps(&self) -> u32 {
        self.fps
    }

    /// One frame's period, seconds.
    pub fn period_secs(&self) -> f64 {
        1.0 / f64::from(self.fps)
    }

    /// One row of RGBA8, bytes.
    pub fn row_bytes(&self) -> usize {
        self.side_px as usize * BYTES_PER_PIXEL
    }

    /// One whole frame of RGBA8, bytes.
    pub fn frame_bytes(&self) -> usize {
        self.row_bytes() * self.side_px as usize
    }

    /// The time of frame `n`, seconds from the first.
    pub fn frame_secs(&self, n: u64) -> f64 {
        n as f64 / f64::from(self.fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_and_rates_are_checked_at_their_bounds() {
        assert_eq!(FrameGeometry::new(63, 30), Err(FrameError::Side(63)));
        assert_eq!(FrameGeometry::new(62, 30), Err(FrameError::Side(62)));
        assert_eq!(FrameGeometry::new(513, 30), Err(FrameError::Side(513)));
        assert_eq!(FrameGeometry::new(2162, 30), Err(FrameError::Side(2162)));
        assert_eq!(FrameGeometry::new(512, 0), Err(FrameError::Rate(0)));
        assert_eq!(FrameGeometry::new(512, 121), Err(FrameError::Rate(121)));
        let g = FrameGeometry::new(2160, 120).unwrap();
        assert_eq!((g.side_px(), g.fps(), g.row_bytes(), g.frame_bytes()), (2160, 120, 8640, 2160 * 8640));
        assert_eq!(FrameGeometry::new(64, 1).unwrap().frame_secs(3), 3.0);
    }
}
