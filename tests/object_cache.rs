//! `--cache-dir DIR` / `--cache-max-bytes N`: whole copies of object-store shards kept in a local
//! directory, against the lean S3 server of examples/range_server.rs on loopback (run as a child
//! process of this test binary, as in tests/object_store_http.rs; no venv needed). The server's
//! `/__stats` counts the body bytes it sent, so that a run served by the cache is seen to fetch
//! no object bodies.

mod common;

use common::range_server as range_server_common;
use range_server_common::{ok, stream_args, RangeServer};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

#[allow(dead_code)] // its `main`: the server runs through `run`
#[path = "../examples/range_server.rs"]
mod range_server;

/// The cache's own folder in the directory given.
const SUBDIR: &str = "shardmix-cache-v1";

/// Not a test: the server process of the others (`common::range_server`).
#[test]
fn range_server_child() {
    range_server_common::serve_if_child(range_server::run);
}

/// `stream` of `data` through the cache in `cache` (with `more` flags): the IPC bytes, and
/// the (requests, body bytes) the run cost `server`.
fn stream_cached(server: &RangeServer, data: &str, cache: &Path, more: &[&str]) -> (Vec<u8>, (u64, u64)) {
    let before = server.stats();
    let o = server
        .cli()
        .args(stream_args(data))
        .args(["--cache-dir", cache.to_str().unwrap()])
        .args(more)
        .output()
        .unwrap();
    let after = server.stats();
    (ok(&o).stdout.clone(), (after.0 - before.0, after.1 - before.1))
}

/// `stream` of the local directory `dir`: the reference bytes.
fn local_run(dir: &Path) -> Vec<u8> {
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix")).args(stream_args(dir.to_str().unwrap())).output().unwrap();
    let out = ok(&o).stdout.clone();
    assert!(out.len() > 10_000);
    out
}

/// `root/bucket/data/part-{0,1,2}.parquet` (3,000 rows × 8 features each, row groups of 1,000):
/// its directory.
fn dataset(root: &Path) -> PathBuf {
    let dir = root.join("bucket/data");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..3u64 {
        common::classification_file(&dir.join(format!("part-{i}.parquet")), i * 3000, 3000, 8, 4, 1000);
    }
    dir
}

/// The files in the cache's folder whose names start with `prefix`, sorted.
fn cache_files(cache: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(cache.join(SUBDIR)).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    out.retain(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix));
    out.sort();
    out
}

const DATA: &str = "s3://bucket/data/";

/// A shard as [`common::classification_file`] writes it, uncompressed: its size does not depend
/// on which rows it holds, so that a replacement can be of the same size.
fn uncompressed_file(path: &Path, first_row: u64) {
    use arrow_array::{ArrayRef, Float32Array, Int64Array};
    let names: Vec<String> = (0..8).map(|j| format!("x{j}")).collect();
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    for (j, name) in names.iter().enumerate() {
        let values: Vec<f32> = (0..3000).map(|r| common::feature_value(first_row + r, j)).collect();
        columns.push((name.as_str(), std::sync::Arc::new(Float32Array::from(values))));
    }
    let labels: Vec<i64> = (0..3000).map(|r| common::label_value(first_row + r, 4)).collect();
    columns.push(("label", std::sync::Arc::new(Int64Array::from(labels))));
    common::write_columns(path, columns, common::props(parquet::basic::Compression::UNCOMPRESSED, 1000));
}

#[test]
fn the_first_run_fills_the_cache_and_the_second_fetches_no_bodies() {
    let root = common::tempdir();
    let dir = dataset(root.path());
    let cache = root.path().join("cache");
    let server = RangeServer::start(root.path(), &[]);
    let here = local_run(&dir);
    let shard_bytes: u64 = (0..3).map(|i| dir.join(format!("part-{i}.parquet")).metadata().unwrap().len()).sum();

    let (first, (_, body1)) = stream_cached(&server, DATA, &cache, &[]);
    assert!(first == here, "first run through the cache: the IPC bytes differ from the local run");
    assert_eq!(cache_files(&cache, "entry-").len(), 3, "every shard is cached");
    assert_eq!(body1, shard_bytes, "the first run downloads each object once, whole");

    let (second, (requests2, body2)) = stream_cached(&server, DATA, &cache, &[]);
    assert!(second == here, "second run from the cache: the IPC bytes differ from the local run");
    assert_eq!(body2, 0, "the second run fetched object bodies ({requests2} requests)");
    assert!(requests2 <= 1 + 3, "one listing and a HEAD per shard at most, got {requests2} requests");
    assert!(cache_files(&cache, "tmp-").is_empty());
}

#[test]
fn a_replaced_object_is_fetched_again_never_served_stale() {
    let root = common::tempdir();
    let dir = dataset(root.path());
    uncompressed_file(&dir.join("part-1.parquet"), 3000);
    let cache = root.path().join("cache");
    let server = RangeServer::start(root.path(), &[]);
    let (first, _) = stream_cached(&server, DATA, &cache, &[]);
    assert!(first == local_run(&dir));

    // part-1 replaced by other rows of the same size (each row group's values rotated by 500
    // rows), written beside it and renamed over it: only the ETag tells the versions apart.
    let other = root.path().join("other.parquet");
    uncompressed_file(&other, 3500);
    let size = |p: &Path| p.metadata().unwrap().len();
    assert_eq!(size(&other), size(&dir.join("part-1.parquet")), "the replacement is not of the same size");
    std::fs::rename(&other, dir.join("part-1.parquet")).unwrap();
    let here = local_run(&dir);
    assert!(here != first, "the replacement changes the output");

    let (second, (_, body)) = stream_cached(&server, DATA, &cache, &[]);
    assert!(
        second == here,
        "a replaced object was served from a stale copy (same as the first run: {}; {body} body bytes)",
        second == first
    );
    assert_eq!(body, dir.join("part-1.parquet").metadata().unwrap().len(), "only the replaced object is fetched");
    assert_eq!(cache_files(&cache, "entry-").len(), 4, "the new version is another key");
}

#[test]
fn the_cap_evicts_only_the_caches_own_files() {
    let root = common::tempdir();
    let dir = dataset(root.path());
    let cache = root.path().join("cache");
    let server = RangeServer::start(root.path(), &[]);
    let here = local_run(&dir);
    let one = dir.join("part-0.parquet").metadata().unwrap().len();
    let cap = one + one / 2;
    // Files the cache did not write, beside its folder and inside it (names close to its own).
    std::fs::create_dir_all(cache.join(SUBDIR)).unwrap();
    let foreign = [
        cache.join("mine.parquet"),
        cache.join(SUBDIR).join("notes.txt"),
        cache.join(SUBDIR).join("entry-mine.parquet"),
        cache.join(SUBDIR).join("tmp-mine.part"),
    ];
    for f in &foreign {
        std::fs::write(f, vec![7u8; 2 * one as usize]).unwrap();
        let old = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options().write(true).open(f).unwrap().set_modified(old).unwrap();
    }
    let flags = ["--cache-max-bytes", &cap.to_string()].map(str::to_string);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    for run in 0..2 {
        let (out, _) = stream_cached(&server, DATA, &cache, &flags);
        assert!(out == here, "run {run} under a cap: the IPC bytes differ from the local run");
        let entries = cache_files(&cache, "entry-");
        let held: u64 =
            entries.iter().filter(|p| !p.ends_with("entry-mine.parquet")).map(|p| p.metadata().unwrap().len()).sum();
        assert!(held <= cap, "run {run}: the copies take {held} bytes, over the cap of {cap}");
        assert!(held > 0, "run {run}: nothing is cached");
        for f in &foreign {
            assert!(f.exists(), "run {run}: the cache deleted {}, which it did not write", f.display());
        }
    }
    // A cap below every object: nothing can be cached, the run reads the store, and says so.
    let tiny = root.path().join("tiny-cache");
    let o = server
        .cli()
        .args(stream_args(DATA))
        .args(["--cache-dir", tiny.to_str().unwrap(), "--cache-max-bytes", "100"])
        .output()
        .unwrap();
    assert!(ok(&o).stdout == here, "a cache that holds nothing changed the IPC bytes");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: 3 objects were read from the store, not through the cache")
            && err.contains("larger than cache_max_bytes"),
        "no warning that the cache was bypassed: {err}"
    );
    assert!(cache_files(&tiny, "entry-").is_empty());
    // A cap without a directory is refused, naming the setting.
    let o = server.cli().args(stream_args(DATA)).args(["--cache-max-bytes", "100"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cache_max_bytes"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_temporary_file_of_a_killed_fill_is_never_served() {
    let root = common::tempdir();
    let dir = dataset(root.path());
    let cache = root.path().join("cache");
    let server = RangeServer::start(root.path(), &[]);
    let here = local_run(&dir);
    stream_cached(&server, DATA, &cache, &[]);
    let entries = cache_files(&cache, "entry-");
    assert_eq!(entries.len(), 3);
    // Each copy becomes the temporary file of a fill killed halfway: the same key, the right
    // length, the wrong bytes. Two are old (a killed run's), one is fresh (perhaps another
    // run's fill in progress).
    let mut temps = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let name = entry.file_name().unwrap().to_str().unwrap();
        let hash = &name["entry-".len().."entry-".len() + 32];
        let temp = cache.join(SUBDIR).join(format!("tmp-{hash}-999999-{i}.part"));
        let len = entry.metadata().unwrap().len();
        std::fs::remove_file(entry).unwrap();
        let mut garbage = vec![0u8; len as usize];
        garbage[..4].copy_from_slice(b"PAR1");
        std::fs::write(&temp, garbage).unwrap();
        if i < 2 {
            let old = SystemTime::now() - Duration::from_secs(7200);
            std::fs::File::options().write(true).open(&temp).unwrap().set_modified(old).unwrap();
        }
        temps.push(temp);
    }
    let (out, (_, body)) = stream_cached(&server, DATA, &cache, &[]);
    assert!(out == here, "a temporary file was served");
    assert!(body > 0, "nothing was fetched: the temporary files were taken for copies");
    assert_eq!(cache_files(&cache, "entry-").len(), 3, "the copies are made again");
    assert!(!temps[0].exists() && !temps[1].exists(), "the old temporary files of a killed fill are deleted");
    assert!(temps[2].exists(), "a fresh temporary file (another run's fill) is left alone");
}

#[test]
fn a_download_longer_than_the_timeout_completes_while_bytes_keep_coming() {
    let root = common::tempdir();
    let dir = root.path().join("bucket/big");
    std::fs::create_dir_all(&dir).unwrap();
    common::classification_file(&dir.join("part-0.parquet"), 0, 350_000, 8, 4, 50_000);
    let size = dir.join("part-0.parquet").metadata().unwrap().len();
    assert!(size > 5 << 20, "the object must take longer to send than the timeout: {size} bytes");
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix")).args(stream_args(dir.to_str().unwrap())).output().unwrap();
    let here = ok(&o).stdout.clone();
    // 2 MiB/s: the whole object takes about 3 s to send, the store's timeout is 2 s.
    let rate = (2u64 << 20).to_string();
    let server = RangeServer::start(root.path(), &[Path::new("--rate"), Path::new(&rate)]);
    let cache = root.path().join("cache");
    let started = std::time::Instant::now();
    let o = server
        .cli()
        .env("SHARDMIX_STORE_TIMEOUT", "2")
        .args(stream_args("s3://bucket/big/"))
        .args(["--cache-dir", cache.to_str().unwrap()])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(ok(&o).stdout == here, "the IPC bytes differ from the local run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("warning"), "{err}");
    assert!(took > Duration::from_secs(2), "the download was not slower than the timeout ({took:?}): no test");
    let entries = cache_files(&cache, "entry-");
    assert_eq!(entries.len(), 1, "the slow object was not cached: {err}");
    assert_eq!(entries[0].metadata().unwrap().len(), size);
}
