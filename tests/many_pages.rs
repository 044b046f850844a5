//! Issue 14, point 3, on the arrow-rs path: one column chunk of 1,048,576 one-value pages in an
//! encoding the direct path leaves to arrow-rs (DELTA_BINARY_PACKED), in a file without an
//! offset index, written in code with the raw Thrift writer (`fuzz/src/raw.rs`).
//!
//! arrow-rs walks the page headers of a chunk from its start for every block it decodes unless
//! it is given the pages' locations: without them, each of the 16 blocks of this chunk read up
//! to a million page headers (one system call each) before its own rows. The page map of the
//! chunk (one header walk, shared by its blocks) is handed to arrow-rs as the chunk's offset
//! index, so each block goes straight to its first page.
//!
//! The CLI's time and peak memory are measured with `wait4`, as in `tests/hostile_files.rs`.
//! The bound is 1 s for a release build (see the README for the figures); the binary
//! under test here is the test profile's (opt-level 1) on a possibly shared machine, so the
//! time bound is looser. Memory is bounded as in the issue: 256 MiB.

#[path = "../fuzz/src/raw.rs"]
mod raw;

use std::path::Path;

use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use raw::{Column, Page};

#[path = "common/measured.rs"]
mod measured;
use measured::cli;

const N: usize = 1 << 20;

/// Value of row `i` (exact in `f32`, of both signs).
fn value(i: usize) -> i32 {
    i as i32 - 500_000
}

/// DELTA_BINARY_PACKED of the one value `v`: block size 128, 4 miniblocks, 1 value, the
/// first value zigzag-encoded (no block follows a single value).
fn delta_one(v: i32) -> Vec<u8> {
    let mut out = raw::uleb(128);
    out.extend(raw::uleb(4));
    out.extend(raw::uleb(1));
    out.extend(raw::uleb((((v as i64) << 1) ^ ((v as i64) >> 63)) as u64));
    out
}

/// One INT32 column `x` of `n` DELTA_BINARY_PACKED pages of one value each, no offset index.
fn many_delta_pages(n: usize) -> Vec<u8> {
    let pages = (0..n)
        .map(|i| Page::V1 {
            num_values: 1,
            encoding: raw::DELTA_BINARY_PACKED,
            def_encoding: raw::RLE,
            data: delta_one(value(i)),
        })
        .collect();
    raw::write(&raw::File {
        columns: vec![Column { name: "x".into(), physical: raw::INT32, optional: false }],
        codec: raw::UNCOMPRESSED,
        row_groups: vec![raw::RowGroup { num_rows: n as i64, pages: vec![pages], num_values: None }],
        num_rows: None,
    })
}

/// With `SHARDMIX_KEEP_HOSTILE_FILES=DIR`, also write the file to `DIR` (to measure a release
/// build on it: see the README).
fn keep(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("SHARDMIX_KEEP_HOSTILE_FILES") {
        std::fs::write(Path::new(&dir).join(name), bytes).unwrap();
    }
}

#[test]
fn a_million_one_value_delta_pages_stream_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many-delta-pages.parquet");
    let bytes = many_delta_pages(N);
    keep("many-delta-pages.parquet", &bytes);
    std::fs::write(&path, bytes).unwrap();
    let file = path.to_str().unwrap();

    let args = ["--no-label", "--batch-size", "4096", "--order", "sequential", "--mixup-alpha", "0", "--to", "-"];
    let run = cli(&[&["stream", "--data", file][..], &args].concat());
    assert!(run.success, "{}", run.stderr);
    // Before the page maps were handed to arrow-rs, a release build took 34 s here (on a
    // loaded machine); it now takes 0.8 s of CPU, and the test profile's about as much.
    assert!(run.cpu < Duration::from_secs(5), "stream took {:?} of CPU", run.cpu);
    assert!(run.took < Duration::from_secs(60), "stream took {:?}", run.took);
    assert!(run.peak < 256 << 20, "stream peaked at {} MiB", run.peak >> 20);

    // Every row, in order, with its value.
    let (batches, trailer) = shardmix::read_verified_stream(run.stdout.as_slice()).unwrap();
    assert_eq!(trailer.rows, N as u64);
    let mut row = 0;
    for batch in &batches {
        let x = batch.column_by_name("x").expect("column x").as_primitive::<Float32Type>();
        for &v in x.values().iter() {
            assert_eq!(v, value(row) as f32, "row {row}");
            row += 1;
        }
    }
    assert_eq!(row, N);
}

/// Blocks of a chunk of many pages, decoded by arrow-rs with the page map as offset index,
/// give the same rows whichever page a block starts or ends in.
#[test]
fn blocks_of_a_many_page_chunk_read_through_arrow_rs_are_right() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("delta-pages.parquet");
    let n = 5000;
    std::fs::write(&path, many_delta_pages(n)).unwrap();
    for block_rows in [n as u64, 1000, 333, 1] {
        let set = shardmix::ShardSet::open(&path).unwrap().block_rows(block_rows).unwrap();
        for range in [0..n as u64, 1..2, 998..1003, 4000..5000, 4999..5000] {
            let got = set.read_rows(range.clone()).unwrap();
            let want: Vec<f32> = range.clone().map(|i| value(i as usize) as f32).collect();
            assert_eq!(got.features.as_slice().unwrap(), want.as_slice(), "blocks of {block_rows}, rows {range:?}");
        }
    }
}
