//! [`RandomResizedCrop`]: torchvision's `RandomResizedCrop` on channels-last `H × W × C` rows.

use ndarray::Array2;

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::rng::{below, uniform, StepRng};
use crate::spec::{DataSpec, FeatureLayout};
use crate::stage::cutmix::Shape;
use crate::stage::geometry::{check_batch, check_input, parse_hwc, RowRngs};
use crate::stage::Stage;

/// Attempts at a box before the centre-crop fallback (torchvision's 10).
const ATTEMPTS: usize = 10;

/// A crop box: rows `top..top + h`, columns `left..left + w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CropBox {
    pub top: usize,
    pub left: usize,
    pub h: usize,
    pub w: usize,
}

/// A random crop of each row, resized to `size` — torchvision's `RandomResizedCrop(size,
/// scale, ratio)` with bilinear interpolation and antialiasing (`antialias=True`, the
/// tensor default since torchvision 0.17, and what Pillow's `BILINEAR` resize does), per row
/// of a batch of channels-last `H × W × C` images.
///
/// Each row gets its own generator (see the module `geometry`: a key drawn once per batch
/// from the stage's step generator, then one stream per row), from which it draws as
/// torchvision's `get_params` does: up to 10 attempts, each a target area
/// `H·W·U(scale)` and an aspect ratio `exp(U(ln ratio))`, giving `w = round(√(area·ratio))`,
/// `h = round(√(area / ratio))` (rounding half to even, as Python's `round`); the first box
/// that fits gets its top `below(H − h + 1)` and left `below(W − w + 1)`. If none fits, the
/// centre crop of the largest box within `ratio`. The box is then resized to `size` with
/// Pillow's / torchvision's antialiased bilinear filter (a triangle whose support widens with
/// the downscale factor, half-pixel centres, clamped at the crop's edges), in `f32`.
///
/// The output rows are `size.0 × size.1 × C`; the data spec's feature shape becomes that, so
/// the stages after it (Normalize, CutMix) see the cropped shape.
///
/// # Example
/// ```
/// use shardmix::{Batch, RandomResizedCrop, Stage};
/// let crop = RandomResizedCrop::new(2, 2).feature_shape(&[4, 4, 1]);
/// let x = ndarray::Array2::from_shape_fn((3, 16), |(i, j)| (i * 16 + j) as f32);
/// let out = crop.apply(Batch::new(0, x, None, vec![0, 1, 2])?, &mut shardmix::rng::for_stage(1, 0, 0))?;
/// assert_eq!(out.features.dim(), (3, 4));
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RandomResizedCrop {
    out_h: usize,
    out_w: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
    shape: Option<Vec<usize>>,
}

impl RandomResizedCrop {
    /// torchvision's default `scale`.
    pub const DEFAULT_SCALE: (f64, f64) = (0.08, 1.0);
    /// torchvision's default `ratio`.
    pub const DEFAULT_RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);
    /// The largest output side accepted.
    pub const MAX_SIDE: usize = 1 << 14;

    /// Crops resized to `out_h × out_w`, with torchvision's default scale (0.08, 1) and
    /// ratio (3/4, 4/3). Needs [`feature_shape`](Self::feature_shape).
    ///
    /// The constructor and the setters only record their values; [`validate`](Self::validate)
    /// checks them, once, when the pipeline is built ([`Stage::check`]) and again before each
    /// [`Stage::apply`].
    ///
    /// # Example
    /// ```
    /// use shardmix::{ErrorKind, RandomResizedCrop};
    /// assert!(RandomResizedCrop::new(24, 24).validate().is_ok());
    /// let err = RandomResizedCrop::new(0, 24).validate().unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "random_resized_crop"));
    /// ```
    pub fn new(out_h: usize, out_w: usize) -> Self {
        RandomResizedCrop { out_h, out_w, scale: Self::DEFAULT_SCALE, ratio: Self::DEFAULT_RATIO, shape: None }
    }

    /// Parse an output size `S` (square) or `HxW` (as torchvision's `size`, height first).
    /// Only the syntax is checked here; [`validate`](Self::validate) checks the sides.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `random_resized_crop` for text
    /// that is not a size.
    ///
    /// # Example
    /// ```
    /// assert!(shardmix::RandomResizedCrop::parse("24").is_ok());
    /// assert!(shardmix::RandomResizedCrop::parse("24x32").is_ok());
    /// assert!(shardmix::RandomResizedCrop::parse("big").unwrap_err().to_string().contains("random_resized_crop"));
    /// ```
    pub fn parse(size: &str) -> Result<Self> {
        let bad = || Error::config("random_resized_crop", format!("'{size}' is not a size like 24 or 24x32 (HxW)"));
        let dims: Vec<usize> =
            size.split(['x', 'X', ',']).map(|d| d.trim().parse::<usize>().map_err(|_| bad())).collect::<Result<_>>()?;
        match dims[..] {
            [s] => Ok(Self::new(s, s)),
            [h, w] => Ok(Self::new(h, w)),
            _ => Err(bad()),
        }
    }

    /// The range of the crop's area as a fraction of the image's (default (0.08, 1)).
    /// [`validate`](Self::validate) refuses `crop_scale` unless `0 < min ≤ max ≤ 1`.
    pub fn scale(mut self, min: f64, max: f64) -> Self {
        self.scale = (min, max);
        self
    }

    /// The range of the crop's aspect ratio width / height (default (3/4, 4/3)), drawn
    /// log-uniformly. [`validate`](Self::validate) refuses `crop_ratio` unless
    /// `0 < min ≤ max < ∞`.
    pub fn ratio(mut self, min: f64, max: f64) -> Self {
        self.ratio = (min, max);
        self
    }

    /// The input image shape `[H, W, C]` of each row (channels last).
    /// [`validate`](Self::validate) refuses `feature_shape` unless it has three non-zero
    /// dimensions; [`Stage::check`] also rejects a shape that does not fit the data.
    pub fn feature_shape(mut self, shape: &[usize]) -> Self {
        self.shape = Some(shape.to_vec());
        self
    }

    /// Check the values given to the constructor and the setters.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the first bad parameter:
    /// `random_resized_crop` unless both sides are in [1, [`MAX_SIDE`](Self::MAX_SIDE)];
    /// `crop_scale` unless `0 < min ≤ max ≤ 1`; `crop_ratio` unless `0 < min ≤ max < ∞`;
    /// `feature_shape` unless it has three non-zero dimensions.
    pub fn validate(&self) -> Result<()> {
        self.checked_shape().map(|_| ())
    }

    /// [`validate`](Self::validate), returning the parsed input shape.
    fn checked_shape(&self) -> Result<Option<Shape>> {
        let (out_h, out_w) = (self.out_h, self.out_w);
        if ![out_h, out_w].iter().all(|side| (1..=Self::MAX_SIDE).contains(side)) {
            return Err(Error::config(
                "random_resized_crop",
                format!("the output size must be in [1, {}] on each side, got {out_h}x{out_w}", Self::MAX_SIDE),
            ));
        }
        let (min, max) = self.scale;
        if !(min > 0.0 && min <= max && max <= 1.0) {
            return Err(Error::config(
                "crop_scale",
                format!("must be MIN,MAX with 0 < MIN ≤ MAX ≤ 1, got {min},{max}"),
            ));
        }
        let (min, max) = self.ratio;
        if !(min > 0.0 && min <= max && max.is_finite()) {
            return Err(Error::config(
                "crop_ratio",
                format!("must be MIN,MAX with 0 < MIN ≤ MAX (finite), got {min},{max}"),
            ));
        }
        self.shape.as_deref().map(|s| parse_hwc("feature_shape", s)).transpose()
    }

    /// The output shape `[out_h, out_w, C]` for an input of `C` channels.
    pub fn output_shape(&self, channels: usize) -> [usize; 3] {
        [self.out_h, self.out_w, channels]
    }

    /// torchvision's `RandomResizedCrop.get_params` for an `h × w` image.
    pub(crate) fn draw_box(&self, h: usize, w: usize, rng: &mut StepRng) -> CropBox {
        let area = (h * w) as f64;
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..ATTEMPTS {
            let target = area * (self.scale.0 + uniform(rng) * (self.scale.1 - self.scale.0));
            let aspect = (lr0 + uniform(rng) * (lr1 - lr0)).exp();
            let cw = (target * aspect).sqrt().round_ties_even();
            let ch = (target / aspect).sqrt().round_ties_even();
            if cw >= 1.0 && cw <= w as f64 && ch >= 1.0 && ch <= h as f64 {
                let (cw, ch) = (cw as usize, ch as usize);
                let top = below(rng, (h - ch + 1) as u64) as usize;
                let left = below(rng, (w - cw + 1) as u64) as usize;
                return CropBox { top, left, h: ch, w: cw };
            }
        }
        // Centre crop of the largest box within the ratio range.
        let in_ratio = w as f64 / h as f64;
        let (cw, ch) = if in_ratio < self.ratio.0 {
            (w, ((w as f64 / self.ratio.0).round_ties_even() as usize).clamp(1, h))
        } else if in_ratio > self.ratio.1 {
            (((h as f64 * self.ratio.1).round_ties_even() as usize).clamp(1, w), h)
        } else {
            (w, h)
        };
        CropBox { top: (h - ch) / 2, left: (w - cw) / 2, h: ch, w: cw }
    }
}

/// Antialiased bilinear resampling weights from `in_size` to `out_size` samples (Pillow's
/// `precompute_coeffs` with the triangle filter, as torchvision's `antialias=True`): for each
/// output sample, its first input sample and normalised weights.
pub(crate) struct Coeffs {
    /// First input index of output `i`.
    pub start: Vec<usize>,
    /// Taps per output (`ksize`); weights of output `i` at `[i * ksize, (i + 1) * ksize)`.
    pub ksize: usize,
    /// Number of taps used by output `i`.
    pub len: Vec<usize>,
    pub weights: Vec<f32>,
    /// The weights in Pillow's fixed point for 8-bit images (`normalize_coeffs_8bpc`:
    /// [`PRECISION_BITS`] fractional bits, rounded half away from zero from the `f64` weight).
    pub fixed: Vec<i32>,
}

/// Fractional bits of Pillow's 8-bit resampling weights (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

impl Coeffs {
    pub fn new(in_size: usize, out_size: usize) -> Coeffs {
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = filterscale; // the triangle's support is 1
        let ksize = support.ceil() as usize * 2 + 1;
        let mut c = Coeffs {
            start: Vec::with_capacity(out_size),
            ksize,
            len: Vec::with_capacity(out_size),
            weights: vec![0.0; out_size * ksize],
            fixed: vec![0; out_size * ksize],
        };
        let mut k = vec![0.0f64; ksize];
        for i in 0..out_size {
            let center = (i as f64 + 0.5) * scale;
            // C's `(int)` truncation, then clamped, as Pillow.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).clamp(0, in_size as i64) as usize;
            let n = xmax.saturating_sub(xmin).min(ksize);
            let mut total = 0.0;
            for (x, kx) in k.iter_mut().enumerate().take(n) {
                let t = ((x + xmin) as f64 - center + 0.5) / filterscale;
                let w = (1.0 - t.abs()).max(0.0);
                *kx = w;
                total += w;
            }
            for (t, &kx) in k.iter().enumerate().take(n) {
                let w = if total != 0.0 { kx / total } else { 0.0 };
                c.weights[i * ksize + t] = w as f32;
                let scaled = w * f64::from(1u32 << PRECISION_BITS);
                c.fixed[i * ksize + t] = if w < 0.0 { (scaled - 0.5) as i32 } else { (scaled + 0.5) as i32 };
            }
            c.start.push(xmin);
            c.len.push(n);
        }
        c
    }
}

/// The horizontal pass of both resizes: the `b.h` rows of the box `b` of `src` resized to `ow`
/// columns into `tmp` (`b.h × ow × C`), copied when the width is kept; `tap(row, k, x, ch)`
/// is output column `x`, channel `ch` of the box's `row` under the weights `k`.
fn horizontal_pass<T: Copy + Default>(
    src: &[T],
    shape: Shape,
    b: CropBox,
    ow: usize,
    tmp: &mut Vec<T>,
    tap: impl Fn(&[T], &Coeffs, usize, usize) -> T,
) {
    let c = shape.c;
    let stride = shape.w * c;
    tmp.clear();
    tmp.resize(b.h * ow * c, T::default());
    if ow == b.w {
        for y in 0..b.h {
            let s = (b.top + y) * stride + b.left * c;
            tmp[y * ow * c..(y + 1) * ow * c].copy_from_slice(&src[s..s + ow * c]);
        }
        return;
    }
    let k = Coeffs::new(b.w, ow);
    for y in 0..b.h {
        let row = &src[(b.top + y) * stride + b.left * c..(b.top + y) * stride + (b.left + b.w) * c];
        let out = &mut tmp[y * ow * c..(y + 1) * ow * c];
        for x in 0..ow {
            for ch in 0..c {
                out[x * c + ch] = tap(row, &k, x, ch);
            }
        }
    }
}

/// Resize the `b` box of `src` (one `shape` row) into `dst` (`oh × ow × C`): horizontal pass
/// into `tmp`, then vertical (Pillow's order). A pass whose size does not change is a copy.
pub(crate) fn resize_box(
    src: &[f32],
    shape: Shape,
    b: CropBox,
    dst: &mut [f32],
    oh: usize,
    ow: usize,
    tmp: &mut Vec<f32>,
) {
    let c = shape.c;
    // Horizontal: b.h rows × ow columns.
    horizontal_pass(src, shape, b, ow, tmp, |row, k, x, ch| {
        let mut acc = 0.0f32;
        for (t, &wt) in k.weights[x * k.ksize..x * k.ksize + k.len[x]].iter().enumerate() {
            acc += row[(k.start[x] + t) * c + ch] * wt;
        }
        acc
    });
    // Vertical: oh rows from b.h.
    let line = ow * c;
    if oh == b.h {
        dst[..oh * line].copy_from_slice(&tmp[..oh * line]);
        return;
    }
    let k = Coeffs::new(b.h, oh);
    for y in 0..oh {
        let w = &k.weights[y * k.ksize..y * k.ksize + k.len[y]];
        let first = k.start[y];
        let out = &mut dst[y * line..(y + 1) * line];
        out.fill(0.0);
        for (t, &wt) in w.iter().enumerate() {
            let inp = &tmp[(first + t) * line..(first + t + 1) * line];
            for (o, &v) in out.iter_mut().zip(inp) {
                *o += v * wt;
            }
        }
    }
}

/// Pillow's `clip8`: a fixed-point sum (with its rounding half added) to a `u8`.
#[inline]
fn clip8(v: i32) -> u8 {
    if v >= 1 << (PRECISION_BITS + 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// [`resize_box`] for `u8` pixels, as Pillow resizes an 8-bit image (`ImagingResample` with
/// the bilinear filter): fixed-point weights, each pass rounded to `u8` (the horizontal pass
/// into `tmp`, then the vertical one).
pub(crate) fn resize_box_u8(
    src: &[u8],
    shape: Shape,
    b: CropBox,
    dst: &mut [u8],
    oh: usize,
    ow: usize,
    tmp: &mut Vec<u8>,
) {
    let c = shape.c;
    let half = 1i32 << (PRECISION_BITS - 1);
    horizontal_pass(src, shape, b, ow, tmp, |row, k, x, ch| {
        let mut acc = half;
        for (t, &wt) in k.fixed[x * k.ksize..x * k.ksize + k.len[x]].iter().enumerate() {
            acc = acc.wrapping_add(i32::from(row[(k.start[x] + t) * c + ch]).wrapping_mul(wt));
        }
        clip8(acc)
    });
    let line = ow * c;
    if oh == b.h {
        dst[..oh * line].copy_from_slice(&tmp[..oh * line]);
        return;
    }
    let k = Coeffs::new(b.h, oh);
    let mut acc = vec![0i32; line];
    for y in 0..oh {
        let w = &k.fixed[y * k.ksize..y * k.ksize + k.len[y]];
        let first = k.start[y];
        acc.fill(half);
        for (t, &wt) in w.iter().enumerate() {
            let inp = &tmp[(first + t) * line..(first + t + 1) * line];
            for (a, &v) in acc.iter_mut().zip(inp) {
                *a = a.wrapping_add(i32::from(v).wrapping_mul(wt));
            }
        }
        for (o, &a) in dst[y * line..(y + 1) * line].iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
}

impl Stage for RandomResizedCrop {
    fn name(&self) -> &str {
        "random-resized-crop"
    }

    /// Checks the input shape against the data's features (and declared shape).
    fn check(&self, spec: &DataSpec) -> Result<()> {
        check_input("RandomResizedCrop", self.checked_shape()?, spec).map(|_| ())
    }

    /// The features become one list of `out_h × out_w × C` values (named as the input's list
    /// column, or `features` for scalar columns), with that shape.
    fn output_spec(&self, spec: &DataSpec) -> DataSpec {
        let Ok(Some(s)) = self.checked_shape() else {
            return spec.clone(); // `check` refuses it
        };
        let column = match &spec.features {
            FeatureLayout::List { column, .. } => column.clone(),
            FeatureLayout::Columns(_) => "features".to_string(),
        };
        DataSpec {
            features: FeatureLayout::List { column, len: self.out_h * self.out_w * s.c },
            target: spec.target.clone(),
            feature_shape: Some(self.output_shape(s.c).to_vec()),
            pixels: spec.pixels,
        }
    }

    fn apply(&self, mut batch: Batch, rng: &mut StepRng) -> Result<Batch> {
        let Some(shape) = self.checked_shape()? else {
            return Err(Error::config("feature_shape", "RandomResizedCrop needs the image shape [H, W, C]"));
        };
        check_batch("RandomResizedCrop", shape, &batch)?;
        let n = batch.rows();
        let rows = RowRngs::new(rng);
        let width = shape.len();
        let out_width = self.out_h * self.out_w * shape.c;
        if let Some(pixels) = batch.pixels.take() {
            // `uint8`: Pillow's 8-bit resize, rounded to `u8` (same boxes as for `f32`).
            let src = match pixels.as_slice() {
                Some(s) => std::borrow::Cow::Borrowed(s),
                None => std::borrow::Cow::Owned(pixels.iter().copied().collect()),
            };
            let mut out = vec![0u8; n * out_width];
            let mut tmp = Vec::new();
            for (i, dst) in out.chunks_exact_mut(out_width.max(1)).enumerate() {
                let b = self.draw_box(shape.h, shape.w, &mut rows.row(i));
                resize_box_u8(&src[i * width..(i + 1) * width], shape, b, dst, self.out_h, self.out_w, &mut tmp);
            }
            batch.pixels = Some(
                Array2::from_shape_vec((n, out_width), out)
                    .map_err(|e| Error::shape("random-resized-crop pixels", format!("{n} × {out_width}"), e))?,
            );
            return Ok(batch);
        }
        let src = match batch.features.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(batch.features.iter().copied().collect()),
        };
        let mut out = vec![0.0f32; n * out_width];
        let mut tmp = Vec::new();
        for (i, dst) in out.chunks_exact_mut(out_width.max(1)).enumerate() {
            let b = self.draw_box(shape.h, shape.w, &mut rows.row(i));
            resize_box(&src[i * width..(i + 1) * width], shape, b, dst, self.out_h, self.out_w, &mut tmp);
        }
        drop(src);
        batch.features = Array2::from_shape_vec((n, out_width), out)
            .map_err(|e| Error::shape("random-resized-crop features", format!("{n} × {out_width}"), e))?;
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{derive, for_stage};
    use crate::spec::TargetKind;

    fn spec(f: usize, shape: Option<Vec<usize>>) -> DataSpec {
        DataSpec {
            features: FeatureLayout::List { column: "image".into(), len: f },
            target: TargetKind::None,
            feature_shape: shape,
            pixels: Default::default(),
        }
    }

    #[test]
    fn boxes_stay_within_scale_and_ratio_bounds() {
        let c = RandomResizedCrop::new(8, 8);
        let (h, w) = (64usize, 48usize);
        let mut r = derive(3, 0, 0);
        let mut fallbacks = 0;
        let mut areas = Vec::new();
        for _ in 0..5000 {
            let b = c.draw_box(h, w, &mut r);
            assert!(b.h >= 1 && b.w >= 1 && b.top + b.h <= h && b.left + b.w <= w, "{b:?}");
            let frac = (b.h * b.w) as f64 / (h * w) as f64;
            let ratio = b.w as f64 / b.h as f64;
            if (b.h, b.w) == (h, w) {
                fallbacks += 1;
                continue;
            }
            // Rounding each side to whole pixels moves area and ratio by at most a pixel.
            let slack_area = (b.h + b.w + 1) as f64 / (h * w) as f64;
            assert!(frac >= 0.08 - slack_area && frac <= 1.0, "area fraction {frac}");
            let slack_ratio = 1.0 / b.h as f64 + ratio / b.h as f64;
            assert!(ratio >= 0.75 - slack_ratio && ratio <= 4.0 / 3.0 + slack_ratio, "ratio {ratio} of {b:?}");
            areas.push(frac);
        }
        // The fallback is rare for a near-square image, and the areas cover the range.
        assert!(fallbacks < 500, "{fallbacks} fallbacks");
        let lo = areas.iter().cloned().fold(1.0, f64::min);
        let hi = areas.iter().cloned().fold(0.0, f64::max);
        assert!(lo < 0.1 && hi > 0.9, "areas in [{lo}, {hi}]");
    }

    #[test]
    fn fallback_is_the_centre_crop_within_ratio() {
        // A 4 × 40 strip with square crops of ≥ 90 % of its area (≥ 12 × 12): none fits.
        let c = RandomResizedCrop::new(2, 2).scale(0.9, 1.0).ratio(1.0, 1.0);
        let b = c.draw_box(4, 40, &mut derive(0, 0, 0));
        // in_ratio 10 > max ratio 1: h = 4, w = round(4 · 1) = 4, centred.
        assert_eq!(b, CropBox { top: 0, left: 18, h: 4, w: 4 });
    }

    #[test]
    fn full_box_and_same_size_is_identity() {
        let c = RandomResizedCrop::new(5, 7).scale(1.0, 1.0).ratio(7.0 / 5.0, 7.0 / 5.0).feature_shape(&[5, 7, 3]);
        let x = Array2::from_shape_fn((4, 105), |(i, j)| (i * 105 + j) as f32 * 0.01);
        let b = Batch::new(0, x.clone(), None, vec![0, 1, 2, 3]).unwrap();
        let out = c.apply(b, &mut for_stage(0, 0, 0)).unwrap();
        assert_eq!(out.features, x);
    }

    #[test]
    fn resize_matches_bilinear_on_a_ramp_and_averages_when_downscaling() {
        // Upscaling a linear ramp by 2: half-pixel centres, so inner samples are exact lerps.
        let shape = Shape { h: 1, w: 4, c: 1 };
        let src = [0.0f32, 1.0, 2.0, 3.0];
        let mut dst = vec![0.0f32; 8];
        let b = CropBox { top: 0, left: 0, h: 1, w: 4 };
        resize_box(&src, shape, b, &mut dst, 1, 8, &mut Vec::new());
        let want = [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0];
        for (d, w) in dst.iter().zip(want) {
            assert!((d - w).abs() < 1e-6, "{dst:?}");
        }
        // Downscaling 4 → 2 averages with the widened triangle: Pillow gives [0.5+?]:
        // centre 1.0, support 2, taps 0..3 weights (0.75, 0.75, 0.25)/1.75 … symmetric.
        let mut dst = vec![0.0f32; 2];
        resize_box(&src, shape, b, &mut dst, 1, 2, &mut Vec::new());
        let w0 = (0.0 * 0.75 + 1.0 * 0.75 + 2.0 * 0.25) / 1.75;
        assert!((dst[0] - w0).abs() < 1e-6 && (dst[1] - (3.0 - w0)).abs() < 1e-6, "{dst:?}");
    }

    #[test]
    fn rows_draw_independently_and_deterministically() {
        let c = RandomResizedCrop::new(3, 3).feature_shape(&[6, 6, 2]);
        let x = Array2::from_shape_fn((5, 72), |(i, j)| ((i * 72 + j) % 17) as f32);
        let run = |x: Array2<f32>, step| {
            let n = x.nrows() as u64;
            c.apply(Batch::new(step, x, None, (0..n).collect()).unwrap(), &mut for_stage(7, 0, step)).unwrap().features
        };
        let a = run(x.clone(), 4);
        assert_eq!(a, run(x.clone(), 4));
        assert_ne!(a, run(x.clone(), 5));
        // Row i's crop does not depend on the other rows: a batch of its first 2 rows crops
        // them alike.
        let two = run(x.slice(ndarray::s![0..2, ..]).to_owned(), 4);
        assert_eq!(two, a.slice(ndarray::s![0..2, ..]));
    }

    #[test]
    fn check_and_output_spec() {
        let c = RandomResizedCrop::new(4, 6);
        let e = c.check(&spec(48, None)).unwrap_err().to_string();
        assert!(e.contains("feature_shape"), "{e}");
        let c = c.feature_shape(&[4, 4, 3]);
        assert!(c.check(&spec(48, Some(vec![4, 4, 3]))).is_ok());
        let e = c.check(&spec(47, None)).unwrap_err().to_string();
        assert!(e.contains("47"), "{e}");
        let out = c.output_spec(&spec(48, None));
        assert_eq!(out.feature_shape, Some(vec![4, 6, 3]));
        assert_eq!(out.num_features(), 72);
    }

    #[test]
    fn bad_parameters_are_named() {
        let name = |c: RandomResizedCrop| c.validate().unwrap_err().config_name().map(str::to_string);
        assert_eq!(name(RandomResizedCrop::new(0, 3)).as_deref(), Some("random_resized_crop"));
        assert_eq!(
            name(RandomResizedCrop::new(3, RandomResizedCrop::MAX_SIDE + 1)).as_deref(),
            Some("random_resized_crop")
        );
        assert_eq!(name(RandomResizedCrop::parse("0").unwrap()).as_deref(), Some("random_resized_crop"));
        assert_eq!(RandomResizedCrop::parse("3x").unwrap_err().config_name(), Some("random_resized_crop"));
        assert_eq!(RandomResizedCrop::parse("1x2x3").unwrap_err().config_name(), Some("random_resized_crop"));
        let c = RandomResizedCrop::new(3, 3);
        for (lo, hi) in [(0.0, 1.0), (0.5, 0.4), (0.5, 1.5), (f64::NAN, 1.0)] {
            assert_eq!(name(c.clone().scale(lo, hi)).as_deref(), Some("crop_scale"), "{lo},{hi}");
        }
        for (lo, hi) in [(0.0, 1.0), (2.0, 1.0), (1.0, f64::INFINITY)] {
            assert_eq!(name(c.clone().ratio(lo, hi)).as_deref(), Some("crop_ratio"), "{lo},{hi}");
        }
        assert_eq!(name(c.clone().feature_shape(&[3, 3])).as_deref(), Some("feature_shape"));
        // check refuses the same values, apply too.
        let bad = c.scale(0.0, 1.0).feature_shape(&[3, 3, 1]);
        assert_eq!(bad.check(&spec(9, None)).unwrap_err().config_name(), Some("crop_scale"));
        let b = Batch::new(0, Array2::zeros((1, 9)), None, vec![0]).unwrap();
        assert_eq!(bad.apply(b, &mut for_stage(0, 0, 0)).unwrap_err().config_name(), Some("crop_scale"));
    }
}
