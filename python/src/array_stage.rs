//! `shardmix._shardmix.ArrayStage`: one built-in stage (Mixup/CutMix, VAE or GAN injection)
//! applied to a batch of numpy arrays, for Ray Data's `map_batches` (`shardmix.ray`).
//!
//! The stage is the library's own ([`shardmix::Mixup`], [`shardmix::Inject`]), built from the
//! same options as `shardmix.Pipeline` with the same validation and messages, and run with the
//! generator the pipeline would give it: [`shardmix::rng::for_stage`]`(seed, stage_index,
//! step)`. The caller supplies the step, or lets it be derived from the batch's content
//! ([`content_step`]).
//!
//! Copies: the input is read in place (numpy views, no copy) and copied once into the
//! stage's owned buffers — a 2-D feature array row by row, or a list of feature columns
//! stacked into one matrix; the stage's output is then moved into numpy without a copy.

use std::path::Path;
use std::sync::Arc;

use ndarray::{Array2, ArrayView1, ArrayView2};
use numpy::{PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use shardmix::{Batch, DataSpec, Error, ErrorKind, FeatureLayout, Inject, Origin, Stage, TargetKind};

use crate::errors;

/// One built-in stage, applied to numpy batches.
#[pyclass(module = "shardmix", name = "ArrayStage", frozen)]
pub struct PyArrayStage {
    stage: Arc<dyn Stage>,
    seed: u64,
    index: usize,
    /// The kind given: `mixup`, `vae` or `gan`.
    kind: String,
}

/// The injection stage over the model at `path`, which must be of kind `origin` (as the
/// pipeline's `--vae`/`--gan` check it).
fn inject(path: &Path, origin: Origin, fraction: f64) -> shardmix::Result<Inject> {
    let generator = shardmix::nn::load_generator(path)?;
    let kind = generator.info().origin;
    if kind != origin {
        return Err(ErrorKind::Model {
            path: path.to_path_buf(),
            message: format!("is a {} model, given as {}", kind.as_str(), origin.as_str()),
        }
        .into());
    }
    let inject = Inject::replace(generator, fraction);
    inject.validate()?;
    Ok(inject)
}

/// A stable 64-bit hash of a batch's features and targets (their `f32` bit patterns, row
/// count and widths): the step of a batch that carries none. The same values give the same
/// step on any machine, worker, retry or order; the hash is written out here (SplitMix64's
/// finaliser over little-endian words) so that no dependency upgrade can change it.
pub fn content_step(features: &Array2<f32>, targets: Option<&Array2<f32>>) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn absorb(h: u64, a: &Array2<f32>) -> u64 {
        let mut h = mix(h ^ a.nrows() as u64) ^ mix(a.ncols() as u64);
        let mut pending: Option<u32> = None;
        for v in a.iter() {
            let bits = v.to_bits();
            match pending.take() {
                None => pending = Some(bits),
                Some(lo) => h = mix(h ^ (u64::from(lo) | (u64::from(bits) << 32))),
            }
        }
        if let Some(lo) = pending {
            h = mix(h ^ u64::from(lo) ^ (1 << 63));
        }
        h
    }
    let h = absorb(0x7368_6172_646d_6978, features); // "shardmix"
    match targets {
        Some(t) => absorb(h ^ 1, t),
        None => mix(h),
    }
}

/// `(rows, values)` of a list of 1-D `float32` columns, stacked into one row-major matrix.
fn stack_columns(py: Python<'_>, columns: &Bound<'_, PyList>) -> PyResult<Array2<f32>> {
    let views: Vec<PyReadonlyArray1<'_, f32>> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.extract::<PyReadonlyArray1<'_, f32>>()
                .map_err(|_| errors::config(py, "features", format!("feature column {i} is not a 1-D float32 array")))
        })
        .collect::<PyResult<_>>()?;
    let rows = views.first().map_or(0, |v| v.len());
    if let Some((i, v)) = views.iter().enumerate().find(|(_, v)| v.len() != rows) {
        return Err(errors::to_py(
            py,
            &Error::shape(format!("feature column {i}"), format!("{rows} rows"), format!("{} rows", v.len())),
        ));
    }
    let cols: Vec<ArrayView1<'_, f32>> = views.iter().map(|v| v.as_array()).collect();
    let width = cols.len();
    let mut out = Vec::new();
    out.try_reserve_exact(rows.saturating_mul(width)).map_err(|_| {
        errors::to_py(py, &Error::config("features", format!("{rows} × {width} values do not fit in memory")))
    })?;
    for r in 0..rows {
        out.extend(cols.iter().map(|c| c[r]));
    }
    Array2::from_shape_vec((rows, width), out)
        .map_err(|e| errors::to_py(py, &Error::shape("features", format!("{rows} × {width}"), e)))
}

/// One-hot targets of the integer class labels `labels` over `num_classes` classes.
fn one_hot(py: Python<'_>, column: &str, labels: ArrayView1<'_, i64>, num_classes: usize) -> PyResult<Array2<f32>> {
    let mut t = Array2::<f32>::zeros((labels.len(), num_classes));
    for (row, &c) in labels.iter().enumerate() {
        match usize::try_from(c).ok().filter(|&c| c < num_classes) {
            Some(c) => t[[row, c]] = 1.0,
            None => {
                return Err(errors::config(
                    py,
                    "num_classes",
                    format!("label column '{column}' holds {c} at row {row} of the batch, outside [0, {num_classes})"),
                ));
            }
        }
    }
    Ok(t)
}

#[pymethods]
impl PyArrayStage {
    /// `ArrayStage(kind, *, seed=0, stage_index=0, **options)`: `kind` is `mixup`, `vae` or
    /// `gan`; `options` are `shardmix.Pipeline`'s (`mixup_alpha`, `mixup_mode`, `vae`,
    /// `vae_fraction`, `feature_shape`, ...).
    #[new]
    #[pyo3(signature = (kind, *, seed=0, stage_index=0, **options))]
    fn new(
        py: Python<'_>,
        kind: &str,
        seed: u64,
        stage_index: usize,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let cfg = crate::options::from_kwargs(py, options)?;
        // The stage options need no data; a placeholder path satisfies the settings' check.
        let settings = cfg.settings(Some(Path::new("."))).map_err(|e| errors::to_py(py, &e))?;
        let stage: Arc<dyn Stage> = match kind {
            "mixup" => match settings.mixup().map_err(|e| errors::to_py(py, &e))? {
                Some(m) => Arc::new(m),
                None => {
                    return Err(errors::config(
                        py,
                        "alpha",
                        "Mixup needs alpha > 0 (or cutmix_alpha > 0): it would do nothing",
                    ))
                }
            },
            "vae" | "gan" => {
                let (path, fraction, origin) = if kind == "vae" {
                    (settings.vae.clone(), settings.vae_fraction, Origin::Vae)
                } else {
                    (settings.gan.clone(), settings.gan_fraction, Origin::Gan)
                };
                let path = path.ok_or_else(|| errors::config(py, "model", "no model file given"))?;
                Arc::new(
                    crate::exit::detach(py, || inject(&path, origin, fraction)).map_err(|e| errors::to_py(py, &e))?,
                )
            }
            other => return Err(errors::config(py, "kind", format!("'{other}' is not one of mixup, vae, gan"))),
        };
        Ok(PyArrayStage { stage, seed, index: stage_index, kind: kind.to_string() })
    }

    /// Apply the stage to one batch and return `(features, targets, step)`.
    ///
    /// * `features`: a `(B, F)` float32 array, or a list of F 1-D float32 columns;
    /// * `names`: the feature names (the column names), or `(list_column, F)` for one 2-D
    ///   column — what the stage checks against (a model's feature names, CutMix's shape);
    /// * `target`: `None`, a `(B, C)` float32 array of (soft) targets, or a 1-D int64 array of
    ///   class labels made one-hot over `num_classes`; `target_column` names it in messages;
    /// * `step`: the stream of the stage's generator; `None` derives it from the content.
    ///
    /// The returned features are `(B, F)` float32, the targets `(B, C)` float32 or `None`.
    #[pyo3(signature = (features, names, target=None, *, target_column="label", num_classes=None, step=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn apply<'py>(
        &self,
        py: Python<'py>,
        features: &Bound<'py, PyAny>,
        names: &Bound<'py, PyAny>,
        target: Option<&Bound<'py, PyAny>>,
        target_column: &str,
        num_classes: Option<usize>,
        step: Option<u64>,
    ) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>, u64)> {
        // The one copy in: numpy views into owned, row-major buffers.
        let features: Array2<f32> = if let Ok(list) = features.cast::<PyList>() {
            stack_columns(py, list)?
        } else if let Ok(a) = features.extract::<PyReadonlyArray2<'_, f32>>() {
            let view: ArrayView2<'_, f32> = a.as_array();
            view.as_standard_layout().into_owned()
        } else {
            return Err(errors::config(py, "features", "expected a 2-D float32 array or a list of float32 columns"));
        };
        let rows = features.nrows();
        let layout = if let Ok(t) = names.cast::<PyTuple>() {
            let (column, len): (String, usize) = t.extract()?;
            FeatureLayout::List { column, len }
        } else {
            FeatureLayout::Columns(names.extract::<Vec<String>>()?)
        };
        let (targets, kind) = match target.filter(|t| !t.is_none()) {
            None => (None, TargetKind::None),
            Some(t) => {
                if let Ok(labels) = t.extract::<PyReadonlyArray1<'_, i64>>() {
                    let c = num_classes.ok_or_else(|| {
                        errors::config(
                            py,
                            "num_classes",
                            format!("needed to one-hot the label column '{target_column}'"),
                        )
                    })?;
                    let t = one_hot(py, target_column, labels.as_array(), c)?;
                    (Some(t), TargetKind::Class { column: target_column.to_string(), num_classes: c })
                } else if let Ok(soft) = t.extract::<PyReadonlyArray2<'_, f32>>() {
                    let t = soft.as_array().as_standard_layout().into_owned();
                    let width = t.ncols();
                    let kind = match num_classes {
                        Some(c) if c == width => {
                            TargetKind::Class { column: target_column.to_string(), num_classes: c }
                        }
                        Some(c) => {
                            return Err(errors::to_py(
                                py,
                                &Error::shape(
                                    format!("target column '{target_column}'"),
                                    format!("{c} classes"),
                                    format!("{width} values per row"),
                                ),
                            ))
                        }
                        None => TargetKind::Class { column: target_column.to_string(), num_classes: width },
                    };
                    (Some(t), kind)
                } else {
                    return Err(errors::config(
                        py,
                        target_column,
                        format!("expected int64 class labels or a (B, C) float32 array, got {}", t.get_type().name()?),
                    ));
                }
            }
        };
        if let Some(t) = &targets {
            if t.nrows() != rows {
                return Err(errors::to_py(
                    py,
                    &Error::shape(
                        format!("target column '{target_column}'"),
                        format!("{rows} rows"),
                        format!("{} rows", t.nrows()),
                    ),
                ));
            }
        }
        let spec = DataSpec { features: layout, target: kind, feature_shape: None, pixels: Default::default() };
        if spec.num_features() != features.ncols() {
            return Err(errors::to_py(
                py,
                &Error::shape(
                    "feature names",
                    format!("{} names", features.ncols()),
                    format!("{}", spec.num_features()),
                ),
            ));
        }
        let stage = self.stage.clone();
        let (seed, index) = (self.seed, self.index);
        let out = crate::exit::detach(py, move || -> shardmix::Result<(Batch, u64)> {
            stage.check(&spec)?;
            let step = step.unwrap_or_else(|| content_step(&features, targets.as_ref()));
            let batch = Batch::new(step, features, targets, (0..rows as u64).collect())?;
            let mut rng = shardmix::rng::for_stage(seed, index, step);
            let name = stage.name().to_string();
            let out = stage
                .apply(batch, &mut rng)
                .map_err(|e| Error::from(ErrorKind::Stage { step, stage: name, source: e }))?;
            out.validate()?;
            Ok((out, step))
        });
        let (batch, step) = out.map_err(|e| errors::to_py(py, &e))?;
        let Batch { features, targets, .. } = batch;
        // Out without a copy: numpy takes the buffers over.
        let x = PyArray2::from_owned_array(py, features).into_any();
        let y = targets.map(|t| PyArray2::from_owned_array(py, t).into_any());
        Ok((x, y, step))
    }

    /// `mixup`, `vae` or `gan`.
    #[getter]
    fn kind(&self) -> &str {
        &self.kind
    }

    /// The stage's name in errors and stats (`mixup`, `inject-vae`, ...).
    #[getter]
    fn name(&self) -> &str {
        self.stage.name()
    }

    fn __repr__(&self) -> String {
        format!("ArrayStage('{}', seed={}, stage_index={})", self.kind, self.seed, self.index)
    }
}
