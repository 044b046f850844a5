//! `shardmix stream`: serve the augmented stream as Arrow IPC to an external trainer.

use std::time::Instant;

use shardmix::{open_stream, Error, ImageOut, IpcSink, OutputSchema, Result};

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
    /// Give up (exit non-zero) when the trainer reads nothing for this many seconds, 1 to
    /// 31536000 (a year): a trainer that stops reading cannot block the run forever. Applies to
    /// sockets and to a pipe on stdout [default: wait forever].
    #[arg(long, value_name = "SECS")]
    pub send_timeout: Option<u64>,
    /// How image features are sent: tensor (fixed_size_list<float32>, or <uint8> with --pixels uint8) or png (8-bit PNG files in a struct column {bytes, path}, Hugging Face's Image layout; needs an HxWxC feature shape with 1 to 4 channels) [default: tensor].
    #[arg(long, value_name = "FORMAT")]
    pub image_out: Option<String>,
}

pub fn run(args: StreamArgs, quiet: bool) -> Result<()> {
    let image_out = ImageOut::parse(args.image_out.as_deref().unwrap_or("tensor"))?;
    let send_timeout = args.send_timeout.map(|s| shardmix::settings::timeout_secs("send_timeout", s)).transpose()?;
    let settings = args.pipeline.settings(None)?;
    let accept_timeout =
        args.accept_timeout.map(|s| shardmix::settings::timeout_secs("accept_timeout", s)).transpose()?;
    // Validate everything (data, columns, stages, models) before listening.
    let mut pipeline = settings.pipeline()?;
    let spec = pipeline.spec().clone();
    // The schema, checked before listening too (a PNG output needs an image shape).
    OutputSchema::with_image_out(&spec, settings.provenance, image_out)?;
    let target = open_stream(&args.to, args.allow_remote)?.send_timeout(send_timeout);
    if args.to != "-" {
        eprintln!("listening on {}", target.description());
    }
    let writer = target.accept(accept_timeout)?;
    let mut sink = IpcSink::with_image_out(writer, &args.to, &spec, settings.provenance, image_out)?;
    let bar = super::progress::bar(pipeline.total_steps(), "batches", quiet || args.to == "-");
    let started = Instant::now();
    // Any error (the trainer disconnected or stopped reading included) ends the run non-zero;
    // returning drops the pipeline, which stops its workers.
    let sent = pipeline.by_ref().try_for_each(|batch| {
        sink.write_owned(batch?)?;
        bar.inc(1);
        Ok::<(), Error>(())
    });
    bar.finish_and_clear();
    sent?;
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
