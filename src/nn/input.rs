//! Checking a training batch against a model and turning it into network inputs.

use std::path::PathBuf;

use ndarray::{Array2, CowArray, Ix2};

use crate::batch::Batch;
use crate::error::{Error, ErrorKind, Result};
use crate::nn::scale::{DataScale, Standardization};

/// A batch as a model sees it: borrowed from the batch when it is already in standard
/// layout and needs no standardisation.
pub(crate) struct Prepared<'a> {
    /// Features, standardised for [`DataScale::Real`].
    pub(crate) x: CowArray<'a, f32, Ix2>,
    /// The class conditioning (the batch's targets), for conditional models.
    pub(crate) cond: Option<CowArray<'a, f32, Ix2>>,
}

/// Whether every value satisfies `ok`: a branch-free pass that vectorises (the index of a
/// failing value is searched for only when there is one).
fn all(a: &Array2<f32>, ok: impl Fn(f32) -> bool) -> bool {
    a.fold(true, |acc, &v| acc & ok(v))
}

/// Check that `batch` has `num_features` columns and at least one row.
pub(crate) fn check_features(model: &str, batch: &Batch, num_features: usize) -> Result<()> {
    if batch.num_features() != num_features {
        return Err(Error::shape(
            format!("{model}: batch of step {} features", batch.step),
            format!("{num_features} columns"),
            format!("{} columns", batch.num_features()),
        ));
    }
    if batch.rows() == 0 {
        return Err(ErrorKind::Empty { what: format!("{model}: batch of step {}", batch.step) }.into());
    }
    Ok(())
}

/// Check `batch` against the model and build its inputs.
pub(crate) fn prepare<'a>(
    model: &str,
    batch: &'a Batch,
    num_features: usize,
    num_classes: Option<usize>,
    scale: DataScale,
    standardization: Option<&Standardization>,
) -> Result<Prepared<'a>> {
    check_features(model, batch, num_features)?;
    let step = batch.step;
    let finite = |v: f32| v.is_finite();
    let unit = |v: f32| (0.0..=1.0).contains(&v);
    let fast_ok = if scale == DataScale::Unit { all(&batch.features, unit) } else { all(&batch.features, finite) };
    if fast_ok {
    } else if let Some((idx, v)) = batch.features.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(input_error(
            model,
            step,
            format!("row {}, feature {}: value {v} is not finite", idx / num_features, idx % num_features),
        ));
    }
    if scale == DataScale::Unit && !fast_ok {
        if let Some((idx, v)) = batch.features.iter().enumerate().find(|(_, v)| !unit(**v)) {
            return Err(input_error(
                model,
                step,
                format!(
                    "row {}, feature {}: value {v} is outside [0, 1] (a model with scale `unit` needs data in \
                     [0, 1]; use scale `real` for other data)",
                    idx / num_features,
                    idx % num_features
                ),
            ));
        }
    }
    let cond = match num_classes {
        None => None,
        Some(c) => {
            let t = batch.targets.as_ref().ok_or_else(|| {
                Error::shape(
                    format!("{model}: batch of step {step} targets"),
                    format!("{c} class columns (the model is conditional)"),
                    "no targets",
                )
            })?;
            if t.ncols() != c {
                return Err(Error::shape(
                    format!("{model}: batch of step {step} targets"),
                    format!("{c} class columns"),
                    format!("{} columns", t.ncols()),
                ));
            }
            if !all(t, finite) {
                return Err(input_error(model, step, "a target value is not finite".into()));
            }
            Some(t.as_standard_layout())
        }
    };
    let x = match standardization {
        None => batch.features.as_standard_layout(),
        Some(s) => {
            let mut x = batch.features.as_standard_layout().into_owned();
            s.apply(x.view_mut());
            CowArray::from(x)
        }
    };
    Ok(Prepared { x, cond })
}

/// A model error without a file.
pub(crate) fn model_error(message: String) -> Error {
    ErrorKind::Model { path: PathBuf::new(), message }.into()
}

/// A batch `model` cannot take.
fn input_error(model: &str, step: u64, message: String) -> Error {
    ErrorKind::ModelInput { model: model.to_string(), step, message }.into()
}

/// The error for a non-finite loss at a training step.
pub(crate) fn non_finite(model: &str, step: u64, detail: String) -> Error {
    ErrorKind::Diverged { model: model.to_string(), step, detail }.into()
}
