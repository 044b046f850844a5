//! The native module of the `shardmix` Python package (`shardmix._shardmix`): a thin layer
//! over the shardmix library. The pipeline options become a [`shardmix::PipelineConfig`]
//! and then [`shardmix::Settings`], exactly as the CLI's flags do, so defaults, validation,
//! error messages and batches are the CLI's. The pure-Python part (`python/shardmix/`)
//! holds the exception classes, the PyTorch adapter and the type stubs.

mod array_stage;
mod augment;
mod batch;
mod errors;
mod exit;
mod inspect;
mod options;
mod pipeline;
mod stage;
mod train;

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use shardmix::PipelineConfig;

/// `inspect(data, **options)`: what `shardmix inspect --json` prints, as a JSON string (the
/// Python wrapper parses it).
#[pyfunction]
#[pyo3(signature = (data, *, config=None, **options))]
fn inspect_json(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    config: Option<PathBuf>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let mut cfg = options::from_kwargs(py, options)?;
    cfg.data = Some(options::data_paths(py, data)?);
    if let Some(path) = config {
        cfg = cfg.over(PipelineConfig::from_file(&path).map_err(|e| errors::to_py(py, &e))?);
    }
    let settings = cfg.settings(None).map_err(|e| errors::to_py(py, &e))?;
    crate::exit::detach(py, || inspect::report(&settings)).map_err(|e| errors::to_py(py, &e))
}

/// The names of the pipeline options, in the CLI's order.
#[pyfunction]
fn option_names() -> Vec<&'static str> {
    options::OPTIONS.to_vec()
}

#[pymodule]
fn _shardmix(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<pipeline::PyPipeline>()?;
    m.add_class::<batch::PyBatch>()?;
    m.add_class::<array_stage::PyArrayStage>()?;
    m.add_class::<augment::PyAugmentPlan>()?;
    m.add_function(wrap_pyfunction!(augment::_augment_plan_from_state, m)?)?;
    m.add_function(wrap_pyfunction!(train::train_model, m)?)?;
    m.add_function(wrap_pyfunction!(exit::_close_all, m)?)?;
    m.add_function(wrap_pyfunction!(inspect_json, m)?)?;
    m.add_function(wrap_pyfunction!(option_names, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
