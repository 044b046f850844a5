//! [`Mlp`]: a stack of [`Linear`] layers, each followed by an [`Activation`], with the
//! activations of the last training forward pass cached for backward.

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, Axis};

use crate::error::{Error, Result};
use crate::nn::activation::Activation;
use crate::nn::adam::Param;
use crate::nn::init::Init;
use crate::nn::linear::Linear;
use crate::nn::par;
use crate::rng::StepRng;

/// A multi-layer perceptron: `Linear → act → Linear → act → …`.
///
/// In PyTorch terms an `nn.Sequential` where layer `i`'s `nn.Linear` sits at index `2i` and
/// its activation at `2i + 1` (a final [`Activation::Identity`] is simply omitted there).
///
/// Training uses [`forward_train`](Mlp::forward_train) (caches every layer's output in
/// reused buffers) then [`backward`](Mlp::backward); inference uses the allocation-light,
/// `&self` [`forward`](Mlp::forward).
///
/// # Example
/// ```
/// use shardmix::nn::{Activation, Mlp};
/// let mut rng = shardmix::rng::derive(0, 0, 0);
/// let mlp = Mlp::new(&[4, 8, 2], Activation::Relu, Activation::Sigmoid, &mut rng)?;
/// let y = mlp.forward(ndarray::Array2::zeros((3, 4)).view());
/// assert_eq!(y.dim(), (3, 2));
/// assert!(y.iter().all(|&p| p > 0.0 && p < 1.0));
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    activations: Vec<Activation>,
    /// `cache[i]` is the input of layer `i`; `cache[n]` the network's output.
    cache: Vec<Array2<f32>>,
    /// `grads[i]`: ∂L/∂(pre-activation of layer i) for i ≥ 1 buffers, `grads[0]` ∂L/∂input.
    grads: Vec<Array2<f32>>,
}

/// Inference runs blocks of rows whose widest hidden activation holds about this many
/// floats (128 KiB: within a core's L2 cache).
const FORWARD_BLOCK_FLOATS: usize = 32 * 1024;
/// The smallest block of rows.
const ROW_BLOCK_MIN: usize = 64;

/// The weight initialisation suited to the activation that follows a layer.
pub(crate) fn init_for(act: Activation) -> Init {
    match act {
        Activation::Relu => Init::KaimingUniform { negative_slope: 0.0 },
        Activation::LeakyRelu(s) => Init::KaimingUniform { negative_slope: s },
        _ => Init::XavierUniform,
    }
}

impl Mlp {
    /// Layers `sizes[0] → sizes[1] → … → sizes[n]`, `hidden` after every layer but the last,
    /// `output` after the last. Weights: Kaiming-uniform before (leaky) ReLU, Xavier-uniform
    /// otherwise; zero biases.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when fewer than two sizes are given, a
    /// size is 0, or an activation is invalid.
    pub fn new(sizes: &[usize], hidden: Activation, output: Activation, rng: &mut StepRng) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(Error::config("mlp.sizes", "needs at least an input and an output size"));
        }
        let n = sizes.len() - 1;
        let acts: Vec<Activation> = (0..n).map(|i| if i + 1 == n { output } else { hidden }).collect();
        Self::with_activations(sizes, &acts, rng)
    }

    /// Like [`new`](Mlp::new) with one activation per layer.
    ///
    /// # Errors
    /// As [`new`](Mlp::new); also when `activations.len() != sizes.len() − 1`.
    pub fn with_activations(sizes: &[usize], activations: &[Activation], rng: &mut StepRng) -> Result<Self> {
        if sizes.len() < 2 || activations.len() + 1 != sizes.len() {
            return Err(Error::config(
                "mlp.sizes",
                format!(
                    "{} sizes need {} activations, got {}",
                    sizes.len(),
                    sizes.len().saturating_sub(1),
                    activations.len()
                ),
            ));
        }
        if let Some(i) = sizes.iter().position(|&s| s == 0) {
            return Err(Error::config(format!("mlp.sizes[{i}]"), "must be at least 1"));
        }
        let mut layers = Vec::with_capacity(activations.len());
        for (i, &act) in activations.iter().enumerate() {
            act.validate(&format!("mlp.activations[{i}]"))?;
            layers.push(Linear::new(sizes[i], sizes[i + 1], init_for(act), rng));
        }
        Self::from_layers(layers, activations.to_vec())
    }

    /// An MLP from existing layers.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when there are no layers, the counts of
    /// layers and activations differ, or consecutive layers do not chain (`out ≠ next in`).
    pub fn from_layers(layers: Vec<Linear>, activations: Vec<Activation>) -> Result<Self> {
        if layers.is_empty() || layers.len() != activations.len() {
            return Err(Error::config(
                "mlp.layers",
                format!("{} layers need as many activations, got {}", layers.len(), activations.len()),
            ));
        }
        for i in 1..layers.len() {
            if layers[i - 1].outputs() != layers[i].inputs() {
                return Err(Error::config(
                    format!("mlp.layers[{i}]"),
                    format!(
                        "takes {} inputs but the previous layer has {} outputs",
                        layers[i].inputs(),
                        layers[i - 1].outputs()
                    ),
                ));
            }
        }
        for (i, a) in activations.iter().enumerate() {
            a.validate(&format!("mlp.activations[{i}]"))?;
        }
        let n = layers.len();
        Ok(Mlp {
            layers,
            activations,
            cache: vec![Array2::zeros((0, 0)); n + 1],
            grads: vec![Array2::zeros((0, 0)); n + 1],
        })
    }

    /// A copy of the layers and activations without the training caches (an inference
    /// snapshot).
    pub fn snapshot(&self) -> Mlp {
        Mlp {
            layers: self.layers.iter().map(|l| Linear::from_parts(l.weight().clone(), l.bias().clone())).collect(),
            activations: self.activations.clone(),
            cache: vec![Array2::zeros((0, 0)); self.layers.len() + 1],
            grads: vec![Array2::zeros((0, 0)); self.layers.len() + 1],
        }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs()
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs()
    }

    /// The layer widths, input first.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.inputs()).chain(self.layers.iter().map(Linear::outputs)).collect()
    }

    /// The layers.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The layers, mutably (tests and loaders).
    #[allow(dead_code)]
    pub(crate) fn layers_mut(&mut self) -> &mut [Linear] {
        &mut self.layers
    }

    /// The activation after each layer.
    pub fn activations(&self) -> &[Activation] {
        &self.activations
    }

    /// Inference forward pass (no caching). Large batches are split by rows across rayon's
    /// threads (see `src/nn/par.rs`); the result does not depend on the thread count.
    ///
    /// # Panics
    /// When `x.ncols() != self.inputs()` (callers check shapes and return errors first).
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut out = Array2::zeros((x.nrows(), self.outputs()));
        self.forward_into(x, out.view_mut());
        out
    }

    /// [`forward`](Mlp::forward) into `out` (`rows × outputs`).
    ///
    /// # Panics
    /// When the shapes do not fit the network.
    pub(crate) fn forward_into(&self, x: ArrayView2<f32>, out: ArrayViewMut2<f32>) {
        self.forward_rows(x, out);
    }

    /// Multiply-adds of one row's forward pass.
    pub(crate) fn macs_per_row(&self) -> usize {
        self.layers.iter().map(|l| l.inputs() * l.outputs()).sum()
    }

    /// The most multiply-adds per row of one layer.
    pub(crate) fn max_layer_macs(&self) -> usize {
        self.layers.iter().map(|l| l.inputs() * l.outputs()).max().unwrap_or(0)
    }

    fn forward_rows(&self, x: ArrayView2<f32>, mut out: ArrayViewMut2<f32>) {
        if let Some(mid) = par::split_rows(x.nrows(), self.macs_per_row()) {
            let (x0, x1) = x.split_at(Axis(0), mid);
            let (o0, o1) = out.view_mut().split_at(Axis(0), mid);
            rayon::join(|| self.forward_rows(x0, o0), || self.forward_rows(x1, o1));
            return;
        }
        // Blocks of rows through the whole network keep the hidden activations in cache and
        // their buffers reused; rows are independent, so the result is the same.
        let widest = self.layers.iter().map(Linear::outputs).max().unwrap_or(0);
        let block = (FORWARD_BLOCK_FLOATS / widest.max(1)).clamp(ROW_BLOCK_MIN, x.nrows().max(ROW_BLOCK_MIN));
        let mut bufs = [Vec::new(), Vec::new()];
        let mut start = 0;
        while start < x.nrows() {
            let end = (start + block).min(x.nrows());
            let xb = x.slice(s![start..end, ..]);
            self.forward_block(xb, out.slice_mut(s![start..end, ..]), &mut bufs);
            start = end;
        }
    }

    /// One block's pass, the hidden activations in the two ping-pong buffers `bufs`.
    fn forward_block(&self, x: ArrayView2<f32>, mut out: ArrayViewMut2<f32>, bufs: &mut [Vec<f32>; 2]) {
        let (n, rows) = (self.layers.len(), x.nrows());
        let mut src: Option<usize> = None;
        for (i, (layer, &act)) in self.layers.iter().zip(&self.activations).enumerate() {
            if i + 1 == n {
                let input = match src {
                    None => x,
                    Some(k) => ArrayView2::from_shape((rows, layer.inputs()), &bufs[k][..rows * layer.inputs()])
                        .unwrap_or_else(|_| unreachable!("buffer sized for the layer")),
                };
                layer.forward_act_into(input, act, out.view_mut());
                return;
            }
            let dst = src.map_or(0, |k| 1 - k);
            let (a, b) = bufs.split_at_mut(1);
            let (src_buf, dst_buf) = if dst == 0 { (&b[0], &mut a[0]) } else { (&a[0], &mut b[0]) };
            dst_buf.resize(rows * layer.outputs(), 0.0);
            let input = match src {
                None => x,
                Some(_) => ArrayView2::from_shape((rows, layer.inputs()), &src_buf[..rows * layer.inputs()])
                    .unwrap_or_else(|_| unreachable!("buffer sized for the layer")),
            };
            let y = ArrayViewMut2::from_shape((rows, layer.outputs()), &mut dst_buf[..rows * layer.outputs()])
                .unwrap_or_else(|_| unreachable!("buffer sized for the layer"));
            layer.forward_act_into(input, act, y);
            src = Some(dst);
        }
    }

    /// Training forward pass: caches the input and every layer's output (reusing buffers
    /// when the batch size is unchanged) and returns the output.
    ///
    /// # Panics
    /// When `x.ncols() != self.inputs()`.
    pub fn forward_train(&mut self, x: ArrayView2<f32>) -> &Array2<f32> {
        self.forward_train_cat(x, None)
    }

    /// [`forward_train`](Mlp::forward_train) on the columns of `x` followed by those of
    /// `cond` (e.g. features ⊕ one-hot class), written straight into the input cache.
    ///
    /// # Panics
    /// When the row counts differ or the widths do not add up to `self.inputs()`.
    pub fn forward_train_cat(&mut self, x: ArrayView2<f32>, cond: Option<ArrayView2<f32>>) -> &Array2<f32> {
        assert_eq!(x.ncols() + cond.map_or(0, |c| c.ncols()), self.inputs(), "input width vs network input");
        cat_into(&mut self.cache[0], x, cond);
        let rows = x.nrows();
        for (i, (layer, &act)) in self.layers.iter().zip(&self.activations).enumerate() {
            let (before, after) = self.cache.split_at_mut(i + 1);
            let out = &mut after[0];
            ensure_shape(out, rows, layer.outputs());
            layer.forward_act_into(before[i].view(), act, out.view_mut());
        }
        &self.cache[self.layers.len()]
    }

    /// The output of the last [`forward_train`](Mlp::forward_train).
    pub fn output(&self) -> &Array2<f32> {
        &self.cache[self.layers.len()]
    }

    /// Back-propagate ∂L/∂output through the cached pass. With `params`, every layer's
    /// parameter gradients are overwritten; with `input`, ∂L/∂input is computed and returned.
    ///
    /// # Panics
    /// When `grad_out`'s shape differs from the cached output's (a bug in the caller).
    pub fn backward(&mut self, grad_out: ArrayView2<f32>, params: bool, input: bool) -> Option<&Array2<f32>> {
        let n = self.layers.len();
        assert_eq!(grad_out.dim(), self.cache[n].dim(), "gradient shape vs cached output");
        let rows = grad_out.nrows();
        ensure_shape(&mut self.grads[n], rows, grad_out.ncols());
        self.grads[n].assign(&grad_out);
        self.activations[n - 1].backward_inplace(self.cache[n].view(), self.grads[n].view_mut());
        for i in (0..n).rev() {
            let need_input = i > 0 || input;
            let (lo, hi) = self.grads.split_at_mut(i + 1);
            let g = hi[0].view();
            let gi = if need_input {
                ensure_shape(&mut lo[i], rows, self.layers[i].inputs());
                Some(lo[i].view_mut())
            } else {
                None
            };
            self.layers[i].backward(self.cache[i].view(), g, params, gi);
            if i > 0 {
                self.activations[i - 1].backward_inplace(self.cache[i].view(), self.grads[i].view_mut());
            }
        }
        if input {
            Some(&self.grads[0])
        } else {
            None
        }
    }

    /// Every weight and bias with its gradient, layer by layer.
    pub fn params(&mut self) -> impl Iterator<Item = Param<'_>> {
        self.layers.iter_mut().flat_map(|l| l.params())
    }
}

/// Write the columns of `x` followed by those of `cond` into `buf` (resized as needed).
///
/// # Panics
/// When the row counts differ.
pub(crate) fn cat_into(buf: &mut Array2<f32>, x: ArrayView2<f32>, cond: Option<ArrayView2<f32>>) {
    let fx = x.ncols();
    ensure_shape(buf, x.nrows(), fx + cond.map_or(0, |c| c.ncols()));
    buf.slice_mut(s![.., ..fx]).assign(&x);
    if let Some(c) = cond {
        assert_eq!(c.nrows(), x.nrows(), "conditioning rows vs input rows");
        buf.slice_mut(s![.., fx..]).assign(&c);
    }
}

/// Make `buf` a `rows × cols` array (zero-filled when its shape changes), keeping its
/// allocation when large enough: a GAN's discriminator alternates between `2B` and `B`
/// rows every step, which would otherwise free and re-map its buffers each time.
pub(crate) fn ensure_shape(buf: &mut Array2<f32>, rows: usize, cols: usize) {
    if buf.dim() == (rows, cols) {
        return;
    }
    // Buffers are only ever made here or by `zeros`: standard layout from offset 0.
    let (mut v, _) = std::mem::take(buf).into_raw_vec_and_offset();
    v.clear();
    v.resize(rows * cols, 0.0);
    *buf = Array2::from_shape_vec((rows, cols), v).unwrap_or_else(|_| Array2::zeros((rows, cols)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::init::test_matrix;
    use crate::rng;

    fn objective(m: &Mlp, x: &Array2<f32>, r: &Array2<f32>) -> f64 {
        let y = m.forward(x.view());
        y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    fn grad_check(hidden: Activation, output: Activation) {
        let mut m = Mlp::new(&[3, 6, 5, 2], hidden, output, &mut rng::derive(5, 0, 0)).unwrap();
        let x = test_matrix(4, 3, 11);
        let r = test_matrix(4, 2, 12);
        let y = m.forward_train(x.view()).clone();
        assert_eq!(y, m.forward(x.view()), "training and inference passes agree");
        let gx = m.backward(r.view(), true, true).unwrap().clone();
        // Small steps keep the (leaky) ReLU kinks out of the stencil.
        let h = 1e-3f32;
        let tol = |an: f64| 2e-2 * (1.0 + an.abs());
        for l in 0..m.layers.len() {
            let (o, inp) = m.layers[l].weight.dim();
            for i in 0..o {
                for j in 0..inp {
                    let mut p = m.clone();
                    p.layers[l].weight[[i, j]] += h;
                    let mut q = m.clone();
                    q.layers[l].weight[[i, j]] -= h;
                    let fd = (objective(&p, &x, &r) - objective(&q, &x, &r)) / (2.0 * h as f64);
                    let an = m.layers[l].grad_weight[[i, j]] as f64;
                    assert!((fd - an).abs() < tol(an), "{hidden:?} layer {l} W[{i},{j}]: {fd} vs {an}");
                }
                let mut p = m.clone();
                p.layers[l].bias[i] += h;
                let mut q = m.clone();
                q.layers[l].bias[i] -= h;
                let fd = (objective(&p, &x, &r) - objective(&q, &x, &r)) / (2.0 * h as f64);
                let an = m.layers[l].grad_bias[i] as f64;
                assert!((fd - an).abs() < tol(an), "layer {l} b[{i}]: {fd} vs {an}");
            }
        }
        for i in 0..x.nrows() {
            for j in 0..x.ncols() {
                let mut xp = x.clone();
                xp[[i, j]] += h;
                let mut xm = x.clone();
                xm[[i, j]] -= h;
                let fd = (objective(&m, &xp, &r) - objective(&m, &xm, &r)) / (2.0 * h as f64);
                let an = gx[[i, j]] as f64;
                assert!((fd - an).abs() < tol(an), "x[{i},{j}]: {fd} vs {an}");
            }
        }
    }

    #[test]
    fn gradients_tanh_sigmoid() {
        grad_check(Activation::Tanh, Activation::Sigmoid);
    }

    #[test]
    fn gradients_leaky_identity() {
        grad_check(Activation::LeakyRelu(0.2), Activation::Identity);
    }

    #[test]
    fn gradients_relu_tanh() {
        // ReLU kinks are measure-zero; the random points avoid them.
        grad_check(Activation::Relu, Activation::Tanh);
    }

    #[test]
    fn inference_in_row_blocks_equals_the_training_pass() {
        // 700 rows of a 300-wide hidden layer: blocks of 109 rows, the last one short.
        let mut m =
            Mlp::new(&[5, 300, 40, 3], Activation::Relu, Activation::Sigmoid, &mut rng::derive(2, 0, 0)).unwrap();
        let x = test_matrix(700, 5, 4);
        let inference = m.forward(x.view());
        assert_eq!(&inference, m.forward_train(x.view()));
        assert_eq!(m.forward(x.slice(ndarray::s![690.., ..])), inference.slice(ndarray::s![690.., ..]));
    }

    #[test]
    fn rejects_bad_sizes() {
        let mut r = rng::derive(0, 0, 0);
        let name = |r: Result<Mlp>| r.err().unwrap().config_name().map(str::to_string);
        assert_eq!(name(Mlp::new(&[3], Activation::Relu, Activation::Identity, &mut r)).as_deref(), Some("mlp.sizes"));
        let zero = Mlp::new(&[3, 0, 1], Activation::Relu, Activation::Identity, &mut r);
        assert_eq!(name(zero).as_deref(), Some("mlp.sizes[1]"));
        let slope = Mlp::new(&[3, 2], Activation::LeakyRelu(-1.0), Activation::LeakyRelu(-1.0), &mut r);
        assert_eq!(name(slope).as_deref(), Some("mlp.activations[0]"));
    }

    #[test]
    fn buffers_follow_batch_size() {
        let mut m = Mlp::new(&[2, 3, 1], Activation::Relu, Activation::Identity, &mut rng::derive(0, 0, 0)).unwrap();
        let a = m.forward_train(test_matrix(5, 2, 1).view()).dim();
        let b = m.forward_train(test_matrix(2, 2, 1).view()).dim();
        assert_eq!((a, b), ((5, 1), (2, 1)));
        let g = m.backward(Array2::ones((2, 1)).view(), true, true).unwrap();
        assert_eq!(g.dim(), (2, 2));
    }
}
