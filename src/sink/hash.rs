//! Checksums for output integrity.
//!
//! * [`Crc32`]: CRC-32/ISO-HDLC (reflected polynomial `0xEDB88320`, initial value and final
//!   xor all ones), the checksum of zlib, gzip and PNG, so that Python's `zlib.crc32`
//!   computes the same value. Used for shard files (manifest) and for the IPC trailer.
//!   Computed by [`crc32fast`] (carry-less multiplication where the CPU has it, over 10 GB/s;
//!   slice-by-16 tables otherwise).
//! * [`fnv1a64`]: FNV-1a 64-bit, for short strings such as the schema description.

/// A running CRC-32 (zlib's `crc32`), fed with [`Crc32::update`].
///
/// # Example
/// ```
/// use shardmix::format::Crc32;
/// let mut crc = Crc32::new();
/// crc.update(b"1234");
/// crc.update(b"56789");
/// assert_eq!(crc.value(), 0xCBF4_3926); // the standard check value of "123456789"
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crc32 {
    /// The CRC of everything fed so far.
    value: u32,
}

impl Crc32 {
    /// A CRC over no bytes (value 0).
    pub fn new() -> Self {
        Crc32 { value: 0 }
    }

    /// Continue a CRC whose value so far is `value` (as `zlib.crc32(data, value)` does).
    pub fn resume(value: u32) -> Self {
        Crc32 { value }
    }

    /// Feed `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut h = crc32fast::Hasher::new_with_initial(self.value);
        h.update(bytes);
        self.value = h.finalize();
    }

    /// The CRC of everything fed so far.
    pub fn value(&self) -> u32 {
        self.value
    }
}

/// FNV-1a 64-bit hash of `bytes`.
///
/// # Example
/// ```
/// assert_eq!(shardmix::format::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(shardmix::format::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reflected CRC-32 polynomial of zlib.
    const POLY: u32 = 0xEDB8_8320;

    fn crc_bitwise(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn crc_matches_bitwise_reference_at_every_length_and_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in 0..data.len() {
            let want = crc_bitwise(&data[..len]);
            let mut one = Crc32::new();
            one.update(&data[..len]);
            assert_eq!(one.value(), want, "len {len}");
            let split = len / 3;
            let mut two = Crc32::new();
            two.update(&data[..split]);
            let mut three = Crc32::resume(two.value());
            three.update(&data[split..len]);
            assert_eq!(three.value(), want, "len {len} split {split}");
        }
        let mut c = Crc32::new();
        c.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(c.value(), 0x414F_A339);
    }

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }
}
