//! Decoding one row group of one shard into row-major `f32` buffers.
//!
//! This is the boundary where untrusted bytes meet the decoders: column-chunk sizes are
//! checked against a limit before anything is decompressed, the decode runs under
//! `catch_unwind` (arrow-rs panics on a small fraction of corrupt files), the decoded row count
//! is checked against the footer, and nulls, NaN and infinities go through the [`NullPolicy`].
//!
//! A block of flat numeric columns takes the direct path ([`super::direct`]), which
//! reads pages straight into the row-major block; everything else, and any page the direct
//! path does not read, is decoded here through arrow-rs's record batches.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelectionPolicy,
    RowSelector,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaDataBuilder;

use crate::error::{panic_message, BadValue, Error, ErrorKind, Result};
use crate::source::chunks::{open_row_group, ChunkSource};
use crate::source::columns::{FeatureSource, TargetSource};
use crate::source::direct;
use crate::source::image::{self, EncodedImages};
use crate::source::page_map::MapIndex;
use crate::source::pool::Pools;
use crate::source::shards::{RowGroupRef, ShardInfo, ShardSet};
use crate::source::transpose::{all_finite, put_f32_columns, Values};

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
    /// rows × F, row-major.
    pub features: Vec<f32>,
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
        }
    }
}

impl Decoded {
    /// A block of `rows` rows in these buffers, nothing skipped or filled yet, no images.
    pub fn new(rows: usize, features: Vec<f32>, targets: Vec<f32>, pool: Option<Arc<Pools>>) -> Self {
        Decoded { rows, features, targets, keep: None, skipped: 0, filled: 0, pool, images: None }
    }

    pub fn bytes(&self) -> usize {
        (self.features.len() + self.targets.len()) * 4
            + self.keep.as_ref().map_or(0, Vec::len)
            + self.images.as_ref().map_or(0, EncodedImages::bytes)
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

/// Decode one block (a row group, or a run of rows of one).
pub(crate) fn decode_block(set: &ShardSet, block: &RowGroupRef) -> Result<Decoded> {
    decode_block_with(set, block, set.direct_path())
}

/// [`decode_block`], through arrow-rs only unless `allow_direct` (the tests compare the two).
pub(crate) fn decode_block_with(set: &ShardSet, block: &RowGroupRef, allow_direct: bool) -> Result<Decoded> {
    let shard = &set.shards()[block.shard];
    let row_group = block.row_group;
    let result = catch_unwind(AssertUnwindSafe(|| decode_inner(set, shard, block, allow_direct)));
    match result {
        Ok(r) => r,
        Err(payload) => {
            Err(ErrorKind::DecodePanic { path: shard.path.clone(), row_group, message: panic_message(&*payload) }
                .into())
        }
    }
}

fn decode_inner(set: &ShardSet, shard: &ShardInfo, block: &RowGroupRef, allow_direct: bool) -> Result<Decoded> {
    let (row_group, first_row) = (block.row_group, block.first_row);
    let meta = shard.metadata.metadata();
    let rg_meta = meta.row_group(row_group);
    let rg_rows = usize::try_from(rg_meta.num_rows()).unwrap_or(0);
    let expected_rows = block.num_rows as usize;
    let descr = meta.file_metadata().schema_descr();
    let limit = set.chunk_limit();
    for leaf in 0..rg_meta.num_columns() {
        if !shard.roots.contains(&descr.get_column_root_idx(leaf)) {
            continue;
        }
        let col = rg_meta.column(leaf);
        let size = col.uncompressed_size();
        if size < 0 || size as u64 > limit || col.compressed_size() < 0 {
            return Err(ErrorKind::TooLarge {
                path: shard.path.clone(),
                row_group,
                column: descr.column(leaf).path().string(),
                size: size.max(0) as u64,
                limit,
            }
            .into());
        }
    }

    let mask = ProjectionMask::roots(descr, shard.roots.iter().copied());
    let decode_err = |source| -> Error { ErrorKind::Decode { path: shard.path.clone(), row_group, source }.into() };
    // The direct path reads pages as it needs them; arrow-rs reads faster from memory.
    let direct = if allow_direct { direct::plan(set, shard) } else { None };
    let whole = direct.is_none() && expected_rows == rg_rows;
    let mut source = open_row_group(set, shard, row_group, &shard.roots, whole)?;
    if let Some(direct) = &direct {
        if let Some(out) = direct::decode(set, shard, block, direct, &source)? {
            return Ok(out);
        }
    }
    if !whole {
        // The block's pages in one read per chunk when they are small, not one read each.
        let leaves: Vec<usize> = source.page_maps().iter().map(|(leaf, _)| *leaf).collect();
        let first = block.offset as usize;
        direct::preload_small_pages(&mut source, rg_meta, leaves, first..first + expected_rows);
    }
    // A block of part of a row group skips the rows before it: with the page maps as offset
    // index, by page location (without, arrow-rs walks the chunk's page headers from its
    // start for every block).
    let indexed = if expected_rows < rg_rows { indexed_metadata(shard, row_group, &source) } else { None };
    let (metadata, reader_row_group) = match indexed {
        Some(m) => (m, 0),
        None => (shard.metadata.clone(), row_group),
    };
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(source, metadata)
        .with_projection(mask)
        .with_row_groups(vec![reader_row_group])
        .with_batch_size(expected_rows.clamp(1, DECODE_BATCH_ROWS));
    if expected_rows < rg_rows {
        let offset = block.offset as usize;
        // Selectors, never a mask: a mask decodes the rows it drops.
        builder = builder.with_row_selection_policy(RowSelectionPolicy::Selectors).with_row_selection(
            RowSelection::from(vec![RowSelector::skip(offset), RowSelector::select(expected_rows)]),
        );
    }
    let reader = builder.build().map_err(decode_err)?;

    let plan = set.plan();
    let f = set.spec().num_features();
    let c = set.spec().num_targets();
    let pool = set.pools();
    // Separate columns are transposed tile by tile onto the end of an empty buffer; a list
    // column (whose null rows are skipped) is written in place into a zeroed one.
    let columns = matches!(plan.features, FeatureSource::Columns(_));
    let images = matches!(plan.features, FeatureSource::Image { .. });
    let mut out = Decoded::new(
        expected_rows,
        if columns || images {
            pool.floats.take_empty(if images { 0 } else { expected_rows * f })
        } else {
            pool.floats.take(expected_rows * f, true)
        },
        pool.floats.take(expected_rows * c, true),
        Some(pool.clone()),
    );
    out.images = images.then(|| EncodedImages::new(expected_rows));
    let mut finite = true;
    let site = Site { shard, row_group, first_row };
    let policy = set.policy();
    let mut row0 = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| decode_err(e.into()))?;
        let n = batch.num_rows();
        if row0 + n > expected_rows {
            return Err(row_count_error(shard, row_group, row0 + n, expected_rows));
        }
        finite &= put_features(&batch, &plan.features, &mut out, f, row0, &site, policy)?;
        if let Some(t) = &plan.target {
            finite &= put_target(&batch, t, &mut out, c, row0, &site, policy)?;
        }
        row0 += n;
    }
    if row0 != expected_rows {
        return Err(row_count_error(shard, row_group, row0, expected_rows));
    }
    if !finite {
        check_finite(&mut out, f, c, &site, plan, policy)?;
    }
    Ok(out)
}

/// The metadata of `shard` reduced to row group `row_group` (as its row group 0), with the
/// page maps of `source` as its offset index ([`MapIndex`]); `None` if arrow-rs refuses it.
/// Building it costs the row group's column metadata, not the file's.
fn indexed_metadata(shard: &ShardInfo, row_group: usize, source: &ChunkSource) -> Option<ArrowReaderMetadata> {
    let meta = shard.metadata.metadata();
    let rg = meta.row_group(row_group);
    let descr = meta.file_metadata().schema_descr();
    let rows = u64::try_from(rg.num_rows()).ok()?;
    let flat = |leaf: usize| descr.columns().get(leaf).is_some_and(|c| c.max_rep_level() == 0);
    let index = MapIndex::new(meta.page_index().cloned(), row_group, rows, source.page_maps(), flat);
    let one = ParquetMetaDataBuilder::new(meta.file_metadata().clone())
        .add_row_group(rg.clone())
        .set_page_index(Some(Arc::new(index)))
        .build();
    ArrowReaderMetadata::try_new(Arc::new(one), ArrowReaderOptions::new()).ok()
}

fn row_count_error(shard: &ShardInfo, row_group: usize, got: usize, expected: usize) -> Error {
    ErrorKind::ShardChanged {
        path: shard.path.clone(),
        message: format!("row group {row_group} decodes to {got} rows but its footer says {expected}"),
    }
    .into()
}

fn column<'a>(batch: &'a RecordBatch, name: &str, site: &Site) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        ErrorKind::MissingColumn { path: site.shard.path.clone(), column: name.to_string(), hint: String::new() }.into()
    })
}

/// Write a record batch's features into rows `row0..` of `out`; false when a written value is
/// NaN or infinite (the caller then looks for it).
fn put_features(
    batch: &RecordBatch,
    src: &FeatureSource,
    out: &mut Decoded,
    f: usize,
    row0: usize,
    site: &Site,
    policy: NullPolicy,
) -> Result<bool> {
    let mut finite = true;
    match src {
        FeatureSource::Columns(names) => {
            let arrays = names.iter().map(|name| column(batch, name, site)).collect::<Result<Vec<_>>>()?;
            let values =
                arrays.iter().zip(names).map(|(arr, name)| values_of(arr, name, site)).collect::<Result<Vec<_>>>()?;
            // Transpose in tiles of rows whose output (tile × F floats) stays in L1, each
            // column writing its stretch of the tile in turn.
            let n = batch.num_rows();
            let tile = (TRANSPOSE_BYTES / (4 * f.max(1))).clamp(8, 4096);
            if out.features.len() != row0 * f {
                let context = format!("decoded features of {} row group {}", site.shard.path.display(), site.row_group);
                return Err(Error::shape(context, format!("{} values", row0 * f), out.features.len()));
            }
            let mut buf = vec![0f32; tile * f];
            for start in (0..n).step_by(tile) {
                let len = tile.min(n - start);
                let dst = &mut buf[..len * f];
                let mut j = 0;
                while j < values.len() {
                    // Eight float32 columns at a time: one 32-byte store per row.
                    let eight = values.get(j..j + 8).unwrap_or_default();
                    if let Some(ok) = put_f32_columns::<8>(eight, start..start + len, dst, f, j) {
                        finite &= ok;
                        j += 8;
                    } else {
                        finite &= values[j].put(start..start + len, dst, f, j);
                        j += 1;
                    }
                }
                out.features.extend_from_slice(dst);
            }
            for (j, (arr, name)) in arrays.iter().zip(names).enumerate() {
                if arr.null_count() > 0 {
                    apply_nulls(arr, out, f, j, row0, name, site, policy, true)?;
                }
            }
        }
        FeatureSource::Image { column: name, kind, .. } => {
            image::put_encoded(column(batch, name, site)?, *kind, out, row0, name, site, policy)?;
        }
        FeatureSource::List { column: name, .. } => {
            let arr = column(batch, name, site)?;
            finite &= write_list(arr, &mut out.features, f, row0, name, site)?;
            if arr.null_count() > 0 {
                for i in 0..arr.len() {
                    if arr.is_null(i) {
                        for j in 0..f {
                            handle_bad(out, f, row0 + i, j, name, site, policy, BadValue::Null, true)?;
                        }
                    }
                }
            }
        }
    }
    Ok(finite)
}

/// As [`put_features`], for the target.
fn put_target(
    batch: &RecordBatch,
    t: &TargetSource,
    out: &mut Decoded,
    c: usize,
    row0: usize,
    site: &Site,
    policy: NullPolicy,
) -> Result<bool> {
    let mut finite = true;
    let name = t.column();
    let arr = column(batch, name, site)?;
    match t {
        TargetSource::Class { num_classes, .. } => {
            let labels = integer_values(arr, name, site)?;
            for (i, &v) in labels.iter().enumerate() {
                let label = if arr.is_null(i) { None } else { Some(v) };
                put_class(out, c, row0 + i, label, *num_classes, name, site, policy)?;
            }
        }
        TargetSource::Regression { .. } => {
            finite &= write_scalars(arr, &mut out.targets, c, 0, row0, name, site)?;
            if arr.null_count() > 0 {
                apply_nulls(arr, out, c, 0, row0, name, site, policy, false)?;
            }
        }
        TargetSource::Soft { .. } => {
            finite &= write_list(arr, &mut out.targets, c, row0, name, site)?;
            for i in 0..arr.len() {
                if arr.is_null(i) {
                    for j in 0..c {
                        handle_bad(out, c, row0 + i, j, name, site, policy, BadValue::Null, false)?;
                    }
                }
            }
        }
    }
    Ok(finite)
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
fn apply_nulls(
    arr: &ArrayRef,
    out: &mut Decoded,
    width: usize,
    col: usize,
    row0: usize,
    name: &str,
    site: &Site,
    policy: NullPolicy,
    features: bool,
) -> Result<()> {
    for i in 0..arr.len() {
        if arr.is_null(i) {
            handle_bad(out, width, row0 + i, col, name, site, policy, BadValue::Null, features)?;
        }
    }
    Ok(())
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
    plan: &crate::source::columns::ColumnPlan,
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
                match &plan.features {
                    FeatureSource::Columns(n) => n[col].clone(),
                    FeatureSource::List { column, .. } | FeatureSource::Image { column, .. } => {
                        format!("{column}[{col}]")
                    }
                }
            } else {
                plan.target.as_ref().map(|t| t.column().to_string()).unwrap_or_default()
            };
            let kind = if v.is_nan() { BadValue::NaN } else { BadValue::Infinite };
            handle_bad(out, width, row, col, &name, site, policy, kind, features)?;
        }
    }
    Ok(())
}

fn unsupported(arr: &ArrayRef, name: &str, site: &Site, role: &str) -> Error {
    ErrorKind::ColumnType {
        path: site.shard.path.clone(),
        column: name.to_string(),
        found: arr.data_type().to_string(),
        role: role.to_string(),
    }
    .into()
}

/// Write a numeric array into `out[(row0 + i) * stride + col]`; false when a written value
/// is NaN or infinite.
fn write_scalars(
    arr: &ArrayRef,
    out: &mut [f32],
    stride: usize,
    col: usize,
    row0: usize,
    name: &str,
    site: &Site,
) -> Result<bool> {
    let n = arr.len();
    Ok(values_of(arr, name, site)?.put(0..n, &mut out[row0 * stride..(row0 + n) * stride], stride, col))
}

/// A numeric Arrow array's values for the transpose.
fn values_of<'a>(arr: &'a ArrayRef, name: &str, site: &Site) -> Result<Values<'a>> {
    let scale = |s: i8| 10f64.powi(-(s as i32));
    Ok(match arr.data_type() {
        DataType::Float32 => Values::F32(arr.as_primitive::<Float32Type>().values()),
        DataType::Float64 => Values::F64(arr.as_primitive::<Float64Type>().values()),
        DataType::Float16 => Values::F16(arr.as_primitive::<Float16Type>().values()),
        DataType::Int8 => Values::I8(arr.as_primitive::<Int8Type>().values()),
        DataType::Int16 => Values::I16(arr.as_primitive::<Int16Type>().values()),
        DataType::Int32 => Values::I32(arr.as_primitive::<Int32Type>().values()),
        DataType::Int64 => Values::I64(arr.as_primitive::<Int64Type>().values()),
        DataType::UInt8 => Values::U8(arr.as_primitive::<UInt8Type>().values()),
        DataType::UInt16 => Values::U16(arr.as_primitive::<UInt16Type>().values()),
        DataType::UInt32 => Values::U32(arr.as_primitive::<UInt32Type>().values()),
        DataType::UInt64 => Values::U64(arr.as_primitive::<UInt64Type>().values()),
        DataType::Decimal32(_, s) => Values::D32(arr.as_primitive::<Decimal32Type>().values(), scale(*s)),
        DataType::Decimal64(_, s) => Values::D64(arr.as_primitive::<Decimal64Type>().values(), scale(*s)),
        DataType::Decimal128(_, s) => Values::D128(arr.as_primitive::<Decimal128Type>().values(), scale(*s)),
        _ => return Err(unsupported(arr, name, site, "a number")),
    })
}

/// Write a list-of-numbers array, `width` values per row, into rows `row0..` of `out`.
fn write_list(arr: &ArrayRef, out: &mut [f32], width: usize, row0: usize, name: &str, site: &Site) -> Result<bool> {
    let n = arr.len();
    let (values, starts): (ArrayRef, Option<Vec<usize>>) = match arr.data_type() {
        DataType::FixedSizeList(_, len) => {
            let a = arr.as_fixed_size_list();
            let len = *len as usize;
            if len != width {
                return Err(ragged(site, name, 0, len, width));
            }
            (a.values().slice(a.offset() * len, n * len), None)
        }
        DataType::List(_) => {
            let a = arr.as_list::<i32>();
            let offs: Vec<usize> = a.value_offsets().iter().map(|&o| o.max(0) as usize).collect();
            (a.values().clone(), Some(offs))
        }
        DataType::LargeList(_) => {
            let a = arr.as_list::<i64>();
            let offs: Vec<usize> = a.value_offsets().iter().map(|&o| o.max(0) as usize).collect();
            (a.values().clone(), Some(offs))
        }
        _ => return Err(unsupported(arr, name, site, "a list of numbers")),
    };
    if values.null_count() > 0 {
        // Null elements inside a list: report the first one's row.
        let idx = (0..values.len()).find(|&i| values.is_null(i)).unwrap_or(0);
        let row = starts.as_ref().map_or(idx / width.max(1), |s| s.partition_point(|&x| x <= idx).saturating_sub(1));
        return Err(site.bad(name, row0 + row, BadValue::Null));
    }
    let dst = &mut out[row0 * width..(row0 + n) * width];
    match starts {
        None => write_scalars(&values, dst, 1, 0, 0, name, site),
        Some(offs) => {
            for i in 0..n {
                let len = offs[i + 1].saturating_sub(offs[i]);
                if len != width && arr.is_valid(i) {
                    return Err(ragged(site, name, row0 + i, len, width));
                }
            }
            let first = offs[0];
            let last = offs[n];
            if last - first != n * width {
                // Only null rows can make this differ; copy row by row.
                let mut finite = true;
                for i in 0..n {
                    if arr.is_valid(i) {
                        let v = values.slice(offs[i], width);
                        finite &= write_scalars(&v, &mut dst[i * width..(i + 1) * width], 1, 0, 0, name, site)?;
                    }
                }
                Ok(finite)
            } else {
                write_scalars(&values.slice(first, n * width), dst, 1, 0, 0, name, site)
            }
        }
    }
}

fn ragged(site: &Site, name: &str, row: usize, len: usize, expected: usize) -> Error {
    ErrorKind::Ragged {
        path: site.shard.path.clone(),
        column: name.to_string(),
        row: site.first_row + row as u64,
        len,
        expected,
    }
    .into()
}

/// Integer label values widened to i128 (nulls read as 0; the caller checks validity).
fn integer_values(arr: &ArrayRef, name: &str, site: &Site) -> Result<Vec<i128>> {
    macro_rules! ints {
        ($t:ty) => {
            arr.as_primitive::<$t>().values().iter().map(|&v| v as i128).collect()
        };
    }
    Ok(match arr.data_type() {
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        _ => return Err(unsupported(arr, name, site, "a class label")),
    })
}

/// The largest label in one row group's class column (for deriving the class count).
pub(crate) fn max_label(set: &ShardSet, shard: &ShardInfo, row_group: usize, column: &str) -> Result<Option<i128>> {
    let run = || -> Result<Option<i128>> {
        let meta = shard.metadata.metadata();
        let descr = meta.file_metadata().schema_descr();
        let root = shard.metadata.schema().index_of(column).map_err(|_| ErrorKind::MissingColumn {
            path: shard.path.clone(),
            column: column.to_string(),
            hint: String::new(),
        })?;
        let source = open_row_group(set, shard, row_group, &[root], true)?;
        let decode_err = |source| -> Error { ErrorKind::Decode { path: shard.path.clone(), row_group, source }.into() };
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(source, shard.metadata.clone())
            .with_projection(ProjectionMask::roots(descr, [root]))
            .with_row_groups(vec![row_group])
            .build()
            .map_err(decode_err)?;
        let site = Site { shard, row_group, first_row: 0 };
        let mut max = None;
        for b in reader {
            let b = b.map_err(|e| decode_err(e.into()))?;
            let arr = b.column(0);
            for (i, v) in integer_values(arr, column, &site)?.into_iter().enumerate() {
                if arr.is_valid(i) {
                    if v < 0 {
                        return Err(ErrorKind::Label {
                            path: shard.path.clone(),
                            column: column.to_string(),
                            row: i as u64,
                            value: v as i64,
                            num_classes: 0,
                        }
                        .into());
                    }
                    max = Some(max.map_or(v, |m: i128| m.max(v)));
                }
            }
        }
        Ok(max)
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(r) => r,
        Err(p) => {
            Err(ErrorKind::DecodePanic { path: shard.path.clone(), row_group, message: panic_message(&*p) }.into())
        }
    }
}
