//! What the image stages ([`RandomResizedCrop`](super::RandomResizedCrop),
//! [`HorizontalFlip`](super::HorizontalFlip)) share: the `[H, W, C]` shape they are given, its
//! check against the data, and the per-row generators.

use rand::Rng;

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::rng::{derive, purpose, StepRng};
use crate::spec::DataSpec;
use crate::stage::cutmix::Shape;

/// `shape` as `[H, W, C]`, each ≥ 1, product a `usize`, for the parameter `name`.
pub(crate) fn parse_hwc(name: &str, shape: &[usize]) -> Result<Shape> {
    let bad = |msg: String| Error::config(name, msg);
    let &[h, w, c] = shape else {
        return Err(bad(format!("must be [H, W, C] (three dimensions), got {shape:?}")));
    };
    if h == 0 || w == 0 || c == 0 {
        return Err(bad(format!("dimensions must be ≥ 1, got {shape:?}")));
    }
    if h.checked_mul(w).and_then(|v| v.checked_mul(c)).is_none() {
        return Err(bad(format!("{shape:?} is too large")));
    }
    Ok(Shape { h, w, c })
}

/// Check a stage's input shape against the data: its product is the feature count, and it
/// equals the data's declared shape when there is one.
pub(crate) fn check_input(stage: &str, shape: Option<Shape>, spec: &DataSpec) -> Result<Shape> {
    let Some(s) = shape else {
        let hint = match &spec.feature_shape {
            Some(d) => format!(" (the data declares {d:?})"),
            None => " (give --feature-shape HxWxC, or read an image column)".to_string(),
        };
        return Err(Error::config(
            "feature_shape",
            format!("{stage} needs the image shape [H, W, C] of the features{hint}"),
        ));
    };
    let n = spec.num_features();
    if s.len() != n {
        return Err(Error::shape(
            format!("{stage} feature_shape [{}, {}, {}]", s.h, s.w, s.c),
            format!("{} features ({} × {} × {})", s.len(), s.h, s.w, s.c),
            format!("{n} features in the data"),
        ));
    }
    if let Some(d) = &spec.feature_shape {
        if d.as_slice() != [s.h, s.w, s.c] {
            return Err(Error::shape(
                format!("{stage} feature_shape"),
                format!("the data's declared shape {d:?}"),
                format!("[{}, {}, {}]", s.h, s.w, s.c),
            ));
        }
    }
    Ok(s)
}

/// Check a batch's feature width against `shape` at apply time.
pub(crate) fn check_batch(stage: &str, shape: Shape, batch: &Batch) -> Result<()> {
    batch.validate()?;
    let f = batch.num_features();
    if f != shape.len() {
        return Err(Error::shape(
            format!("{stage} feature_shape [{}, {}, {}]", shape.h, shape.w, shape.c),
            format!("{} features per row", shape.len()),
            format!("{f} features per row"),
        ));
    }
    Ok(())
}

/// The generators of a batch's rows: one key drawn from the step's generator (whose stream
/// is `(seed, stage index, step)`), and row `i`'s generator ChaCha8 keyed by
/// `(key, purpose::ROW)` on stream `i`. A row's draws thus depend on `(seed, stage, step,
/// row)` only, never on how many draws another row needed (a crop retries a variable number
/// of times), and rows could be processed in any order.
pub(crate) struct RowRngs {
    key: u64,
}

impl RowRngs {
    /// Draw the batch's key (one `u64`) from the step's generator.
    pub fn new(rng: &mut StepRng) -> Self {
        RowRngs { key: rng.next_u64() }
    }

    /// The generator of row `row`.
    pub fn row(&self, row: usize) -> StepRng {
        derive(self.key, purpose::ROW, row as u64)
    }
}
