//! Helpers of the hostile-file tests (`tests/hostile_*.rs`): keep a generated file for a
//! release-build measurement, and read a file's values with arrow-rs as the reference.
//! Included with `#[path = "common/hostile.rs"] mod hostile;`.
#![allow(dead_code)]

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// With `SHARDMIX_KEEP_HOSTILE_FILES=DIR`, also write the file to `DIR` (to measure a release
/// build on it: see the README).
pub fn keep(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("SHARDMIX_KEEP_HOSTILE_FILES") {
        std::fs::write(Path::new(&dir).join(name), bytes).unwrap();
    }
}

/// Every value of column 0 as arrow-rs reads the whole file (list rows flattened, as `f32`).
pub fn arrow_rs_values(path: &Path) -> Vec<f32> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let x = batch.unwrap().column(0).clone();
        let values = match x.data_type() {
            arrow_schema::DataType::List(_) => x.as_list::<i32>().values().clone(),
            arrow_schema::DataType::FixedSizeList(..) => x.as_fixed_size_list().values().clone(),
            _ => x,
        };
        match values.as_primitive_opt::<Float64Type>() {
            Some(v) => out.extend(v.values().iter().map(|&v| v as f32)),
            None => out.extend_from_slice(values.as_primitive::<Float32Type>().values()),
        }
    }
    out
}
