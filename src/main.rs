//! The `shardmix` binary: parses the command line, runs it, prints errors with their causes.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
