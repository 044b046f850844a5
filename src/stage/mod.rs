//! Stages: `Batch → Result<Batch>` transformations run by the pipeline's workers.
//!
//! A stage holds no per-step mutable state, so any worker can run any step; its randomness
//! comes from the [`StepRng`] the pipeline hands it, derived from `(seed, stage index, step)`.

use std::sync::Arc;

use crate::batch::Batch;
use crate::error::Result;
use crate::rng::StepRng;
use crate::spec::DataSpec;

mod beta;
mod crop;
mod cutmix;
mod flip;
mod generator;
mod geometry;
mod holdout;
mod inject;
mod map;
mod mixup;
mod normalize;
mod spare;
mod standardize;

pub use crop::RandomResizedCrop;
pub use flip::HorizontalFlip;
pub use generator::{Generator, ModelInfo};
pub use holdout::Holdout;
pub use inject::Inject;
pub use map::Map;
pub(crate) use mixup::check_alpha;
pub use mixup::{MixMode, Mixup};
pub use normalize::Normalize;
pub use standardize::Standardize;

/// A transformation of batches.
///
/// # Example
/// ```
/// use shardmix::{Batch, Result, Stage, StepRng};
/// /// Scales every feature by a constant.
/// struct Scale(f32);
/// impl Stage for Scale {
///     fn name(&self) -> &str { "scale" }
///     fn apply(&self, mut batch: Batch, _rng: &mut StepRng) -> Result<Batch> {
///         batch.features.mapv_inplace(|v| v * self.0);
///         Ok(batch)
///     }
/// }
/// let batch = Batch::new(0, ndarray::array![[1.0f32, 2.0]], None, vec![0])?;
/// let out = Scale(2.0).apply(batch, &mut shardmix::rng::for_stage(0, 0, 0))?;
/// assert_eq!(out.features, ndarray::array![[2.0f32, 4.0]]);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub trait Stage: Send + Sync {
    /// A short name for errors and stats (`mixup`, `inject-vae`, ...).
    fn name(&self) -> &str;

    /// Check the stage against the data it will receive, before any batch is produced.
    /// The default accepts anything.
    ///
    /// # Errors
    /// A configuration or shape error naming what does not fit.
    fn check(&self, spec: &DataSpec) -> Result<()> {
        let _ = spec;
        Ok(())
    }

    /// The spec of the batches this stage emits, given the spec it receives (default: unchanged).
    fn output_spec(&self, spec: &DataSpec) -> DataSpec {
        spec.clone()
    }

    /// Transform one batch.
    ///
    /// # Errors
    /// Whatever the stage finds wrong; the pipeline wraps it with the step and stage name.
    fn apply(&self, batch: Batch, rng: &mut StepRng) -> Result<Batch>;
}

/// A boxed or shared stage is a stage: every method forwards to the pointee.
macro_rules! forward_stage {
    ($($pointer:ident),*) => {$(
        impl<S: Stage + ?Sized> Stage for $pointer<S> {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn check(&self, spec: &DataSpec) -> Result<()> {
                (**self).check(spec)
            }
            fn output_spec(&self, spec: &DataSpec) -> DataSpec {
                (**self).output_spec(spec)
            }
            fn apply(&self, batch: Batch, rng: &mut StepRng) -> Result<Batch> {
                (**self).apply(batch, rng)
            }
        }
    )*};
}

forward_stage!(Box, Arc);
