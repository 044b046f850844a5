//! Shards in object storage — S3 (and S3-compatible servers), Google Cloud Storage, Azure Blob
//! Storage and plain HTTP(S) — through the `object_store` crate, behind the same [`Storage`] /
//! [`ByteSource`] seam as local files.
//!
//! * [`url`]: which store a URL names and its client, from the store's environment variables;
//! * [`runtime`]: the blocking facade (one small tokio runtime per store, reads bounded in time);
//! * [`source`]: one object as a [`ByteSource`], pinned to its ETag and size;
//! * [`cache`]: whole objects kept in a local directory, for the epochs after the first.

pub(crate) mod cache;
pub(crate) mod runtime;
pub(crate) mod source;
pub(crate) mod url;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ListResult, ObjectMeta, ObjectStore};

use self::cache::ObjectCache;
use self::runtime::Blocking;
use self::source::{io_error, ObjectSource};
use self::url::{Kind, ObjectUrl};
use crate::error::{Error, Result};
use crate::source::bytes::{ByteSource, CacheConfig, Storage};

/// Objects opened at once by [`Storage::open_ahead`] (each open is one GET of the object's tail).
const OPEN_AHEAD_REQUESTS: usize = 32;

/// One store (a bucket, a container, an HTTP host) and the runtime its requests run on.
#[derive(Debug)]
pub(crate) struct ObjectStorage {
    url: ObjectUrl,
    store: Arc<dyn ObjectStore>,
    rt: Arc<Blocking>,
    /// Requests in flight per read ([`source::REQUESTS_ENV`]).
    parallel: usize,
    /// The objects opened so far: a shard is opened again for every block it gives, and must
    /// stay the version (size and ETag) seen when its footer was read.
    opened: Mutex<HashMap<PathBuf, Arc<dyn ByteSource>>>,
    /// The local cache of whole objects, if one is used.
    cache: Option<Arc<ObjectCache>>,
}

/// The storage for `spec` when it is an object-store URL (`s3://`, `gs://`, `az://`,
/// `https://`, …), its objects cached in `cache` if given; `None` for anything else.
pub(crate) fn storage_for_url(spec: &str, cache: Option<&CacheConfig>) -> Option<Result<Arc<dyn Storage>>> {
    let url = match ObjectUrl::parse(spec)? {
        Ok(url) => url,
        Err(e) => return Some(Err(e)),
    };
    Some(ObjectStorage::new(url, cache).map(|s| Arc::new(s) as Arc<dyn Storage>))
}

/// Open `key` (the object `name`) for reading. Without a cache: an [`ObjectSource`] (one GET of
/// its tail). With one: a HEAD for its ETag and size; the cached copy of that version if there
/// is one, else the whole object downloaded into the cache and read from there. An object
/// without an ETag, larger than the cap, or whose copy cannot be made is read from the
/// store as without a cache (and counted, [`ObjectCache::stats`]).
///
/// Each request is bounded by the store's timeout on its own ([`runtime::bounded`]): the HEAD,
/// the tail GET, and a download's GET and every chunk of its body. So a download may take as
/// long as the object needs, but never waits longer than the timeout for its next bytes. Run
/// it with [`Blocking::run_stepwise`].
async fn open_object(
    name: PathBuf,
    store: Arc<dyn ObjectStore>,
    key: Key,
    rt: Arc<Blocking>,
    parallel: usize,
    cache: Option<Arc<ObjectCache>>,
) -> std::io::Result<Arc<dyn ByteSource>> {
    let timeout = rt.timeout();
    if let Some(cache) = cache {
        let meta = runtime::bounded(timeout, source::head(&*store, &key)).await?;
        match &meta.e_tag {
            None => cache.note_bypass(&name, "the store gives it no ETag"),
            Some(etag) => {
                if let Some(hit) = cache.lookup(&name, etag, meta.size) {
                    cache.note_hit();
                    return Ok(Arc::new(hit));
                }
                if !cache.fits(meta.size) {
                    cache.note_bypass(&name, &format!("{} bytes, larger than cache_max_bytes", meta.size));
                } else {
                    match cache.fill(&*store, &key, &name, etag, meta.size, timeout).await {
                        Ok(copy) => {
                            cache.note_fill(meta.size);
                            return Ok(Arc::new(copy));
                        }
                        Err(e) => cache.note_bypass(&name, &format!("its copy failed: {e}")),
                    }
                }
            }
        }
    }
    Ok(Arc::new(runtime::bounded(timeout, ObjectSource::open_async(name, store, key, rt, parallel)).await?))
}

/// Whether `name` is the name of a shard a listing keeps: not hidden (`.x`, `_SUCCESS`), not a
/// "directory" marker.
fn visible(key: &str) -> bool {
    let file = key.rsplit('/').next().unwrap_or(key);
    !file.is_empty() && !file.starts_with(['.', '_'])
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl ObjectStorage {
    fn new(url: ObjectUrl, cache: Option<&CacheConfig>) -> Result<Self> {
        let timeout = runtime::timeout_from_env()?;
        let parallel = source::requests_from_env()?;
        let store = url.build_store(timeout)?;
        let rt = Blocking::new(timeout).map_err(|e| Error::io(url.base.clone(), e))?;
        let cache = cache.map(ObjectCache::open).transpose()?.map(Arc::new);
        Ok(ObjectStorage { url, store, rt: Arc::new(rt), parallel, opened: Mutex::default(), cache })
    }

    /// An error about the spec or object `what`.
    fn io(&self, what: &str, e: std::io::Error) -> Error {
        Error::io(PathBuf::from(what), e)
    }

    /// Every object under `prefix` (recursive).
    fn list_all(&self, prefix: &str) -> std::io::Result<Vec<ObjectMeta>> {
        let store = self.store.clone();
        let prefix = (!prefix.is_empty()).then(|| Key::from(prefix));
        self.rt.run(async move { store.list(prefix.as_ref()).try_collect::<Vec<_>>().await.map_err(io_error) })
    }

    /// The objects directly under `prefix` (one level, like a directory).
    fn list_dir(&self, prefix: &str) -> std::io::Result<Vec<ObjectMeta>> {
        let store = self.store.clone();
        let prefix = (!prefix.is_empty()).then(|| Key::from(prefix));
        self.rt.run(async move {
            let ListResult { objects, .. } = store.list_with_delimiter(prefix.as_ref()).await.map_err(io_error)?;
            Ok(objects)
        })
    }

    /// Whether `key` is an object.
    fn exists(&self, key: &str) -> std::io::Result<bool> {
        let store = self.store.clone();
        let key = Key::from(key);
        self.rt.run(async move {
            match source::head(&*store, &key).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// The names of the shards `url` (of this store) names, sorted.
    fn list_url(&self, spec: &str, url: &ObjectUrl) -> Result<Vec<String>> {
        let key = url.key.as_str();
        let mut keys: Vec<String> = if has_glob_chars(key) {
            // The literal directory before the first wildcard is listed; the pattern picks
            // from it (`*` stops at `/`, as for local paths).
            let pattern =
                glob::Pattern::new(key).map_err(|e| Error::config("data", format!("bad pattern '{spec}': {e}")))?;
            let literal = &key[..key.find(['*', '?', '[']).unwrap_or(key.len())];
            let dir = &literal[..literal.rfind('/').map_or(0, |i| i + 1)];
            let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
            let found = self.list_all(dir.trim_end_matches('/')).map_err(|e| self.io(spec, e))?;
            found
                .into_iter()
                .map(|m| m.location.to_string())
                .filter(|k| pattern.matches_with(k, options) && visible(k))
                .collect()
        } else if key.is_empty() || key.ends_with('/') || url.kind == Kind::Http && key.is_empty() {
            self.parquet_in(spec, key.trim_end_matches('/'))?
        } else if url.kind == Kind::Http || self.exists(key).map_err(|e| self.io(spec, e))? {
            vec![key.to_string()]
        } else {
            // `s3://bucket/dir` without the slash: the objects under `dir/`.
            self.parquet_in(spec, key)?
        };
        keys.sort();
        keys.dedup();
        Ok(keys.iter().map(|k| url.name_of(k)).collect())
    }

    /// The visible `*.parquet` objects directly under `dir`.
    fn parquet_in(&self, spec: &str, dir: &str) -> Result<Vec<String>> {
        let found = self.list_dir(dir).map_err(|e| self.io(spec, e))?;
        Ok(found
            .into_iter()
            .map(|m| m.location.to_string())
            .filter(|k| k.ends_with(".parquet") && visible(k))
            .collect())
    }

    /// The key of `name` in this store.
    fn key_of(&self, name: &Path) -> Result<Key> {
        let s = name.to_str().unwrap_or_default();
        let rest = s.strip_prefix(self.url.base.as_str()).and_then(|r| r.strip_prefix('/'));
        match rest {
            Some(key) if !key.is_empty() => {
                Key::parse(key).map_err(|e| Error::config("data", format!("'{s}' is not a valid object key: {e}")))
            }
            _ => Err(Error::config("data", format!("'{}' is not an object of {}", name.display(), self.url.base))),
        }
    }
}

impl Storage for ObjectStorage {
    fn list(&self, spec: &str) -> Result<Vec<PathBuf>> {
        let url = match ObjectUrl::parse(spec) {
            Some(parsed) => parsed?,
            None => return Err(Error::config("data", format!("'{spec}' is not a URL of {}", self.url.base))),
        };
        if url.base != self.url.base {
            return Err(Error::config("data", format!("'{spec}' is not in {}", self.url.base)));
        }
        // Nothing found is an empty list, as for a local glob: the caller says NoShards.
        Ok(self.list_url(spec, &url)?.into_iter().map(PathBuf::from).collect())
    }

    fn open(&self, name: &Path) -> Result<Arc<dyn ByteSource>> {
        if let Some(source) = self.opened.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(source.clone());
        }
        let key = self.key_of(name)?;
        let (store, rt, parallel, cache) = (self.store.clone(), self.rt.clone(), self.parallel, self.cache.clone());
        let source = self
            .rt
            .run_stepwise(open_object(name.to_path_buf(), store, key, rt, parallel, cache))
            .map_err(|e| Error::io(name, e))?;
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        // Two threads may open the same object at once: the first one in is kept.
        Ok(opened.entry(name.to_path_buf()).or_insert(source).clone())
    }

    fn object_cache_stats(&self) -> Option<crate::source::bytes::ObjectCacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    fn open_ahead(&self, names: &[PathBuf]) {
        let todo: Vec<(PathBuf, Key)> = {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            names
                .iter()
                .filter(|n| !opened.contains_key(*n))
                .filter_map(|n| Some((n.clone(), self.key_of(n).ok()?)))
                .collect()
        };
        if todo.len() < 2 {
            return;
        }
        let (store, rt, parallel, cache) = (self.store.clone(), self.rt.clone(), self.parallel, self.cache.clone());
        let width = OPEN_AHEAD_REQUESTS;
        let got = self.rt.run_stepwise(async move {
            let opens = todo.into_iter().map(|(name, key)| {
                let (store, rt, cache) = (store.clone(), rt.clone(), cache.clone());
                async move { open_object(name.clone(), store, key, rt, parallel, cache).await.ok().map(|s| (name, s)) }
            });
            Ok(futures_util::stream::iter(opens).buffer_unordered(width).collect::<Vec<_>>().await)
        });
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        for (name, source) in got.into_iter().flatten().flatten() {
            opened.entry(name).or_insert(source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_marker_keys_are_not_shards() {
        assert!(visible("a/b.parquet"));
        assert!(visible("b.parquet"));
        assert!(!visible("a/_SUCCESS"));
        assert!(!visible("a/.tmp.parquet"));
        assert!(!visible("a/"));
    }
}
