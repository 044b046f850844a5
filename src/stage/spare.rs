//! Output buffers for the stages that write a batch's rows anew (Mixup, CutMix): each thread
//! keeps the buffer its last such batch was written over, and writes the next one into it.
//!
//! A fresh buffer per batch costs more than the mixing: glibc gives the top of a heap back to
//! the kernel once 128 KiB of it is free, and serves buffers from 128 KiB on with their own
//! `mmap`, so each batch's output was zeroed by page faults as it was written (half of the page
//! faults of a 1-worker Mixup pipeline on pyarrow's default file). With one spare per worker
//! thread, the rows of step `s` are written into the input buffer of step `s - 1`.

use std::cell::RefCell;

use ndarray::Array2;

use crate::error::{Error, Result};

/// The largest buffer a thread keeps, so that a thread that once mixed a big batch (256 rows of
/// 224 × 224 × 3 `f32` pixels are 147 MiB) does not hold it for good; such buffers are served
/// by their own `mmap` anyway. A batch of 4,096 rows × 1,024 features (16 MiB) is kept.
const MAX_SPARE_BYTES: usize = 64 << 20;

/// Which of a thread's spares: features and targets differ in size, each keeps its own.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Spare {
    Features = 0,
    Targets = 1,
}

thread_local! {
    static SPARES: RefCell<[Vec<f32>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
}

/// Replace `a` (rows × `cols`, any layout) with what `fill` writes from its values in
/// row-major order, into this thread's `spare`: `fill(src, out)` must write every value of
/// `out` (its contents on entry are unspecified). `a`'s buffer is this thread's `spare` then.
/// `what` names the array in a shape error.
///
/// # Errors
/// [`ErrorKind::Shape`](crate::ErrorKind::Shape) when `out` cannot be shaped rows × `cols`
/// (never for an `a` of that shape).
pub(crate) fn rewrite_rows(
    a: &mut Array2<f32>,
    spare: Spare,
    what: &str,
    fill: impl FnOnce(&[f32], &mut [f32]),
) -> Result<()> {
    let (rows, cols) = a.dim();
    let len = rows * cols;
    let slot = spare as usize;
    let mut out = SPARES.with(|s| s.try_borrow_mut().map(|mut s| std::mem::take(&mut s[slot])).unwrap_or_default());
    // Only a buffer grown beyond its old length is zeroed (once): `fill` writes every value.
    out.resize(len, 0.0);
    match a.as_slice() {
        Some(src) => fill(src, &mut out),
        None => fill(&a.iter().copied().collect::<Vec<_>>(), &mut out),
    }
    let written = Array2::from_shape_vec((rows, cols), out)
        .map_err(|e| Error::shape(what.to_string(), format!("{rows} × {cols}"), e))?;
    let old = std::mem::replace(a, written);
    let (old, offset) = old.into_raw_vec_and_offset();
    if offset.unwrap_or(0) == 0 && old.capacity() * std::mem::size_of::<f32>() <= MAX_SPARE_BYTES {
        SPARES.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s[slot] = old;
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, s};

    #[test]
    fn rows_are_rewritten_in_row_major_order_whatever_the_layout() {
        let mut a = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        rewrite_rows(&mut a, Spare::Features, "x", |src, out| {
            for (o, v) in out.iter_mut().zip(src) {
                *o = v * 10.0;
            }
        })
        .unwrap();
        assert_eq!(a, array![[10.0f32, 20.0], [30.0, 40.0], [50.0, 60.0]]);
        // Column-major and sliced inputs are read in row-major order too.
        let mut t = array![[1.0f32, 3.0, 5.0], [2.0, 4.0, 6.0]].reversed_axes();
        rewrite_rows(&mut t, Spare::Features, "x", |src, out| out.copy_from_slice(src)).unwrap();
        assert_eq!(t, array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]);
        let big = array![[0.0f32, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]];
        let mut sliced = big.slice(s![1.., ..2]).to_owned();
        rewrite_rows(&mut sliced, Spare::Features, "x", |src, out| out.copy_from_slice(src)).unwrap();
        assert_eq!(sliced, array![[3.0f32, 4.0], [6.0, 7.0]]);
    }

    #[test]
    fn the_next_batch_is_written_into_the_buffer_of_the_one_before() {
        let mut first = Array2::<f32>::zeros((4, 8));
        let first_buffer = first.as_ptr();
        rewrite_rows(&mut first, Spare::Features, "x", |_, out| out.fill(1.0)).unwrap();
        let mut second = Array2::<f32>::zeros((4, 8));
        rewrite_rows(&mut second, Spare::Features, "x", |_, out| out.fill(2.0)).unwrap();
        assert_eq!(second.as_ptr(), first_buffer, "written over the first batch's input");
        assert!(second.iter().all(|&v| v == 2.0) && first.iter().all(|&v| v == 1.0));
        // A smaller batch after a larger one, and an empty one.
        let mut small = Array2::<f32>::zeros((1, 3));
        rewrite_rows(&mut small, Spare::Targets, "x", |src, out| out.copy_from_slice(src)).unwrap();
        assert_eq!(small, Array2::<f32>::zeros((1, 3)));
        let mut empty = Array2::<f32>::zeros((0, 3));
        rewrite_rows(&mut empty, Spare::Targets, "x", |_, out| assert!(out.is_empty())).unwrap();
        assert_eq!(empty.dim(), (0, 3));
    }
}
