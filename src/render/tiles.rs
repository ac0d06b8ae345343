//! Screen tiles and the two-resolution flow: which narrow keypoints can reach each 8-pixel tile.
//!
//! The warp's source point is a normalised blend, s(z) = z + N(z) / D(z), with
//! N = sum of w_k (m_k(z) - z) and D = background weight + sum of w_k, where m_k is keypoint k's local
//! affine map and w_k its Gaussian weight. Wide keypoints (the jaw, the head and body rings) vary
//! smoothly over a few pixels, so their part of N and D is evaluated on a coarse grid (one sample per
//! [`FLOW_STEP_PX`] pixels) and read bilinearly. Narrow keypoints (lips, lids, eyes, nose) are added at
//! every pixel of the tiles they reach: the renderer runs the per-pixel warp only in those tiles (the
//! fine tiles) and draws the others from the coarse grid alone. Shared by the GPU renderer and the CPU
//! reference, so both split the same way. Tiles that no keypoint reaches at all show the still image
//! (s(z) = z): the renderer draws them once and then holds them ([`TileDraw::Held`]).
//!
//! Input: the driving keypoints and their spreads, per frame. Output: the runs of fine and coarse tiles to draw.
//! Thread: the render thread; nothing is allocated per frame.

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

/// The per-frame binning of the narrow keypoints into tiles. Built once per frame size;
/// [`bin`](Self::bin) rebuilds it in place (a counting sort), allocating nothing.
///
/// Layout: tile `t`'s list is `keypoints[offsets[t] .. offsets[t + 1]]`.
#[derive(Debug, Clone)]
pub struct Tiling {
    size_px: u32,
    tiles_x: u32,
    /// Start offsets of every tile's list into `keypoints`, and the end.
    offsets: Vec<u32>,
    /// Narrow keypoint indices, grouped by tile.
    keypoints: Vec<u32>,
    cursor: Vec<u32>,
    /// Tiles that read a coarse flow sample some wide keypoint writes this frame.
    moving: Vec<bool>,
    /// Tiles whose pixels hold the still image (see [`Tiling::runs`]) from an earlier frame.
    held: Vec<bool>,
}

/// How the warp draws a tile this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileDraw {
    /// Narrow keypoints reach it: the coarse flow plus the per-pixel sum.
    Fine,
    /// The coarse flow alone.
    Coarse,
    /// Nothing: no keypoint reaches it, so its pixels are the still image (the portrait where every
    /// keypoint's weight is zero: s(z) = z exactly), and it still holds them from an earlier frame.
    Held,
}

impl Tiling {
    /// Tiles for `size_px x size_px` frames and up to `max_keypoints` keypoints.
    pub fn new(size_px: u32, max_keypoints: usize) -> Self {
        let tiles_x = size_px.div_ceil(TILE_PX);
        let n = (tiles_x * tiles_x) as usize;
        Self {
            size_px,
            tiles_x,
            offsets: vec![0; n + 1],
            keypoints: vec![0; n * max_keypoints.max(1)],
            cursor: vec![0; n + 1],
            moving: vec![true; n],
            held: vec![false; n],
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

    /// The narrow keypoints (indices) that reach tile `t`.
    pub fn list(&self, t: usize) -> &[u32] {
        &self.keypoints[self.offsets[t] as usize..self.offsets[t + 1] as usize]
    }

    /// Whether a keypoint of spread `sigma` (frame units) is narrow at this frame size.
    pub fn is_narrow(&self, sigma: Vec2) -> bool {
        sigma.min_element() * 0.5 * (self.size_px as f32) < FINE_SIGMA_STEPS * FLOW_STEP_PX as f32
    }

    /// The tiles that a keypoint's 3-sigma ellipse around `centre` reaches, row by row: (row, first
    /// column, last column), inclusive. `sigma` is along the face axes `right` and `down`; all in frame
    /// coordinates. Exact per row (the ellipse's extent across the row's band, not its bounding box),
    /// so a tiny margin aside, no tile is listed that the ellipse misses: a fifth fewer tile-keypoint
    /// pairs than the bounding box for a round keypoint, more for a slanted one.
    fn rows(
        &self,
        centre: Vec2,
        sigma: Vec2,
        right: Vec2,
        down: Vec2,
    ) -> impl Iterator<Item = (u32, u32, u32)> + use<> {
        let px_per_unit = 0.5 * self.size_px as f32;
        let c = (centre + 1.0) * px_per_unit;
        // The ellipse in pixels: d^T M d <= 9 with M = r r^T / sx^2 + n n^T / sy^2 (r, n the face axes).
        let (sx, sy) = (sigma.x * px_per_unit, sigma.y * px_per_unit);
        let (a, b, cc) = (
            right.x * right.x / (sx * sx) + down.x * down.x / (sy * sy),
            right.x * right.y / (sx * sx) + down.x * down.y / (sy * sy),
            right.y * right.y / (sx * sx) + down.y * down.y / (sy * sy),
        );
        let r2 = CUTOFF_SIGMAS * CUTOFF_SIGMAS;
        // For an offset dy below the centre the ellipse spans dx = -(b / a) dy +- sqrt((r2 - g dy^2) / a),
        // g = c - b^2 / a, over |dy| <= sqrt(r2 / g). Its leftmost point is at dy = -dy_side, its
        // rightmost at +dy_side (the extreme points along x of an ellipse, M^-1 e_x scaled).
        let g = (cc - b * b / a).max(1e-12);
        let reach_y = (r2 / g).sqrt();
        let dy_side = b / a * (r2 / (a * g)).sqrt();
        let half = move |dy: f32| ((r2 - g * dy * dy).max(0.0) / a).sqrt();
        let tile_px = TILE_PX as f32;
        let last = self.tiles_x as f32 - 1.0;
        let tile = move |v: f32| (v / tile_px).floor().clamp(0.0, last) as u32;
        // A margin against rounding, in pixels.
        const MARGIN_PX: f32 = 1e-2;
        (tile(c.y - reach_y)..=tile(c.y + reach_y)).filter_map(move |ty| {
            // The row's band, relative to the centre, cut to the ellipse's own extent.
            let lo = (ty as f32 * tile_px - c.y).max(-reach_y);
            let hi = ((ty + 1) as f32 * tile_px - c.y).min(reach_y);
            if lo > hi {
                return None;
            }
            let left_at = |dy: f32| -(b / a) * dy - half(dy);
            let right_at = |dy: f32| -(b / a) * dy + half(dy);
            let mut left = left_at(lo).min(left_at(hi));
            let mut right = right_at(lo).max(right_at(hi));
            if (lo..=hi).contains(&-dy_side) {
                left = left.min(left_at(-dy_side));
            }
            if (lo..=hi).contains(&dy_side) {
                right = right.max(right_at(dy_side));
            }
            Some((ty, tile(c.x + left - MARGIN_PX), tile(c.x + right + MARGIN_PX)))
        })
    }

    /// Bins the narrow ones among `keypoints`, given as (driving position, sigma along the face axes),
    /// into the tiles their ellipses reach; the wide ones are skipped (the coarse grid carries them).
    /// Returns how many (tile, keypoint) entries the lists hold in all.
    ///
    /// # Panics
    /// If there are more keypoints than this tiling was built for (a caller's bug).
    pub fn bin(&mut self, keypoints: impl Iterator<Item = (Vec2, Vec2)> + Clone, right: Vec2, down: Vec2) -> usize {
        self.cursor.fill(0);
        self.moving.fill(false);
        for (centre, sigma) in keypoints.clone() {
            if !self.is_narrow(sigma) {
                self.mark_moving(centre, sigma, right, down);
                continue;
            }
            for (ty, x0, x1) in self.rows(centre, sigma, right, down) {
                for tx in x0..=x1 {
                    self.cursor[(ty * self.tiles_x + tx) as usize] += 1;
                }
            }
        }
        // The end slot (index n) counts nothing, so a running sum gives every offset.
        let mut total = 0;
        for (offset, count) in self.offsets.iter_mut().zip(&mut self.cursor) {
            *offset = total;
            total += *count;
            *count = *offset; // now the list's write cursor
        }
        for (i, (centre, sigma)) in keypoints.enumerate() {
            if !self.is_narrow(sigma) {
                continue;
            }
            for (ty, x0, x1) in self.rows(centre, sigma, right, down) {
                for tx in x0..=x1 {
                    let cursor = &mut self.cursor[(ty * self.tiles_x + tx) as usize];
                    self.keypoints[*cursor as usize] = i as u32;
                    *cursor += 1;
                }
            }
        }
        total as usize
    }

    /// Marks the tiles whose pixels read a coarse flow sample that a wide keypoint at `centre` writes.
    /// The keypoint's quad (shaders/warp.wgsl `spot`) covers its 3-sigma ellipse's bounding box plus half
    /// a flow step and writes the samples whose centres it covers; a pixel reads the samples within
    /// one flow step of it (bilinearly). A pixel more than a step from the quad reads none of them.
    fn mark_moving(&mut self, centre: Vec2, sigma: Vec2, right: Vec2, down: Vec2) {
        let px_per_unit = 0.5 * self.size_px as f32;
        let c = (centre + 1.0) * px_per_unit;
        let (sx, sy) = (sigma.x * px_per_unit, sigma.y * px_per_unit);
        // The ellipse's bounding box: CUTOFF_SIGMAS sqrt of the diagonal of M^-1 = sx^2 r r^T + sy^2 n n^T.
        let half = CUTOFF_SIGMAS
            * Vec2::new(
                (sx * sx * right.x * right.x + sy * sy * down.x * down.x).sqrt(),
                (sx * sx * right.y * right.y + sy * sy * down.y * down.y).sqrt(),
            );
        // Half a step for the quad, one step for the bilinear read, and a pixel against rounding.
        let reach = half + Vec2::splat(1.5 * FLOW_STEP_PX as f32 + 1.0);
        let last = self.tiles_x as f32 - 1.0;
        let tile = |v: f32| (v / TILE_PX as f32).floor().clamp(0.0, last) as u32;
        let (lo, hi) = (c - reach, c + reach);
        if hi.x < 0.0 || hi.y < 0.0 || lo.x > self.size_px as f32 || lo.y > self.size_px as f32 {
            return;
        }
        for ty in tile(lo.y)..=tile(hi.y) {
            let row = (ty * self.tiles_x) as usize;
            self.moving[row + tile(lo.x) as usize..=row + tile(hi.x) as usize].fill(true);
        }
    }

    /// How the warp draws tile `t` this frame (after [`bin`](Self::bin)).
    pub fn draw(&self, t: usize) -> TileDraw {
        if !self.list(t).is_empty() {
            TileDraw::Fine
        } else if self.moving[t] || !self.held[t] {
            TileDraw::Coarse
        } else {
            TileDraw::Held
        }
    }

    /// Records that this frame's runs were drawn: from now on every tile that no keypoint reaches holds
    /// the still image (drawn now, or held from before).
    pub fn drawn(&mut self) {
        for (t, held) in self.held.iter_mut().enumerate() {
            *held = !self.moving[t] && self.offsets[t] == self.offsets[t + 1];
        }
    }

    /// Forgets what the frame holds (a new backdrop, a fresh target): the next frame draws every tile.
    pub fn forget(&mut self) {
        self.held.fill(false);
    }

    /// Forgets what the tiles under the pixel rectangle (x, y, width, height) hold: something else
    /// drew there.
    pub fn forget_rect(&mut self, (x, y, w, h): (u32, u32, u32, u32)) {
        if w == 0 || h == 0 {
            return;
        }
        let last = self.tiles_x - 1;
        let (x0, y0) = ((x / TILE_PX).min(last), (y / TILE_PX).min(last));
        let (x1, y1) = (((x + w - 1) / TILE_PX).min(last), ((y + h - 1) / TILE_PX).min(last));
        for ty in y0..=y1 {
            let row = (ty * self.tiles_x) as usize;
            self.held[row + x0 as usize..=row + x1 as usize].fill(false);
        }
    }

    /// The runs of consecutive tiles in a row that the warp draws the same way (`draw`: fine or coarse),
    /// in order, each as its first tile plus `n_tiles * (length - 1)` (shaders/warp.wgsl `vs_run` decodes
    /// it). The warp draws one quad per run: few triangles, and no pixel drawn twice. Held tiles are
    /// in no run.
    pub fn runs(&self, draw: TileDraw) -> impl Iterator<Item = u32> + '_ {
        let (n, row) = (self.n_tiles() as u32, self.tiles_x);
        let kind = move |t: u32| self.draw(t as usize) == draw;
        (0..n).filter(move |&t| kind(t) && (t % row == 0 || !kind(t - 1))).map(move |first| {
            let end = (first + 1..first - first % row + row).find(|&t| !kind(t)).unwrap_or(first - first % row + row);
            first + n * (end - first - 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_narrow_keypoints_are_binned() {
        let mut t = Tiling::new(512, 4);
        let (right, down) = (Vec2::X, Vec2::Y);
        // A wide keypoint in the middle and a narrow one (1 px sigma) at pixel (44, 44), near the corner.
        let px = 2.0 / 512.0;
        let kps = [
            (Vec2::new(256.3, 255.6) * px - 1.0, Vec2::splat(40.0 * px)),
            (Vec2::splat(44.0 * px - 1.0), Vec2::splat(px)),
        ];
        let used = t.bin(kps.iter().copied(), right, down);
        // The narrow one reaches 41 to 47 px: tile 5 of row 5 only. The wide one is not listed.
        assert_eq!(used, 1);
        let corner = t.tile_of(44, 44);
        assert_eq!(t.list(corner), &[1]);
        assert!(t.list(t.tile_of(256, 256)).is_empty());
        // It is the one fine tile.
        assert_eq!((0..t.n_tiles()).filter(|&i| !t.list(i).is_empty()).collect::<Vec<_>>(), [corner]);
        // Every row is one coarse run but the corner tile's: tiles 0..5 and 6..64 of row 5.
        let runs: Vec<u32> = t.runs(TileDraw::Coarse).collect();
        assert_eq!(runs.len(), 65);
        assert_eq!(runs[5], 5 * 64 + 4096 * 4);
        assert_eq!(runs[6], 5 * 64 + 6 + 4096 * 57);
        assert_eq!(runs[7], 6 * 64 + 4096 * 63);
        assert_eq!(t.runs(TileDraw::Fine).collect::<Vec<_>>(), [corner as u32]);
        // Rebinning in place gives the same.
        assert_eq!(t.bin(kps.iter().copied(), right, down), used);
        assert_eq!(t.list(corner), &[1]);
    }

    #[test]
    fn tiles_no_keypoint_reaches_are_held_after_one_frame() {
        let size = 512;
        let mut t = Tiling::new(size, 2);
        let (right, down) = (Vec2::X, Vec2::Y);
        let px = 2.0 / size as f32;
        // A wide keypoint (20 px sigma) at pixel (256, 256) and a narrow one at (44, 44).
        let kps =
            [(Vec2::splat(256.0 * px - 1.0), Vec2::splat(20.0 * px)), (Vec2::splat(44.0 * px - 1.0), Vec2::splat(px))];
        t.bin(kps.iter().copied(), right, down);
        // The first frame draws every tile.
        assert!((0..t.n_tiles()).all(|i| t.draw(i) != TileDraw::Held));
        t.drawn();
        t.bin(kps.iter().copied(), right, down);
        let (fine, far, near) = (t.tile_of(44, 44), t.tile_of(500, 20), t.tile_of(256 + 60, 256));
        assert_eq!(t.draw(fine), TileDraw::Fine);
        assert_eq!(t.draw(far), TileDraw::Held);
        assert_eq!(t.draw(near), TileDraw::Coarse);
        // Held tiles are in no run; the rest are drawn once.
        let drawn: usize = [TileDraw::Fine, TileDraw::Coarse]
            .into_iter()
            .flat_map(|d| t.runs(d).collect::<Vec<_>>())
            .map(|run| (run / t.n_tiles() as u32 + 1) as usize)
            .sum();
        let held = (0..t.n_tiles()).filter(|&i| t.draw(i) == TileDraw::Held).count();
        assert_eq!(drawn + held, t.n_tiles());
        // Something drawn over a rectangle, or a new backdrop: drawn again.
        t.forget_rect((496, 16, 8, 8));
        assert_eq!(t.draw(far), TileDraw::Coarse);
        t.drawn();
        assert_eq!(t.draw(far), TileDraw::Held);
        t.forget();
        assert_eq!(t.draw(far), TileDraw::Coarse);
    }

    #[test]
    fn a_wide_keypoint_moves_every_tile_that_reads_a_sample_it_writes() {
        // The coarse samples whose centres lie inside the keypoint's quad (3-sigma bounding box plus half
        // a step, as shaders/warp.wgsl draws it) are written; a pixel reads the samples within one step of
        // it. Every tile holding such a pixel must be marked, for slanted and clipped ellipses alike.
        let size = 256;
        let mut t = Tiling::new(size, 1);
        let angle = 0.4f32;
        let (right, down) = (Vec2::new(angle.cos(), angle.sin()), Vec2::new(-angle.sin(), angle.cos()));
        let px = 2.0 / size as f32;
        let step = FLOW_STEP_PX as f32;
        for (centre_px, sigma_px) in
            [(Vec2::new(128.0, 128.0), Vec2::new(12.0, 20.0)), (Vec2::new(10.0, 240.0), Vec2::new(15.0, 9.5))]
        {
            t.bin(std::iter::once((centre_px * px - 1.0, sigma_px * px)), right, down);
            assert!(!t.is_narrow(sigma_px * px));
            // The quad's half extents as the shader computes them (from the Gaussian's coefficients).
            let [ca, cb, cc, _] = Spread::new(sigma_px, right, down, 1.0).coefficients;
            let (a, b, c) = (-ca, -0.5 * cb, -cc);
            let det = a * c - b * b;
            let half = Vec2::new((4.5 * c / det).sqrt(), (4.5 * a / det).sqrt()) + 0.5 * step;
            let side = t.flow_side();
            for j in 0..side {
                for i in 0..side {
                    let s = (Vec2::new(i as f32, j as f32) + 0.5) * step;
                    if ((s - centre_px).abs() - half).max_element() > 0.0 {
                        continue;
                    }
                    // Sample (i, j) is written: every pixel within a step of it reads it.
                    for y in (s.y - step).max(0.0) as u32..((s.y + step).min(size as f32) as u32) {
                        for x in (s.x - step).max(0.0) as u32..((s.x + step).min(size as f32) as u32) {
                            let tile = t.tile_of(x, y);
                            assert_ne!(t.draw(tile), TileDraw::Held);
                            assert!(t.moving[tile], "pixel ({x}, {y}) reads sample ({i}, {j}) of {centre_px}");
                        }
                    }
                }
            }
        }
    }

    /// The least of the ellipse's metric (d^T M d, M from sigma and the face axes) over tile (tx, ty)'s
    /// square, by brute force on a 1/8-pixel grid of its edges and inside.
    fn nearest(spread: Spread, centre_px: Vec2, tx: u32, ty: u32) -> f32 {
        let [a, b, c, _] = spread.coefficients;
        let mut best = f32::MAX;
        for i in 0..=64 {
            for j in 0..=64 {
                let d = Vec2::new(tx as f32 * 8.0 + i as f32 / 8.0, ty as f32 * 8.0 + j as f32 / 8.0) - centre_px;
                best = best.min(-2.0 * (a * d.x * d.x + b * d.x * d.y + c * d.y * d.y));
            }
        }
        best
    }

    #[test]
    fn a_keypoint_is_listed_in_exactly_the_tiles_its_ellipse_reaches() {
        // Round, long and slanted ellipses, some reaching past the frame's edge (all narrow at this size:
        // under 9 px across).
        let size = 200;
        let mut t = Tiling::new(size, 1);
        let angle = 0.5f32;
        let (right, down) = (Vec2::new(angle.cos(), angle.sin()), Vec2::new(-angle.sin(), angle.cos()));
        let px = 2.0 / size as f32;
        for (centre_px, sigma_px) in [
            (Vec2::new(100.0, 100.0), Vec2::new(8.5, 8.5)),
            (Vec2::new(37.3, 121.9), Vec2::new(14.0, 4.0)),
            (Vec2::new(3.0, 190.0), Vec2::new(6.0, 20.0)),
            (Vec2::new(150.5, 60.25), Vec2::new(2.5, 9.0)),
        ] {
            let centre = centre_px * px - 1.0;
            t.bin(std::iter::once((centre, sigma_px * px)), right, down);
            // The shader's Gaussian in pixel units: e = -q / 2 for the metric q.
            let spread = Spread::new(sigma_px, right, down, 1.0);
            assert!(t.is_narrow(sigma_px * px));
            for tile in 0..t.n_tiles() {
                let (tx, ty) = ((tile as u32) % t.tiles_x(), (tile as u32) / t.tiles_x());
                let q = nearest(spread, centre_px, tx, ty);
                let listed = !t.list(tile).is_empty();
                // Listed where the ellipse reaches, not where it stays away (up to the margin and the brute
                // force's grid: 9.05 is about 0.03 px out at these spreads).
                assert!(
                    if listed { q < 9.05 } else { q >= 9.0 },
                    "tile ({tx}, {ty}) of {centre_px} {sigma_px}: q = {q}"
                );
            }
        }
    }
}
