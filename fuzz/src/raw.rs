//! A small writer of raw Parquet files: page headers and footer written by hand in Thrift's
//! compact protocol, so that a file can say anything (a page of 2^31 values in 20 bytes, a
//! footer of 2^50 rows) that no real writer would. Used by the `pages` and `differential` fuzz
//! targets and by `tests/hostile_files.rs` (which includes this file with `#[path]`).
//!
//! Only what shardmix's decode path reads is modelled: flat columns of one physical type, and
//! list columns of one ([`LIST`]: the 3-level `LIST` layout, repetition levels before the
//! definition levels in a page), dictionary / v1 / v2 pages, uncompressed, Snappy
//! (literal-only, which is valid Snappy) or Zstandard.
#![allow(dead_code)]

/// Physical types.
pub const INT32: i32 = 1;
pub const INT64: i32 = 2;
pub const FLOAT: i32 = 4;
pub const DOUBLE: i32 = 5;

/// Set on a column's physical type: a list of that type, `required group NAME (LIST) {
/// repeated group list { required|optional TYPE element } }` (maximum repetition level 1,
/// maximum definition level 1, or 2 with optional elements).
pub const LIST: i32 = 0x100;

/// A column's physical type without [`LIST`].
pub fn physical(column: &Column) -> i32 {
    column.physical & !LIST
}

/// Encodings.
pub const PLAIN: i32 = 0;
pub const PLAIN_DICTIONARY: i32 = 2;
pub const RLE: i32 = 3;
pub const DELTA_BINARY_PACKED: i32 = 5;
pub const RLE_DICTIONARY: i32 = 8;
pub const BYTE_STREAM_SPLIT: i32 = 9;

/// Codecs.
pub const UNCOMPRESSED: i32 = 0;
pub const SNAPPY: i32 = 1;
pub const ZSTD: i32 = 6;
/// LZ4 without framing; the writer does not compress for it (the file only claims it).
pub const LZ4_RAW: i32 = 7;

/// Thrift compact protocol, writing.
#[derive(Default)]
pub struct Thrift {
    pub buf: Vec<u8>,
    last: Vec<i16>,
}

impl Thrift {
    pub fn new() -> Self {
        Thrift { buf: Vec::new(), last: vec![0] }
    }

    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(b);
                return;
            }
            self.buf.push(b | 0x80);
        }
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn field(&mut self, id: i16, ty: u8) {
        let last = self.last.last_mut().expect("inside a struct");
        let delta = id - *last;
        *last = id;
        if (1..=15).contains(&delta) {
            self.buf.push(((delta as u8) << 4) | ty);
        } else {
            self.buf.push(ty);
            self.zigzag(id as i64);
        }
    }

    pub fn i32(&mut self, id: i16, v: i32) -> &mut Self {
        self.field(id, 5);
        self.zigzag(v as i64);
        self
    }

    pub fn i64(&mut self, id: i16, v: i64) -> &mut Self {
        self.field(id, 6);
        self.zigzag(v);
        self
    }

    pub fn bool(&mut self, id: i16, v: bool) -> &mut Self {
        self.field(id, if v { 1 } else { 2 });
        self
    }

    pub fn binary(&mut self, id: i16, v: &[u8]) -> &mut Self {
        self.field(id, 8);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// Open a struct field; close it with [`Thrift::end`].
    pub fn begin(&mut self, id: i16) -> &mut Self {
        self.field(id, 12);
        self.last.push(0);
        self
    }

    /// Close a struct (a field's, a list element's or the top one).
    pub fn end(&mut self) -> &mut Self {
        self.buf.push(0);
        self.last.pop();
        self
    }

    /// A list field of `n` elements of compact type `ty`.
    pub fn list(&mut self, id: i16, ty: u8, n: usize) -> &mut Self {
        self.field(id, 9);
        if n < 15 {
            self.buf.push(((n as u8) << 4) | ty);
        } else {
            self.buf.push(0xf0 | ty);
            self.varint(n as u64);
        }
        self
    }

    /// Open a struct element of a list; close it with [`Thrift::end`].
    pub fn element(&mut self) -> &mut Self {
        self.last.push(0);
        self
    }

    pub fn i32_element(&mut self, v: i32) -> &mut Self {
        self.zigzag(v as i64);
        self
    }

    pub fn binary_element(&mut self, v: &[u8]) -> &mut Self {
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }
}

/// One page of a column chunk.
#[derive(Debug, Clone)]
pub enum Page {
    Dictionary {
        num_values: i32,
        encoding: i32,
        data: Vec<u8>,
    },
    /// `data` holds the definition levels (with their 4-byte length) then the values.
    V1 {
        num_values: i32,
        encoding: i32,
        def_encoding: i32,
        data: Vec<u8>,
    },
    /// `data` holds the definition levels (`def_len` bytes, never compressed) then the values.
    V2 {
        num_values: i32,
        num_nulls: i32,
        num_rows: i32,
        encoding: i32,
        def_len: i32,
        data: Vec<u8>,
        compressed: bool,
    },
    /// A v2 page of a list column: `data` holds the repetition levels (`rep_len` bytes), the
    /// definition levels (`def_len` bytes; neither compressed) then the values.
    V2Repeated {
        num_values: i32,
        num_nulls: i32,
        num_rows: i32,
        encoding: i32,
        rep_len: i32,
        def_len: i32,
        data: Vec<u8>,
        compressed: bool,
    },
    /// `page` with its header claiming `uncompressed` bytes once decompressed, whatever its data
    /// holds; under Snappy the data's own length prefix claims as much (the stream is then
    /// invalid). The column chunk's uncompressed size counts the claim.
    Claiming {
        uncompressed: i32,
        page: Box<Page>,
    },
}

/// A column: name, physical type, optional (max definition level 1) or required.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub physical: i32,
    pub optional: bool,
}

/// A row group: its row count as the footer says, and each column's pages.
#[derive(Debug, Clone)]
pub struct RowGroup {
    pub num_rows: i64,
    pub pages: Vec<Vec<Page>>,
    /// Each column chunk's `num_values` (default: the sum of its data pages').
    pub num_values: Option<i64>,
}

/// A whole file.
#[derive(Debug, Clone)]
pub struct File {
    pub columns: Vec<Column>,
    pub codec: i32,
    pub row_groups: Vec<RowGroup>,
    /// The footer's row count (default: the row groups' sum).
    pub num_rows: Option<i64>,
}

/// `data` as Snappy: its length, then literals of at most 60 bytes (valid, if not small).
pub fn snappy_literal(data: &[u8]) -> Vec<u8> {
    snappy_claiming(data, data.len() as u64)
}

/// `data` as Snappy literals after a length prefix of `len` (invalid unless it is `data`'s).
fn snappy_claiming(data: &[u8], len: u64) -> Vec<u8> {
    let mut t = Thrift::new();
    t.varint(len);
    let mut out = t.buf;
    for chunk in data.chunks(60) {
        out.push(((chunk.len() - 1) as u8) << 2);
        out.extend_from_slice(chunk);
    }
    out
}

/// ULEB128 of `v`.
pub fn uleb(v: u64) -> Vec<u8> {
    let mut t = Thrift::new();
    t.varint(v);
    t.buf
}

/// An RLE run of `n` copies of `value` (at most 8 bits wide).
pub fn rle_run(n: u64, value: u8) -> Vec<u8> {
    let mut v = uleb(n << 1);
    v.push(value);
    v
}

/// V1 definition levels: their length (4 bytes) then `levels`.
pub fn v1_levels(levels: &[u8]) -> Vec<u8> {
    let mut v = (levels.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(levels);
    v
}

/// A page's header and data as written, and what its column chunk's metadata counts of it.
struct PageBytes {
    bytes: Vec<u8>,
    dictionary: bool,
    /// Values of a data page.
    values: i64,
    /// The header's bytes plus the size it claims uncompressed.
    uncompressed: i64,
}

/// The bytes of a page header and page for `page` under `codec`; with `claim`, the header (and
/// a Snappy length prefix) claims that many bytes uncompressed.
fn page_bytes(page: &Page, codec: i32, claim: Option<i32>) -> PageBytes {
    if let Page::Claiming { uncompressed, page } = page {
        return page_bytes(page, codec, Some(*uncompressed));
    }
    let mut t = Thrift::new();
    let compress = |d: &[u8]| match codec {
        SNAPPY => snappy_claiming(d, claim.map_or(d.len() as u64, |c| c as u64)),
        // One frame with its content size, as pyarrow, polars and arrow-rs write it.
        ZSTD => zstd::bulk::compress(d, 1).unwrap_or_default(),
        _ => d.to_vec(),
    };
    let (kind, body, uncompressed, values, dict) = match page {
        Page::Dictionary { num_values, data, .. } => (2, compress(data), data.len(), *num_values as i64, true),
        Page::V1 { num_values, data, .. } => (0, compress(data), data.len(), *num_values as i64, false),
        Page::V2 { num_values, def_len, data, compressed, .. }
        | Page::V2Repeated { num_values, def_len, data, compressed, .. } => {
            let rep_len = if let Page::V2Repeated { rep_len, .. } = page { *rep_len } else { 0 };
            let keep = (rep_len.max(0) as usize).saturating_add((*def_len).max(0) as usize).min(data.len());
            let mut body = data[..keep].to_vec();
            body.extend(if *compressed { compress(&data[keep..]) } else { data[keep..].to_vec() });
            (3, body, data.len(), *num_values as i64, false)
        }
        Page::Claiming { .. } => unreachable!("handled above"),
    };
    let uncompressed = claim.unwrap_or(uncompressed as i32);
    t.i32(1, kind).i32(2, uncompressed).i32(3, body.len() as i32);
    match page {
        Page::Dictionary { num_values, encoding, .. } => {
            t.begin(7).i32(1, *num_values).i32(2, *encoding).end();
        }
        Page::V1 { num_values, encoding, def_encoding, .. } => {
            t.begin(5).i32(1, *num_values).i32(2, *encoding).i32(3, *def_encoding).i32(4, RLE).end();
        }
        Page::V2 { num_values, num_nulls, num_rows, encoding, def_len, compressed, .. }
        | Page::V2Repeated { num_values, num_nulls, num_rows, encoding, def_len, compressed, .. } => {
            let rep_len = if let Page::V2Repeated { rep_len, .. } = page { *rep_len } else { 0 };
            t.begin(8)
                .i32(1, *num_values)
                .i32(2, *num_nulls)
                .i32(3, *num_rows)
                .i32(4, *encoding)
                .i32(5, *def_len)
                .i32(6, rep_len)
                .bool(7, *compressed)
                .end();
        }
        Page::Claiming { .. } => unreachable!("handled above"),
    }
    t.end();
    let mut bytes = t.buf;
    let uncompressed = bytes.len() as i64 + i64::from(uncompressed);
    bytes.extend(body);
    PageBytes { bytes, dictionary: dict, values, uncompressed }
}

/// The bytes of `file`.
pub fn write(file: &File) -> Vec<u8> {
    let mut out = b"PAR1".to_vec();
    // (column chunks of each row group: data offset, dictionary offset, values, bytes,
    // bytes uncompressed)
    let mut chunks = Vec::new();
    for rg in &file.row_groups {
        let mut cols = Vec::new();
        for pages in &rg.pages {
            let start = out.len() as i64;
            let (mut data_offset, mut dict_offset, mut values, mut uncompressed) = (None, None, 0i64, 0i64);
            for page in pages {
                let at = out.len() as i64;
                let page = page_bytes(page, file.codec, None);
                if page.dictionary {
                    dict_offset.get_or_insert(at);
                } else {
                    data_offset.get_or_insert(at);
                    values = values.saturating_add(page.values);
                }
                uncompressed = uncompressed.saturating_add(page.uncompressed);
                out.extend(page.bytes);
            }
            let len = out.len() as i64 - start;
            let values = rg.num_values.unwrap_or(values);
            cols.push((data_offset.unwrap_or(start), dict_offset, values, len, uncompressed));
        }
        chunks.push(cols);
    }
    let mut t = Thrift::new();
    t.i32(1, 1);
    let lists = file.columns.iter().filter(|c| c.physical & LIST != 0).count();
    t.list(2, 12, file.columns.len() + 1 + 2 * lists);
    t.element().binary(4, b"schema").i32(5, file.columns.len() as i32).end();
    for c in &file.columns {
        let element = if c.physical & LIST != 0 {
            // required group NAME (LIST) { repeated group list { ... element } }
            t.element().i32(3, 0).binary(4, c.name.as_bytes()).i32(5, 1).i32(6, 3).end();
            t.element().i32(3, 2).binary(4, b"list").i32(5, 1).end();
            "element"
        } else {
            &c.name
        };
        t.element().i32(1, physical(c)).i32(3, if c.optional { 1 } else { 0 }).binary(4, element.as_bytes()).end();
    }
    let total: i64 = file.row_groups.iter().map(|rg| rg.num_rows).fold(0, i64::saturating_add);
    t.i64(3, file.num_rows.unwrap_or(total));
    t.list(4, 12, file.row_groups.len());
    for (rg, cols) in file.row_groups.iter().zip(&chunks) {
        t.element();
        t.list(1, 12, cols.len());
        for (c, &(data_offset, dict_offset, values, len, uncompressed)) in file.columns.iter().zip(cols) {
            t.element().i64(2, data_offset);
            t.begin(3).i32(1, physical(c));
            t.list(2, 5, 3).i32_element(PLAIN).i32_element(RLE).i32_element(RLE_DICTIONARY);
            if c.physical & LIST != 0 {
                t.list(3, 8, 3).binary_element(c.name.as_bytes()).binary_element(b"list").binary_element(b"element");
            } else {
                t.list(3, 8, 1).binary_element(c.name.as_bytes());
            }
            t.i32(4, file.codec).i64(5, values).i64(6, uncompressed).i64(7, len).i64(9, data_offset);
            if let Some(d) = dict_offset {
                t.i64(11, d);
            }
            t.end().end();
        }
        let bytes: i64 = cols.iter().map(|c| c.3).sum();
        t.i64(2, bytes).i64(3, rg.num_rows);
        t.end();
    }
    t.end();
    let footer = t.buf;
    out.extend(&footer);
    out.extend((footer.len() as u32).to_le_bytes());
    out.extend(b"PAR1");
    out
}
