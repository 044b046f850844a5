//! `shardmix.Batch`: one pipeline batch whose arrays are numpy views of the Rust buffers.
//!
//! The batch's `Array2<f32>` buffers are moved into numpy arrays (rust-numpy's
//! `from_owned_array`), which then own them: no copy, and the memory lives as long as any
//! array (or view of it) does.

use ndarray::{Array2, IxDyn};
use numpy::{IntoPyArray, PyArray1, PyArrayDyn};
use pyo3::prelude::*;
use shardmix::Batch;

/// One batch: `step`, `features`, `targets` and, with `provenance=True`, where each row came
/// from (`origin`, `row_a`, `row_b`, `lambda_`).
#[pyclass(module = "shardmix", name = "Batch", frozen)]
pub struct PyBatch {
    /// The pipeline step (global, from 0).
    #[pyo3(get)]
    step: u64,
    /// `float32` (`uint8` with `pixels="uint8"`): `(B, H, W, C)` when the batches have an image
    /// shape (an image column's, `feature_shape`, or after a crop the cropped one), else `(B, F)`.
    #[pyo3(get)]
    features: Py<PyAny>,
    /// `float32`, `(B, C)`, or `None` without a target column.
    #[pyo3(get)]
    targets: Option<Py<PyAny>>,
    /// `uint8` per row: 0 real, 1 VAE, 2 GAN (`shardmix.ORIGINS`); `None` without provenance.
    #[pyo3(get)]
    origin: Option<Py<PyAny>>,
    /// `uint64` per row: the global row id.
    #[pyo3(get)]
    row_a: Option<Py<PyAny>>,
    /// `int64` per row: the mix partner's global row id, -1 when the row was not mixed.
    #[pyo3(get)]
    row_b: Option<Py<PyAny>>,
    /// `float32` per row: the weight of the row's own sample, NaN when not mixed.
    #[pyo3(get)]
    lambda_: Option<Py<PyAny>>,
}

/// `features` (`float32`, or `uint8` pixels) as a numpy array of shape `(B, *shape)` (or
/// `(B, F)`), without copying.
pub fn features_array<'py, T: numpy::Element + Clone>(
    py: Python<'py>,
    features: Array2<T>,
    shape: Option<&[usize]>,
) -> Bound<'py, PyAny> {
    let rows = features.nrows();
    let dims: Vec<usize> = match shape {
        Some(s) if s.iter().product::<usize>() == features.ncols() => {
            std::iter::once(rows).chain(s.iter().copied()).collect()
        }
        _ => vec![rows, features.ncols()],
    };
    // Row-major buffers reshape in place; anything else is made row-major first (one copy).
    let standard = if features.is_standard_layout() { features } else { features.as_standard_layout().into_owned() };
    match standard.into_shape_with_order(IxDyn(&dims)) {
        Ok(a) => PyArrayDyn::from_owned_array(py, a).into_any(),
        Err(e) => unreachable_shape(py, e),
    }
}

#[cold]
fn unreachable_shape<'py>(py: Python<'py>, e: ndarray::ShapeError) -> Bound<'py, PyAny> {
    // The element count is checked above, so this cannot happen; return an empty array
    // rather than panic across the FFI boundary.
    let _ = e;
    PyArray1::<f32>::zeros(py, 0, false).into_any()
}

impl PyBatch {
    /// Move `batch` into Python.
    pub fn new(py: Python<'_>, batch: Batch, shape: Option<&[usize]>, provenance: bool) -> PyBatch {
        let Batch { step, features, targets, pixels, provenance: prov } = batch;
        let features = match pixels {
            Some(p) => features_array(py, p, shape).unbind(),
            None => features_array(py, features, shape).unbind(),
        };
        let targets = targets.map(|t| t.into_pyarray(py).into_any().unbind());
        let (origin, row_a, row_b, lambda_) = if provenance {
            let origin: Vec<u8> = prov.origin.iter().map(|o| *o as u8).collect();
            let row_b: Vec<i64> = prov.row_b.iter().map(|r| r.map_or(-1, |r| r as i64)).collect();
            let lambda: Vec<f32> = prov.lambda.iter().map(|l| l.unwrap_or(f32::NAN)).collect();
            (
                Some(origin.into_pyarray(py).into_any().unbind()),
                Some(prov.row_a.into_pyarray(py).into_any().unbind()),
                Some(row_b.into_pyarray(py).into_any().unbind()),
                Some(lambda.into_pyarray(py).into_any().unbind()),
            )
        } else {
            (None, None, None, None)
        };
        PyBatch { step, features, targets, origin, row_a, row_b, lambda_ }
    }
}

#[pymethods]
impl PyBatch {
    /// Number of rows.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.features.bind(py).len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let shape = |a: &Py<PyAny>| -> PyResult<String> { Ok(a.bind(py).getattr("shape")?.repr()?.to_string()) };
        let targets = match &self.targets {
            Some(t) => shape(t)?,
            None => "None".into(),
        };
        Ok(format!("Batch(step={}, features={}, targets={})", self.step, shape(&self.features)?, targets))
    }
}
