//! The symmetric Beta(α, α) sampler behind Mixup's λ, written out on top of
//! [`crate::rng::uniform`] so that λ streams survive `rand`/`rand_distr` upgrades.
//!
//! * α ≤ 1: Jöhnk's algorithm as numpy implements it (accept `U^(1/α) + V^(1/α) ≤ 1`,
//!   acceptance ≥ 1/2), falling back to log space when both powers underflow (tiny α).
//! * α > 1: the ratio `X / (X + Y)` of two Gamma(α, 1) draws from Marsaglia–Tsang, whose
//!   normal deviates come from Box–Muller.
//!
//! Every draw is in `f64`.

use rand::Rng;

use crate::rng::uniform;

/// The smallest α for which every draw is finite.
///
/// Jöhnk's branch computes `1/α` and, when both powers underflow, `ln(u)/α` for the uniforms
/// `u` ∈ {0} ∪ [2⁻⁵³, 1) of [`crate::rng::uniform`]. `1/α` overflows to ∞ below
/// `1/f64::MAX` ≈ 5.6e-309 — then every draw is `(−∞) − (−∞)` = NaN (α = 1e-310 gave NaN
/// features) — and `ln(2⁻⁵³)/α` ≈ −36.7/α overflows below 36.7/`f64::MAX` ≈ 2.05e-307, where
/// a draw whose two uniforms are both tiny is NaN. 1e-300 keeps a margin of 10⁷ above that;
/// at α = 1e-300 λ is 0 or 1 for all practical purposes (as it already is below ~1e-3).
pub const MIN_ALPHA: f64 = 1e-300;

/// The largest α accepted: above 1 the draw is `X / (X + Y)` with `X`, `Y` ≈ α (Gamma(α, 1)
/// concentrates at α), and `X + Y` overflows to ∞ (λ = 0 instead of ≈ 0.5) for α near
/// `f64::MAX / 2`; 1e300 keeps a margin of 10⁸. Beta(α, α) is already a point mass at ½ for
/// α ≫ 1e6.
pub const MAX_ALPHA: f64 = 1e300;

/// One draw from Beta(α, α). `alpha` must lie in [[`MIN_ALPHA`], [`MAX_ALPHA`]] (the caller
/// validates).
pub(crate) fn beta_symmetric(alpha: f64, rng: &mut impl Rng) -> f64 {
    debug_assert!((MIN_ALPHA..=MAX_ALPHA).contains(&alpha));
    if alpha <= 1.0 {
        johnk(alpha, rng)
    } else {
        let x = gamma_ge1(alpha, rng);
        let y = gamma_ge1(alpha, rng);
        x / (x + y)
    }
}

/// Jöhnk's Beta(a, a) sampler for a ≤ 1.
fn johnk(a: f64, rng: &mut impl Rng) -> f64 {
    let inv = 1.0 / a;
    loop {
        let u = uniform(rng);
        let v = uniform(rng);
        let x = u.powf(inv);
        let y = v.powf(inv);
        let s = x + y;
        if s <= 1.0 && u + v > 0.0 {
            if s > 0.0 {
                return x / s;
            }
            // Both powers underflowed: compare in log space.
            let lx = u.ln() * inv;
            let ly = v.ln() * inv;
            let m = lx.max(ly);
            let (lx, ly) = (lx - m, ly - m);
            return (lx - (lx.exp() + ly.exp()).ln()).exp();
        }
    }
}

/// A standard normal deviate (Box–Muller, one of the pair).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - uniform(rng); // (0, 1]
    let u2 = uniform(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Gamma(a, 1) for a ≥ 1 (Marsaglia & Tsang 2000).
fn gamma_ge1(a: f64, rng: &mut impl Rng) -> f64 {
    let d = a - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = uniform(rng);
        let x2 = x * x;
        if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::derive;

    fn moments(alpha: f64, n: usize) -> (f64, f64) {
        let mut r = derive(7, 1, alpha.to_bits());
        let xs: Vec<f64> = (0..n).map(|_| beta_symmetric(alpha, &mut r)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
        (mean, var)
    }

    #[test]
    fn mean_and_variance_match_both_branches() {
        for alpha in [0.2, 1.0, 3.0] {
            let (mean, var) = moments(alpha, 40_000);
            let want = 1.0 / (4.0 * (2.0 * alpha + 1.0));
            assert!((mean - 0.5).abs() < 0.01, "alpha {alpha}: mean {mean}");
            assert!((var - want).abs() < 0.01 * want.max(0.1), "alpha {alpha}: var {var} vs {want}");
        }
    }

    #[test]
    fn tiny_alpha_stays_finite_and_near_the_ends() {
        let mut r = derive(1, 2, 3);
        for _ in 0..10_000 {
            let l = beta_symmetric(0.005, &mut r);
            assert!(l.is_finite() && (0.0..=1.0).contains(&l), "{l}");
        }
        let (_, var) = moments(0.005, 10_000);
        assert!(var > 0.24, "var {var}");
    }

    #[test]
    fn the_alpha_bounds_keep_every_draw_finite_and_below_them_nan_appears() {
        for alpha in [MIN_ALPHA, 1e-200, 1e-20, MAX_ALPHA, 1e200] {
            let mut r = derive(5, 6, alpha.to_bits());
            for _ in 0..20_000 {
                let l = beta_symmetric(alpha, &mut r);
                assert!(l.is_finite() && (0.0..=1.0).contains(&l), "alpha {alpha}: {l}");
            }
        }
        // Why the lower bound exists: 1/α overflows and every draw is NaN.
        let mut r = derive(5, 6, 7);
        assert!(johnk(1e-310, &mut r).is_nan());
        // And the upper one: X + Y overflows and λ collapses to 0 instead of ≈ ½.
        let mut r = derive(5, 6, 8);
        let l = beta_symmetric_unchecked_large(f64::MAX / 1.5, &mut r);
        assert!(l < 0.25, "{l}");
    }

    fn beta_symmetric_unchecked_large(alpha: f64, rng: &mut impl Rng) -> f64 {
        let x = gamma_ge1(alpha, rng);
        let y = gamma_ge1(alpha, rng);
        x / (x + y)
    }

    #[test]
    fn gamma_mean_is_shape() {
        let mut r = derive(3, 3, 3);
        let n = 40_000;
        let m = (0..n).map(|_| gamma_ge1(2.5, &mut r)).sum::<f64>() / n as f64;
        assert!((m - 2.5).abs() < 0.05, "{m}");
    }
}
