//! `shardmix inspect PATH`: shards, rows, row groups, schema, detected columns, class histogram.

use std::path::PathBuf;

use shardmix::inspect::Report;
use shardmix::Result;

use super::args::{ColumnArgs, PipelineArgs};

/// Arguments of `inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A directory, glob or file.
    #[arg(value_name = "PATH")]
    pub path: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The column flags of `augment`/`stream`/`train`, and the run whose unread rows to count.
    #[command(flatten)]
    pub pipeline: InspectPipelineArgs,
}

/// The pipeline flags that change what `inspect` shows (the columns, and the order, batch size
/// and length of the run whose unread rows it counts); the others (Mixup, models, workers…)
/// do not apply to it. A `--config` file may still hold every pipeline key.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct InspectPipelineArgs {
    /// The data and its columns, as for the other commands.
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Null/NaN/Inf policy: error, skip-row or fill(VALUE) [default: error].
    #[arg(long, value_name = "POLICY")]
    pub null_policy: Option<String>,
    /// Rows per batch of the run whose unread rows to count [default: 256].
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,
    /// Batch order of that run: offset, sequential or shuffled [default: offset].
    #[arg(long, value_name = "ORDER")]
    pub order: Option<String>,
    /// Global steps of that run.
    #[arg(long, value_name = "N", conflicts_with = "epochs")]
    pub steps: Option<u64>,
    /// Epochs of that run [default: 1].
    #[arg(long, value_name = "E")]
    pub epochs: Option<u64>,
    /// Read the pipeline flags from this TOML file; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl InspectPipelineArgs {
    /// As the full pipeline flags (the others unset).
    fn to_pipeline_args(&self) -> PipelineArgs {
        let a = self.clone();
        PipelineArgs {
            columns: a.columns,
            null_policy: a.null_policy,
            batch_size: a.batch_size,
            order: a.order,
            steps: a.steps,
            epochs: a.epochs,
            config: a.config,
            ..Default::default()
        }
    }
}

pub fn run(mut args: InspectArgs, default_data: &std::path::Path) -> Result<()> {
    if !args.path.is_empty() {
        args.pipeline.columns.data.extend(args.path.iter().cloned());
    }
    let settings = args.pipeline.to_pipeline_args().settings(Some(default_data))?;
    let report = shardmix::inspect::report(&settings)?;
    let text =
        if args.json { serde_json::to_string_pretty(&report).unwrap_or_default() + "\n" } else { table(&report) };
    super::write_stdout(&text)
}

fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "{} shard(s), {} rows, {} row groups", r.shards.len(), r.rows, r.row_groups);
    let w = r.shards.iter().map(|s| s.path.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(o, "  {:<w$}  {:>10}  {:>10}  {:>12}", "path", "rows", "row groups", "bytes");
    for s in &r.shards {
        let _ = writeln!(o, "  {:<w$}  {:>10}  {:>10}  {:>12}", s.path, s.rows, s.row_groups, s.bytes);
    }
    let _ = writeln!(o, "\nschema:");
    let w = r.schema.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
    for c in &r.schema {
        let _ = writeln!(
            o,
            "  {:<w$}  {:<24} {:<8}  {}",
            c.name,
            c.r#type,
            if c.nullable { "nullable" } else { "" },
            c.role
        );
    }
    let f = &r.features;
    let shown = if f.len() > 8 {
        format!("{} … {} ({} values)", f[..4].join(", "), f[f.len() - 2..].join(", "), f.len())
    } else {
        f.join(", ")
    };
    match &r.image {
        Some(i) => {
            let [h, w, c] = i.shape;
            let _ = writeln!(
                o,
                "\nfeatures: image column '{}' ({h}x{w}x{c} images, H x W x C, {} values; decoded to f32 in [0, 1])",
                i.column,
                h * w * c
            );
        }
        None => {
            let _ = writeln!(o, "\nfeatures: {shown}");
        }
    }
    let _ = match (&r.label, r.num_classes) {
        (Some(l), Some(c)) => writeln!(o, "label:    {l} ({c} classes)"),
        (Some(l), None) => writeln!(o, "label:    {l}"),
        (None, _) => writeln!(o, "label:    none"),
    };
    match r.rows_unread {
        Some(u) if u > 0 => {
            let _ = writeln!(
                o,
                "unread:   {u} of {} rows ({}: the offset order never reaches the last rows)",
                r.rows, r.run
            );
        }
        Some(_) => {
            let _ = writeln!(o, "unread:   none ({})", r.run);
        }
        None => {}
    }
    if let Some(h) = &r.class_histogram {
        let max = h.iter().copied().max().unwrap_or(1).max(1);
        let _ = writeln!(o, "\nclass histogram:");
        for (c, &n) in h.iter().enumerate() {
            let _ = writeln!(o, "  {c:>3} {n:>8}  {}", "#".repeat((n * 40 / max) as usize));
        }
    }
    o
}
