//! [`HorizontalFlip`]: torchvision's `RandomHorizontalFlip` on channels-last `H × W × C` rows.

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::rng::{uniform, StepRng};
use crate::spec::DataSpec;
use crate::stage::cutmix::Shape;
use crate::stage::geometry::{check_batch, check_input, parse_hwc, RowRngs};
use crate::stage::Stage;

/// Mirror each row left–right with probability `p` (torchvision's `RandomHorizontalFlip(p)`,
/// timm's `hflip`, default 0.5 there): row `i` is flipped iff one uniform draw from its own
/// generator (a key drawn once per batch from the stage's step generator, then one stream
/// per row) is below `p`. Pixels move, channels stay in order.
///
/// # Example
/// ```
/// use shardmix::{Batch, HorizontalFlip, Stage};
/// let flip = HorizontalFlip::new(1.0).feature_shape(&[1, 3, 1]);
/// let b = Batch::new(0, ndarray::array![[1.0f32, 2.0, 3.0]], None, vec![0])?;
/// let out = flip.apply(b, &mut shardmix::rng::for_stage(0, 0, 0))?;
/// assert_eq!(out.features, ndarray::array![[3.0f32, 2.0, 1.0]]);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HorizontalFlip {
    p: f64,
    shape: Option<Vec<usize>>,
}

impl HorizontalFlip {
    /// Flip each row with probability `p`. Needs [`feature_shape`](Self::feature_shape).
    ///
    /// The constructor and the setter only record their values; [`validate`](Self::validate)
    /// checks them, once, when the pipeline is built ([`Stage::check`]) and again before each
    /// [`Stage::apply`].
    ///
    /// # Example
    /// ```
    /// use shardmix::{ErrorKind, HorizontalFlip};
    /// assert!(HorizontalFlip::new(0.5).feature_shape(&[28, 28, 1]).validate().is_ok());
    /// let err = HorizontalFlip::new(1.5).validate().unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "hflip"));
    /// ```
    pub fn new(p: f64) -> Self {
        HorizontalFlip { p, shape: None }
    }

    /// The image shape `[H, W, C]` of each row (channels last). [`validate`](Self::validate)
    /// refuses `feature_shape` unless it has three non-zero dimensions; [`Stage::check`] also
    /// rejects a shape that does not fit the data.
    pub fn feature_shape(mut self, shape: &[usize]) -> Self {
        self.shape = Some(shape.to_vec());
        self
    }

    /// Check the values given to the constructor and the setter.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `hflip` unless `p` is in
    /// [0, 1], or `feature_shape` unless it has three non-zero dimensions.
    pub fn validate(&self) -> Result<()> {
        self.checked_shape().map(|_| ())
    }

    /// [`validate`](Self::validate), returning the parsed shape.
    fn checked_shape(&self) -> Result<Option<Shape>> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(Error::config("hflip", format!("must be a probability in [0, 1], got {}", self.p)));
        }
        self.shape.as_deref().map(|s| parse_hwc("feature_shape", s)).transpose()
    }
}

/// Flip the rows `i` of `x` whose draw from `rows.row(i)` falls below `p`.
fn flip_drawn_rows<T: Copy>(mut x: ndarray::ArrayViewMut2<'_, T>, shape: Shape, p: f64, rows: &RowRngs) {
    for (i, mut row) in x.rows_mut().into_iter().enumerate() {
        if uniform(&mut rows.row(i)) < p {
            match row.as_slice_mut() {
                Some(s) => flip_row(s, shape),
                None => {
                    let mut v = row.to_vec();
                    flip_row(&mut v, shape);
                    row.assign(&ndarray::ArrayView1::from(&v[..]));
                }
            }
        }
    }
}

/// Mirror one `shape` row in place.
pub(crate) fn flip_row<T>(row: &mut [T], shape: Shape) {
    let c = shape.c;
    for line in row.chunks_exact_mut(shape.w * c) {
        let (mut a, mut b) = (0, shape.w - 1);
        while a < b {
            for k in 0..c {
                line.swap(a * c + k, b * c + k);
            }
            a += 1;
            b -= 1;
        }
    }
}

impl Stage for HorizontalFlip {
    fn name(&self) -> &str {
        "hflip"
    }

    fn check(&self, spec: &DataSpec) -> Result<()> {
        check_input("HorizontalFlip", self.checked_shape()?, spec).map(|_| ())
    }

    fn apply(&self, mut batch: Batch, rng: &mut StepRng) -> Result<Batch> {
        let Some(shape) = self.checked_shape()? else {
            return Err(Error::config("feature_shape", "HorizontalFlip needs the image shape [H, W, C]"));
        };
        check_batch("HorizontalFlip", shape, &batch)?;
        let rows = RowRngs::new(rng);
        // `uint8` pixels or `f32` features: the same rows flipped, in place.
        match &mut batch.pixels {
            Some(pixels) => flip_drawn_rows(pixels.view_mut(), shape, self.p, &rows),
            None => flip_drawn_rows(batch.features.view_mut(), shape, self.p, &rows),
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::for_stage;
    use ndarray::Array2;

    #[test]
    fn flips_pixels_not_channels() {
        let shape = Shape { h: 2, w: 3, c: 2 };
        let mut row: Vec<f32> = (0..12).map(|v| v as f32).collect();
        flip_row(&mut row, shape);
        assert_eq!(row, [4.0, 5.0, 2.0, 3.0, 0.0, 1.0, 10.0, 11.0, 8.0, 9.0, 6.0, 7.0]);
        flip_row(&mut row, shape);
        assert_eq!(row, (0..12).map(|v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn about_half_the_rows_flip_and_the_rest_are_untouched() {
        let f = HorizontalFlip::new(0.5).feature_shape(&[2, 4, 1]);
        let n = 2000;
        let x = Array2::from_shape_fn((n, 8), |(i, j)| (i * 8 + j) as f32);
        let out =
            f.apply(Batch::new(3, x.clone(), None, (0..n as u64).collect()).unwrap(), &mut for_stage(1, 0, 3)).unwrap();
        let mut flipped = 0;
        for i in 0..n {
            let a = x.row(i).to_vec();
            let mut m = a.clone();
            flip_row(&mut m, Shape { h: 2, w: 4, c: 1 });
            let o = out.features.row(i).to_vec();
            if o == m {
                flipped += 1;
            } else {
                assert_eq!(o, a, "row {i} is neither itself nor its mirror");
            }
        }
        assert!((900..1100).contains(&flipped), "{flipped} of {n} flipped");
        // p = 0 and p = 1.
        let b = || Batch::new(0, x.clone(), None, (0..n as u64).collect()).unwrap();
        let none = HorizontalFlip::new(0.0).feature_shape(&[2, 4, 1]);
        assert_eq!(none.apply(b(), &mut for_stage(1, 0, 0)).unwrap().features, x);
        let all = HorizontalFlip::new(1.0).feature_shape(&[2, 4, 1]);
        let twice = all.apply(all.apply(b(), &mut for_stage(1, 0, 0)).unwrap(), &mut for_stage(1, 0, 9)).unwrap();
        assert_eq!(twice.features, x);
    }

    #[test]
    fn bad_probability_is_named() {
        for p in [-0.1, 1.5, f64::NAN] {
            let err = HorizontalFlip::new(p).validate().unwrap_err();
            assert_eq!(err.config_name(), Some("hflip"), "{p}: {err:?}");
        }
    }
}
