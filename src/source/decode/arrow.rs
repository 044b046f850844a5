//! The arrow-rs path of the block decoder: a block through arrow-rs's record batches into
//! row-major `f32` buffers, for every layout (lists, soft labels, images, nested or unusual
//! columns) and for any page the direct path ([`super::direct`]) does not read. The decoded row
//! count is checked against the footer, and nulls, NaN and infinities go through the
//! [`NullPolicy`].

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
use crate::source::decode::block::{
    check_finite, handle_bad, put_class, Decoded, NullPolicy, Site, DECODE_BATCH_ROWS, TRANSPOSE_BYTES,
};
use crate::source::decode::columns::ColumnPlan;
use crate::source::decode::image::{self, EncodedImages};
use crate::source::decode::transpose::{put_f32_columns, Values};
use crate::source::decode::{decode_error, DecodeContext, RowGroupRef};
use crate::source::footer::ShardInfo;
use crate::source::pages::chunks::{open_row_group, ChunkSource};
use crate::source::pages::page_map::MapIndex;
use crate::source::pages::repeated::count_records;
use crate::spec::{FeatureLayout, TargetKind};

/// Decode `block` of `shard` from `source` (its column chunks, opened by
/// [`super::decode_block`]) through arrow-rs's record batches; `whole` when `source` already
/// holds the whole row group's column chunks in memory.
pub(super) fn decode(
    ctx: &DecodeContext,
    shard: &ShardInfo,
    block: &RowGroupRef,
    mut source: ChunkSource,
    whole: bool,
) -> Result<Decoded> {
    let (row_group, first_row) = (block.row_group, block.first_row);
    let meta = shard.metadata.metadata();
    let rg_meta = meta.row_group(row_group);
    let rg_rows = usize::try_from(rg_meta.num_rows()).unwrap_or(0);
    let expected_rows = block.num_rows as usize;
    let descr = meta.file_metadata().schema_descr();
    let mask = ProjectionMask::roots(descr, shard.roots.iter().copied());
    let decode_err = |source| decode_error(shard, row_group, source);
    if !whole {
        // The block's pages in one read per chunk when they are small, not one read each.
        let first = block.offset as usize;
        source.preload_small_pages(rg_meta, first..first + expected_rows);
    }
    // A block of part of a row group skips the rows before it: with the page maps as offset
    // index, by page location (without, arrow-rs walks the chunk's page headers from its
    // start for every block). The metadata is built once for all the blocks of a row group.
    // arrow-rs's `skip_records` loops forever on a repeated column's page whose repetition
    // levels end before the values its header claims (its read path reports them), so a
    // repeated column is never skipped into a page: the block skips whole pages up to the one
    // holding its first row (by their records, counted once per chunk) and reads the rows
    // before it in that page, dropping them. A chunk whose records cannot be counted (a page
    // that starts inside a record, levels that end early) is read from the row group's start.
    let slice = expected_rows < rg_rows;
    let offset = block.offset as usize;
    let repeated: Vec<(usize, i16)> = (0..descr.num_columns())
        .map(|leaf| (leaf, descr.column(leaf).max_rep_level()))
        .filter(|&(leaf, rep)| rep > 0 && shard.roots.contains(&descr.get_column_root_idx(leaf)))
        .collect();
    let (skip, skip_by_reading, by_pages) =
        match slice.then(|| record_start(&source, shard, row_group, &repeated, offset)) {
            None => (0, 0, false),
            Some(Some(start)) => (start, offset - start, true),
            Some(None) => (0, offset, false),
        };
    let indexed = if by_pages {
        let maps = source.page_maps();
        ctx.page_maps().indexed_or_build(&shard.path, row_group, maps, || indexed_metadata(shard, row_group, &source))
    } else {
        None
    };
    // Without the page maps as offset index, arrow-rs would skip a repeated column's pages by
    // decoding their levels: read from the row group's start instead.
    let (skip, skip_by_reading, by_pages) = if by_pages && indexed.is_none() && !repeated.is_empty() {
        (0, offset, false)
    } else {
        (skip, skip_by_reading, by_pages)
    };
    let (metadata, reader_row_group) = match indexed {
        Some(m) => (m, 0),
        None => (shard.metadata.clone(), row_group),
    };
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(source, metadata)
        .with_projection(mask)
        .with_row_groups(vec![reader_row_group])
        .with_batch_size(expected_rows.clamp(1, DECODE_BATCH_ROWS));
    if slice && !by_pages {
        builder = builder.with_limit(skip_by_reading + expected_rows);
    } else if slice {
        // Selectors, never a mask: a mask decodes the rows it drops.
        builder = builder.with_row_selection_policy(RowSelectionPolicy::Selectors).with_row_selection(
            RowSelection::from(vec![RowSelector::skip(skip), RowSelector::select(skip_by_reading + expected_rows)]),
        );
    }
    let reader = builder.build().map_err(decode_err)?;

    let plan = ctx.plan();
    let f = ctx.spec().num_features();
    let c = ctx.spec().num_targets();
    let pool = ctx.pools();
    // Separate columns are transposed tile by tile onto the end of an empty buffer; a list
    // column (whose null rows are skipped) is written in place into a zeroed one.
    let columns = matches!(plan.spec.features, FeatureLayout::Columns(_));
    let images = plan.image.is_some();
    let mut out = Decoded::new(
        expected_rows,
        if columns || images {
            pool.floats.take_empty(if images { 0 } else { expected_rows * f })
        } else {
            pool.floats.take(expected_rows * f)
        },
        pool.floats.take(expected_rows * c),
        Some(pool.clone()),
    );
    out.images = images.then(|| EncodedImages::new(expected_rows));
    let mut finite = true;
    let site = Site { shard, row_group, first_row };
    let policy = ctx.policy();
    let mut row0 = 0usize;
    let mut drop_rows = skip_by_reading;
    for batch in reader {
        let mut batch = batch.map_err(|e| decode_err(e.into()))?;
        if drop_rows > 0 {
            let k = drop_rows.min(batch.num_rows());
            batch = batch.slice(k, batch.num_rows() - k);
            drop_rows -= k;
            if batch.num_rows() == 0 {
                continue;
            }
        }
        let n = batch.num_rows();
        if row0 + n > expected_rows {
            return Err(row_count_error(shard, row_group, row0 + n, expected_rows));
        }
        finite &= put_features(&batch, plan, &mut out, f, row0, &site, policy)?;
        finite &= put_target(&batch, &plan.spec.target, &mut out, c, row0, &site, policy)?;
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

/// The row from which a block starting at row `offset` of row group `row_group` of `shard` is
/// read: the last row at or before `offset` that starts a page of every repeated leaf column
/// of `repeated` ((leaf, maximum repetition level)) in `source`, by the pages' records
/// ([`PageMap::records_or_count`], counted once per chunk); `offset` itself without repeated
/// columns; `None` when a chunk's records are not known (no page map, or they cannot be
/// counted).
///
/// [`PageMap::records_or_count`]: crate::source::pages::page_map::PageMap::records_or_count
fn record_start(
    source: &ChunkSource,
    shard: &ShardInfo,
    row_group: usize,
    repeated: &[(usize, i16)],
    offset: usize,
) -> Option<usize> {
    if repeated.is_empty() {
        return Some(offset);
    }
    let rg_meta = shard.metadata.metadata().row_group(row_group);
    let rows = usize::try_from(rg_meta.num_rows()).ok()?;
    let shared = Arc::new(source.clone());
    let mut starts = Vec::new();
    for &(leaf, max_rep) in repeated {
        let map = source.index_map(leaf)?;
        // v2 pages count their records in their headers: those of the whole row group.
        if map.v2 && map.rows != rows as u64 {
            return None;
        }
        let count = || count_records(&shared, rg_meta.column(leaf), max_rep, rows, map);
        starts.push(map.records_or_count(false, rows as u64, count).filter(|l| !l.is_empty())?);
    }
    // Each column's page start at or before the candidate, until all agree (row 0 at worst).
    let mut row = offset as u64;
    loop {
        let mut next = row;
        for locations in &starts {
            let i = locations.partition_point(|l| l.first_row_index as u64 <= next).checked_sub(1)?;
            next = locations[i].first_row_index as u64;
        }
        if next == row {
            return usize::try_from(row).ok();
        }
        row = next;
    }
}

/// The metadata of `shard` reduced to row group `row_group` (as its row group 0), with the
/// page maps of `source` as its offset index ([`MapIndex`]); `None` if arrow-rs refuses it.
/// Building it costs the row group's column metadata and the file's Arrow schema (not the
/// other row groups'); it is kept beside the page maps for the row group's other blocks.
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
    plan: &ColumnPlan,
    out: &mut Decoded,
    f: usize,
    row0: usize,
    site: &Site,
    policy: NullPolicy,
) -> Result<bool> {
    let mut finite = true;
    match (&plan.spec.features, plan.image) {
        (FeatureLayout::Columns(names), _) => {
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
        (FeatureLayout::List { column: name, .. }, Some(image)) => {
            image::put_encoded(column(batch, name, site)?, image.kind, out, row0, name, site, policy)?;
        }
        (FeatureLayout::List { column: name, .. }, None) => {
            let arr = column(batch, name, site)?;
            let (ok, null_elements) = write_list(arr, &mut out.features, f, row0, name, site)?;
            finite &= ok;
            list_nulls(arr, &null_elements, out, f, row0, name, site, policy, true)?;
        }
    }
    Ok(finite)
}

/// As [`put_features`], for the target (nothing without one).
fn put_target(
    batch: &RecordBatch,
    t: &TargetKind,
    out: &mut Decoded,
    c: usize,
    row0: usize,
    site: &Site,
    policy: NullPolicy,
) -> Result<bool> {
    let mut finite = true;
    let Some(name) = t.column() else { return Ok(true) };
    let arr = column(batch, name, site)?;
    match t {
        TargetKind::None => {}
        TargetKind::Class { num_classes, .. } => {
            let labels = integer_values(arr, name, site)?;
            for (i, &v) in labels.iter().enumerate() {
                let label = if arr.is_null(i) { None } else { Some(v) };
                put_class(out, c, row0 + i, label, *num_classes, name, site, policy)?;
            }
        }
        TargetKind::Regression { .. } => {
            finite &= write_scalars(arr, &mut out.targets, c, 0, row0, name, site)?;
            if arr.null_count() > 0 {
                apply_nulls(arr, out, c, 0, row0, name, site, policy, false)?;
            }
        }
        TargetKind::Soft { .. } => {
            let (ok, null_elements) = write_list(arr, &mut out.targets, c, row0, name, site)?;
            finite &= ok;
            list_nulls(arr, &null_elements, out, c, row0, name, site, policy, false)?;
        }
    }
    Ok(finite)
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

/// Apply the policy to the nulls of a list column `arr` written at rows `row0..` of `out`
/// (`width` values per row): every value of a null row, and each null element
/// (`null_elements`: (row of `arr`, element), in row order, from [`write_list`]) of a present
/// one, in row order (so that `error` reports the first).
#[allow(clippy::too_many_arguments)]
fn list_nulls(
    arr: &ArrayRef,
    null_elements: &[(usize, usize)],
    out: &mut Decoded,
    width: usize,
    row0: usize,
    name: &str,
    site: &Site,
    policy: NullPolicy,
    features: bool,
) -> Result<()> {
    if arr.null_count() == 0 && null_elements.is_empty() {
        return Ok(());
    }
    let mut elements = null_elements.iter().peekable();
    for i in 0..arr.len() {
        if arr.is_null(i) {
            for j in 0..width {
                handle_bad(out, width, row0 + i, j, name, site, policy, BadValue::Null, features)?;
            }
        }
        while let Some(&&(row, j)) = elements.peek().filter(|&&&(row, _)| row <= i) {
            if row == i && arr.is_valid(i) {
                handle_bad(out, width, row0 + i, j, name, site, policy, BadValue::Null, features)?;
            }
            elements.next();
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

/// Write a list-of-numbers array, `width` values per row, into rows `row0..` of `out`; whether
/// every value written is finite, and the null elements of present rows ((row of `arr`,
/// element), in row order) for the caller's policy ([`list_nulls`]). A null row's values are
/// whatever arrow-rs holds in its slots (a `fixed_size_list` has `width` of them, null) or
/// left as they were (a `list`'s null row has none).
fn write_list(
    arr: &ArrayRef,
    out: &mut [f32],
    width: usize,
    row0: usize,
    name: &str,
    site: &Site,
) -> Result<(bool, Vec<(usize, usize)>)> {
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
    // Null elements of present rows (those of a null row are the row's own).
    let mut null_elements = Vec::new();
    if values.null_count() > 0 {
        for idx in (0..values.len()).filter(|&i| values.is_null(i)) {
            let (row, j) = match &starts {
                None => (idx / width.max(1), idx % width.max(1)),
                Some(s) => {
                    // The row whose range holds `idx` (an empty row's range holds nothing).
                    let Some(row) = s.partition_point(|&x| x <= idx).checked_sub(1).filter(|&r| r < n) else {
                        continue;
                    };
                    (row, idx - s[row])
                }
            };
            if row < n && arr.is_valid(row) {
                null_elements.push((row, j));
            }
        }
    }
    let dst = &mut out[row0 * width..(row0 + n) * width];
    let finite = match starts {
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
    }?;
    Ok((finite, null_elements))
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
pub(crate) fn max_label(
    ctx: &DecodeContext,
    shard: &ShardInfo,
    row_group: usize,
    column: &str,
) -> Result<Option<i128>> {
    let run = || -> Result<Option<i128>> {
        let meta = shard.metadata.metadata();
        let descr = meta.file_metadata().schema_descr();
        let root = shard.metadata.schema().index_of(column).map_err(|_| ErrorKind::MissingColumn {
            path: shard.path.clone(),
            column: column.to_string(),
            hint: String::new(),
        })?;
        let source = open_row_group(shard, row_group, &[root], true, ctx.pools(), ctx.page_maps())?;
        let decode_err = |source| decode_error(shard, row_group, source);
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
