//! `az://` shards against Azurite, Microsoft's Azure Blob Storage emulator, on loopback in a child
//! process (a real server speaking the Blob REST API, never a mock). scripts/test.sh installs
//! it (scripts/azurite.sh, with npm) and sets `SHARDMIX_AZURITE` to its `azurite-blob`; the
//! shards are uploaded with the Azure SDK of the test venv (tests/python/azure_put.py).
//! Without Node.js the script sets `SHARDMIX_SKIP_AZURE=1` and counts this file as skipped;
//! otherwise a missing Azurite fails, so the test cannot pass by not running.

mod common;

use common::emulator;
use common::range_server::ok;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Azurite's blob service in a child process, killed on drop.
struct Azurite {
    child: Child,
    port: u16,
}

impl Azurite {
    /// Start it on a free loopback port (it prints the port it listens on).
    fn start(bin: &Path) -> Azurite {
        let mut child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--silent"])
            .args(["--skipApiVersionCheck", "--loose", "--disableTelemetry", "--extentMemoryLimit", "256"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut port = None;
        for line in out.lines() {
            let line = line.expect("azurite's output");
            if let Some(p) = line.split("successfully listens on http://127.0.0.1:").nth(1) {
                port = Some(p.trim().parse().expect("azurite's port"));
                break;
            }
        }
        Azurite { child, port: port.expect("azurite did not say where it listens") }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/devstoreaccount1", self.port)
    }

    /// Upload `(name, file)` pairs into `container` (an empty path: an empty blob).
    fn put(&self, py: &Path, container: &str, pairs: &[(&str, &Path)]) {
        let mut c = Command::new(py);
        c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/azure_put.py"))
            .arg(self.endpoint())
            .arg(container);
        for (name, file) in pairs {
            c.arg(name).arg(file);
        }
        ok(&c.output().expect("run azure_put.py"));
    }

    /// The CLI pointed at this emulator, every other `AZURE_*` variable removed.
    fn cli(&self) -> Command {
        let mut c = common::cli_without_env("AZURE");
        c.env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", format!("http://127.0.0.1:{}", self.port))
            .env("SHARDMIX_STORE_TIMEOUT", "20");
        c
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Azurite's program and the venv's Python, or `None` when scripts/test.sh found no Node.js.
fn tools() -> Option<(PathBuf, PathBuf)> {
    if std::env::var_os("SHARDMIX_SKIP_AZURE").is_some() {
        eprintln!("SKIPPED: tests/object_store_azure.rs (SHARDMIX_SKIP_AZURE is set: no Node.js for Azurite)");
        return None;
    }
    let azurite = std::env::var_os("SHARDMIX_AZURITE").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "no Azurite: run `bash scripts/test.sh` (it installs it with npm and sets SHARDMIX_AZURITE), \
             or set SHARDMIX_AZURITE to an azurite-blob, or SHARDMIX_SKIP_AZURE=1 to skip this test"
        )
    });
    Some((azurite, common::venv_python()?))
}

#[test]
fn az_urls_give_the_same_bytes_as_the_local_files() {
    let Some((bin, py)) = tools() else { return };
    let root = common::tempdir();
    let (dir, objects) = emulator::listing_objects(root.path());
    let azurite = Azurite::start(&bin);
    azurite.put(&py, "shards", &emulator::pairs(&objects));
    let here = emulator::local_stream(&dir);
    emulator::check_listings(
        || azurite.cli(),
        &["az://shards/data/", "az://shards/data/*.parquet", "azure://shards/data/"],
        &here,
    );
    // Through the cache: Azure's ETags key the copies as S3's do.
    emulator::check_cache(|| azurite.cli(), "az://shards/data/", &root.path().join("cache"), &here);
    // A container that does not exist is an error naming it, in bounded time.
    let o = azurite.cli().args(["inspect", "az://nope/data/"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("az://nope"), "{}", String::from_utf8_lossy(&o.stderr));
}
