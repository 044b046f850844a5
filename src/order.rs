//! [`Order`]: which rows each step reads.
//!
//! * `Offset` — the seed's formula exactly: step `s` reads rows `[o, o + B)` with
//!   `o = (s·B) mod (N − B)`. The last `gcd(B, N − B)`-ish rows are never reached (see the seed's
//!   notes); `N ≤ B` is an error.
//! * `Sequential` — contiguous batches covering every row once per epoch (the last batch is
//!   short unless `drop_last`).
//! * `Shuffled` — every row exactly once per epoch, in a seeded per-epoch order. Row groups are
//!   permuted per epoch; consecutive runs of `window` row groups form a shuffle window whose
//!   rows are permuted together by a keyed bijection (a Feistel network with cycle walking), so
//!   the order is a pure function of `(seed, epoch, position)` that any worker computes without
//!   shared state. Quality: rows from the same window mix uniformly; rows from different windows
//!   never share a batch unless a batch straddles two windows. I/O: each row group is decoded
//!   once per epoch when the cache holds `window` row groups (the default cache is sized to hold
//!   two windows, the current and the next: see [`PipelineBuilder::cache_bytes`](crate::PipelineBuilder::cache_bytes)).
//!
//! A step belongs to epoch `step / steps_per_epoch`. For data-parallel training, rank `r` of
//! `w` runs the global steps `r, r + w, r + 2w, …` (the pipeline maps its local steps), so the
//! ranks' batches are disjoint and together equal the single-process run.

use std::sync::{Arc, Mutex};

use rand::Rng;

use crate::error::{Error, Result};
use crate::rng::{derive, purpose};
use crate::source::{RowGroupRef, Rows};

/// Default shuffle window, in row groups.
pub const DEFAULT_SHUFFLE_WINDOW: usize = 4;

/// How steps map to rows.
///
/// # Example
/// ```
/// use shardmix::Order;
/// let order = Order::offset(256);
/// assert_eq!(order.batch_size(), 256);
/// let seq = Order::sequential(100).drop_last(true);
/// assert_eq!(seq.steps_per_epoch(1050), 10);
/// assert_eq!(Order::sequential(100).steps_per_epoch(1050), 11);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// The seed's offset-based batching.
    Offset {
        /// Rows per batch.
        batch_size: usize,
    },
    /// Contiguous batches, every row once per epoch.
    Sequential {
        /// Rows per batch.
        batch_size: usize,
        /// Drop the short last batch of each epoch.
        drop_last: bool,
    },
    /// Every row once per epoch in a seeded order.
    Shuffled {
        /// Rows per batch.
        batch_size: usize,
        /// Drop the short last batch of each epoch.
        drop_last: bool,
        /// Row groups per shuffle window.
        window: usize,
    },
}

impl Order {
    /// The seed's offset order with batch size `b`.
    pub fn offset(batch_size: usize) -> Self {
        Order::Offset { batch_size }
    }
    /// Sequential batches of `b` rows (`drop_last` false).
    pub fn sequential(batch_size: usize) -> Self {
        Order::Sequential { batch_size, drop_last: false }
    }
    /// Shuffled batches of `b` rows (`drop_last` false, window [`DEFAULT_SHUFFLE_WINDOW`]).
    pub fn shuffled(batch_size: usize) -> Self {
        Order::Shuffled { batch_size, drop_last: false, window: DEFAULT_SHUFFLE_WINDOW }
    }

    /// Parse `offset`, `sequential` or `shuffled`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for another name.
    pub fn parse(name: &str, batch_size: usize) -> Result<Self> {
        match name {
            "offset" => Ok(Order::offset(batch_size)),
            "sequential" => Ok(Order::sequential(batch_size)),
            "shuffled" | "shuffle" => Ok(Order::shuffled(batch_size)),
            _ => Err(Error::config("order", format!("'{name}' is not one of offset, sequential, shuffled"))),
        }
    }

    /// Set `drop_last` (ignored by `Offset`, whose batches are always full).
    pub fn drop_last(self, drop: bool) -> Self {
        match self {
            Order::Sequential { batch_size, .. } => Order::Sequential { batch_size, drop_last: drop },
            Order::Shuffled { batch_size, window, .. } => Order::Shuffled { batch_size, drop_last: drop, window },
            o => o,
        }
    }

    /// Set the shuffle window in row groups (only for `Shuffled`).
    pub fn window(self, window: usize) -> Self {
        match self {
            Order::Shuffled { batch_size, drop_last, .. } => Order::Shuffled { batch_size, drop_last, window },
            o => o,
        }
    }

    /// Rows per batch.
    pub fn batch_size(&self) -> usize {
        match self {
            Order::Offset { batch_size }
            | Order::Sequential { batch_size, .. }
            | Order::Shuffled { batch_size, .. } => *batch_size,
        }
    }

    /// Check the order against a dataset of `num_rows` rows.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `batch_size` or `window`.
    pub fn validate(&self, num_rows: u64) -> Result<()> {
        let b = self.batch_size();
        if b == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        match self {
            Order::Offset { .. } if num_rows <= b as u64 => Err(Error::config(
                "batch_size",
                format!("the offset order needs more rows than the batch size: the data has {num_rows} rows and the batch size is {b} (the seed's formula divides by N − B)"),
            )),
            Order::Sequential { drop_last: true, .. } | Order::Shuffled { drop_last: true, .. } if num_rows < b as u64 => Err(Error::config(
                "batch_size",
                format!("with drop_last, a batch size of {b} leaves no batch from {num_rows} rows"),
            )),
            Order::Shuffled { window: 0, .. } => Err(Error::config("shuffle_window", "must be at least 1 row group")),
            _ => Ok(()),
        }
    }

    /// How many of `num_rows` rows no step of a run of global steps `0..steps` reads, when the
    /// order leaves rows out by design: for `Offset`, whose offsets `(s·B) mod (N − B)` never
    /// reach the last rows (5 of the 1,797 digits at B = 64, so three epochs read 5,376 rows
    /// rather than 5,391; at least
    /// `gcd(B, N − B)` rows however long the run); `Some(0)` for the other orders over whole
    /// epochs. `None` when it is not known: a run shorter than an epoch, an invalid order, or
    /// an offset run whose distinct offsets number more than 2²⁴ (too many to sort here).
    ///
    /// # Example
    /// ```
    /// use shardmix::Order;
    /// assert_eq!(Order::offset(64).rows_unread(1797, 3 * (1797 / 64)), Some(5));
    /// assert_eq!(Order::offset(4).rows_unread(10, 2), Some(2)); // rows 0..8 are read
    /// assert_eq!(Order::sequential(64).rows_unread(5391, 85), Some(0));
    /// ```
    pub fn rows_unread(&self, num_rows: u64, steps: u64) -> Option<u64> {
        if self.validate(num_rows).is_err() || steps < self.steps_per_epoch(num_rows) {
            return None;
        }
        let b = self.batch_size() as u64;
        match self {
            Order::Offset { .. } => {
                let m = num_rows - b;
                let period = m / gcd(b, m);
                let k = steps.min(period);
                if k > 1 << 24 {
                    return None;
                }
                let mut offsets: Vec<u64> = (0..k).map(|s| ((s as u128 * b as u128) % m as u128) as u64).collect();
                offsets.sort_unstable();
                let (mut read, mut end) = (0u64, 0u64);
                for o in offsets {
                    let (lo, hi) = (o.max(end), o + b);
                    if hi > lo {
                        read += hi - lo;
                        end = hi;
                    }
                }
                Some(num_rows - read)
            }
            Order::Sequential { drop_last: true, .. } => Some(num_rows % b),
            // Shuffled with drop_last leaves out different rows each epoch.
            Order::Shuffled { drop_last: true, .. } if steps == self.steps_per_epoch(num_rows) => Some(num_rows % b),
            Order::Shuffled { drop_last: true, .. } => None,
            _ => Some(0),
        }
    }

    /// Steps in one epoch over `num_rows` rows (`Offset`: N / B rounded down).
    pub fn steps_per_epoch(&self, num_rows: u64) -> u64 {
        let b = self.batch_size().max(1) as u64;
        match self {
            Order::Offset { .. } => num_rows / b,
            Order::Sequential { drop_last, .. } | Order::Shuffled { drop_last, .. } => {
                if *drop_last {
                    num_rows / b
                } else {
                    num_rows.div_ceil(b)
                }
            }
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// An [`Order`] bound to a dataset: computes the rows of any global step.
pub(crate) struct Plan {
    order: Order,
    num_rows: u64,
    steps_per_epoch: u64,
    seed: u64,
    row_groups: Arc<[RowGroupRef]>,
    epochs: Mutex<Vec<(u64, Arc<EpochPlan>)>>,
}

/// One epoch of the shuffled order: windows of permuted row groups.
struct EpochPlan {
    /// Per window: start position in the epoch, the row groups (first row, rows) in order.
    windows: Vec<Window>,
}

struct Window {
    start: u64,
    rows: u64,
    /// (global first row, rows, cumulative start within the window)
    groups: Vec<(u64, u64, u64)>,
    key: [u64; 4],
}

impl Plan {
    pub fn new(order: Order, num_rows: u64, row_groups: &[RowGroupRef], seed: u64) -> Result<Self> {
        order.validate(num_rows)?;
        Ok(Plan {
            steps_per_epoch: order.steps_per_epoch(num_rows),
            order,
            num_rows,
            seed,
            row_groups: row_groups.into(),
            epochs: Mutex::new(Vec::new()),
        })
    }

    pub fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    /// The rows of global step `step`.
    pub fn rows(&self, step: u64) -> Rows {
        let b = self.order.batch_size() as u64;
        let n = self.num_rows;
        match &self.order {
            Order::Offset { .. } => {
                // The seed: offset = (step * batch_size) % (N - batch_size), in exact integer
                // arithmetic (u128: no overflow for any step).
                let offset = ((step as u128 * b as u128) % (n - b) as u128) as u64;
                Rows::Range(offset..offset + b)
            }
            Order::Sequential { .. } => {
                let k = step % self.steps_per_epoch.max(1);
                let start = k * b;
                Rows::Range(start..start.saturating_add(b).min(n))
            }
            Order::Shuffled { .. } => {
                let epoch = step / self.steps_per_epoch.max(1);
                let k = step % self.steps_per_epoch.max(1);
                let plan = self.epoch_plan(epoch);
                let start = k * b;
                let end = start.saturating_add(b).min(n);
                let mut ids = Vec::with_capacity((end - start) as usize);
                let mut w = plan.windows.partition_point(|w| w.start + w.rows <= start);
                let mut pos = start;
                while pos < end {
                    let win = &plan.windows[w];
                    let stop = end.min(win.start + win.rows);
                    for p in pos..stop {
                        let q = feistel(p - win.start, win.rows, &win.key);
                        let g = win.groups.partition_point(|g| g.2 + g.1 <= q);
                        let (first, _, cum) = win.groups[g];
                        ids.push(first + (q - cum));
                    }
                    pos = stop;
                    w += 1;
                }
                Rows::Ids(ids)
            }
        }
    }

    fn epoch_plan(&self, epoch: u64) -> Arc<EpochPlan> {
        let mut cache = self.epochs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, p)) = cache.iter().find(|(e, _)| *e == epoch) {
            return p.clone();
        }
        let window = match self.order {
            Order::Shuffled { window, .. } => window.max(1),
            _ => 1,
        };
        let mut rng = derive(self.seed, purpose::SHUFFLE, epoch);
        let mut groups: Vec<usize> = (0..self.row_groups.len()).collect();
        crate::rng::shuffle(&mut rng, &mut groups);
        let mut windows = Vec::new();
        let mut start = 0;
        for chunk in groups.chunks(window) {
            let mut cum = 0;
            let gs: Vec<(u64, u64, u64)> = chunk
                .iter()
                .map(|&i| {
                    let rg = self.row_groups[i];
                    let t = (rg.first_row, rg.num_rows, cum);
                    cum += rg.num_rows;
                    t
                })
                .collect();
            let key = [rng.next_u64(), rng.next_u64(), rng.next_u64(), rng.next_u64()];
            windows.push(Window { start, rows: cum, groups: gs, key });
            start += cum;
        }
        let plan = Arc::new(EpochPlan { windows });
        if cache.len() >= 2 {
            cache.remove(0);
        }
        cache.push((epoch, plan.clone()));
        plan
    }
}

/// A keyed bijection on `0..n`: a 4-round Feistel network on the smallest even power of two
/// ≥ n, with cycle walking back into range.
fn feistel(x: u64, n: u64, key: &[u64; 4]) -> u64 {
    if n <= 1 {
        return 0;
    }
    let bits = (64 - (n - 1).leading_zeros()).max(2);
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let mut v = x;
    loop {
        let (mut l, mut r) = (v >> half, v & mask);
        for k in key {
            let f = round(r, *k) & mask;
            let nl = r;
            r = l ^ f;
            l = nl;
        }
        v = (l << half) | r;
        if v < n {
            return v;
        }
    }
}

fn round(x: u64, k: u64) -> u64 {
    let mut z = x ^ k;
    z = (z ^ (z >> 31)).wrapping_mul(0x7fb5_d329_728e_a185);
    z = (z ^ (z >> 27)).wrapping_mul(0x81da_def4_bc2d_d44d);
    z ^ (z >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(sizes: &[u64]) -> Vec<RowGroupRef> {
        let mut first = 0;
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let r = RowGroupRef { shard: 0, row_group: i, offset: 0, first_row: first, num_rows: n };
                first += n;
                r
            })
            .collect()
    }

    #[test]
    fn offset_is_the_seeds_formula() {
        let p = Plan::new(Order::offset(4), 10, &groups(&[10]), 0).unwrap();
        // offsets (s*4) % 6 = 0, 4, 2, 0, ...
        assert_eq!(p.rows(0), Rows::Range(0..4));
        assert_eq!(p.rows(1), Rows::Range(4..8));
        assert_eq!(p.rows(2), Rows::Range(2..6));
        assert_eq!(p.rows(3), Rows::Range(0..4));
        assert_eq!(p.steps_per_epoch(), 2);
    }

    #[test]
    fn offset_rejects_n_le_b() {
        let name = |o: Order| Plan::new(o, 10, &groups(&[10]), 0).err().unwrap().config_name().map(str::to_string);
        assert_eq!(name(Order::offset(10)).as_deref(), Some("batch_size"));
        assert_eq!(name(Order::offset(0)).as_deref(), Some("batch_size"));
    }

    #[test]
    fn feistel_is_a_bijection() {
        for n in [1u64, 2, 3, 7, 64, 100, 1000] {
            let key = [1, 2, 3, 4];
            let mut seen: Vec<u64> = (0..n).map(|x| feistel(x, n, &key)).collect();
            seen.sort();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn shuffled_covers_every_row_once_per_epoch() {
        let g = groups(&[7, 13, 1, 30, 9]);
        let n = 60;
        let p = Plan::new(Order::shuffled(8).window(2), n, &g, 9).unwrap();
        let spe = p.steps_per_epoch();
        for epoch in 0..3 {
            let mut all: Vec<u64> = (0..spe).flat_map(|k| p.rows(epoch * spe + k).ids()).collect();
            assert_eq!(all.len() as u64, n);
            let order = all.clone();
            all.sort();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
            assert_ne!(order, (0..n).collect::<Vec<_>>());
        }
        // Epochs differ.
        assert_ne!(p.rows(0), p.rows(spe));
    }
}
