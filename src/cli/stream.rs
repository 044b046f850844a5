//! `shardmix stream`: serve the augmented stream as Arrow IPC to an external trainer.

use std::time::Instant;

use shardmix::{open_stream, ErrorKind, IpcSink, Result};

use super::args::PipelineArgs;

/// Arguments of `stream`.
#[derive(clap::Args, Debug)]
pub struct StreamArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Where to send the stream: `-` (stdout), `unix:PATH` or `tcp:HOST:PORT` (shardmix listens
    /// there and serves the first trainer that connects).
    #[arg(long, value_name = "DEST")]
    pub to: String,
    /// Allow `tcp:` on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Give up when no trainer connects within this many seconds [default: wait forever].
    #[arg(long, value_name = "SECS")]
    pub accept_timeout: Option<u64>,
}

pub fn run(args: StreamArgs, quiet: bool) -> Result<()> {
    let settings = args.pipeline.settings(None)?;
    let accept_timeout =
        args.accept_timeout.map(|s| shardmix::settings::timeout_secs("accept_timeout", s)).transpose()?;
    // Validate everything (data, columns, stages, models) before listening.
    let mut pipeline = settings.pipeline()?;
    let spec = pipeline.spec().clone();
    let target = open_stream(&args.to, args.allow_remote)?;
    if args.to != "-" {
        eprintln!("listening on {}", target.description());
    }
    let writer = target.accept(accept_timeout)?;
    let mut sink = IpcSink::new(writer, &args.to, &spec, settings.provenance)?;
    let bar = super::progress::bar(pipeline.total_steps(), "batches", quiet || args.to == "-");
    let started = Instant::now();
    for batch in pipeline.by_ref() {
        let batch = batch?;
        match sink.write(&batch) {
            Ok(()) => bar.inc(1),
            Err(e) if matches!(e.kind(), ErrorKind::Output { message, .. } if message.contains("disconnected")) => {
                bar.finish_and_clear();
                eprintln!("{}; stopping", e.chain());
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    bar.finish_and_clear();
    let trailer = sink.finish()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sent {} rows in {} batches ({:.0} rows/s), checksum {}",
        trailer.rows,
        trailer.batches,
        trailer.rows as f64 / secs.max(1e-9),
        trailer.checksum
    );
    super::report_skips(&pipeline.stats());
    Ok(())
}
