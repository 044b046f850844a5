//! The `differential` fuzz target's list-column shards (`fuzz/src/lib.rs`, flags `0x18`: one
//! `list<float32>` column of fuzzer-chosen pages, levels and values, mostly well formed) read
//! by the direct path's tensor decode and through arrow-rs only: a deterministic sweep of
//! inputs must give the same values bit for bit or fail on both paths, and never panic.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Input `i` of the sweep: list-column flags, then bytes of a fixed pseudo-random stream.
fn input(i: u64) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = vec![0x18 | (i as u8 & 0x07)];
    for _ in 0..600 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((x >> 24) as u8);
    }
    // A well-formed stretch: lists of the chosen width, no flaw (choices of 1 never pick one).
    if i.is_multiple_of(3) {
        out[4..200].fill(1);
    }
    out
}

#[test]
fn list_shards_read_the_same_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.parquet");
    let mut read = 0;
    for i in 0..400 {
        let data = input(i);
        let s = harness::structured(&data);
        assert!(s.file.columns[0].physical & harness::raw::LIST != 0, "input {i}: not a list shard");
        let r = catch_unwind(AssertUnwindSafe(|| harness::differential_shard(&s, &path)));
        assert!(r.is_ok(), "input {i}: the paths disagree (or a panic escaped)");
        // Count the shards that read (both paths then agreed on their values).
        let set = shardmix::ShardSet::open(&path).and_then(|s| s.features(shardmix::Features::List("c0".into())));
        if set.and_then(|s| s.read_rows(0..s.num_rows())).is_ok_and(|b| b.features.nrows() > 0) {
            read += 1;
        }
    }
    assert!(read >= 20, "only {read} of 400 list shards read: the sweep does not reach the decoders");
}

/// Input 5033 (47 rows in blocks of 46) has a list page whose repetition levels end before
/// the values its header claims: arrow-rs's `skip_records` looped forever on the second block,
/// through both paths (the direct path leaves the chunk to arrow-rs). Now both paths fail on it
/// at once.
#[test]
fn a_page_of_too_few_repetition_levels_fails_instead_of_hanging() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.parquet");
        let s = harness::structured(&input(5033));
        let r = catch_unwind(AssertUnwindSafe(|| harness::differential_shard(&s, &path)));
        let read = shardmix::ShardSet::open(&path)
            .and_then(|s| s.block_rows(46))
            .and_then(|s| s.features(shardmix::Features::List("c0".into())))
            .and_then(|s| s.read_rows(0..s.num_rows()));
        let _ = tx.send((r.is_ok(), read.map(|b| b.rows())));
    });
    let (agreed, read) = rx.recv_timeout(std::time::Duration::from_secs(120)).expect("the read of input 5033 hangs");
    assert!(agreed, "the paths disagree on input 5033");
    let err = read.expect_err("input 5033 is malformed");
    assert!(err.to_string().contains("list.parquet"), "{err}");
}
