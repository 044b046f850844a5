//! Parquet's RLE / bit-packed hybrid encoding, as used for definition levels and dictionary
//! indices: a bounded, streaming decoder that reports malformed input as `None` instead of
//! panicking.
//!
//! Each run starts with a ULEB128 header. An even header `2n` is an RLE run of `n` copies of
//! one value stored in `ceil(bit_width / 8)` little-endian bytes; an odd header `2g + 1` is
//! `g` groups of 8 values packed `bit_width` bits each, least significant bit first.
//!
//! A run may claim far more values than its bytes hold (an RLE run of 2^31 values takes six
//! bytes), so nothing is sized by a run: [`Decoder`] produces values only as they are asked
//! for, and skips them without producing them (an RLE run in O(1), bit-packed values in time
//! proportional to their bytes).

/// The most values one run may hold (the format's bound, `2^31 - 1`).
const MAX_RUN_VALUES: usize = i32::MAX as usize;

/// A cursor over RLE / bit-packed hybrid data.
#[derive(Clone)]
pub(crate) struct Decoder<'a> {
    data: &'a [u8],
    /// Where the next run header is.
    pos: usize,
    bw: usize,
    mask: u64,
    run: Run,
}

/// What is left of the current run.
#[derive(Clone, Copy)]
enum Run {
    /// `left` more copies of `value`.
    Rle { value: u32, left: usize },
    /// `left` more packed values, the next at bit `bit` of `data`.
    Packed { bit: usize, left: usize },
}

impl<'a> Decoder<'a> {
    /// A decoder of `bit_width`-bit values (at most 32) from `data`; `None` for a wider width.
    pub fn new(data: &'a [u8], bit_width: u8) -> Option<Self> {
        if bit_width > 32 {
            return None;
        }
        let bw = bit_width as usize;
        let mask = if bw == 32 { u32::MAX as u64 } else { (1u64 << bw) - 1 };
        Some(Decoder { data, pos: 0, bw, mask, run: Run::Rle { value: 0, left: 0 } })
    }

    /// Start the next run; `None` when the data ends or the header is malformed: a run of no
    /// values, or of more than `i32::MAX` (the format's bound, which arrow-rs enforces: a
    /// longer run that the direct path read was an error through arrow-rs, found by fuzzing).
    fn next_run(&mut self) -> Option<()> {
        let header = uleb128(self.data, &mut self.pos)?;
        let count = usize::try_from(header >> 1).ok().filter(|&c| c > 0)?;
        let values = if header & 1 == 0 { count } else { count.checked_mul(8)? };
        if values > MAX_RUN_VALUES {
            return None;
        }
        if header & 1 == 0 {
            let value_bytes = self.bw.div_ceil(8);
            let bytes = self.data.get(self.pos..self.pos.checked_add(value_bytes)?)?;
            self.pos += value_bytes;
            // A value wider than the bit width is malformed (arrow-rs would read it whole).
            let value = bytes.iter().rev().fold(0u64, |v, &b| (v << 8) | b as u64);
            if value > self.mask {
                return None;
            }
            self.run = Run::Rle { value: value as u32, left: count };
        } else {
            // `count` groups of 8; the bytes of the values actually read are checked as they
            // are read (writers pad the last group, and may cut it short).
            let values = count.checked_mul(8)?;
            let bit = self.pos.checked_mul(8)?;
            self.pos = self.pos.checked_add(count.checked_mul(self.bw)?)?.min(self.data.len());
            self.run = Run::Packed { bit, left: values };
        }
        Some(())
    }

    /// Whether the `n` packed values from bit `bit` are all within the data.
    fn packed_present(&self, bit: usize, n: usize) -> bool {
        n.checked_mul(self.bw).and_then(|b| b.checked_add(bit)).is_some_and(|end| end <= self.data.len() * 8)
    }

    /// Skip `n` values; returns their sum (for 1-bit levels, how many are 1). `None` when the
    /// data ends first or is malformed.
    pub fn skip(&mut self, mut n: usize) -> Option<u64> {
        let mut sum = 0u64;
        while n > 0 {
            match &mut self.run {
                Run::Rle { left: 0, .. } | Run::Packed { left: 0, .. } => self.next_run()?,
                Run::Rle { value, left } => {
                    let k = n.min(*left);
                    sum = sum.saturating_add(*value as u64 * k as u64);
                    *left -= k;
                    n -= k;
                }
                Run::Packed { bit, left } => {
                    let k = n.min(*left);
                    let (from, bw, mask) = (*bit, self.bw, self.mask);
                    *bit += k * bw;
                    *left -= k;
                    n -= k;
                    if !self.packed_present(from, k) {
                        return None;
                    }
                    if bw > 0 {
                        let mut at = from;
                        for _ in 0..k {
                            sum = sum.saturating_add(read_bits(self.data, at) & mask);
                            at += bw;
                        }
                    }
                }
            }
        }
        Some(sum)
    }

    /// Append the next `n` values to `out`; `None` when the data ends first, is malformed, or
    /// `out` cannot grow.
    pub fn decode(&mut self, mut n: usize, out: &mut Vec<u32>) -> Option<()> {
        out.try_reserve(n).ok()?;
        while n > 0 {
            match &mut self.run {
                Run::Rle { left: 0, .. } | Run::Packed { left: 0, .. } => self.next_run()?,
                Run::Rle { value, left } => {
                    let k = n.min(*left);
                    out.extend(std::iter::repeat_n(*value, k));
                    *left -= k;
                    n -= k;
                }
                Run::Packed { bit, left } => {
                    let k = n.min(*left);
                    let from = *bit;
                    *bit += k * self.bw;
                    *left -= k;
                    n -= k;
                    if !self.packed_present(from, k) {
                        return None;
                    }
                    let at = out.len();
                    out.resize(at + k, 0);
                    unpack(self.data, from, self.bw, self.mask, &mut out[at..]);
                }
            }
        }
        Some(())
    }

    /// Fill `out` with `dictionary[i]` for each of the next `out.len()` values `i`: dictionary
    /// indices gathered straight into typed values, with no buffer of indices the size of the
    /// page. `None` when the data ends first, is malformed, or an index is outside
    /// `dictionary`.
    pub fn gather<T: Copy>(&mut self, dictionary: &[T], out: &mut [T]) -> Option<()> {
        let mut indices = [0u32; GATHER_BATCH];
        let mut done = 0;
        while done < out.len() {
            let n = out.len() - done;
            match &mut self.run {
                Run::Rle { left: 0, .. } | Run::Packed { left: 0, .. } => self.next_run()?,
                Run::Rle { value, left } => {
                    let k = n.min(*left);
                    let v = *dictionary.get(*value as usize)?;
                    out[done..done + k].fill(v);
                    *left -= k;
                    done += k;
                }
                Run::Packed { bit, left } => {
                    let k = n.min(*left).min(GATHER_BATCH);
                    let from = *bit;
                    *bit += k * self.bw;
                    *left -= k;
                    if !self.packed_present(from, k) {
                        return None;
                    }
                    let indices = &mut indices[..k];
                    unpack(self.data, from, self.bw, self.mask, indices);
                    for (slot, &i) in out[done..done + k].iter_mut().zip(indices.iter()) {
                        *slot = *dictionary.get(i as usize)?;
                    }
                    done += k;
                }
            }
        }
        Some(())
    }
}

/// Indices unpacked at a time by [`Decoder::gather`] (on the stack, in L1).
const GATHER_BATCH: usize = 512;

/// Decode `count` values of `bit_width` bits (at most 32) from `data` into `out` (appended).
///
/// Returns `None` when the data ends before `count` values or a header is malformed; a run
/// longer than needed is cut at `count` (the last bit-packed group is padded by writers).
#[cfg(test)]
pub(crate) fn decode(data: &[u8], bit_width: u8, count: usize, out: &mut Vec<u32>) -> Option<()> {
    Decoder::new(data, bit_width)?.decode(count, out)
}

/// The (up to 57) bits of `data` from bit `bit` on, low bits first (zeros past the end).
#[inline]
fn read_bits(data: &[u8], bit: usize) -> u64 {
    let byte = bit / 8;
    let mut word = [0u8; 8];
    let rest = data.get(byte..).unwrap_or_default();
    let avail = rest.len().min(8);
    word[..avail].copy_from_slice(&rest[..avail]);
    u64::from_le_bytes(word) >> (bit % 8)
}

/// Write the `out.len()` values of `bw` bits packed LSB-first in `data` from bit `bit` into
/// `out` (the caller checked that they are all present).
///
/// Values are unpacked a group of 8 at a time (from `bw` whole bytes) by a kernel made for each
/// bit width, as arrow-rs does; the few values before the first byte-aligned group and after
/// the last whole one are read one by one.
#[inline]
fn unpack(data: &[u8], bit: usize, bw: usize, mask: u64, out: &mut [u32]) {
    if bw == 0 {
        out.fill(0);
        return;
    }
    let mut at = bit;
    let mut done = 0;
    while done < out.len() && !at.is_multiple_of(8) {
        out[done] = (read_bits(data, at) & mask) as u32;
        at += bw;
        done += 1;
    }
    let groups = (out.len() - done) / 8;
    let bytes = groups * bw;
    if let Some(packed) = data.get(at / 8..at / 8 + bytes) {
        unpack_groups(bw, packed, &mut out[done..done + groups * 8]);
        at += bytes * 8;
        done += groups * 8;
    }
    for slot in &mut out[done..] {
        *slot = (read_bits(data, at) & mask) as u32;
        at += bw;
    }
}

/// Unpack the groups of 8 `bw`-bit values in `packed` (`bw` bytes each) into `out` (8 values
/// each).
fn unpack_groups(bw: usize, packed: &[u8], out: &mut [u32]) {
    macro_rules! widths {
        ($($w:literal)*) => {
            match bw {
                $($w => groups::<$w>(packed, out),)*
                _ => {}
            }
        };
    }
    widths!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
}

/// [`unpack_groups`] for a bit width known at compile time: every shift and byte offset is a
/// constant.
#[inline(never)]
fn groups<const BW: usize>(packed: &[u8], out: &mut [u32]) {
    let mask: u64 = if BW == 32 { u32::MAX as u64 } else { (1u64 << BW) - 1 };
    for (group, values) in packed.chunks_exact(BW).zip(out.chunks_exact_mut(8)) {
        // The group, and zeros for the 8-byte windows of its last values.
        let mut buf = [0u8; 40];
        buf[..BW].copy_from_slice(group);
        for (k, value) in values.iter_mut().enumerate() {
            let (b, shift) = (k * BW / 8, k * BW % 8);
            let word = u64::from_le_bytes([
                buf[b],
                buf[b + 1],
                buf[b + 2],
                buf[b + 3],
                buf[b + 4],
                buf[b + 5],
                buf[b + 6],
                buf[b + 7],
            ]);
            *value = ((word >> shift) & mask) as u32;
        }
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

    #[test]
    fn runs_beyond_the_formats_bound_are_malformed() {
        let mut out = Vec::new();
        // An RLE run of 2^31 values (header 2^32), and 2^28 bit-packed groups (2^31 values).
        assert!(decode(&[0x80, 0x80, 0x80, 0x80, 0x10, 0x01], 1, 1, &mut out).is_none(), "RLE run");
        assert!(decode(&[0x81, 0x80, 0x80, 0x80, 0x02, 0x01], 1, 1, &mut out).is_none(), "bit-packed run");
        // One fewer of each is within the bound.
        decode(&[0xfe, 0xff, 0xff, 0xff, 0x0f, 0x01], 1, 1, &mut out).unwrap();
        decode(&[0xff, 0xff, 0xff, 0xff, 0x01, 0x01], 1, 1, &mut out).unwrap();
        assert_eq!(out, [1, 1]);
    }

    #[test]
    fn a_huge_run_costs_only_the_values_read() {
        // An RLE run of 2^31 - 1 ones (bit width 1), then a bit-packed group 0b1010_1100.
        let mut data = vec![0xfe, 0xff, 0xff, 0xff, 0x0f, 0x01];
        data.extend([0x03, 0b1010_1100]);
        let mut d = Decoder::new(&data, 1).unwrap();
        let mut out = Vec::new();
        d.decode(3, &mut out).unwrap();
        assert_eq!(out, [1, 1, 1]);
        assert!(out.capacity() < 1024, "sized by the values read, not the run");
        assert_eq!(d.skip((1 << 31) - 1 - 3 - 2).unwrap(), (1 << 31) - 1 - 3 - 2);
        assert_eq!(d.skip(3).unwrap(), 2, "two ones, then the group's first value 0");
        out.clear();
        d.decode(7, &mut out).unwrap();
        assert_eq!(out, [0, 1, 1, 0, 1, 0, 1]);
        assert!(d.decode(1, &mut out).is_none(), "the data ends");
    }

    #[test]
    fn skipping_then_decoding_matches_decoding_everything() {
        for bw in [1usize, 2, 5, 8, 13, 32] {
            let values: Vec<u32> =
                (0..50u64).map(|i| ((i * 2_654_435_761) & ((1u64 << bw) - 1).max(1)) as u32).collect();
            let data = bit_packed(&values, bw);
            for at in [0usize, 1, 7, 8, 9, 31, 49] {
                let mut d = Decoder::new(&data, bw as u8).unwrap();
                let sum = d.skip(at).unwrap();
                assert_eq!(sum, values[..at].iter().map(|&v| v as u64).sum::<u64>(), "bit width {bw}, skip {at}");
                let mut out = Vec::new();
                d.decode(values.len() - at, &mut out).unwrap();
                assert_eq!(out, values[at..], "bit width {bw}, skip {at}");
            }
        }
    }

    #[test]
    fn gathering_matches_decoding_then_looking_up() {
        // Mixed RLE runs and bit-packed groups, long enough to cross the gather batch and the
        // unpacker's byte-by-byte tail.
        for bw in [1usize, 2, 7, 8, 13, 17, 24, 31, 32] {
            let n = 2_000;
            let limit = if bw == 32 { 5_000 } else { (1u64 << bw).min(5_000) };
            let values: Vec<u32> = (0..n as u64).map(|i| ((i * 2_654_435_761) % limit) as u32).collect();
            let mut data = vec![7u8 << 1, 1, 0, 0, 0][..1 + bw.div_ceil(8)].to_vec();
            // Runs of up to 63 groups (a one-byte header each).
            for run in values.chunks(504) {
                data.extend(bit_packed(run, bw));
            }
            let dictionary: Vec<[u8; 8]> = (0..limit).map(|i| (i * 3 + 1).to_le_bytes()).collect();
            let mut want = Vec::new();
            decode(&data, bw as u8, 7 + n, &mut want).unwrap();
            assert_eq!(&want[7..], &values[..], "bit width {bw}");
            for at in [0usize, 5, 7, 8, 520, 1_999] {
                let mut d = Decoder::new(&data, bw as u8).unwrap();
                d.skip(at).unwrap();
                let mut out = vec![[0u8; 8]; 7 + n - at];
                d.gather(&dictionary, &mut out).unwrap();
                let expected: Vec<[u8; 8]> = want[at..].iter().map(|&i| dictionary[i as usize]).collect();
                assert_eq!(out, expected, "bit width {bw}, from {at}");
                assert!(d.gather(&dictionary, &mut [[0u8; 8]; 1]).is_none(), "the data ends");
            }
        }
    }

    #[test]
    fn an_index_outside_the_dictionary_is_none() {
        let data = bit_packed(&[0, 1, 2, 3, 4, 5, 6, 7], 3);
        let dictionary = [1.0f32; 8];
        let mut out = [0f32; 8];
        Decoder::new(&data, 3).unwrap().gather(&dictionary, &mut out).unwrap();
        assert!(Decoder::new(&data, 3).unwrap().gather(&dictionary[..7], &mut out).is_none());
        // Only the indices gathered are looked up.
        Decoder::new(&data, 3).unwrap().gather(&dictionary[..7], &mut out[..7]).unwrap();
        // An RLE run of index 9 (bit width 4).
        assert!(Decoder::new(&[4, 9], 4).unwrap().gather(&dictionary, &mut out[..2]).is_none());
        Decoder::new(&[4, 5], 4).unwrap().gather(&dictionary, &mut out[..2]).unwrap();
    }
}
