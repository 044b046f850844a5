//! Fuzz target: a valid Parquet file built around fuzzer-chosen page headers, definition levels
//! and values (`shardmix_fuzz::structured`), read whole and through a 2-worker pipeline in
//! blocks of a fuzzer-chosen size. This reaches the direct decode path far more often than
//! random bytes do. Any panic escaping shardmix's public API is a bug.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static PATH: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let path = PATH.get_or_init(shardmix_fuzz::scratch_path);
    let _ = shardmix_fuzz::run_contained(|| shardmix_fuzz::pages_bytes(data, path));
});
