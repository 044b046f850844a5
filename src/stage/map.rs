//! [`Map`]: a stage from a user closure.

use crate::batch::Batch;
use crate::error::Result;
use crate::rng::StepRng;
use crate::stage::Stage;

/// A stage that applies a closure to every batch.
///
/// # Example
/// ```
/// use shardmix::{Batch, Map, Stage};
/// let clip = Map::new("clip", |mut b: Batch, _rng: &mut shardmix::StepRng| {
///     b.features.mapv_inplace(|v| v.clamp(0.0, 1.0));
///     Ok(b)
/// });
/// let b = Batch::new(0, ndarray::array![[-1.0f32, 2.0]], None, vec![0])?;
/// let out = clip.apply(b, &mut shardmix::rng::for_stage(0, 0, 0))?;
/// assert_eq!(out.features, ndarray::array![[0.0f32, 1.0]]);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub struct Map<F> {
    name: String,
    f: F,
}

impl<F> Map<F>
where
    F: Fn(Batch, &mut StepRng) -> Result<Batch> + Send + Sync,
{
    /// A stage named `name` running `f`.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        Map { name: name.into(), f }
    }
}

impl<F> Stage for Map<F>
where
    F: Fn(Batch, &mut StepRng) -> Result<Batch> + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn apply(&self, batch: Batch, rng: &mut StepRng) -> Result<Batch> {
        (self.f)(batch, rng)
    }
}
