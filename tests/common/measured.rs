//! Run the CLI as a child process and measure it with `wait4`: wall time, CPU time (user +
//! system, which a loaded machine does not inflate the way it inflates wall time) and peak
//! resident memory. Included with `#[path]` by the tests that bound a run's time and memory.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run of the CLI did.
#[allow(dead_code)] // each test that includes this file reads some of the fields
pub struct Run {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// Wall time.
    pub took: Duration,
    /// CPU time of the child, user + system.
    pub cpu: Duration,
    /// Peak resident memory of the child, bytes.
    pub peak: u64,
}

/// Run the CLI with `args`, collecting its output and measuring it.
// The child is reaped by `wait4` (which reports its usage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn cli(args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).map(|_| buf)
    });
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it and reaps our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    let took = start.elapsed();
    let stdout = stdout.join().unwrap().unwrap();
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    // Linux reports ru_maxrss in KiB.
    Run { success, stdout, stderr, took, cpu, peak: usage.ru_maxrss as u64 * 1024 }
}
