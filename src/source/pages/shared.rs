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
use std::sync::Mutex;

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

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Value>,
    /// Keys in insertion order (some may have been removed from `entries` already).
    order: VecDeque<Key>,
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

    /// The dictionary of `chunk`, if kept.
    pub fn dictionary(&self, chunk: &ChunkKey) -> Option<Bytes> {
        match self.lock().entries.get(&(chunk.clone(), Item::Dictionary)) {
            Some(Value::Dictionary(d)) => Some(d.clone()),
            _ => None,
        }
    }

    /// Keep the dictionary of `chunk`.
    pub fn keep_dictionary(&self, chunk: &ChunkKey, values: Bytes) {
        self.insert((chunk.clone(), Item::Dictionary), Value::Dictionary(values));
    }

    /// Data page `page` of `chunk`, if kept.
    pub fn page(&self, chunk: &ChunkKey, page: usize) -> Option<SharedPage> {
        match self.lock().entries.get(&(chunk.clone(), Item::Page(page))) {
            Some(Value::Page(p)) => Some(p.clone()),
            _ => None,
        }
    }

    /// Keep data page `page` of `chunk`.
    pub fn keep_page(&self, chunk: &ChunkKey, page: usize, value: SharedPage) {
        self.insert((chunk.clone(), Item::Page(page)), Value::Page(value));
    }

    fn insert(&self, key: Key, value: Value) {
        let size = value.bytes();
        if size > MAX_BYTES {
            return;
        }
        let mut inner = self.lock();
        while inner.bytes + size > MAX_BYTES {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some(v) = inner.entries.remove(&old) {
                inner.bytes -= v.bytes();
            }
        }
        inner.bytes += size;
        match inner.entries.insert(key.clone(), value) {
            // Kept already (two readers read it at once): its place in the order stays.
            Some(v) => inner.bytes -= v.bytes(),
            None => inner.order.push_back(key),
        }
    }

    /// Entries kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Drop what is kept of row group `row_group` of `path` (its last block is done).
    pub fn forget(&self, path: &Path, row_group: usize) {
        let mut inner = self.lock();
        if inner.entries.is_empty() {
            return;
        }
        let Inner { entries, order, bytes } = &mut *inner;
        entries.retain(|((p, rg, _), _), v| {
            let keep = *rg != row_group || p != path;
            if !keep {
                *bytes -= v.bytes();
            }
            keep
        });
        order.retain(|k| entries.contains_key(k));
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

    #[test]
    fn entries_are_kept_within_the_byte_bound_oldest_dropped_first() {
        let cache = SharedPages::default();
        let a: ChunkKey = (PathBuf::from("a"), 0, 0);
        let b: ChunkKey = (PathBuf::from("a"), 1, 0);
        cache.keep_dictionary(&a, Bytes::from(vec![1; 16]));
        cache.keep_page(&a, 3, page(MAX_BYTES / 2));
        assert_eq!(cache.dictionary(&a).unwrap().len(), 16);
        assert_eq!(cache.page(&a, 3).unwrap().values, MAX_BYTES / 2);
        assert!(cache.page(&a, 2).is_none() && cache.dictionary(&b).is_none());
        // Over the bound: the oldest (the dictionary, then page 3) go first.
        cache.keep_page(&b, 0, page(MAX_BYTES / 2));
        assert!(cache.dictionary(&a).is_none());
        assert!(cache.page(&a, 3).is_some());
        cache.keep_page(&b, 1, page(MAX_BYTES / 4));
        assert!(cache.page(&a, 3).is_none() && cache.page(&b, 0).is_some() && cache.page(&b, 1).is_some());
        // Too large to keep at all.
        cache.keep_page(&b, 2, page(MAX_BYTES + 1));
        assert!(cache.page(&b, 2).is_none() && cache.page(&b, 0).is_some());
        assert!(cache.lock().bytes <= MAX_BYTES);
    }

    #[test]
    fn forgetting_a_row_group_drops_only_its_entries() {
        let cache = SharedPages::default();
        let a: ChunkKey = (PathBuf::from("a"), 0, 0);
        let a1: ChunkKey = (PathBuf::from("a"), 1, 0);
        let b: ChunkKey = (PathBuf::from("b"), 0, 0);
        for k in [&a, &a1, &b] {
            cache.keep_dictionary(k, Bytes::from(vec![0u8; 8]));
            cache.keep_page(k, 0, page(8));
        }
        cache.forget(Path::new("a"), 0);
        assert!(cache.dictionary(&a).is_none() && cache.page(&a, 0).is_none());
        assert!(cache.dictionary(&a1).is_some() && cache.page(&b, 0).is_some());
        let inner = cache.lock();
        assert_eq!(inner.bytes, 32);
        assert_eq!(inner.order.len(), 4);
    }
}
