//! Parquet's RLE / bit-packed hybrid encoding, as used for definition levels and dictionary
//! indices: a bounded decoder that reports malformed input as `None` instead of panicking.
//!
//! Each run starts with a ULEB128 header. An even header `2n` is an RLE run of `n` copies of
//! one value stored in `ceil(bit_width / 8)` little-endian bytes; an odd header `2g + 1` is
//! `g` groups of 8 values packed `bit_width` bits each, least significant bit first.

/// Decode `count` values of `bit_width` bits (at most 32) from `data` into `out` (appended).
///
/// Returns `None` when the data ends before `count` values or a header is malformed; a run
/// longer than needed is cut at `count` (the last bit-packed group is padded by writers).
pub(crate) fn decode(data: &[u8], bit_width: u8, count: usize, out: &mut Vec<u32>) -> Option<()> {
    if bit_width > 32 {
        return None;
    }
    let bw = bit_width as usize;
    let value_bytes = bw.div_ceil(8);
    let mask = if bw == 32 { u32::MAX as u64 } else { (1u64 << bw) - 1 };
    out.reserve(count);
    let mut pos = 0usize;
    let mut left = count;
    while left > 0 {
        let header = uleb128(data, &mut pos)?;
        if header & 1 == 0 {
            let run = usize::try_from(header >> 1).ok()?;
            if run == 0 {
                return None;
            }
            let bytes = data.get(pos..pos + value_bytes)?;
            pos += value_bytes;
            let value = bytes.iter().rev().fold(0u64, |v, &b| (v << 8) | b as u64) & mask;
            let n = run.min(left);
            out.extend(std::iter::repeat_n(value as u32, n));
            left -= n;
        } else {
            let groups = usize::try_from(header >> 1).ok()?;
            if groups == 0 {
                return None;
            }
            // Only the bytes holding the values still needed must be present.
            let values = groups.checked_mul(8)?.min(left);
            let need = (values * bw).div_ceil(8);
            let bytes = data.get(pos..pos.checked_add(need)?)?;
            pos = pos.checked_add(groups.checked_mul(bw)?)?.min(data.len());
            unpack(bytes, bw, mask, values, out);
            left -= values;
        }
    }
    Some(())
}

/// Append `n` values of `bw` bits packed LSB-first in `bytes` (which holds at least `n · bw` bits).
fn unpack(bytes: &[u8], bw: usize, mask: u64, n: usize, out: &mut Vec<u32>) {
    if bw == 0 {
        out.extend(std::iter::repeat_n(0, n));
        return;
    }
    let mut acc = 0u64;
    let mut bits = 0usize;
    let mut next = bytes.iter();
    for _ in 0..n {
        while bits < bw {
            // `bytes` holds n·bw bits, so this never runs dry.
            acc |= (*next.next().unwrap_or(&0) as u64) << bits;
            bits += 8;
        }
        out.push((acc & mask) as u32);
        acc >>= bw;
        bits -= bw;
    }
}

/// Read a ULEB128 integer of at most 64 bits at `*pos`, advancing it.
fn uleb128(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        value |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encode `values` as bit-packed groups only (the simplest valid encoding).
    fn bit_packed(values: &[u32], bw: usize) -> Vec<u8> {
        let groups = values.len().div_ceil(8);
        let mut out = vec![(groups as u8) << 1 | 1];
        let mut acc = 0u128;
        let mut bits = 0;
        for i in 0..groups * 8 {
            acc |= (values.get(i).copied().unwrap_or(0) as u128) << bits;
            bits += bw;
            while bits >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                bits -= 8;
            }
        }
        out
    }

    #[test]
    fn rle_runs_and_bit_packed_groups_decode() {
        // RLE run of 5 × 3 (bit width 2), then one bit-packed group 0..8 (bit width 3 below).
        let mut out = Vec::new();
        decode(&[10, 3], 2, 5, &mut out).unwrap();
        assert_eq!(out, [3; 5]);
        for bw in [1usize, 3, 7, 8, 13, 31, 32] {
            let values: Vec<u32> =
                (0..21u64).map(|i| ((i * 2_654_435_761) & ((1u64 << bw) - 1).max(1)) as u32).collect();
            let mut out = Vec::new();
            decode(&bit_packed(&values, bw), bw as u8, values.len(), &mut out).unwrap();
            assert_eq!(out, values, "bit width {bw}");
        }
    }

    #[test]
    fn runs_longer_than_needed_are_cut() {
        let mut out = Vec::new();
        decode(&[200, 1, 1], 1, 3, &mut out).unwrap();
        assert_eq!(out, [1, 1, 1]);
    }

    #[test]
    fn malformed_input_is_none_not_a_panic() {
        let mut out = Vec::new();
        assert!(decode(&[], 1, 1, &mut out).is_none(), "no header");
        assert!(decode(&[0], 1, 1, &mut out).is_none(), "empty run");
        assert!(decode(&[4], 8, 2, &mut out).is_none(), "value missing");
        assert!(decode(&[3, 0xff], 8, 8, &mut out).is_none(), "group truncated");
        assert!(decode(&[0xff; 11], 1, 1, &mut out).is_none(), "header too long");
        assert!(decode(&[2, 0], 33, 1, &mut out).is_none(), "bit width");
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f], 1, 3, &mut out).is_none(), "huge group count");
    }
}
