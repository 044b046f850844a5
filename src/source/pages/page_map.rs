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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::file::metadata::page_index::PageIndexProvider;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};

use crate::source::footer::thrift::PageInfo;

/// The data pages of one column chunk, in order.
#[derive(Debug)]
pub(crate) struct PageMap {
    /// Each data page as parquet's offset index gives it: file offset of its header, bytes
    /// (header included), first row.
    pub locations: Vec<PageLocation>,
    /// Rows of the chunk (the first row after its last page).
    pub rows: u64,
    /// Whether the direct path may read the chunk by this map: false when the chunk holds an
    /// empty data page or an index page, which the direct path leaves to arrow-rs (skipping to
    /// a block's first row past an empty page, it would not look at a page arrow-rs reads and
    /// may refuse: differential finding cd25b52a).
    pub direct: bool,
    /// Whether every data page is a v2 page, whose header counts its rows (records): only then
    /// does `first_row_index` count the records of a repeated column (a v1 page's value count
    /// is its row count in a flat column only).
    pub v2: bool,
    /// For a repeated column whose pages are not all v2 pages: the locations again, with the
    /// first *record* of each page, counted from the pages' repetition levels the first time a
    /// block of part of the row group needs them ([`PageMap::records_or_count`]); `None` inside
    /// when they cannot be counted (a page that starts inside a record, levels that end before
    /// the values the page claims, a total other than the row group's rows).
    records: OnceLock<Option<Vec<PageLocation>>>,
}

impl PageMap {
    /// The map of a column chunk starting at file offset `start` whose headers say `pages`
    /// (`None` when the chunk is not laid out as an offset index can describe it: an index
    /// page before the first data page, a dictionary page after a data page or twice, a row
    /// count missing or out of range). Index pages after the first data page are left out (no
    /// reader decodes them); an empty data page is kept, sharing its first row with the next.
    pub fn from_walk(start: u64, pages: &[PageInfo]) -> Option<Self> {
        let mut locations = Vec::new();
        locations.try_reserve(pages.len()).ok()?;
        let (mut rows, mut direct, mut v2) = (0u64, true, true);
        let mut dictionary = false;
        for page in pages {
            match page.kind {
                2 if !dictionary && locations.is_empty() => dictionary = true,
                // arrow-rs takes the bytes before the first data page for the dictionary page.
                1 if !locations.is_empty() => direct = false,
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
                    direct &= n > 0;
                    v2 &= page.kind == 3;
                }
                _ => return None,
            }
        }
        Some(PageMap { locations, rows, direct, v2, records: OnceLock::new() })
    }

    /// The locations with each page's first record, for a column that is `flat` (one record a
    /// value) or not, if known: a flat column's or v2 pages' own, else those counted by
    /// [`PageMap::records_or_count`] (if it ran and they could be counted).
    pub fn record_locations(&self, flat: bool) -> Option<&Vec<PageLocation>> {
        if flat || self.v2 {
            return Some(&self.locations);
        }
        self.records.get()?.as_ref()
    }

    /// As [`PageMap::record_locations`], counting the records of a repeated column's pages
    /// with `count` (each page's records, in the order of [`PageMap::locations`]) the first
    /// time (once per chunk: later calls, from any thread, get the result). `None` when they
    /// cannot be counted, or do not add up to `rows` (the row group's).
    pub fn records_or_count(
        &self,
        flat: bool,
        rows: u64,
        count: impl FnOnce() -> Option<Vec<u64>>,
    ) -> Option<&Vec<PageLocation>> {
        if flat || self.v2 {
            return Some(&self.locations);
        }
        let counted = self.records.get_or_init(|| {
            let records = count()?;
            if records.len() != self.locations.len() {
                return None;
            }
            let mut first = 0u64;
            let mut out = Vec::new();
            out.try_reserve(records.len()).ok()?;
            for (location, n) in self.locations.iter().zip(records) {
                out.push(PageLocation { first_row_index: i64::try_from(first).ok()?, ..location.clone() });
                first = first.checked_add(n)?;
            }
            (first == rows).then_some(out)
        });
        counted.as_ref()
    }

    /// The index of the page holding `row` (the last page when `row` is beyond the chunk). An
    /// empty page shares its first row with the page after it, which is the one found.
    pub fn page_of(&self, row: u64) -> usize {
        self.locations.partition_point(|l| l.first_row_index as u64 <= row).saturating_sub(1)
    }

    /// Rows of page `i`.
    pub fn rows_of(&self, i: usize) -> u64 {
        let next = self.locations.get(i + 1).map_or(self.rows, |l| l.first_row_index as u64);
        next - self.locations[i].first_row_index as u64
    }
}

/// The page index arrow-rs reads one row group with, when that row group is alone in the
/// reader's metadata (as its row group 0): each column chunk's [`PageMap`] as its offset index,
/// and for a chunk without one, the file's own page index.
///
/// Without page locations, arrow-rs walks a chunk's page headers from its start to skip to the
/// first row of a block: a chunk of a million one-value pages read in 16 blocks walked 8
/// million headers. With them, a block skips the pages before it without reading them.
///
/// A map replaces the file's own offset index: it was read from the page headers arrow-rs
/// decodes, so the two agree. Only the page locations are served (what arrow-rs's
/// synchronous reader asks for); [`PageIndexProvider::offset_index`] stays the file's.
#[derive(Debug)]
pub(crate) struct MapIndex {
    /// The file's page index, if it has one (and it was checked when the footer was read).
    file: Option<Arc<dyn PageIndexProvider>>,
    /// The row group's index in the file.
    row_group: usize,
    /// Page maps by leaf column whose first rows count records (a flat column's, a repeated
    /// column's of v2 pages, or one whose records were counted) and which cover the row
    /// group's rows; and whether the leaf is flat.
    maps: Vec<(usize, Arc<Option<PageMap>>, bool)>,
}

impl MapIndex {
    /// The index of row group `row_group` of a file whose page index is `file`: `maps` that
    /// count records (of the leaf columns for which `flat` holds, of v2 pages, or whose records
    /// were counted: [`PageMap::records_or_count`]) and cover `rows` rows, else the file's.
    ///
    /// For a repeated column of v2 pages, arrow-rs's reader without an offset index takes each
    /// page to start a record (the format requires it of v2 pages) and a v2 header's row count
    /// to be its records, as the map does; v1 pages (whose records may span pages, and whose
    /// headers count values) are served only once their records were counted from their
    /// levels, every page starting a record.
    pub fn new(
        file: Option<Arc<dyn PageIndexProvider>>,
        row_group: usize,
        rows: u64,
        maps: &[(usize, Arc<Option<PageMap>>)],
        flat: impl Fn(usize) -> bool,
    ) -> Self {
        let usable = |(leaf, map): &&(usize, Arc<Option<PageMap>>)| {
            map.as_ref().as_ref().is_some_and(|m| {
                m.record_locations(flat(*leaf)).is_some_and(|l| !l.is_empty())
                    && (m.rows == rows || !flat(*leaf) && !m.v2)
            })
        };
        let maps = maps.iter().filter(usable).map(|(leaf, map)| (*leaf, map.clone(), flat(*leaf))).collect();
        MapIndex { file, row_group, maps }
    }

    /// The page locations served for `leaf`: its map's, with each page's first record.
    fn locations(&self, leaf: usize) -> Option<&Vec<PageLocation>> {
        let (_, map, flat) = self.maps.iter().find(|(l, _, _)| *l == leaf)?;
        map.as_ref().as_ref()?.record_locations(*flat)
    }
}

impl PageIndexProvider for MapIndex {
    fn has_offset_indexes(&self) -> bool {
        true
    }

    fn has_column_indexes(&self) -> bool {
        self.file.as_ref().is_some_and(|f| f.has_column_indexes())
    }

    fn column_index(&self, row_group: usize, leaf: usize) -> Option<&ColumnIndexMetaData> {
        self.file.as_ref().filter(|_| row_group == 0)?.column_index(self.row_group, leaf)
    }

    fn offset_index(&self, row_group: usize, leaf: usize) -> Option<&OffsetIndexMetaData> {
        self.file.as_ref().filter(|_| row_group == 0)?.offset_index(self.row_group, leaf)
    }

    fn page_locations(&self, row_group: usize, leaf: usize) -> Option<&Vec<PageLocation>> {
        if row_group != 0 {
            return None;
        }
        match self.locations(leaf) {
            Some(locations) => Some(locations),
            None => self.file.as_ref()?.page_locations(self.row_group, leaf),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Page maps shared by the readers of a shard set, keyed by (file, row group, leaf column);
/// `None` for a chunk whose headers are valid but not laid out as [`PageMap`] needs. Blocks
/// decoded at once wait for one walk of a chunk instead of each walking it. Beside them, the
/// reader metadata of each row group read through arrow-rs in blocks ([`MapIndex`] and the
/// row group's column metadata), built once for all its blocks. Bounded: past
/// [`MAX_CACHED_PAGES`] pages in all, the cache starts again empty.
#[derive(Default)]
pub(crate) struct PageMaps {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The chunks' maps.
    slots: HashMap<Key, Arc<Slot>>,
    /// Data pages in `slots`.
    pages: usize,
    /// Reader metadata by (file, row group): the leaf columns it was built for, and it. Its
    /// page maps are those of `slots`, so it is dropped with them.
    indexed: HashMap<(PathBuf, usize), (Vec<usize>, ArrowReaderMetadata)>,
    /// How many times the cache was emptied (metadata built from maps since dropped is not
    /// kept).
    generation: u64,
}

type Key = (PathBuf, usize, usize);

/// One chunk's map, once walked.
type Slot = Mutex<Option<Arc<Option<PageMap>>>>;

/// Data pages kept in all maps (24 bytes each: 48 MiB).
pub(crate) const MAX_CACHED_PAGES: usize = 2 << 20;

/// Row groups whose reader metadata is kept (each holds one row group's column metadata and
/// the file's schema; past this, that cache starts again empty).
const MAX_CACHED_ROW_GROUPS: usize = 1024;

impl std::fmt::Debug for PageMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageMaps")
    }
}

impl PageMaps {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The map of the chunk `key`, walked by `walk` unless it was before (or is being walked
    /// by another reader, which this one then waits for). A failed walk is not kept.
    pub fn get_or_walk<E>(
        &self,
        key: Key,
        walk: impl FnOnce() -> Result<Option<PageMap>, E>,
    ) -> Result<Arc<Option<PageMap>>, E> {
        let slot = self.lock().slots.entry(key.clone()).or_default().clone();
        let mut walked = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = &*walked {
            return Ok(map.clone());
        }
        let map = Arc::new(walk()?);
        let pages = map.as_ref().as_ref().map_or(0, |m| m.locations.len()).max(1);
        let mut inner = self.lock();
        if pages > MAX_CACHED_PAGES {
            inner.slots.remove(&key);
            return Ok(map);
        }
        if inner.pages + pages > MAX_CACHED_PAGES {
            inner.slots.clear();
            inner.indexed.clear();
            inner.pages = 0;
            inner.generation += 1;
            inner.slots.insert(key, slot.clone());
        }
        inner.pages += pages;
        *walked = Some(map.clone());
        Ok(map)
    }

    /// The reader metadata of row group `row_group` of `path` for the leaf columns of `maps`
    /// (with those page maps as offset index), built by `build` unless it was before: a row
    /// group read in many blocks builds it once, not once per block. Not kept when a map is one
    /// too large for the cache (the metadata would keep it).
    pub fn indexed_or_build(
        &self,
        path: &Path,
        row_group: usize,
        maps: &[(usize, Arc<Option<PageMap>>)],
        build: impl FnOnce() -> Option<ArrowReaderMetadata>,
    ) -> Option<ArrowReaderMetadata> {
        let key = (path.to_path_buf(), row_group);
        let leaves: Vec<usize> = maps.iter().map(|(leaf, _)| *leaf).collect();
        let kept = maps.iter().all(|(_, m)| m.as_ref().as_ref().is_none_or(|m| m.locations.len() <= MAX_CACHED_PAGES));
        let generation = {
            let inner = self.lock();
            if let Some((_, m)) = inner.indexed.get(&key).filter(|(l, _)| *l == leaves) {
                return Some(m.clone());
            }
            inner.generation
        };
        let built = build()?;
        let mut inner = self.lock();
        if kept && inner.generation == generation {
            if inner.indexed.len() >= MAX_CACHED_ROW_GROUPS {
                inner.indexed.clear();
            }
            inner.indexed.insert(key, (leaves, built.clone()));
        }
        Some(built)
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
        assert!(PageMap::from_walk(0, &[page(0, 1, 0)]).is_none(), "index page first");
        assert!(PageMap::from_walk(0, &[page(0, 2, 3), page(15, 1, 0), page(30, 0, 1)]).is_none(), "index page second");
        assert!(PageMap::from_walk(0, &[page(0, 0, -1)]).is_none(), "negative count");
    }

    #[test]
    fn empty_and_index_pages_are_mapped_for_arrow_rs_only() {
        let pages = [page(0, 2, 3), page(15, 0, 4), page(30, 0, 0), page(45, 1, 0), page(60, 0, 2), page(75, 0, 0)];
        let map = PageMap::from_walk(100, &pages).unwrap();
        assert!(!map.direct && !map.v2);
        assert_eq!(map.rows, 6);
        // The index page is left out; the empty pages share a first row with their successor.
        let offsets: Vec<i64> = map.locations.iter().map(|l| l.offset).collect();
        assert_eq!(offsets, [115, 130, 160, 175]);
        let first_rows: Vec<i64> = map.locations.iter().map(|l| l.first_row_index).collect();
        assert_eq!(first_rows, [0, 4, 4, 6]);
        // A row is found in the page that holds it, never in an empty one.
        assert_eq!([0, 3, 4, 5].map(|r| map.page_of(r)), [0, 0, 2, 2]);
        assert_eq!((map.rows_of(0), map.rows_of(1), map.rows_of(2), map.rows_of(3)), (4, 0, 2, 0));
        let plain = PageMap::from_walk(0, &[page(0, 0, 4), page(15, 1, 0)]).unwrap();
        assert!(!plain.direct, "an index page after the data");
        assert!(PageMap::from_walk(0, &[page(0, 0, 4), page(15, 0, 1)]).unwrap().direct);
    }

    #[test]
    fn only_maps_that_count_records_become_arrow_rs_offset_index() {
        let v1 = Arc::new(PageMap::from_walk(0, &[page(0, 0, 4), page(15, 0, 2)]));
        let v2 = Arc::new(PageMap::from_walk(0, &[page(0, 2, 3), page(15, 3, 4), page(30, 3, 2)]));
        assert!(v2.as_ref().as_ref().unwrap().v2);
        let maps = [(0, v1.clone()), (1, v2.clone()), (2, v1), (3, v2)];
        // Leaves 0 and 1 flat, 2 and 3 repeated: a repeated column's v1 pages count values.
        let index = MapIndex::new(None, 7, 6, &maps, |leaf| leaf < 2);
        let has = |leaf| index.page_locations(0, leaf).is_some();
        assert_eq!([0, 1, 2, 3].map(has), [true, true, false, true]);
        assert!(index.page_locations(1, 0).is_none(), "only row group 0");
        let short = MapIndex::new(None, 7, 5, &maps, |_| true);
        assert!((0..4).all(|leaf| short.page_locations(0, leaf).is_none()), "maps of other row counts");
    }

    #[test]
    fn a_repeated_columns_v1_pages_serve_the_records_counted_once() {
        let pages = [page(0, 2, 3), page(15, 0, 4), page(30, 0, 6), page(45, 0, 2)];
        let map = PageMap::from_walk(100, &pages).unwrap();
        assert!(map.record_locations(false).is_none(), "v1 pages count values");
        assert_eq!(map.record_locations(true).unwrap()[2].first_row_index, 10, "a flat column's");
        assert!(PageMap::from_walk(100, &pages).unwrap().records_or_count(false, 5, || Some(vec![1, 2, 1])).is_none());
        assert!(PageMap::from_walk(100, &pages).unwrap().records_or_count(false, 4, || Some(vec![1, 3])).is_none());
        assert!(PageMap::from_walk(100, &pages).unwrap().records_or_count(false, 4, || None).is_none());
        let counted = map.records_or_count(false, 4, || Some(vec![1, 2, 1])).unwrap();
        let rows: Vec<i64> = counted.iter().map(|l| l.first_row_index).collect();
        assert_eq!(rows, [0, 1, 3]);
        assert!(counted
            .iter()
            .zip(&map.locations)
            .all(|(a, b)| (a.offset, a.compressed_page_size) == (b.offset, b.compressed_page_size)));
        assert!(map.records_or_count(false, 4, || unreachable!("counted once")).is_some());
        // Served as arrow-rs's offset index of the repeated leaf.
        let maps = [(0, Arc::new(Some(map)))];
        let index = MapIndex::new(None, 0, 4, &maps, |_| false);
        let served: Vec<i64> = index.page_locations(0, 0).unwrap().iter().map(|l| l.first_row_index).collect();
        assert_eq!(served, [0, 1, 3]);
        let uncounted = [(0, Arc::new(PageMap::from_walk(100, &pages)))];
        assert!(MapIndex::new(None, 0, 4, &uncounted, |_| false).page_locations(0, 0).is_none());
    }

    #[test]
    fn a_row_groups_reader_metadata_is_built_once() {
        use parquet::arrow::arrow_reader::ArrowReaderOptions;
        use parquet::file::metadata::{FileMetaData, ParquetMetaDataBuilder};
        use parquet::schema::types::SchemaDescriptor;
        let schema = parquet::schema::parser::parse_message_type("message m { required float x; }").unwrap();
        let file = FileMetaData::new(1, 0, None, None, Arc::new(SchemaDescriptor::new(Arc::new(schema))), None);
        let meta = Arc::new(ParquetMetaDataBuilder::new(file).build());
        let build = |built: &mut usize| {
            *built += 1;
            ArrowReaderMetadata::try_new(meta.clone(), ArrowReaderOptions::new()).ok()
        };
        let cache = PageMaps::default();
        let map = Arc::new(PageMap::from_walk(0, &[page(0, 0, 4)]));
        let (path, mut built) = (Path::new("a.parquet"), 0);
        for _ in 0..3 {
            assert!(cache.indexed_or_build(path, 0, &[(0, map.clone())], || build(&mut built)).is_some());
        }
        assert_eq!(built, 1, "three blocks of one row group");
        cache.indexed_or_build(path, 1, &[(0, map.clone())], || build(&mut built));
        cache.indexed_or_build(path, 0, &[(1, map.clone())], || build(&mut built));
        assert_eq!(built, 3, "another row group, other columns");
        // A map too large for the cache is not kept through the metadata either.
        let huge = PageMap {
            locations: vec![
                PageLocation { offset: 0, compressed_page_size: 1, first_row_index: 0 };
                MAX_CACHED_PAGES + 1
            ],
            rows: 1,
            direct: true,
            v2: false,
            records: OnceLock::new(),
        };
        let huge = [(0, Arc::new(Some(huge)))];
        cache.indexed_or_build(path, 2, &huge, || build(&mut built));
        cache.indexed_or_build(path, 2, &huge, || build(&mut built));
        assert_eq!(built, 5);
    }
}
