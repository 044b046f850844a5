//! `shardmix stream` against trainers that misbehave and paths that are not what they seem
//! (issue 14, point 7), running the binary:
//! * a trainer that disconnects before the end makes the run exit non-zero, naming the
//!   batches sent;
//! * a trainer that connects and never reads (TCP, Unix socket, a pipe on stdout) makes the
//!   run exit non-zero within `--send-timeout`;
//! * `--send-timeout` is validated, and huge timeouts do not overflow the clock;
//! * a second run on a live run's socket fails at once without taking its one client (the
//!   socket lock), a stale socket is replaced, a live foreign listener and any other file at
//!   the path are left alone, and a symbolic link as the lock file is refused.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shardmix"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// `stream` on the bundled digits: batches of 100 rows (about 30 KB each), `steps` of them.
fn stream_args(steps: u64, to: &str) -> Vec<String> {
    let steps = steps.to_string();
    [
        "stream",
        "--data",
        "examples/data/digits.parquet",
        "--batch-size",
        "100",
        "--steps",
        &steps,
        "--quiet",
        "--to",
        to,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A running `shardmix stream` whose stderr is collected.
struct Running {
    child: Child,
    addr: String,
    rest: JoinHandle<String>,
}

/// Start `shardmix stream ARGS EXTRA` to a socket and wait for its "listening on" line.
fn start(args: &[String], extra: &[&str]) -> Running {
    let mut child = bin().args(args).args(extra).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {first}")).to_string();
    let rest = std::thread::spawn(move || lines.map_while(|l| l.ok()).collect::<Vec<_>>().join("\n"));
    Running { child, addr, rest }
}

/// Wait for `child` at most `limit`; kill it and fail the test after that.
fn wait_at_most(child: &mut Child, limit: Duration) -> (ExitStatus, Duration) {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st, t.elapsed());
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("the stream still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_trainer_that_disconnects_mid_stream_ends_the_run_non_zero() {
    let mut run = start(&stream_args(100_000, "tcp:127.0.0.1:0"), &[]);
    let mut s = std::net::TcpStream::connect(run.addr.strip_prefix("tcp:").unwrap()).unwrap();
    let mut buf = vec![0u8; 200_000];
    s.read_exact(&mut buf).unwrap(); // a few batches, then go away
    drop(s);
    let (status, _) = wait_at_most(&mut run.child, Duration::from_secs(30));
    let err = run.rest.join().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("error: ") && err.contains("the client disconnected after"), "{err}");
    // The count of batches sent is named and plausible (at least the ones read).
    let sent: u64 = err
        .split("disconnected after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no batch count in: {err}"));
    assert!(sent >= 5, "{err}");
}

/// The run must end non-zero within the send timeout (plus the time to fill the kernel's
/// buffers and a margin for a busy machine), saying the client stopped reading.
fn assert_stopped_reading(mut run: Running, timeout: u64, keep: impl FnOnce()) {
    let (status, elapsed) = wait_at_most(&mut run.child, Duration::from_secs(timeout + 30));
    keep();
    let err = run.rest.join().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("the client stopped reading after"), "{err}");
    assert!(err.contains("send timeout"), "{err}");
    assert!(elapsed < Duration::from_secs(timeout + 15), "took {elapsed:?}: {err}");
}

#[test]
fn a_trainer_that_stops_reading_ends_the_run_within_the_send_timeout() {
    // TCP: connect, never read, stay connected.
    let run = start(&stream_args(1_000_000, "tcp:127.0.0.1:0"), &["--send-timeout", "2"]);
    let s = std::net::TcpStream::connect(run.addr.strip_prefix("tcp:").unwrap()).unwrap();
    assert_stopped_reading(run, 2, move || drop(s));
    // Unix socket.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let run = start(&stream_args(1_000_000, &format!("unix:{}", sock.display())), &["--send-timeout", "2"]);
    let s = UnixStream::connect(&sock).unwrap();
    assert_stopped_reading(run, 2, move || drop(s));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the socket and its lock file are removed");
}

#[test]
fn a_pipe_on_stdout_that_is_never_read_ends_the_run_within_the_send_timeout() {
    let mut args = stream_args(1_000_000, "-");
    args.extend(["--send-timeout".to_string(), "2".to_string()]);
    let mut child = bin().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap(); // held open, never read
    let mut stderr = child.stderr.take().unwrap();
    let (status, elapsed) = wait_at_most(&mut child, Duration::from_secs(40));
    drop(stdout);
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("the client stopped reading after"), "{err}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}: {err}");
}

#[test]
fn send_timeout_is_validated_and_huge_timeouts_do_not_overflow() {
    let digits = ["stream", "--data", "examples/data/digits.parquet", "--steps", "2", "--quiet", "--to", "-"];
    for bad in ["0", "31536001", "18446744073709551615"] {
        let o = bin().args(digits).args(["--send-timeout", bad]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{bad}: {err}");
        assert!(err.contains("send_timeout") && !err.contains("panicked"), "{bad}: {err}");
        assert!(o.stdout.is_empty(), "{bad}: nothing is sent after a flag error");
    }
    // The largest accepted timeouts: a full run, no overflow of the clock.
    let o = bin().args(digits).args(["--send-timeout", "31536000"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, trailer) = shardmix::read_verified_stream(o.stdout.as_slice()).unwrap();
    assert_eq!(trailer.batches, 2);
    // A huge --accept-timeout is a flag error naming it (it used to overflow the clock).
    let o = bin().args(digits).args(["--accept-timeout", "18446744073709551615"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("accept_timeout") && !err.contains("panicked"), "{err}");
    let run =
        start(&stream_args(3, "tcp:127.0.0.1:0"), &["--accept-timeout", "31536000", "--send-timeout", "31536000"]);
    let s = std::net::TcpStream::connect(run.addr.strip_prefix("tcp:").unwrap()).unwrap();
    let (_, trailer) = shardmix::read_verified_stream(s).unwrap();
    assert_eq!(trailer.batches, 3);
    let Running { mut child, rest, .. } = run;
    let (status, _) = wait_at_most(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{}", rest.join().unwrap());
}

#[test]
fn a_second_run_on_a_live_socket_fails_without_taking_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let to = format!("unix:{}", sock.display());
    let first = start(&stream_args(5, &to), &[]);
    let t = Instant::now();
    let o = bin().args(stream_args(5, &to)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("another shardmix run") && err.contains(".lock"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(20), "the second run must fail at once");
    // The first run still has its one client to serve, and serves it completely.
    let s = UnixStream::connect(&sock).unwrap();
    let (batches, trailer) = shardmix::read_verified_stream(s).unwrap();
    assert_eq!((batches.len(), trailer.batches, trailer.rows), (5, 5, 500));
    let Running { mut child, rest, .. } = first;
    let (status, _) = wait_at_most(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{}", rest.join().unwrap());
    // Nothing is left behind: no socket, no lock file, no private bind directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Serve 2 batches at `sock` and check the client gets them all.
fn serves(sock: &Path) {
    let run = start(&stream_args(2, &format!("unix:{}", sock.display())), &[]);
    let (_, trailer) = shardmix::read_verified_stream(UnixStream::connect(sock).unwrap()).unwrap();
    assert_eq!(trailer.batches, 2);
    let Running { mut child, rest, .. } = run;
    let (status, _) = wait_at_most(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{}", rest.join().unwrap());
}

/// `stream --to unix:SOCK` must fail with `want` in its error.
fn refuses(sock: &Path, want: &str) {
    let o = bin().args(stream_args(2, &format!("unix:{}", sock.display()))).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(want), "{err}");
}

#[test]
fn only_a_refused_socket_is_stale_and_nothing_else_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    // A crashed run's socket (nobody listens, connecting is refused) and its lock file.
    let sock = dir.path().join("stale.sock");
    drop(UnixListener::bind(&sock).unwrap());
    std::fs::write(dir.path().join("stale.sock.lock"), b"").unwrap();
    serves(&sock);
    assert!(!sock.exists());
    // A live listener of another program (no lock): left alone, still listening.
    let live = dir.path().join("live.sock");
    let listener = UnixListener::bind(&live).unwrap();
    refuses(&live, "listening");
    assert!(live.exists());
    drop(UnixStream::connect(&live).expect("the foreign listener still works"));
    drop(listener);
    // A regular file, and a symbolic link, at the socket path: kept as they are.
    let file = dir.path().join("data.bin");
    std::fs::write(&file, b"keep").unwrap();
    refuses(&file, "not a socket");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    refuses(&link, "not a socket");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    // A symbolic link as the lock file is not followed: its target is neither created nor opened.
    let elsewhere = dir.path().join("elsewhere");
    let sock = dir.path().join("l.sock");
    std::os::unix::fs::symlink(&elsewhere, dir.path().join("l.sock.lock")).unwrap();
    refuses(&sock, "symbolic link");
    assert!(!elsewhere.exists() && !sock.exists());
}
