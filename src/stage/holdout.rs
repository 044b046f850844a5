//! [`Holdout`]: a seeded, deterministic split of a dataset's rows into training and held-out
//! (validation) rows, decided row by row from the global row id; as a [`Stage`] it drops the
//! held-out rows from the batches.

use rand::Rng;

use super::Stage;
use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::rng::{self, StepRng};
use crate::source::{Reader, Rows};

/// Purpose id of the holdout's key ("HOLD").
const HOLDOUT: u64 = 0x484f_4c44;

/// A seeded split of rows: row `r` is held out when a keyed 64-bit hash of `r` falls below
/// `fraction · 2⁶⁴`, so each row is held out independently with probability `fraction`, and
/// the decision depends only on `(seed, r)` — not on the batch, the order, the worker or the
/// number of rows. A fraction of 0 holds nothing out.
///
/// Training drops held-out rows from every batch: the holdout is a [`Stage`] (put it first,
/// so that Mixup never sees a held-out row; [`training_rows`](Holdout::training_rows) is what
/// it does); evaluation reads them back ([`batches`](Holdout::batches)).
///
/// # Example
/// ```
/// use shardmix::{Holdout, Order, Pipeline, ShardSet};
/// let h = Holdout::new(0.2, 7)?;
/// let held = (0..10_000u64).filter(|&r| h.is_held_out(r)).count();
/// assert!((1_850..2_150).contains(&held));
/// assert_eq!(h.is_held_out(42), Holdout::new(0.2, 7)?.is_held_out(42));
/// assert_eq!(h.held_out_rows(10_000).count(), held);
///
/// // Training: every batch without its held-out rows.
/// let set = ShardSet::open("examples/data/digits.parquet")?;
/// let mut train = Pipeline::builder().source(set).order(Order::shuffled(64)).stage(h).steps(3).build()?;
/// let batch = train.next().unwrap()?;
/// assert!(batch.provenance.row_a.iter().all(|&r| !h.is_held_out(r)));
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holdout {
    fraction: f64,
    key: u64,
    threshold: u64,
}

/// A bijective 64-bit finaliser (Pelle Evensen's `moremur` constants).
#[inline]
fn hash(mut x: u64) -> u64 {
    x ^= x >> 27;
    x = x.wrapping_mul(0x3C79_AC49_2BA7_B653);
    x ^= x >> 33;
    x = x.wrapping_mul(0x1C69_B3F7_4AC4_AE35);
    x ^ (x >> 27)
}

impl Holdout {
    /// Hold out each row with probability `fraction`, keyed by `seed`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) unless `0 ≤ fraction < 1`.
    pub fn new(fraction: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(Error::config("holdout", format!("must lie in [0, 1), got {fraction}")));
        }
        let key = rng::derive(seed, HOLDOUT, 0).next_u64();
        // 2⁶⁴·fraction < 2⁶⁴, so the cast does not saturate.
        let threshold = (fraction * 18_446_744_073_709_551_616.0) as u64;
        Ok(Holdout { fraction, key, threshold })
    }

    /// The fraction held out.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// Whether global row `row` is held out.
    #[inline]
    pub fn is_held_out(&self, row: u64) -> bool {
        hash(row ^ self.key) < self.threshold
    }

    /// The held-out rows among `0..num_rows`, in increasing order.
    pub fn held_out_rows(&self, num_rows: u64) -> impl Iterator<Item = u64> + '_ {
        let none = self.threshold == 0;
        (0..if none { 0 } else { num_rows }).filter(move |&r| self.is_held_out(r))
    }

    /// `batch` without the rows that are held out or were mixed with a held-out row
    /// (`provenance.row_a` or `row_b`). Keeps the step; may leave no rows.
    ///
    /// # Errors
    /// [`ErrorKind::Shape`](crate::ErrorKind::Shape) when the batch's provenance does not
    /// have one entry per row.
    pub fn training_rows(&self, mut batch: Batch) -> Result<Batch> {
        let p = &batch.provenance;
        let keep: Vec<bool> = p
            .row_a
            .iter()
            .zip(&p.row_b)
            .map(|(&a, b)| !self.is_held_out(a) && !b.is_some_and(|b| self.is_held_out(b)))
            .collect();
        batch.retain_rows(&keep)?;
        Ok(batch)
    }

    /// The held-out rows of `reader`'s data in batches of up to `batch_rows` rows, in row
    /// order; batch `k` has step `k` (a model's evaluation noise is keyed by the step, so
    /// every evaluation of the same model sees the same draws).
    ///
    /// # Errors
    /// A config error when `batch_rows` is 0; each item carries the reader's errors.
    pub fn batches<'a>(
        &'a self,
        reader: &'a Reader,
        batch_rows: usize,
    ) -> Result<impl Iterator<Item = Result<Batch>> + 'a> {
        if batch_rows == 0 {
            return Err(Error::config("holdout batch rows", "must be at least 1"));
        }
        let mut rows = self.held_out_rows(reader.shard_set().num_rows());
        let mut step = 0u64;
        Ok(std::iter::from_fn(move || {
            let ids: Vec<u64> = rows.by_ref().take(batch_rows).collect();
            if ids.is_empty() {
                return None;
            }
            step += 1;
            Some(reader.read(step - 1, &Rows::Ids(ids)))
        }))
    }
}

impl Stage for Holdout {
    fn name(&self) -> &str {
        "holdout"
    }

    /// [`Holdout::training_rows`]: the batch without its held-out rows (it may be left empty).
    fn apply(&self, batch: Batch, _rng: &mut StepRng) -> Result<Batch> {
        self.training_rows(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Provenance;
    use ndarray::Array2;

    #[test]
    fn fraction_is_checked_and_zero_holds_nothing() {
        for bad in [-0.1, 1.0, f64::NAN] {
            assert_eq!(Holdout::new(bad, 0).err().unwrap().config_name(), Some("holdout"), "{bad}");
        }
        let none = Holdout::new(0.0, 3).unwrap();
        assert_eq!(none.held_out_rows(1000).count(), 0);
        assert!((0..1000).all(|r| !none.is_held_out(r)));
    }

    #[test]
    fn split_depends_on_the_seed_only() {
        let a = Holdout::new(0.3, 1).unwrap();
        let b = Holdout::new(0.3, 2).unwrap();
        let rows_a: Vec<u64> = a.held_out_rows(5000).collect();
        assert_eq!(rows_a, Holdout::new(0.3, 1).unwrap().held_out_rows(5000).collect::<Vec<_>>());
        assert_ne!(rows_a, b.held_out_rows(5000).collect::<Vec<_>>());
        let n = rows_a.len() as f64;
        assert!((n - 1500.0).abs() < 4.0 * (5000.0f64 * 0.3 * 0.7).sqrt(), "{n}");
        // A larger fraction holds out a superset (same key, higher threshold).
        let more = Holdout::new(0.5, 1).unwrap();
        assert!(rows_a.iter().all(|&r| more.is_held_out(r)));
    }

    #[test]
    fn training_rows_drop_held_out_and_mixed_rows() {
        let h = Holdout::new(0.5, 9).unwrap();
        let held: Vec<u64> = (0..20).filter(|&r| h.is_held_out(r)).collect();
        let kept: Vec<u64> = (0..20).filter(|&r| !h.is_held_out(r)).collect();
        assert!(held.len() >= 3 && kept.len() >= 3);
        let ids = vec![kept[0], held[0], kept[1], kept[2]];
        let x = Array2::from_shape_fn((4, 2), |(i, j)| (10 * i + j) as f32);
        let mut batch = Batch::new(5, x, Some(Array2::ones((4, 3))), ids).unwrap();
        // Row 2 was mixed with a held-out row.
        batch.provenance = Provenance { row_b: vec![None, None, Some(held[1]), Some(kept[0])], ..batch.provenance };
        let out = h.training_rows(batch).unwrap();
        assert_eq!(out.step, 5);
        assert_eq!(out.provenance.row_a, vec![kept[0], kept[2]]);
        assert_eq!(out.features, ndarray::array![[0.0f32, 1.0], [30.0, 31.0]]);
        assert_eq!(out.targets.unwrap().nrows(), 2);
    }
}
