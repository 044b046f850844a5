//! The `shardmix` binary: parses the command line, runs it, prints errors with their causes.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tune_malloc();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stdout (e.g. `| head`) is not a failure of ours.
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", e.chain());
            // Ctrl-C (a StopToken stopped by SIGINT): the shell's convention, 128 + SIGINT.
            if matches!(e.kind(), shardmix::ErrorKind::Interrupted { .. }) {
                return ExitCode::from(130);
            }
            ExitCode::FAILURE
        }
    }
}

/// Keep freed memory in the process instead of handing it back to the kernel at once (glibc
/// only; the library never does this, an application decides). glibc by default returns the
/// top of a heap once 128 KiB of it is free and serves blocks from 128 KiB on (up to 32 MiB
/// as it adapts) with their own `mmap`, so each batch's buffers and each page were faulted
/// in again. `shardmix stream` on pyarrow's default file (1 Mi rows, 2 workers, 6 runs each,
/// alternating, as GLIBC_TUNABLES then as this call): page faults 80–102 k → 62–65 k, CPU
/// time 0.94–1.23 s → 0.82–1.07 s, peak RSS unchanged (259–271 MiB).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of glibc's tunables; it is called before any other
    // thread exists.
    unsafe {
        // Give a heap's free top back only once 64 MiB of it is free.
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        // Serve up to 32 MiB from the heaps (reused), not by a fresh mmap each time.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

fn is_broken_pipe(e: &shardmix::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::BrokenPipe;
        }
        cur = err.source();
    }
    false
}
