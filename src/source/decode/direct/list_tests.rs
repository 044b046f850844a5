//! The direct path's tensor columns against arrow-rs on the same blocks: `fixed_size_list`
//! and `list` of `float32`, `float16` and `uint8`, written by arrow-rs's writer in every page
//! layout it makes, give the same values bit for bit and the same first error; a block the
//! direct path cannot read (a null or short list, a null element) falls back to arrow-rs.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, FixedSizeListArray, Float16Array, Float32Array, Int64Array, ListArray, RecordBatch, UInt8Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};

use super::{decode, plan};
use crate::source::decode::decode_block_with;
use crate::source::decode::transpose::HalfF16;
use crate::source::pages::chunks::open_row_group;
use crate::{Features, NullPolicy, ShardSet, Target};

const ROWS: usize = 300;
const WIDTH: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Elem {
    F32,
    F16,
    U8,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Flaw {
    None,
    /// Row 137's list is null.
    NullList,
    /// Row 211's list is one value short (`list` only).
    Short,
    /// An element of row 59 is null.
    NullElement,
    /// A NaN in row 250 (float elements only).
    NaN,
}

/// Element `k` of row `r`: few distinct values (so that the writer keeps its dictionary).
fn value(r: usize, k: usize) -> f32 {
    ((r * 7 + k * 3) % 37) as f32 * 0.25
}

/// `pixels` (`fixed` or not, elements `elem`, nullable list and elements if `nullable`) and
/// `label`, with `flaw`.
fn write(path: &Path, props: WriterProperties, elem: Elem, fixed: bool, nullable: bool, flaw: Flaw) {
    let nullable = nullable || matches!(flaw, Flaw::NullList | Flaw::NullElement);
    let mut values: Vec<Option<f32>> = (0..ROWS).flat_map(|r| (0..WIDTH).map(move |k| Some(value(r, k)))).collect();
    if flaw == Flaw::NullElement {
        values[59 * WIDTH + 4] = None;
    }
    if flaw == Flaw::NaN {
        values[250 * WIDTH + 9] = Some(f32::NAN);
    }
    let mut lens = vec![WIDTH; ROWS];
    if flaw == Flaw::Short {
        lens[211] -= 1;
        values.remove(211 * WIDTH + 3);
    }
    let (item_type, items): (DataType, ArrayRef) = match elem {
        Elem::F32 => (DataType::Float32, Arc::new(values.iter().copied().collect::<Float32Array>())),
        Elem::F16 => {
            (DataType::Float16, Arc::new(values.iter().map(|v| v.map(HalfF16::from_f32)).collect::<Float16Array>()))
        }
        Elem::U8 => {
            (DataType::UInt8, Arc::new(values.iter().map(|v| v.map(|x| (x * 4.0) as u8)).collect::<UInt8Array>()))
        }
    };
    let item = Arc::new(Field::new("item", item_type, nullable));
    let nulls = (flaw == Flaw::NullList).then(|| NullBuffer::from((0..ROWS).map(|r| r != 137).collect::<Vec<_>>()));
    let (pixels, pixel_type): (ArrayRef, DataType) = if fixed {
        let a = FixedSizeListArray::try_new(item.clone(), WIDTH as i32, items, nulls).unwrap();
        (Arc::new(a), DataType::FixedSizeList(item, WIDTH as i32))
    } else {
        let a = ListArray::try_new(item.clone(), OffsetBuffer::from_lengths(lens), items, nulls).unwrap();
        (Arc::new(a), DataType::List(item))
    };
    let labels = Int64Array::from((0..ROWS).map(|r| (r % 5) as i64).collect::<Vec<_>>());
    let schema = Arc::new(Schema::new(vec![
        Field::new("pixels", pixel_type, nullable),
        Field::new("label", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![pixels, Arc::new(labels)]).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, Some(props)).unwrap();
    // Several writes: several row groups, pages ending at different rows.
    for start in (0..ROWS).step_by(90) {
        w.write(&batch.slice(start, 90.min(ROWS - start))).unwrap();
    }
    w.close().unwrap();
}

/// Each block of `set` decoded both ways; `Some` when every block took the direct path and
/// agreed, `None` when a block fell back (the full decode then equals arrow-rs's).
fn compare(set: &ShardSet, what: &str) -> bool {
    let mut direct_all = true;
    for block in set.row_groups() {
        let shard = &set.shards()[block.shard];
        let ctx = set.decode_context();
        let plan = plan(ctx, shard).unwrap_or_else(|| panic!("{what}: no direct plan"));
        let source = open_row_group(shard, block.row_group, &shard.roots, false, ctx.pools(), ctx.page_maps()).unwrap();
        let direct = decode(ctx, shard, block, &plan, &source);
        let arrow = decode_block_with(ctx, shard, block, false);
        match (direct, arrow) {
            (Ok(Some(d)), Ok(a)) => {
                assert_eq!(d.features.len(), a.features.len(), "{what}");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(bits(&d.features) == bits(&a.features), "{what}: features differ");
                assert!(bits(&d.targets) == bits(&a.targets), "{what}: targets differ");
                assert_eq!((d.rows, &d.keep, d.skipped, d.filled), (a.rows, &a.keep, a.skipped, a.filled), "{what}");
            }
            (Ok(None), a) => {
                direct_all = false;
                let both = decode_block_with(ctx, shard, block, true);
                match (both, a) {
                    (Ok(b), Ok(a)) => {
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert!(bits(&b.features) == bits(&a.features), "{what}: fallback");
                    }
                    (Err(b), Err(a)) => assert_eq!(b.to_string(), a.to_string(), "{what}: fallback errors"),
                    (b, a) => panic!("{what}: fallback {:?} vs arrow {:?}", b.map(|d| d.rows), a.map(|a| a.rows)),
                }
            }
            (Err(d), Err(a)) => assert_eq!(d.to_string(), a.to_string(), "{what}: errors"),
            (d, a) => panic!("{what}: direct {:?} vs arrow {:?}", d.map(|o| o.map(|d| d.rows)), a.map(|a| a.rows)),
        }
    }
    direct_all
}

/// `path` read with `pixels` as features and `label` as the target, unless the writer encoded
/// the labels as DELTA_BINARY_PACKED (version 2 pages without a dictionary), which the direct
/// path leaves to arrow-rs.
fn open(path: &Path, block_rows: u64, policy: NullPolicy, delta: bool) -> ShardSet {
    let target = if delta { Target::None } else { Target::Class { column: "label".into(), num_classes: Some(5) } };
    ShardSet::open(path)
        .unwrap()
        .features(Features::List("pixels".into()))
        .unwrap()
        .target(target)
        .unwrap()
        .null_policy(policy)
        .block_rows(block_rows)
        .unwrap()
}

#[test]
fn tensor_columns_decode_directly_as_arrow_rs_does_in_every_page_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
        for dictionary in [false, true] {
            for compression in [Compression::UNCOMPRESSED, Compression::SNAPPY, Compression::ZSTD(ZstdLevel::default())]
            {
                for elem in [Elem::F32, Elem::F16, Elem::U8] {
                    for (fixed, nullable) in [(true, false), (false, false), (true, true), (false, true)] {
                        n += 1;
                        let path = dir.path().join(format!("{n}.parquet"));
                        // Row groups of 90 rows, pages of a few hundred bytes: many pages per
                        // chunk, ending at different rows.
                        let props = WriterProperties::builder()
                            .set_writer_version(version)
                            .set_dictionary_enabled(dictionary)
                            .set_compression(compression)
                            .set_max_row_group_row_count(Some(90))
                            .set_write_batch_size(7)
                            .set_data_page_size_limit(if n % 2 == 0 { 256 } else { 700 })
                            .build();
                        write(&path, props, elem, fixed, nullable, Flaw::None);
                        for block_rows in [90, 64, 7, 1] {
                            let what = format!(
                                "{version:?} dict={dictionary} {compression:?} {elem:?} fixed={fixed} nullable={nullable} blocks of {block_rows}"
                            );
                            let delta = version == WriterVersion::PARQUET_2_0 && !dictionary;
                            let set = open(&path, block_rows, NullPolicy::Error, delta);
                            // Version 2 pages without a dictionary hold float16 values as
                            // DELTA_BYTE_ARRAY and uint8 ones as DELTA_BINARY_PACKED, which the
                            // direct path leaves to arrow-rs.
                            let direct = !delta || elem == Elem::F32;
                            assert_eq!(compare(&set, &what), direct, "{what}: direct path taken");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn flawed_tensor_rows_fall_back_or_fail_as_through_arrow_rs() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
        for dictionary in [false, true] {
            for elem in [Elem::F32, Elem::F16, Elem::U8] {
                for fixed in [true, false] {
                    for flaw in [Flaw::NullList, Flaw::Short, Flaw::NullElement, Flaw::NaN] {
                        if flaw == Flaw::Short && fixed || flaw == Flaw::NaN && elem == Elem::U8 {
                            continue;
                        }
                        n += 1;
                        let path = dir.path().join(format!("{n}.parquet"));
                        let props = WriterProperties::builder()
                            .set_writer_version(version)
                            .set_dictionary_enabled(dictionary)
                            .set_compression(Compression::SNAPPY)
                            .set_max_row_group_row_count(Some(90))
                            .set_data_page_size_limit(512)
                            .build();
                        write(&path, props, elem, fixed, false, flaw);
                        for policy in [NullPolicy::Error, NullPolicy::SkipRow, NullPolicy::Fill(0.5)] {
                            for block_rows in [90, 13] {
                                let what = format!(
                                    "{version:?} dict={dictionary} {elem:?} fixed={fixed} {flaw:?} {policy:?} blocks of {block_rows}"
                                );
                                let delta = version == WriterVersion::PARQUET_2_0 && !dictionary;
                                let direct_all = compare(&open(&path, block_rows, policy, delta), &what);
                                // NaN is read directly (the policy then applies as on arrow-rs);
                                // the rest leaves the flawed row's block to arrow-rs.
                                assert_eq!(direct_all, flaw == Flaw::NaN && (!delta || elem == Elem::F32), "{what}");
                            }
                        }
                    }
                }
            }
        }
    }
}
