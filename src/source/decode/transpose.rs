//! The column-major → row-major kernels shared by both decode paths: typed column slices
//! ([`Values`]) written into one column of a row-major `f32` tile, eight float32 columns at a
//! time where it can, with the NaN/Inf check fused into the same pass.

use std::ops::Range;

use arrow_array::types::Float16Type;

pub(crate) type HalfF16 = <Float16Type as arrow_array::ArrowPrimitiveType>::Native;

/// A numeric column's values, typed once per record batch or page run so that the
/// transpose's inner loops are plain conversions. The `Le` variants are Parquet page bytes
/// (little-endian, any alignment).
pub(crate) enum Values<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
    F16(&'a [HalfF16]),
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    /// Decimals: the unscaled integers and the factor `10^-scale`.
    D32(&'a [i32], f64),
    D64(&'a [i64], f64),
    D128(&'a [i128], f64),
    F32Le(&'a [[u8; 4]]),
    F64Le(&'a [[u8; 8]]),
    I32Le(&'a [[u8; 4]]),
    I64Le(&'a [[u8; 8]]),
}

impl Values<'_> {
    /// Write `self[rows]` into column `col` of the row-major `out` (`rows.len()` rows of
    /// `stride`); false when a written value is NaN or infinite.
    pub fn put(&self, rows: Range<usize>, out: &mut [f32], stride: usize, col: usize) -> bool {
        match *self {
            Values::F32(v) => scatter::<_, true>(&v[rows], out, stride, col, |x| x),
            Values::F64(v) => scatter::<_, true>(&v[rows], out, stride, col, |x| x as f32),
            Values::F16(v) => scatter::<_, true>(&v[rows], out, stride, col, |x| x.to_f32()),
            Values::I8(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| x as f32),
            Values::I16(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| x as f32),
            Values::I32(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| x as f32),
            Values::I64(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| x as f32),
            Values::U8(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| x as f32),
            Values::U16(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| x as f32),
            Values::U32(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| x as f32),
            Values::U64(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| x as f32),
            // A scaled decimal can overflow f32.
            Values::D32(v, k) => scatter::<_, true>(&v[rows], out, stride, col, |x| (x as f64 * k) as f32),
            Values::D64(v, k) => scatter::<_, true>(&v[rows], out, stride, col, |x| (x as f64 * k) as f32),
            Values::D128(v, k) => scatter::<_, true>(&v[rows], out, stride, col, |x| (x as f64 * k) as f32),
            Values::F32Le(v) => scatter::<_, true>(&v[rows], out, stride, col, f32::from_le_bytes),
            Values::F64Le(v) => scatter::<_, true>(&v[rows], out, stride, col, |x| f64::from_le_bytes(x) as f32),
            Values::I32Le(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| i32::from_le_bytes(x) as f32),
            Values::I64Le(v) => scatter::<_, false>(&v[rows], out, stride, col, |x| i64::from_le_bytes(x) as f32),
        }
    }
}

/// Write `K` float32 columns at once (one `K`-float store per row): `Some(finite)` when all
/// `K` are float32 slices of the same kind, `None` otherwise (write them one by one).
pub(crate) fn put_f32_columns<const K: usize>(
    values: &[Values],
    rows: Range<usize>,
    out: &mut [f32],
    stride: usize,
    col: usize,
) -> Option<bool> {
    if values.len() != K {
        return None;
    }
    if let Some(cols) = same::<_, K>(values, |v| if let Values::F32(s) = v { Some(*s) } else { None }) {
        return Some(put_columns(cols, rows, out, stride, col, |x| x));
    }
    if let Some(cols) = same::<_, K>(values, |v| if let Values::F32Le(s) = v { Some(*s) } else { None }) {
        return Some(put_columns(cols, rows, out, stride, col, f32::from_le_bytes));
    }
    None
}

/// The `K` slices `pick` finds, or `None` when it finds none in one of them.
fn same<'a, T, const K: usize>(
    values: &[Values<'a>],
    pick: impl Fn(&Values<'a>) -> Option<&'a [T]>,
) -> Option<[&'a [T]; K]> {
    let mut out: [&[T]; K] = [&[]; K];
    for (o, v) in out.iter_mut().zip(values) {
        *o = pick(v)?;
    }
    Some(out)
}

/// `out[i * stride + col + k] = conv(cols[k][rows.start + i])` for the `K` columns: the tile's
/// rows each get `K` adjacent values in one store. False when a value is not finite.
#[inline(always)]
fn put_columns<T: Copy + Plain32, const K: usize>(
    cols: [&[T]; K],
    rows: Range<usize>,
    out: &mut [f32],
    stride: usize,
    col: usize,
    conv: impl Fn(T) -> f32,
) -> bool {
    let n = rows.len().min(out.len() / stride.max(1));
    let cols = cols.map(|c| &c[rows.start..rows.start + n]);
    let mut finite = true;
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if K == 8 && col + 8 <= stride && std::arch::is_x86_feature_detected!("avx2") {
        let ptrs: [*const f32; 8] = std::array::from_fn(|k| cols[k % K].as_ptr().cast());
        done = n / 8 * 8;
        // SAFETY: AVX2 is present (checked just above); each of the 8 columns holds `n`
        // values of 4 bytes, and `out` holds `n` rows of `stride` floats with `col + 8 <= stride`.
        finite = unsafe { transpose8_avx2(ptrs, done, out.as_mut_ptr(), stride, col) };
    }
    for (i, row) in out.chunks_exact_mut(stride).enumerate().take(n).skip(done) {
        let v: [f32; K] = std::array::from_fn(|k| conv(cols[k][i]));
        row[col..col + K].copy_from_slice(&v);
        finite &= v.iter().fold(true, |ok, x| ok & x.is_finite());
    }
    finite
}

/// Transpose 8 AVX registers of 8 floats: element `c` of input `r` becomes element `r` of
/// output `c`. The one 8 × 8 kernel of the crate, used by the column → row transposes here and
/// by the row → column transpose of the IPC/Parquet output (`sink::schema`).
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn transpose8x8(r: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// Types stored as 4-byte little-endian floats (so their slices can be loaded as `f32`).
trait Plain32 {}
impl Plain32 for f32 {}
impl Plain32 for [u8; 4] {}

/// The 8 × 8 in-register transpose: rows `0..n` (a multiple of 8) of the 8 columns at `cols`
/// go to `out[i * stride + col..][..8]`. False when a value is NaN or infinite.
///
/// # Safety
/// The CPU has AVX2; each `cols[k]` points at `n` floats (any alignment); `out` points at
/// `n` rows of `stride` floats and `col + 8 <= stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose8_avx2(cols: [*const f32; 8], n: usize, out: *mut f32, stride: usize, col: usize) -> bool {
    use std::arch::x86_64::*;
    let zero = _mm256_setzero_ps();
    let mut ok = _mm256_cmp_ps::<_CMP_EQ_OQ>(zero, zero);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY (all loads and stores): rows i..i + 8 are within the n rows (caller).
        let r: [__m256; 8] = std::array::from_fn(|k| unsafe { _mm256_loadu_ps(cols[k].add(i)) });
        for v in r {
            // x − x is 0 for a finite x and NaN for NaN and ±∞.
            ok = _mm256_and_ps(ok, _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_sub_ps(v, v), zero));
        }
        // SAFETY: AVX2 is present (this function's own requirement).
        let rows = unsafe { transpose8x8(r) };
        for (k, row) in rows.into_iter().enumerate() {
            unsafe { _mm256_storeu_ps(out.add((i + k) * stride + col), row) };
        }
        i += 8;
    }
    _mm256_movemask_ps(ok) == 0xff
}

/// `out[i * stride + col] = conv(src[i])`; with `CHECK`, false when a result is not finite.
#[inline(always)]
fn scatter<T: Copy, const CHECK: bool>(
    src: &[T],
    out: &mut [f32],
    stride: usize,
    col: usize,
    conv: impl Fn(T) -> f32,
) -> bool {
    let mut finite = true;
    if stride == 1 {
        for (o, &v) in out.iter_mut().zip(src) {
            let x = conv(v);
            *o = x;
            if CHECK {
                finite &= x.is_finite();
            }
        }
    } else {
        for (row, &v) in out.chunks_exact_mut(stride).zip(src) {
            let x = conv(v);
            row[col] = x;
            if CHECK {
                finite &= x.is_finite();
            }
        }
    }
    finite
}

/// Append `src` to `out` with non-temporal stores where the CPU has them: a decoded block is
/// larger than the caches and is read next by another stage, so writing it around the cache
/// saves reading every destination line first (about a third of the cost of the copy).
pub(crate) fn extend_streaming(out: &mut Vec<f32>, src: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        out.reserve(src.len());
        let spare = out.spare_capacity_mut();
        // The first few floats, up to a 16-byte boundary, are stored normally.
        let head = spare.as_ptr().align_offset(16).min(src.len());
        for (d, &s) in spare.iter_mut().zip(&src[..head]) {
            d.write(s);
        }
        let body = (src.len() - head) / 4 * 4;
        // SAFETY: `spare` has room for `src.len()` floats (reserved above) and is 16-byte
        // aligned from `head` on; SSE is part of x86-64.
        unsafe {
            use std::arch::x86_64::{_mm_loadu_ps, _mm_sfence, _mm_stream_ps};
            let dst = spare.as_mut_ptr().add(head).cast::<f32>();
            let from = src.as_ptr().add(head);
            for i in (0..body).step_by(4) {
                _mm_stream_ps(dst.add(i), _mm_loadu_ps(from.add(i)));
            }
            _mm_sfence();
        }
        for (d, &s) in spare[head + body..].iter_mut().zip(&src[head + body..]) {
            d.write(s);
        }
        // SAFETY: all `src.len()` floats after the old length were written just above.
        unsafe { out.set_len(out.len() + src.len()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    out.extend_from_slice(src);
}

/// True when no value is NaN or infinite. Branch-free within chunks so that it vectorises
/// (a short-circuiting `all` does not).
pub(crate) fn all_finite(values: &[f32]) -> bool {
    values.chunks(4096).all(|chunk| chunk.iter().fold(true, |ok, v| ok & v.is_finite()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bytes_and_arrow_slices_transpose_alike() {
        let cols: Vec<Vec<f32>> = (0..8).map(|j| (0..5).map(|i| (i * 10 + j) as f32 * 0.5).collect()).collect();
        let bytes: Vec<Vec<[u8; 4]>> = cols.iter().map(|c| c.iter().map(|v| v.to_le_bytes()).collect()).collect();
        let arrow: Vec<Values> = cols.iter().map(|c| Values::F32(c)).collect();
        let le: Vec<Values> = bytes.iter().map(|c| Values::F32Le(c)).collect();
        let (mut a, mut b, mut c) = (vec![0f32; 5 * 9], vec![0f32; 5 * 9], vec![0f32; 5 * 9]);
        assert_eq!(put_f32_columns::<8>(&arrow, 0..5, &mut a, 9, 1), Some(true));
        assert_eq!(put_f32_columns::<8>(&le, 0..5, &mut b, 9, 1), Some(true));
        for (j, v) in le.iter().enumerate() {
            assert!(v.put(0..5, &mut c, 9, 1 + j));
        }
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a[9 + 1..9 + 9], [5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5]);
        let mixed: Vec<Values> = arrow.into_iter().take(7).chain([Values::I32Le(&[[0; 4]; 5])]).collect();
        assert_eq!(put_f32_columns::<8>(&mixed, 0..5, &mut a, 9, 1), None);
    }

    #[test]
    fn eight_wide_transpose_matches_the_definition_with_a_tail_and_an_offset() {
        // 37 rows: four 8-row blocks through the AVX2 kernel (where present) and a tail of 5.
        let (rows, stride, col) = (37usize, 11usize, 2usize);
        let cols: Vec<Vec<f32>> = (0..8).map(|k| (0..rows + 3).map(|i| (i * 100 + k) as f32 - 0.5).collect()).collect();
        let bytes: Vec<Vec<[u8; 4]>> = cols.iter().map(|c| c.iter().map(|v| v.to_le_bytes()).collect()).collect();
        for values in [
            cols.iter().map(|c| Values::F32(c)).collect::<Vec<_>>(),
            bytes.iter().map(|c| Values::F32Le(c)).collect::<Vec<_>>(),
        ] {
            let mut out = vec![-1f32; rows * stride];
            assert_eq!(put_f32_columns::<8>(&values, 3..3 + rows, &mut out, stride, col), Some(true));
            for i in 0..rows {
                for j in 0..stride {
                    let expected = if (col..col + 8).contains(&j) { cols[j - col][3 + i] } else { -1.0 };
                    assert_eq!(out[i * stride + j], expected, "row {i}, column {j}");
                }
            }
        }
        // A NaN or an infinity inside an 8-row block, and in the tail, is reported.
        for (k, i, bad) in [(6usize, 9usize, f32::NAN), (0, 17, f32::NEG_INFINITY), (3, 35, f32::INFINITY)] {
            let mut cols = cols.clone();
            cols[k][3 + i] = bad;
            let values: Vec<Values> = cols.iter().map(|c| Values::F32(c)).collect();
            let mut out = vec![0f32; rows * stride];
            assert_eq!(put_f32_columns::<8>(&values, 3..3 + rows, &mut out, stride, col), Some(false), "{bad} at {i}");
        }
    }

    #[test]
    fn streaming_extend_appends_exactly() {
        for (start, len) in [(0usize, 0usize), (1, 3), (3, 17), (0, 4096), (5, 1001)] {
            let mut out: Vec<f32> = (0..start).map(|i| i as f32).collect();
            let src: Vec<f32> = (0..len).map(|i| -(i as f32)).collect();
            let mut expected = out.clone();
            expected.extend_from_slice(&src);
            extend_streaming(&mut out, &src);
            assert_eq!(out, expected, "start {start}, len {len}");
        }
    }

    #[test]
    fn non_finite_page_values_are_reported() {
        let v = [1f32.to_le_bytes(), f32::NAN.to_le_bytes()];
        let mut out = [0f32; 2];
        assert!(!Values::F32Le(&v).put(0..2, &mut out, 1, 0));
        let big = [f64::MAX.to_le_bytes()];
        assert!(!Values::F64Le(&big).put(0..1, &mut out, 1, 0), "f64 overflowing f32");
        assert!(Values::I64Le(&[i64::MAX.to_le_bytes()]).put(0..1, &mut out, 1, 0));
    }
}
