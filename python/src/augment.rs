//! `shardmix.augment(data, out, **options)` and `shardmix.AugmentPlan`: the library's
//! [`AugmentPlan`] (what `shardmix augment` runs) from Python. The plan's pieces
//! (`prepare`, `write_shards`, `finish`) are for integrations that write one output from
//! several processes (`shardmix.ray`); a plan pickles as its options, so it can be sent to
//! them.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyRange, PyTuple};
use shardmix::augment::{AugmentOptions, AugmentPlan, Event};
use shardmix::{ManifestShard, PipelineConfig};

use crate::errors;

/// The options of `augment` besides the pipeline's, in the CLI's order.
pub const AUGMENT_OPTIONS: &[&str] = &["rows_per_shard", "row_group_size", "compression", "overwrite", "image_out"];

/// What a plan is made of: enough to make it again in another process.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    config: PipelineConfig,
    out: PathBuf,
    options: AugmentOptions,
    /// The working directory the plan was made in (relative paths are relative to it).
    cwd: Option<PathBuf>,
}

/// The plan of an augmentation run (`shardmix augment`): see the library's `AugmentPlan`.
#[pyclass(module = "shardmix", name = "AugmentPlan", frozen)]
pub struct PyAugmentPlan {
    plan: AugmentPlan,
    state: String,
}

/// Split `options` into the pipeline's and augment's own, refusing unknown ones with the
/// list of both.
fn split_options(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<(PipelineConfig, AugmentOptions)> {
    let mut aug = AugmentOptions::default();
    let pipeline = PyDict::new(py);
    if let Some(options) = options {
        for (k, v) in options.iter() {
            let key: String = k.extract()?;
            let bad = |what: &str| errors::config(py, &key, format!("expected {what}"));
            match key.as_str() {
                "rows_per_shard" => aug.rows_per_shard = v.extract().map_err(|_| bad("a whole number"))?,
                "row_group_size" => aug.row_group_size = v.extract().map_err(|_| bad("a whole number"))?,
                "compression" => aug.compression = v.extract().map_err(|_| bad("snappy, zstd or none"))?,
                "image_out" => aug.image_out = v.extract().map_err(|_| bad("tensor or png"))?,
                "overwrite" => {
                    aug.overwrite = v.extract::<Option<bool>>().map_err(|_| bad("True or False"))?.unwrap_or(false)
                }
                k if crate::options::OPTIONS.contains(&k) => pipeline.set_item(k, v)?,
                _ => return Err(crate::options::unknown_option(py, &key, AUGMENT_OPTIONS, &["config"])),
            }
        }
    }
    Ok((crate::options::from_kwargs(py, Some(&pipeline))?, aug))
}

impl PyAugmentPlan {
    /// Make the plan from its state (validating everything again), without the GIL.
    fn from_state(py: Python<'_>, state: State) -> PyResult<Self> {
        let settings = state.config.settings(None).map_err(|e| errors::to_py(py, &e))?;
        let text = serde_json::to_string(&state).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let plan = crate::exit::detach(py, || AugmentPlan::new(settings, &state.out, &state.options))
            .map_err(|e| errors::to_py(py, &e))?;
        Ok(PyAugmentPlan { plan, state: text })
    }
}

/// A JSON value as Python objects.
fn to_python<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// Print a line on Python's `sys.stderr` (so that it is captured as Python's output is).
pub fn say(line: &str) {
    // Called from native threads too: nothing is printed once the interpreter exits.
    crate::exit::attach(|py| {
        if let Ok(stderr) = py.import("sys").and_then(|s| s.getattr("stderr")) {
            let _ = stderr.call_method1("write", (format!("{line}\n"),));
        }
    });
}

fn shards_json(shards: &[ManifestShard]) -> serde_json::Value {
    serde_json::to_value(shards).unwrap_or_default()
}

#[pymethods]
impl PyAugmentPlan {
    #[new]
    #[pyo3(signature = (data, out, *, config=None, **options))]
    fn new(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        out: PathBuf,
        config: Option<PathBuf>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (mut cfg, aug) = split_options(py, options)?;
        cfg.data = Some(crate::options::data_paths(py, data)?);
        if let Some(path) = config {
            cfg = cfg.over(PipelineConfig::from_file(&path).map_err(|e| errors::to_py(py, &e))?);
        }
        // Rank and world size from the environment are fixed here, so that another process
        // makes the same plan whatever its environment.
        let settings = cfg.settings(None).map_err(|e| errors::to_py(py, &e))?;
        cfg.rank = Some(settings.rank);
        cfg.world_size = Some(settings.world_size);
        let state = State { config: cfg, out, options: aug, cwd: std::env::current_dir().ok() };
        Self::from_state(py, state)
    }

    /// Pickle support: a plan is sent to other processes as its options (they make it again,
    /// validating everything; relative paths need the same working directory).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let f = py.import("shardmix._shardmix")?.getattr("_augment_plan_from_state")?;
        Ok((f, PyTuple::new(py, [slf.get().state.clone()])?))
    }

    /// Pipeline steps of the whole run.
    #[getter]
    fn total_steps(&self) -> u64 {
        self.plan.total_steps()
    }

    /// Pipeline steps per shard (the last shard may hold fewer).
    #[getter]
    fn steps_per_shard(&self) -> u64 {
        self.plan.steps_per_shard()
    }

    /// Shards of the whole run.
    #[getter]
    fn num_shards(&self) -> u64 {
        self.plan.num_shards()
    }

    /// The output directory.
    #[getter]
    fn out(&self) -> PathBuf {
        self.plan.out().to_path_buf()
    }

    /// The run's fingerprint (16 hex digits).
    #[getter]
    fn fingerprint(&self) -> String {
        self.plan.fingerprint().to_string()
    }

    /// The steps shard `k` holds, as a `range`.
    fn shard_steps<'py>(&self, py: Python<'py>, k: u64) -> PyResult<Bound<'py, PyRange>> {
        let r = self.plan.shard_steps(k);
        PyRange::new(py, r.start as isize, r.end as isize)
    }

    /// Make the output directory ready (create, lock while working, resume or overwrite,
    /// write the run file). Returns a dict: `complete`, `kept_shards`, `resume_step`,
    /// `locked`, `strays`.
    fn prepare<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let p = crate::exit::detach(py, || self.plan.prepare()).map_err(|e| errors::to_py(py, &e))?;
        to_python(
            py,
            &serde_json::json!({
                "complete": p.complete,
                "kept_shards": p.kept_shards,
                "resume_step": p.resume_step,
                "locked": p.locked,
                "strays": p.strays,
            }),
        )
    }

    /// Write the whole shards `shards` (a `range` of step 1, an `(start, stop)` pair or one
    /// index) that are not written yet; returns a dict: `written` (one dict per shard:
    /// file, rows, first_step, end_step, bytes, crc32), `skipped` (indices already
    /// written), `rows`. Ctrl-C stops it before the next step (the shard being written is
    /// discarded) and raises `KeyboardInterrupt`.
    fn write_shards<'py>(&self, py: Python<'py>, shards: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let range = shard_range(py, shards)?;
        let w =
            crate::exit::detach_interruptible(py, |stop| self.plan.write_shards_with_stop(range, stop, &mut |_| {}))?
                .map_err(|e| errors::to_py(py, &e))?;
        to_python(py, &serde_json::json!({"written": shards_json(&w.written), "skipped": w.skipped, "rows": w.rows}))
    }

    /// Check that every shard is written and write the manifest; returns the manifest as a
    /// dict (what `.shardmix-manifest.json` holds).
    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = crate::exit::detach(py, || self.plan.finish()).map_err(|e| errors::to_py(py, &e))?;
        to_python(py, &m)
    }

    /// The single-process run (`shardmix augment`); returns the summary dict. Notes and
    /// warnings go to `sys.stderr` unless `quiet`. Ctrl-C stops it before the next step and
    /// raises `KeyboardInterrupt`, leaving the directory resumable (complete shards kept, the
    /// shard being written discarded): run it again to finish.
    #[pyo3(signature = (*, quiet=false))]
    fn run<'py>(&self, py: Python<'py>, quiet: bool) -> PyResult<Bound<'py, PyAny>> {
        let s = crate::exit::detach_interruptible(py, |stop| {
            self.plan.run_with_stop(stop, &mut |e| {
                if let (Event::Note(line), false) = (e, quiet) {
                    say(&line);
                }
            })
        })?
        .map_err(|e| errors::to_py(py, &e))?;
        if !quiet {
            if !s.already_complete {
                say(&s.message());
            }
            for w in &s.warnings {
                say(w);
            }
        }
        to_python(
            py,
            &serde_json::json!({
                "path": s.out,
                "already_complete": s.already_complete,
                "rows": s.rows,
                "shards": s.shards,
                "steps": s.steps,
                "rows_written": s.rows_written,
                "shards_written": s.shards_written,
                "shards_kept": s.shards_kept,
                "seconds": s.seconds,
                "warnings": s.warnings,
                "fingerprint": self.plan.fingerprint(),
            }),
        )
    }
}

/// `shards` as a range of shard indices.
fn shard_range(py: Python<'_>, shards: &Bound<'_, PyAny>) -> PyResult<std::ops::Range<u64>> {
    let bad = || errors::config(py, "shards", "expected a range of step 1, a (start, stop) pair or a shard index");
    if let Ok(k) = shards.extract::<u64>() {
        return Ok(k..k.saturating_add(1));
    }
    if let Ok(r) = shards.cast::<PyRange>() {
        let (start, stop, step): (u64, u64, i64) = (
            r.getattr("start")?.extract().map_err(|_| bad())?,
            r.getattr("stop")?.extract().map_err(|_| bad())?,
            r.getattr("step")?.extract().map_err(|_| bad())?,
        );
        return if step == 1 { Ok(start..stop.max(start)) } else { Err(bad()) };
    }
    if let Ok((start, stop)) = shards.extract::<(u64, u64)>() {
        return Ok(start..stop.max(start));
    }
    Err(bad())
}

/// Make a plan again from its pickled state.
#[pyfunction]
pub fn _augment_plan_from_state(py: Python<'_>, state: &str) -> PyResult<PyAugmentPlan> {
    let state: State =
        serde_json::from_str(state).map_err(|e| PyValueError::new_err(format!("bad plan state: {e}")))?;
    let here = std::env::current_dir().ok();
    if state.cwd.is_some() && here != state.cwd {
        let relative = |p: &Path| p.is_relative();
        let mut paths: Vec<&Path> = vec![&state.out];
        paths.extend(state.config.data.iter().flatten().map(|p| p.as_path()));
        paths.extend(state.config.vae.iter().chain(state.config.gan.iter()).map(|p| p.as_path()));
        if let Some(p) = paths.into_iter().find(|p| relative(p)) {
            return Err(errors::config(
                py,
                "out",
                format!(
                    "the plan was made in {} and names the relative path {}, but this process runs in {}; give \
                     absolute paths to plans sent to other processes",
                    state.cwd.as_deref().unwrap_or(Path::new("?")).display(),
                    p.display(),
                    here.as_deref().unwrap_or(Path::new("?")).display()
                ),
            ));
        }
    }
    PyAugmentPlan::from_state(py, state)
}
