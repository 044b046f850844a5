//! Fuzz target: arbitrary UTF-8 as a pipeline TOML config. Must never panic, and a parsed
//! config must survive a TOML round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shardmix_fuzz::run_contained(|| shardmix_fuzz::parse_config_bytes(data));
});
