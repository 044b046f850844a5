//! Snappy block decompression (the raw format Parquet pages use, no framing), for the direct
//! decode path. A page of mostly-zero pixels decompresses from millions of short literals and
//! short copies, most of the bytes from copies at offset 1 (runs of zeros): this decodes each
//! with a few 16-byte moves — a copy at an offset under 16 is stored from a 16-byte pattern
//! built once (a byte, or a 2-, 4- or 8-byte value, repeated by a multiplication at offsets 1,
//! 2, 4 and 8), not moved a byte or a doubling step at a time as the `snap` crate does — and
//! reads a tag's fields through a table and one masked load. On the
//! pages of dataset (b8) it decompresses about twice as fast as `snap` (`examples/snappy_pages.rs`).
//!
//! Every length and offset comes from the input and is checked before it is used: a malformed
//! block (a bad length header, a field or literal past the input's end, a literal or copy past
//! the output's end, an offset of 0 or before the output's start, output that does not fill
//! `out` exactly) gives `None`, never a panic or an access out of bounds. It accepts exactly
//! the blocks `snap::raw::Decoder` accepts, with the same bytes (the unit tests and the `snappy`
//! fuzz target check that). The fast paths run only while [`SLACK`] bytes of output are left
//! (and 16 or 64 of input for a literal); the last bytes are decoded by a checked slow path.

use std::ptr;

/// Output room a copy's fast path needs past its start: a copy is at most 64 bytes, written
/// by 16-byte moves that may run up to 15 bytes past it.
const SLACK: usize = 64 + 16;

/// The decompressed length an input claims: its varint header of at most 5 bytes (Snappy's
/// lengths are `u32`), and the header's size; `None` when it is missing, longer or too large.
fn header(input: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0u64;
    for (i, &b) in input.iter().take(5).enumerate() {
        len |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            let len = u32::try_from(len).ok()?;
            return Some((usize::try_from(len).ok()?, i + 1));
        }
    }
    None
}

/// The decompressed length of the Snappy block `input`, as its header claims it (`None` when
/// the header is missing or invalid). [`decompress`] checks that the data fills it.
pub fn len(input: &[u8]) -> Option<usize> {
    header(input).map(|(len, _)| len)
}

/// What a tag byte says, as [`TAGS`] holds it: bits 0–7 the length of a copy or of a literal
/// of up to 60 bytes (0 for a longer literal, whose length follows the tag), bits 8–10 the high
/// bits of a 1-byte-offset copy's offset, bits 11–13 the bytes after the tag that hold the rest
/// of the offset or the literal's length.
const fn tag_entry(tag: u8) -> u16 {
    let high = (tag >> 2) as u16;
    match tag & 3 {
        0 if high < 60 => high + 1,
        0 => (high - 59) << 11,
        1 => ((high & 7) + 4) | ((tag >> 5) as u16) << 8 | 1 << 11,
        2 => (high + 1) | 2 << 11,
        _ => (high + 1) | 4 << 11,
    }
}

/// [`tag_entry`] of every tag byte.
const TAGS: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = tag_entry(i as u8);
        i += 1;
    }
    table
};

/// The low bytes of a `u32` that hold a field of 0–4 bytes.
const FIELD_MASK: [u32; 5] = [0, 0xff, 0xffff, 0xff_ffff, 0xffff_ffff];

/// Decompress the Snappy block `input` into `out`, which must be [`len`] bytes long: `None`
/// (with `out` partly written) when the block is malformed or does not decompress to exactly
/// `out.len()` bytes.
pub fn decompress(input: &[u8], out: &mut [u8]) -> Option<()> {
    let (len, header) = header(input)?;
    if len != out.len() {
        return None;
    }
    let src = input.get(header..)?;
    let (slen, dlen) = (src.len(), out.len());
    let sp = src.as_ptr();
    // Every access to `out` below goes through `dp` (no other reference to it is used
    // meanwhile), each one checked to be within `dlen`.
    let dp = out.as_mut_ptr();
    let (mut s, mut d) = (0usize, 0usize);
    while s < slen {
        // SAFETY: s < slen.
        let tag = unsafe { *sp.add(s) };
        let entry = TAGS[usize::from(tag)];
        let extra = usize::from(entry >> 11);
        // The field after the tag (offset or literal length): read as 4 bytes and masked while
        // 4 are left, else from a copy of what is left.
        let left = slen - s - 1;
        if extra > left {
            return None;
        }
        let field = if left >= 4 {
            // SAFETY: s + 1 + 4 ≤ slen.
            unsafe { u32::from_le_bytes(ptr::read_unaligned(sp.add(s + 1).cast::<[u8; 4]>())) }
        } else {
            let mut b = [0u8; 4];
            b[..left].copy_from_slice(&src[s + 1..]);
            u32::from_le_bytes(b)
        } & FIELD_MASK[extra];
        s += 1 + extra;
        if tag & 3 == 0 {
            let mut n = usize::from(entry & 0xff);
            // (n is 0 for a literal whose length follows the tag.)
            if n.wrapping_sub(1) < 16 && slen - s >= 16 && dlen - d >= 16 {
                // SAFETY: 16 bytes are left in both from s and d; they do not overlap (`src`
                // and `out` are distinct borrows).
                unsafe { ptr::copy_nonoverlapping(sp.add(s), dp.add(d), 16) };
                s += n;
                d += n;
                continue;
            }
            if n == 0 {
                n = usize::try_from(field).ok()?.checked_add(1)?;
            }
            if slen - s < n || dlen - d < n {
                return None;
            }
            if n <= 64 && slen - s >= 64 && dlen - d >= 64 {
                // SAFETY: 64 bytes are left in both from s and d, and n ≤ 64.
                unsafe {
                    let (from, to) = (sp.add(s), dp.add(d));
                    ptr::copy_nonoverlapping(from, to, 16);
                    ptr::copy_nonoverlapping(from.add(16), to.add(16), 16);
                    if n > 32 {
                        ptr::copy_nonoverlapping(from.add(32), to.add(32), 16);
                        ptr::copy_nonoverlapping(from.add(48), to.add(48), 16);
                    }
                }
            } else {
                // SAFETY: n bytes are left in both from s and d (checked above).
                unsafe { ptr::copy_nonoverlapping(sp.add(s), dp.add(d), n) };
            }
            s += n;
            d += n;
        } else {
            // A copy of `n` bytes from `offset` bytes back in the output.
            let n = usize::from(entry & 0xff);
            let offset = usize::from(entry & 0x700) + usize::try_from(field).ok()?;
            // (offset - 1 wraps for 0.)
            if offset.wrapping_sub(1) >= d || n > dlen - d {
                return None;
            }
            if dlen - d >= SLACK {
                // SAFETY: 0 < offset ≤ d, so the source d - offset.. starts in `out`; n ≤ 64,
                // and every read and write of copy_fast ends by d + SLACK ≤ dlen.
                unsafe { copy_fast(dp.add(d), offset, n) };
            } else {
                for i in d..d + n {
                    // SAFETY: i - offset < i < d + n ≤ dlen (checked above).
                    unsafe { *dp.add(i) = *dp.add(i - offset) };
                }
            }
            d += n;
        }
    }
    (d == dlen).then_some(())
}

/// Copy `n` (≤ 64) bytes to `to` from `offset` bytes before it, bytes written by the copy
/// itself repeating as Snappy means (an offset under `n` repeats the last `offset` bytes).
///
/// Moves and stores are of 16 bytes and may write past `to + n` (up to `to + 64`, or
/// `to + n + 15` for an offset that does not divide 16), bytes that later literals and copies
/// overwrite.
///
/// # Safety
/// `to - offset .. to + SLACK` must lie in one allocation, writable from `to` on, with
/// `0 < offset` and `n ≤ 64`.
#[inline(always)]
unsafe fn copy_fast(to: *mut u8, offset: usize, n: usize) {
    debug_assert!(offset > 0 && n <= 64);
    let from = to.sub(offset);
    if offset >= 16 {
        // 16 bytes at a time: each move reads only bytes written before it (offset ≥ 16).
        ptr::copy_nonoverlapping(from, to, 16);
        if n > 16 {
            ptr::copy_nonoverlapping(from.add(16), to.add(16), 16);
            if n > 32 {
                ptr::copy_nonoverlapping(from.add(32), to.add(32), 16);
                ptr::copy_nonoverlapping(from.add(48), to.add(48), 16);
            }
        }
    } else if offset == 1 {
        // A run of one byte: the byte repeated to 8 by a multiplication.
        let word = u64::from(*from) * 0x0101_0101_0101_0101;
        store_16s(to, ((u128::from(word) << 64) | u128::from(word)).to_le_bytes(), n);
    } else if 8 % offset == 0 {
        // Offsets 2, 4 and 8 (runs of a 2-, 4- or 8-byte value): the value read as it was
        // written, repeated to 8 bytes by a multiplication.
        let word = match offset {
            2 => u64::from(u16::from_le_bytes(ptr::read_unaligned(from.cast::<[u8; 2]>()))) * 0x0001_0001_0001_0001,
            4 => u64::from(u32::from_le_bytes(ptr::read_unaligned(from.cast::<[u8; 4]>()))) * 0x0000_0001_0000_0001,
            _ => u64::from_le_bytes(ptr::read_unaligned(from.cast::<[u8; 8]>())),
        };
        store_16s(to, ((u128::from(word) << 64) | u128::from(word)).to_le_bytes(), n);
    } else {
        // The `offset` bytes repeated to 16 (a whole number of repeats in the first
        // `step`), stored every `step` bytes: the pattern is read once, from bytes written
        // before the copy (the bytes after them that the 16-byte read takes are masked off).
        let v = u128::from_le_bytes(ptr::read_unaligned(from.cast::<[u8; 16]>()));
        let mut pattern = v & ((1u128 << (8 * offset)) - 1);
        let mut have = offset;
        while have < 16 {
            pattern |= pattern << (8 * have);
            have *= 2;
        }
        let bytes = pattern.to_le_bytes();
        let step = 16 - 16 % offset;
        let mut i = 0;
        while i < n {
            ptr::write_unaligned(to.add(i).cast::<[u8; 16]>(), bytes);
            i += step;
        }
    }
}

/// Store the 16 bytes `bytes` at `to`, then at `to + 16`, … to cover `to + n` (`n` ≤ 64):
/// 1, 2 or 4 stores.
///
/// # Safety
/// `to .. to + 64` must be writable.
#[inline(always)]
unsafe fn store_16s(to: *mut u8, bytes: [u8; 16], n: usize) {
    ptr::write_unaligned(to.cast::<[u8; 16]>(), bytes);
    if n > 16 {
        ptr::write_unaligned(to.add(16).cast::<[u8; 16]>(), bytes);
        if n > 32 {
            ptr::write_unaligned(to.add(32).cast::<[u8; 16]>(), bytes);
            ptr::write_unaligned(to.add(48).cast::<[u8; 16]>(), bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn compress(data: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(data).unwrap()
    }

    /// `snap`'s verdict on `block`: its bytes when it decompresses to exactly the length its
    /// header claims.
    fn snap(block: &[u8]) -> Option<Vec<u8>> {
        let len = snap::raw::decompress_len(block).ok().filter(|_| !block.is_empty())?;
        let mut out = vec![0u8; len];
        let n = snap::raw::Decoder::new().decompress(block, &mut out).ok()?;
        (n == len).then_some(out)
    }

    /// Ours, into a buffer of stale bytes (so that a byte left unwritten shows).
    fn ours(block: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0xa5u8; len(block)?];
        decompress(block, &mut out).map(|()| out)
    }

    /// Both agree on `block`: the same length claimed, both refuse it or both give the same bytes.
    fn agree(block: &[u8]) -> Option<Vec<u8>> {
        let theirs = snap::raw::decompress_len(block).ok().filter(|_| !block.is_empty());
        assert_eq!(len(block), theirs, "claimed length of {block:?}");
        if theirs.is_some_and(|n| n > 1 << 22) {
            return None;
        }
        let (a, b) = (snap(block), ours(block));
        assert_eq!(a, b, "snap and ours differ on {block:?}");
        b
    }

    /// Data like a page of mostly-zero `INT32` pixels: runs of zeros between small values.
    fn pixels(rows: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        let mut out = Vec::new();
        for _ in 0..rows * 784 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if x.is_multiple_of(5) { (x >> 32) as i32 & 0xff } else { 0 };
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    #[test]
    fn round_trips_what_snap_compresses() {
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), vec![7], vec![0; 1 << 20], pixels(300, 3), pixels(1, 9)];
        // Every offset 1–16 (a repeated pattern of that many bytes), long and short.
        for period in 1..=20usize {
            let pattern: Vec<u8> = (0..period as u8).map(|i| i.wrapping_mul(37).wrapping_add(1)).collect();
            for total in [period + 3, 70, 1000, 70_000] {
                cases.push(pattern.iter().copied().cycle().take(total).collect());
            }
        }
        // Incompressible: long literals (lengths in 1–4 bytes after the tag).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        cases.push(
            (0..200_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
        for data in cases {
            let block = compress(&data);
            assert_eq!(agree(&block).as_deref(), Some(&data[..]), "{} bytes", data.len());
        }
    }

    #[test]
    fn every_tag_near_both_ends() {
        // Each copy form and length at each distance from the output's end (slow and fast
        // paths), after a literal that gives it something to copy.
        for tag_len in 1..=64usize {
            for offset in [1usize, 2, 3, 4, 7, 8, 15, 16, 17, 40, 100] {
                for tail in [0usize, 1, 15, 16, 63, 64, 79, 80, 81, 200] {
                    let lit = offset.max(1);
                    for form in 0..3 {
                        let mut body = vec![((lit - 1) << 2) as u8];
                        if lit > 60 {
                            body = vec![60 << 2, (lit - 1) as u8];
                        }
                        body.extend((0..lit).map(|i| (i * 7 + 1) as u8));
                        let n = match form {
                            0 if (4..=11).contains(&tag_len) && offset < 2048 => {
                                body.push(1 | ((tag_len - 4) << 2) as u8 | ((offset >> 8) << 5) as u8);
                                body.push(offset as u8);
                                tag_len
                            }
                            0 => continue,
                            1 => {
                                body.push(2 | ((tag_len - 1) << 2) as u8);
                                body.extend((offset as u16).to_le_bytes());
                                tag_len
                            }
                            _ => {
                                body.push(3 | ((tag_len - 1) << 2) as u8);
                                body.extend((offset as u32).to_le_bytes());
                                tag_len
                            }
                        };
                        // Then `tail` literal bytes.
                        let mut rest = tail;
                        while rest > 0 {
                            let k = rest.min(60);
                            body.push(((k - 1) << 2) as u8);
                            body.extend(std::iter::repeat_n(9u8, k));
                            rest -= k;
                        }
                        let total = lit + n + tail;
                        let mut block = Vec::new();
                        let mut v = total;
                        while v >= 0x80 {
                            block.push((v as u8) | 0x80);
                            v >>= 7;
                        }
                        block.push(v as u8);
                        block.extend(&body);
                        let got = agree(&block).expect("a valid block");
                        for i in 0..n {
                            assert_eq!(got[lit + i], got[lit + i - offset]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_malformed_blocks() {
        let bad: &[&[u8]] = &[
            // No header, a header of 6 bytes, one over u32::MAX, one cut short.
            &[],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
            &[0xff, 0xff, 0xff, 0xff, 0x1f],
            &[0x80],
            // A copy before anything was written (offset beyond the output), offset 0.
            &[4, 1, 0],
            &[8, 0, b'a', 1, 0],
            &[8, 0, b'a', 2 | (2 << 2), 0, 0],
            // A copy past the output's end, a literal past it, a literal past the input's end.
            &[3, 0, b'a', 1 | (3 << 2), 1],
            &[1, 4, b'a', b'b'],
            &[5, 8, b'a', b'b'],
            // A long literal whose length bytes are cut, or claim more than there is.
            &[5, 61 << 2],
            &[5, 61 << 2, 4, 1, 2],
            &[5, 63 << 2, 0xff, 0xff, 0xff, 0xff],
            // Copy fields cut short (1, 2 and 4 bytes).
            &[5, 0, b'a', 1],
            &[5, 0, b'a', 2, 1],
            &[5, 0, b'a', 3, 1, 0, 0],
            // Less output than claimed, or more.
            &[5, 0, b'a'],
            &[1, 4, b'a', b'b'],
            &[2, 0, b'a', 0, b'b', 0, b'c'],
        ];
        for block in bad {
            assert_eq!(agree(block), None, "{block:?}");
        }
        // An output of a length other than the claimed one.
        let block = compress(b"hello hello hello");
        assert_eq!(decompress(&block, &mut [0u8; 16]), None);
        assert_eq!(decompress(&block, &mut [0u8; 18]), None);
        assert_eq!(decompress(&block, &mut [0u8; 17]), Some(()));
        // A non-canonical header is a header.
        assert_eq!(agree(&[0x81, 0x00, 0, b'z']), Some(vec![b'z']));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Data made of literal bytes, runs and repeats at small offsets round-trips and agrees.
        #[test]
        fn compressible_round_trips(parts in proptest::collection::vec((any::<u8>(), 0usize..=16, 0usize..300), 0..40)) {
            let mut data = Vec::new();
            for (byte, period, count) in parts {
                if period == 0 || data.len() < period {
                    data.extend(std::iter::repeat_n(byte, count % 37 + 1));
                } else {
                    for _ in 0..count {
                        data.push(data[data.len() - period]);
                    }
                }
            }
            let block = compress(&data);
            prop_assert_eq!(agree(&block), Some(data));
        }

        /// Arbitrary bytes: both accept with the same bytes, or both refuse.
        #[test]
        fn arbitrary_bytes_agree(block in proptest::collection::vec(any::<u8>(), 0..200)) {
            agree(&block);
        }

        /// A valid block with bytes changed, cut or appended: both agree.
        #[test]
        fn mutated_blocks_agree(
            seed in any::<u64>(),
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
            cut in any::<usize>(),
            extra in proptest::collection::vec(any::<u8>(), 0..4),
        ) {
            let mut block = compress(&pixels(2, seed)[..(seed as usize % 6000)]);
            for (at, bits) in flips {
                let at = at % block.len();
                block[at] ^= bits;
            }
            agree(&block);
            block.truncate(cut % (block.len() + 1));
            agree(&block);
            block.extend(extra);
            agree(&block);
        }
    }
}
