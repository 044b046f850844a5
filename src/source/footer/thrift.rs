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
        self.walk_fields(depth, None, &mut |parent, id, v| {
            if parent == 0 {
                field(id, v)
            }
        })
    }

    /// Walk one struct; `field` sees `(0, id, value)` for each integer field of this struct and
    /// `(s, id, value)` for each integer field of a struct in its field `s` (one level down).
    pub fn walk_struct_nested(&mut self, depth: u32, field: &mut dyn FnMut(i16, i16, i64)) -> Result<(), WalkError> {
        self.walk_fields(depth, Some(0), field)
    }

    /// Walk one struct, reporting its integer fields as `(parent, id, value)` when `parent` is
    /// given, and those of its struct fields one level down when that parent is 0.
    fn walk_fields(
        &mut self,
        depth: u32,
        parent: Option<i16>,
        field: &mut dyn FnMut(i16, i16, i64),
    ) -> Result<(), WalkError> {
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
                let v = zigzag(self.varint()?);
                field(parent.unwrap_or(0), id, v);
            } else if ty == 12 && parent == Some(0) {
                self.walk_fields(depth + 1, Some(id), field)?;
            } else if ty == 12 && parent.is_none() {
                self.walk_fields(depth + 1, Some(-1), &mut |_, _, _| ())?;
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

/// What a page header says (the fields the readers use), and where the page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageInfo {
    /// Offset of the header in the column chunk.
    pub offset: u64,
    /// Bytes of the header.
    pub header_len: u64,
    /// `type` (0 data, 1 index, 2 dictionary, 3 data v2; -1 when absent).
    pub kind: i64,
    /// `uncompressed_page_size` (-1 when absent).
    pub uncompressed: i64,
    /// `compressed_page_size`: the page's bytes after the header.
    pub compressed: u64,
    /// `num_values` of the data, dictionary or v2 header (-1 when absent).
    pub num_values: i64,
    /// `num_rows` of a v2 header (-1 when absent).
    pub num_rows: i64,
}

/// Check every page header of a column chunk held in `bytes`: each must be a valid struct,
/// followed by its `compressed_page_size` (field 3) bytes of page data.
#[cfg(test)]
pub(crate) fn check_page_headers(bytes: &[u8]) -> Result<Vec<PageInfo>, WalkError> {
    walk_page_headers(bytes.len() as u64, |pos, buf| {
        buf.copy_from_slice(&bytes[pos as usize..][..buf.len()]);
        Ok(())
    })
}

/// The largest page header looked at (statistics of long strings can make headers large).
const MAX_HEADER_BYTES: usize = 16 << 20;

/// Bytes of the chunk read at a time while walking its headers: enough for hundreds of the
/// headers of small pages, little next to a large page (whose data is not read).
const WALK_WINDOW_BYTES: usize = 16 << 10;

/// Walk the page headers of a column chunk of `len` bytes that `read(pos, buf)` fills `buf`
/// from (`pos + buf.len() <= len`): each header must be a valid struct followed by its
/// `compressed_page_size` bytes. Returns what each header says. The chunk is read through a
/// window of 16 KiB (more for a larger header, up to 16 MiB), so memory stays bounded and
/// the walk is O(bytes) (O(pages) bytes read for pages of more than 16 KiB).
pub(crate) fn walk_page_headers(
    len: u64,
    mut read: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> Result<Vec<PageInfo>, WalkError> {
    let mut pages = Vec::new();
    let mut window: Vec<u8> = Vec::new();
    let mut window_at = 0u64;
    let mut pos = 0u64;
    while pos < len {
        let most = (len - pos).min(MAX_HEADER_BYTES as u64) as usize;
        // Headers are usually well under 1 KiB (more with statistics): start small, widen.
        let mut want = most.min(1 << 10);
        let info = loop {
            // The window holds [window_at, window_at + window.len()); refill it from `pos` when
            // it does not hold `want` bytes from there.
            let have = (window_at + window.len() as u64).saturating_sub(pos);
            if pos < window_at || have < want as u64 {
                let size = (len - pos).min(want.max(WALK_WINDOW_BYTES) as u64) as usize;
                window.clear();
                window.try_reserve(size).map_err(|e| format!("page header at chunk byte {pos}: {e}"))?;
                window.resize(size, 0);
                read(pos, &mut window).map_err(|e| format!("page header at chunk byte {pos}: {e}"))?;
                window_at = pos;
            }
            let from = (pos - window_at) as usize;
            let bytes = &window[from..from + want];
            let mut w = Walker::new(bytes);
            let mut info = PageInfo {
                offset: pos,
                header_len: 0,
                kind: -1,
                uncompressed: -1,
                compressed: 0,
                num_values: -1,
                num_rows: -1,
            };
            let mut compressed = None;
            let walked = w.walk_struct_nested(0, &mut |parent, id, v| match (parent, id) {
                (0, 1) => info.kind = v,
                (0, 2) => info.uncompressed = v,
                (0, 3) => compressed = Some(v),
                (5 | 7 | 8, 1) => info.num_values = v,
                (8, 3) => info.num_rows = v,
                _ => {}
            });
            match walked {
                Ok(()) => {
                    info.header_len = w.position() as u64;
                    let size = compressed
                        .filter(|&s| s >= 0)
                        .ok_or_else(|| format!("page header at chunk byte {pos} has no valid compressed_page_size"))?;
                    info.compressed = size as u64;
                    break info;
                }
                // Perhaps only cut off by the window: look at more.
                Err(_) if want < most => want = most.min(want * 4),
                Err(e) => return Err(format!("page header at chunk byte {pos}: {e}")),
            }
        };
        pages.try_reserve(1).map_err(|e| format!("page header at chunk byte {pos}: {e}"))?;
        pages.push(info);
        pos = pos.saturating_add(info.header_len).saturating_add(info.compressed);
    }
    Ok(pages)
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
        let pages = check_page_headers(&two).unwrap();
        assert_eq!(pages.len(), 2);
        assert_eq!((pages[1].offset, pages[1].header_len, pages[1].compressed, pages[1].kind), (11, 7, 4, 0));
        let mut bad = two.clone();
        bad[11] = 0x1f; // the second header's first field: unknown type 15
        assert!(check_page_headers(&bad).is_err());
    }

    #[test]
    fn nested_header_fields_are_reported() {
        // header { 1: type 3, 2: 9, 3: 9, 8: struct { 1: num_values 5, 2: num_nulls 0, 3: num_rows 5 } }
        let b = [0x15, 0x06, 0x15, 0x12, 0x15, 0x12, 0x5c, 0x15, 0x0a, 0x15, 0x00, 0x15, 0x0a, 0x00, 0x00];
        let mut bytes = b.to_vec();
        bytes.extend([0u8; 9]);
        let pages = check_page_headers(&bytes).unwrap();
        assert_eq!(pages[0].kind, 3);
        assert_eq!((pages[0].num_values, pages[0].num_rows, pages[0].uncompressed), (5, 5, 9));
    }
}
