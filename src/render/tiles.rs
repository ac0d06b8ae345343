//! Screen tiles and the two-resolution flow: which keypoints can reach each 16-pixel tile, split into
//! wide and narrow ones.
//!
//! The warp's source point is a normalised blend, s(z) = z + N(z) / D(z), with
//! N = sum of w_k (m_k(z) - z) and D = background weight + sum of w_k, where m_k is keypoint k's local
//! affine map and w_k its Gaussian weight. Wide keypoints (the jaw, the head and body rings) vary
//! smoothly over a few pixels, so their part of N and D is evaluated on a coarse grid (one sample per
//! [`FLOW_STEP_PX`] pixels) and read bilinearly. Narrow keypoints (lips, lids, eyes, nose) are added at
//! every pixel of the tiles they reach. Shared by the GPU renderer and the CPU reference, so both split
//! the same way.

use glam::Vec2;

/// Side of the screen tiles that keypoints are binned into, pixels.
pub const TILE_PX: u32 = 8;

/// Spacing of the coarse flow grid, pixels.
pub const FLOW_STEP_PX: u32 = 4;

/// A keypoint whose smaller sigma is under this many flow steps is narrow: evaluated at every pixel.
/// Bilinear interpolation of a Gaussian of spread sigma over steps h errs by about h^2 / (8 sigma^2)
/// of its peak: at 3 steps that is 1.4%.
pub const FINE_SIGMA_STEPS: f32 = 2.25;

/// Beyond 3 sigma a keypoint's weight is zero (shader and reference alike).
pub const CUTOFF_SIGMAS: f32 = 3.0;

/// exp(-CUTOFF_SIGMAS^2 / 2): subtracted from every Gaussian so that it falls to zero at the cutoff.
pub const CUTOFF_WEIGHT: f32 = 0.011_108_997;

/// A keypoint's Gaussian as the shader evaluates it: exponent `e(d) = a d.x^2 + b d.x d.y + c d.y^2`
/// for `d = z - drv` (frame axes), and weight `w (exp(e) - CUTOFF_WEIGHT)` where `e > -CUTOFF_SIGMAS^2 / 2`,
/// zero elsewhere. The peak stays `weight`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// (a, b, c, w).
    pub coefficients: [f32; 4],
}

impl Spread {
    /// The Gaussian with spread `sigma` along the face axes `right` and `down`, of peak `weight`.
    pub fn new(sigma: Vec2, right: Vec2, down: Vec2, weight: f32) -> Self {
        // e = -0.5 ((d.right / sx)^2 + (d.down / sy)^2)
        let (r, n) = (right / sigma.x, down / sigma.y);
        Self {
            coefficients: [
                -0.5 * (r.x * r.x + n.x * n.x),
                -(r.x * r.y + n.x * n.y),
                -0.5 * (r.y * r.y + n.y * n.y),
                weight / (1.0 - CUTOFF_WEIGHT),
            ],
        }
    }

    /// The weight at offset `d` from the keypoint.
    pub fn weight(&self, d: Vec2) -> f32 {
        let [a, b, c, w] = self.coefficients;
        let e = a * d.x * d.x + b * d.x * d.y + c * d.y * d.y;
        if e > -0.5 * CUTOFF_SIGMAS * CUTOFF_SIGMAS { w * (e.exp() - CUTOFF_WEIGHT) } else { 0.0 }
    }
}

/// Which of the two per-tile lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Wide keypoints, evaluated on the coarse grid.
    Wide = 0,
    /// Narrow keypoints, evaluated at every pixel.
    Narrow = 1,
}

/// The per-frame binning of keypoints into tiles. Built once per frame size; [`bin`](Self::bin)
/// rebuilds it in place (a counting sort), allocating nothing.
///
/// Layout (as the shader reads it): `offsets` holds the wide lists' offsets for every tile then one end
/// offset, then the same for the narrow lists; list `l` of tile `t` is
/// `keypoints[offsets[l * (n + 1) + t] .. offsets[l * (n + 1) + t + 1]]` for `n` tiles.
#[derive(Debug, Clone)]
pub struct Tiling {
    size_px: u32,
    tiles_x: u32,
    /// Start offsets of every tile's list into `keypoints`, wide lists then narrow ones.
    pub offsets: Vec<u32>,
    /// Keypoint indices, grouped by list and tile.
    pub keypoints: Vec<u32>,
    cursor: Vec<u32>,
}

impl Tiling {
    /// Tiles for `size_px x size_px` frames and up to `max_keypoints` keypoints.
    pub fn new(size_px: u32, max_keypoints: usize) -> Self {
        let tiles_x = size_px.div_ceil(TILE_PX);
        let n = (tiles_x * tiles_x) as usize;
        Self {
            size_px,
            tiles_x,
            offsets: vec![0; 2 * (n + 1)],
            keypoints: vec![0; n * max_keypoints.max(1)],
            cursor: vec![0; 2 * (n + 1)],
        }
    }

    /// Tiles per row.
    pub fn tiles_x(&self) -> u32 {
        self.tiles_x
    }

    /// Tiles in all.
    pub fn n_tiles(&self) -> usize {
        (self.tiles_x * self.tiles_x) as usize
    }

    /// Samples per row of the coarse flow grid.
    pub fn flow_side(&self) -> u32 {
        self.size_px.div_ceil(FLOW_STEP_PX)
    }

    /// The tile (index) that pixel (x, y) lies in.
    pub fn tile_of(&self, x: u32, y: u32) -> usize {
        let last = self.tiles_x - 1;
        ((y / TILE_PX).min(last) * self.tiles_x + (x / TILE_PX).min(last)) as usize
    }

    /// The keypoint indices of tile `t`'s `list`.
    pub fn list(&self, list: List, t: usize) -> &[u32] {
        let i = list as usize * (self.n_tiles() + 1) + t;
        &self.keypoints[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Whether a keypoint of spread `sigma` (frame units) is narrow at this frame size.
    pub fn is_narrow(&self, sigma: Vec2) -> bool {
        sigma.min_element() * 0.5 * (self.size_px as f32) < FINE_SIGMA_STEPS * FLOW_STEP_PX as f32
    }

    /// Tiles (x0, y0, x1, y1 inclusive) that a keypoint's 3-sigma ellipse around `centre` reaches.
    /// `sigma` is along the face axes `right` and `down`; all in frame coordinates.
    fn span(&self, centre: Vec2, sigma: Vec2, right: Vec2, down: Vec2) -> (u32, u32, u32, u32) {
        // Half extents of the ellipse {c + a sx right + b sy down : a^2 + b^2 <= 9} along x and y.
        let half = CUTOFF_SIGMAS
            * Vec2::new((sigma.x * right.x).hypot(sigma.y * down.x), (sigma.x * right.y).hypot(sigma.y * down.y));
        let to_px = |v: Vec2| (v + 1.0) * 0.5 * self.size_px as f32;
        let (lo, hi) = (to_px(centre - half), to_px(centre + half));
        let last = self.tiles_x as f32 - 1.0;
        let tile = |v: f32| (v / TILE_PX as f32).floor().clamp(0.0, last) as u32;
        (tile(lo.x), tile(lo.y), tile(hi.x), tile(hi.y))
    }

    /// Bins keypoints, given as (driving position, sigma along the face axes), into the wide and narrow
    /// lists. Returns how many entries of [`keypoints`](Self::keypoints) are used.
    ///
    /// # Panics
    /// If there are more keypoints than this tiling was built for (a caller's bug).
    pub fn bin(&mut self, keypoints: impl Iterator<Item = (Vec2, Vec2)> + Clone, right: Vec2, down: Vec2) -> usize {
        let stride = self.n_tiles() + 1;
        self.cursor.fill(0);
        for (centre, sigma) in keypoints.clone() {
            let base = usize::from(self.is_narrow(sigma)) * stride;
            let (x0, y0, x1, y1) = self.span(centre, sigma, right, down);
            for ty in y0..=y1 {
                for tx in x0..=x1 {
                    self.cursor[base + (ty * self.tiles_x + tx) as usize] += 1;
                }
            }
        }
        // The end slots (index n of each half) count nothing, so a running sum gives every offset.
        let mut total = 0;
        for (offset, count) in self.offsets.iter_mut().zip(&mut self.cursor) {
            *offset = total;
            total += *count;
            *count = *offset; // now the list's write cursor
        }
        for (i, (centre, sigma)) in keypoints.enumerate() {
            let base = usize::from(self.is_narrow(sigma)) * stride;
            let (x0, y0, x1, y1) = self.span(centre, sigma, right, down);
            for ty in y0..=y1 {
                for tx in x0..=x1 {
                    let cursor = &mut self.cursor[base + (ty * self.tiles_x + tx) as usize];
                    self.keypoints[*cursor as usize] = i as u32;
                    *cursor += 1;
                }
            }
        }
        total as usize
    }

    /// The tiles (indices) that a narrow keypoint reaches, in order.
    pub fn fine_tiles(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.n_tiles()).filter(|&t| !self.list(List::Narrow, t).is_empty()).map(|t| t as u32)
    }

    /// Share of tiles that a narrow keypoint reaches.
    pub fn fine_share(&self) -> f32 {
        self.fine_tiles().count() as f32 / self.n_tiles() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_and_narrow_keypoints_go_to_their_own_lists() {
        let mut t = Tiling::new(512, 4);
        let (right, down) = (Vec2::X, Vec2::Y);
        // A wide keypoint in the middle and a narrow one (1 px sigma) at pixel (44, 44), near the corner.
        let px = 2.0 / 512.0;
        let kps = [(Vec2::ZERO, Vec2::splat(40.0 * px)), (Vec2::splat(44.0 * px - 1.0), Vec2::splat(px))];
        let used = t.bin(kps.iter().copied(), right, down);
        // The wide one reaches 3 sigma = 120 px each way, 136 to 376 px: tiles 17 to 47, 31 x 31 of them;
        // the narrow one 41 to 47 px: tile 5 only.
        assert_eq!(used, 31 * 31 + 1);
        assert!((t.fine_share() - 1.0 / 4096.0).abs() < 1e-7);
        let corner = t.tile_of(44, 44);
        assert_eq!(t.list(List::Narrow, corner), &[1]);
        assert!(t.list(List::Wide, corner).is_empty());
        assert_eq!(t.fine_tiles().collect::<Vec<_>>(), [corner as u32]);
        let centre = t.tile_of(256, 256);
        assert_eq!(t.list(List::Wide, centre), &[0]);
        assert!(t.list(List::Narrow, centre).is_empty());
        // Rebinning in place gives the same.
        assert_eq!(t.bin(kps.iter().copied(), right, down), used);
        assert_eq!(t.list(List::Narrow, corner), &[1]);
    }
}
