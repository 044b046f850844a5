//! `shardmix augment`: write the augmented stream as Parquet shards, resumably (the library's
//! [`shardmix::augment::AugmentPlan`]).
//!
//! `--out` must stay apart from the input: it may not be a `--data` path, contain one, lie
//! inside a `--data` directory, or be matched by a `--data` pattern (see
//! [`shardmix::augment::check_out_apart`]).

use std::path::PathBuf;

use shardmix::augment::{AugmentOptions, AugmentPlan, Event};
use shardmix::Result;

use super::args::PipelineArgs;

/// Arguments of `augment`.
#[derive(clap::Args, Debug)]
pub struct AugmentArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Output directory: part-00000.parquet, … and the hidden .shardmix-run.json and
    /// .shardmix-manifest.json. Must not be, contain or lie inside a --data path.
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
    /// Replace the output of another configuration: deletes only the files shardmix wrote
    /// there, and refuses if other files sit at the names it writes.
    #[arg(long)]
    pub overwrite: bool,
    /// How image features are written: tensor (float lists) or png (8-bit PNG files in Hugging Face's Image layout, which `datasets` reads as images; needs an HxWxC feature shape with 1 to 4 channels) [default: tensor].
    #[arg(long, value_name = "FORMAT")]
    pub image_out: Option<String>,
}

pub fn run(args: AugmentArgs, quiet: bool) -> Result<()> {
    let settings = args.pipeline.settings(None)?;
    let options = AugmentOptions {
        rows_per_shard: args.rows_per_shard,
        row_group_size: args.row_group_size,
        compression: args.compression,
        overwrite: args.overwrite,
        image_out: args.image_out,
    };
    let plan = AugmentPlan::new(settings, &args.out, &options)?;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let summary = plan.run_with_stop(&super::interrupt::token(), &mut |event| match event {
        Event::Note(note) => match &bar {
            Some(b) => b.suspend(|| eprintln!("{note}")),
            None => eprintln!("{note}"),
        },
        Event::Start(steps) => bar = Some(super::progress::bar(Some(steps), "steps", quiet)),
        Event::Step => {
            if let Some(b) = &bar {
                b.inc(1)
            }
        }
        // Events added later are not shown.
        _ => {}
    })?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if !summary.already_complete {
        eprintln!("{}", summary.message());
    }
    for warning in &summary.warnings {
        eprintln!("{warning}");
    }
    Ok(())
}
