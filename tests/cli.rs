//! The `shardmix` binary end to end: augment (read back by the library and pyarrow, resumed
//! after kill -9 to identical bytes), stream over a Unix socket and TCP to a pyarrow client,
//! a client that disconnects, the config file, and error reporting.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shardmix::{Features, Mixup, Order, Pipeline, Result, ShardSet, Target};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shardmix"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).arg("--quiet").output().expect("run shardmix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn augment_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "augment",
        "--data",
        "examples/data/digits.parquet",
        "--out",
        out,
        "--batch-size",
        "64",
        "--steps",
        "40",
        "--rows-per-shard",
        "512",
        "--provenance",
        "--seed",
        "9",
    ];
    a.extend_from_slice(extra);
    a
}

#[test]
fn augment_output_equals_the_library_pipeline_and_pyarrow_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = run(&augment_args(out.to_str().unwrap(), &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = common::dir_files(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec![
            ".shardmix-manifest.json",
            ".shardmix-run.json",
            "part-00000.parquet",
            "part-00001.parquet",
            "part-00002.parquet",
            "part-00003.parquet",
            "part-00004.parquet"
        ]
    );

    // The same pipeline in-process.
    let source = ShardSet::open(digits()).unwrap().target(Target::auto("label")).unwrap();
    let expected: Vec<shardmix::Batch> = Pipeline::builder()
        .source(source)
        .order(Order::offset(64))
        .stage(Mixup::new(0.2))
        .seed(9)
        .steps(40)
        .build()
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    let written =
        ShardSet::open(&out).unwrap().features(Features::prefix("p")).unwrap().target(Target::soft("target")).unwrap();
    assert_eq!(written.num_rows(), 40 * 64);
    let back = written.read_rows(0..written.num_rows()).unwrap();
    for (k, b) in expected.iter().enumerate() {
        let rows = k * 64..(k + 1) * 64;
        assert_eq!(back.features.slice(ndarray::s![rows.clone(), ..]), b.features, "step {k}");
        assert_eq!(
            back.targets.as_ref().unwrap().slice(ndarray::s![rows, ..]),
            b.targets.as_ref().unwrap(),
            "step {k}"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(shardmix::format::MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest["shards"].as_array().unwrap().len(), 5);

    let Some(py) = common::venv_python() else { return };
    let script = r#"
import json, sys, pyarrow.parquet as pq, numpy as np
d = sys.argv[1]
t = pq.read_table(d + "/part-00000.parquet")
assert t.num_rows == 512, t.num_rows
assert t.column_names[:2] == ["p0", "p1"] and "target" in t.column_names and "lambda" in t.column_names, t.column_names
tgt = np.stack(t.column("target").to_numpy(zero_copy_only=False))
assert tgt.shape == (512, 10) and np.allclose(tgt.sum(axis=1), 1.0, atol=1e-5)
lam = t.column("lambda").to_numpy(zero_copy_only=False)
assert ((lam >= 0) & (lam <= 1)).all()
total = sum(pq.read_metadata(f"{d}/part-{k:05d}.parquet").num_rows for k in range(5))
m = json.load(open(d + "/.shardmix-manifest.json"))
assert total == 2560 == sum(s["rows"] for s in m["shards"]), (total, m["shards"])
print("pyarrow ok")
"#;
    let o = Command::new(py).arg("-c").arg(script).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
}

#[test]
fn kill_9_during_augment_then_rerun_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let args = |out: &Path| -> Vec<String> {
        [
            "augment",
            "--data",
            "examples/data/digits.parquet",
            "--out",
            out.to_str().unwrap(),
            "--batch-size",
            "32",
            "--steps",
            "3000",
            "--rows-per-shard",
            "3200",
            "--workers",
            "1",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let o = bin().args(args(&reference)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let out = dir.path().join("interrupted");
    let mut killed_with_partial = false;
    for attempt in 0..20 {
        let mut child: Child = bin().args(args(&out)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // Wait until some shard is complete and another is being written, then kill -9.
        let t = Instant::now();
        loop {
            let names: Vec<String> = std::fs::read_dir(&out)
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let done = names.iter().filter(|n| n.starts_with("part-")).count();
            if (done > attempt % 3 && names.iter().any(|n| n.ends_with(".tmp")))
                || t.elapsed() > Duration::from_secs(20)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        if !out.join(shardmix::format::MANIFEST_FILE).exists() {
            killed_with_partial = true;
            // Nothing under a final name is partial: every part-*.parquet is a complete file.
            for (name, bytes) in common::dir_files(&out) {
                if name.starts_with("part-") {
                    assert!(
                        common::dir_files(&reference).iter().any(|(n, b)| *n == name && *b == bytes),
                        "{name} differs from the reference"
                    );
                }
            }
            break;
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
    assert!(killed_with_partial, "never managed to kill augment mid-run");
    let o = bin().args(args(&out)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(common::dir_files(&out), common::dir_files(&reference));
}

#[test]
fn augment_refuses_another_configuration_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    assert!(run(&augment_args(o, &[])).status.success());
    let again = run(&augment_args(o, &[]));
    assert!(again.status.success());
    assert!(stderr(&again).contains("already complete"), "{}", stderr(&again));
    let other = run(&augment_args(o, &["--mixup-alpha", "0.4"]));
    assert!(!other.status.success());
    assert!(
        stderr(&other).starts_with("error: ") && stderr(&other).contains("different configuration"),
        "{}",
        stderr(&other)
    );
    assert!(run(&augment_args(o, &["--mixup-alpha", "0.4", "--overwrite"])).status.success());
}

/// Start `shardmix stream --to DEST`, wait for its "listening on" line, return it and the address.
fn start_stream(dest: &str, steps: u64) -> (Child, String) {
    let mut child = bin()
        .args(["stream", "--data", "examples/data/digits.parquet", "--batch-size", "100", "--quiet", "--to", dest])
        .args(["--steps", &steps.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {first}")).to_string();
    // Keep draining stderr so the child never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

#[test]
fn stream_to_a_pyarrow_client_over_unix_socket_and_tcp() {
    let Some(py) = common::venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/shardmix_client.py");
    for dest in [format!("unix:{}", sock.display()), "tcp:127.0.0.1:0".to_string()] {
        let (mut child, addr) = start_stream(&dest, 30);
        if let Some(path) = addr.strip_prefix("unix:") {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "socket mode");
        }
        let o = Command::new(&py).arg(&client).arg(&addr).output().unwrap();
        let err = stderr(&o);
        assert!(o.status.success(), "{dest}: {err}");
        assert!(err.contains("ok: 3000 rows in 30 batches"), "{dest}: {err}");
        assert!(child.wait().unwrap().success(), "{dest}");
    }
}

#[test]
fn a_client_that_disconnects_ends_the_run_non_zero() {
    let (mut child, addr) = start_stream("tcp:127.0.0.1:0", 100_000);
    let hostport = addr.strip_prefix("tcp:").unwrap();
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    let mut buf = [0u8; 4096];
    s.read_exact(&mut buf).unwrap();
    drop(s);
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "stream kept running after the client left");
        std::thread::sleep(Duration::from_millis(20));
    };
    // A cut-short run is a failure (tests/stream_hardening.rs checks the message).
    assert_eq!(status.code(), Some(1), "{status:?}");
}

#[test]
fn stream_to_stdout_is_a_verified_ipc_stream() {
    let o = bin()
        .args([
            "stream",
            "--data",
            "examples/data/digits.parquet",
            "--batch-size",
            "50",
            "--steps",
            "7",
            "--to",
            "-",
            "--provenance",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (batches, trailer) = shardmix::read_verified_stream(o.stdout.as_slice()).unwrap();
    assert_eq!((batches.len(), trailer.rows, trailer.batches), (7, 350, 7));
    assert!(batches[0].schema().column_with_name("lambda").is_some());
}

#[test]
fn config_file_with_flags_overriding_and_unknown_keys_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(&cfg, "data = [\"examples/data/digits.parquet\"]\nbatch_size = 10\nsteps = 3\nmixup_alpha = 0.0\n")
        .unwrap();
    let o =
        bin().args(["stream", "--config", cfg.to_str().unwrap(), "--batch-size", "20", "--to", "-"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, trailer) = shardmix::read_verified_stream(o.stdout.as_slice()).unwrap();
    assert_eq!(trailer.rows, 60);
    std::fs::write(&cfg, "data = [\"examples/data/digits.parquet\"]\nbatch_sise = 10\n").unwrap();
    let o = bin().args(["stream", "--config", cfg.to_str().unwrap(), "--to", "-"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("batch_sise"), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "no data on stdout after an error");
}

#[test]
fn errors_print_one_clear_line_and_exit_non_zero() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["inspect", "/nonexistent/data.parquet"], "/nonexistent/data.parquet"),
        (vec!["inspect", "examples/data/digits.parquet", "--features", "nope"], "no column 'nope'"),
        (vec!["stream", "--data", "examples/data/digits.parquet", "--batch-size", "5000", "--to", "-"], "batch size"),
        (vec!["stream", "--data", "examples/data/digits.parquet", "--mixup-alpha=-1", "--to", "-"], "mixup_alpha"),
        (vec!["stream", "--data", "examples/data/digits.parquet", "--to", "tcp:8.8.8.8:9"], "loopback"),
    ];
    for (args, want) in cases {
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
