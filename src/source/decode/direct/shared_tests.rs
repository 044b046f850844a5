//! The blocks of one row group sharing its chunks' dictionaries and the pages that span their
//! edges ([`shared`]): the values stay those arrow-rs decodes, in whatever order the blocks are
//! decoded, and what is kept is dropped after the row group's last block.
//!
//! [`shared`]: crate::source::pages::shared

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};

use super::{decode, plan};
use crate::source::decode::decode_block_with;
use crate::source::pages::chunks::open_row_group;
use crate::{Features, ShardSet, Target};

const ROWS: usize = 1000;

/// Five float columns (`f2` with nulls), a double and a label, in one row group of `ROWS`,
/// pages of 300 rows (so pages cross the edges of blocks of 250 or 130 rows).
fn write(path: &Path, version: WriterVersion, compression: Compression, dictionary: bool) {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for j in 0..5 {
        let v = (0..ROWS).map(|r| (j != 2 || r % 13 != 4).then(|| ((r * 17 + j * 5) % 211) as f32 * 0.5 - 9.0));
        fields.push(Field::new(format!("f{j}"), DataType::Float32, true));
        cols.push(Arc::new(v.collect::<Float32Array>()));
    }
    fields.push(Field::new("g", DataType::Float64, false));
    cols.push(Arc::new((0..ROWS).map(|r| (r % 97) as f64 / 3.0).collect::<Float64Array>()));
    fields.push(Field::new("label", DataType::Int64, true));
    cols.push(Arc::new((0..ROWS).map(|r| Some((r % 4) as i64)).collect::<Int64Array>()));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let props = WriterProperties::builder()
        .set_writer_version(version)
        .set_dictionary_enabled(dictionary)
        // (Version 2 would write the label DELTA_BINARY_PACKED, which the direct path leaves.)
        .set_encoding(Encoding::PLAIN)
        .set_compression(compression)
        .set_max_row_group_row_count(Some(ROWS))
        .set_write_batch_size(50)
        .set_data_page_row_count_limit(300)
        .build();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Decode the blocks of `set` in the order `order` (indices into its blocks) by the direct
/// path, each against arrow-rs; returns how many entries were kept after each block.
fn decode_in_order(set: &ShardSet, order: &[usize], what: &str) -> Vec<usize> {
    let blocks = set.row_groups();
    let ctx = set.decode_context();
    let mut kept = Vec::new();
    for &i in order {
        let block = &blocks[i];
        let shard = &set.shards()[block.shard];
        let plan = plan(ctx, shard).unwrap();
        let source = open_row_group(shard, block.row_group, &shard.roots, false, ctx.pools(), ctx.page_maps()).unwrap();
        let direct = decode(ctx, shard, block, &plan, &source).unwrap().unwrap_or_else(|| panic!("{what}: fell back"));
        let arrow = decode_block_with(ctx, shard, block, false).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&direct.features), bits(&arrow.features), "{what}: block {i} features");
        assert_eq!(bits(&direct.targets), bits(&arrow.targets), "{what}: block {i} targets");
        assert_eq!((direct.rows, direct.filled), (arrow.rows, arrow.filled), "{what}: block {i}");
        kept.push(ctx.shared_pages.len());
    }
    kept
}

#[test]
fn blocks_of_a_row_group_share_dictionaries_and_pages_and_decode_as_arrow_rs_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
        for compression in [Compression::SNAPPY, Compression::ZSTD(ZstdLevel::default()), Compression::UNCOMPRESSED] {
            for dictionary in [true, false] {
                n += 1;
                let path = dir.path().join(format!("{n}.parquet"));
                write(&path, version, compression, dictionary);
                for block_rows in [250u64, 130] {
                    let blocks = ROWS.div_ceil(block_rows as usize);
                    let orders: Vec<Vec<usize>> =
                        vec![(0..blocks).collect(), (0..blocks).rev().collect(), vec![1, 0, 2, 1, 3, 0, 4]];
                    for order in orders {
                        let order: Vec<usize> = order.into_iter().filter(|&i| i < blocks).collect();
                        let what =
                            format!("{version:?} {compression:?} dict={dictionary} blocks of {block_rows} {order:?}");
                        let set = ShardSet::open(&path)
                            .unwrap()
                            .features(Features::Columns(["f0", "f1", "f2", "f3", "f4", "g"].map(String::from).to_vec()))
                            .unwrap()
                            .target(Target::Class { column: "label".into(), num_classes: Some(4) })
                            .unwrap()
                            .null_policy(crate::NullPolicy::Fill(0.25))
                            .block_rows(block_rows)
                            .unwrap();
                        let kept = decode_in_order(&set, &order, &what);
                        let compressed = compression != Compression::UNCOMPRESSED;
                        if order[0] == 0 && (dictionary || compressed) {
                            // The first block keeps each chunk's dictionary, or the pages it
                            // shares with the next block when they were decompressed.
                            assert!(kept[0] >= 7, "{what}: kept after the first block: {kept:?}");
                        }
                        if !dictionary && !compressed {
                            assert!(kept.iter().all(|&k| k == 0), "{what}: pages as read are not kept: {kept:?}");
                        }
                        if order.last() == Some(&(blocks - 1)) {
                            assert_eq!(kept.last(), Some(&0), "{what}: dropped after the last block");
                        }
                    }
                }
            }
        }
    }
}
