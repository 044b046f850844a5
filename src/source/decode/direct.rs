//! The direct decode path: a block of flat numeric columns, or of one tensor column
//! (`fixed_size_list` / `list` of `float32`, `float16`, `uint8`; [`repeated`]), from page
//! values straight into the row-major block.
//!
//! Through arrow-rs, every value is written three times after decompression: into a zeroed
//! Arrow buffer, copied out of the decoder's staging, then transposed into rows. Here a plain
//! page without nulls is transposed from the decompressed page bytes themselves, and a
//! dictionary or nullable page is expanded once ([`plain`]).
//!
//! The null policy, the class-label checks and their errors come from the block writer
//! ([`block`]) that the arrow-rs path ([`arrow`]) writes through too, and run in
//! the same order as on the Arrow path (record batch by record batch, features before the
//! target), so both paths give the same block and the same first error. A block that is a
//! slice of a row group skips the pages before it by their headers. A block the direct path
//! does not take (a null or ragged list, soft labels, another type or encoding, a malformed
//! page) goes to arrow-rs, which then also words any error.
//!
//! [`plain`]: crate::source::pages::plain
//! [`repeated`]: crate::source::pages::repeated
//! [`block`]: super::block
//! [`arrow`]: super::arrow

use std::sync::Arc;

use arrow_schema::DataType;
use parquet::basic::Type as PhysicalType;
use parquet::file::metadata::RowGroupMetaData;
use parquet::schema::types::SchemaDescriptor;

use crate::error::{BadValue, Result};
use crate::source::decode::block::{check_finite, handle_bad, put_class, Decoded, Site, DECODE_BATCH_ROWS};
use crate::source::decode::transpose::{extend_streaming, put_f32_columns, Values};
use crate::source::decode::{DecodeContext, RowGroupRef};
use crate::source::footer::ShardInfo;
use crate::source::pages::chunks::ChunkSource;
use crate::source::pages::plain::{Plain, PlainColumn};
use crate::source::pages::repeated::{count_records, read_lists, Element, ListChunk};
use crate::spec::{FeatureLayout, Pixels, TargetKind};

/// Where the direct path reads a block's columns: (leaf, type, maximum definition level) of
/// each feature column, then of the target column if any; or, for a tensor feature column, its
/// list leaf and the target column.
pub(crate) struct DirectPlan {
    columns: Vec<(usize, Plain, i16)>,
    /// A list feature column read as tensors ([`repeated`]).
    ///
    /// [`repeated`]: crate::source::pages::repeated
    list: Option<ListLeaf>,
}

/// A tensor feature column's leaf: (leaf, element type, maximum definition level, values per row).
#[derive(Clone, Copy)]
struct ListLeaf {
    leaf: usize,
    element: Element,
    max_def: i16,
    width: usize,
}

/// The direct path's plan for the blocks of `shard`, or `None` when it does not take them
/// (soft labels, images, a nested column, a list of lists or of another type, another type).
pub(crate) fn plan(ctx: &DecodeContext, shard: &ShardInfo) -> Option<DirectPlan> {
    let meta = shard.metadata.metadata();
    let plan = ctx.plan();
    let names: &[String] = match &plan.spec.features {
        FeatureLayout::Columns(names) => names,
        FeatureLayout::List { .. } if plan.image.is_none() => &[],
        FeatureLayout::List { .. } => return None,
    };
    let target = match &plan.spec.target {
        TargetKind::None => None,
        TargetKind::Soft { .. } => return None,
        t => Some(t),
    };
    let descr = meta.file_metadata().schema_descr();
    let schema = shard.metadata.schema();
    let mut leaf_of = vec![None; schema.fields().len()];
    for leaf in 0..descr.num_columns() {
        if let Some(slot) = leaf_of.get_mut(descr.get_column_root_idx(leaf)) {
            *slot = Some(leaf);
        }
    }
    let locate = |name: &str| -> Option<(usize, Plain, i16)> {
        let root = schema.index_of(name).ok()?;
        let leaf = (*leaf_of.get(root)?)?;
        let column = descr.column(leaf);
        if column.path().parts().len() != 1 || column.max_rep_level() != 0 || column.max_def_level() > 1 {
            return None;
        }
        let kind = Plain::of(column.physical_type(), schema.field(root).data_type())?;
        Some((leaf, kind, column.max_def_level()))
    };
    let mut columns = names.iter().map(|n| locate(n)).collect::<Option<Vec<_>>>()?;
    let list = match &plan.spec.features {
        FeatureLayout::List { column, len } => {
            let root = schema.index_of(column).ok()?;
            Some(locate_list(descr, root, schema.field(root).data_type(), *len)?)
        }
        FeatureLayout::Columns(_) => None,
    };
    if let Some(t) = target {
        let located = locate(t.column()?)?;
        if matches!(t, TargetKind::Class { .. }) && !matches!(located.1, Plain::I32 | Plain::I64) {
            return None;
        }
        columns.push(located);
    }
    Some(DirectPlan { columns, list })
}

/// The leaf of the list column at `root` (Arrow type `arrow`, `width` values per row) when the
/// direct path reads it: the root's only leaf, repeated once, of `float32`, `float16` or
/// `uint8`.
fn locate_list(descr: &SchemaDescriptor, root: usize, arrow: &DataType, width: usize) -> Option<ListLeaf> {
    let element = match arrow {
        DataType::FixedSizeList(f, _) | DataType::List(f) | DataType::LargeList(f) => f.data_type(),
        _ => return None,
    };
    let mut leaves = (0..descr.num_columns()).filter(|&l| descr.get_column_root_idx(l) == root);
    let (leaf, None) = (leaves.next()?, leaves.next()) else { return None };
    let column = descr.column(leaf);
    if column.max_rep_level() != 1 || width == 0 {
        return None;
    }
    let element = match (column.physical_type(), element) {
        (PhysicalType::FLOAT, DataType::Float32) => Element::F32,
        (PhysicalType::FIXED_LEN_BYTE_ARRAY, DataType::Float16) if column.type_length() == 2 => Element::F16,
        (PhysicalType::INT32, DataType::UInt8) => Element::U8,
        _ => return None,
    };
    Some(ListLeaf { leaf, element, max_def: column.max_def_level(), width })
}

/// Decode `block` (a row group or a run of rows of one) from `source` by `direct`; `Ok(None)` when a page is
/// outside what the direct path reads, or malformed, and arrow-rs must decode the block.
///
/// # Errors
/// As [`arrow::decode`](super::arrow::decode): a null, NaN or infinity under the `error` policy, or a class
/// label out of range, naming file, row group, column and row.
pub(crate) fn decode(
    ctx: &DecodeContext,
    shard: &ShardInfo,
    block: &RowGroupRef,
    direct: &DirectPlan,
    source: &ChunkSource,
) -> Result<Option<Decoded>> {
    let rg_meta = shard.metadata.metadata().row_group(block.row_group);
    let rows = block.num_rows as usize;
    let rg_rows = usize::try_from(rg_meta.num_rows()).unwrap_or(0);
    let first = block.offset as usize;
    let plan = ctx.plan();
    let names: &[String] = match (&plan.spec.features, &direct.list) {
        (FeatureLayout::Columns(names), None) => names,
        (FeatureLayout::List { .. }, Some(_)) => &[],
        _ => return Ok(None),
    };
    let mut source = source.clone();
    preload_small_pages(&mut source, rg_meta, direct.columns.iter().map(|c| c.0), first..first + rows);
    let source = Arc::new(source);
    let open = |&(leaf, kind, max_def): &(usize, Plain, i16)| {
        // A chunk without a page map (an empty data page, an index page, a dictionary page
        // after a data page) is left to arrow-rs: skipping to a block's first row past an
        // empty page, the direct path never looked at it, while arrow-rs reads (and may refuse)
        // one that starts the block (differential finding cd25b52a).
        let map = Some(source.page_map(leaf)?);
        let shared = Some((&ctx.shared_pages, (shard.path.clone(), block.row_group, leaf)));
        PlainColumn::open(&source, rg_meta.column(leaf), kind, max_def, rg_rows, first..first + rows, map, shared)
    };
    let Some(mut columns) = direct.columns.iter().map(open).collect::<Option<Vec<_>>>() else { return Ok(None) };
    let mut target_column = plan.spec.target.column().and_then(|_| columns.pop());
    let mut features = columns;
    if let Some(t) = &mut target_column {
        if t.fill_to(rows).is_none() {
            return Ok(None);
        }
    }

    let f = ctx.spec().num_features();
    let c = ctx.spec().num_targets();
    let pool = ctx.pools();
    let mut out = Decoded::new(rows, pool.floats.take_empty(rows * f), pool.floats.take(rows * c), Some(pool.clone()));
    let finite = match &direct.list {
        // A tensor column's rows are its values in order: no transpose.
        Some(list) if list.width == f => {
            let chunk = ListChunk {
                meta: rg_meta.column(list.leaf),
                element: list.element,
                max_def: list.max_def,
                rows: rg_rows,
                width: list.width,
            };
            // A block of part of a row group starts at the page holding its first row.
            let slice = rows < rg_rows;
            let records = slice.then(|| source.index_map(list.leaf)).flatten().and_then(|map| {
                map.records_or_count(false, rg_rows as u64, || {
                    count_records(&source, rg_meta.column(list.leaf), 1, rg_rows, map)
                })
            });
            let records = records.map(|r| r.as_slice());
            if ctx.spec().pixels == Pixels::U8 {
                // `uint8` kept as read (`read_lists` refuses any other element type then).
                out.pixels = pool.pixels.take_empty(rows * f);
                read_lists(&source, &chunk, first..first + rows, records, &mut out.pixels)
            } else {
                read_lists(&source, &chunk, first..first + rows, records, &mut out.features)
            }
        }
        Some(_) => None,
        None => transpose(&mut features, rows, &mut out.features),
    };
    let Some(mut finite) = finite else { return Ok(None) };
    for column in features.iter_mut().chain(&mut target_column) {
        if column.finish().is_none() {
            return Ok(None);
        }
    }
    if first + rows >= rg_rows && rows < rg_rows {
        // The row group's last block: what its blocks shared is not needed any more.
        ctx.shared_pages.forget(&shard.path, block.row_group);
    }

    let site = Site { shard, row_group: block.row_group, first_row: block.first_row };
    let policy = ctx.policy();
    let mut null_at = vec![0usize; f];
    let mut target_null_at = 0;
    for batch in (0..rows).step_by(DECODE_BATCH_ROWS) {
        let end = (batch + DECODE_BATCH_ROWS).min(rows);
        for (j, (column, name)) in features.iter().zip(names).enumerate() {
            while let Some(&row) = column.nulls.get(null_at[j]).filter(|&&r| r < end) {
                handle_bad(&mut out, f, row, j, name, &site, policy, BadValue::Null, true)?;
                null_at[j] += 1;
            }
        }
        let t = &plan.spec.target;
        let (Some(name), Some(column)) = (t.column(), &target_column) else { continue };
        let mut row = batch;
        while row < end {
            let (bytes, stop) = column.values(row, end);
            if bytes.len() < (stop - row) * column.kind().size() {
                return Ok(None);
            }
            match t {
                TargetKind::Class { num_classes, .. } => {
                    for (i, label) in labels(column.kind(), bytes).enumerate() {
                        let r = row + i;
                        let null = column.nulls.get(target_null_at) == Some(&r);
                        target_null_at += usize::from(null);
                        let label = if null { None } else { Some(label) };
                        put_class(&mut out, c, r, label, *num_classes, name, &site, policy)?;
                    }
                }
                _ => {
                    let dst = &mut out.targets[row * c..stop * c];
                    finite &= values(column.kind(), bytes).put(0..stop - row, dst, c, 0);
                }
            }
            row = stop;
        }
        if !matches!(t, TargetKind::Class { .. }) {
            while let Some(&r) = column.nulls.get(target_null_at).filter(|&&r| r < end) {
                handle_bad(&mut out, c, r, 0, name, &site, policy, BadValue::Null, false)?;
                target_null_at += 1;
            }
        }
    }
    if !finite {
        check_finite(&mut out, f, c, &site, plan, policy)?;
    }
    Ok(Some(out))
}

/// Pages smaller than this on average are read together, one read per column chunk, instead
/// of one read each.
const SMALL_PAGE_BYTES: u64 = 16 << 10;

/// Read into memory the pages of `rows` (and the dictionary page) of each leaf column of
/// `leaves` whose pages are small, so that a chunk of many tiny pages costs one read instead of
/// one per page. Larger pages are read one at a time as the decoder reaches them (they stay in
/// cache). `source` must have nothing loaded yet.
pub(super) fn preload_small_pages(
    source: &mut ChunkSource,
    rg_meta: &RowGroupMetaData,
    leaves: impl IntoIterator<Item = usize>,
    rows: std::ops::Range<usize>,
) {
    let mut ranges = Vec::new();
    for leaf in leaves {
        let Some(map) = source.page_map(leaf) else { continue };
        let (i, j) = (map.page_of(rows.start as u64), map.page_of(rows.end as u64 - 1));
        let (Some(first), Some(last)) = (map.locations.get(i), map.locations.get(j)) else { continue };
        let (from, to) = (first.offset as u64, last.offset as u64 + last.compressed_page_size as u64);
        if to - from > SMALL_PAGE_BYTES * (j - i + 1) as u64 {
            continue;
        }
        // The dictionary page, if any, sits between the chunk's start and its first data page.
        let start = rg_meta.column(leaf).byte_range().0;
        let dictionary = map.locations[0].offset as u64;
        if start < dictionary {
            ranges.push(start..dictionary);
        }
        ranges.push(from..to);
    }
    // A failed read here is a page read again later, which reports it.
    let _ = source.preload(ranges);
}

/// Bytes of output per transpose tile: the tile stays in L2 while it is written column group by
/// column group, and is then streamed to the block.
const TILE_BYTES: usize = 128 << 10;

/// Transpose the `rows` rows of `columns` onto the end of the empty `out`, in tiles whose
/// output stays in L2, reading each column's pages as the tiles reach them; `Some(false)` when
/// a value is NaN or infinite, `None` when a page cannot be read directly.
fn transpose(columns: &mut [PlainColumn], rows: usize, out: &mut Vec<f32>) -> Option<bool> {
    let f = columns.len();
    let tile = (TILE_BYTES / (4 * f.max(1))).clamp(8, 4096);
    let mut buf = vec![0f32; tile * f];
    let mut finite = true;
    for start in (0..rows).step_by(tile) {
        let end = (start + tile).min(rows);
        for column in columns.iter_mut() {
            column.release_before(start);
            column.fill_to(end)?;
        }
        let dst = &mut buf[..(end - start) * f];
        let mut j = 0;
        while j < f {
            let wide = columns.get(j..j + 8).is_some_and(|cols| cols.iter().all(|c| c.kind() == Plain::F32));
            let width = if wide { 8 } else { 1 };
            // The columns' pages end at different rows: write the stretches they share.
            let mut row = start;
            while row < end {
                let mut stop = end;
                let mut slices = [&[][..]; 8];
                for (k, slice) in slices.iter_mut().enumerate().take(width) {
                    let (bytes, s) = columns[j + k].values(row, end);
                    // Never short (the rows were filled), but never transpose stale rows either.
                    if bytes.len() < (s - row) * columns[j + k].kind().size() {
                        return None;
                    }
                    *slice = bytes;
                    stop = stop.min(s);
                }
                let rows_out = &mut dst[(row - start) * f..(stop - start) * f];
                if wide {
                    let values = slices.map(|b| Values::F32Le(b.as_chunks::<4>().0));
                    finite &= put_f32_columns::<8>(&values, 0..stop - row, rows_out, f, j).unwrap_or(false);
                } else {
                    finite &= values(columns[j].kind(), slices[0]).put(0..stop - row, rows_out, f, j);
                }
                row = stop;
            }
            j += width;
        }
        extend_streaming(out, dst);
    }
    Some(finite)
}

/// Page bytes of `kind` as transpose input.
fn values(kind: Plain, bytes: &[u8]) -> Values<'_> {
    match kind {
        Plain::F32 => Values::F32Le(bytes.as_chunks().0),
        Plain::F64 => Values::F64Le(bytes.as_chunks().0),
        Plain::I32 => Values::I32Le(bytes.as_chunks().0),
        Plain::I64 => Values::I64Le(bytes.as_chunks().0),
    }
}

/// Integer page bytes as labels (a float kind gives none; the caller checked).
fn labels(kind: Plain, bytes: &[u8]) -> impl Iterator<Item = i128> + '_ {
    let (narrow, wide): (&[[u8; 4]], &[[u8; 8]]) = match kind {
        Plain::I32 => (bytes.as_chunks().0, &[]),
        Plain::I64 => (&[], bytes.as_chunks().0),
        Plain::F32 | Plain::F64 => (&[], &[]),
    };
    narrow.iter().map(|&b| i32::from_le_bytes(b) as i128).chain(wide.iter().map(|&b| i64::from_le_bytes(b) as i128))
}

#[cfg(test)]
mod list_tests;

#[cfg(test)]
mod shared_tests;

#[cfg(test)]
mod tests {
    //! The direct path against arrow-rs on the same blocks: the same values bit for bit, the
    //! same skipped and filled rows, the same first error, for each way of writing the pages.

    use std::fs::File;
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, Encoding, ZstdLevel};
    use parquet::file::properties::{WriterProperties, WriterVersion};

    use super::*;
    use crate::source::decode::decode_block_with;
    use crate::source::pages::chunks::open_row_group;
    use crate::ShardSet;
    use crate::{Features, NullPolicy, Target};

    const ROWS: usize = 1000;

    /// What goes wrong in the data.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Flaw {
        None,
        Nulls,
        NaN,
        BadLabel,
    }

    fn write(path: &std::path::Path, props: WriterProperties, flaw: Flaw) {
        let nulls = flaw == Flaw::Nulls;
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for j in 0..10 {
            let v = (0..ROWS).map(|r| {
                let x = ((r * 31 + j * 7) % 97) as f32 * 0.25 - 3.0;
                match (flaw, j, r) {
                    (Flaw::Nulls, 3, r) if r % 17 == 5 => None,
                    (Flaw::NaN, 5, 77) => Some(f32::NAN),
                    (Flaw::NaN, 6, 912) => Some(f32::INFINITY),
                    _ => Some(x),
                }
            });
            fields.push(Field::new(format!("a{j}"), DataType::Float32, nulls));
            cols.push(Arc::new(v.collect::<Float32Array>()));
        }
        let b = (0..ROWS).map(|r| if nulls && r % 23 == 1 { None } else { Some(r as f64 * 1e-3) });
        let c = (0..ROWS).map(|r| Some((r % 11) as i32 - 5));
        let d = (0..ROWS).map(|r| Some(r as i64 * 1_000_003));
        let label = (0..ROWS).map(|r| match flaw {
            Flaw::Nulls if r % 41 == 40 => None,
            Flaw::BadLabel if r == 640 => Some(7),
            _ => Some((r % 5) as i64),
        });
        let label32 = (0..ROWS).map(|r| Some((r % 3) as i32));
        let y = (0..ROWS).map(|r| if nulls && r % 29 == 3 { None } else { Some(r as f64 / 7.0) });
        fields.push(Field::new("b", DataType::Float64, nulls));
        fields.push(Field::new("c", DataType::Int32, false));
        fields.push(Field::new("d", DataType::Int64, false));
        fields.push(Field::new("label", DataType::Int64, nulls));
        fields.push(Field::new("label32", DataType::Int32, false));
        fields.push(Field::new("y", DataType::Float64, nulls));
        cols.push(Arc::new(b.collect::<Float64Array>()));
        cols.push(Arc::new(c.collect::<Int32Array>()));
        cols.push(Arc::new(d.collect::<Int64Array>()));
        cols.push(Arc::new(label.collect::<Int64Array>()));
        cols.push(Arc::new(label32.collect::<Int32Array>()));
        cols.push(Arc::new(y.collect::<Float64Array>()));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
        let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// Each block of `set` decoded both ways: the direct path must take it and agree.
    fn compare(set: &ShardSet, what: &str) {
        for block in set.row_groups() {
            let shard = &set.shards()[block.shard];
            let ctx = set.decode_context();
            let plan = plan(ctx, shard).unwrap_or_else(|| panic!("{what}: no direct plan"));
            let source =
                open_row_group(shard, block.row_group, &shard.roots, false, ctx.pools(), ctx.page_maps()).unwrap();
            let direct = decode(ctx, shard, block, &plan, &source);
            let arrow = decode_block_with(ctx, shard, block, false);
            match (direct, arrow) {
                (Ok(Some(d)), Ok(a)) => {
                    let (a_rows, a_keep) = (a.rows, a.keep.clone());
                    for (name, d, a) in [("features", &d.features, &a.features), ("targets", &d.targets, &a.targets)] {
                        assert_eq!(d.len(), a.len(), "{what}: {name}");
                        // A skipped row is never read, and arrow-rs leaves whatever in a null slot.
                        let width = d.len() / a_rows.max(1);
                        let kept = |i: usize| a_keep.as_ref().is_none_or(|k| k[i / width.max(1)]);
                        let diff = d
                            .iter()
                            .zip(a.iter())
                            .enumerate()
                            .position(|(i, (x, y))| kept(i) && x.to_bits() != y.to_bits());
                        if let Some(i) = diff {
                            panic!("{what}: {name}[{i}] = {} direct, {} arrow-rs", d[i], a[i]);
                        }
                    }
                    assert_eq!(
                        (d.rows, &d.keep, d.skipped, d.filled),
                        (a.rows, &a.keep, a.skipped, a.filled),
                        "{what}"
                    );
                }
                (Ok(None), _) => panic!("{what}: the direct path fell back to arrow-rs"),
                (Err(d), Err(a)) => assert_eq!(d.to_string(), a.to_string(), "{what}: errors"),
                (d, a) => panic!("{what}: direct {:?} vs arrow {:?}", d.map(|o| o.map(|d| d.rows)), a.map(|a| a.rows)),
            }
        }
    }

    #[test]
    fn direct_and_arrow_paths_agree_on_every_page_layout() {
        let dir = tempfile::tempdir().unwrap();
        let features: Vec<String> = (0..10).map(|j| format!("a{j}")).chain(["b", "c", "d"].map(String::from)).collect();
        let mut n = 0;
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            for dictionary in [false, true] {
                for compression in
                    [Compression::UNCOMPRESSED, Compression::SNAPPY, Compression::ZSTD(ZstdLevel::default())]
                {
                    for flaw in [Flaw::None, Flaw::Nulls, Flaw::NaN, Flaw::BadLabel] {
                        n += 1;
                        let path = dir.path().join(format!("{n}.parquet"));
                        // Pages of 64 or 100 rows (row groups of 300), so page ends differ
                        // between the columns and within a transpose tile.
                        // Without a dictionary, every other file splits its values' bytes
                        // into streams (BYTE_STREAM_SPLIT) instead of writing them PLAIN.
                        let split = !dictionary && n % 4 < 2;
                        let props = WriterProperties::builder()
                            .set_writer_version(version)
                            .set_dictionary_enabled(dictionary)
                            .set_encoding(if split { Encoding::BYTE_STREAM_SPLIT } else { Encoding::PLAIN })
                            .set_compression(compression)
                            .set_max_row_group_row_count(Some(300))
                            .set_write_batch_size(16)
                            .set_data_page_row_count_limit(if n % 2 == 0 { 64 } else { 100 })
                            .build();
                        write(&path, props, flaw);
                        if split {
                            let set = ShardSet::open(&path).unwrap();
                            let chunk = set.shards()[0].metadata.metadata().row_group(0).column(0).clone();
                            assert!(chunk.encodings().any(|e| e == Encoding::BYTE_STREAM_SPLIT), "{n}: not split");
                        }
                        let targets = [
                            Target::None,
                            Target::Class { column: "label".into(), num_classes: Some(5) },
                            Target::Class { column: "label32".into(), num_classes: Some(3) },
                            Target::Regression("y".into()),
                        ];
                        // Version 2 writes integers without a dictionary as DELTA_BINARY_PACKED,
                        // which the direct path leaves to arrow-rs.
                        let delta = version == WriterVersion::PARQUET_2_0 && !dictionary && !split;
                        let features: Vec<String> =
                            features.iter().filter(|f| !delta || !["c", "d"].contains(&f.as_str())).cloned().collect();
                        let targets = targets.into_iter().filter(|t| !delta || !matches!(t, Target::Class { .. }));
                        for target in targets {
                            for policy in [NullPolicy::Error, NullPolicy::SkipRow, NullPolicy::Fill(0.5)] {
                                // Whole row groups, and blocks of 70 rows (slices of them).
                                for block_rows in [300, 70] {
                                    let what = format!(
                                        "{version:?} dict={dictionary} {compression:?} {flaw:?} {target:?} {policy:?} blocks of {block_rows}"
                                    );
                                    let set = ShardSet::open(&path)
                                        .unwrap()
                                        .features(Features::Columns(features.clone()))
                                        .unwrap()
                                        .target(target.clone())
                                        .unwrap()
                                        .null_policy(policy)
                                        .block_rows(block_rows)
                                        .unwrap();
                                    compare(&set, &what);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn delta_encoded_integers_fall_back_to_arrow_rs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("delta.parquet");
        let props = WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_2_0)
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(300))
            .build();
        write(&path, props, Flaw::None);
        let set = ShardSet::open(&path)
            .unwrap()
            .features(Features::Columns(vec!["a0".into(), "c".into(), "d".into()]))
            .unwrap();
        for block in set.row_groups() {
            let shard = &set.shards()[block.shard];
            let ctx = set.decode_context();
            let plan = plan(ctx, shard).expect("flat int columns are planned");
            let source =
                open_row_group(shard, block.row_group, &shard.roots, false, ctx.pools(), ctx.page_maps()).unwrap();
            assert!(decode(ctx, shard, block, &plan, &source).unwrap().is_none(), "DELTA_BINARY_PACKED pages");
            let both = decode_block_with(ctx, shard, block, true).unwrap();
            let arrow = decode_block_with(ctx, shard, block, false).unwrap();
            assert_eq!(both.features, arrow.features);
        }
    }
}
