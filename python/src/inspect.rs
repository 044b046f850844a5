//! `shardmix.inspect(path, **options)`: what `shardmix inspect --json` prints, as a dict.
//!
//! The report is built here from the library's API the way `src/cli/inspect.rs` builds it
//! (that code lives in the binary); `tests/python_pkg/test_commands.py` checks that the two
//! agree field for field.

use serde::Serialize;
use shardmix::{FeatureLayout, Features, Result, Settings, ShardSet, Target, TargetKind};

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

/// The report of `inspect --json` for these settings, as JSON text.
pub fn report(settings: &Settings) -> Result<String> {
    let set = settings.open_source()?;
    let spec = set.spec().clone();
    let label = match &spec.target {
        TargetKind::Class { column, .. } | TargetKind::Regression { column } | TargetKind::Soft { column, .. } => {
            Some(column.clone())
        }
        TargetKind::None => None,
    };
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
        features: spec.feature_names(),
        label,
        num_classes: spec.num_classes(),
        class_histogram,
    };
    Ok(serde_json::to_string(&report).unwrap_or_default())
}

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
