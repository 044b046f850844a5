//! Shared fixture helpers for the integration tests: write small Parquet files in code, and
//! find the bundled parquet-testing files. [`fixture`] holds the row-id dataset (every value a
//! function of the global row id).
//!
//! Use from a test file with `mod common;`. Every writer here is deterministic: the same call
//! writes the same bytes.
#![allow(dead_code)]

pub mod emulator;
pub mod fixture;
pub mod range_server;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// `tests/data` (the bundled parquet-testing fixtures).
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("data")
}

/// A file under `tests/data`, e.g. `data_file("data/alltypes_plain.parquet")`.
pub fn data_file(rel: &str) -> PathBuf {
    data_dir().join(rel)
}

/// A fresh temporary directory, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// Writer properties for test files: `compression`, row groups of `row_group` rows, small
/// pages (so that a few hundred rows span several pages).
pub fn props(compression: Compression, row_group: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(row_group))
        .set_data_page_row_count_limit(64)
        .set_write_batch_size(64)
        .build()
}

/// Write `columns` (name, array) as one Parquet file with `props`; all arrays must have the
/// same length. Columns are nullable iff the array holds a null.
pub fn write_columns(path: &Path, columns: Vec<(&str, ArrayRef)>, props: WriterProperties) {
    let fields: Vec<Field> =
        columns.iter().map(|(name, a)| Field::new(*name, a.data_type().clone(), a.null_count() > 0)).collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = columns.into_iter().map(|(_, a)| a).collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("consistent test columns");
    write_batches(path, &[batch], props);
}

/// Write record batches (at least one, all of the first one's schema) as one Parquet file.
pub fn write_batches(path: &Path, batches: &[RecordBatch], props: WriterProperties) {
    let file = File::create(path).expect("create test file");
    let mut writer = ArrowWriter::try_new(file, batches[0].schema(), Some(props)).expect("open test writer");
    for batch in batches {
        writer.write(batch).expect("write test batch");
    }
    writer.close().expect("close test file");
}

/// The value of feature `j` at global row `row` in [`classification_file`] data: exact in f32
/// (small integers plus a multiple of 1/64).
pub fn feature_value(row: u64, j: usize) -> f32 {
    (row % 1000) as f32 + j as f32 / 64.0
}

/// The label of global row `row` in [`classification_file`] data.
pub fn label_value(row: u64, classes: usize) -> i64 {
    ((row * 7 + 3) % classes as u64) as i64
}

/// Write a classification shard: `features` float32 columns `x0..x{F-1}` and an int64
/// `label` column, rows `first_row..first_row + rows` of a dataset whose values are
/// [`feature_value`] and [`label_value`] — so any reader result can be checked exactly.
pub fn classification_file(
    path: &Path,
    first_row: u64,
    rows: usize,
    features: usize,
    classes: usize,
    row_group: usize,
) {
    let names: Vec<String> = (0..features).map(|j| format!("x{j}")).collect();
    let mut columns: Vec<(&str, ArrayRef)> = Vec::with_capacity(features + 1);
    for (j, name) in names.iter().enumerate() {
        let values: Vec<f32> = (0..rows as u64).map(|r| feature_value(first_row + r, j)).collect();
        columns.push((name.as_str(), Arc::new(Float32Array::from(values))));
    }
    let labels: Vec<i64> = (0..rows as u64).map(|r| label_value(first_row + r, classes)).collect();
    columns.push(("label", Arc::new(Int64Array::from(labels))));
    write_columns(path, columns, props(Compression::SNAPPY, row_group));
}

/// Write a file of mixed numeric types: `a` int32 = row, `b` int64 = 10·row, `c` float64 =
/// row / 4, `d` float32 = −row; `rows` rows.
pub fn mixed_numeric_file(path: &Path, rows: usize, row_group: usize) {
    let r: Vec<i32> = (0..rows as i32).collect();
    write_columns(
        path,
        vec![
            ("a", Arc::new(Int32Array::from(r.clone()))),
            ("b", Arc::new(Int64Array::from(r.iter().map(|&v| v as i64 * 10).collect::<Vec<_>>()))),
            ("c", Arc::new(Float64Array::from(r.iter().map(|&v| v as f64 / 4.0).collect::<Vec<_>>()))),
            ("d", Arc::new(Float32Array::from(r.iter().map(|&v| -(v as f32)).collect::<Vec<_>>()))),
        ],
        props(Compression::UNCOMPRESSED, row_group),
    );
}

/// Read a simple CSV with a header line (parquet-testing's `*_expect.csv`): returns the
/// header names (quotes stripped) and the rows as raw string cells. Quoted cells must not
/// contain commas (true for the numeric columns the tests use).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).expect("read expect CSV");
    let mut lines = text.lines();
    let unquote = |s: &str| s.trim().trim_matches('"').to_string();
    let header: Vec<String> = lines.next().map(|h| h.split(',').map(unquote).collect()).unwrap_or_default();
    let rows = lines.filter(|l| !l.is_empty()).map(|l| l.split(',').map(unquote).collect()).collect();
    (header, rows)
}

/// The Python with the test packages (numpy, pyarrow, Pillow, safetensors, moto) that the
/// comparisons with Python run: `SHARDMIX_PYTHON` (scripts/test.sh sets it), else the
/// repository's `.venv` that scripts/test.sh made. A check is skipped (`None`) only when
/// `SHARDMIX_SKIP_PYTHON` is set, and never in CI: without a Python the test fails and says how
/// to get one, so a comparison cannot pass by not running.
pub fn venv_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SHARDMIX_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    if std::env::var_os("SHARDMIX_SKIP_PYTHON").is_some() && std::env::var_os("CI").is_none() {
        eprintln!("Python check skipped (SHARDMIX_SKIP_PYTHON is set)");
        return None;
    }
    panic!(
        "no Python for this comparison: run `bash scripts/test.sh` once (it makes .venv with the test \
         packages), or set SHARDMIX_PYTHON to such a Python, or SHARDMIX_SKIP_PYTHON=1 to skip it"
    )
}

/// Every entry of `dir`, sorted by name, with its bytes.
pub fn dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

/// The CLI with every variable of the test's environment whose name starts with `prefix`
/// removed (no profile, credentials or endpoint of the machine leaks into a store test).
pub fn cli_without_env(prefix: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shardmix"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with(prefix) {
            c.env_remove(k);
        }
    }
    c
}

/// The CLI pointed at the S3-compatible server `endpoint` (plain HTTP, moto's dummy
/// credentials, no instance metadata), reads bounded by `timeout_secs`; every other `AWS_*`
/// variable removed.
pub fn s3_cli(endpoint: &str, timeout_secs: &str) -> Command {
    let mut c = cli_without_env("AWS_");
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SHARDMIX_STORE_TIMEOUT", timeout_secs);
    c
}
