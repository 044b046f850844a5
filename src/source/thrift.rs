//! A linear-time check of Thrift compact-protocol bytes before arrow-rs parses them.
//!
//! Parquet's footer, page index and page headers are Thrift structs. parquet 60.1 skips
//! fields it does not know with `skip_till_depth`, which treats every element of a list of
//! booleans as taking no bytes: a 700-byte footer whose unknown field is a list of 2^31
//! booleans costs 2^31 iterations (1.6 s), and lists of such lists cost hours (found by
//! fuzzing; `tests/fuzz_regressions.rs`). The compact protocol is self-describing, so this
//! module walks any struct without its schema, charging at least one byte per element (as
//! the encoding does: a boolean in a list is one byte), and rejects a collection that claims
//! more elements than bytes remain. Valid Thrift passes unchanged; the walk is O(bytes).

use std::borrow::Cow;

/// How deeply structs and collections may nest (parquet's own structs need fewer than 10).
const MAX_DEPTH: u32 = 64;

/// Why bytes are not a valid compact-protocol struct.
pub(crate) type WalkError = String;

/// A cursor over compact-protocol bytes.
pub(crate) struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Walker<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Walker { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, WalkError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| format!("Thrift data ends at byte {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: u64) -> Result<(), WalkError> {
        if n > self.remaining() as u64 {
            return Err(format!("Thrift value of {n} bytes at byte {} overruns the data", self.pos));
        }
        self.pos += n as usize;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, WalkError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift.min(63);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("Thrift varint longer than 10 bytes at byte {}", self.pos))
    }

    /// A collection of `size` elements, each at least one byte.
    fn elements(&mut self, size: u64, ty: u8, depth: u32) -> Result<(), WalkError> {
        if size > self.remaining() as u64 {
            return Err(format!(
                "Thrift collection of {size} elements at byte {} but only {} bytes remain",
                self.pos,
                self.remaining()
            ));
        }
        for _ in 0..size {
            match ty {
                // A boolean element is one byte.
                1 | 2 => self.skip(1)?,
                _ => self.value(ty, depth + 1)?,
            }
        }
        Ok(())
    }

    /// One value of compact type `ty` (a boolean struct field carries no bytes).
    fn value(&mut self, ty: u8, depth: u32) -> Result<(), WalkError> {
        if depth > MAX_DEPTH {
            return Err(format!("Thrift data nested deeper than {MAX_DEPTH} at byte {}", self.pos));
        }
        match ty {
            1 | 2 => Ok(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                self.skip(n)
            }
            9 | 10 => {
                let head = self.byte()?;
                let size = match head >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                self.elements(size, head & 0x0f, depth)
            }
            11 => {
                let size = self.varint()?;
                if size > 0 {
                    let kv = self.byte()?;
                    if size.saturating_mul(2) > self.remaining() as u64 {
                        return Err(format!("Thrift map of {size} entries at byte {} overruns the data", self.pos));
                    }
                    for _ in 0..size {
                        self.elements(1, kv >> 4, depth)?;
                        self.elements(1, kv & 0x0f, depth)?;
                    }
                }
                Ok(())
            }
            12 => self.walk_struct(depth + 1, |_, _| ()),
            13 => self.skip(16),
            _ => Err(format!("unknown Thrift type {ty} at byte {}", self.pos)),
        }
    }

    /// Walk one struct; `field` sees each integer field of this struct (not nested ones) as
    /// `(field id, value)`, zigzag-decoded.
    pub fn walk_struct(&mut self, depth: u32, mut field: impl FnMut(i16, i64)) -> Result<(), WalkError> {
        if depth > MAX_DEPTH {
            return Err(format!("Thrift data nested deeper than {MAX_DEPTH} at byte {}", self.pos));
        }
        let mut last_id: i16 = 0;
        loop {
            let head = self.byte()?;
            if head == 0 {
                return Ok(());
            }
            let ty = head & 0x0f;
            let id = match head >> 4 {
                0 => zigzag(self.varint()?) as i16,
                delta => last_id.wrapping_add(i16::from(delta)),
            };
            last_id = id;
            if (4..=6).contains(&ty) {
                field(id, zigzag(self.varint()?));
            } else {
                self.value(ty, depth)?;
            }
        }
    }
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Check that `bytes` hold one valid struct (and nothing is read beyond them).
pub(crate) fn check_struct(bytes: &[u8]) -> Result<(), WalkError> {
    Walker::new(bytes).walk_struct(0, |_, _| ())
}

/// Check every page header of a column chunk held in `bytes`: each must be a valid struct,
/// followed by its `compressed_page_size` (field 3) bytes of page data.
pub(crate) fn check_page_headers(bytes: &[u8]) -> Result<(), WalkError> {
    check_page_headers_with(bytes.len() as u64, |pos, len| Ok(Cow::Borrowed(&bytes[pos as usize..][..len])))
}

/// The largest page header looked at (statistics of long strings can make headers large).
const MAX_HEADER_BYTES: usize = 16 << 20;

/// [`check_page_headers`] for a column chunk of `len` bytes that `read(pos, n)` returns `n`
/// bytes of (`pos + n <= len`): only the headers are read, in windows of 64 KiB and more.
pub(crate) fn check_page_headers_with<'a>(
    len: u64,
    mut read: impl FnMut(u64, usize) -> std::io::Result<Cow<'a, [u8]>>,
) -> Result<(), WalkError> {
    let mut pos = 0u64;
    while pos < len {
        let most = (len - pos).min(MAX_HEADER_BYTES as u64) as usize;
        // Headers are usually well under 1 KiB (more with statistics): start small, widen.
        let mut window = most.min(1 << 10);
        let (header, size) = loop {
            let bytes = read(pos, window).map_err(|e| format!("page header at chunk byte {pos}: {e}"))?;
            let mut w = Walker::new(&bytes);
            let mut compressed = None;
            let walked = w.walk_struct(0, |id, v| {
                if id == 3 {
                    compressed = Some(v);
                }
            });
            match walked {
                Ok(()) => break (w.position(), compressed),
                // Perhaps only cut off by the window: look at more.
                Err(_) if window < most => window = most.min(window * 4),
                Err(e) => return Err(format!("page header at chunk byte {pos}: {e}")),
            }
        };
        let size = size
            .filter(|&s| s >= 0)
            .ok_or_else(|| format!("page header at chunk byte {pos} has no valid compressed_page_size"))?;
        pos = pos.saturating_add(header as u64).saturating_add(size as u64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_bools_longer_than_the_data_is_rejected_at_once() {
        // struct { 1: list<bool> of 2^31 - 1 elements } then nothing.
        let mut b = vec![0x19, 0xf1];
        b.extend([0xff, 0xff, 0xff, 0xff, 0x07]);
        let t = std::time::Instant::now();
        let e = check_struct(&b).unwrap_err();
        assert!(e.contains("2147483647 elements"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_millis(50));
    }

    #[test]
    fn walks_nested_values_and_reports_integer_fields() {
        // struct { 1: i32 = -3, 2: binary "ab", 3: list<i64> [1, 2], 4: struct { 1: true }, 6: double, 7: i64 = 150 }
        let b = [
            0x15, 0x05, // field 1, i32, zigzag(-3) = 5
            0x18, 0x02, b'a', b'b', // field 2, binary
            0x19, 0x26, 0x02, 0x04, // field 3, list of 2 i64
            0x1c, 0x11, 0x00, // field 4, struct { field 1 bool true }, stop
            0x27, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // field 6 (delta 2), double 1.0
            0x16, 0xac, 0x02, // field 7, i64 zigzag 300 = 150
            0x00,
        ];
        let mut seen = Vec::new();
        let mut w = Walker::new(&b);
        w.walk_struct(0, |id, v| seen.push((id, v))).unwrap();
        assert_eq!(w.position(), b.len());
        assert_eq!(seen, vec![(1, -3), (7, 150)]);
        assert!(check_struct(&b[..b.len() - 1]).is_err(), "missing stop byte");
    }

    #[test]
    fn page_headers_chain_by_compressed_size() {
        // header { 1: i32 type 0, 2: i32 uncompressed 4, 3: i32 compressed 4 } + 4 bytes, twice.
        let page = [0x15, 0x00, 0x15, 0x08, 0x15, 0x08, 0x00, 9, 9, 9, 9];
        let two: Vec<u8> = page.iter().chain(&page).copied().collect();
        check_page_headers(&two).unwrap();
        let mut bad = two.clone();
        bad[11] = 0x1f; // the second header's first field: unknown type 15
        assert!(check_page_headers(&bad).is_err());
    }
}
