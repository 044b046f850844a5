//! `shardmix inspect PATH`: shards, rows, row groups, schema, detected columns, class histogram.

use std::path::PathBuf;

use serde::Serialize;
use shardmix::{Features, Result, ShardSet, TargetKind};

use super::args::PipelineArgs;

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
    /// Input data: a directory of .parquet files, a glob, or a file (repeatable).
    #[arg(long = "data", value_name = "PATH")]
    pub data: Vec<PathBuf>,
    /// Feature columns: a comma list, a `prefix*` glob, or one list column [default: every numeric column but the label].
    #[arg(long, value_name = "SPEC")]
    pub features: Option<String>,
    /// Target column: integer → classes, float → regression, list → soft labels [default: `label` if present].
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    /// Number of classes of an integer label [default: largest label + 1].
    #[arg(long, value_name = "C")]
    pub num_classes: Option<usize>,
    /// No target column.
    #[arg(long)]
    pub no_label: bool,
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
            data: a.data,
            features: a.features,
            label: a.label,
            num_classes: a.num_classes,
            no_label: a.no_label,
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

#[derive(Serialize)]
struct Report {
    shards: Vec<ShardRow>,
    rows: u64,
    row_groups: usize,
    schema: Vec<ColumnRow>,
    features: Vec<String>,
    label: Option<String>,
    num_classes: Option<usize>,
    class_histogram: Option<Vec<u64>>,
    /// Rows that no step of the run the flags describe reads (the offset order leaves the last
    /// rows out), `None` when not known.
    rows_unread: Option<u64>,
    /// That run: order, batch size and global steps.
    run: String,
    /// The image feature column, with the shape of its first image.
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<ImageRow>,
}

#[derive(Serialize)]
struct ImageRow {
    column: String,
    /// `[H, W, C]`.
    shape: [usize; 3],
    layout: &'static str,
}

#[derive(Serialize)]
struct ShardRow {
    path: String,
    rows: u64,
    row_groups: usize,
    bytes: u64,
}

#[derive(Serialize)]
struct ColumnRow {
    name: String,
    r#type: String,
    nullable: bool,
    role: String,
}

pub fn run(mut args: InspectArgs, default_data: &std::path::Path) -> Result<()> {
    if !args.path.is_empty() {
        args.pipeline.data.extend(args.path.iter().cloned());
    }
    let settings = args.pipeline.to_pipeline_args().settings(Some(default_data))?;
    let set = settings.open_source()?;
    let spec = set.spec().clone();
    let label = match &spec.target {
        TargetKind::Class { column, .. } | TargetKind::Regression { column } | TargetKind::Soft { column, .. } => {
            Some(column.clone())
        }
        TargetKind::None => None,
    };
    let features = spec.feature_names();
    let image = set.image();
    let feature_cols: Vec<String> = match &spec.features {
        shardmix::FeatureLayout::Columns(c) => c.clone(),
        shardmix::FeatureLayout::List { column, .. } => vec![column.clone()],
    };
    let schema = set
        .arrow_schema()
        .fields()
        .iter()
        .map(|f| ColumnRow {
            name: f.name().clone(),
            r#type: f.data_type().to_string(),
            nullable: f.is_nullable(),
            role: if Some(f.name()) == label.as_ref() {
                "label".into()
            } else if let Some(i) = image.as_ref().filter(|i| &i.column == f.name()) {
                format!("image {}x{}x{}", i.shape[0], i.shape[1], i.shape[2])
            } else if feature_cols.contains(f.name()) {
                "feature".into()
            } else {
                "-".into()
            },
        })
        .collect();
    let histogram = match (&spec.target, spec.num_classes()) {
        (TargetKind::Class { column, .. }, Some(c)) => Some(class_histogram(&set, column, c)?),
        _ => None,
    };
    let order = shardmix::Order::parse(&settings.order, settings.batch_size)?;
    let steps = settings.steps.unwrap_or_else(|| settings.epochs.saturating_mul(order.steps_per_epoch(set.num_rows())));
    let rows_unread = order.rows_unread(set.num_rows(), steps);
    let report = Report {
        shards: set
            .shards()
            .iter()
            .map(|s| ShardRow {
                path: s.path.display().to_string(),
                rows: s.num_rows,
                row_groups: s.num_row_groups,
                bytes: std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0),
            })
            .collect(),
        rows: set.num_rows(),
        row_groups: set.row_groups().len(),
        schema,
        features,
        label,
        num_classes: spec.num_classes(),
        class_histogram: histogram,
        rows_unread,
        run: format!("{} order, batch size {}, {steps} steps", settings.order, settings.batch_size),
        image: image.map(|i| ImageRow {
            column: i.column,
            shape: i.shape,
            layout: if i.hf_layout { "hf-image" } else { "binary" },
        }),
    };
    let text =
        if args.json { serde_json::to_string_pretty(&report).unwrap_or_default() + "\n" } else { table(&report) };
    super::write_stdout(&text)
}

fn class_histogram(set: &ShardSet, column: &str, classes: usize) -> Result<Vec<u64>> {
    // Read only the label column, as a one-feature set.
    let labels = set.clone().target(shardmix::Target::None)?.features(Features::columns(&[column]))?;
    let mut hist = vec![0u64; classes];
    for rg in labels.row_groups() {
        let b = labels.read_rows(rg.first_row..rg.first_row + rg.num_rows)?;
        for &v in b.features.iter() {
            if let Some(h) = hist.get_mut(v as usize) {
                *h += 1;
            }
        }
    }
    Ok(hist)
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
