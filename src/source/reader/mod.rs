//! [`Reader`]: global row ranges or row ids → a [`Batch`], through the shared row-group cache.

pub(crate) mod cache;

use std::collections::BTreeMap;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ndarray::Array2;
use rayon::prelude::*;

use crate::batch::{Batch, Provenance};
use crate::error::{Error, ErrorKind, Result};
use crate::source::decode::image;
use crate::source::decode::Decoded;
use crate::source::reader::cache::{CacheStats, RowGroupCache};
use crate::source::shards::ShardSet;
use crate::spec::Pixels;

/// The least capacity a pipeline gives its block cache when none is set: 64 MiB (see
/// [`PipelineBuilder::cache_bytes`](crate::PipelineBuilder::cache_bytes)).
pub const AUTO_CACHE_MIN_BYTES: usize = 64 << 20;

/// The rows of one step: a contiguous global range, or explicit global row ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rows {
    /// Rows `start..end`.
    Range(Range<u64>),
    /// These rows, in this order.
    Ids(Vec<u64>),
}

impl Rows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Rows::Range(r) => (r.end - r.start) as usize,
            Rows::Ids(v) => v.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The global row ids, in order.
    pub fn ids(&self) -> Vec<u64> {
        match self {
            Rows::Range(r) => r.clone().collect(),
            Rows::Ids(v) => v.clone(),
        }
    }
}

/// Reads rows of a [`ShardSet`] into batches; shareable by all workers.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use shardmix::{Reader, Rows, ShardSet, Target};
/// let set = ShardSet::open("examples/data/digits.parquet")?.target(Target::class("label", 10))?;
/// let reader = Reader::new(Arc::new(set), 64 << 20);
/// let batch = reader.read(0, &Rows::Ids(vec![5, 1, 1796]))?;
/// assert_eq!(batch.provenance.row_a, vec![5, 1, 1796]);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub struct Reader {
    set: Arc<ShardSet>,
    cache: RowGroupCache,
    skipped: AtomicU64,
    filled: AtomicU64,
    /// Nanoseconds spent decoding blocks, summed over the threads that decoded them.
    decode_ns: AtomicU64,
    on_bad_shard: BadShard,
    bad: Mutex<BTreeMap<usize, SkippedBlock>>,
}

/// What to do when a block of a shard cannot be read (deleted, truncated or corrupt file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadShard {
    /// Fail the step with an error naming the file (the default).
    #[default]
    Fail,
    /// Skip the unreadable block's rows (batches get smaller), record a warning and count the
    /// rows in the stats.
    Skip,
}

impl BadShard {
    /// Parse `fail` or `skip`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for anything else.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "fail" | "error" => Ok(BadShard::Fail),
            "skip" => Ok(BadShard::Skip),
            _ => Err(Error::config("on_bad_shard", format!("'{s}' is not one of fail, skip"))),
        }
    }
}

/// A block skipped under [`BadShard::Skip`].
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedBlock {
    /// The shard.
    pub path: std::path::PathBuf,
    /// Its row group.
    pub row_group: usize,
    /// Rows skipped.
    pub rows: u64,
    /// Why.
    pub error: String,
}

impl Reader {
    /// A reader over `set` with a row-group cache of `cache_bytes`.
    pub fn new(set: Arc<ShardSet>, cache_bytes: usize) -> Self {
        Reader {
            set,
            cache: RowGroupCache::new(cache_bytes),
            skipped: AtomicU64::new(0),
            filled: AtomicU64::new(0),
            decode_ns: AtomicU64::new(0),
            on_bad_shard: BadShard::Fail,
            bad: Mutex::new(BTreeMap::new()),
        }
    }

    /// What to do with an unreadable block (default [`BadShard::Fail`]).
    pub fn on_bad_shard(mut self, policy: BadShard) -> Self {
        self.on_bad_shard = policy;
        self
    }

    /// Blocks skipped under [`BadShard::Skip`], in row order.
    pub fn skipped_blocks(&self) -> Vec<SkippedBlock> {
        self.bad.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// The shard set read.
    pub fn shard_set(&self) -> &Arc<ShardSet> {
        &self.set
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Rows dropped by the skip-row policy so far (counted once per decode).
    pub fn skipped_rows(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Values replaced by the fill policy so far (counted once per decode).
    pub fn filled_values(&self) -> u64 {
        self.filled.load(Ordering::Relaxed)
    }

    /// Time spent decoding blocks so far, summed over the threads that decoded them: the
    /// workers (a block not yet cached or loading when a step needs it) and the read-ahead on
    /// the rayon pool. Waiting for another thread's decode is not counted.
    pub fn decode_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.decode_ns.load(Ordering::Relaxed))
    }

    fn row_group(&self, idx: usize) -> Result<Arc<Decoded>> {
        let rg = self.set.row_groups()[idx];
        self.cache.get(idx, || {
            let started = std::time::Instant::now();
            let decoded = self.set.decode_block(&rg);
            self.decode_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            let d = match decoded {
                Ok(d) => d,
                Err(e)
                    if self.on_bad_shard == BadShard::Skip
                        && !matches!(e.kind(), ErrorKind::BadValue { .. } | ErrorKind::Label { .. }) =>
                {
                    // Count each block once, however often it is retried after eviction.
                    let mut bad = self.bad.lock().unwrap_or_else(|p| p.into_inner());
                    if let std::collections::btree_map::Entry::Vacant(slot) = bad.entry(idx) {
                        self.skipped.fetch_add(rg.num_rows, Ordering::Relaxed);
                        let path = self.set.shards()[rg.shard].path.clone();
                        slot.insert(SkippedBlock {
                            path,
                            row_group: rg.row_group,
                            rows: rg.num_rows,
                            error: e.chain(),
                        });
                    }
                    let n = rg.num_rows as usize;
                    // Every row skipped: an empty block that keeps none of them.
                    let mut none = Decoded::new(n, Vec::new(), Vec::new(), None);
                    none.keep = Some(vec![false; n]);
                    return Ok(none);
                }
                Err(e) => return Err(e),
            };
            self.skipped.fetch_add(d.skipped, Ordering::Relaxed);
            self.filled.fetch_add(d.filled, Ordering::Relaxed);
            Ok(d)
        })
    }

    /// Start decoding, in the background on the rayon pool, the blocks of `rows` that are
    /// neither cached nor being decoded, so that a later [`read`](Self::read) finds them ready.
    /// Only timing changes: a read-ahead that fails leaves the block to be decoded (and its
    /// error reported) by the read that needs it.
    pub fn read_ahead(self: &Arc<Self>, rows: &Rows) {
        let n = self.set.num_rows();
        let mut blocks: Vec<usize> = match rows {
            Rows::Range(r) if r.is_empty() || r.end > n => return,
            Rows::Ids(v) if v.iter().any(|&id| id >= n) => return,
            Rows::Range(r) => (self.set.locate(r.start)..=self.set.locate(r.end - 1)).collect(),
            Rows::Ids(v) => v.iter().map(|&id| self.set.locate(id)).collect(),
        };
        blocks.sort_unstable();
        blocks.dedup();
        for idx in blocks {
            if self.cache.claim(idx) {
                let reader = self.clone();
                rayon::spawn(move || {
                    // decode_block already contains arrow-rs's panics; this also keeps any
                    // other from aborting the process (rayon aborts on a panicking spawn).
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| reader.row_group(idx)));
                });
            }
        }
    }

    /// Read `rows` as the batch of `step`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for rows beyond the data; any decode error
    /// of the row groups involved, naming file and row group.
    pub fn read(&self, step: u64, rows: &Rows) -> Result<Batch> {
        let n_total = self.set.num_rows();
        let (lo, hi) = match rows {
            Rows::Range(r) => (r.start, r.end),
            Rows::Ids(v) => (v.iter().copied().min().unwrap_or(0), v.iter().copied().max().map_or(0, |m| m + 1)),
        };
        if hi > n_total || lo > hi {
            return Err(Error::config("rows", format!("rows {lo}..{hi} are outside the dataset's {n_total} rows")));
        }
        // The row groups needed, in order.
        let mut needed: Vec<usize> = match rows {
            Rows::Range(r) if r.is_empty() => Vec::new(),
            Rows::Range(r) => (self.set.locate(r.start)..=self.set.locate(r.end - 1)).collect(),
            Rows::Ids(v) => v.iter().map(|&id| self.set.locate(id)).collect(),
        };
        needed.sort_unstable();
        needed.dedup();
        let mut groups: Vec<Arc<Decoded>> = if needed.len() > 1 {
            // Decode in parallel, a few blocks per thread at a time in row order; report the
            // first failing row group in row order, so the error does not depend on thread
            // timing, and stop there: a read of 250,000 blocks whose first one fails took 17 s
            // decoding (and failing) all the others (fuzzing, `pages` target).
            let mut groups = Vec::with_capacity(needed.len());
            for run in needed.chunks(4 * rayon::current_num_threads().max(1)) {
                let all: Vec<Result<Arc<Decoded>>> = run.par_iter().map(|&i| self.row_group(i)).collect();
                for group in all {
                    groups.push(group?);
                }
            }
            groups
        } else {
            needed.iter().map(|&i| self.row_group(i)).collect::<Result<_>>()?
        };

        let spec = self.set.spec();
        let (f, c) = (spec.num_features(), spec.num_targets());
        let n = rows.len();
        // One whole block that nobody else holds (the cache did not keep it): hand its buffers
        // over instead of copying them.
        if let (Rows::Range(r), [idx]) = (rows, needed.as_slice()) {
            let rg = self.set.row_groups()[*idx];
            let whole = r.start == rg.first_row && r.end == rg.first_row + rg.num_rows;
            if whole && groups[0].keep.is_none() && groups[0].images.is_none() {
                if let Some(g) = groups.pop() {
                    match Arc::try_unwrap(g) {
                        Ok(mut d) => {
                            let (features, targets) = (std::mem::take(&mut d.features), std::mem::take(&mut d.targets));
                            let pixels = std::mem::take(&mut d.pixels);
                            return self.batch(step, (features, pixels), targets, r.clone().collect(), (f, c));
                        }
                        Err(g) => groups.push(g),
                    }
                }
            }
        }
        // `uint8` pixels are copied as such; `features` stays empty then.
        let u8_pixels = spec.pixels == Pixels::U8;
        let mut features = Vec::with_capacity(if u8_pixels { 0 } else { n * f });
        let mut pixels: Vec<u8> = Vec::with_capacity(if u8_pixels { n * f } else { 0 });
        let mut targets = Vec::with_capacity(n * c);
        let mut ids = Vec::with_capacity(n);
        // Rows of an image column, decoded once the batch's rows are known.
        let mut images = Vec::new();
        let rg_refs = self.set.row_groups();
        let mut copy_run = |k: usize, idx: usize, local: Range<usize>| {
            let (g, first_row) = (&groups[k], rg_refs[idx].first_row);
            if g.keep.is_none() && g.images.is_none() {
                if u8_pixels {
                    pixels.extend_from_slice(&g.pixels[local.start * f..local.end * f]);
                } else {
                    features.extend_from_slice(&g.features[local.start * f..local.end * f]);
                }
                targets.extend_from_slice(&g.targets[local.start * c..local.end * c]);
                ids.extend((local.start as u64 + first_row)..(local.end as u64 + first_row));
                return;
            }
            // Row by row (no allocation: this runs once per row for the shuffled order).
            for i in local {
                if g.keep.as_ref().is_some_and(|keep| !keep[i]) {
                    continue;
                }
                if g.images.is_some() {
                    images.push(image::Item { group: k, local: i, block: idx });
                } else if u8_pixels {
                    pixels.extend_from_slice(&g.pixels[i * f..(i + 1) * f]);
                } else {
                    features.extend_from_slice(&g.features[i * f..(i + 1) * f]);
                }
                targets.extend_from_slice(&g.targets[i * c..(i + 1) * c]);
                ids.push(first_row + i as u64);
            }
        };
        match rows {
            Rows::Range(r) => {
                for (k, &idx) in needed.iter().enumerate() {
                    let rg = rg_refs[idx];
                    let start = r.start.max(rg.first_row) - rg.first_row;
                    let end = r.end.min(rg.first_row + rg.num_rows) - rg.first_row;
                    copy_run(k, idx, start as usize..end as usize);
                }
            }
            Rows::Ids(v) => {
                for &id in v {
                    let idx = self.set.locate(id);
                    let k = needed.partition_point(|&x| x < idx);
                    let local = (id - rg_refs[idx].first_row) as usize;
                    copy_run(k, idx, local..local + 1);
                }
            }
        }
        if !images.is_empty() {
            let (ctx, shards, blocks) = (self.set.decode_context(), self.set.shards(), self.set.row_groups());
            if u8_pixels {
                image::assemble(ctx, shards, blocks, &groups, &images, f, &mut pixels)?;
            } else {
                image::assemble(ctx, shards, blocks, &groups, &images, f, &mut features)?;
            }
        }
        self.batch(step, (features, pixels), targets, ids, (f, c))
    }

    /// A batch of row-major `features` or, with `uint8` pixels, `pixels` (rows × f), and
    /// `targets` (rows × c) for rows `ids`.
    fn batch(
        &self,
        step: u64,
        (features, pixels): (Vec<f32>, Vec<u8>),
        targets: Vec<f32>,
        ids: Vec<u64>,
        (f, c): (usize, usize),
    ) -> Result<Batch> {
        let rows_out = ids.len();
        let u8_pixels = self.set.spec().pixels == Pixels::U8;
        let (features, pixels) = if u8_pixels {
            let pixels = Array2::from_shape_vec((rows_out, f), pixels)
                .map_err(|e| Error::shape("reader pixels", format!("{rows_out} × {f}"), e))?;
            (Array2::zeros((rows_out, 0)), Some(pixels))
        } else {
            let features = Array2::from_shape_vec((rows_out, f), features)
                .map_err(|e| Error::shape("reader features", format!("{rows_out} × {f}"), e))?;
            (features, None)
        };
        let targets = if c > 0 {
            Some(
                Array2::from_shape_vec((rows_out, c), targets)
                    .map_err(|e| Error::shape("reader targets", format!("{rows_out} × {c}"), e))?,
            )
        } else {
            None
        };
        Ok(Batch { step, features, targets, pixels, provenance: Provenance::real(ids) })
    }
}

impl ShardSet {
    /// Read a global row range directly (no cache): convenient for tests and small data.
    ///
    /// # Errors
    /// As [`Reader::read`].
    pub fn read_rows(&self, rows: Range<u64>) -> Result<Batch> {
        let reader = Reader::new(Arc::new(self.clone()), 0);
        reader.read(0, &Rows::Range(rows))
    }
}
