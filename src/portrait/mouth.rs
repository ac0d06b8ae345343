//! The mouth's look: whether the portrait shows teeth of its own, and the colour synthetic ones take.
//!
//! Input: the portrait image, its framing and rig, once. Output: [`MouthLook`], which the renderer's
//! mouth pass reads. Thread: the caller's, at start-up.

use image::RgbaImage;

use super::Rig;
use crate::config::Teeth;
use crate::vocab::{Framing, MouthLook};

/// How the portrait's mouth interior is drawn: `[rig] teeth` (`auto` asks the portrait whether it
/// shows teeth of its own) and the synthetic teeth's colour.
pub fn look(image: &RgbaImage, framing: &Framing, rig: &Rig) -> MouthLook {
    MouthLook {
        synthetic_teeth: match rig.teeth {
            Teeth::Auto => !shows_teeth(image, framing, rig),
            Teeth::Portrait => false,
            Teeth::Synthetic => true,
        },
        teeth_rgb: teeth_rgb(image, framing, rig),
    }
}

/// Colour of the enamel that a bright, neutral light shows.
const ENAMEL: [f32; 3] = [0.93, 0.89, 0.81];

/// Luma of lips in a well exposed portrait: the synthetic teeth are as much brighter or darker.
const LIP_LUMA: f32 = 0.45;

/// A portrait shows its teeth when at least this share of its mouth opening (the source inner-lip
/// outline) looks like teeth: light, and near grey, against its lips. The bundled portrait's smile has
/// 32% of such pixels; the same face with its lips closed by the rig, 0.9%.
const TEETH_SHARE: f32 = 0.1;

/// The image pixel under frame point `p`, if it lies in the image.
fn image_pixel(image: &RgbaImage, framing: &Framing, p: glam::Vec2) -> Option<glam::Vec3> {
    let px = framing.origin + (p + 1.0) * 0.5 * framing.side;
    let inside = px.x >= 0.0 && px.y >= 0.0 && (px.x as u32) < image.width() && (px.y as u32) < image.height();
    inside.then(|| {
        let c = image.get_pixel(px.x as u32, px.y as u32);
        glam::Vec3::new(f32::from(c[0]), f32::from(c[1]), f32::from(c[2])) / 255.0
    })
}

/// The mean colour of the portrait's lips: halfway between each outer-lip point and its inner one.
fn lip_colour(image: &RgbaImage, framing: &Framing, rig: &Rig) -> Option<glam::Vec3> {
    let samples: Vec<glam::Vec3> = (rig.outer_lip_outline.iter().zip(&rig.inner_lip_outline))
        .filter_map(|(&o, &i)| image_pixel(image, framing, 0.5 * (rig.keypoints[o].src + rig.keypoints[i].src)))
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum::<glam::Vec3>() / samples.len() as f32)
}

/// Whether the portrait shows teeth of its own ([`TEETH_SHARE`] of its mouth opening is teeth-like:
/// brighter than its lips by a tenth and with under half their saturation, or near grey). A closed
/// mouth's opening is a sliver of lip, so it shows none.
fn shows_teeth(image: &RgbaImage, framing: &Framing, rig: &Rig) -> bool {
    let outline: Vec<glam::Vec2> = rig.inner_lip_outline.iter().map(|&i| rig.keypoints[i].src).collect();
    let Some(lips) = lip_colour(image, framing, rig) else { return false };
    let luma = |c: glam::Vec3| c.dot(glam::Vec3::new(0.299, 0.587, 0.114));
    let saturation = |c: glam::Vec3| (c.max_element() - c.min_element()) / c.max_element().max(1e-3);
    let (lo, hi) = outline.iter().fold((glam::Vec2::MAX, glam::Vec2::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    let to_px = |p: glam::Vec2| framing.origin + (p + 1.0) * 0.5 * framing.side;
    let (lo_px, hi_px) = (to_px(lo).floor().max(glam::Vec2::ZERO), to_px(hi).ceil());
    let (mut teeth, mut n) = (0usize, 0usize);
    for y in lo_px.y as u32..(hi_px.y as u32).min(image.height()) {
        for x in lo_px.x as u32..(hi_px.x as u32).min(image.width()) {
            let q = framing.frame_from_image(glam::Vec2::new(x as f32 + 0.5, y as f32 + 0.5));
            if !super::rig::inside_polygon(&outline, q) {
                continue;
            }
            let p = image.get_pixel(x, y);
            let c = glam::Vec3::new(f32::from(p[0]), f32::from(p[1]), f32::from(p[2])) / 255.0;
            n += 1;
            teeth += usize::from(luma(c) > 1.1 * luma(lips) && saturation(c) < (0.5 * saturation(lips)).max(0.15));
        }
    }
    tracing::debug!(teeth, pixels = n, "teeth-like pixels in the portrait's mouth opening");
    n > 0 && teeth as f32 >= TEETH_SHARE * n as f32
}

/// The synthetic teeth's colour: enamel at the exposure of the portrait's own lips (their mean luma against [`LIP_LUMA`]), with a
/// tenth of the lips' colour for the light around the mouth.
fn teeth_rgb(image: &RgbaImage, framing: &Framing, rig: &Rig) -> [f32; 3] {
    let lips = lip_colour(image, framing, rig).unwrap_or(glam::Vec3::splat(LIP_LUMA));
    let luma = lips.dot(glam::Vec3::new(0.299, 0.587, 0.114));
    let exposure = (luma / LIP_LUMA).clamp(0.6, 1.15);
    let c = (glam::Vec3::from(ENAMEL) * exposure).lerp(lips, 0.1).min(glam::Vec3::ONE);
    c.to_array()
}
