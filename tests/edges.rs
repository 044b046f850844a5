//! Edge inputs: tiny and huge datasets, batch sizes at and beyond the data, many shards,
//! odd paths and column names.

mod common;

use common::fixture;

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use shardmix::{ErrorKind, Features, Order, Pipeline, Result, ShardSet};

fn collect(set: &ShardSet, order: Order) -> Result<Vec<shardmix::Batch>> {
    Pipeline::builder().source(set.clone()).order(order).workers(2).epochs(1).build()?.collect()
}

fn one_column(path: &std::path::Path, name: &str, n: usize, rg: usize) {
    let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Float32, false)]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(Float32Array::from_iter_values((0..n).map(|i| i as f32))) as ArrayRef],
    )
    .unwrap();
    common::write_batches(path, &[batch], fixture::row_groups(rg));
}

#[test]
fn one_row() {
    let dir = tempfile::tempdir().unwrap();
    fixture::write_shard(&dir.path().join("one.parquet"), 0, 1, 1);
    let set = ShardSet::open(dir.path()).unwrap().features(Features::columns(&["f0"])).unwrap();
    let batches = collect(&set, Order::sequential(4)).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].rows(), 1);
    let e = Pipeline::builder().source(set.clone()).order(Order::offset(1)).build().err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::Config { name, .. } if name == "batch_size"), "{e}");
    let e = Pipeline::builder().source(set).order(Order::sequential(4).drop_last(true)).build().err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::Config { .. }), "{e}");
}

#[test]
fn batch_equal_to_and_larger_than_the_data() {
    let (dir, n) = fixture::dataset_dir();
    let set = ShardSet::open(dir.path()).unwrap().features(Features::columns(&["f0"])).unwrap();
    for b in [n as usize, n as usize + 10] {
        for order in [Order::sequential(b), Order::shuffled(b)] {
            let batches = collect(&set, order.clone()).unwrap();
            assert_eq!(batches.len(), 1, "{order:?}");
            assert_eq!(batches[0].rows() as u64, n, "{order:?}");
        }
        let e = Pipeline::builder().source(set.clone()).order(Order::offset(b)).build().err().unwrap();
        assert!(e.to_string().contains("batch size"), "{e}");
    }
}

#[test]
fn ten_thousand_tiny_shards_with_bounded_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let shards = 10_000u64;
    for i in 0..shards {
        one_column(&dir.path().join(format!("s{i:05}.parquet")), "x", 1, 1);
    }
    let fds = || std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    let before = fds();
    let set = ShardSet::open(dir.path()).unwrap();
    assert_eq!(set.num_rows(), shards);
    assert!(fds() < before + 64, "footers leave files open: {} → {}", before, fds());
    let mut p = Pipeline::builder().source(set).order(Order::shuffled(512)).workers(2).epochs(1).build().unwrap();
    let mut rows = 0;
    let mut peak = 0;
    for b in p.by_ref() {
        rows += b.unwrap().rows();
        peak = peak.max(fds());
    }
    assert_eq!(rows as u64, shards);
    assert!(peak < before + 64, "open files grew to {peak} (from {before})");
}

#[test]
fn ten_million_rows_in_one_row_group_stream_within_the_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.parquet");
    let n = 10_000_000usize;
    one_column(&p, "x", n, n);
    let set = ShardSet::open(&p).unwrap();
    assert_eq!(set.shards()[0].num_row_groups, 1);
    let cap = 4 << 20;
    let mut pipeline = Pipeline::builder()
        .source(set)
        .order(Order::sequential(65_536))
        .workers(2)
        .cache_bytes(cap)
        .epochs(1)
        .build()
        .unwrap();
    let mut rows = 0u64;
    let mut sum = 0f64;
    for b in pipeline.by_ref() {
        let b = b.unwrap();
        rows += b.rows() as u64;
        sum += b.features.iter().map(|&v| v as f64).sum::<f64>();
    }
    assert_eq!(rows, n as u64);
    assert_eq!(sum, (0..n).map(|i| i as f32 as f64).sum::<f64>());
    let stats = pipeline.stats();
    assert!(stats.cache.peak_bytes <= cap, "{:?}", stats.cache);
    // Decoded block by block (153 blocks of 65,536 rows), never the whole row group.
    assert!(stats.cache.misses >= 150, "{:?}", stats.cache);
}

#[cfg(unix)]
#[test]
fn non_utf8_paths_and_symlinked_shards() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(OsStr::from_bytes(b"data-\xff\xfe"));
    std::fs::create_dir(&dir).unwrap();
    fixture::write_shard(&dir.join(OsStr::from_bytes(b"part-\xe9.parquet")), 0, 10, 5);
    let elsewhere = root.path().join("elsewhere.parquet");
    fixture::write_shard(&elsewhere, 10, 5, 5);
    std::os::unix::fs::symlink(&elsewhere, dir.join("link.parquet")).unwrap();
    let set = ShardSet::open(&dir).unwrap().features(Features::columns(&["f1"])).unwrap();
    assert_eq!(set.num_rows(), 15);
    let b = set.read_rows(0..15).unwrap();
    let mut got: Vec<f32> = b.features.iter().copied().collect();
    got.sort_by(f32::total_cmp);
    assert_eq!(got, (0..15).map(|i| i as f32).collect::<Vec<_>>());
    // Errors name a non-UTF-8 file lossily rather than failing to print.
    std::fs::write(dir.join(OsStr::from_bytes(b"bad-\xff.parquet")), b"not parquet").unwrap();
    let e = ShardSet::open(&dir).unwrap_err();
    assert!(e.to_string().contains("bad-"), "{e}");
}

#[test]
fn column_names_with_spaces_and_non_ascii() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["pixel value 1", "pixel value 2", "größe", "高さ"];
    let schema =
        Arc::new(Schema::new(names.iter().map(|n| Field::new(*n, DataType::Float32, false)).collect::<Vec<_>>()));
    let cols: Vec<ArrayRef> = (0..4).map(|j| Arc::new(Float32Array::from(vec![j as f32; 3])) as ArrayRef).collect();
    let p = dir.path().join("names.parquet");
    common::write_batches(&p, &[RecordBatch::try_new(schema, cols).unwrap()], fixture::row_groups(10));
    let set = ShardSet::open(&p).unwrap().features(Features::prefix("pixel value ")).unwrap();
    assert_eq!(set.spec().feature_names(), vec!["pixel value 1", "pixel value 2"]);
    let set = set.features(Features::columns(&["高さ", "größe"])).unwrap();
    assert_eq!(set.read_rows(0..3).unwrap().features.row(0).to_vec(), vec![3.0, 2.0]);
    let e = set.features(Features::columns(&["größe "])).unwrap_err();
    assert!(e.to_string().contains("'größe '"), "{e}");
}
