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
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{Error, ErrorKind, Result};
use crate::source::bytes::local::LocalFile;
use crate::source::bytes::{ByteSource, Changed};
use crate::source::page_map::PageMap;
use crate::source::pool::{PooledBytes, Pools};
use crate::source::shards::{ShardInfo, ShardSet};
use crate::source::thrift::{self, PageInfo};

/// Open row group `row_group` of `shard` for arrow-rs, for the columns under the projection
/// `roots`: the file's length is checked against the one seen at open, every column chunk's
/// byte range against the file, and every page header with [`thrift`] (linear time; arrow-rs's
/// own Thrift reader can spin for hours on a crafted header). With `whole`, the column chunks
/// are read into memory at once; otherwise pages are read as the decoder asks for them.
///
/// # Errors
/// [`ErrorKind::Io`] or [`ErrorKind::ShardChanged`] for the file, [`ErrorKind::Decode`]
/// naming the row group and the column chunk for a bad range or page header.
pub(crate) fn open_row_group(
    set: &ShardSet,
    shard: &ShardInfo,
    row_group: usize,
    roots: &[usize],
    whole: bool,
) -> Result<ChunkSource> {
    // An object-store shard is read through the source pinned when the set was opened (its
    // size and ETag are checked by every read); a local file is opened per row group.
    let (file, file_len): (Arc<dyn ByteSource>, u64) = match &shard.remote {
        Some(remote) => (remote.clone(), remote.len()),
        None => {
            let file = LocalFile::open(&shard.path)?;
            let len = file.len();
            (Arc::new(file), len)
        }
    };
    if file_len != shard.file_len {
        return Err(ErrorKind::ShardChanged {
            path: shard.path.clone(),
            message: format!("the file is now {file_len} bytes, it was {} when opened", shard.file_len),
        }
        .into());
    }
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
    // An object store answers each request after a round trip: read a remote block's column
    // chunks at once (a few coalesced requests in flight) rather than page by page, unless
    // they are too large to hold.
    let remote = shard.remote.is_some();
    let projected: u64 = ranges.iter().map(|(r, _)| r.end - r.start).sum();
    let whole = whole || remote && projected <= REMOTE_PRELOAD_MAX;
    let mut source = ChunkSource::new(file, file_len, set.pools().clone(), remote);
    if whole {
        source.preload(ranges.iter().map(|(r, _)| r.clone()).collect()).map_err(|e| read_error(shard, e, &bad))?;
    }
    // The page headers of a chunk are walked (and checked) once; later blocks reuse the map.
    for (range, leaf) in ranges {
        let key = (shard.path.clone(), row_group, leaf);
        let map = set.page_maps().get_or_walk(key, || {
            let column = || descr.column(leaf).path().string();
            let pages =
                source.walk_pages(range.clone()).map_err(|e| bad(format!("column chunk '{}': {e}", column())))?;
            // arrow-rs sizes a page's buffer by its header before decompressing it.
            let limit = u64::try_from(rg_meta.column(leaf).uncompressed_size()).unwrap_or(0);
            if let Some(p) = pages.iter().find(|p| u64::try_from(p.uncompressed).is_ok_and(|u| u > limit)) {
                return Err(bad(format!(
                    "column chunk '{}': the page at chunk byte {} claims {} bytes uncompressed, more than its column chunk's {limit}",
                    column(),
                    p.offset,
                    p.uncompressed
                )));
            }
            Ok(PageMap::from_walk(range.start, &pages))
        })?;
        source.maps.push((leaf, map));
    }
    Ok(source)
}

/// A failed read of `shard`: [`ErrorKind::ShardChanged`] when the bytes changed since the
/// set was opened, [`ErrorKind::Io`] naming the object when an object store failed, else (a
/// local file that ends early: a bad range) `bad`.
fn read_error(shard: &ShardInfo, e: io::Error, bad: &dyn Fn(String) -> Error) -> Error {
    if let Some(changed) = e.get_ref().and_then(|inner| inner.downcast_ref::<Changed>()) {
        return ErrorKind::ShardChanged { path: shard.path.clone(), message: changed.to_string() }.into();
    }
    if shard.remote.is_some() && e.kind() != io::ErrorKind::UnexpectedEof {
        return Error::io(&shard.path, e);
    }
    bad(e.to_string())
}

/// The most bytes of column chunks an object-store block reads at once (above, it reads
/// page by page, as for a slice of a large local row group).
const REMOTE_PRELOAD_MAX: u64 = 256 << 20;

/// Read-ahead for page headers read from the file (they are usually under 1 KiB; the page
/// data after a header is read separately, with `get_bytes`).
const HEADER_READ_BYTES: usize = 1 << 10;

/// Gap between two chunks below which they are read together (the gap is read and ignored).
const COALESCE_GAP: u64 = 64 << 10;

/// A shard file with some byte ranges already in memory (cloning shares them).
#[derive(Clone)]
pub(crate) struct ChunkSource {
    file: Arc<dyn ByteSource>,
    len: u64,
    /// Whether `file` is in an object store: preloads are one `read_ranges` call (its requests
    /// in flight together) rather than one positional read per run into a pooled buffer.
    remote: bool,
    /// In-memory ranges: (first byte offset, bytes), sorted and disjoint.
    loaded: Vec<(u64, Bytes)>,
    /// Where the in-memory buffers come from and go back to.
    pools: Arc<Pools>,
    /// The page maps of the column chunks opened, by leaf column.
    maps: Vec<(usize, Arc<Option<PageMap>>)>,
}

impl ChunkSource {
    /// A source reading `file` of `len` bytes lazily.
    pub fn new(file: Arc<dyn ByteSource>, len: u64, pools: Arc<Pools>, remote: bool) -> Self {
        ChunkSource { file, len, remote, loaded: Vec::new(), pools, maps: Vec::new() }
    }

    /// The buffer pools this source reads into.
    pub fn pools(&self) -> &Arc<Pools> {
        &self.pools
    }

    /// Read `ranges` into memory, coalescing neighbours. Ranges must lie within the file.
    pub fn preload(&mut self, mut ranges: Vec<Range<u64>>) -> io::Result<()> {
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
        if self.remote {
            let got = self.file.read_ranges(&runs)?;
            self.loaded.extend(runs.iter().map(|r| r.start).zip(got));
            return Ok(());
        }
        for run in runs {
            let mut buf = PooledBytes::take(&self.pools, (run.end - run.start) as usize, false);
            self.file.read_exact_at(run.start, buf.as_mut_slice())?;
            self.loaded.push((run.start, Bytes::from_owner(buf)));
        }
        Ok(())
    }

    /// The page map of leaf column `leaf`, when it was opened and has one.
    pub fn page_map(&self, leaf: usize) -> Option<&PageMap> {
        self.maps.iter().find(|(l, _)| *l == leaf).and_then(|(_, m)| m.as_ref().as_ref())
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
        let at = FileAt { file: self.file.clone(), pos: start, end: self.len };
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
    File(BufReader<FileAt>),
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

/// Positional reads of a shared file, from `pos` to `end`.
pub(crate) struct FileAt {
    file: Arc<dyn ByteSource>,
    pos: u64,
    end: u64,
}

impl Read for FileAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.end {
            return Err(eof(self.pos + 1, self.end));
        }
        let n = (buf.len() as u64).min(self.end - self.pos) as usize;
        // A file that shrank since it was opened fails here (Changed or UnexpectedEof).
        self.file.read_exact_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
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
        let file = Arc::new(LocalFile::open(f.path()).unwrap());
        let src = ChunkSource::new(file, data.len() as u64, Pools::new(), false);
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
