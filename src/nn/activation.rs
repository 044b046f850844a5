//! Element-wise activations, applied in place on a layer's output.
//!
//! Every derivative is written in terms of the activation's *output* `a = f(z)`, so a network
//! only caches outputs: ReLU `a > 0`, LeakyReLU `a > 0 ? 1 : slope` (exact because the slope is
//! required to be `≥ 0`), Sigmoid `a·(1 − a)`, Tanh `1 − a²`.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::vmath;

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
            Activation::Relu => {
                if z > 0.0 {
                    z
                } else {
                    0.0
                }
            }
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

    /// Apply in place to every element (one vectorised loop per activation).
    pub fn forward_inplace(self, mut x: ArrayViewMut2<f32>) {
        match self {
            Activation::Identity => {}
            Activation::Relu => x.mapv_inplace(|z| if z > 0.0 { z } else { 0.0 }),
            Activation::LeakyRelu(s) => x.mapv_inplace(|z| if z > 0.0 { z } else { s * z }),
            Activation::Sigmoid => match x.as_slice_memory_order_mut() {
                Some(v) => vmath::sigmoid_inplace(v),
                None => x.mapv_inplace(vmath::sigmoid),
            },
            Activation::Tanh => x.mapv_inplace(f32::tanh),
        }
    }

    /// `x ← f(x + bias)`, the bias broadcast over the rows, in one pass.
    ///
    /// # Panics
    /// When `bias.len() != x.ncols()` (a bug in the caller).
    pub fn forward_bias_inplace(self, mut x: ArrayViewMut2<f32>, bias: ArrayView1<f32>) {
        assert_eq!(bias.len(), x.ncols(), "bias length vs columns");
        let act = match self {
            Activation::Identity => vmath::Act::Identity,
            Activation::Relu => vmath::Act::Relu,
            Activation::LeakyRelu(s) => vmath::Act::LeakyRelu(s),
            Activation::Sigmoid => vmath::Act::Sigmoid,
            Activation::Tanh => vmath::Act::Tanh,
        };
        match (x.as_slice_mut(), bias.as_slice()) {
            (Some(xs), Some(b)) => vmath::bias_act(xs, b, act),
            _ => {
                x += &bias;
                self.forward_inplace(x);
            }
        }
    }

    /// Turn `grad` (∂L/∂a) into ∂L/∂z in place, given the outputs `a`.
    ///
    /// # Panics
    /// When the shapes differ (a bug in the caller).
    pub fn backward_inplace(self, output: ArrayView2<f32>, mut grad: ArrayViewMut2<f32>) {
        let zip = Zip::from(&mut grad).and(&output);
        match self {
            Activation::Identity => {}
            Activation::Relu => zip.for_each(|g, &a| *g = if a > 0.0 { *g } else { 0.0 }),
            Activation::LeakyRelu(s) => zip.for_each(|g, &a| *g = if a > 0.0 { *g } else { s * *g }),
            Activation::Sigmoid => zip.for_each(|g, &a| *g *= a * (1.0 - a)),
            Activation::Tanh => zip.for_each(|g, &a| *g *= 1.0 - a * a),
        }
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

/// The logistic function `1 / (1 + e⁻ᶻ)`, stable for any `z`: 1 above `z ≈ 17`, and below
/// `z ≈ −87` a floor of about `6·10⁻³⁹` instead of underflowing to 0. The same function as
/// [`Activation::Sigmoid`] applies to whole arrays.
///
/// # Example
/// ```
/// use shardmix::nn::sigmoid;
/// assert_eq!(sigmoid(0.0), 0.5);
/// assert_eq!(sigmoid(1000.0), 1.0);
/// assert!(sigmoid(-1000.0) < 1e-38);
/// ```
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    vmath::sigmoid(z)
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
    fn array_passes_match_the_scalar_functions() {
        let z = Array2::from_shape_fn((7, 9), |(i, j)| (i as f32 - 3.0) * 1.7 + j as f32 * 0.31 - 1.2);
        let g = Array2::from_shape_fn((7, 9), |(i, j)| (i * 9 + j) as f32 * 0.1 - 3.0);
        for act in ALL {
            let mut a = z.clone();
            act.forward_inplace(a.view_mut());
            assert_eq!(a, z.mapv(|v| act.apply(v)), "{act:?} forward");
            let bias = ndarray::Array1::from_shape_fn(9, |j| j as f32 * 0.2 - 0.7);
            let mut fused = z.clone();
            act.forward_bias_inplace(fused.view_mut(), bias.view());
            assert_eq!(fused, (&z + &bias).mapv(|v| act.apply(v)), "{act:?} forward with bias");
            let mut gi = g.clone();
            act.backward_inplace(a.view(), gi.view_mut());
            let expected = ndarray::Zip::from(&g).and(&a).map_collect(|&g, &a| g * act.derivative_from_output(a));
            assert_eq!(gi, expected, "{act:?} backward");
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
        assert!(sigmoid(-1000.0) >= 0.0 && sigmoid(-1000.0) < 1e-38);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn negative_slope_is_rejected() {
        assert_eq!(Activation::LeakyRelu(-0.1).validate("act").unwrap_err().config_name(), Some("act"));
        assert_eq!(Activation::LeakyRelu(f32::NAN).validate("act").unwrap_err().config_name(), Some("act"));
        assert!(Activation::LeakyRelu(0.2).validate("act").is_ok());
    }

    #[test]
    fn serde_names() {
        let s = serde_json::to_string(&[Activation::Relu, Activation::LeakyRelu(0.2)]).unwrap();
        assert_eq!(s, r#"["relu",{"leaky_relu":0.2}]"#);
    }
}
