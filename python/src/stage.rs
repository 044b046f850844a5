//! A Python function as a pipeline [`Stage`]: `fn(features, targets, step)` returns
//! `(features, targets)` as numpy arrays. The features are `(B, H, W, C)` when the data at the
//! stage's place in the pipeline has an image shape (after a crop, the cropped one), else
//! `(B, F)`; `float32`, or `uint8` (and then returned as `uint8`) with `pixels="uint8"`.
//!
//! It runs on the pipeline's worker threads like every stage, after the built-in ones, and
//! takes the GIL for the call: Python stages of different steps run one at a time, while the
//! reading and the built-in stages of other steps go on in parallel. The batch's buffers are
//! handed over without a copy; the returned arrays are copied once into the batch.

use std::sync::{Arc, Mutex};

use ndarray::Array2;
use numpy::{PyArray2, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use shardmix::{Batch, DataSpec, Error, Result, Stage, StepRng};

use crate::batch::features_array;

/// The Python exceptions the stages raised, by step, kept so that the consumer re-raises the
/// one of the failed step as the `__cause__` of its `StageError`.
pub type Raised = Arc<Mutex<Vec<(u64, PyErr)>>>;

/// A Python callable run as a stage.
pub struct PyStage {
    name: String,
    func: Py<PyAny>,
    feature_shape: Option<Vec<usize>>,
    /// The image shape of the data at the stage's place, learnt from the spec at build.
    shape_seen: Mutex<Option<Vec<usize>>>,
    raised: Raised,
}

impl PyStage {
    /// Stage number `index` over `func`; `feature_shape` is how its `features` are shaped.
    pub fn new(
        py: Python<'_>,
        index: usize,
        func: Py<PyAny>,
        feature_shape: Option<Vec<usize>>,
        raised: Raised,
    ) -> Self {
        let qualname = func
            .bind(py)
            .getattr("__qualname__")
            .or_else(|_| func.bind(py).getattr("__name__"))
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| "callable".into());
        PyStage {
            name: format!("python[{index}] {qualname}"),
            func,
            feature_shape,
            shape_seen: Mutex::new(None),
            raised,
        }
    }

    fn call(&self, py: Python<'_>, batch: Batch) -> PyResult<std::result::Result<Batch, Error>> {
        let Batch { step, features, targets, pixels, provenance } = batch;
        let uint8 = pixels.is_some();
        let (rows, width) = pixels.as_ref().map_or_else(|| features.dim(), |p| p.dim());
        let ncls = targets.as_ref().map(|t| t.ncols());
        let shape = self.shape_seen.lock().ok().and_then(|s| s.clone()).or_else(|| self.feature_shape.clone());
        let x = match pixels {
            Some(p) => features_array(py, p, shape.as_deref()),
            None => features_array(py, features, shape.as_deref()),
        };
        let y = match targets {
            Some(t) => PyArray2::from_owned_array(py, t).into_any(),
            None => py.None().into_bound(py),
        };
        let out = self.func.bind(py).call1((x, y, step))?;
        let shape_err = |what: &str, expected: String, found: String| {
            Ok(Err(Error::shape(format!("the {what} returned by Python stage '{}'", self.name), expected, found)))
        };
        let Ok((fx, fy)) = out.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() else {
            return shape_err("value", "a (features, targets) tuple".into(), out.get_type().name()?.to_string());
        };
        let (features, pixels) = if uint8 {
            let Ok(fx) = fx.cast::<PyArrayDyn<u8>>() else {
                return shape_err("features", "a uint8 numpy array (pixels=\"uint8\")".into(), describe(&fx));
            };
            match owned_rows(fx, rows, width) {
                Ok(p) => (Array2::zeros((rows, 0)), Some(p)),
                Err((expected, found)) => return shape_err("features", expected, found),
            }
        } else {
            let Ok(fx) = fx.cast::<PyArrayDyn<f32>>() else {
                return shape_err("features", "a float32 numpy array".into(), describe(&fx));
            };
            match owned_rows(fx, rows, width) {
                Ok(f) => (f, None),
                Err((expected, found)) => return shape_err("features", expected, found),
            }
        };
        let targets: Option<Array2<f32>> = match (ncls, fy.is_none()) {
            (None, true) => None,
            (None, false) => return shape_err("targets", "None (no target column)".into(), describe(&fy)),
            (Some(c), true) => return shape_err("targets", format!("{rows} rows of {c} values"), "None".into()),
            (Some(c), false) => {
                let Ok(ty) = fy.cast::<PyArray2<f32>>() else {
                    return shape_err("targets", "a 2-D float32 numpy array".into(), describe(&fy));
                };
                if ty.shape() != [rows, c] {
                    return shape_err("targets", format!("shape [{rows}, {c}]"), format!("shape {:?}", ty.shape()));
                }
                let Ok(view) = ty.try_readonly() else {
                    return shape_err("targets", "an array not borrowed mutably".into(), "a borrowed array".into());
                };
                Some(view.as_array().to_owned())
            }
        };
        Ok(Ok(Batch { step, features, targets, pixels, provenance }))
    }
}

/// The array `fx` as `rows × width`, copied; else (what was expected, what was found).
fn owned_rows<T: numpy::Element + Copy>(
    fx: &Bound<'_, PyArrayDyn<T>>,
    rows: usize,
    width: usize,
) -> std::result::Result<Array2<T>, (String, String)> {
    let wrong = || (format!("{rows} rows of {width} values"), format!("shape {:?}", fx.shape()));
    if fx.shape().iter().product::<usize>() != rows * width || fx.shape().first() != Some(&rows) {
        return Err(wrong());
    }
    let Ok(view) = fx.try_readonly() else {
        return Err(("an array not borrowed mutably".into(), "a borrowed array".into()));
    };
    view.as_array().to_shape((rows, width)).map(|a| a.into_owned()).map_err(|_| wrong())
}

/// `float64 array of shape [3, 4]`, `list`, ...
fn describe(v: &Bound<'_, PyAny>) -> String {
    match (v.getattr("dtype"), v.getattr("shape")) {
        (Ok(d), Ok(s)) => format!("a {} array of shape {}", d, s),
        _ => v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into()),
    }
}

impl Stage for PyStage {
    fn name(&self) -> &str {
        &self.name
    }

    /// Learns the image shape of the data at the stage's place (after a crop, the cropped
    /// one), in which the features are then handed to the function.
    fn check(&self, spec: &DataSpec) -> Result<()> {
        if let (Some(shape), Ok(mut seen)) = (&spec.feature_shape, self.shape_seen.lock()) {
            *seen = Some(shape.clone());
        }
        Ok(())
    }

    fn apply(&self, batch: Batch, _rng: &mut StepRng) -> Result<Batch> {
        let step = batch.step;
        // Taking the GIL while the interpreter finalizes aborts or hangs the process.
        let called = crate::exit::attach(|py| match self.call(py, batch) {
            Ok(r) => r,
            Err(e) => {
                let message = e.to_string();
                if let Ok(mut raised) = self.raised.lock() {
                    raised.push((step, e));
                }
                // Seen only by Rust callers: Python gets the exception itself as the cause.
                Err(Error::config(self.name.as_str(), format!("raised {message}")))
            }
        });
        called.unwrap_or_else(|| Err(Error::config(self.name.as_str(), "not run: the Python interpreter is exiting")))
    }
}
