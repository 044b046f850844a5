//! The bytes of one block's column chunks, served to arrow-rs as a [`ChunkReader`].
//!
//! A block that covers a whole row group reads its projected column chunks into memory up
//! front, one positional read per contiguous run of chunks; the decoder's pages are then slices
//! of that buffer (no system call and no copy per page). A block that is a slice of a larger row
//! group reads lazily, so that only the pages its rows need are read.
//!
//! Every read is bounded, and a read past the end of its chunk or of the file fails with
//! [`io::ErrorKind::UnexpectedEof`] instead of returning 0 bytes. That matters on corrupt
//! input: arrow-rs's Thrift reader skips an unknown page-header field of up to `i32::MAX`
//! elements with `io::copy`, which against a reader that quietly returns 0 at the end spins for
//! minutes (found by fuzzing; `tests/fuzz_regressions.rs`).

use std::io::{self, BufReader, Read};
use std::ops::Range;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData};
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{Error, ErrorKind, Result};
use crate::source::bytes::pool::{PooledBytes, Pools};
use crate::source::bytes::{changed_in, ByteSource, ReadAt};
use crate::source::footer::thrift::{self, PageInfo};
use crate::source::footer::ShardInfo;
use crate::source::pages::codec::{expansion_bound, page_bound, value_size};
use crate::source::pages::page_map::{PageMap, PageMaps};

/// Open row group `row_group` of `shard` for arrow-rs, for the columns under the projection
/// `roots`: the file's length is checked against the one seen at open, every column chunk's
/// byte range against the file, and every page header with [`thrift`] (linear time; arrow-rs's
/// own Thrift reader can spin for hours on a crafted header). With `whole`, the column chunks
/// are read into memory at once (into buffers of `pools`); otherwise pages are read as the
/// decoder asks for them. The page maps walked are kept in `page_maps` for later blocks.
///
/// # Errors
/// [`ErrorKind::Io`] or [`ErrorKind::ShardChanged`] for the file, [`ErrorKind::Decode`]
/// naming the row group and the column chunk for a bad range or page header.
pub(crate) fn open_row_group(
    shard: &ShardInfo,
    row_group: usize,
    roots: &[usize],
    whole: bool,
    pools: &Arc<Pools>,
    page_maps: &PageMaps,
) -> Result<ChunkSource> {
    let file = shard.open()?;
    let file_len = file.len();
    let bad = |message: String| -> Error {
        ErrorKind::Decode { path: shard.path.clone(), row_group, source: ParquetError::General(message) }.into()
    };
    let meta = shard.metadata.metadata();
    let rg_meta = meta.row_group(row_group);
    let descr = meta.file_metadata().schema_descr();
    let mut ranges = Vec::new();
    for leaf in (0..rg_meta.num_columns()).filter(|&l| roots.contains(&descr.get_column_root_idx(l))) {
        let (start, len) = rg_meta.column(leaf).byte_range();
        let column = || descr.column(leaf).path().string();
        let end = start.checked_add(len).filter(|&end| end <= file_len).ok_or_else(|| {
            bad(format!("column chunk '{}' claims bytes {start}..{start}+{len} of a {file_len}-byte file", column()))
        })?;
        ranges.push((start..end, leaf));
    }
    // An object store answers each read after a round trip: read a remote block's column
    // chunks at once (coalesced requests in flight together) rather than page by page, unless
    // they are too large to hold.
    let projected: u64 = ranges.iter().map(|(r, _)| r.end - r.start).sum();
    let remote = file.is_remote();
    let whole = whole || remote && projected <= REMOTE_PRELOAD_MAX;
    let mut source = ChunkSource::new(file, pools.clone());
    if whole {
        source.preload(ranges.iter().map(|(r, _)| r.clone()).collect()).map_err(|e| match changed_in(&e) {
            Some(changed) => ErrorKind::ShardChanged { path: shard.path.clone(), message: changed.0.clone() }.into(),
            // A store that failed (not a bad range of the file) is an I/O error naming it.
            None if remote && e.kind() != io::ErrorKind::UnexpectedEof => Error::io(&shard.path, e),
            None => bad(e.to_string()),
        })?;
    }
    // The page headers of a chunk are walked (and checked) once; later blocks reuse the map.
    for (range, leaf) in ranges {
        let key = (shard.path.clone(), row_group, leaf);
        let map = page_maps.get_or_walk(key, || {
            let column = || descr.column(leaf).path().string();
            let pages =
                source.walk_pages(range.clone()).map_err(|e| bad(format!("column chunk '{}': {e}", column())))?;
            check_page_claims(&pages, rg_meta.column(leaf))
                .map_err(|e| bad(format!("column chunk '{}': {e}", column())))?;
            Ok::<_, Error>(PageMap::from_walk(range.start, &pages))
        })?;
        source.maps.push((leaf, map));
    }
    Ok(source)
}

/// Check the size each page of a column chunk (`meta`) claims uncompressed, which arrow-rs
/// reserves (and, for Snappy and LZ4, zero-fills) before decompressing the page. It must fit
/// in the column chunk's uncompressed size; in what the page's compressed bytes can expand to,
/// for codecs of bounded expansion ([`expansion_bound`]); and, for values of a fixed size, in
/// what the page's values can take ([`page_bound`]). A page of a few bytes could otherwise make
/// the reader touch as much memory as the chunk claims (up to
/// [`DEFAULT_MAX_COLUMN_CHUNK_BYTES`](crate::DEFAULT_MAX_COLUMN_CHUNK_BYTES)).
fn check_page_claims(pages: &[PageInfo], meta: &ColumnChunkMetaData) -> std::result::Result<(), String> {
    let limit = u64::try_from(meta.uncompressed_size()).unwrap_or(0);
    let size = value_size(meta.column_descr());
    for p in pages {
        let Ok(claim) = u64::try_from(p.uncompressed) else { continue };
        if claim > limit {
            return Err(format!(
                "the page at chunk byte {} claims {claim} bytes uncompressed, more than its column chunk's {limit}",
                p.offset
            ));
        }
        if let Some(most) = expansion_bound(meta.compression(), p.compressed as usize) {
            if claim > most as u64 {
                return Err(format!(
                    "the page at chunk byte {} claims {claim} bytes uncompressed from {} compressed, more than {} can expand to ({most})",
                    p.offset,
                    p.compressed,
                    meta.compression()
                ));
            }
        }
        let (Some(size), Ok(values)) = (size, usize::try_from(p.num_values)) else { continue };
        let bound = page_bound(values, size);
        if claim > bound as u64 {
            return Err(format!(
                "the page at chunk byte {} claims {claim} bytes uncompressed, more than its {values} values of {size} bytes can take ({bound})",
                p.offset
            ));
        }
    }
    Ok(())
}

/// The most bytes of column chunks an object-store block reads at once (above, it reads
/// page by page, as for a slice of a large local row group).
const REMOTE_PRELOAD_MAX: u64 = 256 << 20;

/// Read-ahead for page headers read from the file (they are usually under 1 KiB; the page
/// data after a header is read separately, with `get_bytes`).
const HEADER_READ_BYTES: usize = 1 << 10;

/// Pages smaller than this on average are read together, one read per column chunk, by
/// [`ChunkSource::preload_small_pages`].
const SMALL_PAGE_BYTES: u64 = 16 << 10;

/// Gap between two chunks below which they are read together (the gap is read and ignored).
const COALESCE_GAP: u64 = 64 << 10;

/// A shard's bytes with some byte ranges already in memory (cloning shares them).
#[derive(Clone)]
pub(crate) struct ChunkSource {
    file: Arc<dyn ByteSource>,
    len: u64,
    /// In-memory ranges: (first byte offset, bytes), sorted and disjoint.
    loaded: Vec<(u64, Bytes)>,
    /// Where the in-memory buffers come from and go back to.
    pools: Arc<Pools>,
    /// The page maps of the column chunks opened, by leaf column.
    maps: Vec<(usize, Arc<Option<PageMap>>)>,
}

impl ChunkSource {
    /// A source reading `file` lazily.
    pub fn new(file: Arc<dyn ByteSource>, pools: Arc<Pools>) -> Self {
        ChunkSource { len: file.len(), file, loaded: Vec::new(), pools, maps: Vec::new() }
    }

    /// The buffer pools this source reads into.
    pub fn pools(&self) -> &Arc<Pools> {
        &self.pools
    }

    /// Read `ranges` into memory, coalescing neighbours. Ranges must lie within the file.
    pub fn preload(&mut self, mut ranges: Vec<Range<u64>>) -> io::Result<()> {
        // Bytes already in memory are not read again (a remote block is loaded whole before
        // its small pages are asked for: each read again cost a round trip).
        ranges.retain(|r| self.loaded_at(r.start).is_none_or(|(s, b)| r.end > s + b.len() as u64));
        ranges.sort_by_key(|r| r.start);
        let mut runs: Vec<Range<u64>> = Vec::new();
        for r in ranges.into_iter().filter(|r| !r.is_empty()) {
            match runs.last_mut() {
                Some(last) if r.start <= last.end.saturating_add(COALESCE_GAP) => last.end = last.end.max(r.end),
                _ => runs.push(r),
            }
        }
        if let Some(run) = runs.iter().find(|run| run.end > self.len) {
            return Err(eof(run.end, self.len));
        }
        if self.file.is_remote() {
            // One call: the store fetches the runs with their requests in flight together.
            let got = self.file.read_ranges(&runs)?;
            self.loaded.extend(runs.iter().map(|r| r.start).zip(got));
        } else {
            for run in runs {
                let mut buf = PooledBytes::take(&self.pools, (run.end - run.start) as usize, false);
                self.file.read_exact_at(run.start, buf.as_mut_slice())?;
                self.loaded.push((run.start, Bytes::from_owner(buf)));
            }
        }
        // Sorted for `loaded_at`, also when a source that holds ranges loads more.
        self.loaded.sort_by_key(|(start, _)| *start);
        Ok(())
    }

    /// The page maps of the column chunks opened, by leaf column.
    pub fn page_maps(&self) -> &[(usize, Arc<Option<PageMap>>)] {
        &self.maps
    }

    /// The page map of leaf column `leaf` for the direct path, when it was opened and has one
    /// the direct path may read by ([`PageMap::direct`]).
    pub fn page_map(&self, leaf: usize) -> Option<&PageMap> {
        self.index_map(leaf).filter(|m| m.direct)
    }

    /// The page map of leaf column `leaf`, when it was opened and has one (arrow-rs's offset
    /// index, which may hold empty pages).
    pub fn index_map(&self, leaf: usize) -> Option<&PageMap> {
        self.maps.iter().find(|(l, _)| *l == leaf).and_then(|(_, m)| m.as_ref().as_ref())
    }

    /// Read into memory, for every chunk opened with a page map (empty pages included), the
    /// pages of `rows` and the dictionary page when its pages are small (under
    /// [`SMALL_PAGE_BYTES`] on average), so that a block of many tiny pages costs one read per
    /// chunk instead of one per page; larger pages are read as the decoder reaches them.
    /// `rg_meta` is the row group's metadata; nothing may be loaded yet. A failed read is left
    /// for the page's own read to report.
    pub fn preload_small_pages(&mut self, rg_meta: &RowGroupMetaData, rows: Range<usize>) {
        let mut ranges = Vec::new();
        for (leaf, map) in &self.maps {
            let Some(map) = map.as_ref().as_ref().filter(|_| !rows.is_empty()) else { continue };
            let (i, j) = (map.page_of(rows.start as u64), map.page_of(rows.end as u64 - 1));
            let (Some(first), Some(last)) = (map.locations.get(i), map.locations.get(j)) else { continue };
            let (from, to) = (first.offset as u64, last.offset as u64 + last.compressed_page_size as u64);
            if to.saturating_sub(from) > SMALL_PAGE_BYTES * (j - i + 1) as u64 {
                continue;
            }
            // The dictionary page, if any, sits between the chunk's start and its first data page.
            let start = rg_meta.column(*leaf).byte_range().0;
            let dictionary = map.locations[0].offset as u64;
            if start < dictionary {
                ranges.push(start..dictionary);
            }
            ranges.push(from..to);
        }
        let _ = self.preload(ranges);
    }

    /// Walk (and check) the page headers of the column chunk at `range` (within the file):
    /// from memory when it is loaded, else by reading the chunk a window at a time.
    pub fn walk_pages(&self, range: Range<u64>) -> Result<Vec<PageInfo>, String> {
        let loaded = self
            .loaded_at(range.start)
            .and_then(|(first, bytes)| bytes.get((range.start - first) as usize..(range.end - first) as usize));
        thrift::walk_page_headers(range.end - range.start, |pos, buf| match loaded {
            Some(chunk) => {
                buf.copy_from_slice(&chunk[pos as usize..][..buf.len()]);
                Ok(())
            }
            None => self.file.read_exact_at(range.start + pos, buf),
        })
    }

    /// The loaded range holding byte `pos`, as (its start, its bytes).
    fn loaded_at(&self, pos: u64) -> Option<&(u64, Bytes)> {
        let i = self.loaded.partition_point(|(s, _)| *s <= pos).checked_sub(1)?;
        let entry = &self.loaded[i];
        (pos < entry.0 + entry.1.len() as u64).then_some(entry)
    }
}

fn eof(end: u64, len: u64) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, format!("read up to byte {end} of a {len}-byte file"))
}

impl Length for ChunkSource {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for ChunkSource {
    type T = ChunkRead;

    fn get_read(&self, start: u64) -> ParquetResult<ChunkRead> {
        if let Some((first, bytes)) = self.loaded_at(start) {
            return Ok(ChunkRead::Memory(bytes.slice((start - first) as usize..)));
        }
        if start > self.len {
            return Err(ParquetError::EOF(format!("no byte {start} in a {}-byte file", self.len)));
        }
        let at = ReadAt::new(self.file.clone(), start)
            .ok_or_else(|| ParquetError::EOF(format!("no byte {start} in a {}-byte file", self.len)))?;
        Ok(ChunkRead::File(BufReader::with_capacity(HEADER_READ_BYTES, at)))
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        let end = start.checked_add(length as u64).filter(|&e| e <= self.len).ok_or_else(|| {
            ParquetError::EOF(format!("bytes {start}..{start}+{length} are beyond the {}-byte file", self.len))
        })?;
        if let Some((first, bytes)) = self.loaded_at(start) {
            let from = (start - first) as usize;
            if end - first <= bytes.len() as u64 {
                return Ok(bytes.slice(from..from + length));
            }
        }
        // A page read lazily: into a recycled buffer, back to the pool when the page is dropped.
        let mut buf = PooledBytes::take(&self.pools, length, true);
        self.file.read_exact_at(start, buf.as_mut_slice())?;
        Ok(Bytes::from_owner(buf))
    }
}

/// A reader of a [`ChunkSource`] from some offset on; at the end it fails rather than
/// returning 0 bytes.
pub(crate) enum ChunkRead {
    /// From a loaded range (up to its end).
    Memory(Bytes),
    /// From the file (up to its end).
    File(BufReader<ReadAt>),
}

impl Read for ChunkRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ChunkRead::Memory(bytes) => {
                if buf.is_empty() {
                    return Ok(0);
                }
                if bytes.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of a column chunk"));
                }
                let n = buf.len().min(bytes.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.advance(n);
                Ok(n)
            }
            ChunkRead::File(reader) => reader.read(buf),
        }
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // lists of byte ranges, some of one
mod tests {
    use super::*;
    use std::io::Write;

    fn source(data: &[u8]) -> (tempfile::NamedTempFile, ChunkSource) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(data).unwrap();
        let file = crate::source::bytes::local::LocalFile::open(f.path()).unwrap();
        let src = ChunkSource::new(Arc::new(file), Pools::new());
        (f, src)
    }

    #[test]
    fn loaded_and_lazy_reads_agree() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (_f, lazy) = source(&data);
        let (_g, mut mem) = source(&data);
        mem.preload(vec![150_000..160_000, 10..100, 100..5_000]).unwrap();
        for (start, len) in [(10usize, 50usize), (99, 3), (150_000, 10_000), (4_980, 20), (0, 200_000)] {
            let a = lazy.get_bytes(start as u64, len).unwrap();
            let b = mem.get_bytes(start as u64, len).unwrap();
            assert_eq!(&a[..], &data[start..start + len]);
            assert_eq!(a, b);
            let mut r = mem.get_read(start as u64).unwrap();
            let mut first = vec![0u8; len.min(30)];
            r.read_exact(&mut first).unwrap();
            assert_eq!(&first[..], &data[start..start + first.len()]);
        }
    }

    #[test]
    fn a_read_from_a_loaded_range_stops_at_its_end() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let (_f, mut src) = source(&data);
        src.preload(vec![100..200]).unwrap();
        let mut r = src.get_read(150).unwrap();
        let mut buf = [0u8; 100];
        assert_eq!(r.read(&mut buf).unwrap(), 50);
        assert!(r.read(&mut buf).is_err());
        // get_bytes beyond the loaded range reads the file instead.
        assert_eq!(&src.get_bytes(150, 100).unwrap()[..], &data[150..250]);
    }

    #[test]
    fn reads_past_the_end_fail_instead_of_returning_nothing() {
        let (_f, mut src) = source(&[1, 2, 3, 4]);
        let mut r = src.get_read(2).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(r.read(&mut buf).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        // io::copy (what the Thrift skip does) stops at once.
        let mut r = src.get_read(0).unwrap();
        assert!(io::copy(&mut (&mut r).take(1 << 40), &mut io::sink()).is_err());
        assert!(src.get_bytes(3, 2).is_err());
        assert!(src.get_read(5).is_err());
        src.preload(vec![0..2]).unwrap();
        let mut r = src.get_read(1).unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 1);
        assert!(r.read(&mut buf).is_err());
        assert!(src.preload(vec![2..9]).is_err());
    }
}
