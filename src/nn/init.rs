//! Weight initialisation and Gaussian noise, drawn from a seeded [`StepRng`] with the
//! crate's stable primitives ([`rng::uniform`]), so a seed gives the same weights after any
//! dependency upgrade.

use std::f64::consts::PI;

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

/// Fill `out` with independent standard normal draws (Box–Muller on [`rng::uniform`]).
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
    let mut chunks = out.chunks_exact_mut(2);
    for pair in &mut chunks {
        let (a, b) = box_muller(rng);
        pair[0] = a;
        pair[1] = b;
    }
    if let [last] = chunks.into_remainder() {
        *last = box_muller(rng).0;
    }
}

#[inline]
fn box_muller(rng: &mut StepRng) -> (f32, f32) {
    // 1 − U lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng::uniform(rng);
    let u2 = rng::uniform(rng);
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (2.0 * PI * u2).sin_cos();
    ((r * c) as f32, (r * s) as f32)
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
