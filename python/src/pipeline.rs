//! `shardmix.Pipeline`: the CLI's pipeline (same options, defaults, validation, messages and
//! batches), iterated from Python.
//!
//! Waiting for a batch answers Ctrl-C: `__next__` waits through the library's
//! [`Pipeline::next_within`] in rounds of [`exit::SIGNAL_POLL`], running Python's signal
//! handlers between them, so `KeyboardInterrupt` comes within about 50 ms whatever a stage
//! or the source costs; the step waited for is neither skipped nor run twice (the next
//! `__next__` returns it).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use shardmix::{ErrorKind, Pipeline, PipelineConfig, Settings, Stage, Stats};

use crate::batch::PyBatch;
use crate::errors;
use crate::exit;
use crate::stage::{PyStage, Raised};

/// A running pipeline: iterate it for `Batch` objects in step order.
#[pyclass(module = "shardmix", name = "Pipeline", frozen)]
pub struct PyPipeline {
    /// `None` once finished or closed. Shared with the registry of live pipelines, which
    /// closes them at interpreter exit ([`_close_all`]).
    inner: Arc<Mutex<Option<Pipeline>>>,
    settings: Settings,
    /// Local steps this object yields in all.
    len: Option<u64>,
    steps_per_epoch: u64,
    num_features: usize,
    num_targets: usize,
    /// The shape the features are handed out in, `(B, *shape)`: the image shape of the
    /// batches produced (`feature_shape`, an image column's, or after a crop the cropped one);
    /// `None` (then `(B, F)`) without one.
    feature_shape: Option<Vec<usize>>,
    raised: Raised,
    /// The counters at the end, kept when the pipeline is dropped.
    last_stats: Mutex<Option<Stats>>,
}

impl PyPipeline {
    /// Keep the final counters of `p` and drop it (joining its workers). Call without the GIL.
    fn retire(&self, p: Option<Pipeline>) {
        if let Some(p) = p {
            let stats = p.stats();
            drop(p);
            *self.last_stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Pipeline>> {
        // A panic while the lock was held cannot leave the pipeline half-updated in a way
        // that matters here: keep going with what is inside.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Python exception for a pipeline error; a stage error caused by a Python exception
    /// gets it as `__cause__`.
    fn error(&self, py: Python<'_>, e: &shardmix::Error) -> PyErr {
        if let ErrorKind::Stage { step, stage, .. } = e.kind() {
            let cause = self.raised.lock().ok().and_then(|mut raised| {
                let i = raised.iter().position(|(s, _)| s == step)?;
                Some(raised.swap_remove(i).1)
            });
            if let Some(cause) = cause.filter(|_| stage.starts_with("python[")) {
                let err = errors::raise(py, "StageError", format!("step {step}, stage '{stage}' failed: {cause}"));
                err.set_cause(py, Some(cause));
                return err;
            }
        }
        errors::to_py(py, e)
    }
}

/// Every pipeline made, while it lives.
static LIVE: Mutex<Vec<Weak<Mutex<Option<Pipeline>>>>> = Mutex::new(Vec::new());

/// Keep `pipeline` in the registry of live pipelines.
fn register(pipeline: Pipeline) -> Arc<Mutex<Option<Pipeline>>> {
    let inner = Arc::new(Mutex::new(Some(pipeline)));
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(&inner));
    inner
}

/// Stop every live pipeline and join its workers; called without the GIL by
/// [`exit::_close_all`](crate::exit::_close_all) at interpreter exit. Iterating a closed
/// pipeline yields nothing.
pub fn close_live() {
    let live: Vec<_> = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for inner in live.iter().filter_map(Weak::upgrade) {
        let p = inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(p);
    }
}

impl Drop for PyPipeline {
    fn drop(&mut self) {
        let pipeline = self.inner.lock().ok().and_then(|mut p| p.take());
        if let Some(p) = pipeline {
            // Joining the workers must not hold the GIL: a worker may be waiting for it to run
            // a Python stage.
            Python::attach(|py| exit::detach(py, move || drop(p)));
        }
    }
}

#[pymethods]
impl PyPipeline {
    #[new]
    #[pyo3(signature = (data=None, *, config=None, stages=None, **options))]
    fn new(
        py: Python<'_>,
        data: Option<&Bound<'_, PyAny>>,
        config: Option<PathBuf>,
        stages: Option<&Bound<'_, PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut cfg = crate::options::from_kwargs(py, options)?;
        if let Some(d) = data.filter(|d| !d.is_none()) {
            cfg.data = Some(crate::options::data_paths(py, d)?);
        }
        if let Some(path) = config {
            let file = PipelineConfig::from_file(&path).map_err(|e| errors::to_py(py, &e))?;
            cfg = cfg.over(file);
        }
        let settings = cfg.settings(None).map_err(|e| errors::to_py(py, &e))?;
        let raised: Raised = Arc::new(Mutex::new(Vec::new()));
        let mut py_stages: Vec<Arc<dyn Stage>> = Vec::new();
        if let Some(list) = stages.filter(|s| !s.is_none()) {
            for (i, f) in list.try_iter()?.enumerate() {
                let f = f?;
                if !f.is_callable() {
                    return Err(errors::config(py, "stages", format!("stages[{i}] is not callable")));
                }
                let stage = PyStage::new(py, i, f.unbind(), settings.feature_shape.clone(), raised.clone());
                py_stages.push(Arc::new(stage));
            }
        }
        let s = settings.clone();
        let pipeline = exit::detach(py, move || -> shardmix::Result<Pipeline> {
            let set = s.open_source()?;
            let builtin = s.stages(&set)?;
            let mut b = s.builder(set)?;
            for stage in builtin.into_iter().chain(py_stages) {
                b = b.stage_arc(stage);
            }
            b.build()
        })
        .map_err(|e| errors::to_py(py, &e))?;
        let len = pipeline.total_steps().map(|t| t.saturating_sub(settings.start_step));
        let spec = pipeline.spec();
        Ok(PyPipeline {
            len,
            steps_per_epoch: pipeline.steps_per_epoch(),
            num_features: spec.num_features(),
            num_targets: spec.num_targets(),
            // The image shape of the batches produced: `feature_shape`, an image column's, or
            // after a crop the cropped one (the spec after every stage holds all three).
            feature_shape: spec.feature_shape.clone().or_else(|| settings.feature_shape.clone()),
            inner: register(pipeline),
            settings,
            raised,
            last_stats: Mutex::new(None),
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next batch; the GIL is released while waiting for it. Ctrl-C raises
    /// `KeyboardInterrupt` within about 50 ms; the next call returns the batch waited for.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyBatch>> {
        let next = exit::wait_interruptibly(py, || {
            let mut guard = self.lock();
            let r = match guard.as_mut().map(|p| p.next_within(exit::SIGNAL_POLL)) {
                None => None,
                Some(Poll::Pending) => return Poll::Pending,
                Some(Poll::Ready(r)) => r,
            };
            if r.is_none() {
                // Finished: join the workers now rather than at garbage collection.
                let finished = guard.take();
                drop(guard);
                self.retire(finished);
            } else {
                drop(guard);
            }
            Poll::Ready(r)
        })?;
        match next {
            None => Ok(None),
            Some(Ok(batch)) => {
                Ok(Some(PyBatch::new(py, batch, self.feature_shape.as_deref(), self.settings.provenance)))
            }
            Some(Err(e)) => Err(self.error(py, &e)),
        }
    }

    /// Steps this pipeline yields in all (on this rank, from `start_step`).
    fn __len__(&self) -> PyResult<usize> {
        self.len.map(|n| n as usize).ok_or_else(|| PyTypeError::new_err("the pipeline is unbounded"))
    }

    /// The local step of the next batch: save it in a checkpoint, resume with `start_step=`.
    #[getter]
    fn position(&self, py: Python<'_>) -> u64 {
        exit::detach(py, || self.lock().as_ref().map(|p| p.position()))
            .unwrap_or(self.len.unwrap_or(0) + self.settings.start_step)
    }

    /// Global steps per epoch.
    #[getter]
    fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    /// Feature values per row (F).
    #[getter]
    fn num_features(&self) -> usize {
        self.num_features
    }

    /// Target values per row (C; 0 without a target).
    #[getter]
    fn num_targets(&self) -> usize {
        self.num_targets
    }

    /// The settings in force: every option with its value (given or default), as a dict.
    fn settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut json = serde_json::to_value(&self.settings).unwrap_or_default();
        // `workers`, `prefetch`, `cache_mib`, `cache_dir` and `cache_max_bytes` are not part of
        // the output's identity (so the library's JSON form skips them), but they are settings
        // all the same.
        if let Some(map) = json.as_object_mut() {
            map.insert("workers".into(), self.settings.workers.into());
            map.insert("prefetch".into(), self.settings.prefetch.into());
            map.insert("cache_mib".into(), self.settings.cache_mib.into());
            let cache_dir = self.settings.cache_dir.as_ref().map(|d| d.to_string_lossy().into_owned());
            map.insert("cache_dir".into(), cache_dir.into());
            map.insert("cache_max_bytes".into(), self.settings.cache_max_bytes.into());
            // Left out of the JSON form when unset (the fingerprint of earlier runs).
            for key in ["normalize", "random_resized_crop", "crop_scale", "crop_ratio", "hflip", "pixels"] {
                map.entry(key).or_insert(serde_json::Value::Null);
            }
        }
        py.import("json")?.call_method1("loads", (json.to_string(),))
    }

    /// The run's counters: rows, batches, times (seconds), cache, skipped rows and blocks.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let live = exit::detach(py, || self.lock().as_ref().map(|p| p.stats()));
        let finished = live.is_none();
        let s = match live {
            Some(s) => s,
            None => match self.last_stats.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                Some(s) => s,
                None => return Ok(d),
            },
        };
        d.set_item("finished", finished)?;
        d.set_item("rows", s.rows)?;
        d.set_item("batches", s.batches)?;
        d.set_item("elapsed", s.elapsed.as_secs_f64())?;
        d.set_item("rows_per_sec", s.rows_per_sec)?;
        d.set_item("read_time", s.read_time.as_secs_f64())?;
        d.set_item("decode_time", s.decode_time.as_secs_f64())?;
        let stages = PyDict::new(py);
        for (name, t) in &s.stage_times {
            stages.set_item(name, t.as_secs_f64())?;
        }
        d.set_item("stage_times", stages)?;
        d.set_item("consumer_wait", s.consumer_wait.as_secs_f64())?;
        d.set_item("worker_idle", s.worker_idle.as_secs_f64())?;
        d.set_item("skipped_rows", s.skipped_rows)?;
        d.set_item("filled_values", s.filled_values)?;
        let cache = PyDict::new(py);
        cache.set_item("capacity", s.cache.capacity)?;
        cache.set_item("bytes", s.cache.bytes)?;
        cache.set_item("peak_bytes", s.cache.peak_bytes)?;
        cache.set_item("hits", s.cache.hits)?;
        cache.set_item("misses", s.cache.misses)?;
        d.set_item("cache", cache)?;
        match &s.object_cache {
            None => d.set_item("object_cache", py.None())?,
            Some(c) => {
                let oc = PyDict::new(py);
                oc.set_item("hits", c.hits)?;
                oc.set_item("fills", c.fills)?;
                oc.set_item("filled_bytes", c.filled_bytes)?;
                oc.set_item("bypassed", c.bypassed)?;
                oc.set_item("last_bypass", c.last_bypass.as_deref())?;
                d.set_item("object_cache", oc)?;
            }
        }
        let blocks = PyList::empty(py);
        for b in &s.skipped_blocks {
            let bd = PyDict::new(py);
            bd.set_item("path", b.path.to_string_lossy())?;
            bd.set_item("row_group", b.row_group)?;
            bd.set_item("rows", b.rows)?;
            bd.set_item("error", &b.error)?;
            blocks.append(bd)?;
        }
        d.set_item("skipped_blocks", blocks)?;
        Ok(d)
    }

    /// Stop the workers and free the buffers; iterating afterwards yields nothing.
    fn close(&self, py: Python<'_>) {
        exit::detach(py, || {
            let p = self.lock().take();
            self.retire(p);
        });
    }
}
