//! One flat numeric column chunk read page by page into runs of plain little-endian values,
//! without Arrow arrays: a plain page with no nulls is used as decompressed, with no copy.
//!
//! This serves the direct decode path ([`crate::source::decode::direct`]). It handles what numeric training
//! data is written with (PLAIN, BYTE_STREAM_SPLIT and dictionary-encoded values, v1 and v2 data
//! pages, optional columns whose definition levels are RLE); anything else, and anything malformed, gives
//! `None` so that the caller falls back to arrow-rs, which decodes the rest and words the errors.
//!
//! Pages are read as the transpose reaches their rows and dropped once it has passed them, so
//! only a page or two per column is in memory (and in cache) at a time.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use arrow_schema::DataType;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::page_index::offset_index::PageLocation;
use parquet::file::serialized_reader::SerializedPageReader;

use crate::source::bytes::pool::{grow_to_fit, PooledBytes, Pools};
use crate::source::pages::chunks::ChunkSource;
use crate::source::pages::codec::{raw_pages, RawCodec};
use crate::source::pages::page_map::PageMap;
use crate::source::pages::rle;
use crate::source::pages::shared::{ChunkKey, SharedPage, SharedPages};

/// The value types the direct path reads, each stored as itself in Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plain {
    F32,
    F64,
    I32,
    I64,
}

impl Plain {
    /// The type of a column whose Parquet type is `physical` and Arrow type is `arrow`, when
    /// the direct path reads it (unsigned and narrow integers, decimals and halves do not).
    pub fn of(physical: PhysicalType, arrow: &DataType) -> Option<Self> {
        match (physical, arrow) {
            (PhysicalType::FLOAT, DataType::Float32) => Some(Plain::F32),
            (PhysicalType::DOUBLE, DataType::Float64) => Some(Plain::F64),
            (PhysicalType::INT32, DataType::Int32) => Some(Plain::I32),
            (PhysicalType::INT64, DataType::Int64) => Some(Plain::I64),
            _ => None,
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Plain::F32 | Plain::I32 => 4,
            Plain::F64 | Plain::I64 => 8,
        }
    }
}

/// A column chunk's values as they are read: runs of plain little-endian values covering its
/// rows in order (a null row holds zero bytes), and the null rows met so far.
pub(crate) struct PlainColumn {
    /// (first row, values) of the pages read and not yet released; contiguous, non-empty.
    runs: VecDeque<(usize, Run)>,
    /// Null rows, ascending.
    pub nulls: Vec<usize>,
    pages: PageStream,
}

/// The values of one page.
enum Run {
    /// A slice of the page as read (uncompressed pages).
    Shared(Bytes),
    /// Part of a buffer of ours (decompressed or expanded; kept longer than needed so that
    /// reuse does not zero it again), reused once released.
    Owned(Vec<u8>, Range<usize>),
}

impl Run {
    fn bytes(&self) -> &[u8] {
        match self {
            Run::Shared(b) => b,
            Run::Owned(v, r) => &v[r.clone()],
        }
    }

    /// The run's bytes as shared bytes (a buffer of ours is handed over, not copied, and goes
    /// back to the page pool of `pools` when the last slice of it is dropped).
    fn into_bytes(self, pools: &Arc<Pools>) -> Bytes {
        match self {
            Run::Shared(b) => b,
            Run::Owned(v, r) => Bytes::from_owner(PooledBytes::page(pools, v)).slice(r),
        }
    }

    /// The bytes at `range` of this run's bytes.
    fn narrow(self, range: Range<usize>) -> Run {
        match self {
            Run::Shared(b) => Run::Shared(b.slice(range)),
            Run::Owned(v, r) => Run::Owned(v, r.start + range.start..r.start + range.end),
        }
    }
}

impl PlainColumn {
    /// Start reading rows `block` of the column chunk `meta` (of a row group of `rows` rows,
    /// flat, with maximum definition level `max_def` ≤ 1) from `source` as values of `kind`.
    /// Pages before the block are skipped by their headers, without decompressing them. Rows
    /// in the methods below count from the block's first row. With `shared`, a block that is
    /// part of its row group takes the chunk's dictionary and a page it shares with the block
    /// before it from there when they are kept, and keeps them for the other blocks otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        source: &Arc<ChunkSource>,
        meta: &ColumnChunkMetaData,
        kind: Plain,
        max_def: i16,
        rows: usize,
        block: Range<usize>,
        map: Option<&PageMap>,
        shared: Option<(&Arc<SharedPages>, ChunkKey)>,
    ) -> Option<Self> {
        // Snappy and Zstandard pages are read raw and decompressed here, into reused buffers.
        let compressed = meta.compression() != Compression::UNCOMPRESSED;
        let max_page = usize::try_from(meta.uncompressed_size()).ok()?;
        // With a page map, the reader gets the locations of the block's pages only.
        let map = map.filter(|m| m.rows == rows as u64 && !m.locations.is_empty() && block.start < block.end);
        // (A block that ends the chunk takes its pages of no rows too: finish() reads them.)
        let pages_of_block = map.map(|m| {
            let last = if block.end >= rows { m.locations.len() - 1 } else { m.page_of(block.end as u64 - 1) };
            (m.page_of(block.start as u64), last)
        });
        let (codec, meta) = raw_pages(meta)?;
        let meta = meta.as_ref();
        let locations = map.zip(pages_of_block).map(|(m, (i, j))| m.locations[i..=j].to_vec());
        let pages = SerializedPageReader::new(source.clone(), meta, rows, locations).ok()?;
        let stream = PageStream {
            pages,
            codec,
            max_page,
            kind,
            max_def,
            rows,
            block: block.clone(),
            next_row: 0,
            bounds: None,
            dictionary: None,
            // Only a block that is part of its row group shares with the others.
            shared: shared.filter(|_| block.len() < rows).map(|(cache, key)| (cache.clone(), key)),
            compressed,
            page_index: 0,
            first_page: 0,
            levels: Vec::new(),
            spare: Vec::new(),
            pools: source.pools().clone(),
        };
        let mut column = PlainColumn { runs: VecDeque::new(), nulls: Vec::new(), pages: stream };
        match map.zip(pages_of_block) {
            Some((map, (i, j))) => column.pages.start_with(source, meta, map, i..j + 1)?,
            None => column.pages.skip_to(block.start)?,
        }
        Some(column)
    }

    /// The type of the values.
    pub fn kind(&self) -> Plain {
        self.pages.kind
    }

    /// Read pages until rows `..to` are in memory; `None` when a page is malformed, uses an
    /// encoding the direct path does not read, or the chunk ends first.
    #[inline]
    pub fn fill_to(&mut self, to: usize) -> Option<()> {
        let to = to + self.pages.block.start;
        while self.end() < to {
            let run = self.pages.next_run(&mut self.nulls)??;
            self.runs.push_back(run);
        }
        Some(())
    }

    /// When the block ends the row group, check that the chunk holds no more values after its
    /// last row (`None` if it does, or if a page is malformed).
    pub fn finish(&mut self) -> Option<()> {
        if self.pages.block.end < self.pages.rows {
            return Some(());
        }
        self.fill_to(self.pages.block.len())?;
        match self.pages.next_run(&mut self.nulls)? {
            None => Some(()),
            Some(_) => None,
        }
    }

    /// Drop the runs that end at or before row `row` (their buffers are kept for reuse).
    #[inline]
    pub fn release_before(&mut self, row: usize) {
        let row = row + self.pages.block.start;
        let size = self.pages.kind.size();
        while self.runs.front().is_some_and(|(first, run)| first + run.bytes().len() / size <= row) {
            if let Some((_, Run::Owned(buf, _))) = self.runs.pop_front() {
                self.pages.spare.push(buf);
            }
        }
    }

    /// The values of rows `from..to`, or of the part of them in the run holding `from`, as
    /// (bytes, end row). Rows `from..to` must have been filled and not released.
    #[inline]
    pub fn values(&self, from: usize, to: usize) -> (&[u8], usize) {
        let base = self.pages.block.start;
        let (from, to) = (from + base, to + base);
        let size = self.pages.kind.size();
        // Runs are contiguous and ascending: the one holding `from` is the last starting at or
        // before it (a binary search: a tile may span thousands of one-value pages).
        let i = self.runs.partition_point(|(first, _)| *first <= from);
        if let Some((first, run)) = i.checked_sub(1).and_then(|i| self.runs.get(i)) {
            let bytes = run.bytes();
            let end = first + bytes.len() / size;
            if from < end {
                let stop = to.min(end);
                return (&bytes[(from - first) * size..(stop - first) * size], stop - base);
            }
        }
        // Not filled: the caller checked `fill_to` first, so this is never reached.
        (&[], to)
    }

    /// The row after the last one in memory.
    fn end(&self) -> usize {
        self.runs.back().map_or(0, |(first, run)| first + run.bytes().len() / self.pages.kind.size())
    }
}

/// A data page once decompressed: (values, the page, definition levels' range, values' range,
/// encoding, the nulls a v2 header claims).
type ReadPage = (usize, Run, Option<Range<usize>>, Range<usize>, Encoding, Option<usize>);

/// The pages of one column chunk, each turned into a run of plain values.
struct PageStream {
    pages: SerializedPageReader<ChunkSource>,
    /// Pages come raw, compressed with this codec.
    codec: Option<RawCodec>,
    /// No page decompresses to more than the column chunk's uncompressed size.
    max_page: usize,
    kind: Plain,
    max_def: i16,
    /// Rows the chunk must hold.
    rows: usize,
    /// The rows wanted.
    block: Range<usize>,
    /// Rows read so far.
    next_row: usize,
    /// With a page map: the rows the map gives the pages from the next one on (each page read
    /// must hold just as many).
    bounds: Option<VecDeque<usize>>,
    /// The dictionary's values (shared with the row group's other blocks).
    dictionary: Option<Bytes>,
    /// Where the row group's blocks share dictionaries and pages, and this chunk's key there.
    shared: Option<(Arc<SharedPages>, ChunkKey)>,
    /// The chunk's pages are compressed (a page read again is decompressed again).
    compressed: bool,
    /// With a page map: the map's index of the next data page the reader gives.
    page_index: usize,
    /// With a page map: the map's index of the block's first page.
    first_page: usize,
    levels: Vec<u32>,
    /// Buffers of released runs.
    spare: Vec<Vec<u8>>,
    /// Where buffers come from and go back to, across row groups.
    pools: Arc<Pools>,
}

impl Drop for PlainColumn {
    fn drop(&mut self) {
        for (_, run) in self.runs.drain(..) {
            if let Run::Owned(buf, _) = run {
                self.pages.spare.push(buf);
            }
        }
    }
}

impl Drop for PageStream {
    fn drop(&mut self) {
        for buf in self.spare.drain(..) {
            self.pools.pages.give(buf);
        }
    }
}

impl PageStream {
    /// A buffer of at least `len` bytes, its contents unspecified (a released one when there
    /// is one, so that it is neither allocated nor zeroed again; one grown is grown to its
    /// whole capacity, zeroed once).
    fn buffer(&mut self, len: usize) -> Vec<u8> {
        match self.spare.pop() {
            Some(mut buf) if buf.capacity() >= len => {
                grow_to_fit(&mut buf, len);
                buf
            }
            // Too small: back to the pool, and a big enough one from there (growing it would
            // copy its old contents and zero the rest).
            small => {
                if let Some(b) = small {
                    self.pools.pages.give(b);
                }
                self.pools.pages.take_at_least(len)
            }
        }
    }

    /// `raw[keep..]` decompressed after `raw[..keep]` (the uncompressed levels of a v2 page),
    /// when the pages come raw and `compressed`; else `raw` itself.
    /// A page of `values` values is refused when it claims more than they can take
    /// ([`page_bound`](super::codec::page_bound)).
    fn decompress(&mut self, raw: Bytes, keep: usize, compressed: bool, values: usize) -> Option<Run> {
        let Some(codec) = self.codec.filter(|_| compressed) else { return Some(Run::Shared(raw)) };
        let len = codec.page_len(&raw, keep, self.max_page, values, self.kind.size())?;
        let mut buf = self.buffer(len);
        codec.decompress_into(&raw, keep, &mut buf[..len])?;
        Some(Run::Owned(buf, 0..len))
    }

    /// Skip the data pages that end before row `row`, by their headers (the dictionary page
    /// is read on the way).
    fn skip_to(&mut self, row: usize) -> Option<()> {
        if row == 0 {
            return Some(());
        }
        loop {
            let Some(meta) = self.pages.peek_next_page().ok()? else { return Some(()) };
            if meta.is_dict {
                let page = self.pages.get_next_page().ok()??;
                self.read_dictionary(page)?;
                continue;
            }
            // Flat columns: one level per row.
            let n = meta.num_rows.or(meta.num_levels)?;
            if self.next_row.checked_add(n)? > row {
                return Some(());
            }
            self.pages.skip_next_page().ok()?;
            self.next_row += n;
        }
    }

    /// Start at the first of `pages` (indices into the map), which the reader was given the
    /// locations of: read the chunk's dictionary page, if any, by its own location (the region
    /// before the chunk's first data page), and skip the region the reader takes for one.
    fn start_with(
        &mut self,
        source: &Arc<ChunkSource>,
        meta: &ColumnChunkMetaData,
        map: &PageMap,
        pages: Range<usize>,
    ) -> Option<()> {
        let start = meta.byte_range().0;
        let first_data = map.locations[0].offset as u64;
        if first_data > start {
            let size = i32::try_from(first_data - start).ok()?;
            let location = PageLocation { offset: start as i64, compressed_page_size: size, first_row_index: 0 };
            let (rows, shared) = (self.rows, self.shared.clone());
            let read = || {
                let mut reader = SerializedPageReader::new(source.clone(), meta, rows, Some(vec![location])).ok()?;
                let page = reader.get_next_page().ok()??;
                self.read_dictionary(page)?;
                self.dictionary.clone()
            };
            // The row group's other blocks read it once for all.
            let dictionary = match shared {
                Some((cache, key)) => cache.dictionary(&key, read)?,
                None => read()?,
            };
            self.dictionary = Some(dictionary);
        }
        // The reader takes the bytes before the block's first page for a dictionary page.
        if self.pages.peek_next_page().ok()?.is_some_and(|m| m.is_dict) {
            self.pages.skip_next_page().ok()?;
        }
        let mut bounds = VecDeque::new();
        bounds.try_reserve(pages.len()).ok()?;
        bounds.extend(pages.clone().map(|i| map.rows_of(i) as usize));
        self.next_row = map.locations[pages.start].first_row_index as usize;
        self.bounds = Some(bounds);
        (self.page_index, self.first_page) = (pages.start, pages.start);
        Some(())
    }

    /// Keep a dictionary page's values (`None` for a second one or an unknown encoding).
    fn read_dictionary(&mut self, page: Page) -> Option<()> {
        let Page::DictionaryPage { buf, num_values, encoding, .. } = page else { return None };
        if self.dictionary.is_some() || !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
            return None;
        }
        let page = self.decompress(buf, 0, true, num_values as usize)?;
        let len = (num_values as usize).checked_mul(self.kind.size())?;
        if len > page.bytes().len() {
            self.recycle(page);
            return None;
        }
        // A page as read is copied out rather than kept: it is a slice of a chunk's bytes,
        // which it would hold in memory as long as the dictionary is kept.
        self.dictionary = Some(match page {
            Run::Shared(b) => Bytes::copy_from_slice(&b[..len]),
            owned => owned.into_bytes(&self.pools).slice(..len),
        });
        Some(())
    }

    /// The next data page's run: `Some(None)` at the end of the chunk, `None` when a page is
    /// malformed or outside what the direct path reads. Null rows are appended to `nulls`.
    fn next_run(&mut self, nulls: &mut Vec<usize>) -> Option<Option<(usize, Run)>> {
        let size = self.kind.size();
        loop {
            // A compressed page that holds rows of another block too is read (and decompressed)
            // once for the row group's blocks.
            let spans =
                self.bounds.as_ref().and_then(|b| b.front()).is_some_and(|&n| {
                    self.next_row < self.block.start || self.next_row.saturating_add(n) > self.block.end
                });
            let kept = match self.shared.clone() {
                Some((cache, key)) if spans && self.compressed => {
                    let mut read_here = false;
                    let page = cache.page(&key, self.page_index, || {
                        read_here = true;
                        let page = self.pages.next()?.ok()?;
                        let (values, page, defs, data, encoding, claimed_nulls) = self.read_page(page)??;
                        let bytes = page.into_bytes(&self.pools);
                        Some(SharedPage { values, bytes, defs, data, encoding, claimed_nulls })
                    })?;
                    if !read_here {
                        self.pages.skip_next_page().ok()?;
                    }
                    Some(page)
                }
                _ => None,
            };
            // (values, the page, definition levels' range, values' range, encoding, the nulls
            // a v2 header claims)
            let (n, page, defs, data, encoding, claimed_nulls) = if let Some(kept) = kept {
                let SharedPage { values, bytes, defs, data, encoding, claimed_nulls } = kept;
                (values, Run::Shared(bytes), defs, data, encoding, claimed_nulls)
            } else {
                let Some(page) = self.pages.next() else {
                    // With a page map the reader ends at the block's last page.
                    let end = if self.bounds.is_some() {
                        self.next_row >= self.block.end
                    } else {
                        self.next_row == self.rows
                    };
                    return end.then_some(None);
                };
                match self.read_page(page.ok()?)? {
                    Some(page) => page,
                    // A dictionary page, now read.
                    None => continue,
                }
            };
            self.page_index += 1;
            if let Some(bounds) = &mut self.bounds {
                // The page must hold the rows its location says.
                if bounds.pop_front() != Some(n) {
                    return None;
                }
            }
            // arrow-rs sets up a page's decoder even when the page holds no values: it fails on
            // a dictionary-encoded page without a dictionary, and on an encoding it does not
            // read. Such a page is left to arrow-rs, whatever its size.
            let dictionary_encoded = matches!(encoding, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY);
            if dictionary_encoded && self.dictionary.is_none()
                || !dictionary_encoded && !matches!(encoding, Encoding::PLAIN | Encoding::BYTE_STREAM_SPLIT)
            {
                return None;
            }
            // arrow-rs reads a dictionary-encoded page's index bit width when it sets the page
            // up, and refuses one over 32, or none at all, even when no value is decoded (all
            // nulls, say; differential findings 3b3bef6d and f6a5b281).
            if dictionary_encoded && page.bytes().get(data.clone()).and_then(|d| d.first()).is_none_or(|&w| w > 32) {
                return None;
            }
            // A data page of no values is left to arrow-rs: what it makes of one varies with
            // the pages around it (after a dictionary page it can end the chunk early, so the
            // row group decodes to fewer rows than its footer says, an error). Writers do not
            // leave such pages in files with rows, so nothing fast is lost.
            if n == 0 {
                return None;
            }
            let row = self.next_row;
            if row.checked_add(n)? > self.rows {
                return None;
            }
            self.next_row += n;
            // Only the page's rows in the block are decoded: a page may claim far more values
            // than the block needs (an RLE run of 2^31 values takes six bytes).
            let (lo, hi) = (self.block.start.max(row), self.block.end.min(row + n));
            if lo >= hi {
                self.recycle(page);
                continue;
            }
            let (skip, take) = (lo - row, hi - lo);
            let bytes = page.bytes();
            // (present values before the block's rows, among them, after them (when needed))
            let (before, present, mut levels) = match &defs {
                Some(defs) => {
                    let mut levels = rle::Decoder::new(bytes.get(defs.clone())?, 1)?;
                    let before = usize::try_from(levels.skip(skip)?).ok()?;
                    // Count the block's present rows first (an RLE run of ones in O(1)); the
                    // levels are written out only when some rows are null, for `expand`.
                    let mut ahead = levels.clone();
                    let present = usize::try_from(ahead.skip(take)?).ok()?;
                    if present == take {
                        levels = ahead;
                    } else {
                        self.levels.clear();
                        levels.decode(take, &mut self.levels)?;
                    }
                    (before, present, Some(levels))
                }
                None => (skip, take, None),
            };
            // The present values after the block's rows, when needed: for the streams of a
            // BYTE_STREAM_SPLIT page, and to check the nulls a v2 header claims (arrow-rs
            // trusts the claim, so a page that contradicts it is left to arrow-rs).
            let after = if encoding == Encoding::BYTE_STREAM_SPLIT || claimed_nulls.is_some() {
                match &mut levels {
                    Some(levels) => usize::try_from(levels.skip(n - skip - take)?).ok()?,
                    None => n - skip - take,
                }
            } else {
                0
            };
            if let Some(claimed) = claimed_nulls {
                if before + present + after + claimed != n {
                    return None;
                }
            }
            let data = bytes.get(data)?;
            let run = match encoding {
                Encoding::PLAIN => {
                    // Without nulls every row is a value: the page must hold them all.
                    if levels.is_none() && n.checked_mul(size)? > data.len() {
                        return None;
                    }
                    let from = before.checked_mul(size)?;
                    let len = present.checked_mul(size)?;
                    let end = from.checked_add(len).filter(|&end| end <= data.len())?;
                    if present == take {
                        let at = data.as_ptr() as usize - bytes.as_ptr() as usize + from;
                        return Some(Some((lo, page.narrow(at..at + len))));
                    }
                    let run = self.expand(&data[from..end], nulls, lo, take)?;
                    self.recycle(page);
                    run
                }
                Encoding::BYTE_STREAM_SPLIT => {
                    // Byte k of value i is at data[k * stride + i], where the stride is the
                    // page's bytes over the value size (as arrow-rs reads it, trailing bytes
                    // included): interleave the streams. A page of more present values than
                    // the stride holds is left to arrow-rs.
                    let total = before.checked_add(present)?.checked_add(after)?;
                    let stride = data.len() / size;
                    if total > stride {
                        return None;
                    }
                    let len = present * size;
                    let mut dense = self.buffer(len);
                    for k in 0..size {
                        let stream = &data[k * stride + before..k * stride + before + present];
                        for (value, &b) in dense[..len].chunks_exact_mut(size).zip(stream) {
                            value[k] = b;
                        }
                    }
                    let run = self.dense_run(dense, len, nulls, lo, take)?;
                    self.recycle(page);
                    run
                }
                Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY => {
                    let (dense, len) = if present == 0 {
                        (Vec::new(), 0)
                    } else {
                        let (&bit_width, packed) = data.split_first()?;
                        let mut indices = rle::Decoder::new(packed, bit_width)?;
                        indices.skip(before)?;
                        // (At most the block's rows: `present` ≤ `take`.)
                        let len = present.checked_mul(size)?;
                        let mut values = self.buffer(len);
                        // Indices straight to typed values (the dictionary holds whole values).
                        let dictionary = self.dictionary.as_deref()?;
                        let out = &mut values[..len];
                        match size {
                            4 => indices.gather(dictionary.as_chunks::<4>().0, out.as_chunks_mut::<4>().0)?,
                            _ => indices.gather(dictionary.as_chunks::<8>().0, out.as_chunks_mut::<8>().0)?,
                        }
                        (values, len)
                    };
                    let run = self.dense_run(dense, len, nulls, lo, take)?;
                    self.recycle(page);
                    run
                }
                _ => return None,
            };
            return Some(Some((lo, run)));
        }
    }

    /// A page from the reader, decompressed: `Some(None)` for a dictionary page (kept as the
    /// dictionary), `None` when it is malformed or outside what the direct path reads.
    fn read_page(&mut self, page: Page) -> Option<Option<ReadPage>> {
        Some(Some(match page {
            page @ Page::DictionaryPage { .. } => {
                self.read_dictionary(page)?;
                return Some(None);
            }
            Page::DataPage { buf, num_values, encoding, def_level_encoding, .. } => {
                let page = self.decompress(buf, 0, true, num_values as usize)?;
                let all = page.bytes().len();
                if self.max_def == 0 {
                    (num_values as usize, page, None, 0..all, encoding, None)
                } else {
                    if def_level_encoding != Encoding::RLE {
                        return None;
                    }
                    let len = u32::from_le_bytes(page.bytes().get(..4)?.try_into().ok()?) as usize;
                    let end = len.checked_add(4).filter(|&e| e <= all)?;
                    (num_values as usize, page, Some(4..end), end..all, encoding, None)
                }
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
                let def_len = def_levels_byte_len as usize;
                if rep_levels_byte_len != 0 || num_rows != num_values || def_len > buf.len() {
                    return None;
                }
                let defs = match self.max_def {
                    0 if def_len == 0 => None,
                    0 => return None,
                    _ => Some(0..def_len),
                };
                let page = self.decompress(buf, def_len, is_compressed, num_values as usize)?;
                let all = page.bytes().len();
                (num_values as usize, page, defs, def_len..all, encoding, Some(num_nulls as usize))
            }
        }))
    }

    /// The run of a page's `n` rows from `dense[..len]`, its present values in order (expanded
    /// when some rows are null; `dense` is then kept for reuse).
    fn dense_run(&mut self, dense: Vec<u8>, len: usize, nulls: &mut Vec<usize>, row: usize, n: usize) -> Option<Run> {
        if len == n * self.kind.size() {
            return Some(Run::Owned(dense, 0..len));
        }
        let run = self.expand(dense.get(..len)?, nulls, row, n);
        self.spare.push(dense);
        run
    }

    /// The `n` rows of a page with nulls: `dense` holds the present values in order; null rows
    /// get zero bytes and are appended to `nulls` (as rows of the chunk, from `row`).
    fn expand(&mut self, dense: &[u8], nulls: &mut Vec<usize>, row: usize, n: usize) -> Option<Run> {
        let size = self.kind.size();
        let mut values = self.buffer(n * size);
        let mut next = dense.chunks_exact(size);
        for (r, &level) in self.levels.iter().enumerate() {
            let slot = &mut values[r * size..(r + 1) * size];
            match level {
                1 => slot.copy_from_slice(next.next()?),
                0 => {
                    slot.fill(0);
                    if self.block.contains(&(row + r)) {
                        nulls.push(row + r - self.block.start);
                    }
                }
                _ => return None,
            }
        }
        Some(Run::Owned(values, 0..n * size))
    }

    fn recycle(&mut self, page: Run) {
        if let Run::Owned(buf, _) = page {
            self.spare.push(buf);
        }
    }
}
