//! What the tests against the stores' emulators (Azurite, fake-gcs-server) share: the objects
//! they upload and the checks of listing, streaming and caching through them.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::range_server::{ok, stream_args};

/// Three shards under `root/data/` (what the local run reads), and the objects to upload as
/// (key, file): those three under `data/`, an empty `data/_SUCCESS` marker (an empty path)
/// and the first shard again under `data/nested/` (a listing shows neither).
pub fn listing_objects(root: &Path) -> (PathBuf, Vec<(String, PathBuf)>) {
    let dir = root.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let mut objects = Vec::new();
    for i in 0..3u64 {
        let path = dir.join(format!("part-{i}.parquet"));
        super::classification_file(&path, i * 2000, 2000, 8, 4, 700);
        objects.push((format!("data/part-{i}.parquet"), path));
    }
    objects.push(("data/_SUCCESS".to_string(), PathBuf::new()));
    objects.push(("data/nested/part-9.parquet".to_string(), objects[0].1.clone()));
    (dir, objects)
}

/// `objects` as the (key, file) pairs the upload scripts take.
pub fn pairs(objects: &[(String, PathBuf)]) -> Vec<(&str, &Path)> {
    objects.iter().map(|(k, p)| (k.as_str(), p.as_path())).collect()
}

/// `stream` of the local shards in `dir`: the bytes every store must give too.
pub fn local_stream(dir: &Path) -> Vec<u8> {
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix")).args(stream_args(dir.to_str().unwrap())).output().unwrap();
    let bytes = ok(&o).stdout.clone();
    assert!(bytes.len() > 10_000);
    bytes
}

/// Through `cli()`, each of `specs` (a directory-like prefix, a glob) lists the three shards of
/// [`listing_objects`] (one level, without the marker) and streams `local`'s bytes.
pub fn check_listings(cli: impl Fn() -> Command, specs: &[&str], local: &[u8]) {
    for spec in specs {
        let o = cli().args(["inspect", spec]).output().unwrap();
        let text = String::from_utf8_lossy(&ok(&o).stdout).into_owned();
        assert!(text.starts_with("3 shard(s), 6000 rows"), "{spec}: {text}");
        assert!(!text.contains("_SUCCESS") && !text.contains("nested"), "{spec}: {text}");
        let o = cli().args(stream_args(spec)).output().unwrap();
        assert!(ok(&o).stdout == local, "{spec}: the IPC bytes differ from the local run");
    }
}

/// Two runs of `spec` through the cache in `cache` (the store's ETags key the copies) give
/// `local`'s bytes without a warning, and leave one copy per shard.
pub fn check_cache(cli: impl Fn() -> Command, spec: &str, cache: &Path, local: &[u8]) {
    for run in 0..2 {
        let o = cli().args(stream_args(spec)).args(["--cache-dir", cache.to_str().unwrap()]).output().unwrap();
        assert!(ok(&o).stdout == local, "cached run {run}: the IPC bytes differ from the local run");
        assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let copies = std::fs::read_dir(cache.join("shardmix-cache-v1")).unwrap().count();
    assert_eq!(copies, 3);
}
