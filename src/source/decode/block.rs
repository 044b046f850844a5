//! The block writer both decode paths share: the decoded block ([`Decoded`]), where a value
//! sits ([`Site`]), and what happens to a null, NaN, infinity or bad class label
//! ([`NullPolicy`], [`handle_bad`], [`put_class`], [`check_finite`]).

use std::sync::Arc;

use crate::error::{BadValue, Error, ErrorKind, Result};
use crate::source::bytes::pool::Pools;
use crate::source::decode::columns::ColumnPlan;
use crate::source::decode::image::EncodedImages;
use crate::source::decode::transpose::all_finite;
use crate::source::footer::ShardInfo;
use crate::spec::FeatureLayout;

/// What to do with a null, NaN or infinite value in a feature or target.
///
/// # Example
/// ```
/// use shardmix::NullPolicy;
/// assert_eq!(NullPolicy::parse("fill(0.5)")?, NullPolicy::Fill(0.5));
/// assert_eq!(NullPolicy::parse("skip-row")?, NullPolicy::SkipRow);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum NullPolicy {
    /// Fail, naming file, row group, column and row (the default).
    #[default]
    Error,
    /// Drop the row from its batch (the batch gets smaller); counted in the stats.
    SkipRow,
    /// Replace the value (not allowed for class labels, which then fail as under `Error`).
    Fill(f32),
}

impl NullPolicy {
    /// Parse `error`, `skip-row` or `fill(VALUE)`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for anything else.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        match s {
            "error" => Ok(NullPolicy::Error),
            "skip-row" | "skip" => Ok(NullPolicy::SkipRow),
            _ => {
                let v = s
                    .strip_prefix("fill(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|v| v.trim().parse::<f32>().ok())
                    .filter(|v| v.is_finite());
                v.map(NullPolicy::Fill).ok_or_else(|| {
                    Error::config(
                        "null_policy",
                        format!("'{s}' is not one of error, skip-row, fill(VALUE) with a finite VALUE"),
                    )
                })
            }
        }
    }
}

/// One decoded row group.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// Rows in the row group (kept or not).
    pub rows: usize,
    /// rows × F, row-major (empty when the features are kept as `uint8` [`pixels`](Self::pixels)).
    pub features: Vec<f32>,
    /// rows × F `uint8` pixels, row-major, with `pixels = "uint8"` (else empty).
    pub pixels: Vec<u8>,
    /// rows × C, row-major (empty without a target).
    pub targets: Vec<f32>,
    /// `Some(mask)` when the skip-row policy dropped rows.
    pub keep: Option<Vec<bool>>,
    /// Rows dropped by the skip-row policy.
    pub skipped: u64,
    /// Values replaced by the fill policy.
    pub filled: u64,
    /// Where the buffers go when the block is dropped.
    pub pool: Option<Arc<Pools>>,
    /// An image feature column's encoded rows (`features` is then empty: the rows of a batch
    /// are decoded when it is assembled, see [`super::image`]).
    pub images: Option<EncodedImages>,
}

impl Drop for Decoded {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.floats.give(std::mem::take(&mut self.features));
            pool.floats.give(std::mem::take(&mut self.targets));
            pool.pixels.give(std::mem::take(&mut self.pixels));
        }
    }
}

impl Decoded {
    /// A block of `rows` rows in these buffers, nothing skipped or filled yet, no images.
    pub fn new(rows: usize, features: Vec<f32>, targets: Vec<f32>, pool: Option<Arc<Pools>>) -> Self {
        Decoded { rows, features, targets, pixels: Vec::new(), keep: None, skipped: 0, filled: 0, pool, images: None }
    }

    pub fn bytes(&self) -> usize {
        (self.features.len() + self.targets.len()) * 4
            + self.pixels.len()
            + self.keep.as_ref().map_or(0, Vec::len)
            + self.images.as_ref().map_or(0, EncodedImages::bytes)
    }
}

impl Decoded {
    /// Keep the features as `uint8` pixels: `features` (values of a `uint8` column, or a
    /// fill value checked to be one when the shard set was opened) narrowed into `pixels`, for
    /// a block that a path decoded to `f32` (arrow-rs, or the direct path's flat columns).
    /// Nothing to do for a block whose pixels are already there or whose rows are images.
    pub fn narrow_to_pixels(&mut self) {
        if !self.pixels.is_empty() || self.features.is_empty() || self.images.is_some() {
            return;
        }
        let mut pixels = match &self.pool {
            Some(pool) => pool.pixels.take_empty(self.features.len()),
            None => Vec::with_capacity(self.features.len()),
        };
        // Saturating casts: a skipped row's values may be anything.
        pixels.extend(self.features.iter().map(|&v| v as u8));
        let features = std::mem::take(&mut self.features);
        if let Some(pool) = &self.pool {
            pool.floats.give(features);
        }
        self.pixels = pixels;
    }
}

/// Rows per Arrow record batch while decoding a block: small enough that the decoded columns
/// are still in cache when the transpose reads them, and that arrow-rs's buffers are recycled
/// by the allocator instead of coming fresh from the kernel.
pub(super) const DECODE_BATCH_ROWS: usize = 4096;

/// Bytes of output written per transpose tile (fits in L1 with room for the inputs).
pub(super) const TRANSPOSE_BYTES: usize = 16 << 10;

/// Where a value sits, for error messages.
pub(super) struct Site<'a> {
    pub shard: &'a ShardInfo,
    pub row_group: usize,
    pub first_row: u64,
}

impl Site<'_> {
    pub fn bad(&self, column: &str, row: usize, value: BadValue) -> Error {
        ErrorKind::BadValue {
            path: self.shard.path.clone(),
            row_group: self.row_group,
            column: column.to_string(),
            row: self.first_row + row as u64,
            value,
        }
        .into()
    }
}

/// One-hot the class `label` (`None`: null) of `row` into the targets.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn put_class(
    out: &mut Decoded,
    c: usize,
    row: usize,
    label: Option<i128>,
    num_classes: usize,
    name: &str,
    site: &Site,
    policy: NullPolicy,
) -> Result<()> {
    match label {
        Some(v) if (0..num_classes as i128).contains(&v) => {
            out.targets[row * c + v as usize] = 1.0;
            Ok(())
        }
        _ => bad_class(out, c, row, label, num_classes, name, site, policy),
    }
}

/// [`put_class`] for a null or out-of-range label.
#[allow(clippy::too_many_arguments)]
#[cold]
fn bad_class(
    out: &mut Decoded,
    c: usize,
    row: usize,
    label: Option<i128>,
    num_classes: usize,
    name: &str,
    site: &Site,
    policy: NullPolicy,
) -> Result<()> {
    let Some(v) = label else {
        // A class cannot be filled: skip the row or fail.
        let p = if policy == NullPolicy::SkipRow { policy } else { NullPolicy::Error };
        return handle_bad(out, c, row, 0, name, site, p, BadValue::Null, false);
    };
    Err(ErrorKind::Label {
        path: site.shard.path.clone(),
        column: name.to_string(),
        row: site.first_row + row as u64,
        value: v.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        num_classes,
    }
    .into())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn handle_bad(
    out: &mut Decoded,
    width: usize,
    row: usize,
    col: usize,
    name: &str,
    site: &Site,
    policy: NullPolicy,
    value: BadValue,
    features: bool,
) -> Result<()> {
    match policy {
        NullPolicy::Error => Err(site.bad(name, row, value)),
        NullPolicy::SkipRow => {
            let rows = out.rows;
            let keep = out.keep.get_or_insert_with(|| vec![true; rows]);
            if keep[row] {
                keep[row] = false;
                out.skipped += 1;
            }
            Ok(())
        }
        NullPolicy::Fill(v) => {
            let buf = if features { &mut out.features } else { &mut out.targets };
            buf[row * width + col] = v;
            out.filled += 1;
            Ok(())
        }
    }
}

/// Find the NaN and infinite values (the transpose saw at least one) and apply the policy.
pub(super) fn check_finite(
    out: &mut Decoded,
    f: usize,
    c: usize,
    site: &Site,
    plan: &ColumnPlan,
    policy: NullPolicy,
) -> Result<()> {
    for features in [true, false] {
        let (width, all_finite) = if features { (f, all_finite(&out.features)) } else { (c, all_finite(&out.targets)) };
        if all_finite || width == 0 {
            continue;
        }
        let len = if features { out.features.len() } else { out.targets.len() };
        for idx in 0..len {
            let v = if features { out.features[idx] } else { out.targets[idx] };
            if v.is_finite() {
                continue;
            }
            let (row, col) = (idx / width, idx % width);
            if out.keep.as_ref().is_some_and(|k| !k[row]) {
                continue;
            }
            let name = if features {
                match &plan.spec.features {
                    FeatureLayout::Columns(n) => n[col].clone(),
                    FeatureLayout::List { column, .. } => format!("{column}[{col}]"),
                }
            } else {
                plan.spec.target.column().unwrap_or_default().to_string()
            };
            let kind = if v.is_nan() { BadValue::NaN } else { BadValue::Infinite };
            handle_bad(out, width, row, col, &name, site, policy, kind, features)?;
        }
    }
    Ok(())
}
