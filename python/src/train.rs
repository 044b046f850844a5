//! `shardmix.train(kind, data, out, **options)`: the library's
//! [`shardmix::nn::train::train`], what `shardmix train vae|gan` runs.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use shardmix::nn::train::{
    default_min_steps, train_with_stop, training_defaults, Kind, Losses, TrainEvent, TrainOptions,
};
use shardmix::PipelineConfig;

use crate::errors;

/// The options of `train` besides the pipeline's, in the CLI's order.
pub const TRAIN_OPTIONS: &[&str] = &["latent", "hidden", "lr", "scale", "holdout"];

/// Losses as a dict `{name: value}`.
fn losses<'py>(py: Python<'py>, l: &Losses) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, v) in &l.0 {
        d.set_item(*name, *v)?;
    }
    Ok(d)
}

/// `hidden`: `"128,64"` or a list/tuple of widths.
fn hidden_option(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if v.is_none() {
        return Ok(None);
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Some(v.extract()?));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let widths: Vec<String> = v
            .try_iter()?
            .map(|w| w.and_then(|w| w.extract::<u64>()).map(|w| w.to_string()))
            .collect::<PyResult<_>>()
            .map_err(|_| errors::config(py, "hidden", "expected widths like [128, 64] or '128,64'"))?;
        return Ok(Some(widths.join(",")));
    }
    Err(errors::config(py, "hidden", "expected widths like [128, 64] or '128,64'"))
}

/// `train(kind, data, out, *, config=None, quiet=False, **options)` → the summary dict.
/// Ctrl-C stops it before the next step and raises `KeyboardInterrupt`; the model file is
/// then the last complete epoch's (or absent).
#[pyfunction]
#[pyo3(signature = (kind, data, out, *, config=None, quiet=false, **options))]
pub fn train_model<'py>(
    py: Python<'py>,
    kind: &str,
    data: &Bound<'py, PyAny>,
    out: PathBuf,
    config: Option<PathBuf>,
    quiet: bool,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let kind = Kind::parse(kind).map_err(|e| errors::to_py(py, &e))?;
    let mut opts = TrainOptions { out, ..Default::default() };
    let pipeline = PyDict::new(py);
    if let Some(options) = options {
        for (k, v) in options.iter() {
            let key: String = k.extract()?;
            let bad = |what: &str| errors::config(py, &key, format!("expected {what}"));
            match key.as_str() {
                "latent" => opts.latent = v.extract().map_err(|_| bad("a whole number"))?,
                "hidden" => opts.hidden = hidden_option(py, &v)?,
                "lr" => opts.lr = v.extract().map_err(|_| bad("a number"))?,
                "scale" => opts.scale = v.extract().map_err(|_| bad("unit, real or auto"))?,
                "holdout" => opts.holdout = v.extract().map_err(|_| bad("a fraction"))?,
                k if crate::options::OPTIONS.contains(&k) => pipeline.set_item(k, v)?,
                _ => return Err(crate::options::unknown_option(py, &key, TRAIN_OPTIONS, &["config", "quiet"])),
            }
        }
    }
    let mut cfg = crate::options::from_kwargs(py, Some(&pipeline))?;
    cfg.data = Some(crate::options::data_paths(py, data)?);
    // As the CLI: the training defaults apply to the given options, before the config file.
    training_defaults(&mut cfg);
    if let Some(path) = config {
        cfg = cfg.over(PipelineConfig::from_file(&path).map_err(|e| errors::to_py(py, &e))?);
    }
    opts.min_steps = default_min_steps(&cfg);
    let settings = cfg.settings(None).map_err(|e| errors::to_py(py, &e))?;
    let summary = crate::exit::detach_interruptible(py, |stop| {
        train_with_stop(kind, &settings, &opts, stop, &mut |e| match e {
            TrainEvent::Note(line) | TrainEvent::Info(line) if !quiet => crate::augment::say(&line),
            _ => {}
        })
    })?
    .map_err(|e| errors::to_py(py, &e))?;
    if !quiet {
        crate::augment::say(&summary.message());
    }
    let d = PyDict::new(py);
    d.set_item("kind", kind.as_str())?;
    d.set_item("path", summary.out.to_string_lossy().into_owned())?;
    d.set_item("rows", summary.rows)?;
    d.set_item("steps", summary.steps)?;
    d.set_item("seconds", summary.seconds)?;
    d.set_item("last_epoch", losses(py, &summary.last)?)?;
    match &summary.held_out_before {
        Some(l) => d.set_item("held_out_before", losses(py, l)?)?,
        None => d.set_item("held_out_before", py.None())?,
    }
    match &summary.held_out_after {
        Some(l) => d.set_item("held_out_after", losses(py, l)?)?,
        None => d.set_item("held_out_after", py.None())?,
    }
    match &summary.recognition {
        Some(r) => {
            let rec = PyDict::new(py);
            rec.set_item("rate", r.rate)?;
            rec.set_item("samples", r.samples)?;
            rec.set_item("train_rows", r.train_rows)?;
            rec.set_item("classifier_accuracy", r.classifier_accuracy)?;
            rec.set_item("check_rows", r.check_rows)?;
            d.set_item("recognition", rec)?;
        }
        None => d.set_item("recognition", py.None())?,
    }
    Ok(d)
}
