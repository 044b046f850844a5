//! Where a shard's bytes come from: the one seam between the decoder and storage.
use bytes::Bytes;
use std::fmt::Debug;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub mod local;
#[cfg(feature = "object-store")]
pub(crate) mod object;
pub(crate) mod pool;
mod read;

pub(crate) use read::{changed_in, ReadAt};

/// One opened object (a local file, an S3 object…), pinned to the version seen at open.
pub trait ByteSource: Send + Sync + Debug {
    /// How errors name it: a local path, or the URL (`s3://bucket/key`).
    fn name(&self) -> &Path;
    /// Its length in bytes, as seen when it was opened.
    fn len(&self) -> u64;
    /// Fill `buf` from byte `offset`. A read past the end is `io::ErrorKind::UnexpectedEof`;
    /// an object that changed since it was opened is `io::Error::other(Changed(..))`.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
    /// Whether every read costs a round trip (an object store): readers then fetch a block's
    /// column chunks at once rather than page by page.
    fn is_remote(&self) -> bool {
        false
    }
    /// Its footer has been read: what was kept for that (an object's tail) may go.
    fn footer_read(&self) {}
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

/// Where and how much to cache: what [`crate::ShardSetBuilder::object_cache`] (object-store shards only) is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The directory (its `shardmix-cache-v1` folder holds the cache's files).
    pub dir: PathBuf,
    /// The most bytes the cached copies may take; `None`: no cap.
    pub max_bytes: Option<u64>,
}

/// What the local cache of object-store shards did in a run ([`crate::Stats::object_cache`]):
/// a copy that cannot be made (the object has no ETag, is larger than the cap, or its download
/// or write failed) is not an error, the object is read from the store instead, but it is
/// counted and its reason kept, so that a cache that never fills does not go unnoticed.
///
/// # Example
/// ```
/// let s = shardmix::ObjectCacheStats::default();
/// assert_eq!((s.hits, s.fills, s.bypassed), (0, 0, 0));
/// assert!(s.last_bypass.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectCacheStats {
    /// Objects opened from a complete copy already in the cache.
    pub hits: u64,
    /// Objects downloaded into the cache by this run.
    pub fills: u64,
    /// Bytes those downloads wrote.
    pub filled_bytes: u64,
    /// Objects read from the store because no copy could be used or made.
    pub bypassed: u64,
    /// The last such object and why, e.g. `s3://b/x.parquet: larger than cache_max_bytes`.
    pub last_bypass: Option<String>,
}

impl ObjectCacheStats {
    /// The sum of two stores' counters (the later reason kept).
    pub fn add(&mut self, other: &ObjectCacheStats) {
        self.hits += other.hits;
        self.fills += other.fills;
        self.filled_bytes += other.filled_bytes;
        self.bypassed += other.bypassed;
        if other.last_bypass.is_some() {
            self.last_bypass.clone_from(&other.last_bypass);
        }
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
    /// Get ready for the [`Storage::open`] calls of `names` that follow: an object store opens
    /// them all at once, many requests in flight, rather than one round trip after another. A
    /// failure is left for `open` to report; local files need nothing.
    fn open_ahead(&self, _names: &[PathBuf]) {}
    /// What the local cache of this storage's objects did so far; `None` without one.
    fn object_cache_stats(&self) -> Option<ObjectCacheStats> {
        None
    }
}

/// Whether `spec` is a URL (`scheme://…`, the scheme of letters, digits, `+`, `-`, `.`) rather
/// than a local path.
pub fn is_url(spec: &str) -> bool {
    spec.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// The storage a data spec names: an object store for a URL of one of its schemes (`s3://`,
/// `gs://`, `az://`, `http(s)://`, with the `object-store` feature), the local file system for
/// anything else.
///
/// # Errors
/// [`crate::ErrorKind::Config`] for a malformed URL, another scheme, a store whose client
/// cannot be set up from its environment variables, or any URL when the `object-store` feature
/// is off.
#[cfg_attr(not(test), allow(dead_code))] // the shards open their storage with a cache setting
pub fn storage_for(spec: &str) -> crate::error::Result<Arc<dyn Storage>> {
    storage_with_cache(spec, None)
}

/// [`storage_for`], an object store's objects cached in `cache` (local paths ignore it).
///
/// # Errors
/// As [`storage_for`]; for a URL with a cache, [`crate::ErrorKind::Io`] when the cache's
/// directory cannot be created and [`crate::ErrorKind::Config`] for a cap of 0.
pub(crate) fn storage_with_cache(spec: &str, cache: Option<&CacheConfig>) -> crate::error::Result<Arc<dyn Storage>> {
    #[cfg(feature = "object-store")]
    if let Some(store) = object::storage_for_url(spec, cache) {
        return store;
    }
    if is_url(spec) {
        let scheme = spec.split_once("://").map_or("", |(s, _)| s);
        let why = if cfg!(feature = "object-store") {
            "is not a supported scheme (s3, s3a, gs, az, azure, abfs, abfss, http, https)"
        } else {
            "needs shardmix built with the `object-store` feature"
        };
        return Err(crate::error::Error::config("data", format!("'{spec}': {scheme}:// {why}")));
    }
    let _ = cache;
    Ok(Arc::new(local::LocalStorage))
}
