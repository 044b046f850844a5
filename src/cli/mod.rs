//! The `shardmix` command line.

pub mod args;
pub mod augment;
pub mod demo;
pub mod inspect;
pub mod interrupt;
pub mod progress;
pub mod stream;
pub mod train;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

/// shardmix: a deterministic streaming data loader for ML training — Parquet shards in,
/// Mixup and VAE/GAN-augmented batches out (to Parquet, an Arrow IPC stream, or a trainer).
#[derive(Parser, Debug)]
#[command(name = "shardmix", version, about, long_about = None)]
pub struct Cli {
    /// Hide progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show shards, rows, row groups, schema, detected feature and label columns, class histogram.
    Inspect(inspect::InspectArgs),
    /// Write the augmented stream as Parquet shards (resumable, with a manifest).
    Augment(augment::AugmentArgs),
    /// Serve the augmented stream as Arrow IPC to an external trainer (stdout, Unix socket, TCP).
    Stream(stream::StreamArgs),
    /// Train a (conditional) VAE or GAN on Parquet data, fed by the pipeline.
    Train(train::TrainArgs),
    /// Run the main job on the bundled digits data.
    Demo(demo::DemoArgs),
}

/// The bundled example data, found next to the crate or the working directory.
pub fn bundled_data() -> PathBuf {
    let rel = Path::new("examples/data/digits.parquet");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if rel.exists() {
        rel.to_path_buf()
    } else {
        manifest
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> shardmix::Result<()> {
    let data = bundled_data();
    match cli.command {
        Command::Inspect(a) => inspect::run(a, &data),
        Command::Augment(a) => augment::run(a, cli.quiet),
        Command::Stream(a) => stream::run(a, cli.quiet),
        Command::Train(a) => train::run(a, cli.quiet),
        Command::Demo(a) => demo::run(a, cli.quiet),
    }
}

/// Write to stdout; a closed pipe surfaces as an I/O error (the caller exits quietly).
pub fn write_stdout(text: &str) -> shardmix::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| shardmix::Error::io("<stdout>", e))
}

/// Warn about rows the run skipped (null policy, unreadable shards).
pub fn report_skips(stats: &shardmix::Stats) {
    for note in shardmix::report::skip_notes(stats) {
        eprintln!("{note}");
    }
}
