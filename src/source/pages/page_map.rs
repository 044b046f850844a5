//! Where the data pages of a column chunk are and which rows each holds, from one walk of its
//! page headers ([`thrift::walk_page_headers`]), kept for every block of the row group.
//!
//! Without it, each block of a large row group walked the page headers of its column chunks
//! from the start (to check them, then again to skip to its first row): a chunk of a million
//! one-value pages took 24 s to stream. With it, the headers of a chunk are read once, and a
//! block finds its first page by binary search and reads only its own pages.
//!
//! [`thrift::walk_page_headers`]: crate::source::footer::thrift::walk_page_headers

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use parquet::file::page_index::offset_index::PageLocation;

use crate::source::footer::thrift::PageInfo;

/// The data pages of one flat column chunk, in order.
#[derive(Debug)]
pub(crate) struct PageMap {
    /// Each data page as parquet's offset index gives it: file offset of its header, bytes
    /// (header included), first row.
    pub locations: Vec<PageLocation>,
    /// Rows of the chunk (the first row after its last page).
    pub rows: u64,
}

impl PageMap {
    /// The map of a column chunk starting at file offset `start` whose headers say `pages`,
    /// when it is laid out as the direct path reads it (`None` otherwise: an index page, a
    /// dictionary page after a data page or twice, a row count missing or out of range).
    pub fn from_walk(start: u64, pages: &[PageInfo]) -> Option<Self> {
        let mut locations = Vec::new();
        locations.try_reserve(pages.len()).ok()?;
        let mut rows = 0u64;
        let mut dictionary = false;
        for page in pages {
            match page.kind {
                2 if !dictionary && locations.is_empty() => dictionary = true,
                0 | 3 => {
                    // Flat columns: a v1 page holds one row per value.
                    let n = if page.kind == 3 { page.num_rows } else { page.num_values };
                    let n = u64::try_from(n).ok()?;
                    let size = page.header_len.checked_add(page.compressed)?;
                    locations.push(PageLocation {
                        offset: i64::try_from(start.checked_add(page.offset)?).ok()?,
                        compressed_page_size: i32::try_from(size).ok()?,
                        first_row_index: i64::try_from(rows).ok()?,
                    });
                    rows = rows.checked_add(n)?;
                }
                _ => return None,
            }
        }
        // Pages of no rows would share a first row with their neighbour: the binary search
        // below needs distinct first rows.
        if locations.windows(2).any(|w| w[0].first_row_index >= w[1].first_row_index) {
            return None;
        }
        Some(PageMap { locations, rows })
    }

    /// The index of the page holding `row` (the last page when `row` is beyond the chunk).
    pub fn page_of(&self, row: u64) -> usize {
        self.locations.partition_point(|l| l.first_row_index as u64 <= row).saturating_sub(1)
    }

    /// Rows of page `i`.
    pub fn rows_of(&self, i: usize) -> u64 {
        let next = self.locations.get(i + 1).map_or(self.rows, |l| l.first_row_index as u64);
        next - self.locations[i].first_row_index as u64
    }
}

/// Page maps shared by the readers of a shard set, keyed by (file, row group, leaf column);
/// `None` for a chunk whose headers are valid but not laid out as [`PageMap`] needs. Blocks
/// decoded at once wait for one walk of a chunk instead of each walking it. Bounded: past
/// [`MAX_CACHED_PAGES`] pages in all, the cache starts again empty.
#[derive(Default)]
pub(crate) struct PageMaps {
    inner: Mutex<(HashMap<Key, Arc<Slot>>, usize)>,
}

type Key = (PathBuf, usize, usize);

/// One chunk's map, once walked.
type Slot = Mutex<Option<Arc<Option<PageMap>>>>;

/// Data pages kept in all maps (24 bytes each: 48 MiB).
pub(crate) const MAX_CACHED_PAGES: usize = 2 << 20;

impl std::fmt::Debug for PageMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageMaps")
    }
}

impl PageMaps {
    /// The map of the chunk `key`, walked by `walk` unless it was before (or is being walked
    /// by another reader, which this one then waits for). A failed walk is not kept.
    pub fn get_or_walk<E>(
        &self,
        key: Key,
        walk: impl FnOnce() -> Result<Option<PageMap>, E>,
    ) -> Result<Arc<Option<PageMap>>, E> {
        let slot = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.0.entry(key.clone()).or_default().clone()
        };
        let mut walked = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = &*walked {
            return Ok(map.clone());
        }
        let map = Arc::new(walk()?);
        let pages = map.as_ref().as_ref().map_or(0, |m| m.locations.len()).max(1);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if pages > MAX_CACHED_PAGES {
            inner.0.remove(&key);
            return Ok(map);
        }
        if inner.1 + pages > MAX_CACHED_PAGES {
            inner.0.clear();
            inner.1 = 0;
            inner.0.insert(key, slot.clone());
        }
        inner.1 += pages;
        *walked = Some(map.clone());
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(offset: u64, kind: i64, n: i64) -> PageInfo {
        PageInfo { offset, header_len: 10, kind, uncompressed: 5, compressed: 5, num_values: n, num_rows: n }
    }

    #[test]
    fn pages_are_found_by_row() {
        let map = PageMap::from_walk(100, &[page(0, 2, 3), page(15, 0, 4), page(30, 3, 1), page(45, 0, 5)]).unwrap();
        assert_eq!(map.rows, 10);
        assert_eq!(map.locations[0].offset, 115);
        assert_eq!(map.locations[0].compressed_page_size, 15);
        assert_eq!([0, 3, 4, 5, 9, 10].map(|r| map.page_of(r)), [0, 0, 1, 2, 2, 2]);
        assert_eq!((map.rows_of(0), map.rows_of(1), map.rows_of(2)), (4, 1, 5));
    }

    #[test]
    fn layouts_the_map_does_not_describe_give_none() {
        assert!(PageMap::from_walk(0, &[page(0, 0, 4), page(15, 2, 3)]).is_none(), "dictionary after data");
        assert!(PageMap::from_walk(0, &[page(0, 1, 0)]).is_none(), "index page");
        assert!(PageMap::from_walk(0, &[page(0, 0, -1)]).is_none(), "negative count");
        assert!(PageMap::from_walk(0, &[page(0, 0, 4), page(15, 0, 0), page(30, 0, 1)]).is_none(), "empty page");
    }
}
