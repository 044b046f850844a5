//! [`StopToken`]: a request to stop a long call (an augmentation run, a training run) from
//! another thread — a Ctrl-C handler, a Python binding polling for signals, a supervisor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{ErrorKind, Result};

/// A shared flag asking a long call to stop: clones share the flag, [`stop`](Self::stop) on
/// any clone is seen by all. The calls that take one
/// ([`AugmentPlan::run_with_stop`](crate::augment::AugmentPlan::run_with_stop),
/// [`AugmentPlan::write_shards_with_stop`](crate::augment::AugmentPlan::write_shards_with_stop),
/// [`train_with_stop`](crate::nn::train::train_with_stop)) check it at least once per
/// pipeline step and then return [`ErrorKind::Interrupted`], leaving their output as an
/// interrupted run does (complete shards kept, the last complete model file untouched).
///
/// # Example
/// ```
/// use shardmix::augment::{AugmentOptions, AugmentPlan};
/// use shardmix::{ErrorKind, PipelineConfig, StopToken};
/// let settings = PipelineConfig {
///     data: Some(vec!["examples/data/digits.parquet".into()]),
///     batch_size: Some(64),
///     steps: Some(5),
///     ..Default::default()
/// }
/// .settings(None)?;
/// let dir = tempfile::tempdir().unwrap();
/// let plan = AugmentPlan::new(settings, &dir.path().join("out"), &AugmentOptions::default())?;
/// let stop = StopToken::new();
/// let watcher = stop.clone(); // e.g. moved into a Ctrl-C handler
/// watcher.stop();
/// let err = plan.run_with_stop(&stop, &mut |_| {}).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Interrupted { .. }));
/// // Nothing half-written: a run without the stop request resumes and completes.
/// assert_eq!(plan.run(&mut |_| {})?.steps, 5);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopToken(Arc<AtomicBool>);

impl StopToken {
    /// A token not stopped yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every call holding a clone of this token to stop (idempotent; never blocks, and
    /// does nothing but an atomic store, so a signal handler may call it).
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(`[`ErrorKind::Interrupted`]`)` once stopped: `what` was interrupted before `step`,
    /// and `state` tells what the output holds.
    ///
    /// # Errors
    /// [`ErrorKind::Interrupted`] when [`stop`](Self::stop) was called.
    pub fn check(&self, what: impl FnOnce() -> (String, u64, String)) -> Result<()> {
        if self.is_stopped() {
            let (what, step, state) = what();
            return Err(ErrorKind::Interrupted { what, step, state }.into());
        }
        Ok(())
    }
}
