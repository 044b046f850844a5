//! `Pipeline(data, config=..., **options)` → [`PipelineConfig`]: the keyword options are the
//! CLI's pipeline flags with `_` for `-`, read into the same struct the TOML config file is
//! read into, so that defaults, validation and messages are the CLI's.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};
use shardmix::{Error, PipelineConfig};

use crate::errors;

/// The options `Pipeline` accepts (besides `data`, `config` and `stages`), in the CLI's order.
pub const OPTIONS: &[&str] = &[
    "features",
    "label",
    "num_classes",
    "no_label",
    "batch_size",
    "order",
    "steps",
    "epochs",
    "start_step",
    "workers",
    "prefetch",
    "seed",
    "rank",
    "world_size",
    "null_policy",
    "on_bad_shard",
    "mixup_alpha",
    "mixup_mode",
    "mixup_prob",
    "label_smoothing",
    "cutmix_alpha",
    "cutmix_switch_prob",
    "feature_shape",
    "provenance",
    "vae",
    "vae_fraction",
    "gan",
    "gan_fraction",
    "cache_mib",
    "cache_dir",
    "cache_max_bytes",
    "normalize",
    "random_resized_crop",
    "crop_scale",
    "crop_ratio",
    "hflip",
    "pixels",
];

/// `data`: a path (str or `os.PathLike`), a glob, or a list/tuple of them.
pub fn data_paths(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if let Ok(p) = data.extract::<PathBuf>() {
        return Ok(vec![p]);
    }
    if data.is_instance_of::<PyList>() || data.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for item in data.try_iter()? {
            let item = item?;
            match item.extract::<PathBuf>() {
                Ok(p) => out.push(p),
                Err(_) => return Err(errors::config(py, "data", format!("expected a path, got {}", type_name(&item)))),
            }
        }
        return Ok(out);
    }
    Err(errors::config(py, "data", format!("expected a path, a glob or a list of them, got {}", type_name(data))))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// One option's Python value as JSON (what `PipelineConfig`'s serde reads). `None` → absent.
fn to_json(py: Python<'_>, key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<Value>> {
    if v.is_none() {
        return Ok(None);
    }
    // A shape may be given as a tuple/list of ints, as numpy and torch spell shapes.
    if key == "feature_shape" && (v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>()) {
        let dims: Vec<String> = v
            .try_iter()?
            .map(|d| d.and_then(|d| d.extract::<i64>()).map(|d| d.to_string()))
            .collect::<PyResult<_>>()
            .map_err(|_| errors::config(py, key, "expected a shape like (28, 28, 1) or '28x28x1'"))?;
        return Ok(Some(Value::String(dims.join("x"))));
    }
    // The crop's size and ranges may be given as numbers and tuples: (24, 32), 24, (0.08, 1.0).
    if matches!(key, "random_resized_crop" | "crop_scale" | "crop_ratio") && !v.is_instance_of::<PyString>() {
        let items: Vec<Bound<'_, PyAny>> = if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
            v.try_iter()?.collect::<PyResult<_>>()?
        } else {
            vec![v.clone()]
        };
        let sep = if key == "random_resized_crop" { "x" } else { "," };
        let parts: Vec<String> = items
            .iter()
            .map(|d| {
                if d.is_instance_of::<PyInt>() {
                    d.extract::<i64>().map(|i| i.to_string())
                } else {
                    d.extract::<f64>().map(|f| format!("{f:?}"))
                }
            })
            .collect::<PyResult<_>>()
            .map_err(|_| errors::config(py, key, "expected a number or a tuple of numbers"))?;
        return Ok(Some(Value::String(parts.join(sep))));
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(Some(Value::Bool(v.extract()?)));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<u64>() {
            return Ok(Some(Value::from(i)));
        }
        return Ok(Some(Value::from(v.extract::<i64>().map_err(|_| errors::config(py, key, "integer out of range"))?)));
    }
    if v.is_instance_of::<PyFloat>() {
        let f: f64 = v.extract()?;
        return Ok(Some(
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| errors::config(py, key, format!("{f} is not a finite number")))?,
        ));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Some(Value::String(v.extract()?)));
    }
    // Paths (`vae`, `gan`): anything os.fspath accepts.
    if let Ok(p) = v.extract::<PathBuf>() {
        return Ok(Some(Value::String(p.to_string_lossy().into_owned())));
    }
    Err(errors::config(py, key, format!("unsupported value of type {}", type_name(v))))
}

/// The error for an option `key` that is none of the pipeline's [`OPTIONS`], a function's
/// own `options`, or `more` (listed last, e.g. `config`): it lists them all.
pub fn unknown_option(py: Python<'_>, key: &str, options: &[&str], more: &[&str]) -> PyErr {
    let all: Vec<&str> = OPTIONS.iter().chain(options).chain(more).copied().collect();
    errors::config(py, key, format!("unknown option; the options are: {}", all.join(", ")))
}

/// The options as a [`PipelineConfig`], each checked on its own so that an error names it.
pub fn from_kwargs(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PipelineConfig> {
    let mut config = PipelineConfig::default();
    let Some(kwargs) = kwargs else {
        return Ok(config);
    };
    for (k, v) in kwargs.iter() {
        let key: String = k.extract()?;
        if !OPTIONS.contains(&key.as_str()) {
            return Err(unknown_option(py, &key, &[], &["config", "stages"]));
        }
        let Some(value) = to_json(py, &key, &v)? else {
            continue;
        };
        let mut one = Map::new();
        one.insert(key.clone(), value);
        let single: PipelineConfig = serde_json::from_value(Value::Object(one))
            .map_err(|e| errors::to_py(py, &Error::config(key.as_str(), strip_position(&e.to_string()))))?;
        config = single.over(config);
    }
    Ok(config)
}

/// serde_json appends " at line 1 column 2" to its messages; meaningless for a keyword.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
