//! Losses with their gradients: BCE on probabilities, BCE with logits, MSE, the Gaussian
//! KL divergence of a VAE, and softmax cross-entropy on soft labels.
//!
//! Each returns the loss value (accumulated in `f64`) and ∂loss/∂input in one pass.

use ndarray::{Array2, ArrayView2, Zip};

use crate::error::{Error, Result};
use crate::nn::activation::sigmoid;
use crate::nn::vmath;

/// How per-element losses are reduced to one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// The mean over all elements (PyTorch's default `reduction="mean"`).
    Mean,
    /// Summed over the columns (features) of each row, averaged over the rows (the batch):
    /// the seed's VAE convention `mean(sum(loss, axis=1))`.
    RowSum,
}

impl Reduction {
    fn scale(self, rows: usize, cols: usize) -> f64 {
        match self {
            Reduction::Mean => 1.0 / (rows * cols).max(1) as f64,
            Reduction::RowSum => 1.0 / rows.max(1) as f64,
        }
    }
}

/// A loss value and its gradient with respect to the prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct LossGrad {
    /// The reduced loss.
    pub loss: f32,
    /// ∂loss/∂prediction, same shape as the prediction.
    pub grad: Array2<f32>,
}

/// Keras' clamp for BCE on probabilities (`backend.epsilon()`).
pub const BCE_EPS: f32 = 1e-7;

fn same_shape(what: &str, a: ArrayView2<f32>, b: ArrayView2<f32>) -> Result<()> {
    if a.dim() != b.dim() {
        return Err(Error::shape(
            format!("{what}: prediction vs target"),
            format!("{:?}", a.dim()),
            format!("{:?}", b.dim()),
        ));
    }
    Ok(())
}

/// Binary cross-entropy on probabilities `p` against targets `y`:
/// `−(y·ln p̃ + (1−y)·ln(1−p̃))` with `p̃ = clamp(p, eps, 1−eps)`, as Keras'
/// `binary_crossentropy`. The gradient is `(p̃ − y) / (p̃(1 − p̃))` (straight-through at the
/// clamp, so a saturated sigmoid still learns).
///
/// # Errors
/// A shape error when `p` and `y` differ in shape.
///
/// # Example
/// ```
/// use shardmix::nn::{bce, Reduction};
/// let p = ndarray::array![[0.5f32, 0.9]];
/// let y = ndarray::array![[1.0f32, 1.0]];
/// let out = bce(p.view(), y.view(), 1e-7, Reduction::RowSum)?;
/// assert!((out.loss - (2.0f32.ln() - 0.9f32.ln())).abs() < 1e-6);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub fn bce(p: ArrayView2<f32>, y: ArrayView2<f32>, eps: f32, reduction: Reduction) -> Result<LossGrad> {
    same_shape("bce", p, y)?;
    let s = reduction.scale(p.nrows(), p.ncols()) as f32;
    let mut grad = Array2::zeros(p.raw_dim());
    let mut terms = Array2::zeros(p.raw_dim());
    let hi = 1.0 - eps;
    Zip::from(&mut grad).and(&mut terms).and(&p).and(&y).for_each(|g, t, &p, &y| {
        let pc = p.clamp(eps, hi);
        *t = -(y * vmath::ln(pc) + (1.0 - y) * vmath::ln(1.0 - pc));
        *g = (pc - y) / (pc * (1.0 - pc)) * s;
    });
    Ok(LossGrad { loss: (sum(&terms) * s as f64) as f32, grad })
}

/// The sum of `a`'s elements in `f64`, from eight interleaved `f32` partial sums (a
/// vectorised, deterministic order).
pub(crate) fn sum(a: &Array2<f32>) -> f64 {
    let add = |acc: &mut [f32; 8], xs: &[f32]| {
        let mut chunks = xs.chunks_exact(8);
        for c in &mut chunks {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a += x;
            }
        }
        for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
            *a += x;
        }
    };
    let mut acc = [0.0f32; 8];
    match a.as_slice_memory_order() {
        Some(xs) => add(&mut acc, xs),
        None => {
            for row in a.rows() {
                add(&mut acc, &row.to_vec());
            }
        }
    }
    acc.iter().map(|&v| v as f64).sum()
}

/// Binary cross-entropy on logits `z`: `max(z, 0) − z·y + ln(1 + e^{−|z|})`, stable for any
/// `z`; gradient `σ(z) − y`. Targets outside `[0, 1]` (the GAN's noisy labels in `[1, 1.05)`)
/// are used as given.
///
/// # Errors
/// A shape error when `z` and `y` differ in shape.
///
/// # Example
/// ```
/// use shardmix::nn::{bce_with_logits, Reduction};
/// let z = ndarray::array![[0.0f32], [100.0]];
/// let y = ndarray::array![[1.0f32], [1.0]];
/// let out = bce_with_logits(z.view(), y.view(), Reduction::Mean)?;
/// assert!((out.loss - 2.0f32.ln() / 2.0).abs() < 1e-6);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub fn bce_with_logits(z: ArrayView2<f32>, y: ArrayView2<f32>, reduction: Reduction) -> Result<LossGrad> {
    same_shape("bce_with_logits", z, y)?;
    let s = reduction.scale(z.nrows(), z.ncols());
    let mut grad = Array2::zeros(z.raw_dim());
    let mut total = 0.0f64;
    Zip::from(&mut grad).and(&z).and(&y).for_each(|g, &z, &y| {
        let (z64, y64) = (z as f64, y as f64);
        total += z64.max(0.0) - z64 * y64 + (-z64.abs()).exp().ln_1p();
        *g = ((sigmoid(z) - y) as f64 * s) as f32;
    });
    Ok(LossGrad { loss: (total * s) as f32, grad })
}

/// Squared error `(pred − y)²`, reduced; gradient `2·(pred − y)`.
///
/// # Errors
/// A shape error when `pred` and `y` differ in shape.
///
/// # Example
/// ```
/// use shardmix::nn::{mse, Reduction};
/// let out = mse(ndarray::array![[1.0f32, 3.0]].view(), ndarray::array![[0.0f32, 0.0]].view(), Reduction::Mean)?;
/// assert_eq!(out.loss, 5.0);
/// assert_eq!(out.grad, ndarray::array![[1.0f32, 3.0]]);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub fn mse(pred: ArrayView2<f32>, y: ArrayView2<f32>, reduction: Reduction) -> Result<LossGrad> {
    same_shape("mse", pred, y)?;
    let s = reduction.scale(pred.nrows(), pred.ncols());
    let mut grad = Array2::zeros(pred.raw_dim());
    let mut total = 0.0f64;
    Zip::from(&mut grad).and(&pred).and(&y).for_each(|g, &p, &y| {
        let d = (p - y) as f64;
        total += d * d;
        *g = (2.0 * d * s) as f32;
    });
    Ok(LossGrad { loss: (total * s) as f32, grad })
}

/// The KL term of a VAE with a standard normal prior and its gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct KlGrad {
    /// `mean_rows(Σ_latent −0.5·(1 + logσ² − μ² − e^{logσ²}))`.
    pub loss: f32,
    /// ∂loss/∂μ = μ / rows.
    pub grad_mu: Array2<f32>,
    /// ∂loss/∂logσ² = 0.5·(e^{logσ²} − 1) / rows.
    pub grad_logvar: Array2<f32>,
}

/// KL(N(μ, σ²) ‖ N(0, 1)) summed over latent dimensions, averaged over rows (the seed's
/// `mean(sum(-0.5 * (1 + z_log_var - z_mean**2 - exp(z_log_var)), axis=1))`).
///
/// # Errors
/// A shape error when `mu` and `logvar` differ in shape.
///
/// # Example
/// ```
/// use shardmix::nn::gaussian_kl;
/// let zero = ndarray::Array2::<f32>::zeros((4, 3));
/// assert_eq!(gaussian_kl(zero.view(), zero.view())?.loss, 0.0);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub fn gaussian_kl(mu: ArrayView2<f32>, logvar: ArrayView2<f32>) -> Result<KlGrad> {
    same_shape("gaussian_kl", mu, logvar)?;
    let s = 1.0 / mu.nrows().max(1) as f32;
    let mut grad_mu = Array2::zeros(mu.raw_dim());
    let mut grad_logvar = Array2::zeros(mu.raw_dim());
    let mut terms = Array2::zeros(mu.raw_dim());
    Zip::from(&mut grad_mu).and(&mut grad_logvar).and(&mut terms).and(&mu).and(&logvar).for_each(
        |gm, gl, t, &m, &lv| {
            let e = vmath::exp(lv);
            *t = -0.5 * (1.0 + lv - m * m - e);
            *gm = m * s;
            *gl = 0.5 * (e - 1.0) * s;
        },
    );
    Ok(KlGrad { loss: (sum(&terms) * s as f64) as f32, grad_mu, grad_logvar })
}

/// Softmax cross-entropy against soft labels: `mean_rows(−Σ_c y_c·log softmax(z)_c)`;
/// gradient `(softmax(z)·Σ_c y_c − y) / rows` (= `(softmax(z) − y) / rows` for labels that sum to 1).
///
/// # Errors
/// A shape error when `logits` and `targets` differ in shape.
///
/// # Example
/// ```
/// use shardmix::nn::softmax_cross_entropy;
/// let z = ndarray::array![[0.0f32, 0.0]];
/// let y = ndarray::array![[1.0f32, 0.0]];
/// assert!((softmax_cross_entropy(z.view(), y.view())?.loss - 2.0f32.ln()).abs() < 1e-6);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub fn softmax_cross_entropy(logits: ArrayView2<f32>, targets: ArrayView2<f32>) -> Result<LossGrad> {
    same_shape("softmax_cross_entropy", logits, targets)?;
    let s = 1.0 / logits.nrows().max(1) as f64;
    let mut grad = Array2::zeros(logits.raw_dim());
    let mut total = 0.0f64;
    for ((z, y), mut g) in logits.rows().into_iter().zip(targets.rows()).zip(grad.rows_mut()) {
        let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
        let lse = max + z.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        let ysum: f64 = y.iter().map(|&v| v as f64).sum();
        for ((g, &zv), &yv) in g.iter_mut().zip(z.iter()).zip(y.iter()) {
            let logp = zv as f64 - lse;
            total -= yv as f64 * logp;
            *g = ((logp.exp() * ysum - yv as f64) * s) as f32;
        }
    }
    Ok(LossGrad { loss: (total * s) as f32, grad })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::init::test_matrix;

    /// Central differences of `f` at `x` against `grad`.
    fn check(f: impl Fn(&Array2<f32>) -> f32, x: &Array2<f32>, grad: &Array2<f32>, h: f32, tol: f32) {
        for idx in 0..x.len() {
            let (i, j) = (idx / x.ncols(), idx % x.ncols());
            let mut xp = x.clone();
            xp[[i, j]] += h;
            let mut xm = x.clone();
            xm[[i, j]] -= h;
            let fd = (f(&xp) as f64 - f(&xm) as f64) / (2.0 * h as f64);
            let an = grad[[i, j]] as f64;
            assert!(
                (fd - an).abs() <= tol as f64 * (1.0 + an.abs()),
                "[{i},{j}]: finite difference {fd} vs analytic {an}"
            );
        }
    }

    #[test]
    fn bce_gradient() {
        let p = test_matrix(3, 4, 1).mapv(sigmoid);
        let y = test_matrix(3, 4, 2).mapv(|v| sigmoid(2.0 * v));
        for red in [Reduction::Mean, Reduction::RowSum] {
            let out = bce(p.view(), y.view(), BCE_EPS, red).unwrap();
            check(|p| bce(p.view(), y.view(), BCE_EPS, red).unwrap().loss, &p, &out.grad, 1e-3, 1e-2);
        }
    }

    #[test]
    fn bce_clamps_and_stays_finite() {
        let p = ndarray::array![[0.0f32, 1.0]];
        let y = ndarray::array![[1.0f32, 0.0]];
        let out = bce(p.view(), y.view(), BCE_EPS, Reduction::Mean).unwrap();
        // −ln(1e−7) ≈ 16.1 for each element (1 − 1e−7 rounds in f32, so the second is ≈ 15.9).
        assert!(out.loss > 15.5 && out.loss < 16.5, "{}", out.loss);
        assert!(out.grad.iter().all(|g| g.is_finite()));
    }

    #[test]
    fn bce_with_logits_gradient_and_stability() {
        let z = test_matrix(5, 2, 3).mapv(|v| 3.0 * v);
        let y = test_matrix(5, 2, 4).mapv(|v| sigmoid(v) * 1.05);
        let out = bce_with_logits(z.view(), y.view(), Reduction::Mean).unwrap();
        check(|z| bce_with_logits(z.view(), y.view(), Reduction::Mean).unwrap().loss, &z, &out.grad, 1e-2, 1e-2);
        let big = ndarray::array![[1e4f32, -1e4]];
        let t = ndarray::array![[0.0f32, 1.0]];
        let out = bce_with_logits(big.view(), t.view(), Reduction::Mean).unwrap();
        assert!((out.loss - 1e4).abs() < 1.0, "{}", out.loss);
        // Agrees with BCE on probabilities away from the clamp.
        let z = ndarray::array![[0.3f32, -1.2]];
        let y = ndarray::array![[1.0f32, 0.25]];
        let a = bce_with_logits(z.view(), y.view(), Reduction::RowSum).unwrap().loss;
        let b = bce(z.mapv(sigmoid).view(), y.view(), BCE_EPS, Reduction::RowSum).unwrap().loss;
        assert!((a - b).abs() < 1e-5);
    }

    #[test]
    fn mse_gradient() {
        let p = test_matrix(4, 3, 5);
        let y = test_matrix(4, 3, 6);
        for red in [Reduction::Mean, Reduction::RowSum] {
            let out = mse(p.view(), y.view(), red).unwrap();
            check(|p| mse(p.view(), y.view(), red).unwrap().loss, &p, &out.grad, 1e-2, 1e-2);
        }
    }

    #[test]
    fn kl_gradient_and_value() {
        let mu = test_matrix(3, 4, 7);
        let lv = test_matrix(3, 4, 8).mapv(|v| 0.5 * v);
        let out = gaussian_kl(mu.view(), lv.view()).unwrap();
        check(|m| gaussian_kl(m.view(), lv.view()).unwrap().loss, &mu, &out.grad_mu, 1e-2, 1e-2);
        check(|l| gaussian_kl(mu.view(), l.view()).unwrap().loss, &lv, &out.grad_logvar, 1e-2, 1e-2);
        // One row, one dim, μ = 1, logσ² = 0: KL = 0.5.
        let one = gaussian_kl(ndarray::array![[1.0f32]].view(), ndarray::array![[0.0f32]].view()).unwrap();
        assert!((one.loss - 0.5).abs() < 1e-7);
    }

    #[test]
    fn softmax_ce_gradient() {
        let z = test_matrix(4, 5, 9);
        let y = test_matrix(4, 5, 10).mapv(|v| v.abs());
        let y = &y / &y.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1));
        let out = softmax_cross_entropy(z.view(), y.view()).unwrap();
        check(|z| softmax_cross_entropy(z.view(), y.view()).unwrap().loss, &z, &out.grad, 1e-2, 1e-2);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let a = Array2::<f32>::zeros((2, 3));
        let b = Array2::<f32>::zeros((2, 4));
        let context = |e: crate::Error| e.shape_context().map(str::to_string);
        assert!(context(mse(a.view(), b.view(), Reduction::Mean).unwrap_err())
            .is_some_and(|c| c.contains("prediction vs target")));
        assert!(context(gaussian_kl(a.view(), b.view()).unwrap_err()).is_some());
    }
}
