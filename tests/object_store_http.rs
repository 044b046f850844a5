//! `http(s)://` shards, and the S3 subset of examples/range_server.rs, against that server: a
//! real HTTP/1.1 server on loopback in its own process, started by each test (Python's
//! `http.server` ignores `Range`, which object_store's HTTP store refuses). Runs without the
//! venv: the server (std only) is compiled into this test binary, which runs it as a child
//! process ([`range_server_child`]).

mod common;

use common::range_server as range_server_common;
use range_server_common::{ok, stream_args, RangeServer};

use std::path::{Path, PathBuf};

#[allow(dead_code)] // its `main`: the server runs through `run`
#[path = "../examples/range_server.rs"]
mod range_server;

/// Not a test: the server process of the others (`common::range_server`).
#[test]
fn range_server_child() {
    range_server_common::serve_if_child(range_server::run);
}

/// Under `root`: `bucket/data/part-{0,1,2}.parquet` (3,000 rows × 8 features each, row groups
/// of 1,000), a `_SUCCESS` marker and a hidden shard that listings skip, and a shard one level
/// deeper. Returns the local directory of the three shards.
fn dataset(root: &Path) -> PathBuf {
    let dir = root.join("bucket/data");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for i in 0..3u64 {
        common::classification_file(&dir.join(format!("part-{i}.parquet")), i * 3000, 3000, 8, 4, 1000);
    }
    std::fs::write(dir.join("_SUCCESS"), b"").unwrap();
    common::classification_file(&dir.join(".hidden.parquet"), 0, 10, 8, 4, 10);
    common::classification_file(&dir.join("sub/deeper.parquet"), 0, 10, 8, 4, 10);
    dir
}

#[test]
fn an_http_url_streams_the_same_bytes_as_the_local_file_one_request_per_block() {
    let root = common::tempdir();
    let dir = dataset(root.path());
    let server = RangeServer::start(root.path(), &[]);
    let file = dir.join("part-1.parquet");
    let url = server.url("bucket/data/part-1.parquet");
    // `inspect` names the URL and reads the footer through it.
    let o = server.cli().args(["inspect", &url]).output().unwrap();
    let text = String::from_utf8_lossy(&ok(&o).stdout).into_owned();
    assert!(text.contains(&url) && text.contains("3000"), "{text}");

    let before = server.stats().0;
    let http = server.cli().args(stream_args(&url)).output().unwrap();
    let requests = server.stats().0 - before;
    let here = server.cli().args(stream_args(file.to_str().unwrap())).output().unwrap();
    assert!(ok(&here).stdout.len() > 10_000);
    assert!(ok(&http).stdout == here.stdout, "stream over http://: the IPC bytes differ from the local run");
    // One GET of the tail (footer and page index) and one ranged GET per block of 1,000 rows:
    // the answers really came from this server, by range (the file is 100 KiB; a whole-file
    // GET would be one request).
    assert_eq!(requests, 1 + 3, "requests of one stream over one shard of 3 blocks");
}

#[test]
fn the_lean_server_speaks_enough_s3_for_listings_globs_and_ranges() {
    let root = common::tempdir();
    let dir = dataset(root.path());
    let server = RangeServer::start(root.path(), &[]);
    let listed = |spec: &str| {
        let o = server.cli().args(["inspect", spec]).output().unwrap();
        let text = String::from_utf8_lossy(&ok(&o).stdout).into_owned();
        let mut names: Vec<String> =
            text.split_whitespace().filter(|w| w.starts_with("s3://")).map(str::to_string).collect();
        names.dedup();
        names
    };
    let parts: Vec<String> = (0..3).map(|i| format!("s3://bucket/data/part-{i}.parquet")).collect();
    // ListObjectsV2 with a delimiter (one level, markers and hidden names skipped)…
    assert_eq!(listed("s3://bucket/data/"), parts);
    assert_eq!(listed("s3://bucket/data"), parts);
    // …and without one (a glob lists recursively and picks).
    assert_eq!(listed("s3://bucket/data/*.parquet"), parts);
    assert_eq!(listed("s3://bucket/data/*/*.parquet"), vec!["s3://bucket/data/sub/deeper.parquet".to_string()]);
    assert_eq!(listed("s3://bucket/data/part-[02].parquet"), vec![parts[0].clone(), parts[2].clone()]);
    // HEAD of one object.
    assert_eq!(listed("s3://bucket/data/part-1.parquet"), vec![parts[1].clone()]);

    let s3 = server.cli().args(stream_args("s3://bucket/data/")).output().unwrap();
    let here = server.cli().args(stream_args(dir.to_str().unwrap())).output().unwrap();
    assert!(ok(&s3).stdout == ok(&here).stdout, "stream over s3:// (range_server): the IPC bytes differ");
}

#[test]
fn a_file_replaced_mid_run_is_a_changed_shard_over_http_and_s3() {
    let root = common::tempdir();
    let dir = dataset(root.path());
    let other = root.path().join("other.parquet");
    common::classification_file(&other, 5, 3000, 8, 4, 1000);
    for (url, skip) in [
        ("http://HOST/bucket/data/part-0.parquet", false),
        ("s3://bucket/data/part-0.parquet", false),
        ("s3://bucket/data/", true),
    ] {
        // A fresh copy of the original each time: the previous round replaced it.
        common::classification_file(&dir.join("part-0.parquet"), 0, 3000, 8, 4, 1000);
        let target = Path::new("bucket/data/part-0.parquet");
        let server = RangeServer::start(root.path(), &[Path::new("--replace-on-data-read"), target, &other]);
        let url = url.replace("http://HOST/", &server.url(""));
        let mut c = server.cli();
        c.args(stream_args(&url));
        if skip {
            c.args(["--on-bad-shard", "skip"]);
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let name = if url.ends_with('/') { format!("{url}part-0.parquet") } else { url.clone() };
        if skip {
            ok(&o);
            assert!(err.contains(&name), "{url}: no skip reported: {err}");
        } else {
            assert!(!o.status.success(), "{url}: a replaced file was read");
            assert!(err.contains(&name) && err.contains("changed"), "{url}: {err}");
        }
    }
}
