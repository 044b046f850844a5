//! Fuzz target: arbitrary bytes as a Parquet shard, read whole and through a 2-worker pipeline.
//! Any panic escaping shardmix's public API is a bug (panics shardmix catches are fine).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static PATH: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let path = PATH.get_or_init(shardmix_fuzz::scratch_path);
    let _ = shardmix_fuzz::run_contained(|| shardmix_fuzz::read_shard_bytes(data, path));
});
