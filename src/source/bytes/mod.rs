//! Where a shard's bytes come from: the one seam between the decoder and storage.
use bytes::Bytes;
use std::fmt::Debug;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub mod local;

/// One opened object (a local file, an S3 object…), pinned to the version seen at open.
pub trait ByteSource: Send + Sync + Debug {
    /// How errors name it: a local path, or the URL (`s3://bucket/key`).
    fn name(&self) -> &Path;
    /// Its length in bytes, as seen when it was opened.
    fn len(&self) -> u64;
    /// Fill `buf` from byte `offset`. A read past the end is `io::ErrorKind::UnexpectedEof`;
    /// an object that changed since it was opened is `io::Error::other(Changed(..))`.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
    /// Several ranges at once (a remote store coalesces neighbours and fetches concurrently).
    fn read_ranges(&self, ranges: &[Range<u64>]) -> std::io::Result<Vec<Bytes>> {
        ranges
            .iter()
            .map(|r| {
                let mut buf = vec![0u8; usize::try_from(r.end - r.start).map_err(std::io::Error::other)?];
                self.read_exact_at(r.start, &mut buf)?;
                Ok(Bytes::from(buf))
            })
            .collect()
    }
}

/// The error inside an `io::Error` when an object changed since it was opened.
#[derive(Debug, thiserror::Error)]
#[error("changed since it was opened: {0}")]
pub struct Changed(pub String);

/// A place where shards are listed and opened: the local file system, or one object store.
pub trait Storage: Send + Sync + Debug {
    /// Expand a data spec (a file, a directory or prefix, a glob) into the sorted names of its
    /// Parquet shards (hidden names starting with '.' or '_' skipped in listings).
    fn list(&self, spec: &str) -> crate::error::Result<Vec<PathBuf>>;
    /// Open one shard by the name `list` gave.
    fn open(&self, name: &Path) -> crate::error::Result<Arc<dyn ByteSource>>;
}

/// The storage a data spec names: the local file system for every spec today (object stores
/// add their URL schemes here).
///
/// # Errors
/// None yet; a URL naming a store that cannot be reached will be one.
pub fn storage_for(spec: &str) -> crate::error::Result<Arc<dyn Storage>> {
    let _ = spec;
    Ok(Arc::new(local::LocalStorage))
}
