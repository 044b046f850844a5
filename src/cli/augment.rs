//! `shardmix augment`: write the augmented stream as Parquet shards, resumably.

use std::path::PathBuf;
use std::time::Instant;

use shardmix::{Compression, Error, ParquetSink, ParquetSinkOptions, Result};

use super::args::PipelineArgs;

/// Arguments of `augment`.
#[derive(clap::Args, Debug)]
pub struct AugmentArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Output directory (part-00000.parquet, …, manifest.json).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Rows per output shard, rounded down to whole batches [default: 262144].
    #[arg(long, value_name = "N")]
    pub rows_per_shard: Option<u64>,
    /// Rows per row group in the output [default: 65536].
    #[arg(long, value_name = "N")]
    pub row_group_size: Option<usize>,
    /// Output compression: snappy, zstd or none [default: snappy].
    #[arg(long, value_name = "CODEC")]
    pub compression: Option<String>,
    /// Replace the shardmix files of an output directory made with another configuration.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn run(args: AugmentArgs, quiet: bool) -> Result<()> {
    let settings = args.pipeline.settings(None)?;
    if settings.world_size > 1 {
        return Err(Error::config("world_size", "augment writes one dataset: run it without --rank/--world-size (each rank of a training job reads the output)"));
    }
    if settings.start_step != 0 {
        return Err(Error::config(
            "start_step",
            "augment resumes by itself from the shards already in --out; do not give --start-step",
        ));
    }
    let rows_per_shard = args.rows_per_shard.unwrap_or(262_144);
    let steps_per_shard = (rows_per_shard / settings.batch_size as u64).max(1);
    let compression = match args.compression.as_deref().unwrap_or("snappy") {
        "snappy" => Compression::Snappy,
        "zstd" => Compression::Zstd,
        "none" | "uncompressed" => Compression::None,
        other => return Err(Error::config("compression", format!("'{other}' is not one of snappy, zstd, none"))),
    };
    let config = serde_json::to_value(&settings).unwrap_or_default();
    let opts = ParquetSinkOptions::new(steps_per_shard)
        .row_group_size(args.row_group_size.unwrap_or(65_536))
        .compression(compression)
        .provenance(settings.provenance)
        .seed(settings.seed)
        .config(config);

    let set = settings.open_source()?;
    let stages = settings.stages(&set)?;
    let mut builder = settings.builder(set)?;
    for s in stages {
        builder = builder.stage_arc(s);
    }
    // Build once to learn the output spec and the length, then open the sink to learn where to
    // resume, then build the pipeline that starts there.
    let probe = builder.build()?;
    let spec = probe.spec().clone();
    let total = probe.total_steps().unwrap_or(0);
    drop(probe);
    // Locks --out (a concurrent run into it fails here at once) until the sink is dropped.
    let mut sink = ParquetSink::open(&args.out, &spec, opts, &settings.fingerprint(), args.overwrite)?;
    if !sink.is_locked() {
        eprintln!(
            "warning: {}: the filesystem does not support locks; make sure no other run writes there",
            args.out.display()
        );
    }
    if sink.is_complete() {
        eprintln!("{}: already complete ({} shards); nothing to do", args.out.display(), sink.shards().len());
        return Ok(());
    }
    let resume = sink.resume_step();
    if resume > 0 {
        eprintln!("{}: resuming at step {resume} ({} complete shards kept)", args.out.display(), sink.shards().len());
    }
    let set = settings.open_source()?;
    let stages = settings.stages(&set)?;
    let mut builder = settings.builder(set)?.start_step(resume);
    for s in stages {
        builder = builder.stage_arc(s);
    }
    let mut pipeline = builder.build()?;
    super::report_unread(&pipeline);
    let bar = super::progress::bar(Some(total.saturating_sub(resume)), "steps", quiet);
    let started = Instant::now();
    let mut rows = 0u64;
    for batch in pipeline.by_ref() {
        let batch = batch?;
        rows += batch.rows() as u64;
        sink.write(&batch)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let manifest = sink.finish(total)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} rows in {} shard(s) to {} in {secs:.2} s ({:.0} rows/s)",
        rows,
        manifest.shards.len(),
        args.out.display(),
        rows as f64 / secs.max(1e-9)
    );
    super::report_skips(&pipeline.stats());
    Ok(())
}
