//! Element-wise activations, applied in place on a layer's output.
//!
//! Every derivative is written in terms of the activation's *output* `a = f(z)`, so a network
//! only caches outputs: ReLU `a > 0`, LeakyReLU `a > 0 ? 1 : slope` (exact because the slope is
//! required to be `≥ 0`), Sigmoid `a·(1 − a)`, Tanh `1 − a²`.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An element-wise activation function.
///
/// Serialised (in model metadata) as `"identity"`, `"relu"`, `{"leaky_relu": 0.2}`,
/// `"sigmoid"`, `"tanh"`. In PyTorch terms: `nn.Identity()`, `nn.ReLU()`,
/// `nn.LeakyReLU(0.2)`, `nn.Sigmoid()`, `nn.Tanh()`.
///
/// # Example
/// ```
/// use shardmix::nn::Activation;
/// let mut x = ndarray::array![[-2.0f32, 0.0, 3.0]];
/// Activation::LeakyRelu(0.5).forward_inplace(x.view_mut());
/// assert_eq!(x, ndarray::array![[-1.0f32, 0.0, 3.0]]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `f(z) = z`.
    Identity,
    /// `f(z) = max(z, 0)`.
    Relu,
    /// `f(z) = z` for `z > 0`, `slope·z` otherwise; `slope` must be finite and `≥ 0`.
    LeakyRelu(f32),
    /// `f(z) = 1 / (1 + e^{−z})`.
    Sigmoid,
    /// `f(z) = tanh z`.
    Tanh,
}

impl Activation {
    /// Check the activation's parameter.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a LeakyReLU slope that is negative
    /// or not finite.
    pub fn validate(self, name: &str) -> Result<()> {
        if let Activation::LeakyRelu(s) = self {
            if !s.is_finite() || s < 0.0 {
                return Err(Error::config(name, format!("LeakyReLU slope must be finite and >= 0, got {s}")));
            }
        }
        Ok(())
    }

    /// Apply to one value.
    #[inline]
    pub fn apply(self, z: f32) -> f32 {
        match self {
            Activation::Identity => z,
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu(s) => {
                if z > 0.0 {
                    z
                } else {
                    s * z
                }
            }
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
        }
    }

    /// Derivative at the point whose output is `a`.
    #[inline]
    pub fn derivative_from_output(self, a: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => {
                if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(s) => {
                if a > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
        }
    }

    /// Apply in place to every element.
    pub fn forward_inplace(self, mut x: ArrayViewMut2<f32>) {
        if self != Activation::Identity {
            x.mapv_inplace(|z| self.apply(z));
        }
    }

    /// Turn `grad` (∂L/∂a) into ∂L/∂z in place, given the outputs `a`.
    ///
    /// # Panics
    /// When the shapes differ (a bug in the caller).
    pub fn backward_inplace(self, output: ArrayView2<f32>, mut grad: ArrayViewMut2<f32>) {
        if self == Activation::Identity {
            return;
        }
        Zip::from(&mut grad).and(&output).for_each(|g, &a| *g *= self.derivative_from_output(a));
    }

    /// The PyTorch module this corresponds to, for documentation and error messages.
    pub fn torch_name(self) -> String {
        match self {
            Activation::Identity => "nn.Identity()".into(),
            Activation::Relu => "nn.ReLU()".into(),
            Activation::LeakyRelu(s) => format!("nn.LeakyReLU({s})"),
            Activation::Sigmoid => "nn.Sigmoid()".into(),
            Activation::Tanh => "nn.Tanh()".into(),
        }
    }
}

/// The logistic function, stable for large `|z|`.
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    const ALL: [Activation; 5] =
        [Activation::Identity, Activation::Relu, Activation::LeakyRelu(0.2), Activation::Sigmoid, Activation::Tanh];

    #[test]
    fn derivatives_match_finite_differences() {
        // Points away from the kink at 0.
        let zs = [-3.1f32, -0.7, -0.05, 0.04, 0.6, 2.9];
        for act in ALL {
            for &z in &zs {
                let h = 1e-3f32;
                let fd = (act.apply(z + h) as f64 - act.apply(z - h) as f64) / (2.0 * h as f64);
                let an = act.derivative_from_output(act.apply(z)) as f64;
                assert!((fd - an).abs() < 1e-3 * (1.0 + an.abs()), "{act:?} at {z}: fd {fd} vs analytic {an}");
            }
        }
    }

    #[test]
    fn backward_inplace_multiplies_by_derivative() {
        let mut a = ndarray::array![[-1.0f32, 2.0]];
        Activation::Relu.forward_inplace(a.view_mut());
        let mut g = Array2::from_elem((1, 2), 3.0f32);
        Activation::Relu.backward_inplace(a.view(), g.view_mut());
        assert_eq!(g, ndarray::array![[0.0f32, 3.0]]);
    }

    #[test]
    fn sigmoid_is_stable() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn negative_slope_is_rejected() {
        assert!(Activation::LeakyRelu(-0.1).validate("act").is_err());
        assert!(Activation::LeakyRelu(f32::NAN).validate("act").is_err());
        assert!(Activation::LeakyRelu(0.2).validate("act").is_ok());
    }

    #[test]
    fn serde_names() {
        let s = serde_json::to_string(&[Activation::Relu, Activation::LeakyRelu(0.2)]).unwrap();
        assert_eq!(s, r#"["relu",{"leaky_relu":0.2}]"#);
    }
}
