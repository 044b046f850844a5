//! The footer layer: a shard's footer read through its [`ByteSource`] and checked before
//! arrow-rs parses it ([`read_footer`]), and what the footer says about the shard
//! ([`ShardInfo`]). [`thrift`] holds the linear-time checks of Thrift bytes that the footer,
//! the page index and the page headers get.

pub(crate) mod thrift;

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::source::bytes::{ByteSource, ReadAt, Storage};

/// One Parquet file of a [`ShardSet`](crate::ShardSet).
#[derive(Debug, Clone)]
pub struct ShardInfo {
    /// The file.
    pub path: PathBuf,
    /// Rows, from the footer.
    pub num_rows: u64,
    /// Row groups, from the footer.
    pub num_row_groups: usize,
    /// Global id of the shard's first row.
    pub first_row: u64,
    pub(crate) file_len: u64,
    pub(crate) metadata: ArrowReaderMetadata,
    /// Projection roots of the selected columns in this shard's schema.
    pub(crate) roots: Vec<usize>,
    /// Where the shard is opened again to read its blocks.
    pub(crate) storage: Arc<dyn Storage>,
}

impl ShardInfo {
    /// Open the shard's bytes again, checking that its length is still the one seen when its
    /// footer was read.
    ///
    /// # Errors
    /// The storage's error for the open, [`ErrorKind::ShardChanged`] for another length.
    pub(crate) fn open(&self) -> Result<Arc<dyn ByteSource>> {
        let source = self.storage.open(&self.path)?;
        if source.len() != self.file_len {
            return Err(ErrorKind::ShardChanged {
                path: self.path.clone(),
                message: format!("the file is now {} bytes, it was {} when opened", source.len(), self.file_len),
            }
            .into());
        }
        Ok(source)
    }
}

/// Read `len` bytes at `offset` of `source`.
fn read_range(source: &dyn ByteSource, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    if offset.checked_add(len).is_none_or(|end| end > source.len()) {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ends early"));
    }
    let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
    source.read_exact_at(offset, &mut buf)?;
    Ok(buf)
}

/// Why a footer could not be read: [`ErrorKind::ShardChanged`] when the object changed under
/// the read, else [`ErrorKind::Footer`] with `source`.
fn footer_error(source: &dyn ByteSource, error: ParquetError) -> Error {
    match crate::source::bytes::changed_in(&error) {
        Some(changed) => {
            ErrorKind::ShardChanged { path: source.name().to_path_buf(), message: changed.0.clone() }.into()
        }
        None => ErrorKind::Footer { path: source.name().to_path_buf(), source: error }.into(),
    }
}

/// The Thrift checks of [`thrift`] on the footer: `Err` with the reason when it fails.
fn check_footer_thrift(source: &dyn ByteSource, len: u64) -> std::result::Result<(), ParquetError> {
    if len < 12 {
        return Ok(()); // arrow-rs reports the short file
    }
    let tail = read_range(source, len - 8, 8)?;
    let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if &tail[4..] != b"PAR1" || meta_len + 8 > len {
        return Ok(()); // not plain Parquet, or a bad length: arrow-rs reports it
    }
    let meta = read_range(source, len - 8 - meta_len, meta_len)?;
    thrift::check_struct(&meta).map_err(|e| ParquetError::General(format!("footer metadata: {e}")))
}

/// The Thrift checks on the page index (column and offset indexes) that `metadata` points to.
fn check_page_index_thrift(source: &dyn ByteSource, len: u64, metadata: &ArrowReaderMetadata) -> bool {
    let mut ranges = Vec::new();
    for rg in metadata.metadata().row_groups() {
        for col in rg.columns() {
            for (offset, length) in [
                (col.offset_index_offset(), col.offset_index_length()),
                (col.column_index_offset(), col.column_index_length()),
            ] {
                if let (Some(o), Some(l)) = (offset, length) {
                    match (u64::try_from(o), u64::try_from(l)) {
                        (Ok(o), Ok(l)) if o.checked_add(l).is_some_and(|e| e <= len) => ranges.push(o..o + l),
                        _ => return false,
                    }
                }
            }
        }
    }
    let (Some(lo), Some(hi)) = (ranges.iter().map(|r| r.start).min(), ranges.iter().map(|r| r.end).max()) else {
        return true;
    };
    if hi - lo > 256 << 20 {
        return false; // an index spread over more than 256 MiB: read without it
    }
    // Each index on its own (a remote store fetches them together).
    let Ok(indexes) = source.read_ranges(&ranges) else { return false };
    indexes.iter().all(|bytes| thrift::check_struct(bytes).is_ok())
}

/// Read and check the footer of `source` (also used on `augment`'s own output when it
/// resumes): the footer's Thrift, then the page index's, before arrow-rs parses either.
///
/// # Errors
/// [`ErrorKind::Footer`] for a file that is not readable Parquet, [`ErrorKind::ShardChanged`]
/// when it changed under the read, [`ErrorKind::DecodePanic`] when arrow-rs panicked.
pub(crate) fn read_footer(source: &Arc<dyn ByteSource>) -> Result<ArrowReaderMetadata> {
    let len = source.len();
    let path = source.name();
    // arrow-rs's Thrift reader can spin for hours on crafted metadata (see thrift.rs): check
    // the footer, then the page index it points to, before arrow-rs parses either.
    check_footer_thrift(source.as_ref(), len).map_err(|e| footer_error(source.as_ref(), e))?;
    // The offset index lets a block of a large row group skip the pages before it; a file
    // without one (or with a broken one) is read without it.
    let with_index = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let reader = WholeSource(source.clone());
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        let plain = ArrowReaderMetadata::load(&reader, ArrowReaderOptions::new())?;
        if !check_page_index_thrift(source.as_ref(), len, &plain) {
            return Ok(plain);
        }
        Ok(ArrowReaderMetadata::load(&reader, with_index).unwrap_or(plain))
    }));
    match loaded {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(error)) => Err(footer_error(source.as_ref(), error)),
        Err(p) => Err(ErrorKind::DecodePanic {
            path: path.to_path_buf(),
            row_group: 0,
            message: format!("while reading the footer: {}", panic_message(&*p)),
        }
        .into()),
    }
}

/// A [`ByteSource`] as arrow-rs's [`ChunkReader`], for the footer and page index.
struct WholeSource(Arc<dyn ByteSource>);

impl Length for WholeSource {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl ChunkReader for WholeSource {
    type T = ReadAt;

    fn get_read(&self, start: u64) -> ParquetResult<ReadAt> {
        ReadAt::new(self.0.clone(), start)
            .ok_or_else(|| ParquetError::EOF(format!("no byte {start} in a {}-byte file", self.0.len())))
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        if start.checked_add(length as u64).is_none_or(|end| end > self.0.len()) {
            return Err(ParquetError::EOF(format!(
                "bytes {start}..{start}+{length} are beyond the {}-byte file",
                self.0.len()
            )));
        }
        let mut buf = vec![0u8; length];
        self.0.read_exact_at(start, &mut buf)?;
        Ok(Bytes::from(buf))
    }
}
