//! The offset order never reaches the last rows (issue 20): how many it leaves out is said at
//! start, in `inspect` and in the stats, and equals a count of the rows the batches really read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use shardmix::{Features, Order, Pipeline, ShardSet};

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet")
}

#[test]
fn the_pipeline_counts_the_rows_no_batch_reads() {
    for (order, epochs) in [(Order::offset(64), 3), (Order::offset(256), 1), (Order::sequential(64), 2)] {
        let set = ShardSet::open(digits()).unwrap().features(Features::prefix("p")).unwrap();
        let n = set.num_rows();
        let mut p = Pipeline::builder().source(set).order(order.clone()).epochs(epochs).workers(1).build().unwrap();
        let mut read = BTreeSet::new();
        for b in p.by_ref() {
            read.extend(b.unwrap().provenance.row_a);
        }
        let unread = n - read.len() as u64;
        assert_eq!(p.rows_unread(), Some(unread), "{order:?}, {epochs} epochs");
        assert_eq!(p.stats().rows_unread, Some(unread));
        if matches!(order, Order::Offset { batch_size: 64 }) {
            assert_eq!(unread, 5);
        }
    }
}

#[test]
fn augment_and_inspect_say_how_many_rows_the_offset_order_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let bin = env!("CARGO_BIN_EXE_shardmix");
    let data = digits();
    let o = Command::new(bin)
        .args(["augment", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--batch-size", "64", "--epochs", "3", "--quiet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("leaves 5 of 1797 rows unread"), "{err}");
    let o = Command::new(bin).args(["inspect", data.to_str().unwrap(), "--batch-size", "64"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("unread:   5 of 1797 rows"), "{text}");
    let o = Command::new(bin).args(["inspect", data.to_str().unwrap(), "--order", "sequential"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("unread:   none"));
}
