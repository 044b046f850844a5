//! The decode's buffer pools are shared by every shard set of the process: a set opened after
//! another reads its own values (nothing of the other's blocks, pages or dictionaries shows
//! through), and the pipeline's stats count the time spent decoding.

use crate::common;

use std::path::Path;

use common::{classification_file, feature_value, label_value};
use shardmix::{Order, Pipeline, ShardSet, Target};

const FEATURES: usize = 8;
const CLASSES: usize = 5;
const ROWS: usize = 6_000;

/// All rows of `path` through a 2-worker pipeline, checked against the values of a file
/// written from global row `first`.
fn read_and_check(path: &Path, first: u64) {
    let set = ShardSet::open(path).unwrap().target(Target::class("label", CLASSES)).unwrap();
    let pipeline = Pipeline::builder().source(set).order(Order::sequential(500)).workers(2).seed(3).build().unwrap();
    let mut row = 0u64;
    for batch in pipeline {
        let batch = batch.unwrap();
        let targets = batch.targets.as_ref().unwrap();
        for i in 0..batch.rows() {
            for j in 0..FEATURES {
                assert_eq!(batch.features[[i, j]], feature_value(first + row, j), "row {row}, feature {j}");
            }
            let class = label_value(first + row, CLASSES) as usize;
            assert_eq!(targets[[i, class]], 1.0, "row {row}");
            row += 1;
        }
    }
    assert_eq!(row, ROWS as u64);
}

#[test]
fn a_shard_set_opened_after_another_reads_its_own_values() {
    let dir = common::tempdir();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    // Same shape, other values: a buffer of `a`'s blocks reused for `b` without being fully
    // overwritten would show `a`'s values.
    classification_file(&a, 0, ROWS, FEATURES, CLASSES, 1_500);
    classification_file(&b, 500, ROWS, FEATURES, CLASSES, 1_500);
    for _ in 0..2 {
        read_and_check(&a, 0);
        read_and_check(&b, 500);
    }
}

#[test]
fn stats_count_the_time_spent_decoding() {
    let dir = common::tempdir();
    let path = dir.path().join("a.parquet");
    classification_file(&path, 0, ROWS, FEATURES, CLASSES, 1_500);
    for workers in [0, 1, 2] {
        let set = ShardSet::open(&path).unwrap().target(Target::class("label", CLASSES)).unwrap();
        let mut pipeline =
            Pipeline::builder().source(set).order(Order::sequential(500)).workers(workers).build().unwrap();
        let mut batches = 0;
        for batch in pipeline.by_ref() {
            batch.unwrap();
            batches += 1;
        }
        assert_eq!(batches, ROWS / 500);
        let stats = pipeline.stats();
        assert!(stats.cache.misses >= 4, "{workers} workers: {stats:?}");
        assert!(stats.decode_time > std::time::Duration::ZERO, "{workers} workers: {stats:?}");
    }
}
