//! How a model sees the data's scale: values in `[0, 1]` (sigmoid outputs, BCE) or real
//! values standardised per feature (identity outputs, Gaussian/MSE), with the mean and
//! standard deviation stored in the model and undone when generating.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The scale of the features a generative model is trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataScale {
    /// Every feature lies in `[0, 1]` (pixels, min-max scaled values): the output layer is a
    /// sigmoid and the VAE's reconstruction loss is BCE, as in the seed.
    Unit,
    /// Real-valued features, standardised with a stored per-feature mean and standard
    /// deviation: the output layer is linear and the VAE's reconstruction loss is Gaussian
    /// (`0.5·Σ(x − x̂)²` on the standardised values).
    Real,
}

/// Per-feature standardisation `(x − mean) / std`.
///
/// # Example
/// ```
/// use shardmix::nn::Standardization;
/// let data = ndarray::array![[1.0f32, 10.0], [3.0, 10.0]];
/// let s = Standardization::fit(data.view())?;
/// assert_eq!(s.mean(), &[2.0, 10.0]);
/// assert_eq!(s.std(), &[1.0, 1.0]); // a constant feature keeps std 1
/// let mut x = data.clone();
/// s.apply(x.view_mut());
/// assert_eq!(x, ndarray::array![[-1.0f32, 0.0], [1.0, 0.0]]);
/// s.invert(x.view_mut());
/// assert_eq!(x, data);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Standardization {
    mean: Vec<f32>,
    std: Vec<f32>,
}

/// Standard deviations below this are treated as a constant feature (std 1).
const MIN_STD: f64 = 1e-6;

impl Standardization {
    /// From explicit statistics.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the lengths differ, a mean is not
    /// finite, or a standard deviation is not finite and > 0.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        if mean.len() != std.len() {
            return Err(Error::config(
                "standardization",
                format!("{} means but {} standard deviations", mean.len(), std.len()),
            ));
        }
        if let Some(i) = mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::config(
                format!("standardization.mean[{i}]"),
                format!("must be finite, got {}", mean[i]),
            ));
        }
        if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::config(
                format!("standardization.std[{i}]"),
                format!("must be finite and > 0, got {}", std[i]),
            ));
        }
        Ok(Standardization { mean, std })
    }

    /// Mean and (population) standard deviation of each column of `data`; a constant column
    /// gets std 1.
    ///
    /// # Errors
    /// [`ErrorKind::Empty`](crate::ErrorKind::Empty) without rows; a config error when a
    /// value is not finite.
    pub fn fit(data: ArrayView2<f32>) -> Result<Self> {
        if data.nrows() == 0 {
            return Err(crate::ErrorKind::Empty { what: "data for standardisation".into() }.into());
        }
        let n = data.nrows() as f64;
        let mut mean = Vec::with_capacity(data.ncols());
        let mut std = Vec::with_capacity(data.ncols());
        for col in data.axis_iter(Axis(1)) {
            let m = col.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = col.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
            let s = var.sqrt();
            mean.push(m as f32);
            std.push(if s.is_finite() && s >= MIN_STD { s as f32 } else { 1.0 });
        }
        Self::new(mean, std)
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// True for zero features.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    /// Per-feature means.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Per-feature standard deviations.
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// `x ← (x − mean) / std`, row by row.
    pub fn apply(&self, mut x: ArrayViewMut2<f32>) {
        for mut row in x.rows_mut() {
            for ((v, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// `x ← x·std + mean`, row by row.
    pub fn invert(&self, mut x: ArrayViewMut2<f32>) {
        for mut row in x.rows_mut() {
            for ((v, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = *v * s + m;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_statistics() {
        let name = |r: Result<Standardization>| r.err().unwrap().config_name().map(str::to_string);
        assert_eq!(name(Standardization::new(vec![0.0], vec![0.0])).as_deref(), Some("standardization.std[0]"));
        assert_eq!(name(Standardization::new(vec![f32::NAN], vec![1.0])).as_deref(), Some("standardization.mean[0]"));
        assert_eq!(name(Standardization::new(vec![0.0, 1.0], vec![1.0])).as_deref(), Some("standardization"));
        let e = Standardization::fit(ndarray::Array2::<f32>::zeros((0, 3)).view()).unwrap_err();
        assert!(matches!(e.kind(), crate::ErrorKind::Empty { what } if what.contains("standardisation")), "{e:?}");
    }

    #[test]
    fn fit_gives_zero_mean_unit_variance() {
        let data = ndarray::array![[1.0f32, -4.0], [2.0, 0.0], [6.0, 8.0]];
        let s = Standardization::fit(data.view()).unwrap();
        let mut x = data.clone();
        s.apply(x.view_mut());
        for col in x.columns() {
            let m: f32 = col.sum() / 3.0;
            let v: f32 = col.iter().map(|&v| (v - m) * (v - m)).sum::<f32>() / 3.0;
            assert!(m.abs() < 1e-6 && (v - 1.0).abs() < 1e-5);
        }
    }
}
