//! The geometry of a video frame: its width, height and rate, its size in bytes, and where the square
//! the face is drawn in sits inside it; checked once.
//!
//! Input: the size (`512`, `640x480`) and rate a user asked for. Output: [`FrameGeometry`], valid by
//! construction. Thread: any. The command line builds it before any thread, server or file is started;
//! every stage after that takes it as given.
//!
//! The warp draws a square: the portrait's crop around the face. A frame that is not square (a call
//! app's 640x480 or 1280x720) holds that square at its centre, as tall (or wide) as the frame, and the
//! bands beside it continue the portrait without motion (render/finish.rs).

use std::ops::RangeInclusive;

/// The frame widths facecast renders, pixels (even only): the H.264 encoder takes at most 3840x2160.
pub const FRAME_WIDTHS: RangeInclusive<u32> = 64..=3840;

/// The frame heights facecast renders, pixels (even only). A square frame is at most 2160 a side.
pub const FRAME_HEIGHTS: RangeInclusive<u32> = 64..=2160;

/// The frame rates facecast renders and streams, frames per second.
pub const FRAME_RATES: RangeInclusive<u32> = 1..=120;

/// Bytes per pixel of every frame facecast hands on: RGBA8, straight alpha.
pub const BYTES_PER_PIXEL: usize = 4;

/// A frame size or rate outside what facecast renders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A size that is odd or outside [`FRAME_WIDTHS`] x [`FRAME_HEIGHTS`].
    #[error("{}", size_message(*width, *height))]
    Size { width: u32, height: u32 },
    /// A size that is not `N` or `WxH`.
    #[error("--size {0:?}: give a side (512, a square frame) or a width and height (640x480)")]
    Syntax(String),
    /// A rate outside [`FRAME_RATES`].
    #[error("--fps {0} must be in 1..=120")]
    Rate(u32),
}

/// [`FrameError::Size`]'s text, in the form the size was given.
fn size_message(width: u32, height: u32) -> String {
    if width == height {
        format!(
            "--size {width}: the frame side must be even and within 64..=2160 pixels (H.264 takes at most 3840x2160)"
        )
    } else {
        format!(
            "--size {width}x{height}: width and height must be even, the width within 64..=3840 and the height \
             within 64..=2160 pixels (H.264 takes at most 3840x2160)"
        )
    }
}

/// Parses a frame size: `N` (a square frame) or `WxH`, pixels. Only the syntax is checked here;
/// [`FrameGeometry::new`] checks the bounds.
///
/// # Errors
/// [`FrameError::Syntax`].
pub fn parse_size(text: &str) -> Result<(u32, u32), FrameError> {
    let syntax = || FrameError::Syntax(text.to_string());
    let number = |s: &str| s.trim().parse::<u32>().map_err(|_| syntax());
    match text.split_once(['x', 'X']) {
        Some((w, h)) => Ok((number(w)?, number(h)?)),
        None => number(text).map(|side| (side, side)),
    }
}

/// An RGBA8 frame's width and height and the rate frames come at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameGeometry {
    width_px: u32,
    height_px: u32,
    fps: u32,
}

impl FrameGeometry {
    /// Checks `width_px` and `height_px` (even, within [`FRAME_WIDTHS`] and [`FRAME_HEIGHTS`]) and
    /// `fps` (within [`FRAME_RATES`]).
    ///
    /// # Errors
    /// [`FrameError::Size`] or [`FrameError::Rate`].
    pub fn new(width_px: u32, height_px: u32, fps: u32) -> Result<Self, FrameError> {
        let even_within = |v: u32, range: &RangeInclusive<u32>| v.is_multiple_of(2) && range.contains(&v);
        if !even_within(width_px, &FRAME_WIDTHS) || !even_within(height_px, &FRAME_HEIGHTS) {
            return Err(FrameError::Size { width: width_px, height: height_px });
        }
        if !FRAME_RATES.contains(&fps) {
            return Err(FrameError::Rate(fps));
        }
        Ok(Self { width_px, height_px, fps })
    }

    /// A square frame of side `side_px`: [`new`](Self::new)`(side_px, side_px, fps)`.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn square(side_px: u32, fps: u32) -> Result<Self, FrameError> {
        Self::new(side_px, side_px, fps)
    }

    /// The frame's width, pixels.
    pub fn width_px(&self) -> u32 {
        self.width_px
    }

    /// The frame's height, pixels.
    pub fn height_px(&self) -> u32 {
        self.height_px
    }

    /// Whether width and height are equal.
    pub fn is_square(&self) -> bool {
        self.width_px == self.height_px
    }

    /// The side of the square the warp draws the face in: the frame's shorter side, pixels.
    pub fn face_side_px(&self) -> u32 {
        self.width_px.min(self.height_px)
    }

    /// Where that square's top-left corner sits in the frame (centred), pixels.
    pub fn face_origin_px(&self) -> (u32, u32) {
        let side = self.face_side_px();
        ((self.width_px - side) / 2, (self.height_px - side) / 2)
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
        self.width_px as usize * BYTES_PER_PIXEL
    }

    /// One whole frame of RGBA8, bytes.
    pub fn frame_bytes(&self) -> usize {
        self.row_bytes() * self.height_px as usize
    }

    /// The time of frame `n`, seconds from the first.
    pub fn frame_secs(&self, n: u64) -> f64 {
        n as f64 / f64::from(self.fps)
    }
}

impl std::fmt::Display for FrameGeometry {
    /// `WxH@FPS`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}@{}", self.width_px, self.height_px, self.fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates_are_checked_at_their_bounds() {
        let size = |width, height| Err(FrameError::Size { width, height });
        assert_eq!(FrameGeometry::square(63, 30), size(63, 63));
        assert_eq!(FrameGeometry::square(62, 30), size(62, 62));
        assert_eq!(FrameGeometry::square(513, 30), size(513, 513));
        assert_eq!(FrameGeometry::square(2162, 30), size(2162, 2162));
        assert_eq!(FrameGeometry::new(3842, 720, 30), size(3842, 720));
        assert_eq!(FrameGeometry::new(640, 481, 30), size(640, 481));
        assert_eq!(FrameGeometry::square(512, 0), Err(FrameError::Rate(0)));
        assert_eq!(FrameGeometry::square(512, 121), Err(FrameError::Rate(121)));
        let g = FrameGeometry::square(2160, 120).unwrap();
        assert_eq!((g.width_px(), g.height_px(), g.fps(), g.row_bytes()), (2160, 2160, 120, 8640));
        assert_eq!(g.frame_bytes(), 2160 * 8640);
        assert_eq!(FrameGeometry::new(3840, 2160, 60).unwrap().frame_bytes(), 3840 * 2160 * 4);
        assert_eq!(FrameGeometry::square(64, 1).unwrap().frame_secs(3), 3.0);
    }

    #[test]
    fn the_face_square_is_the_shorter_side_centred() {
        let call = FrameGeometry::new(640, 480, 30).unwrap();
        assert_eq!((call.face_side_px(), call.face_origin_px(), call.is_square()), (480, (80, 0), false));
        let tall = FrameGeometry::new(720, 1280, 30).unwrap();
        assert_eq!((tall.face_side_px(), tall.face_origin_px()), (720, (0, 280)));
        let square = FrameGeometry::square(512, 30).unwrap();
        assert_eq!((square.face_side_px(), square.face_origin_px(), square.is_square()), (512, (0, 0), true));
        assert_eq!(call.to_string(), "640x480@30");
    }

    #[test]
    fn sizes_parse_as_a_side_or_width_by_height() {
        assert_eq!(parse_size("512"), Ok((512, 512)));
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert_eq!(parse_size("640X480"), Ok((640, 480)));
        for bad in ["", "x", "640x", "abc", "640x480x2", "-5", "1e3"] {
            assert!(matches!(parse_size(bad), Err(FrameError::Syntax(_))), "{bad:?}");
        }
    }
}
