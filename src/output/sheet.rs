//! The contact sheet: a grid of sampled frames with mouth-opening bars, for people to look at.
//!
//! Input: frames and a bar length per frame. Output: one image. Thread: the caller's, once at the end.

use image::RgbaImage;

/// Lays `frames` out in a grid of `columns`, each scaled to `cell` pixels, with its label
/// (`labels[i]`) drawn as a bar whose length is `bars[i]` (0..1) under it, for a quick visual check.
pub fn contact_sheet(frames: &[RgbaImage], bars: &[f32], columns: usize, cell: u32) -> RgbaImage {
    let columns = columns.max(1);
    let rows = frames.len().div_ceil(columns).max(1);
    // Cells keep the frames' shape: `cell` wide.
    let cell_h = frames.first().map_or(cell, |f| (cell * f.height() / f.width().max(1)).max(1));
    let bar_h = (cell / 24).max(4);
    let pad = 4;
    let (cw, ch) = (cell + pad, cell_h + bar_h + 2 * pad);
    let mut sheet =
        RgbaImage::from_pixel(columns as u32 * cw + pad, rows as u32 * ch + pad, image::Rgba([24, 24, 24, 255]));
    for (i, frame) in frames.iter().enumerate() {
        let (x0, y0) = ((i % columns) as u32 * cw + pad, (i / columns) as u32 * ch + pad);
        let small = image::imageops::resize(frame, cell, cell_h, image::imageops::FilterType::Triangle);
        image::imageops::overlay(&mut sheet, &small, i64::from(x0), i64::from(y0));
        let len = (bars.get(i).copied().unwrap_or(0.0).clamp(0.0, 1.0) * cell as f32) as u32;
        for y in y0 + cell_h + pad / 2..y0 + cell_h + pad / 2 + bar_h {
            for x in x0..x0 + cell {
                let c = if x - x0 < len { [230, 90, 60, 255] } else { [70, 70, 70, 255] };
                sheet.put_pixel(x, y, image::Rgba(c));
            }
        }
    }
    sheet
}
