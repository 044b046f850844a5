//! `augment`'s output directory opens as a dataset, as it is, in the readers a data scientist
//! tries (issue 15): `pyarrow.dataset.dataset(OUT, format="parquet")`,
//! `pyarrow.parquet.read_table(OUT)`, HF `datasets.load_dataset("parquet", data_dir=OUT)`,
//! DuckDB's `read_parquet('OUT/*.parquet')` and polars' `scan_parquet('OUT/*.parquet')` —
//! also while a shard is being written. Every reader must see every row, the same columns and
//! the same values. A directory of the first layout (`manifest.json`, `_shardmix_run.json`)
//! fails in pyarrow — the check can fail — and opens once a rerun has migrated it.
//!
//! Needs the test venv (`SHARDMIX_PYTHON`, set by scripts/test.sh, with the readers of
//! scripts/requirements.txt); skipped without it outside CI.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shardmix::format::{MANIFEST_FILE, RUN_FILE};
use shardmix::Manifest;

const READERS: &[&str] = &["pyarrow.dataset", "pyarrow.parquet", "duckdb", "polars", "datasets"];

fn augment(out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["augment", "--data", "examples/data/digits.parquet", "--out"])
        .arg(out)
        .args(["--batch-size", "64", "--steps", "40", "--rows-per-shard", "512", "--provenance", "--seed", "9"])
        .arg("--quiet")
        .output()
        .expect("run shardmix")
}

/// Rows, column names and the sum of `p0` over every shard, read by arrow-rs.
fn expected(out: &Path) -> (u64, Vec<String>, f64) {
    let m = Manifest::read(out).unwrap();
    let mut columns = Vec::new();
    let mut sum = 0.0f64;
    for s in &m.shards {
        let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(out.join(&s.file)).unwrap()).unwrap();
        columns = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
        for b in reader.build().unwrap() {
            let b = b.unwrap();
            sum += b
                .column_by_name("p0")
                .unwrap()
                .as_primitive::<Float32Type>()
                .values()
                .iter()
                .map(|&v| v as f64)
                .sum::<f64>();
        }
    }
    (m.rows, columns, sum)
}

/// Each reader's JSON result line (see tests/python/read_output.py).
fn read_with(py: &Path, out: &Path, hf_home: &Path) -> Vec<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_output.py");
    let o = Command::new(py)
        .arg(script)
        .arg(out)
        .arg("p0")
        .args(READERS)
        .env("HF_HOME", hf_home)
        .env("HF_DATASETS_OFFLINE", "1")
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "read_output.py: {}", String::from_utf8_lossy(&o.stderr));
    let results: Vec<serde_json::Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), READERS.len(), "{results:?}");
    results
}

fn assert_every_reader_sees_the_dataset(py: &Path, out: &Path, hf_home: &Path) {
    let (rows, columns, sum) = expected(out);
    for r in read_with(py, out, hf_home) {
        let name = &r["reader"];
        assert!(r.get("error").is_none(), "{name} cannot open {}: {}", out.display(), r["error"]);
        assert_eq!(r["rows"].as_u64(), Some(rows), "{name}: rows");
        let got: Vec<&str> = r["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(got, columns, "{name}: columns");
        let s = r["sum"].as_f64().unwrap();
        assert!((s - sum).abs() <= 1e-9 * sum.abs().max(1.0), "{name}: sum of p0 {s}, arrow-rs {sum}");
    }
}

#[test]
fn the_output_directory_opens_as_a_dataset_in_every_reader() {
    let Some(py) = common::venv_python() else { return };
    let tmp = common::tempdir();
    let hf_home: PathBuf = tmp.path().join("hf");
    let out = tmp.path().join("out");
    let o = augment(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Non-shard files are hidden.
    for (name, _) in common::dir_files(&out) {
        assert!(name.ends_with(".parquet") || name.starts_with('.'), "{name} is visible to dataset readers");
    }
    assert_every_reader_sees_the_dataset(&py, &out, &hf_home);

    // While a run is writing its next shard (a partial temporary file in the directory).
    let part = fs::read(out.join("part-00000.parquet")).unwrap();
    fs::write(out.join(".part-00005.parquet.tmp"), &part[..part.len() / 2]).unwrap();
    assert_every_reader_sees_the_dataset(&py, &out, &hf_home);
    fs::remove_file(out.join(".part-00005.parquet.tmp")).unwrap();

    // The first layout: pyarrow and HF datasets fail on it...
    fs::rename(out.join(RUN_FILE), out.join("_shardmix_run.json")).unwrap();
    fs::rename(out.join(MANIFEST_FILE), out.join("manifest.json")).unwrap();
    let failed: Vec<String> = read_with(&py, &out, &hf_home)
        .into_iter()
        .filter(|r| r.get("error").is_some())
        .map(|r| r["reader"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failed, ["pyarrow.dataset", "pyarrow.parquet", "datasets"], "the first layout should trip them");
    // ...and a rerun finds the run complete and migrates it.
    let o = augment(&out);
    assert!(String::from_utf8_lossy(&o.stderr).contains("already complete"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join(MANIFEST_FILE).exists() && !out.join("manifest.json").exists());
    assert_every_reader_sees_the_dataset(&py, &out, &hf_home);
}
