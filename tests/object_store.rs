//! Shards in object storage, against a real S3-compatible server: moto's server mode on
//! loopback (tests/python/moto_server.py), started by each test behind a small fault proxy
//! (503s, a store that disappears or stops answering, an object replaced mid-run).
//!
//! Every test needs the venv Python of scripts/test.sh (`SHARDMIX_PYTHON`, with moto from
//! scripts/requirements-s3.txt); without it they skip with a message (in CI they fail).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// moto (and the fault proxy in front of it) in a child process, killed on drop.
struct Moto {
    child: Child,
    py: PathBuf,
    /// The proxy's endpoint, which the CLI is pointed at.
    endpoint: String,
    /// moto's own endpoint (uploads that bypass the proxy's faults).
    direct: String,
}

impl Moto {
    /// Start the server with the proxy options `args` (e.g. `["--fail-every", "3"]`).
    fn start(py: &Path, args: &[&str]) -> Moto {
        let mut child = Command::new(py)
            .arg(script())
            .arg("serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/python/moto_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ports: Vec<&str> =
            line.trim().strip_prefix("READY ").unwrap_or_else(|| panic!("moto: {line:?}")).split(' ').collect();
        Moto {
            child,
            py: py.to_path_buf(),
            endpoint: format!("http://127.0.0.1:{}", ports[0]),
            direct: format!("http://127.0.0.1:{}", ports[1]),
        }
    }

    /// Upload `files` as `(key, local file)` into `bucket` (created if needed), past the proxy.
    fn put(&self, bucket: &str, files: &[(String, PathBuf)]) {
        let mut c = Command::new(&self.py);
        c.arg(script()).args(["put", &self.direct, bucket]);
        for (key, path) in files {
            c.arg(key).arg(path);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "upload failed: {}", String::from_utf8_lossy(&o.stderr));
    }

    /// The proxy's counters: (requests, injected failures).
    fn stats(&self) -> (u64, u64) {
        let o = Command::new(&self.py)
            .arg("-c")
            .arg("import sys, json, urllib.request; d = json.load(urllib.request.urlopen(sys.argv[1])); print(d['requests'], d['injected'])")
            .arg(format!("{}/__proxy/stats", self.endpoint))
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&o.stdout);
        let v: Vec<u64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
        (v[0], v[1])
    }

    /// The CLI with this store's environment: moto's dummy credentials, the proxy as
    /// endpoint, plain HTTP allowed, reads bounded by `timeout_secs`. Every other `AWS_*`
    /// variable of the test's environment is removed (no profile, no instance metadata).
    fn cli(&self, timeout_secs: &str) -> Command {
        common::s3_cli(&self.endpoint, timeout_secs)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/moto_server.py")
}

/// The venv Python, or `None` after saying loudly that these tests are skipped.
fn python() -> Option<PathBuf> {
    let py = common::venv_python();
    if py.is_none() {
        eprintln!("SKIPPED: tests/object_store.rs needs moto: run it through scripts/test.sh (SHARDMIX_PYTHON)");
    }
    py
}

/// Three classification shards of 3,000 rows × 8 features in row groups of 1,000 (about
/// 100 KiB each: the tail read at open holds all of it, but it is released once the footer is
/// read, so the blocks are fetched by range), plus a `_SUCCESS` marker and a hidden file that
/// listings must skip.
fn dataset(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for i in 0..3u64 {
        let p = dir.join(format!("part-{i}.parquet"));
        common::classification_file(&p, i * 3000, 3000, 8, 4, 1000);
        files.push((format!("data/part-{i}.parquet"), p));
    }
    for extra in ["_SUCCESS", ".part-9.parquet"] {
        let p = dir.join(extra);
        std::fs::write(&p, b"not a shard").unwrap();
        files.push((format!("data/{extra}"), p));
    }
    files
}

/// `bytes` with every `from` replaced by `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn ok(o: &Output) -> &Output {
    assert!(o.status.success(), "exit {:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
    o
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `stream --to -` of `data` (2 workers, shuffled, one epoch): the Arrow IPC bytes.
fn stream_args(data: &str) -> Vec<String> {
    ["stream", "--data", data, "--label", "label", "--num-classes", "4", "--batch-size", "128", "--order", "shuffled"]
        .iter()
        .chain(&["--seed", "7", "--epochs", "1", "--workers", "2", "--mixup-alpha", "0.2", "--to", "-", "--quiet"])
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn inspect_stream_augment_and_train_on_s3_match_the_same_runs_on_local_copies() {
    let Some(py) = python() else { return };
    let local = tempfile::tempdir().unwrap();
    let files = dataset(local.path());
    let moto = Moto::start(&py, &[]);
    moto.put("same", &files);
    let dir = local.path().to_str().unwrap();
    let url = "s3://same/data";
    let cmd = |args: &[String]| moto.cli("20").args(args).output().unwrap();
    // The same command on the local directory and on the prefix; `inspect` names the shards,
    // so its local output is compared with the directory replaced by the URL.
    for data in [url.to_string(), format!("{url}/"), format!("{url}/*.parquet")] {
        let s3 = cmd(&["inspect".into(), data.clone()]);
        let here = cmd(&["inspect".into(), dir.to_string()]);
        // The path column's width follows the names: compare with runs of spaces collapsed.
        let words = |o: &Output| {
            String::from_utf8_lossy(&o.stdout).split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
        };
        assert_eq!(words(ok(&s3)), words(ok(&here)).replace(dir, url), "inspect {data}");
    }
    let s3 = cmd(&stream_args(url));
    let here = cmd(&stream_args(dir));
    assert!(ok(&here).stdout.len() > 10_000);
    assert!(ok(&s3).stdout == here.stdout, "stream: the IPC bytes differ");

    let out = tempfile::tempdir().unwrap();
    let augment = |data: &str, to: &Path| {
        let args = ["augment", "--data", data, "--label", "label", "--num-classes", "4", "--batch-size", "100"];
        let more = ["--seed", "3", "--epochs", "1", "--workers", "2", "--mixup-alpha", "0.4", "--quiet", "--out"];
        ok(&moto.cli("20").args(args).args(more).arg(to).output().unwrap());
        let mut files = common::dir_files(to);
        // The configuration's fingerprint hashes the data's name too: it is in the manifest and
        // in every shard's key-value metadata. Replace it (and the name) by placeholders of the
        // same length, and drop the manifest's per-shard checksums of those bytes.
        let manifest = String::from_utf8_lossy(&files[0].1).into_owned();
        let fp = manifest
            .split("\"fingerprint\": \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("fingerprint")
            .to_string();
        for (name, bytes) in &mut files {
            let mut replaced = replace(bytes, fp.as_bytes(), &vec![b'F'; fp.len()]);
            if name.ends_with(".json") {
                let text = String::from_utf8_lossy(&replaced).replace(dir, "DATA").replace(url, "DATA");
                replaced =
                    text.lines().filter(|l| !l.contains("\"crc32\"")).collect::<Vec<_>>().join("\n").into_bytes();
            }
            *bytes = replaced;
        }
        files
    };
    let (a, b) = (augment(url, &out.path().join("s3")), augment(dir, &out.path().join("local")));
    assert!(a.iter().filter(|(n, _)| n.ends_with(".parquet")).count() > 0);
    assert_eq!(a.iter().map(|f| &f.0).collect::<Vec<_>>(), b.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "augment: {name} differs");
    }

    let train = |data: &str, to: &Path| {
        let args = ["train", "vae", "--data", data, "--label", "label", "--num-classes", "4", "--steps", "4"];
        ok(&moto
            .cli("20")
            .args(args)
            .args(["--seed", "5", "--workers", "2", "--quiet", "--out"])
            .arg(to)
            .output()
            .unwrap());
        std::fs::read(to).unwrap()
    };
    let (a, b) = (train(url, &out.path().join("s3.safetensors")), train(dir, &out.path().join("local.safetensors")));
    // The safetensors header's keys come in no fixed order (two local runs differ there too):
    // compare the header as JSON and the tensor bytes exactly.
    let split = |m: &[u8]| {
        let n = u64::from_le_bytes(m[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&m[8..8 + n]).unwrap();
        (header, m[8 + n..].to_vec())
    };
    let ((ha, ta), (hb, tb)) = (split(&a), split(&b));
    assert_eq!(ha, hb, "train vae: the model headers differ");
    assert!(ta.len() > 1000 && ta == tb, "train vae: the weights differ");
}

/// The shard names `inspect` prints for `spec` (the words that are URLs).
fn listed(moto: &Moto, spec: &str) -> Result<Vec<String>, String> {
    let o = moto.cli("20").args(["inspect", spec]).output().unwrap();
    if !o.status.success() {
        return Err(stderr(&o));
    }
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut names: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .filter(|w| w.starts_with("s3://"))
        .map(|w| w.trim_end_matches([',', ')', ':']).to_string())
        .collect();
    names.dedup();
    Ok(names)
}

#[test]
fn prefixes_and_globs_list_the_right_shards() {
    let Some(py) = python() else { return };
    let local = tempfile::tempdir().unwrap();
    let shard = |name: &str, first: u64| {
        let p = local.path().join(name.replace('/', "-"));
        common::classification_file(&p, first, 10, 2, 2, 10);
        (name.to_string(), p)
    };
    let marker = local.path().join("marker");
    std::fs::write(&marker, b"x").unwrap();
    let files = vec![
        shard("d/a.parquet", 0),
        shard("d/b.parquet", 10),
        shard("d/sub/c.parquet", 20),
        shard("d/.hidden.parquet", 30),
        shard("d/_tmp.parquet", 40),
        shard("dx/e.parquet", 50),
        shard("top.parquet", 60),
        ("d/_SUCCESS".to_string(), marker.clone()),
        ("d/notes.txt".to_string(), marker),
    ];
    let moto = Moto::start(&py, &[]);
    moto.put("lists", &files);
    let names = |v: &[&str]| v.iter().map(|k| format!("s3://lists/{k}")).collect::<Vec<_>>();
    // A prefix is one directory level, *.parquet only, hidden and `_` names skipped.
    assert_eq!(listed(&moto, "s3://lists/d/").unwrap(), names(&["d/a.parquet", "d/b.parquet"]));
    assert_eq!(listed(&moto, "s3://lists/d").unwrap(), names(&["d/a.parquet", "d/b.parquet"]));
    assert_eq!(listed(&moto, "s3://lists").unwrap(), names(&["top.parquet"]));
    // A glob's `*` stops at `/`, as for local paths.
    assert_eq!(listed(&moto, "s3://lists/d/*.parquet").unwrap(), names(&["d/a.parquet", "d/b.parquet"]));
    assert_eq!(listed(&moto, "s3://lists/d/*/*.parquet").unwrap(), names(&["d/sub/c.parquet"]));
    assert_eq!(listed(&moto, "s3://lists/d*/[ae].parquet").unwrap(), names(&["d/a.parquet", "dx/e.parquet"]));
    // One object.
    assert_eq!(listed(&moto, "s3://lists/d/b.parquet").unwrap(), names(&["d/b.parquet"]));
    // Nothing there: the usual error, naming the URL.
    for empty in ["s3://lists/nothing/", "s3://lists/d/*.csv"] {
        let err = listed(&moto, empty).unwrap_err();
        assert!(err.contains("no Parquet shards found") && err.contains(empty), "{empty}: {err}");
    }
    // A bucket that does not exist: an error naming it, at once.
    let t = Instant::now();
    let err = listed(&moto, "s3://no-such-bucket/d/").unwrap_err();
    assert!(err.contains("s3://no-such-bucket/d/"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
}

#[test]
fn answers_of_503_are_retried_and_the_output_is_unchanged() {
    let Some(py) = python() else { return };
    let local = tempfile::tempdir().unwrap();
    let files = dataset(local.path());
    let moto = Moto::start(&py, &["--fail-every", "3", "--fail-status", "503"]);
    moto.put("flaky", &files);
    let dir = local.path().to_str().unwrap();
    let s3 = moto.cli("30").args(stream_args("s3://flaky/data/")).output().unwrap();
    let here = moto.cli("30").args(stream_args(dir)).output().unwrap();
    assert!(ok(&s3).stdout == ok(&here).stdout, "the IPC bytes differ");
    let (requests, injected) = moto.stats();
    assert!(injected >= 3, "only {injected} of {requests} requests failed: the retries were not exercised");
}

#[test]
fn a_stream_costs_one_request_per_shard_opened_and_one_per_block() {
    let Some(py) = python() else { return };
    let local = tempfile::tempdir().unwrap();
    let files = dataset(local.path());
    let moto = Moto::start(&py, &[]);
    moto.put("count", &files);
    let (before, _) = moto.stats();
    let run = |data: &str| {
        let args = ["stream", "--data", data, "--label", "label", "--num-classes", "4", "--batch-size", "128"];
        let more = ["--order", "sequential", "--epochs", "1", "--workers", "2", "--to", "-", "--quiet"];
        moto.cli("20").args(args).args(more).output().unwrap()
    };
    let s3 = run("s3://count/data/");
    let (after, _) = moto.stats();
    let here = run(local.path().to_str().unwrap());
    assert!(ok(&s3).stdout == ok(&here).stdout, "the IPC bytes differ");
    // One listing, one GET of each shard's tail (footer and page index), and one request per
    // block of 1,000 rows (its column chunks coalesced). Each further round trip per shard or
    // per block is a store's latency again: a block's small pages were fetched a second time
    // after the block (its bytes already in memory), and each shard's page index by two more.
    let (shards, blocks) = (3, 9);
    assert_eq!(after - before, 1 + shards + blocks, "requests of one stream over {shards} shards of {blocks} blocks");
}

/// One 100 KiB shard `data/part-0.parquet` in `bucket`, and a second version of it with other
/// values (for the object replaced mid-run).
fn one_shard(dir: &Path) -> (Vec<(String, PathBuf)>, PathBuf) {
    let p = dir.join("part-0.parquet");
    common::classification_file(&p, 0, 3000, 8, 4, 1000);
    let other = dir.join("other.parquet");
    common::classification_file(&other, 5, 3000, 8, 4, 1000);
    (vec![("data/part-0.parquet".to_string(), p)], other)
}

#[test]
fn an_object_replaced_mid_run_is_a_shard_changed_error_or_skipped() {
    let Some(py) = python() else { return };
    let local = tempfile::tempdir().unwrap();
    let (files, other) = one_shard(local.path());
    let mut second = files.clone();
    second.push(("data/part-1.parquet".to_string(), local.path().join("part-1.parquet")));
    common::classification_file(&second[1].1, 3000, 500, 8, 4, 500);
    for skip in [false, true] {
        let action = format!("replace:changing/data/part-0.parquet:{}", other.display());
        let moto = Moto::start(&py, &["--on-data-read", &action]);
        moto.put("changing", &second);
        let mut c = moto.cli("20");
        c.args(stream_args("s3://changing/data/"));
        if skip {
            c.args(["--on-bad-shard", "skip"]);
        }
        let o = c.output().unwrap();
        let err = stderr(&o);
        if skip {
            ok(&o);
            assert!(err.contains("s3://changing/data/part-0.parquet"), "no skip reported: {err}");
        } else {
            assert!(!o.status.success(), "a changed object was read");
            assert!(err.contains("s3://changing/data/part-0.parquet") && err.contains("changed"), "{err}");
        }
    }
}

#[test]
fn a_store_that_goes_away_or_stops_answering_is_a_clear_error_in_bounded_time() {
    let Some(py) = python() else { return };
    let local = tempfile::tempdir().unwrap();
    let (files, _) = one_shard(local.path());
    for action in ["exit", "hang"] {
        let moto = Moto::start(&py, &["--on-data-read", action]);
        moto.put("gone", &files);
        let t = Instant::now();
        let o = moto.cli("3").args(stream_args("s3://gone/data/part-0.parquet")).output().unwrap();
        let took = t.elapsed();
        let err = stderr(&o);
        assert!(!o.status.success(), "{action}: the run succeeded");
        assert!(err.contains("s3://gone/data/part-0.parquet"), "{action}: the object is not named: {err}");
        assert!(took < Duration::from_secs(20), "{action}: took {took:?} with a 3 s bound");
        if action == "hang" {
            assert!(err.contains("SHARDMIX_STORE_TIMEOUT"), "{err}");
        }
    }
}
