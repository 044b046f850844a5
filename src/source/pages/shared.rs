//! What the blocks of one row group share on the direct path: a column chunk's decoded
//! dictionary, and the decompressed pages that span two blocks.
//!
//! A row group larger than [`ShardSet::block_rows`](crate::ShardSet::block_rows) is decoded as
//! several blocks, each on its own. Without this cache, every block of a dictionary-encoded
//! chunk read and decompressed the dictionary page again (pyarrow's default file: a 512 KiB page
//! per column, for every 65,536 rows), and every page crossing a block edge was decompressed
//! once per block it holds rows of (polars writes one page per column chunk, so each block
//! decompressed the whole chunk).
//!
//! Entries are kept only for row groups cut into blocks, bounded in bytes ([`MAX_BYTES`], the
//! oldest dropped first), and dropped when the block that ends their row group is done. A
//! missing entry only costs the read again.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::basic::Encoding;

/// Bytes of dictionaries and pages kept at most (a row group of 64 float columns with
/// 512 KiB dictionaries holds 32 MiB; two workers may be on two row groups).
pub(crate) const MAX_BYTES: usize = 80 << 20;

/// A column chunk: (file, row group, leaf column).
pub(crate) type ChunkKey = (PathBuf, usize, usize);

/// A data page as decompressed, with what its header said.
#[derive(Clone)]
pub(crate) struct SharedPage {
    /// Values (rows) in the page.
    pub values: usize,
    /// The page's bytes, decompressed (definition levels first, then values).
    pub bytes: Bytes,
    /// Where the definition levels are, if any.
    pub defs: Option<std::ops::Range<usize>>,
    /// Where the values are.
    pub data: std::ops::Range<usize>,
    /// The values' encoding.
    pub encoding: Encoding,
    /// The nulls a v2 header claims.
    pub claimed_nulls: Option<usize>,
}

/// A cached item of a chunk.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Item {
    /// The dictionary's values.
    Dictionary,
    /// Data page `i` of the chunk's page map.
    Page(usize),
}

#[derive(Clone)]
enum Value {
    Dictionary(Bytes),
    Page(SharedPage),
}

impl Value {
    fn bytes(&self) -> usize {
        match self {
            Value::Dictionary(d) => d.len(),
            Value::Page(p) => p.bytes.len(),
        }
    }
}

type Key = (ChunkKey, Item);

/// The cache; one per shard set, shared by its readers.
#[derive(Default)]
pub(crate) struct SharedPages {
    inner: Mutex<Inner>,
}

/// One entry: empty while its first reader reads it (the others wait for it), or after that
/// reader failed.
type Slot = Arc<Mutex<Option<Value>>>;

#[derive(Default)]
struct Inner {
    slots: HashMap<Key, Slot>,
    /// Filled entries in the order they were filled, with their sizes (some may have been
    /// removed from `slots` already).
    order: VecDeque<(Key, usize)>,
    /// Bytes of the filled entries in `slots`.
    bytes: usize,
}

impl std::fmt::Debug for SharedPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedPages")
    }
}

impl SharedPages {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The maps stay consistent whatever a panicking holder did (each step is one insert or
        // remove).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The dictionary of `chunk`: the one kept, else what `read` gives (kept then). While
    /// another reader reads it, this one waits for it rather than reading it too. `None` when
    /// `read` fails.
    pub fn dictionary(&self, chunk: &ChunkKey, read: impl FnOnce() -> Option<Bytes>) -> Option<Bytes> {
        let value = self.get_or_read((chunk.clone(), Item::Dictionary), || read().map(Value::Dictionary))?;
        match value {
            Value::Dictionary(d) => Some(d),
            Value::Page(_) => None,
        }
    }

    /// Data page `page` of `chunk`: the one kept, else what `read` gives (kept then), as
    /// [`dictionary`](Self::dictionary) does.
    pub fn page(&self, chunk: &ChunkKey, page: usize, read: impl FnOnce() -> Option<SharedPage>) -> Option<SharedPage> {
        let value = self.get_or_read((chunk.clone(), Item::Page(page)), || read().map(Value::Page))?;
        match value {
            Value::Page(p) => Some(p),
            Value::Dictionary(_) => None,
        }
    }

    fn get_or_read(&self, key: Key, read: impl FnOnce() -> Option<Value>) -> Option<Value> {
        let slot = self.lock().slots.entry(key.clone()).or_default().clone();
        // Only the read of one page runs under a slot's lock (it takes no other), so waiting
        // here cannot deadlock.
        let mut filled = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = &*filled {
            return Some(value.clone());
        }
        let Some(value) = read() else {
            // Nothing kept: the slot goes, unless another reader took it meanwhile (to read it).
            drop(filled);
            let mut inner = self.lock();
            let idle = slot.try_lock().is_ok_and(|s| s.is_none());
            if idle && inner.slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                inner.slots.remove(&key);
            }
            return None;
        };
        let size = value.bytes();
        *filled = Some(value.clone());
        drop(filled);
        let mut inner = self.lock();
        if size > MAX_BYTES || !inner.slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
            // Too large to keep, or forgotten meanwhile.
            if inner.slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                inner.slots.remove(&key);
            }
            return Some(value);
        }
        while inner.bytes + size > MAX_BYTES {
            let Some((old, old_size)) = inner.order.pop_front() else { break };
            if inner.slots.remove(&old).is_some() {
                inner.bytes -= old_size;
            }
        }
        inner.bytes += size;
        inner.order.push_back((key, size));
        Some(value)
    }

    /// Entries kept (filled or being read).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Drop what is kept of row group `row_group` of `path` (its last block is done).
    pub fn forget(&self, path: &Path, row_group: usize) {
        let mut inner = self.lock();
        if inner.slots.is_empty() {
            return;
        }
        let Inner { slots, order, bytes } = &mut *inner;
        slots.retain(|((p, rg, _), _), _| *rg != row_group || p != path);
        order.retain(|(k, size)| {
            let keep = slots.contains_key(k);
            if !keep {
                *bytes -= size;
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(len: usize) -> SharedPage {
        SharedPage {
            values: len,
            bytes: Bytes::from(vec![7u8; len]),
            defs: None,
            data: 0..len,
            encoding: Encoding::PLAIN,
            claimed_nulls: None,
        }
    }

    fn kept(cache: &SharedPages, chunk: &ChunkKey, i: usize) -> Option<usize> {
        cache.page(chunk, i, || None).map(|p| p.values)
    }

    #[test]
    fn entries_are_read_once_and_kept_within_the_byte_bound_oldest_dropped_first() {
        let cache = SharedPages::default();
        let a: ChunkKey = (PathBuf::from("a"), 0, 0);
        let b: ChunkKey = (PathBuf::from("a"), 1, 0);
        assert_eq!(cache.dictionary(&a, || Some(Bytes::from(vec![1; 16]))).unwrap().len(), 16);
        assert_eq!(cache.dictionary(&a, || panic!("read again")).unwrap().len(), 16);
        assert_eq!(cache.page(&a, 3, || Some(page(MAX_BYTES / 2))).unwrap().values, MAX_BYTES / 2);
        assert_eq!(kept(&cache, &a, 3), Some(MAX_BYTES / 2));
        assert!(kept(&cache, &a, 2).is_none() && cache.dictionary(&b, || None).is_none());
        // A failed read is not kept: the next reader reads it.
        assert_eq!(cache.page(&a, 2, || Some(page(5))).unwrap().values, 5);
        // Over the bound: the oldest (the dictionary, then page 3) go first.
        cache.page(&b, 0, || Some(page(MAX_BYTES / 2))).unwrap();
        assert!(cache.dictionary(&a, || None).is_none());
        assert!(kept(&cache, &a, 3).is_none());
        assert!(kept(&cache, &b, 0).is_some() && kept(&cache, &a, 2).is_some());
        // Too large to keep at all.
        cache.page(&b, 2, || Some(page(MAX_BYTES + 1))).unwrap();
        assert!(kept(&cache, &b, 2).is_none() && kept(&cache, &b, 0).is_some());
        assert!(cache.lock().bytes <= MAX_BYTES);
    }

    #[test]
    fn a_second_reader_waits_for_the_first_instead_of_reading_too() {
        let cache = Arc::new(SharedPages::default());
        let key: ChunkKey = (PathBuf::from("a"), 0, 0);
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (cache, key, reads) = (cache.clone(), key.clone(), reads.clone());
                std::thread::spawn(move || {
                    cache
                        .page(&key, 0, || {
                            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Some(page(10))
                        })
                        .unwrap()
                        .values
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 10);
        }
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn forgetting_a_row_group_drops_only_its_entries() {
        let cache = SharedPages::default();
        let a: ChunkKey = (PathBuf::from("a"), 0, 0);
        let a1: ChunkKey = (PathBuf::from("a"), 1, 0);
        let b: ChunkKey = (PathBuf::from("b"), 0, 0);
        for k in [&a, &a1, &b] {
            cache.dictionary(k, || Some(Bytes::from(vec![0u8; 8]))).unwrap();
            cache.page(k, 0, || Some(page(8))).unwrap();
        }
        cache.forget(Path::new("a"), 0);
        assert!(cache.dictionary(&a, || None).is_none() && kept(&cache, &a, 0).is_none());
        assert!(cache.dictionary(&a1, || None).is_some() && kept(&cache, &b, 0).is_some());
        let inner = cache.lock();
        assert_eq!(inner.bytes, 32);
        assert_eq!(inner.order.len(), 4);
    }
}
