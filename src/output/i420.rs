//! RGBA8 to planar I420 (YUV 4:2:0), BT.601 limited range: the colours every YUV sink writes.
//!
//! Input: an RGBA8 frame of one [`FrameGeometry`]. Output: its Y plane, then U, then V, each row packed.
//! Thread: the caller's. The conversion is openh264's (the same as the H.264 encoder's input, so a Y4M
//! pipe, a virtual camera and the MP4 show the same colours); its buffer is made once.

use openh264::formats::{RgbaSliceU8, YUVBuffer, YUVSource};

use crate::vocab::FrameGeometry;

/// A reusable converter for frames of one size.
pub struct I420 {
    yuv: YUVBuffer,
    width: usize,
    height: usize,
}

impl I420 {
    /// A converter for `frame`'s size.
    pub fn new(frame: FrameGeometry) -> Self {
        let (width, height) = (frame.width_px() as usize, frame.height_px() as usize);
        Self { yuv: YUVBuffer::new(width, height), width, height }
    }

    /// Bytes of one I420 frame: a full-size luma plane and two quarter-size chroma planes.
    pub fn frame_bytes(&self) -> usize {
        self.width * self.height * 3 / 2
    }

    /// Converts `rgba` (alpha ignored) and appends the three planes to `out`.
    pub fn convert_into(&mut self, rgba: &[u8], out: &mut Vec<u8>) {
        self.yuv.read_rgba8(RgbaSliceU8::new(rgba, (self.width, self.height)));
        let (ys, us, vs) = self.yuv.strides();
        let (half_w, half_h) = (self.width / 2, self.height / 2);
        for (plane, stride, w, h) in [
            (self.yuv.y(), ys, self.width, self.height),
            (self.yuv.u(), us, half_w, half_h),
            (self.yuv.v(), vs, half_w, half_h),
        ] {
            for row in plane.chunks(stride).take(h) {
                out.extend_from_slice(&row[..w]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bt601_limited_range_grey_white_and_red() {
        let frame = FrameGeometry::square(64, 30).unwrap();
        let mut c = I420::new(frame);
        let mut out = Vec::new();
        let white = vec![255u8; frame.frame_bytes()];
        c.convert_into(&white, &mut out);
        assert_eq!(out.len(), c.frame_bytes());
        // White is Y 235, neutral chroma 128 (limited range), within openh264's rounding.
        assert!((234..=235).contains(&out[0]) && (127..=128).contains(&out[64 * 64]), "{} {}", out[0], out[64 * 64]);
        out.clear();
        let red: Vec<u8> = (0..frame.frame_bytes()).map(|i| if i % 4 == 0 || i % 4 == 3 { 255 } else { 0 }).collect();
        c.convert_into(&red, &mut out);
        // BT.601 red: Y 81, U 90, V 240.
        let (y, u, v) = (out[0], out[64 * 64], out[64 * 64 + 32 * 32]);
        assert!(y.abs_diff(81) <= 1 && u.abs_diff(90) <= 1 && v.abs_diff(240) <= 1, "red is ({y}, {u}, {v})");
    }
}
