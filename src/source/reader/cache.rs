//! A bounded, shared cache of decoded row groups with single-flight loading: when several
//! workers need the same row group at once, one decodes it and the others wait for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Result;
use crate::source::decode::Decoded;

type Cell = Arc<OnceLock<Result<Arc<Decoded>>>>;

struct Entry {
    cell: Cell,
    last_use: u64,
    /// 0 while loading; the decoded size once counted.
    bytes: usize,
}

#[derive(Default)]
struct Inner {
    map: HashMap<usize, Entry>,
    tick: u64,
    bytes: usize,
    peak: usize,
    hits: u64,
    misses: u64,
}

/// Counters of a [`Reader`](crate::Reader)'s block cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// The configured capacity in bytes.
    pub capacity: usize,
    /// Bytes of decoded row groups held now.
    pub bytes: usize,
    /// The most bytes ever held at once (never above `capacity`).
    pub peak_bytes: usize,
    /// Lookups served from the cache (or by waiting for another worker's decode).
    pub hits: u64,
    /// Lookups that decoded.
    pub misses: u64,
}

/// The cache. Row groups larger than the whole capacity are decoded for their readers but
/// not kept, so the held bytes never exceed the capacity.
pub(crate) struct RowGroupCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl RowGroupCache {
    pub fn new(capacity: usize) -> Self {
        RowGroupCache { capacity, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent (every update is
        // a few plain assignments), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The row group `key`, decoding it with `decode` if no one has.
    pub fn get(&self, key: usize, decode: impl FnOnce() -> Result<Decoded>) -> Result<Arc<Decoded>> {
        let cell = {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            let entry = inner.map.entry(key).or_insert_with(|| Entry {
                cell: Arc::new(OnceLock::new()),
                last_use: tick,
                bytes: 0,
            });
            entry.last_use = tick;
            let cell = entry.cell.clone();
            if cell.get().is_some() {
                inner.hits += 1;
            }
            cell
        };
        let mut decoded_here = false;
        let result = cell
            .get_or_init(|| {
                decoded_here = true;
                let decoded = decode().map(Arc::new);
                // Counted before the block is published: a reader woken by it (the pipeline's
                // last step, say, waiting on a read-ahead) must find it counted in the stats.
                self.lock().misses += 1;
                decoded
            })
            .clone();
        if decoded_here {
            let mut inner = self.lock();
            let keep = matches!(&result, Ok(d) if d.bytes() <= self.capacity);
            if keep {
                let size = result.as_ref().map(|d| d.bytes()).unwrap_or(0);
                if let Some(e) = inner.map.get_mut(&key).filter(|e| Arc::ptr_eq(&e.cell, &cell)) {
                    e.bytes = size;
                    inner.bytes += size;
                    self.evict(&mut inner, key);
                }
            } else if inner.map.get(&key).is_some_and(|e| Arc::ptr_eq(&e.cell, &cell)) {
                // Errors are not cached (a later step may retry); oversize groups are not kept.
                inner.map.remove(&key);
            }
        }
        result
    }

    /// Reserve `key` for a load that is about to start elsewhere (a read-ahead): true when it
    /// was neither loaded nor loading, and the caller must now load it with [`get`](Self::get).
    /// A reader that needs the block first simply decodes it itself.
    pub fn claim(&self, key: usize) -> bool {
        let mut inner = self.lock();
        if inner.map.contains_key(&key) {
            return false;
        }
        inner.tick += 1;
        let last_use = inner.tick;
        inner.map.insert(key, Entry { cell: Arc::new(OnceLock::new()), last_use, bytes: 0 });
        true
    }

    fn evict(&self, inner: &mut Inner, keep: usize) {
        while inner.bytes > self.capacity {
            let victim = inner
                .map
                .iter()
                .filter(|(k, e)| **k != keep && e.bytes > 0)
                .min_by_key(|(_, e)| e.last_use)
                .map(|(k, _)| *k);
            let Some(k) = victim else { break };
            if let Some(e) = inner.map.remove(&k) {
                inner.bytes -= e.bytes;
            }
        }
        inner.peak = inner.peak.max(inner.bytes);
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            capacity: self.capacity,
            bytes: inner.bytes,
            peak_bytes: inner.peak,
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(n: usize) -> Decoded {
        Decoded::new(n, vec![0.0; n], Vec::new(), None)
    }

    #[test]
    fn evicts_least_recently_used_and_stays_bounded() {
        let cache = RowGroupCache::new(100 * 4);
        for k in 0..10 {
            cache.get(k, || Ok(decoded(40))).unwrap();
        }
        let s = cache.stats();
        assert!(s.peak_bytes <= 400, "{s:?}");
        assert_eq!(s.misses, 10);
        // 0 was evicted long ago; 9 is still there.
        let mut decoded_again = false;
        cache
            .get(9, || {
                decoded_again = true;
                Ok(decoded(40))
            })
            .unwrap();
        assert!(!decoded_again);
        cache
            .get(0, || {
                decoded_again = true;
                Ok(decoded(40))
            })
            .unwrap();
        assert!(decoded_again);
    }

    #[test]
    fn oversize_and_errors_are_not_kept() {
        let cache = RowGroupCache::new(16);
        cache.get(1, || Ok(decoded(100))).unwrap();
        assert_eq!(cache.stats().bytes, 0);
        let err = cache.get(2, || Err(crate::Error::config("x", "y"))).unwrap_err();
        assert!(matches!(err.kind(), crate::ErrorKind::Config { name, .. } if name == "x"), "{err:?}");
        assert!(cache.get(2, || Ok(decoded(1))).is_ok());
    }

    #[test]
    fn claim_reserves_once_and_get_loads() {
        let cache = RowGroupCache::new(1 << 20);
        assert!(cache.claim(3));
        assert!(!cache.claim(3), "already claimed");
        cache.get(3, || Ok(decoded(10))).unwrap();
        assert!(!cache.claim(3), "loaded");
        let s = cache.stats();
        assert_eq!((s.misses, s.bytes), (1, 40));
    }

    #[test]
    fn single_flight_under_contention() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cache = RowGroupCache::new(1 << 20);
        let calls = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    cache
                        .get(7, || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            Ok(decoded(10))
                        })
                        .unwrap();
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
