//! [`Linear`]: a fully connected layer in PyTorch's layout.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};

use crate::nn::activation::Activation;
use crate::nn::adam::Param;
use crate::nn::init::Init;
use crate::nn::par;
use crate::rng::StepRng;

/// A fully connected layer `y = x·Wᵀ + b` on a batch `x` (rows × `in`).
///
/// `weight` is `[out, in]` and `bias` `[out]`, exactly as `torch.nn.Linear` stores them, so
/// tensors move between the two without transposition. Gradients of the last
/// [`backward`](Linear::backward) are kept beside the parameters (`grad_weight`, `grad_bias`),
/// overwritten (not accumulated) by each call.
///
/// # Example
/// ```
/// use ndarray::array;
/// use shardmix::nn::Linear;
/// let layer = Linear::from_parts(array![[1.0f32, 2.0], [0.0, -1.0], [3.0, 0.5]], array![0.5f32, 0.0, -1.0]);
/// let y = layer.forward(array![[1.0f32, 1.0]].view());
/// assert_eq!(y, array![[3.5f32, -1.0, 2.5]]);
/// ```
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out, in]`, row-major.
    pub(crate) weight: Array2<f32>,
    /// `[out]`.
    pub(crate) bias: Array1<f32>,
    /// ∂L/∂W of the last backward pass.
    pub(crate) grad_weight: Array2<f32>,
    /// ∂L/∂b of the last backward pass.
    pub(crate) grad_bias: Array1<f32>,
}

/// Layers are equal when their parameters are (gradients are scratch space).
impl PartialEq for Linear {
    fn eq(&self, other: &Self) -> bool {
        self.weight == other.weight && self.bias == other.bias
    }
}

impl Linear {
    /// A layer `inputs → outputs` with weights drawn by `init` and zero biases.
    pub fn new(inputs: usize, outputs: usize, init: Init, rng: &mut StepRng) -> Self {
        let mut w = vec![0.0f32; inputs * outputs];
        init.fill(&mut w, inputs, outputs, rng);
        let weight = Array2::from_shape_vec((outputs, inputs), w).unwrap_or_else(|_| Array2::zeros((outputs, inputs)));
        Self::from_parts(weight, Array1::zeros(outputs))
    }

    /// A layer from a weight `[out, in]` and a bias `[out]`.
    ///
    /// # Panics
    /// When `bias.len() != weight.nrows()` (a bug: loaders check shapes first).
    pub fn from_parts(weight: Array2<f32>, bias: Array1<f32>) -> Self {
        assert_eq!(bias.len(), weight.nrows(), "bias length must equal out");
        // Standard layout is an invariant the optimiser relies on.
        let weight = weight.as_standard_layout().into_owned();
        let bias = bias.as_standard_layout().into_owned();
        Linear { grad_weight: Array2::zeros(weight.raw_dim()), grad_bias: Array1::zeros(bias.raw_dim()), weight, bias }
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.ncols()
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.weight.nrows()
    }

    /// The weight `[out, in]`.
    pub fn weight(&self) -> &Array2<f32> {
        &self.weight
    }

    /// The bias `[out]`.
    pub fn bias(&self) -> &Array1<f32> {
        &self.bias
    }

    /// `x·Wᵀ + b` into a new array.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut out = Array2::zeros((x.nrows(), self.outputs()));
        self.forward_into(x, out.view_mut());
        out
    }

    /// `x·Wᵀ + b` into `out` (rows × `out`), overwriting it.
    pub fn forward_into(&self, x: ArrayView2<f32>, out: ArrayViewMut2<f32>) {
        self.forward_act_into(x, Activation::Identity, out);
    }

    /// `act(x·Wᵀ + b)` into `out` (rows × `out`), overwriting it; the bias and the activation
    /// are one pass over `out`.
    pub fn forward_act_into(&self, x: ArrayView2<f32>, act: Activation, mut out: ArrayViewMut2<f32>) {
        par::gemm(1.0, x, self.weight.t(), 0.0, out.view_mut());
        act.forward_bias_inplace(out, self.bias.view());
    }

    /// Given the layer's input `x` and ∂L/∂y, store ∂L/∂W = gᵀ·x and ∂L/∂b = Σ_rows g
    /// (when `params`), and write ∂L/∂x = g·W into `grad_input` (when given).
    pub fn backward(
        &mut self,
        x: ArrayView2<f32>,
        grad_out: ArrayView2<f32>,
        params: bool,
        grad_input: Option<ArrayViewMut2<f32>>,
    ) {
        if params {
            par::gemm(1.0, grad_out.t(), x, 0.0, self.grad_weight.view_mut());
            self.grad_bias.fill(0.0);
            for row in grad_out.rows() {
                self.grad_bias += &row;
            }
        }
        if let Some(gi) = grad_input {
            par::gemm(1.0, grad_out, self.weight.view(), 0.0, gi);
        }
    }

    /// The weight and bias with their gradients, for an optimiser.
    pub fn params(&mut self) -> [Param<'_>; 2] {
        [Param::new(&mut self.weight, &self.grad_weight), Param::new(&mut self.bias, &self.grad_bias)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::init::test_matrix;
    use crate::rng;

    /// L = Σ y ⊙ R for a fixed random R, so ∂L/∂y = R.
    fn objective(layer: &Linear, x: &Array2<f32>, r: &Array2<f32>) -> f64 {
        let y = layer.forward(x.view());
        y.iter().zip(r.iter()).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut layer = Linear::new(5, 3, Init::XavierUniform, &mut rng::derive(1, 0, 0));
        layer.bias = ndarray::array![0.1f32, -0.2, 0.3];
        let x = test_matrix(4, 5, 2);
        let r = test_matrix(4, 3, 3);
        let mut gx = Array2::zeros((4, 5));
        layer.backward(x.view(), r.view(), true, Some(gx.view_mut()));
        let h = 1e-2f32;
        let tol = |an: f32| 2e-3 * (1.0 + an.abs());
        for i in 0..3 {
            for j in 0..5 {
                let mut p = layer.clone();
                p.weight[[i, j]] += h;
                let mut m = layer.clone();
                m.weight[[i, j]] -= h;
                let fd = (objective(&p, &x, &r) - objective(&m, &x, &r)) / (2.0 * h as f64);
                let an = layer.grad_weight[[i, j]];
                assert!((fd as f32 - an).abs() < tol(an), "dW[{i},{j}] {fd} vs {an}");
            }
            let mut p = layer.clone();
            p.bias[i] += h;
            let mut m = layer.clone();
            m.bias[i] -= h;
            let fd = (objective(&p, &x, &r) - objective(&m, &x, &r)) / (2.0 * h as f64);
            assert!((fd as f32 - layer.grad_bias[i]).abs() < tol(layer.grad_bias[i]));
        }
        for i in 0..4 {
            for j in 0..5 {
                let mut xp = x.clone();
                xp[[i, j]] += h;
                let mut xm = x.clone();
                xm[[i, j]] -= h;
                let fd = (objective(&layer, &xp, &r) - objective(&layer, &xm, &r)) / (2.0 * h as f64);
                assert!((fd as f32 - gx[[i, j]]).abs() < tol(gx[[i, j]]), "dx[{i},{j}]");
            }
        }
    }

    #[test]
    fn pytorch_layout() {
        let layer = Linear::new(7, 2, Init::XavierUniform, &mut rng::derive(0, 0, 0));
        assert_eq!(layer.weight().dim(), (2, 7));
        assert_eq!(layer.bias().len(), 2);
        assert_eq!(layer.forward(Array2::zeros((3, 7)).view()).dim(), (3, 2));
    }
}
