//! Weight initialisation and Gaussian noise, drawn from a seeded [`StepRng`] with the
//! crate's stable primitives ([`rng::uniform`]), so a seed gives the same weights after any
//! dependency upgrade.

use ndarray::Array2;
use rand::Rng;

use crate::nn::vmath;
use crate::rng::{self, StepRng};

/// How a [`Linear`](crate::nn::Linear) layer's weights are drawn (biases start at zero).
///
/// # Example
/// ```
/// use shardmix::nn::Init;
/// let bound = Init::XavierUniform.bound(64, 128);
/// assert!((bound - (6.0f64 / 192.0).sqrt()).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// `U(−a, a)`, `a = √(6 / (fan_in + fan_out))` (Glorot), for sigmoid / tanh / linear outputs.
    XavierUniform,
    /// `U(−a, a)`, `a = √(6 / ((1 + slope²)·fan_in))` (He), for (leaky) ReLU layers.
    KaimingUniform {
        /// The negative slope of the following LeakyReLU (0 for ReLU).
        negative_slope: f32,
    },
}

impl Init {
    /// The half-width of the uniform distribution for a layer `fan_in → fan_out`.
    pub fn bound(self, fan_in: usize, fan_out: usize) -> f64 {
        match self {
            Init::XavierUniform => (6.0 / (fan_in + fan_out) as f64).sqrt(),
            Init::KaimingUniform { negative_slope } => {
                let s = negative_slope as f64;
                (6.0 / ((1.0 + s * s) * fan_in as f64)).sqrt()
            }
        }
    }

    /// Fill `weights` (a `fan_out × fan_in` matrix, row-major) with draws from `rng`.
    pub fn fill(self, weights: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut StepRng) {
        let a = self.bound(fan_in, fan_out);
        for w in weights {
            *w = ((2.0 * rng::uniform(rng) - 1.0) * a) as f32;
        }
    }
}

/// Fill `out` with independent standard normal draws (Box–Muller on 24-bit uniforms).
///
/// Pair `k` of `out` comes from the `k`-th 64-bit word of `rng`: its high 24 bits give
/// `u₁ ∈ (0, 1]`, the next 24 bits `u₂ ∈ [0, 1)`, and `(out[2k], out[2k+1]) =
/// √(−2 ln u₁)·(cos 2πu₂, sin 2πu₂)`; an odd last element takes the cosine. The draws are
/// therefore the same for any split of `out` into even-length pieces, and the magnitude is
/// at most `√(48 ln 2) ≈ 5.77`. The arithmetic (`src/nn/vmath.rs`) is vectorised.
///
/// # Example
/// ```
/// let mut rng = shardmix::rng::derive(1, 2, 3);
/// let mut z = vec![0.0f32; 10_000];
/// shardmix::nn::standard_normal(&mut rng, &mut z);
/// let mean = z.iter().map(|&v| v as f64).sum::<f64>() / z.len() as f64;
/// assert!(mean.abs() < 0.05);
/// ```
pub fn standard_normal(rng: &mut StepRng, out: &mut [f32]) {
    const PAIRS: usize = 64;
    const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
    let mut u1 = [0.0f32; PAIRS];
    let mut u2 = [0.0f32; PAIRS];
    let mut zc = [0.0f32; PAIRS];
    let mut zs = [0.0f32; PAIRS];
    for block in out.chunks_mut(2 * PAIRS) {
        let pairs = block.len().div_ceil(2);
        for (a, b) in u1[..pairs].iter_mut().zip(&mut u2[..pairs]) {
            let w = rng.next_u64();
            *a = 1.0 - ((w >> 40) as i32) as f32 * SCALE;
            *b = (((w >> 16) & 0xff_ffff) as i32) as f32 * SCALE;
        }
        vmath::box_muller(&u1[..pairs], &u2[..pairs], &mut zc[..pairs], &mut zs[..pairs]);
        for (k, pair) in block.chunks_mut(2).enumerate() {
            pair[0] = zc[k];
            if let Some(v) = pair.get_mut(1) {
                *v = zs[k];
            }
        }
    }
}

/// A `rows × cols` array of standard normal draws from `rng` (row-major, as
/// [`standard_normal`] fills a slice).
pub(crate) fn randn(rng: &mut StepRng, rows: usize, cols: usize) -> Array2<f32> {
    let mut z = Array2::zeros((rows, cols));
    fill_normal(rng, &mut z);
    z
}

/// Overwrite `z` (standard layout) with standard normal draws from `rng`.
pub(crate) fn fill_normal(rng: &mut StepRng, z: &mut Array2<f32>) {
    match z.as_slice_mut() {
        Some(s) => standard_normal(rng, s),
        None => {
            let mut v = vec![0.0f32; z.len()];
            standard_normal(rng, &mut v);
            z.iter_mut().zip(v).for_each(|(a, b)| *a = b);
        }
    }
}

/// A `rows × cols` test matrix of standard normals keyed by `seed`.
#[cfg(test)]
pub(crate) fn test_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    randn(&mut rng::derive(seed, 1, 1), rows, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_moments() {
        let mut rng = rng::derive(7, 0, 0);
        let mut z = vec![0.0f32; 100_001];
        standard_normal(&mut rng, &mut z);
        let n = z.len() as f64;
        let mean = z.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = z.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        let tail = z.iter().filter(|v| v.abs() > 1.96).count() as f64 / n;
        assert!((tail - 0.05).abs() < 0.005, "tail {tail}");
    }

    #[test]
    fn normals_do_not_depend_on_how_the_output_is_split() {
        let mut whole = vec![0.0f32; 301];
        standard_normal(&mut rng::derive(3, 0, 0), &mut whole);
        let mut r = rng::derive(3, 0, 0);
        let mut parts = vec![0.0f32; 301];
        let (a, b) = parts.split_at_mut(130);
        standard_normal(&mut r, a);
        standard_normal(&mut r, b);
        assert_eq!(whole, parts);
        // The first pair from the first word, by the documented formula.
        let w = rng::derive(3, 0, 0).next_u64();
        let u1 = 1.0 - (w >> 40) as f64 / (1u64 << 24) as f64;
        let u2 = ((w >> 16) & 0xff_ffff) as f64 / (1u64 << 24) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        assert!((whole[0] as f64 - r * t.cos()).abs() < 1e-5 && (whole[1] as f64 - r * t.sin()).abs() < 1e-5);
        assert!(whole.iter().all(|v| v.is_finite() && v.abs() <= 5.78));
    }

    #[test]
    fn uniform_init_stays_in_bound_and_is_seeded() {
        let mut w = vec![0.0f32; 1000];
        let init = Init::KaimingUniform { negative_slope: 0.0 };
        init.fill(&mut w, 50, 20, &mut rng::derive(1, 1, 1));
        let a = init.bound(50, 20) as f32;
        assert!(w.iter().all(|v| v.abs() <= a));
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.9 * a);
        let mut w2 = vec![0.0f32; 1000];
        init.fill(&mut w2, 50, 20, &mut rng::derive(1, 1, 1));
        assert_eq!(w, w2);
    }
}
