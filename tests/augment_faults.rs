//! `shardmix augment` when its output fails (issue 9, item 2, the output side):
//!
//! * **full output** — simulated without root: the binary runs under
//!   `bash -c "trap '' XFSZ; ulimit -f N; exec shardmix …"`. The size limit (RLIMIT_FSIZE)
//!   and the ignored SIGXFSZ are inherited over `exec`, so a write past N KiB fails with
//!   EFBIG ("File too large") as it would on a full disk. Once inside the first shard, once
//!   at the manifest after every shard was written. (A failure after some shards, inside a
//!   later one, is the unit test `sink::parquet::tests::a_full_disk_…` with a byte budget.)
//! * **unwritable output** — `--out` under a regular file and `--out` naming a regular file
//!   (both fail for root too); a read-only directory only when the tests are not privileged
//!   (root ignores permission bits: that case is then skipped with a message).
//! * **two runs on one directory** — the second fails at once naming the directory and the
//!   first's pid; a lock left by a run killed with SIGKILL does not block the rerun.
//!
//! Each checks the error names the file or directory, that no `*.parquet` in the output
//! directory is unreadable (by our reader and, when `SHARDMIX_PYTHON` is set, pyarrow) or
//! differs from an undisturbed run, and that a rerun completes with byte-identical output.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shardmix::{Features, ShardSet, Target};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shardmix"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// `augment` of the bundled digits into `out`: `steps` batches of `batch` rows, `per_shard`
/// rows per shard, provenance columns on.
fn augment(out: &Path, batch: u64, steps: u64, per_shard: u64) -> Vec<String> {
    let mut a: Vec<String> =
        ["augment", "--data", "examples/data/digits.parquet", "--out"].iter().map(|s| s.to_string()).collect();
    a.push(out.display().to_string());
    for (k, v) in [("--batch-size", batch), ("--steps", steps), ("--rows-per-shard", per_shard), ("--seed", 3)] {
        a.push(k.to_string());
        a.push(v.to_string());
    }
    a.extend(["--provenance", "--workers", "1", "--quiet"].iter().map(|s| s.to_string()));
    a
}

fn run(args: &[String]) -> Output {
    bin().args(args).output().expect("run shardmix")
}

/// Run the binary with a file size limit of `kib` KiB and SIGXFSZ ignored.
fn run_with_file_limit(kib: u64, args: &[String]) -> Output {
    Command::new("bash")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f "$1" || exit 99; shift; exec "$@""#)
        .arg("bash")
        .arg(kib.to_string())
        .arg(env!("CARGO_BIN_EXE_shardmix"))
        .args(args)
        .output()
        .expect("run bash (needed for ulimit)")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn names(dir: &Path) -> Vec<String> {
    common::dir_files(dir).into_iter().map(|(n, _)| n).collect()
}

/// Run the undisturbed reference into `dir`.
fn reference(dir: &Path, args: &[String]) -> Vec<(String, Vec<u8>)> {
    let o = run(args);
    assert!(o.status.success(), "reference run: {}", stderr(&o));
    common::dir_files(dir)
}

/// The error line of a failed run: exit code 1, one `error: ` line, no panic.
fn failure(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected a clean failure (a signal death has no code): {err}");
    assert!(err.starts_with("error: ") && !err.contains("panicked"), "{err}");
    err
}

/// Every `*.parquet` in `dir` is one of the reference's files, byte for byte, and readable:
/// by our reader (all rows decoded) and, when available, by pyarrow. Returns how many.
fn parquet_files_are_complete(dir: &Path, want: &[(String, Vec<u8>)]) -> usize {
    let shards: Vec<(String, Vec<u8>)> =
        common::dir_files(dir).into_iter().filter(|(n, _)| n.ends_with(".parquet")).collect();
    for (name, bytes) in &shards {
        assert!(want.iter().any(|(n, b)| n == name && b == bytes), "{name} differs from the undisturbed run");
    }
    if shards.is_empty() {
        return 0;
    }
    let set =
        ShardSet::open(dir).unwrap().features(Features::prefix("p")).unwrap().target(Target::soft("target")).unwrap();
    assert_eq!(set.shards().len(), shards.len());
    let rows = set.read_rows(0..set.num_rows()).unwrap();
    assert_eq!(rows.features.nrows() as u64, set.num_rows());
    assert!(rows.features.iter().all(|v| v.is_finite()));
    if let Some(py) = common::venv_python() {
        let script = r#"
import glob, sys, pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + "/*.parquet"))
rows = sum(pq.read_table(f).num_rows for f in files)
print(len(files), rows)
"#;
        let o = Command::new(py).arg("-c").arg(script).arg(dir).output().unwrap();
        assert!(o.status.success(), "pyarrow: {}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("{} {}", shards.len(), set.num_rows()));
    }
    shards.len()
}

#[test]
fn a_file_size_limit_inside_a_shard_names_it_publishes_nothing_and_a_rerun_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let reference_dir = dir.path().join("reference");
    let want = reference(&reference_dir, &augment(&reference_dir, 16, 40, 128));
    let smallest = want.iter().filter(|(n, _)| n.ends_with(".parquet")).map(|(_, b)| b.len()).min().unwrap();
    assert!(smallest > 8 * 1024, "shards of {smallest} bytes fit under the 8 KiB limit: the test proves nothing");

    let out = dir.path().join("out");
    let o = run_with_file_limit(8, &augment(&out, 16, 40, 128));
    let err = failure(&o);
    let tmp = out.join(".part-00000.parquet.tmp");
    assert!(err.contains(&tmp.display().to_string()), "the error names the shard being written: {err}");
    assert!(err.contains("File too large"), "{err}");
    // Nothing but the run file: no shard, no temporary file.
    assert_eq!(names(&out), [shardmix::format::RUN_FILE]);
    assert_eq!(parquet_files_are_complete(&out, &want), 0);

    let o = run(&augment(&out, 16, 40, 128));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(common::dir_files(&out) == want, "the rerun differs from the undisturbed run");
}

#[test]
fn a_file_size_limit_at_the_manifest_keeps_every_shard_and_a_rerun_only_adds_the_manifest() {
    // Many one-step shards of ~16 KiB and a manifest of ~33 KiB: the limit falls between them.
    let dir = tempfile::tempdir().unwrap();
    let reference_dir = dir.path().join("reference");
    let args = |out: &Path| augment(out, 8, 200, 8);
    let want = reference(&reference_dir, &args(&reference_dir));
    let largest = want.iter().filter(|(n, _)| n.ends_with(".parquet")).map(|(_, b)| b.len()).max().unwrap();
    let manifest = want.iter().find(|(n, _)| n == shardmix::format::MANIFEST_FILE).unwrap().1.len();
    let kib = (largest + manifest) as u64 / 2 / 1024;
    assert!(
        (largest as u64) < kib * 1024 && kib * 1024 < manifest as u64,
        "no file size limit separates shards ({largest} bytes) from the manifest ({manifest} bytes)"
    );

    let out = dir.path().join("out");
    let o = run_with_file_limit(kib, &args(&out));
    let err = failure(&o);
    assert!(err.contains(&out.join(format!("{}.tmp", shardmix::format::MANIFEST_FILE)).display().to_string()), "{err}");
    assert!(err.contains("File too large"), "{err}");
    let got = names(&out);
    assert!(!got.iter().any(|n| n == shardmix::format::MANIFEST_FILE || n.ends_with(".tmp")), "{got:?}");
    assert_eq!(parquet_files_are_complete(&out, &want), 200);

    let o = run(&args(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming at step 200 (200 complete shards kept)"), "{}", stderr(&o));
    assert!(common::dir_files(&out) == want, "the rerun differs from the undisturbed run");
}

/// True when permission bits do not stop this process (root, CAP_DAC_OVERRIDE).
fn permissions_are_ignored(scratch: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = scratch.join("probe");
    std::fs::create_dir(&probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o555)).unwrap();
    let ignored = std::fs::write(probe.join("x"), b"").is_ok();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_dir_all(&probe).unwrap();
    ignored
}

#[test]
fn an_unwritable_output_is_an_error_naming_it_and_writes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"user data").unwrap();

    // --out under a regular file: the directory cannot be created (fails for root too).
    let under = file.join("out");
    let err = failure(&run(&augment(&under, 16, 4, 32)));
    assert!(err.contains(&under.display().to_string()) && err.contains("Not a directory"), "{err}");
    // --out is a regular file.
    let err = failure(&run(&augment(&file, 16, 4, 32)));
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"user data");
    assert_eq!(names(dir.path()), ["a-file"], "nothing was created next to it");

    // A read-only parent directory: only meaningful where permissions are enforced.
    if permissions_are_ignored(dir.path()) {
        eprintln!("read-only directory case skipped: this process ignores permission bits (root)");
        return;
    }
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = ro.join("out");
    let o = run(&augment(&out, 16, 4, 32));
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = failure(&o);
    assert!(err.contains(&out.display().to_string()) && err.contains("Permission denied"), "{err}");
    assert!(!out.exists());
    // An existing output directory made read-only: the run file cannot be written.
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = run(&augment(&out, 16, 4, 32));
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = failure(&o);
    assert!(err.contains(&out.display().to_string()) && err.contains("Permission denied"), "{err}");
    assert!(names(&out).is_empty());
}

/// Start `augment` and wait until it has begun a shard (it holds the directory's lock from
/// before it writes its run file).
fn start_and_wait_for_a_shard(args: &[String], out: &Path) -> Child {
    let mut child = bin().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    loop {
        let writing = std::fs::read_dir(out)
            .map(|d| d.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().ends_with(".tmp")))
            .unwrap_or(false);
        if writing {
            return child;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("augment ended ({status}) before it was seen writing a shard");
        }
        assert!(t.elapsed() < Duration::from_secs(60), "augment never began a shard");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} failed");
}

/// The arguments of the lock tests' runs into `out`.
fn lock_run(out: &Path) -> Vec<String> {
    augment(out, 32, 600, 3200)
}

/// An undisturbed run's files (made under `dir/reference`), and a run into `dir/out` frozen
/// with SIGSTOP once it has begun a shard, so that it surely holds the output lock.
fn reference_and_frozen_run(dir: &Path) -> (Vec<(String, Vec<u8>)>, PathBuf, Child) {
    let reference_dir = dir.join("reference");
    let want = reference(&reference_dir, &lock_run(&reference_dir));
    let out = dir.join("out");
    let first = start_and_wait_for_a_shard(&lock_run(&out), &out);
    signal(&first, "-STOP");
    (want, out, first)
}

#[test]
fn a_second_run_on_the_same_directory_fails_at_once_and_the_first_completes_intact() {
    let dir = tempfile::tempdir().unwrap();
    // The first run is frozen while it holds the lock, so that the race has one outcome.
    let (want, out, mut first) = reference_and_frozen_run(dir.path());
    let before = common::dir_files(&out);
    let mut second = lock_run(&out);
    let t = Instant::now();
    let err = failure(&run(&second));
    // Even a run that would delete files (--overwrite, another configuration) is refused.
    second.extend(["--mixup-alpha", "0.4", "--overwrite"].iter().map(|s| s.to_string()));
    let err_overwrite = failure(&run(&second));
    let waited = t.elapsed();
    assert!(common::dir_files(&out) == before, "a refused run changed the directory");
    signal(&first, "-CONT");
    for e in [&err, &err_overwrite] {
        assert!(e.contains(&out.display().to_string()) && e.contains("another writer"), "{e}");
        if Path::new("/proc/locks").exists() {
            assert!(e.contains(&format!("(pid {})", first.id())), "the error names the holder: {e}");
        }
    }
    assert!(waited < Duration::from_secs(30), "the second runs took {waited:?}: they waited for the lock");
    assert!(first.wait().unwrap().success());
    assert!(common::dir_files(&out) == want, "the first run's output differs from an undisturbed run");
}

#[test]
fn a_run_killed_with_sigkill_leaves_no_lock_that_blocks_the_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let (want, out, mut first) = reference_and_frozen_run(dir.path());
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(!out.join(shardmix::format::MANIFEST_FILE).exists());
    parquet_files_are_complete(&out, &want);
    let o = run(&lock_run(&out));
    assert!(o.status.success(), "the rerun after kill -9: {}", stderr(&o));
    assert!(common::dir_files(&out) == want, "the rerun differs from an undisturbed run");
}
