//! One repeated leaf column chunk (a `list` or `fixed_size_list` of `float32`, `float16` or
//! `uint8`) read page by page straight into row-major `f32` rows, without Arrow arrays.
//!
//! This serves the direct decode path's tensor columns ([`crate::source::decode::direct`]).
//! It reads what tensor data is written with: PLAIN and dictionary-encoded values, v1 and v2
//! data pages, repetition and definition levels in RLE, and only lists of exactly the row
//! width whose every element is present. Anything else — a null or empty list, a null element,
//! a list of another length, a page that starts inside a list (v1 pages may), another
//! encoding, anything malformed — gives `None`, and the caller leaves the block to arrow-rs,
//! which then applies the null policy or words the error.
//!
//! Every count is checked against the bytes the page holds before it is used: the levels are
//! walked with the bounded [`rle::Decoder`], which never sizes anything by a run, and the
//! values a page claims must be in its bytes.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::Encoding;
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::page_index::offset_index::PageLocation;
use parquet::file::serialized_reader::SerializedPageReader;

use crate::source::pages::chunks::ChunkSource;
use crate::source::pages::codec::{raw_pages, RawCodec};
use crate::source::pages::page_map::PageMap;
use crate::source::pages::rle;

/// IEEE half precision, as arrow-rs reads `float16`.
type HalfF16 = <arrow_array::types::Float16Type as arrow_array::ArrowPrimitiveType>::Native;

/// The element types read, each as Parquet stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Element {
    /// `FLOAT`.
    F32,
    /// `FIXED_LEN_BYTE_ARRAY(2)` with the `FLOAT16` logical type.
    F16,
    /// `INT32` with the `INT(8, false)` logical type: the value as a float, unscaled (as the
    /// Arrow path writes a `uint8`).
    U8,
}

impl Element {
    /// Bytes per PLAIN value.
    fn size(self) -> usize {
        match self {
            Element::F32 | Element::U8 => 4,
            Element::F16 => 2,
        }
    }

    /// The value of the PLAIN bytes `b` (`size()` of them), `None` for a `uint8` out of range
    /// (arrow-rs does not give the value as is).
    #[inline]
    fn value(self, b: &[u8]) -> Option<f32> {
        match self {
            Element::F32 => Some(f32::from_le_bytes(b.try_into().ok()?)),
            Element::F16 => Some(HalfF16::from_bits(u16::from_le_bytes(b.try_into().ok()?)).to_f32()),
            Element::U8 => u8::try_from(i32::from_le_bytes(b.try_into().ok()?)).ok().map(f32::from),
        }
    }
}

/// What a list's values are written as: `f32` (every element type), or `u8` (the values of a
/// `uint8` element kept as read, with `pixels = "uint8"`; another element type is `None`).
pub(crate) trait ListValue: Copy + 'static {
    /// The value of a `uint8` element.
    fn from_u8(v: u8) -> Self;
    /// The value of a float element (`f32`, `f16`), `None` when the output cannot hold it.
    fn from_float(v: f32) -> Option<Self>;
    /// The dictionary's values as `Self` (converted once per chunk).
    fn dictionary(values: &[f32]) -> Option<Vec<Self>>;
    /// Whether a value is finite (always, for `u8`).
    fn finite(values: &[Self]) -> bool;
}

impl ListValue for f32 {
    #[inline]
    fn from_u8(v: u8) -> Self {
        f32::from(v)
    }
    #[inline]
    fn from_float(v: f32) -> Option<Self> {
        Some(v)
    }
    fn dictionary(values: &[f32]) -> Option<Vec<Self>> {
        Some(values.to_vec())
    }
    fn finite(values: &[Self]) -> bool {
        values.iter().all(|v| v.is_finite())
    }
}

impl ListValue for u8 {
    #[inline]
    fn from_u8(v: u8) -> Self {
        v
    }
    #[inline]
    fn from_float(_: f32) -> Option<Self> {
        None
    }
    fn dictionary(values: &[f32]) -> Option<Vec<Self>> {
        // A `uint8` dictionary holds values checked to be in 0..=255 when it was read.
        values.iter().map(|&v| (v == v.trunc() && (0.0..=255.0).contains(&v)).then_some(v as u8)).collect()
    }
    fn finite(_: &[Self]) -> bool {
        true
    }
}

/// Where a repeated leaf column chunk is and how its rows are laid out.
pub(crate) struct ListChunk<'a> {
    /// The chunk's metadata.
    pub meta: &'a ColumnChunkMetaData,
    /// The element type.
    pub element: Element,
    /// The leaf's maximum definition level (that of a present element).
    pub max_def: i16,
    /// Rows of the row group (records the chunk must hold).
    pub rows: usize,
    /// Values per row.
    pub width: usize,
}

/// Append to `out` the `width` values of each row of `block` (rows of the row group) of the
/// chunk `chunk` in `source`; `Some(finite)` (false when a value is NaN or infinite), or `None`
/// when the chunk is outside what this reads or malformed. With `records` (the chunk's data
/// pages with the first record of each: [`PageMap::record_locations`]), the read starts at the
/// page holding the block's first row (after the dictionary page), and every page read must
/// hold the records its entry says; without, at the chunk's start. It goes on to one page
/// past the block, every page's levels checked (a record's length is only known from the
/// levels after it); only the block's values are converted.
pub(crate) fn read_lists<T: ListValue>(
    source: &Arc<ChunkSource>,
    chunk: &ListChunk,
    block: Range<usize>,
    records: Option<&[PageLocation]>,
    out: &mut Vec<T>,
) -> Option<bool> {
    let ListChunk { meta, element, max_def, rows, width } = *chunk;
    if width == 0 || max_def < 1 || block.end > rows || block.start > block.end {
        return None;
    }
    out.try_reserve(block.len().checked_mul(width)?).ok()?;
    // Snappy and Zstandard pages are read raw and decompressed here, into one reused buffer.
    let max_page = usize::try_from(meta.uncompressed_size()).ok()?;
    let (codec, meta) = raw_pages(meta)?;
    let meta = meta.as_ref();
    let mut reader =
        Reader { codec, max_page, buf: Vec::new(), dictionary: None, converted: None, indices: Vec::new(), element };
    // The page holding the block's first row, and the pages from it to the one holding the
    // first row after the block (`expected`: each one's first record and records).
    let first_page = records.map_or(0, |r| r.partition_point(|l| l.first_row_index as u64 <= block.start as u64));
    let (mut pages, mut expected, mut record) = match records {
        Some(locations) if first_page > 0 => {
            let p = first_page - 1;
            let q = locations.partition_point(|l| l.first_row_index as u64 <= block.end as u64).max(p + 1);
            let (start, len) = meta.byte_range();
            let from = locations[p].offset as u64;
            // Small pages are read in one read (with the dictionary page), not one read each.
            let last = &locations[q - 1];
            let to = (last.offset as u64).saturating_add(last.compressed_page_size as u64);
            let source = &if to.saturating_sub(from) <= SMALL_PAGE_BYTES * (q - p) as u64 {
                let mut own = ChunkSource::clone(source);
                let _ = own.preload(vec![start..locations[0].offset as u64, from..to]);
                Arc::new(own)
            } else {
                source.clone()
            };
            // The dictionary page, if any, is all that lies before the first data page.
            if (locations[0].offset as u64) > start {
                let first = SerializedPageReader::new(source.clone(), meta, rows, Some(vec![locations[0].clone()]));
                match first.ok()?.get_next_page().ok()? {
                    Some(page @ Page::DictionaryPage { .. }) => reader.read_dictionary(page)?,
                    _ => return None,
                }
            }
            // The chunk from page `p` on, as a chunk of its own without a dictionary page.
            let rest = meta
                .clone()
                .into_builder()
                .set_dictionary_page_offset(None)
                .set_data_page_offset(i64::try_from(from).ok()?)
                .set_total_compressed_size(i64::try_from((start + len).checked_sub(from)?).ok()?)
                .build()
                .ok()?;
            let pages = SerializedPageReader::new(source.clone(), &rest, rows, Some(locations[p..q].to_vec())).ok()?;
            let ends = locations[p + 1..].iter().map(|l| l.first_row_index as u64).chain([rows as u64]);
            let expected: Vec<(u64, u64)> =
                locations[p..q].iter().zip(ends).map(|(l, end)| (l.first_row_index as u64, end)).collect();
            (pages, Some(expected.into_iter()), usize::try_from(locations[p].first_row_index).ok()?)
        }
        _ => (SerializedPageReader::new(source.clone(), meta, rows, None).ok()?, None, 0),
    };
    let def_width = (16 - max_def.leading_zeros()) as u8;
    let mut finite = true;
    while let Some(page) = pages.get_next_page().ok()? {
        let (n, page, reps, defs, data, encoding, claimed_rows) = match page {
            page @ Page::DictionaryPage { .. } => {
                reader.read_dictionary(page)?;
                continue;
            }
            Page::DataPage { buf, num_values, encoding, def_level_encoding, rep_level_encoding, .. } => {
                if def_level_encoding != Encoding::RLE || rep_level_encoding != Encoding::RLE {
                    return None;
                }
                let page = reader.decompress(buf, 0, true, num_values as usize)?;
                let bytes = page.as_ref();
                // Repetition levels, then definition levels, each after its 4-byte length.
                let rep_len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
                let rep_end = rep_len.checked_add(4).filter(|&e| e <= bytes.len())?;
                let def_len = u32::from_le_bytes(bytes.get(rep_end..rep_end + 4)?.try_into().ok()?) as usize;
                let def_end = def_len.checked_add(rep_end + 4).filter(|&e| e <= bytes.len())?;
                let all = bytes.len();
                (num_values as usize, page, 4..rep_end, rep_end + 4..def_end, def_end..all, encoding, None)
            }
            Page::DataPageV2 {
                buf,
                num_values,
                num_nulls,
                encoding,
                num_rows,
                def_levels_byte_len,
                rep_levels_byte_len,
                is_compressed,
                ..
            } => {
                let (rep_len, def_len) = (rep_levels_byte_len as usize, def_levels_byte_len as usize);
                let keep = rep_len.checked_add(def_len).filter(|&k| k <= buf.len())?;
                if num_nulls != 0 {
                    return None;
                }
                let page = reader.decompress(buf, keep, is_compressed, num_values as usize)?;
                let all = page.as_ref().len();
                (num_values as usize, page, 0..rep_len, rep_len..keep, keep..all, encoding, Some(num_rows as usize))
            }
        };
        let bytes = page.as_ref();
        // arrow-rs sets up a page's decoder before reading it: an encoding it refuses, a
        // dictionary page missing, or an index bit width missing or over 32 is an error there
        // even on a page of no values; such pages are left to it.
        let dictionary_encoded = matches!(encoding, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY);
        if dictionary_encoded
            && (reader.dictionary.is_none() || bytes.get(data.clone()).and_then(|d| d.first()).is_none_or(|&w| w > 32))
            || !dictionary_encoded && encoding != Encoding::PLAIN
        {
            return None;
        }
        // Whole lists only: a page of no values, or one that does not end a list, is left to
        // arrow-rs.
        if n == 0 || n % width != 0 {
            return None;
        }
        let records = n / width;
        if claimed_rows.is_some_and(|r| r != records) || record.checked_add(records)? > rows {
            return None;
        }
        // A page read by the record index must be where, and hold what, the index says.
        if let Some(expected) = &mut expected {
            if expected.next()? != (record as u64, (record + records) as u64) {
                return None;
            }
        }
        check_levels(bytes.get(reps)?, bytes.get(defs)?, def_width, max_def, records, width)?;
        let (lo, hi) = (block.start.max(record), block.end.min(record + records));
        if lo < hi {
            let data = bytes.get(data)?;
            let (skip, take) = ((lo - record) * width, (hi - lo) * width);
            finite &= match encoding {
                Encoding::PLAIN => plain(data, element, n, skip, take, out)?,
                _ => reader.dictionary_values(data, skip, take, out)?,
            };
        }
        reader.recycle(page);
        record += records;
        // A block that ends before the chunk stops at the first page that holds a row after
        // its last one: when the last row ends a page, arrow-rs reads the next page's first
        // levels to know that the row ended (and fails on it if it is malformed), but no further.
        if block.end < rows && record > block.end {
            return Some(finite);
        }
    }
    (record == rows).then_some(finite)
}

/// Pages smaller than this on average are read together, in one read, instead of one read each.
const SMALL_PAGE_BYTES: u64 = 16 << 10;

/// The largest column chunk [`count_records`] reads in one read (a larger one is read a page at
/// a time).
const COUNT_PRELOAD_MAX: u64 = 64 << 20;

/// The records of each data page of the repeated column chunk `meta` (maximum repetition level
/// `max_rep`) in `source`, whose pages `map` holds, counted from their repetition levels (a v2
/// page's from its header, as arrow-rs takes them); `None` when a page starts inside a record
/// (a v1 page may, and then no offset index can describe the chunk), its levels end before
/// the values it claims or are not RLE, or a page cannot be read. Reads (and decompresses)
/// every page once; the caller keeps the result for every block of the chunk.
pub(crate) fn count_records(
    source: &Arc<ChunkSource>,
    meta: &ColumnChunkMetaData,
    max_rep: i16,
    rows: usize,
    map: &PageMap,
) -> Option<Vec<u64>> {
    if max_rep < 1 {
        return None;
    }
    let width = (16 - max_rep.leading_zeros()) as u8;
    // A chunk of small pages is read in one read (up to a bound), not one read a page.
    let (start, len) = meta.byte_range();
    let small = len <= COUNT_PRELOAD_MAX && len <= SMALL_PAGE_BYTES * map.locations.len().max(1) as u64;
    let source = &if small {
        let mut own = ChunkSource::clone(source);
        let chunk = start..start.checked_add(len)?;
        let _ = own.preload(Vec::from([chunk]));
        Arc::new(own)
    } else {
        source.clone()
    };
    let mut pages = SerializedPageReader::new(source.clone(), meta, rows, Some(map.locations.clone())).ok()?;
    let mut counts = Vec::new();
    counts.try_reserve(map.locations.len()).ok()?;
    let mut levels = Vec::new();
    while let Some(page) = pages.get_next_page().ok()? {
        let records = match page {
            Page::DictionaryPage { .. } => continue,
            Page::DataPageV2 { num_rows, .. } => u64::from(num_rows),
            Page::DataPage { buf, num_values, rep_level_encoding, .. } => {
                if rep_level_encoding != Encoding::RLE {
                    return None;
                }
                let n = num_values as usize;
                let len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
                let mut reps = rle::Decoder::new(buf.get(4..4 + len)?, width)?;
                let mut records = 0u64;
                let mut left = n;
                while left > 0 {
                    let k = left.min(4096);
                    levels.clear();
                    reps.decode(k, &mut levels)?;
                    // A page of values starts a record.
                    if left == n && levels[0] != 0 {
                        return None;
                    }
                    records += levels.iter().filter(|&&l| l == 0).count() as u64;
                    left -= k;
                }
                records
            }
        };
        counts.push(records);
    }
    Some(counts)
}

/// Check that the levels of a page of `records` records are those of `records` lists of
/// `width` present values: repetition levels (bit width 1) `0` then `width - 1` ones, and every
/// definition level `max_def`.
fn check_levels(reps: &[u8], defs: &[u8], def_width: u8, max_def: i16, records: usize, width: usize) -> Option<()> {
    let mut rep = rle::Decoder::new(reps, 1)?;
    for _ in 0..records {
        // Levels of one bit: a sum of 0 over one value is a 0; of w - 1 over w - 1, all ones.
        if rep.skip(1)? != 0 || rep.skip(width - 1)? != (width - 1) as u64 {
            return None;
        }
    }
    let n = records * width;
    let mut def = rle::Decoder::new(defs, def_width)?;
    let max = max_def as u64;
    if max == (1u64 << def_width) - 1 {
        // No level exceeds the largest value of its width: a sum of n · max means every one is max.
        return (def.skip(n)? == n as u64 * max).then_some(());
    }
    let mut levels = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(4096);
        levels.clear();
        def.decode(k, &mut levels)?;
        if levels.iter().any(|&l| l as u64 != max) {
            return None;
        }
        left -= k;
    }
    Some(())
}

/// Append the PLAIN values `skip..skip + take` of a page of `n` values `data` to `out`.
fn plain<T: ListValue>(
    data: &[u8],
    element: Element,
    n: usize,
    skip: usize,
    take: usize,
    out: &mut Vec<T>,
) -> Option<bool> {
    let size = element.size();
    // Every level is a present value: the page must hold them all.
    if n.checked_mul(size)? > data.len() {
        return None;
    }
    let bytes = &data[skip * size..(skip + take) * size];
    let start = out.len();
    match element {
        Element::F32 => {
            for &b in bytes.as_chunks::<4>().0 {
                out.push(T::from_float(f32::from_le_bytes(b))?);
            }
        }
        Element::F16 => {
            for &b in bytes.as_chunks::<2>().0 {
                out.push(T::from_float(HalfF16::from_bits(u16::from_le_bytes(b)).to_f32())?);
            }
        }
        Element::U8 => {
            // Per run of 256 values (in L1): one branch-free pass checks that every value is
            // in 0..=255 (its high bytes are 0), then the low bytes are taken; both vectorise.
            for run in bytes.as_chunks::<4>().0.chunks(256) {
                if run.iter().fold(0u32, |high, b| high | (u32::from_le_bytes(*b) >> 8)) != 0 {
                    return None;
                }
                out.extend(run.iter().map(|b| T::from_u8(b[0])));
            }
            return Some(true);
        }
    }
    Some(T::finite(&out[start..]))
}

/// A page's bytes: as read, or decompressed into the reader's buffer.
enum PageBytes {
    Shared(Bytes),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for PageBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            PageBytes::Shared(b) => b,
            PageBytes::Owned(v) => v,
        }
    }
}

/// What reading a chunk's pages keeps between them.
struct Reader {
    /// Pages come raw, compressed with this codec.
    codec: Option<RawCodec>,
    /// No page decompresses to more than the column chunk's uncompressed size.
    max_page: usize,
    /// A decompression buffer, reused.
    buf: Vec<u8>,
    /// The dictionary's values, converted.
    dictionary: Option<Vec<f32>>,
    /// The dictionary's values as the output type, once needed (`Box<dyn Any>`: one reader
    /// serves one output type).
    converted: Option<Box<dyn std::any::Any>>,
    /// Dictionary indices, reused.
    indices: Vec<u32>,
    element: Element,
}

impl Reader {
    /// `raw[keep..]` decompressed after `raw[..keep]` (the uncompressed levels of a v2 page),
    /// when the pages come raw and `compressed`; else `raw` itself. A page of `values` values
    /// (levels) is refused when it claims more than they can take
    /// ([`page_bound`](super::codec::page_bound)).
    fn decompress(&mut self, raw: Bytes, keep: usize, compressed: bool, values: usize) -> Option<PageBytes> {
        let Some(codec) = self.codec.filter(|_| compressed) else { return Some(PageBytes::Shared(raw)) };
        let len = codec.page_len(&raw, keep, self.max_page, values, self.element.size())?;
        let mut buf = std::mem::take(&mut self.buf);
        // The codec writes every byte of `buf[..len]` (or fails): zero only what was never used.
        if buf.len() < len {
            buf.try_reserve(len - buf.len()).ok()?;
            buf.resize(len, 0);
        }
        buf.truncate(len);
        codec.decompress_into(&raw, keep, &mut buf)?;
        Some(PageBytes::Owned(buf))
    }

    fn recycle(&mut self, page: PageBytes) {
        if let PageBytes::Owned(buf) = page {
            self.buf = buf;
        }
    }

    /// Keep a dictionary page's values, converted (`None` for a second one, an unknown
    /// encoding, or a value the Arrow path would not give as is).
    fn read_dictionary(&mut self, page: Page) -> Option<()> {
        let Page::DictionaryPage { buf, num_values, encoding, .. } = page else { return None };
        if self.dictionary.is_some() || !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
            return None;
        }
        let page = self.decompress(buf, 0, true, num_values as usize)?;
        let size = self.element.size();
        let len = (num_values as usize).checked_mul(size)?;
        let bytes = page.as_ref().get(..len)?;
        let mut values = Vec::new();
        values.try_reserve(num_values as usize).ok()?;
        for b in bytes.chunks_exact(size) {
            values.push(self.element.value(b)?);
        }
        self.dictionary = Some(values);
        self.recycle(page);
        Some(())
    }

    /// Append the values `skip..skip + take` of a dictionary-encoded page `data` to `out`.
    fn dictionary_values<T: ListValue>(
        &mut self,
        data: &[u8],
        skip: usize,
        take: usize,
        out: &mut Vec<T>,
    ) -> Option<bool> {
        if self.converted.is_none() {
            self.converted = Some(Box::new(T::dictionary(self.dictionary.as_ref()?)?));
        }
        let dictionary: &Vec<T> = self.converted.as_ref()?.downcast_ref()?;
        let (&bit_width, packed) = data.split_first()?;
        let mut indices = rle::Decoder::new(packed, bit_width)?;
        indices.skip(skip)?;
        let mut finite = true;
        let mut left = take;
        while left > 0 {
            let k = left.min(4096);
            self.indices.clear();
            indices.decode(k, &mut self.indices)?;
            let start = out.len();
            for &i in &self.indices {
                out.push(*dictionary.get(i as usize)?);
            }
            if self.element != Element::U8 {
                finite &= T::finite(&out[start..]);
            }
            left -= k;
        }
        Some(finite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_whole_lists_of_present_values_only_are_read() {
        // Levels of 2 records of width 3: repetition 0 1 1 0 1 1 (one bit-packed group),
        // definition levels an RLE run of 6 × 1.
        let reps = [0x03, 0b0011_0110];
        assert!(check_levels(&reps, &[0x0c, 0x01], 1, 1, 2, 3).is_some());
        // The same levels one value later: the page starts inside a list.
        assert!(check_levels(&[0x03, 0b0001_1011], &[0x0c, 0x01], 1, 1, 2, 3).is_none());
        // A list of 2, then one of 4.
        assert!(check_levels(&[0x03, 0b0011_1010], &[0x0c, 0x01], 1, 1, 2, 3).is_none());
        // A null element (a level below the maximum), with widths 1 and 2, and one level short.
        assert!(check_levels(&reps, &[0x0a, 0x01, 0x02, 0x00], 1, 1, 2, 3).is_none());
        assert!(check_levels(&reps, &[0x0c, 0x02], 2, 3, 2, 3).is_none());
        assert!(check_levels(&reps, &[0x0c, 0x03], 2, 3, 2, 3).is_some());
        assert!(check_levels(&reps, &[0x0c, 0x02], 2, 2, 2, 3).is_some(), "max 2 in 2 bits, decoded");
        assert!(check_levels(&reps, &[0x0a, 0x02, 0x02, 0x03], 2, 2, 2, 3).is_none(), "a level over the maximum");
        assert!(check_levels(&reps, &[0x0a, 0x01], 1, 1, 2, 3).is_none(), "five levels for six values");
    }

    #[test]
    fn plain_uint8_out_of_range_is_not_read() {
        let mut out: Vec<f32> = Vec::new();
        let page: Vec<u8> = [3i32, 255, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(plain(&page, Element::U8, 3, 0, 3, &mut out), Some(true));
        assert_eq!(out, [3.0, 255.0, 0.0]);
        let page: Vec<u8> = [3i32, 256].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(plain(&page, Element::U8, 2, 0, 2, &mut out), None);
        assert_eq!(
            plain(&page[..7], Element::U8, 2, 0, 1, &mut out),
            None,
            "the page holds fewer values than it claims"
        );
        // Kept as bytes, past a run of 256 values; a value out of range in a later run.
        let values: Vec<i32> = (0..600).map(|i| (i * 7) % 256).collect();
        let page: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut bytes: Vec<u8> = Vec::new();
        assert_eq!(plain(&page, Element::U8, 600, 5, 590, &mut bytes), Some(true));
        assert_eq!(bytes, values[5..595].iter().map(|&v| v as u8).collect::<Vec<_>>());
        let mut values = values;
        values[400] = -1;
        let page: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(plain(&page, Element::U8, 600, 0, 600, &mut bytes), None);
        // Float elements do not become bytes.
        let page: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(plain(&page, Element::F32, 2, 0, 2, &mut Vec::<u8>::new()), None);
    }
}
