//! Text as pixels: font8x8's 8x8 glyphs, each glyph pixel drawn as a square of whole pixels, for the
//! window's HUD and the disclosure mark.
//!
//! Input: a string, a scale and two colours. Output: RGBA8 pixels. Thread: the caller's; at start-up
//! (the mark) or when the HUD's text changes, never per frame.

use font8x8::UnicodeFonts as _;
use image::RgbaImage;

/// A glyph's side in font pixels.
pub const GLYPH_PX: usize = 8;

/// Draws `text` into `pixels` (RGBA8 rows of `width` pixels) with its top-left corner at (`x`, `y`),
/// each glyph pixel `scale` x `scale` pixels: `fg` where a glyph's bit is set, `bg` elsewhere in its
/// cell. A colour whose alpha is 0 is not drawn (the pixels keep theirs: text over a picture). A
/// character font8x8 lacks draws as an empty cell; what falls outside `pixels` is left out.
pub fn draw(pixels: &mut [u8], width: usize, (x, y): (usize, usize), text: &str, scale: usize, [fg, bg]: [[u8; 4]; 2]) {
    let height = pixels.len() / (4 * width.max(1));
    for (col, ch) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(ch).unwrap_or([0; 8]);
        for (gy, bits) in glyph.iter().enumerate() {
            for gx in 0..GLYPH_PX {
                let colour = if bits >> gx & 1 == 1 { fg } else { bg };
                if colour[3] == 0 {
                    continue;
                }
                for dy in 0..scale {
                    let py = y + gy * scale + dy;
                    let px0 = x + (col * GLYPH_PX + gx) * scale;
                    if py >= height || px0 >= width {
                        continue;
                    }
                    for px in px0..(px0 + scale).min(width) {
                        let i = 4 * (py * width + px);
                        pixels[i..i + 4].copy_from_slice(&colour);
                    }
                }
            }
        }
    }
}

/// A label: `text` in `fg` on a box of `bg` with one glyph pixel of margin all round, each glyph pixel
/// `scale` pixels a side.
pub fn label(text: &str, scale: u32, [fg, bg]: [[u8; 4]; 2]) -> RgbaImage {
    let scale = scale.max(1) as usize;
    let chars = text.chars().count();
    let (width, height) = ((chars * GLYPH_PX + 2) * scale, (GLYPH_PX + 2) * scale);
    let mut pixels: Vec<u8> = bg.iter().copied().cycle().take(width * height * 4).collect();
    draw(&mut pixels, width, (scale, scale), text, scale, [fg, bg]);
    RgbaImage::from_raw(width as u32, height as u32, pixels).expect("the label's pixels fill it")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: [u8; 4] = [255; 4];
    const CLEAR: [u8; 4] = [0; 4];

    #[test]
    fn a_label_holds_its_glyphs_at_scale_inside_a_margin() {
        let one = label("I", 1, [WHITE, CLEAR]);
        assert_eq!(one.dimensions(), (10, 10));
        let two = label("AI", 2, [WHITE, CLEAR]);
        assert_eq!(two.dimensions(), ((2 * 8 + 2) * 2, 20));
        // The margin is background; every lit font pixel is a 2x2 block of foreground.
        assert!((0..two.width()).all(|x| two.get_pixel(x, 0).0 == CLEAR && two.get_pixel(x, 19).0 == CLEAR));
        let lit = two.pixels().filter(|p| p.0 == WHITE).count();
        let bits: u32 = ['A', 'I']
            .iter()
            .map(|&c| font8x8::BASIC_FONTS.get(c).unwrap().iter().map(|b| b.count_ones()).sum::<u32>())
            .sum();
        assert!(bits > 0);
        assert_eq!(lit as u32, 4 * bits);
    }

    #[test]
    fn drawing_past_the_edge_is_clipped_not_a_panic() {
        let mut pixels = vec![0u8; 4 * 12 * 5];
        draw(&mut pixels, 12, (6, 2), "WW", 3, [WHITE, CLEAR]);
        assert!(pixels.contains(&255));
    }
}
