//! Named, stable randomness.
//!
//! Every random draw in shardmix comes from ChaCha8 (`rand_chacha`), keyed by the pipeline
//! seed and a purpose (a stage index, the shuffle, a model), with the step as ChaCha's
//! 64-bit stream id. A step's draws therefore depend only on `(seed, purpose, step)`, never on
//! which worker ran it. The integer and float primitives below are written out here rather
//! than taken from `rand`'s helpers, whose algorithms may change between versions: a
//! dependency upgrade must not change anyone's augmented dataset.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator a stage gets for one step.
pub type StepRng = ChaCha8Rng;

/// Purpose ids that keep independent consumers of one seed apart.
pub mod purpose {
    /// The `Shuffled` order's permutations.
    pub const SHUFFLE: u64 = 0x5348_5546; // "SHUF"
    /// Model initialisation and training.
    pub const MODEL: u64 = 0x4d4f_4445; // "MODE"
    /// Stage `i` uses `STAGE_BASE + i`.
    pub const STAGE_BASE: u64 = 0x5354_0000;
    /// Per-row generators of a stage, keyed by a word drawn from the stage's step generator
    /// (the image stages: one stream per row of the batch).
    pub const ROW: u64 = 0x524f_5753; // "ROWS"
}

/// SplitMix64 finaliser: a bijective 64-bit mix.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator for `(seed, purpose, stream)`: ChaCha8 keyed by `(seed, purpose)`, on
/// stream `stream` (usually the step).
///
/// # Example
/// ```
/// use rand::Rng;
/// let mut a = shardmix::rng::derive(42, 7, 3);
/// let mut b = shardmix::rng::derive(42, 7, 3);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
pub fn derive(seed: u64, purpose: u64, stream: u64) -> StepRng {
    let mut key = [0u8; 32];
    let words = [mix64(seed), mix64(seed ^ mix64(purpose)), mix64(purpose), mix64(!seed)];
    for (i, w) in words.iter().enumerate() {
        key[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// The generator of stage `index` at `step`.
pub fn for_stage(seed: u64, index: usize, step: u64) -> StepRng {
    derive(seed, purpose::STAGE_BASE + index as u64, step)
}

/// A uniform `f64` in `[0, 1)` with 53 random bits.
#[inline]
pub fn uniform(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `0..n` (Lemire's unbiased multiply-and-reject). `n` must be ≥ 1.
#[inline]
pub fn below(rng: &mut impl Rng, n: u64) -> u64 {
    debug_assert!(n > 0);
    let threshold = n.wrapping_neg() % n;
    loop {
        let x = rng.next_u64();
        let m = (x as u128) * (n as u128);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// Shuffle `items` in place (Fisher–Yates, drawing with [`below`]).
pub fn shuffle<T>(rng: &mut impl Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A uniformly random permutation of `0..n`.
pub fn permutation(rng: &mut impl Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    shuffle(rng, &mut p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_purposes_differ() {
        let a = derive(1, 2, 3).next_u64();
        assert_ne!(a, derive(1, 2, 4).next_u64());
        assert_ne!(a, derive(1, 3, 3).next_u64());
        assert_ne!(a, derive(2, 2, 3).next_u64());
    }

    #[test]
    fn golden_values_are_stable() {
        // Pinned literals: if one changes, every seeded output of shardmix changes (a new
        // rand_chacha, a changed key derivation…), and that needs a deliberate decision.
        let first: Vec<u64> = {
            let mut r = derive(42, 0, 0);
            (0..3).map(|_| r.next_u64()).collect()
        };
        assert_eq!(first, GOLDEN_42_0_0);
        assert_eq!(derive(7, 3, 5).next_u64(), GOLDEN_7_3_5);
        assert_eq!(permutation(&mut derive(42, 1, 0), 8), GOLDEN_PERMUTATION);
    }

    const GOLDEN_42_0_0: [u64; 3] = [10768517117789060960, 10586642435569816842, 17680157429157220231];
    const GOLDEN_7_3_5: u64 = 1126388968611783912;
    const GOLDEN_PERMUTATION: [usize; 8] = [7, 4, 6, 5, 2, 0, 1, 3];

    #[test]
    fn below_is_in_range_and_covers() {
        let mut r = derive(0, 0, 0);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[below(&mut r, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
    }

    #[test]
    fn uniform_in_unit_interval() {
        let mut r = derive(0, 0, 1);
        for _ in 0..1000 {
            let u = uniform(&mut r);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
