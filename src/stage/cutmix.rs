//! CutMix geometry: timm's `rand_bbox` / `cutmix_bbox_and_lam` for row-major H × W × C
//! (channels-last) feature rows, and the paste of a partner's box into a row.

use rand::Rng;

use crate::rng::below;

/// An image shape, height × width × channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    /// Values per row.
    pub fn len(self) -> usize {
        self.h * self.w * self.c
    }
}

/// A box of rows `y0..y1` and columns `x0..x1` (half-open, clipped to the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CutBox {
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
}

impl CutBox {
    /// Number of pixels inside.
    pub fn area(self) -> usize {
        (self.y1 - self.y0) * (self.x1 - self.x0)
    }
}

/// timm's `rand_bbox` (no margin) followed by its λ correction: a box of side ratio
/// `sqrt(1 − λ)` (truncated to whole pixels as `int(H · ratio)`, half-sides `cut // 2`) centred
/// at a uniform pixel — the centre row `below(H)` drawn first, then the column `below(W)` —
/// and clipped to the image. Returns the box and the corrected λ = 1 − area / (H · W).
pub(crate) fn rand_box(shape: Shape, lam: f64, rng: &mut impl Rng) -> (CutBox, f64) {
    let ratio = (1.0 - lam).max(0.0).sqrt();
    let cut_h = (shape.h as f64 * ratio) as usize;
    let cut_w = (shape.w as f64 * ratio) as usize;
    let cy = below(rng, shape.h as u64) as usize;
    let cx = below(rng, shape.w as u64) as usize;
    let b = CutBox {
        y0: cy.saturating_sub(cut_h / 2),
        y1: (cy + cut_h / 2).min(shape.h),
        x0: cx.saturating_sub(cut_w / 2),
        x1: (cx + cut_w / 2).min(shape.w),
    };
    let corrected = 1.0 - b.area() as f64 / (shape.h * shape.w) as f64;
    (b, corrected)
}

/// Copy the box `b` of `src` into `dst` (both one row of `shape.len()` values).
#[inline]
pub(crate) fn paste(dst: &mut [f32], src: &[f32], shape: Shape, b: CutBox) {
    let row_stride = shape.w * shape.c;
    let (start, end) = (b.x0 * shape.c, b.x1 * shape.c);
    for y in b.y0..b.y1 {
        let base = y * row_stride;
        dst[base + start..base + end].copy_from_slice(&src[base + start..base + end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::derive;

    #[test]
    fn box_is_clipped_and_lambda_is_the_unpasted_fraction() {
        let shape = Shape { h: 7, w: 5, c: 2 };
        let mut r = derive(0, 0, 0);
        for i in 0..2000 {
            let lam = (i as f64) / 2000.0;
            let (b, corrected) = rand_box(shape, lam, &mut r);
            assert!(b.y0 <= b.y1 && b.y1 <= 7 && b.x0 <= b.x1 && b.x1 <= 5);
            assert_eq!(corrected, 1.0 - b.area() as f64 / 35.0);
            // Never larger than the uncorrected box.
            assert!(b.area() as f64 <= (1.0 - lam) * 35.0 + 1e-9);
        }
    }

    #[test]
    fn lambda_zero_box_covers_most_of_the_image() {
        // ratio 1: cut = H, half-sides H // 2; centred in the middle it covers 2·(H//2) rows.
        let shape = Shape { h: 8, w: 8, c: 1 };
        let mut r = derive(5, 0, 0);
        let areas: Vec<usize> = (0..500).map(|_| rand_box(shape, 0.0, &mut r).0.area()).collect();
        assert_eq!(*areas.iter().max().unwrap(), 64);
    }

    #[test]
    fn paste_copies_exactly_the_box() {
        let shape = Shape { h: 3, w: 4, c: 2 };
        let src: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let mut dst = vec![-1.0f32; 24];
        let b = CutBox { y0: 1, y1: 3, x0: 1, x1: 3 };
        paste(&mut dst, &src, shape, b);
        for y in 0..3 {
            for x in 0..4 {
                for c in 0..2 {
                    let k = (y * 4 + x) * 2 + c;
                    let inside = (1..3).contains(&y) && (1..3).contains(&x);
                    assert_eq!(dst[k], if inside { src[k] } else { -1.0 }, "y{y} x{x} c{c}");
                }
            }
        }
    }
}
