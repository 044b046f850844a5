//! Fuzz target: the structured shard of `pages`, read by the direct decode path and through
//! arrow-rs only. Both must give the same values bit for bit, or both fail.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static PATH: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let path = PATH.get_or_init(shardmix_fuzz::scratch_path);
    let _ = shardmix_fuzz::run_contained(|| shardmix_fuzz::differential_bytes(data, path));
});
