//! [`Adam`]: the Adam optimiser with PyTorch's defaults and bias correction.

use ndarray::{ArrayBase, Data, DataMut, Dimension};

use crate::error::{Error, Result};

/// Adam's hyper-parameters. The defaults are PyTorch's (`torch.optim.Adam`).
///
/// # Example
/// ```
/// use shardmix::nn::AdamConfig;
/// let c = AdamConfig::default();
/// assert_eq!((c.lr, c.beta1, c.beta2, c.eps), (1e-3, 0.9, 0.999, 1e-8));
/// let fast = AdamConfig { lr: 3e-4, ..AdamConfig::default() };
/// fast.validate("gan.generator_adam")?;
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (default 1e-3); finite and > 0.
    pub lr: f32,
    /// Decay of the first moment (default 0.9); in [0, 1).
    pub beta1: f32,
    /// Decay of the second moment (default 0.999); in [0, 1).
    pub beta2: f32,
    /// Added to the denominator (default 1e-8); finite and > 0.
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

impl AdamConfig {
    /// Check the values; `name` prefixes the parameter names in errors.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the bad field.
    pub fn validate(&self, name: &str) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::config(format!("{name}.lr"), format!("must be finite and > 0, got {}", self.lr)));
        }
        for (field, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::config(format!("{name}.{field}"), format!("must lie in [0, 1), got {b}")));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::config(format!("{name}.eps"), format!("must be finite and > 0, got {}", self.eps)));
        }
        Ok(())
    }
}

/// One parameter tensor and its gradient, as contiguous slices.
#[derive(Debug)]
pub struct Param<'a> {
    /// The values, updated in place.
    pub value: &'a mut [f32],
    /// ∂L/∂value, same length.
    pub grad: &'a [f32],
}

impl<'a> Param<'a> {
    /// Pair a parameter array with its gradient.
    ///
    /// # Panics
    /// When either array is not contiguous or their lengths differ (a bug: layers keep
    /// their parameters in standard layout).
    pub fn new<S, T, D>(value: &'a mut ArrayBase<S, D>, grad: &'a ArrayBase<T, D>) -> Self
    where
        S: DataMut<Elem = f32>,
        T: Data<Elem = f32>,
        D: Dimension,
    {
        let value = value.as_slice_memory_order_mut().expect("parameters are contiguous");
        let grad = grad.as_slice_memory_order().expect("gradients are contiguous");
        assert_eq!(value.len(), grad.len(), "parameter and gradient lengths");
        Param { value, grad }
    }
}

/// Adam with per-parameter first and second moments.
///
/// Parameters are identified by their position in the sequence given to
/// [`step`](Adam::step), which must therefore be the same on every call.
///
/// # Example
/// ```
/// use shardmix::nn::{Adam, AdamConfig, Param};
/// // Minimise (w − 3)².
/// let mut w = ndarray::array![0.0f32];
/// let mut adam = Adam::new(AdamConfig { lr: 0.1, ..AdamConfig::default() })?;
/// for _ in 0..500 {
///     let g = w.mapv(|v| 2.0 * (v - 3.0));
///     adam.step([Param::new(&mut w, &g)]);
/// }
/// assert!((w[0] - 3.0).abs() < 1e-2);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Adam {
    config: AdamConfig,
    t: u64,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    /// An optimiser with no state yet.
    ///
    /// # Errors
    /// When `config` is invalid (see [`AdamConfig::validate`]).
    pub fn new(config: AdamConfig) -> Result<Self> {
        config.validate("adam")?;
        Ok(Adam { config, t: 0, m: Vec::new(), v: Vec::new() })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// One update of every parameter from its gradient:
    /// `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
    /// `p ← p − lr·m̂ / (√v̂ + ε)` with `m̂ = m / (1−β1ᵗ)`, `v̂ = v / (1−β2ᵗ)`.
    ///
    /// # Panics
    /// When a parameter's length differs from the one seen at the same position before
    /// (a bug in the caller).
    pub fn step<'a>(&mut self, params: impl IntoIterator<Item = Param<'a>>) {
        self.t += 1;
        let c = self.config;
        let t = self.t.min(i32::MAX as u64) as i32;
        let bc1 = 1.0 - (c.beta1 as f64).powi(t);
        let bc2 = 1.0 - (c.beta2 as f64).powi(t);
        // p −= lr/bc1 · m / (√v / √bc2 + ε), as PyTorch computes it.
        let step_size = (c.lr as f64 / bc1) as f32;
        let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
        let (b1, b2) = (c.beta1, c.beta2);
        for (i, p) in params.into_iter().enumerate() {
            if i == self.m.len() {
                self.m.push(vec![0.0; p.value.len()]);
                self.v.push(vec![0.0; p.value.len()]);
            }
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            assert_eq!(m.len(), p.value.len(), "parameter {i} changed size");
            for (((w, &g), m), v) in p.value.iter_mut().zip(p.grad).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *w -= step_size * *m / (v.sqrt() * inv_sqrt_bc2 + c.eps);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr_times_sign() {
        // With bias correction the first step is lr·g/(|g| + ε) ≈ lr·sign(g).
        let mut w = ndarray::array![1.0f32, 1.0, 1.0];
        let g = ndarray::array![0.5f32, -20.0, 0.0];
        let mut adam = Adam::new(AdamConfig::default()).unwrap();
        adam.step([Param::new(&mut w, &g)]);
        assert!((w[0] - 0.999).abs() < 1e-6);
        assert!((w[1] - 1.001).abs() < 1e-6);
        assert_eq!(w[2], 1.0);
    }

    #[test]
    fn matches_reference_second_step() {
        // Reference values from PyTorch's formula, computed in f64 by hand.
        let mut w = ndarray::array![0.0f32];
        let mut adam = Adam::new(AdamConfig::default()).unwrap();
        adam.step([Param::new(&mut w, &ndarray::array![1.0f32])]);
        adam.step([Param::new(&mut w, &ndarray::array![3.0f32])]);
        let (m, v) = (0.09 * 1.0 + 0.1 * 3.0, 0.999 * 0.001 * 1.0 + 0.001 * 9.0);
        let (mh, vh) = (m / (1.0 - 0.81), v / (1.0 - 0.999f64 * 0.999));
        let expected = -1e-3 - 1e-3 * mh / (vh.sqrt() + 1e-8);
        assert!((w[0] as f64 - expected).abs() < 1e-7, "{} vs {expected}", w[0]);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        for (bad, name) in [
            (AdamConfig { lr: 0.0, ..Default::default() }, "adam.lr"),
            (AdamConfig { lr: f32::NAN, ..Default::default() }, "adam.lr"),
            (AdamConfig { beta1: 1.0, ..Default::default() }, "adam.beta1"),
            (AdamConfig { beta2: -0.1, ..Default::default() }, "adam.beta2"),
            (AdamConfig { eps: 0.0, ..Default::default() }, "adam.eps"),
        ] {
            assert_eq!(Adam::new(bad).err().unwrap().config_name(), Some(name), "{bad:?}");
        }
    }
}
