//! [`Standardize`]: per-feature `(x − mean) / std`, with the statistics given or computed in
//! one streaming pass over the data.

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::rng::StepRng;
use crate::source::{Reader, Rows, ShardSet};
use crate::spec::DataSpec;
use crate::stage::Stage;

/// Standardise every feature to zero mean and unit variance.
///
/// # Example
/// ```
/// use shardmix::{Batch, Stage, Standardize};
/// let s = Standardize::new(vec![1.0, 10.0], vec![2.0, 5.0])?;
/// let b = Batch::new(0, ndarray::array![[3.0f32, 0.0]], None, vec![0])?;
/// let out = s.apply(b, &mut shardmix::rng::for_stage(0, 0, 0))?;
/// assert_eq!(out.features, ndarray::array![[1.0f32, -2.0]]);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Standardize {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    std: Vec<f32>,
}

impl Standardize {
    /// From given statistics.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the lengths differ, or a mean is not
    /// finite, or a std is not finite and positive.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        if mean.len() != std.len() || mean.is_empty() {
            return Err(Error::config("standardize", format!("{} means and {} stds", mean.len(), std.len())));
        }
        if let Some(i) = mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::config("standardize", format!("mean of feature {i} is not finite")));
        }
        if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::config(
                "standardize",
                format!("std of feature {i} is {}, it must be finite and positive", std[i]),
            ));
        }
        let inv_std = std.iter().map(|s| 1.0 / s).collect();
        Ok(Standardize { mean, inv_std, std })
    }

    /// Compute mean and std of every feature in one pass over `set` (row group by row group,
    /// accumulating in `f64`). A constant feature gets std 1 so it maps to 0.
    ///
    /// # Errors
    /// Any read error of the data.
    pub fn fit(set: &ShardSet) -> Result<Self> {
        let f = set.spec().num_features();
        let reader = Reader::new(std::sync::Arc::new(set.clone()), 0);
        let mut sum = vec![0f64; f];
        let mut sumsq = vec![0f64; f];
        let mut n = 0u64;
        for rg in set.row_groups() {
            let b = reader.read(0, &Rows::Range(rg.first_row..rg.first_row + rg.num_rows))?;
            for row in b.features.rows() {
                for (j, &v) in row.iter().enumerate() {
                    let v = v as f64;
                    sum[j] += v;
                    sumsq[j] += v * v;
                }
            }
            n += b.rows() as u64;
        }
        if n == 0 {
            return Err(crate::ErrorKind::Empty { what: "the data to standardise".into() }.into());
        }
        let nf = n as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / nf) as f32).collect();
        let std: Vec<f32> = sum
            .iter()
            .zip(&sumsq)
            .map(|(s, q)| {
                let var = (q / nf - (s / nf).powi(2)).max(0.0);
                let sd = var.sqrt() as f32;
                if sd > 1e-12 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Self::new(mean, std)
    }

    /// The per-feature means.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The per-feature standard deviations.
    pub fn std(&self) -> &[f32] {
        &self.std
    }
}

impl Stage for Standardize {
    fn name(&self) -> &str {
        "standardize"
    }

    fn check(&self, spec: &DataSpec) -> Result<()> {
        spec.pixels.require_float("standardize")?;
        if spec.num_features() != self.mean.len() {
            return Err(Error::shape(
                "standardize",
                format!("{} features", self.mean.len()),
                format!("{} features in the data", spec.num_features()),
            ));
        }
        Ok(())
    }

    fn apply(&self, mut batch: Batch, _rng: &mut StepRng) -> Result<Batch> {
        if batch.num_features() != self.mean.len() {
            return Err(Error::shape("standardize", format!("{} features", self.mean.len()), batch.num_features()));
        }
        for mut row in batch.features.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.inv_std) {
                *v = (*v - m) * s;
            }
        }
        Ok(batch)
    }
}
