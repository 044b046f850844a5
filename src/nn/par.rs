//! Data parallelism inside one training step or one generation call, on rayon's pool.
//!
//! A matrix product `C = α·A·B + β·C` is split by rows of `C` (rows of `A`) into halves run
//! with [`rayon::join`] while each half is still large; an inference forward pass is split by
//! rows the same way. Every element of `C` is still one dot product summed in the same order
//! by the same kernel, so the results are bit-identical for any thread count (tested below).
//! With one thread in the pool (`RAYON_NUM_THREADS=1`, or a one-thread pool installed) nothing
//! is split and no rayon call is made.

use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};

/// Each half of a split gets at least this many multiply-adds (≈ 50 µs of work here). Below,
/// a second thread did not pay on the 2-core machine we measure on: a `join` that wakes a
/// sleeping thread, or one whose thread the OS has given to another process, costs more
/// than it saves. So batches of 128–256 rows of the default models are not split; generating
/// thousands of rows, or training on large batches, is.
const MIN_MACS: usize = 1 << 20;
/// Halves are cut at a multiple of the matrix kernel's row block.
const ROW_BLOCK: usize = 8;

/// Whether work of `rows × macs_per_row` multiply-adds is worth splitting in two.
#[inline]
pub(crate) fn split_rows(rows: usize, macs_per_row: usize) -> Option<usize> {
    if rows < 2 * ROW_BLOCK || rows.saturating_mul(macs_per_row) < 2 * MIN_MACS || rayon::current_num_threads() < 2 {
        return None;
    }
    Some((rows / 2).div_ceil(ROW_BLOCK) * ROW_BLOCK)
}

/// `c ← α·a·b + β·c`, split by rows of `c` across rayon's threads when large enough.
///
/// # Panics
/// When the shapes do not chain (a bug in the caller).
pub(crate) fn gemm(alpha: f32, a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, c: ArrayViewMut2<f32>) {
    match split_rows(a.nrows(), a.ncols() * b.ncols()) {
        Some(mid) => {
            let (a0, a1) = a.split_at(Axis(0), mid);
            let (c0, c1) = c.split_at(Axis(0), mid);
            rayon::join(|| gemm(alpha, a0, b, beta, c0), || gemm(alpha, a1, b, beta, c1));
        }
        None => product(alpha, a, b, beta, c),
    }
}

/// One thread's `c ← α·a·b + β·c`. Products with a dimension of 1 (a discriminator's logit
/// layer: matrix–vector, vector–matrix and outer products) are plain vectorised loops; the
/// general kernel would pad them to 8×8 tiles and pack both operands.
fn product(alpha: f32, a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, mut c: ArrayViewMut2<f32>) {
    let scale = |mut v: ArrayViewMut1<f32>| {
        if beta == 0.0 {
            v.fill(0.0);
        } else if beta != 1.0 {
            v *= beta;
        }
    };
    if b.ncols() == 1 {
        general_mat_vec_mul(alpha, &a, &b.column(0), beta, &mut c.column_mut(0));
    } else if a.nrows() == 1 {
        let mut row = c.row_mut(0);
        scale(row.view_mut());
        for (&ak, bk) in a.row(0).iter().zip(b.rows()) {
            row.scaled_add(alpha * ak, &bk);
        }
    } else if a.ncols() == 1 {
        for (&ai, mut row) in a.column(0).iter().zip(c.rows_mut()) {
            scale(row.view_mut());
            row.scaled_add(alpha * ai, &b.row(0));
        }
    } else {
        general_mat_mul(alpha, &a, &b, beta, &mut c);
    }
}

/// Run `f` — whose largest split candidate is `rows × macs_per_row` — on a thread of rayon's
/// pool when that work will be split and the caller is not a pool thread, so that the splits
/// inside `f` are cheap `join`s rather than one hand-over to the pool each; otherwise (no
/// split, one thread, or already in the pool) run it here, at no cost.
pub(crate) fn in_pool<R: Send>(rows: usize, macs_per_row: usize, f: impl FnOnce() -> R + Send) -> R {
    if split_rows(rows, macs_per_row).is_some() && rayon::current_thread_index().is_none() {
        rayon::scope(|_| f())
    } else {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::init::test_matrix;

    #[test]
    fn split_products_are_bit_identical() {
        // x·Wᵀ, gᵀ·x and g·W shapes of a 128-row batch, with β = 0 and β = 1.
        let x = test_matrix(611, 64, 1);
        let w = test_matrix(128, 64, 2);
        let g = test_matrix(611, 128, 3);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for (a, b) in [(x.view(), w.t()), (g.t(), x.view()), (g.view(), w.view())] {
            for beta in [0.0, 1.0] {
                let start = test_matrix(a.nrows(), b.ncols(), 9);
                let mut one = start.clone();
                general_mat_mul(0.5, &a, &b, beta, &mut one);
                let mut many = start.clone();
                pool.install(|| gemm(0.5, a, b, beta, many.view_mut()));
                assert_eq!(
                    one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    many.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
        }
        assert!(pool.install(|| split_rows(611, 64 * 128)).is_some(), "the test must exercise a split");
    }

    #[test]
    fn products_with_a_unit_dimension_match_the_general_kernel() {
        let h = test_matrix(37, 20, 5);
        let w = test_matrix(1, 20, 6);
        let g = test_matrix(37, 1, 7);
        for (a, b) in [(h.view(), w.t()), (g.t(), h.view()), (g.view(), w.view())] {
            for beta in [0.0, 1.0, 0.5] {
                let start = test_matrix(a.nrows(), b.ncols(), 8);
                let mut expected = start.clone();
                general_mat_mul(1.5, &a, &b, beta, &mut expected);
                let mut got = start.clone();
                gemm(1.5, a, b, beta, got.view_mut());
                let err = (&got - &expected).iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert!(err < 1e-4, "{:?}·{:?} β {beta}: {err}", a.dim(), b.dim());
            }
        }
    }

    #[test]
    fn small_or_single_threaded_work_is_not_split() {
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(one.install(|| split_rows(4096, 4096)), None);
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        assert_eq!(two.install(|| split_rows(8, 1 << 20)), None);
        assert_eq!(two.install(|| split_rows(128, 16)), None);
        assert_eq!(two.install(|| split_rows(100, MIN_MACS / 40)), Some(56));
        assert_eq!(two.install(|| split_rows(100, MIN_MACS / 60)), None);
        // Work that will be split runs on a pool thread; other work stays on the caller's.
        // From outside the pool (the global one here), work that will be split runs on a pool
        // thread; other work stays on the caller's.
        let global = rayon::current_num_threads() > 1;
        assert_eq!(in_pool(64, MIN_MACS, || rayon::current_thread_index().is_some()), global);
        assert_eq!(in_pool(4, MIN_MACS, rayon::current_thread_index), None);
    }
}
