//! What `shardmix inspect` reports about a dataset: shards, rows, row groups, the schema with
//! each column's role, the selected features and label, the class histogram, the rows the
//! run's order leaves unread and the image column. One builder, used by the CLI (as a table or
//! with `--json`) and by the Python package's `shardmix.inspect`.
//!
//! # Example
//! ```
//! use shardmix::{inspect, PipelineConfig};
//!
//! let config = PipelineConfig { data: Some(vec!["examples/data/digits.parquet".into()]), ..Default::default() };
//! let report = inspect::report(&config.settings(None)?)?;
//! assert_eq!(report.rows, 1797);
//! assert_eq!(report.num_classes, Some(10));
//! # Ok::<(), shardmix::Error>(())
//! ```

use serde::Serialize;

use crate::error::Result;
use crate::order::Order;
use crate::settings::Settings;
use crate::source::{Features, ShardSet, Target};
use crate::spec::{FeatureLayout, TargetKind};

/// The report of one dataset, as `inspect --json` prints it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Every shard, in global row order.
    pub shards: Vec<ShardRow>,
    /// Rows in all.
    pub rows: u64,
    /// Row groups in all.
    pub row_groups: usize,
    /// The columns of the (first shard's) schema, with their role.
    pub schema: Vec<ColumnRow>,
    /// The feature names, in the order of a row's values.
    pub features: Vec<String>,
    /// The target column, if any.
    pub label: Option<String>,
    /// Classes of a class label.
    pub num_classes: Option<usize>,
    /// Rows per class of a class label.
    pub class_histogram: Option<Vec<u64>>,
    /// Rows that no step of the run the settings describe reads (the offset order leaves the
    /// last rows out), `None` when not known.
    pub rows_unread: Option<u64>,
    /// That run: order, batch size and global steps.
    pub run: String,
    /// The image feature column, with the shape of its first image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRow>,
}

/// An image feature column.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ImageRow {
    /// The column.
    pub column: String,
    /// `[H, W, C]` of its first image.
    pub shape: [usize; 3],
    /// `hf-image` (a struct `{bytes, path}`) or `binary`.
    pub layout: &'static str,
}

/// One shard.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ShardRow {
    /// Its path.
    pub path: String,
    /// Its rows.
    pub rows: u64,
    /// Its row groups.
    pub row_groups: usize,
    /// Its size in bytes.
    pub bytes: u64,
}

/// One column of the schema.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ColumnRow {
    /// Its name.
    pub name: String,
    /// Its Arrow type.
    pub r#type: String,
    /// Whether it may hold nulls.
    pub nullable: bool,
    /// `label`, `feature`, `image HxWxC` or `-`.
    pub role: String,
}

/// The report on the data of `settings` (its columns, and the order, batch size and length of
/// the run whose unread rows it counts).
///
/// # Errors
/// What [`Settings::open_source`] returns, and a failed read of the label column.
pub fn report(settings: &Settings) -> Result<Report> {
    let set = settings.open_source()?;
    let spec = set.spec().clone();
    let label = match &spec.target {
        TargetKind::Class { column, .. } | TargetKind::Regression { column } | TargetKind::Soft { column, .. } => {
            Some(column.clone())
        }
        TargetKind::None => None,
    };
    let image = set.image();
    let feature_cols: Vec<String> = match &spec.features {
        FeatureLayout::Columns(c) => c.clone(),
        FeatureLayout::List { column, .. } => vec![column.clone()],
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
    let class_histogram = match (&spec.target, spec.num_classes()) {
        (TargetKind::Class { column, .. }, Some(c)) => Some(histogram(&set, column, c)?),
        _ => None,
    };
    let order = Order::parse(&settings.order, settings.batch_size)?;
    let steps = settings.steps.unwrap_or_else(|| settings.epochs.saturating_mul(order.steps_per_epoch(set.num_rows())));
    Ok(Report {
        shards: set
            .shards()
            .iter()
            .map(|s| ShardRow {
                path: s.path.display().to_string(),
                rows: s.num_rows,
                row_groups: s.num_row_groups,
                bytes: s.file_len, // seen at open (also for an object in a store)
            })
            .collect(),
        rows: set.num_rows(),
        row_groups: set.row_groups().len(),
        schema,
        features: spec.feature_names(),
        label,
        num_classes: spec.num_classes(),
        class_histogram,
        rows_unread: order.rows_unread(set.num_rows(), steps),
        run: format!("{} order, batch size {}, {steps} steps", settings.order, settings.batch_size),
        image: image.map(|i| ImageRow {
            column: i.column,
            shape: i.shape,
            layout: if i.hf_layout { "hf-image" } else { "binary" },
        }),
    })
}

/// Rows per class: reads only the label column, as a one-feature set.
fn histogram(set: &ShardSet, column: &str, classes: usize) -> Result<Vec<u64>> {
    let labels = set.clone().target(Target::None)?.features(Features::columns(&[column]))?;
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
