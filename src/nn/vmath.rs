//! Branch-free `f32` exp, ln and sin/cos (Cephes' polynomials, within a few ulp) that the
//! compiler vectorises when applied over slices, unlike the scalar libm calls they replace
//! in the hot element-wise passes (sigmoid, BCE, the reparameterisation, Gaussian noise).
//!
//! Every function is plain arithmetic and bit manipulation with no data-dependent branch,
//! and never calls into libm, so a loop over a slice compiles to SIMD code. Results are the
//! same on every x86-64 (no fused multiply-add is introduced).

/// `1.5·2²³`: adding it rounds an `f32` of magnitude < 2²² to the nearest integer, which
/// then sits in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Round to the nearest integer (ties to even) for `|x| < 2²²`, as `(float, int)`.
#[inline(always)]
fn round_i(x: f32) -> (f32, i32) {
    let t = x + ROUND_MAGIC;
    (t - ROUND_MAGIC, (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32))
}

/// `eˣ`, relative error below 2·10⁻⁷ on `[-87, 88]`; inputs outside are clamped to it
/// (so the result is never 0 or ∞: at most `e⁸⁸ ≈ 1.65·10³⁸`, at least `e⁻⁸⁷ ≈ 1.6·10⁻³⁸`).
/// NaN propagates as NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let (n, ni) = round_i(x * std::f32::consts::LOG2_E);
    // ln 2 split in two so that n·C1 is exact.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((ni + 127) as u32) << 23)
}

/// `ln x` for positive normal `x` (the only inputs used here: clamped probabilities and
/// uniforms in `[2⁻²⁴, 1]`), absolute error below 10⁻⁷ near 1, relative below 2·10⁻⁷
/// elsewhere.
#[inline(always)]
pub(crate) fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    // Mantissa in [0.5, 1).
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    e -= small as i32;
    let m = if small { m + m - 1.0 } else { m - 1.0 };
    let ef = e as f32;
    let z = m * m;
    let mut y = 7.037_683_6e-2;
    y = y * m - 1.151_461e-1;
    y = y * m + 1.167_699_9e-1;
    y = y * m - 1.242_014_1e-1;
    y = y * m + 1.424_932_3e-1;
    y = y * m - 1.666_805_8e-1;
    y = y * m + 2.000_071_4e-1;
    y = y * m - 2.499_999_4e-1;
    y = y * m + 3.333_333e-1;
    let mut y = y * m * z;
    y += ef * -2.121_944_4e-4;
    y -= 0.5 * z;
    m + y + ef * 0.693_359_4
}

/// `(sin 2πu, cos 2πu)` for `u` in `[0, 1)` (a uniform draw), absolute error below 3·10⁻⁷.
#[inline(always)]
pub(crate) fn sincos_turns(u: f32) -> (f32, f32) {
    // Exact reductions: v = u − round(u) ∈ [−½, ½], then quarter turns q, w ∈ [−⅛, ⅛].
    let (r, _) = round_i(u);
    let v = u - r;
    let (qf, q) = round_i(4.0 * v);
    let w = v - 0.25 * qf;
    let a = w * std::f32::consts::TAU;
    let z = a * a;
    let mut s = -1.951_529_6e-4;
    s = s * z + 8.332_161e-3;
    s = s * z - 1.666_665_5e-1;
    let s = a + a * z * s;
    let mut c = 2.443_315_7e-5;
    c = c * z - 1.388_731_6e-3;
    c = c * z + 4.166_664_6e-2;
    let c = 1.0 - 0.5 * z + z * z * c;
    // Rotate by q quarter turns: q odd swaps sine and cosine.
    let odd = q & 1 != 0;
    let (sn, cs) = if odd { (c, s) } else { (s, c) };
    // sin is negated for q ≡ 2, 3 (mod 4); cos for q ≡ 1, 2.
    let neg_s = q & 2 != 0;
    let neg_c = (q + 1) & 2 != 0;
    (if neg_s { -sn } else { sn }, if neg_c { -cs } else { cs })
}

/// The logistic function `1 / (1 + e⁻ᶻ)` with [`exp`]: in `(0, 1]`, about 1 ulp from the
/// exact value except below `≈ 6·10⁻³⁹` (where it stays at that floor rather than 0).
#[inline(always)]
pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

/// Define a slice function twice: for the baseline x86-64 (SSE2) and, chosen at run time
/// when the CPU has it, AVX2 (twice the vector width). Each element is computed by the same
/// operations in either version (no fused multiply-add is enabled), so results do not depend
/// on the CPU.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    generic($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}

/// An element-wise function for [`bias_act`] (the [`Activation`](super::Activation)s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Act {
    Identity,
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
}

multiversion! {
    /// `x ← act(x + bias)` for a row-major matrix `x` whose rows have `bias.len()` columns.
    pub(crate) fn bias_act(x: &mut [f32], bias: &[f32], act: Act) {
        macro_rules! each {
            (|$v:ident| $e:expr) => {
                for row in x.chunks_exact_mut(bias.len().max(1)) {
                    for (v, &b) in row.iter_mut().zip(bias) {
                        let $v = *v + b;
                        *v = $e;
                    }
                }
            };
        }
        match act {
            Act::Identity => each!(|z| z),
            Act::Relu => each!(|z| if z > 0.0 { z } else { 0.0 }),
            Act::LeakyRelu(s) => each!(|z| if z > 0.0 { z } else { s * z }),
            Act::Sigmoid => each!(|z| sigmoid(z)),
            Act::Tanh => each!(|z| z.tanh()),
        }
    }
}

multiversion! {
    /// `x ← σ(x)` over a slice.
    pub(crate) fn sigmoid_inplace(x: &mut [f32]) {
        for v in x {
            *v = sigmoid(*v);
        }
    }
}

multiversion! {
    /// Box–Muller on 24-bit uniforms: `(zc, zs)[k] = √(−2 ln u1[k])·(cos, sin)(2π·u2[k])`.
    pub(crate) fn box_muller(u1: &[f32], u2: &[f32], zc: &mut [f32], zs: &mut [f32]) {
        for (((c, s), &a), &b) in zc.iter_mut().zip(zs.iter_mut()).zip(u1).zip(u2) {
            let r = (-2.0 * ln(a)).sqrt();
            let (sin, cos) = sincos_turns(b);
            *c = r * cos;
            *s = r * sin;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f32, b: f64) -> f64 {
        (a as f64 - b).abs() / b.abs().max(1e-30)
    }

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f32 / 200_000.0;
            worst = worst.max(rel(exp(x), (x as f64).exp()));
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(1000.0).is_finite() && exp(-1000.0) > 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn ln_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = 1e-30f32;
        while x < 1e30 {
            let exact = (x as f64).ln();
            let err = (ln(x) as f64 - exact).abs() / exact.abs().max(1.0);
            worst = worst.max(err);
            x *= 1.000_37;
        }
        for i in 1..=100_000 {
            let x = i as f32 / 100_000.0;
            let exact = (x as f64).ln();
            worst = worst.max((ln(x) as f64 - exact).abs() / exact.abs().max(1.0));
        }
        assert!(worst < 2.5e-7, "worst error {worst}");
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn sincos_is_accurate_in_every_quadrant() {
        let mut worst = 0.0f64;
        for i in 0..(1 << 20) {
            let u = i as f32 / (1 << 20) as f32;
            let (s, c) = sincos_turns(u);
            let t = std::f64::consts::TAU * u as f64;
            worst = worst.max((s as f64 - t.sin()).abs()).max((c as f64 - t.cos()).abs());
        }
        assert!(worst < 3e-7, "worst absolute error {worst}");
        assert_eq!(sincos_turns(0.0), (0.0, 1.0));
        let (s, c) = sincos_turns(0.25);
        assert!((s - 1.0).abs() < 1e-7 && c.abs() < 1e-7);
    }

    #[test]
    fn bias_act_adds_the_bias_row_by_row() {
        let mut x = vec![-1.0f32, 0.5, 2.0, -3.0, 0.0, 1.0];
        bias_act(&mut x, &[1.0, -1.0, 0.0], Act::Relu);
        assert_eq!(x, vec![0.0, 0.0, 2.0, 0.0, 0.0, 1.0]);
        let mut y = vec![0.0f32; 6];
        bias_act(&mut y, &[1.0, -1.0, 0.0], Act::Sigmoid);
        assert_eq!(y[1], sigmoid(-1.0));
        assert_eq!(y[3], sigmoid(1.0));
    }

    #[test]
    fn sigmoid_saturates_without_nan() {
        assert_eq!(sigmoid(100.0), 1.0);
        assert!(sigmoid(-1000.0) >= 0.0 && sigmoid(-1000.0) < 1e-38);
        assert_eq!(sigmoid(0.0), 0.5);
        let mut worst = 0.0f64;
        for i in 0..=100_000 {
            let z = -30.0 + 60.0 * i as f32 / 100_000.0;
            let exact = 1.0 / (1.0 + (-(z as f64)).exp());
            worst = worst.max(rel(sigmoid(z), exact));
        }
        assert!(worst < 5e-7, "{worst}");
    }
}
