//! [`ObjectCache`]: a local directory of whole objects, for the epochs (and runs) after the
//! first.
//!
//! An object is cached under a key of its URL, ETag and size: a replaced object has another
//! ETag (or size), so it is another key and the old copy is never served for it. Files live
//! in `DIR/shardmix-cache-v1/` and are named `entry-<hash>-<size>.parquet` (complete copies)
//! or `tmp-<hash>-<pid>-<n>.part` (a fill in progress); the cache deletes only files of these
//! two patterns there, never anything else.
//!
//! Fill strategy: the first open of an object with the cache on downloads the whole object
//! (ranged GETs of a few MiB in order, each pinned to the ETag seen by a HEAD, each bounded in
//! time on its own, the download as a whole not) into a temporary file, which is renamed into
//! place once complete; the object is then read from the local copy with positional reads.
//! This is the simplest strategy that is correct under concurrency and crashes: a copy is
//! either complete under its final name or ignored, with no per-range bookkeeping, and it
//! rides on the open-ahead concurrency (many objects downloaded at once). It costs reading
//! the columns a run does not use; the cache is for epochs after the first, which read the
//! same objects again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore};

use super::runtime::bounded;
use super::source::io_error;
use crate::error::{Error, Result};
use crate::source::bytes::local::LocalFile;
use crate::source::bytes::{CacheConfig, Changed, ObjectCacheStats};

/// The cache's own folder inside the directory given (its layout's version in the name).
pub const SUBDIR: &str = "shardmix-cache-v1";

/// A temporary file older than this is a fill that was killed: the cache deletes it.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// A download is one ranged GET per part: each is a request the client bounds in time on its own
/// (half the store's timeout, see `url::request_timeout`), which a whole-object GET of a large
/// shard would outlast. A part is what 1 MiB/s moves in that time, 1 to 16 MiB.
fn fill_part(timeout: Duration) -> u64 {
    const MIB: f64 = (1u64 << 20) as f64;
    ((timeout.as_secs_f64() / 2.0 * MIB) as u64).clamp(1 << 20, 16 << 20)
}

/// Temporary files made by this process so far (their names' last part).
static TEMPS: AtomicU64 = AtomicU64::new(0);

/// An opened cache directory.
#[derive(Debug)]
pub(crate) struct ObjectCache {
    /// `DIR/shardmix-cache-v1`.
    dir: PathBuf,
    max_bytes: Option<u64>,
    /// One eviction at a time in this process.
    evicting: Mutex<()>,
    /// What the cache did so far.
    stats: Mutex<ObjectCacheStats>,
}

/// FNV-1a, 128 bits: a stable hash (the names must not change between builds).
fn fnv1a128(parts: &[&[u8]]) -> u128 {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for part in parts {
        for &b in part.iter().chain(&[0u8]) {
            h ^= u128::from(b);
            h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
    }
    h
}

/// The kinds of file the cache writes, by name.
#[derive(Debug, PartialEq, Eq)]
enum Owned {
    /// A complete copy.
    Entry,
    /// A fill in progress, or one that was killed.
    Temp,
}

/// Whether `name` is one of the cache's own files: `entry-<32 hex>-<digits>.parquet` or
/// `tmp-<32 hex>-<digits>-<digits>.part`.
fn owned(name: &str) -> Option<Owned> {
    let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = name.strip_prefix("entry-").and_then(|r| r.strip_suffix(".parquet")) {
        let mut p = rest.split('-');
        return (p.next().is_some_and(hex) && p.next().is_some_and(digits) && p.next().is_none())
            .then_some(Owned::Entry);
    }
    if let Some(rest) = name.strip_prefix("tmp-").and_then(|r| r.strip_suffix(".part")) {
        let mut p = rest.split('-');
        let ok = p.next().is_some_and(hex) && p.next().is_some_and(digits) && p.next().is_some_and(digits);
        return (ok && p.next().is_none()).then_some(Owned::Temp);
    }
    None
}

/// A temporary file deleted when this goes, unless taken out first.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl ObjectCache {
    /// Open (create) the cache in `config.dir`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Config`] naming `cache_max_bytes` for a cap of 0;
    /// [`crate::ErrorKind::Io`] naming the directory when it cannot be created.
    pub fn open(config: &CacheConfig) -> Result<Self> {
        if config.max_bytes == Some(0) {
            return Err(Error::config("cache_max_bytes", "must be at least 1"));
        }
        let dir = config.dir.join(SUBDIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(ObjectCache { dir, max_bytes: config.max_bytes, evicting: Mutex::new(()), stats: Mutex::default() })
    }

    fn hash(name: &Path, etag: &str) -> String {
        format!("{:032x}", fnv1a128(&[name.as_os_str().as_encoded_bytes(), etag.as_bytes()]))
    }

    /// The complete copy of the object `name` at (`etag`, `size`), if the cache holds one (it is
    /// touched: the most recently used is evicted last).
    pub fn lookup(&self, name: &Path, etag: &str, size: u64) -> Option<LocalFile> {
        let path = self.dir.join(format!("entry-{}-{size}.parquet", Self::hash(name, etag)));
        let file = File::open(&path).ok()?;
        if file.metadata().ok()?.len() != size {
            return None;
        }
        // Only the eviction order depends on it.
        let _ = file.set_modified(SystemTime::now());
        Some(LocalFile::from_file(name.to_path_buf(), file, size))
    }

    /// What the cache did so far.
    pub fn stats(&self) -> ObjectCacheStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn count(&self, f: impl FnOnce(&mut ObjectCacheStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Count an open served by a copy.
    pub fn note_hit(&self) {
        self.count(|s| s.hits += 1);
    }

    /// Count a copy of `bytes` made.
    pub fn note_fill(&self, bytes: u64) {
        self.count(|s| {
            s.fills += 1;
            s.filled_bytes += bytes;
        });
    }

    /// Count the object `name` read from the store because of `why`.
    pub fn note_bypass(&self, name: &Path, why: &str) {
        self.count(|s| {
            s.bypassed += 1;
            s.last_bypass = Some(format!("{}: {why}", name.display()));
        });
    }

    /// Whether an object of `size` bytes may be cached at all (not larger than the cap).
    pub fn fits(&self, size: u64) -> bool {
        self.max_bytes.is_none_or(|cap| size <= cap)
    }

    /// Download `key` (the object `name`, pinned to `etag` and `size`) into the cache: a
    /// temporary file renamed into place once complete, then the least recently used copies
    /// evicted down to the cap. The copy, opened.
    pub async fn fill(
        &self,
        store: &dyn ObjectStore,
        key: &Key,
        name: &Path,
        etag: &str,
        size: u64,
        timeout: Duration,
    ) -> io::Result<LocalFile> {
        let hash = Self::hash(name, etag);
        let temp =
            self.dir.join(format!("tmp-{hash}-{}-{}.part", std::process::id(), TEMPS.fetch_add(1, Ordering::Relaxed)));
        let fin = self.dir.join(format!("entry-{hash}-{size}.parquet"));
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&temp)?;
        // Removed on failure, and when the download is dropped unfinished (a timeout).
        let mut guard = TempFile(Some(temp));
        Self::download(store, key, etag, size, &file, timeout).await?;
        if let Some(temp) = guard.0.take() {
            if let Err(e) = std::fs::rename(&temp, &fin) {
                guard.0 = Some(temp);
                return Err(e);
            }
        }
        self.evict(&fin);
        Ok(LocalFile::from_file(name.to_path_buf(), file, size))
    }

    /// The whole object into `file`, checked against `etag` and `size`, synced: one ranged GET
    /// per [`fill_part`] bytes, each pinned with `If-Match`. Each GET and each chunk of its body
    /// must come within `timeout` (and the client bounds each request), so a download never
    /// waits longer than that for its next bytes yet may take as long as the object needs.
    async fn download(
        store: &dyn ObjectStore,
        key: &Key,
        etag: &str,
        size: u64,
        mut file: &File,
        timeout: Duration,
    ) -> io::Result<()> {
        let mut written = 0u64;
        while written < size {
            let part = written..size.min(written.saturating_add(fill_part(timeout)));
            let options = GetOptions {
                range: Some(GetRange::Bounded(part.clone())),
                if_match: Some(etag.to_string()),
                ..GetOptions::default()
            };
            let got = bounded(timeout, async { store.get_opts(key, options).await.map_err(io_error) }).await?;
            if got.meta.size != size || got.meta.e_tag.as_deref().is_some_and(|t| t != etag) {
                return Err(io::Error::other(Changed("the object changed while it was cached".into())));
            }
            let mut body = got.into_stream();
            while let Some(chunk) = bounded(timeout, async { Ok(body.next().await) }).await? {
                let chunk = chunk.map_err(io_error)?;
                if written + chunk.len() as u64 > part.end {
                    return Err(io::Error::other(format!(
                        "the store sent more than the {} bytes asked for at {}",
                        part.end - part.start,
                        part.start
                    )));
                }
                file.write_all(&chunk)?;
                written += chunk.len() as u64;
            }
            if written != part.end {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the store sent {written} bytes of a {size}-byte object"),
                ));
            }
        }
        file.sync_data()
    }

    /// Delete the least recently used copies (by modification time) until the cache's copies
    /// take at most the cap, `keep` aside; and temporary files of killed fills. Only files of
    /// the cache's own name patterns in its folder are ever deleted.
    fn evict(&self, keep: &Path) {
        let _one = self.evicting.lock().unwrap_or_else(|p| p.into_inner());
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let now = SystemTime::now();
        let mut copies: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(kind) = entry.file_name().to_str().and_then(owned) else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(now);
            match kind {
                Owned::Temp => {
                    if now.duration_since(modified).is_ok_and(|age| age > STALE_TEMP) {
                        let _ = std::fs::remove_file(&path);
                    }
                }
                Owned::Entry => copies.push((modified, path, meta.len())),
            }
        }
        let Some(cap) = self.max_bytes else { return };
        let mut total: u64 = copies.iter().map(|(_, _, n)| n).sum();
        copies.sort();
        for (_, path, len) in copies {
            if total <= cap {
                break;
            }
            // A copy open in this run stays readable after its name goes (Unix).
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_caches_own_names_are_its_files() {
        let h = "0123456789abcdef0123456789abcdef";
        assert_eq!(owned(&format!("entry-{h}-123.parquet")), Some(Owned::Entry));
        assert_eq!(owned(&format!("tmp-{h}-77-0.part")), Some(Owned::Temp));
        for other in [
            "entry-0123-123.parquet".to_string(),
            format!("entry-{h}-12x.parquet"),
            format!("entry-{h}-1-2.parquet"),
            format!("entry-{}-1.parquet", h.to_uppercase()),
            format!("tmp-{h}-1.part"),
            format!("x-entry-{h}-1.parquet"),
            "data.parquet".into(),
            "notes.txt".into(),
        ] {
            assert_eq!(owned(&other), None, "{other}");
        }
    }

    #[test]
    fn the_key_is_url_etag_and_size() {
        let (a, b) = (Path::new("s3://b/a.parquet"), Path::new("s3://b/b.parquet"));
        assert_ne!(ObjectCache::hash(a, "1"), ObjectCache::hash(a, "2"));
        assert_ne!(ObjectCache::hash(a, "1"), ObjectCache::hash(b, "1"));
        assert_eq!(ObjectCache::hash(a, "1"), ObjectCache::hash(a, "1"));
        // Parts are separated: ("ab", "c") is not ("a", "bc").
        assert_ne!(fnv1a128(&[b"ab", b"c"]), fnv1a128(&[b"a", b"bc"]));
    }
}
