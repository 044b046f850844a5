//! [`Generator`]: what a sampling stage needs of a generative model.

use std::path::PathBuf;

use ndarray::Array2;

use crate::batch::Origin;
use crate::error::Result;
use crate::rng::StepRng;

/// What a model declares about the data it generates; checked against the pipeline's
/// [`DataSpec`](crate::DataSpec) at build time.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The file the model was loaded from (empty for a model built in memory).
    pub path: PathBuf,
    /// `Vae` or `Gan`.
    pub origin: Origin,
    /// Number of feature values per generated row.
    pub num_features: usize,
    /// Number of classes it is conditioned on; `None` for an unconditional model.
    pub num_classes: Option<usize>,
    /// Names of the feature columns it was trained on, when recorded.
    pub feature_names: Option<Vec<String>>,
}

/// A generative model that produces feature rows in the data's own scale.
pub trait Generator: Send + Sync {
    /// What the model generates.
    fn info(&self) -> &ModelInfo;

    /// Generate `count` rows. For a conditional model `classes` holds one class per row
    /// (`classes.len() == count`); an unconditional model gets `None`.
    ///
    /// # Errors
    /// A shape error when `classes` does not fit the model.
    fn generate(&self, classes: Option<&[usize]>, count: usize, rng: &mut StepRng) -> Result<Array2<f32>>;
}
