//! The code paths the fuzz targets drive, shared with `tests/fuzz_regressions.rs` (which
//! includes this file with `#[path]`), so a regression test replays exactly what the fuzzer ran.
//!
//! Each function returns `Ok`/`Err` for anything shardmix reports; it panics only when an
//! invariant of a successful read is broken (a bug the fuzzer should report as a crash).

use std::path::{Path, PathBuf};

use shardmix::{Order, Pipeline, PipelineConfig, Result, ShardSet};

#[cfg(not(test))]
pub use contain::run_contained;

/// Inputs larger than this are skipped (they only slow the fuzzer down).
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// The column-chunk limit set on every shard set: no giant allocations from a lying footer.
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;

/// Batch size of the pipeline pass.
pub const BATCH: usize = 7;

/// What a successful read of one shard saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOutcome {
    /// Rows the footer declares (and both reads returned).
    pub rows: u64,
    /// Features per row.
    pub features: usize,
    /// Batches the one-epoch pipeline pass produced.
    pub batches: u64,
}

/// Open `path` as a one-file shard set, read every row with `read_rows`, then again through a
/// 2-worker `Pipeline` in `Order::sequential(BATCH)` for one epoch; both reads must agree.
///
/// # Errors
/// Whatever shardmix reports for the file.
///
/// # Panics
/// When a successful read returns a different row count or different values than the other
/// read or than the footer declares.
pub fn read_shard_file(path: &Path) -> Result<ShardOutcome> {
    let set = ShardSet::open(path)?.max_column_chunk_bytes(MAX_CHUNK_BYTES);
    let rows = set.num_rows();
    let features = set.spec().num_features();
    let all = set.read_rows(0..rows)?;
    assert_eq!(all.features.dim(), (rows as usize, features), "read_rows shape vs footer rows");
    let expected: Vec<u32> = all.features.iter().map(|v| v.to_bits()).collect();

    let pipeline = Pipeline::builder().source(set).order(Order::sequential(BATCH)).workers(2).epochs(1).build()?;
    let mut seen: Vec<u32> = Vec::with_capacity(expected.len());
    let mut batches = 0u64;
    for batch in pipeline {
        let batch = batch?;
        assert_eq!(batch.features.ncols(), features, "pipeline batch {batches} feature count");
        seen.extend(batch.features.iter().map(|v| v.to_bits()));
        batches += 1;
    }
    assert_eq!(batches, rows.div_ceil(BATCH as u64), "pipeline batches for {rows} rows");
    assert!(seen == expected, "pipeline values differ from read_rows");
    Ok(ShardOutcome { rows, features, batches })
}

/// The scratch file the fuzzer writes each input to: one per process, in `/dev/shm` when
/// present (no disk I/O), else the temp directory.
pub fn scratch_path() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    dir.join(format!("shardmix-fuzz-{}.parquet", std::process::id()))
}

/// The `read_shard` target: `data` as the bytes of a Parquet file written to `path`.
/// Returns `None` for skipped inputs (too large, or the scratch file cannot be written).
pub fn read_shard_bytes(data: &[u8], path: &Path) -> Option<Result<ShardOutcome>> {
    if data.len() > MAX_INPUT_BYTES {
        return None;
    }
    std::fs::write(path, data).ok()?;
    Some(read_shard_file(path))
}

/// The `parse_config` target: `data` as UTF-8 TOML; `None` when it is not UTF-8.
/// A parsed config must survive a TOML round trip unchanged.
///
/// # Panics
/// When the round trip fails or changes the config.
pub fn parse_config_bytes(data: &[u8]) -> Option<Result<PipelineConfig>> {
    let text = std::str::from_utf8(data).ok()?;
    let parsed = PipelineConfig::parse(text, Path::new("fuzz.toml"));
    if let Ok(config) = &parsed {
        let again = toml::to_string(config).map_err(|e| e.to_string()).and_then(|t| {
            PipelineConfig::parse(&t, Path::new("again.toml")).map_err(|e| format!("{e}\n--- serialised:\n{t}"))
        });
        match again {
            // Debug, not PartialEq: NaN fields compare unequal to themselves.
            Ok(again) => assert_eq!(format!("{again:?}"), format!("{config:?}"), "TOML round trip changed the config"),
            Err(e) => panic!("a parsed config does not survive a TOML round trip: {e}"),
        }
    }
    Some(parsed)
}

/// Panic containment for the fuzz targets (not compiled into the regression tests, which use
/// `catch_unwind` and the default hook directly).
///
/// libfuzzer-sys installs a panic hook that aborts on *every* panic, even one that is caught;
/// but shardmix deliberately catches arrow-rs panics at its decode boundary and worker panics
/// in the pipeline, turning them into errors. So the targets replace that hook with one that
/// only records the panic, and abort only when a panic escapes the public API.
#[cfg(not(test))]
mod contain {
    use std::backtrace::Backtrace;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::{Mutex, Once};

    static HOOK: Once = Once::new();
    static LAST: Mutex<Option<(String, Backtrace)>> = Mutex::new(None);

    /// Run `f`; if a panic escapes it, print the panic (message, location, backtrace of the
    /// panicking thread) and abort, which libFuzzer records as a crash.
    pub fn run_contained<T>(f: impl FnOnce() -> T) -> T {
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let msg = format!("{info} (thread {:?})", std::thread::current().name().unwrap_or("<unnamed>"));
                *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some((msg, Backtrace::force_capture()));
            }));
        });
        *LAST.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => v,
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                eprintln!("\n==== a panic escaped shardmix's public API: {text}");
                if let Some((msg, bt)) = LAST.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    eprintln!("last panic seen by the hook: {msg}\n{bt}");
                }
                std::process::abort();
            }
        }
    }
}
