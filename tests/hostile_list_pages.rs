//! Issue 14, point 3, for list (repeated) columns: a block starts at the page holding its first
//! row on both decode paths, found by the pages' records (a v2 header's row count, or the zeros
//! of a v1 page's repetition levels, counted once per chunk), so that a column of a million
//! one-row pages in one row group is read in time linear in its bytes. Before, every block
//! read its row group from the start (O(pages × blocks)).
//!
//! Every value must be what arrow-rs gives reading the whole file, whichever page a block
//! starts or ends in, for v1 and v2 pages, every codec, with and without a dictionary, through
//! the direct tensor path and through arrow-rs; and a chunk whose v1 pages start inside a
//! record (which no offset index can describe) is still read right, from its row group's start.
//!
//! The CLI's CPU time is measured with `wait4` (`tests/common/measured.rs`); the bound is loose
//! (the test profile's binary on a shared machine) but fails on the quadratic read. The README
//! has the release build's figures.

#[path = "../fuzz/src/raw.rs"]
mod raw;

#[path = "common/hostile.rs"]
mod hostile;
#[path = "common/measured.rs"]
mod measured;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, Float64Builder, ListBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{ArrayRef, RecordBatch};
use hostile::{arrow_rs_values, keep};
use measured::cli;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};
use raw::{Column, Page};
use shardmix::{Features, ShardSet, Target};

/// Width of the list rows.
const W: usize = 2;

/// Element `j` of list row `i` (exact in `f32`; few distinct values with `few`, so that a
/// dictionary is kept).
fn element(i: usize, j: usize, few: bool) -> f32 {
    let k = if few { (i * 7 + j) % 29 } else { i * W + j };
    k as f32 * 0.5 - 1000.0
}

/// How a test file is written.
#[derive(Clone, Copy, Debug)]
struct Layout {
    version: WriterVersion,
    compression: Compression,
    dictionary: bool,
    /// `list<double>` (which the direct path leaves to arrow-rs) instead of `list<float>`.
    double: bool,
    fixed: bool,
    /// Rows per page.
    page_rows: usize,
}

/// One list column `x` of `n` rows of [`W`] values (arrow-rs's writer; no offset index).
fn list_file(n: usize, layout: Layout) -> Vec<u8> {
    let few = layout.dictionary;
    let array: ArrayRef = match (layout.double, layout.fixed) {
        (false, false) => {
            let mut b = ListBuilder::new(Float32Builder::new());
            for i in 0..n {
                (0..W).for_each(|j| b.values().append_value(element(i, j, few)));
                b.append(true);
            }
            Arc::new(b.finish())
        }
        (false, true) => {
            let mut b = FixedSizeListBuilder::new(Float32Builder::new(), W as i32);
            for i in 0..n {
                (0..W).for_each(|j| b.values().append_value(element(i, j, few)));
                b.append(true);
            }
            Arc::new(b.finish())
        }
        (true, _) => {
            let mut b = ListBuilder::new(Float64Builder::new());
            for i in 0..n {
                (0..W).for_each(|j| b.values().append_value(element(i, j, few) as f64));
                b.append(true);
            }
            Arc::new(b.finish())
        }
    };
    let batch = RecordBatch::try_from_iter([("x", array)]).unwrap();
    let props = WriterProperties::builder()
        .set_writer_version(layout.version)
        .set_compression(layout.compression)
        .set_dictionary_enabled(layout.dictionary)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .set_offset_index_disabled(true)
        .set_write_batch_size(layout.page_rows)
        .set_data_page_row_count_limit(layout.page_rows)
        .set_max_row_group_row_count(Some(n))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// Stream column `x` of `path` through the CLI within `cpu` of CPU time; every value, in order.
fn stream(path: &Path, cpu: Duration) -> Vec<f32> {
    let file = path.to_str().unwrap();
    let args = ["--features", "x", "--no-label", "--batch-size", "4096", "--order", "sequential", "--mixup-alpha", "0"];
    let run = cli(&[&["stream", "--data", file][..], &args, &["--to", "-"]].concat());
    assert!(run.success, "{}", run.stderr);
    assert!(run.cpu < cpu, "stream took {:?} of CPU", run.cpu);
    assert!(run.took < Duration::from_secs(120), "stream took {:?}", run.took);
    let (batches, trailer) = shardmix::read_verified_stream(run.stdout.as_slice()).unwrap();
    let mut out = Vec::new();
    for batch in &batches {
        for column in batch.columns() {
            if let Some(x) = column.as_fixed_size_list_opt() {
                out.extend_from_slice(x.values().as_primitive::<Float32Type>().values());
            }
        }
    }
    assert_eq!(out.len() as u64, trailer.rows * W as u64, "values for {} rows", trailer.rows);
    out
}

/// A million one-row v1 pages (records counted from their levels) through the direct tensor
/// path (`list<float>`) and through arrow-rs (`list<double>`), 16 blocks each. Quadratic, the
/// v2 case took 25.7 s of CPU in this build; linear, this build takes 1.25 s and 3.1 s.
#[test]
fn a_million_one_row_v1_list_pages_stream_in_linear_time() {
    const N: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    for double in [false, true] {
        let layout = Layout {
            version: WriterVersion::PARQUET_1_0,
            compression: Compression::UNCOMPRESSED,
            dictionary: false,
            double,
            fixed: false,
            page_rows: 1,
        };
        let name = if double { "many-v1-list-pages-f64.parquet" } else { "many-v1-list-pages.parquet" };
        let path = dir.path().join(name);
        let bytes = list_file(N, layout);
        keep(name, &bytes);
        std::fs::write(&path, bytes).unwrap();
        let want: Vec<f32> = (0..N).flat_map(|i| (0..W).map(move |j| element(i, j, false))).collect();
        assert_eq!(arrow_rs_values(&path), want, "{name}: arrow-rs reading the whole file");
        let got = stream(&path, Duration::from_secs(10));
        assert_eq!(got.len(), N * W, "{name}");
        let first_bad = got.iter().zip(&want).position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(first_bad, None, "{name}: first wrong value");
    }
}

/// Rows `range` of `path` read in blocks of `block_rows` (through arrow-rs only with
/// `arrow_only`) against arrow-rs's whole read `want`.
fn check_blocks(path: &Path, want: &[f32], block_rows: u64, arrow_only: bool, what: &str) {
    let set = ShardSet::open(path).unwrap().features(Features::list("x")).unwrap().target(Target::none()).unwrap();
    let set = set.block_rows(block_rows).unwrap();
    let set = if arrow_only { set.without_direct_path() } else { set };
    let n = want.len() / W;
    let last = n as u64;
    for range in [0..last, 1..2, 998..1003, 1500..1502, 2000..last, last - 1..last] {
        let got = set.read_rows(range.clone()).unwrap_or_else(|e| panic!("{what}: rows {range:?}: {e}"));
        let (a, b) = (range.start as usize * W, range.end as usize * W);
        let got = got.features.as_slice().unwrap();
        assert_eq!(got.len(), b - a, "{what}: rows {range:?}");
        let bad = got.iter().zip(&want[a..b]).position(|(x, y)| x.to_bits() != y.to_bits());
        assert_eq!(bad, None, "{what} in blocks of {block_rows} (arrow-rs only: {arrow_only}), rows {range:?}");
    }
}

/// Blocks of list chunks give arrow-rs's values whichever page a block starts or ends in, for
/// v1 and v2 pages, each codec, with and without a dictionary, on both paths.
#[test]
fn blocks_of_list_chunks_are_right_in_every_page_layout() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let mut k = 0;
    for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
        for compression in [Compression::UNCOMPRESSED, Compression::SNAPPY, Compression::ZSTD(ZstdLevel::default())] {
            for dictionary in [false, true] {
                for (double, fixed) in [(false, false), (false, true), (true, false)] {
                    k += 1;
                    let page_rows = [1, 7, 100][k % 3];
                    let layout = Layout { version, compression, dictionary, double, fixed, page_rows };
                    let path = dir.path().join(format!("{k}.parquet"));
                    std::fs::write(&path, list_file(n, layout)).unwrap();
                    let want = arrow_rs_values(&path);
                    assert_eq!(want.len(), n * W);
                    for block_rows in [1000, 333, 1] {
                        for arrow_only in [false, true] {
                            check_blocks(&path, &want, block_rows, arrow_only, &format!("{layout:?}"));
                        }
                    }
                }
            }
        }
    }
}

/// A `list<float>` column of v1 pages of 10 rows of [`W`] values, every page but the first
/// starting one value into a record (its first level continues the page before's last row),
/// raw-written: its records cannot be counted page by page, and its blocks are read from the
/// row group's start, right.
#[test]
fn v1_list_pages_that_start_inside_a_record_are_read_right() {
    let n = 3000usize;
    let values: Vec<f32> = (0..n).flat_map(|i| (0..W).map(move |j| element(i, j, false))).collect();
    // Value k is element k % W of row k / W: repetition level 0 at a row's first element.
    let mut pages = Vec::new();
    let mut start = 0;
    while start < values.len() {
        let end = if start == 0 { 10 * W + 1 } else { (start + 10 * W).min(values.len()) };
        let reps: Vec<u8> = (start..end).map(|k| u8::from(k % W != 0)).collect();
        let mut data = raw::v1_levels(&bitpacked(&reps));
        data.extend(raw::v1_levels(&raw::rle_run((end - start) as u64, 1)));
        data.extend(values[start..end].iter().flat_map(|v| v.to_le_bytes()));
        pages.push(Page::V1 { num_values: (end - start) as i32, encoding: raw::PLAIN, def_encoding: raw::RLE, data });
        start = end;
    }
    let bytes = raw::write(&raw::File {
        columns: vec![Column { name: "x".into(), physical: raw::FLOAT | raw::LIST, optional: false }],
        codec: raw::UNCOMPRESSED,
        row_groups: vec![raw::RowGroup { num_rows: n as i64, pages: vec![pages], num_values: None }],
        num_rows: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mid-record.parquet");
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(arrow_rs_values(&path), values, "arrow-rs reading the whole file");
    for block_rows in [1000, 333] {
        for arrow_only in [false, true] {
            check_blocks(&path, &values, block_rows, arrow_only, "pages starting inside a record");
        }
    }
}

/// 1-bit `levels` as bit-packed groups of 8 (the hybrid encoding's header, then the bits).
fn bitpacked(levels: &[u8]) -> Vec<u8> {
    let groups = levels.len().div_ceil(8);
    let mut out = raw::uleb(((groups as u64) << 1) | 1);
    for group in levels.chunks(8) {
        out.push(group.iter().enumerate().fold(0u8, |b, (i, &l)| b | (l << i)));
    }
    out
}
