//! Issue 14, point 3, for the chunks the page map first left to arrow-rs's own header walk: a
//! chunk of 1,048,576 one-value pages that also holds an empty data page (written in code with
//! the raw Thrift writer, `fuzz/src/raw.rs`), and a `list<float>` column of as many v2 pages
//! (written with arrow-rs's writer), each without an offset index.
//!
//! Without page locations, arrow-rs walks a chunk's page headers from its start for every
//! block it decodes (16 blocks here: 8 million headers). The page map of such a chunk (one
//! header walk, shared by its blocks) now goes to arrow-rs as its offset index too: an empty
//! page shares its first row with the next page, and a repeated column's v2 pages count their
//! records. Every value must be what arrow-rs gives reading the whole file.
//!
//! The CLI's CPU time is measured with `wait4` (`tests/common/measured.rs`); the bound is loose
//! (the test profile's binary on a shared machine). The README has the release build's figures.

#[path = "../fuzz/src/raw.rs"]
mod raw;

#[path = "common/hostile.rs"]
mod hostile;
#[path = "common/measured.rs"]
mod measured;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, ListBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{ArrayRef, RecordBatch};
use hostile::{arrow_rs_values, keep};
use measured::cli;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{WriterProperties, WriterVersion};
use raw::{Column, Page};
use shardmix::{Features, ShardSet, Target};

const N: usize = 1 << 20;

/// Value of row `i` (exact in `f32`, of both signs).
fn value(i: usize) -> f32 {
    i as f32 - 500_000.0
}

/// One required FLOAT column `x` of `n` PLAIN pages of one value each, with an empty data page
/// (no values) before page `empty_at` (last when it is `n`), no offset index.
fn pages_with_an_empty_one(n: usize, empty_at: usize) -> Vec<u8> {
    let one = |data: Vec<u8>, num_values| Page::V1 { num_values, encoding: raw::PLAIN, def_encoding: raw::RLE, data };
    let mut pages: Vec<Page> = (0..n).map(|i| one(value(i).to_le_bytes().to_vec(), 1)).collect();
    pages.insert(empty_at, one(Vec::new(), 0));
    raw::write(&raw::File {
        columns: vec![Column { name: "x".into(), physical: raw::FLOAT, optional: false }],
        codec: raw::UNCOMPRESSED,
        row_groups: vec![raw::RowGroup { num_rows: n as i64, pages: vec![pages], num_values: None }],
        num_rows: None,
    })
}

/// Width of the list rows.
const W: usize = 2;

/// Element `j` of list row `i`.
fn element(i: usize, j: usize) -> f32 {
    (i * W + j) as f32 * 0.5 - 1000.0
}

/// One `list<float>` column `x` of `n` rows of [`W`] values, in v2 data pages of one row each
/// (arrow-rs's writer; no offset index). With `fixed`, a `fixed_size_list` instead.
fn list_pages(n: usize, fixed: bool) -> Vec<u8> {
    let values = |b: &mut Float32Builder, i: usize| (0..W).for_each(|j| b.append_value(element(i, j)));
    let array: ArrayRef = if fixed {
        let mut b = FixedSizeListBuilder::new(Float32Builder::new(), W as i32);
        (0..n).for_each(|i| {
            values(b.values(), i);
            b.append(true)
        });
        Arc::new(b.finish())
    } else {
        let mut b = ListBuilder::new(Float32Builder::new());
        (0..n).for_each(|i| {
            values(b.values(), i);
            b.append(true)
        });
        Arc::new(b.finish())
    };
    let batch = RecordBatch::try_from_iter([("x", array)]).unwrap();
    let props = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .set_offset_index_disabled(true)
        .set_write_batch_size(1)
        .set_data_page_row_count_limit(1)
        .set_max_row_group_row_count(Some(n))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// Stream `path` through the CLI (`extra` flags added) in bounded CPU time and memory; every
/// value of column `x`, in order.
fn stream(path: &Path, extra: &[&str]) -> Vec<f32> {
    let file = path.to_str().unwrap();
    let args = ["--no-label", "--batch-size", "4096", "--order", "sequential", "--mixup-alpha", "0", "--to", "-"];
    let run = cli(&[&["stream", "--data", file][..], extra, &args].concat());
    assert!(run.success, "{}", run.stderr);
    // Before these chunks had their page map as offset index, a release build took 12 to 13 s
    // of CPU here; it now takes about 1 s (medians in the README).
    assert!(run.cpu < Duration::from_secs(10), "stream took {:?} of CPU", run.cpu);
    assert!(run.took < Duration::from_secs(120), "stream took {:?}", run.took);
    // No bound on the peak memory here: `wait4` reports the high-water mark of the test
    // process itself when it is higher (the child is forked from it before it executes the CLI),
    // and writing these files takes more than streaming them. The README has the CLI's own.
    let (batches, trailer) = shardmix::read_verified_stream(run.stdout.as_slice()).unwrap();
    let mut out = Vec::new();
    for batch in &batches {
        for column in batch.columns() {
            if let Some(x) = column.as_primitive_opt::<Float32Type>() {
                out.extend_from_slice(x.values());
            } else if let Some(x) = column.as_fixed_size_list_opt() {
                out.extend_from_slice(x.values().as_primitive::<Float32Type>().values());
            }
        }
    }
    assert!(out.len() as u64 >= trailer.rows, "{} values for {} rows", out.len(), trailer.rows);
    out
}

#[test]
fn a_million_one_value_pages_and_an_empty_one_stream_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many-pages-one-empty.parquet");
    let bytes = pages_with_an_empty_one(N, N / 2 + 3);
    keep("many-pages-one-empty.parquet", &bytes);
    std::fs::write(&path, bytes).unwrap();

    let want: Vec<f32> = (0..N).map(value).collect();
    assert_eq!(arrow_rs_values(&path), want, "arrow-rs reading the whole file");
    let got = stream(&path, &[]);
    assert_eq!(got.len(), N);
    let first_bad = got.iter().zip(&want).position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first_bad, None, "first wrong row");
}

/// A list column's block starts at the page holding its first row, found by the pages'
/// records (a v2 header's row count here): before, every block read its row group from the
/// start (arrow-rs's skip of a repeated column can loop forever on a malformed page, and the
/// direct tensor path counted a page's records from its levels), O(pages × blocks), and a
/// million one-row pages took 25.7 s of CPU in this build (a quadratic read fails the 10 s
/// bound of `stream`). Streamed once through the direct tensor path and once through arrow-rs.
#[test]
fn a_list_column_of_many_v2_pages_streams_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many-list-pages.parquet");
    let bytes = list_pages(N, false);
    keep("many-list-pages.parquet", &bytes);
    std::fs::write(&path, bytes).unwrap();

    let want: Vec<f32> = (0..N).flat_map(|i| (0..W).map(move |j| element(i, j))).collect();
    assert_eq!(arrow_rs_values(&path), want, "arrow-rs reading the whole file");
    let got = stream(&path, &["--features", "x"]);
    assert_eq!(got.len(), N * W);
    let first_bad = got.iter().zip(&want).position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first_bad, None, "first wrong value");
}

/// Blocks of these chunks give arrow-rs's values whichever page a block starts or ends in,
/// the empty page first, last or inside a block.
#[test]
fn blocks_of_chunks_with_empty_pages_or_list_pages_are_right() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let mut files = Vec::new();
    for (name, empty_at) in [("empty-first", 0), ("empty-mid", 1000), ("empty-late", 1501), ("empty-last", n)] {
        let path = dir.path().join(format!("{name}.parquet"));
        std::fs::write(&path, pages_with_an_empty_one(n, empty_at)).unwrap();
        files.push((path, 1));
    }
    for (name, fixed) in [("list", false), ("fixed", true)] {
        let path = dir.path().join(format!("{name}.parquet"));
        std::fs::write(&path, list_pages(n, fixed)).unwrap();
        files.push((path, W));
    }
    for (path, width) in &files {
        let want = arrow_rs_values(path);
        assert_eq!(want.len(), n * width);
        for block_rows in [n as u64, 1000, 333, 1] {
            let open = || -> shardmix::Result<ShardSet> {
                let set = ShardSet::open(path)?;
                let set = if *width > 1 { set.features(Features::list("x"))? } else { set };
                set.target(Target::none())?.block_rows(block_rows)
            };
            let set = open().unwrap();
            for range in [0..n as u64, 1..2, 998..1003, 1500..1502, 2000..3000, 2999..3000] {
                let got = set.read_rows(range.clone()).unwrap();
                let (a, b) = (range.start as usize * width, range.end as usize * width);
                let got = got.features.as_slice().unwrap();
                assert!(
                    got.iter().zip(&want[a..b]).all(|(x, y)| x.to_bits() == y.to_bits()) && got.len() == b - a,
                    "{} in blocks of {block_rows}, rows {range:?}",
                    path.display()
                );
            }
        }
    }
}
