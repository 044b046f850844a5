//! Generate the datasets of the peer benchmarks (`benches/peers/run.sh`), once, deterministically.
//!
//! ```sh
//! cargo run --release --example peer_data [-- --quick]
//! ```
//!
//! - **(a) tabular**: the dataset of `benches/decode.rs` (`benches/common/mod.rs`, shared with
//!   it): 1,048,576 rows × 64 `float32` `f0..f63` + `int64` `label` (10 classes), 8 snappy
//!   shards, row groups of 65,536 rows. `--quick`: 131,072 rows, row groups of 8,192.
//! - **(b) image**: one `fixed_size_list<float32>[784]` column `pixels` + `int64` `label`,
//!   262,144 rows in 4 snappy shards, row groups of 8,192 rows. Digit-like content: each class
//!   has a fixed ink map; an inked pixel is `k / 255` with `k` uniform, the others are 0 (about
//!   80% zeros, like MNIST). `--quick`: 32,768 rows, row groups of 2,048.
//!
//! Everything is drawn from `shardmix::rng::derive(SEED, ..)`, so the files are identical on every
//! machine. Prints `a=DIR` and `b=DIR` on stdout for the harness.

#[path = "../benches/common/mod.rs"]
mod common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use common::{DatasetSpec, CLASSES, SEED};

/// Pixels per image (28 × 28).
const PIXELS: usize = 784;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let a = if quick { DatasetSpec { rows: 1 << 17, shards: 8, row_group: 1 << 13 } } else { DatasetSpec::FULL };
    let b = if quick {
        DatasetSpec { rows: 1 << 15, shards: 4, row_group: 1 << 11 }
    } else {
        DatasetSpec { rows: 1 << 18, shards: 4, row_group: 1 << 13 }
    };
    let tabular = common::decode_dataset(a);
    let image = image_dataset(b)?;
    println!("a={}", tabular.dir.display());
    println!("b={}", image.display());
    Ok(())
}

/// The image dataset for `spec`, generated unless a `DONE` marker with the same spec exists.
fn image_dataset(spec: DatasetSpec) -> Result<PathBuf, BoxError> {
    let dir = common::data_root().join(format!("image-v1-r{}-s{}-g{}", spec.rows, spec.shards, spec.row_group));
    let marker = dir.join("DONE");
    let expected = format!("{spec:?}\n");
    let files: Vec<PathBuf> = (0..spec.shards).map(|i| dir.join(format!("shard-{i:03}.parquet"))).collect();
    if fs::read_to_string(&marker).is_ok_and(|m| m == expected) && files.iter().all(|f| f.is_file()) {
        return Ok(dir);
    }
    let started = std::time::Instant::now();
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let per_shard = spec.rows / spec.shards;
    let results: Vec<Result<(), BoxError>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, path)| s.spawn(move || write_image_shard(path, i as u64, per_shard, spec.row_group)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("writer thread panicked".into()))).collect()
    });
    for r in results {
        r?;
    }
    fs::write(&marker, &expected)?;
    eprintln!("bench data: generated {} in {:.1} s", dir.display(), started.elapsed().as_secs_f64());
    Ok(dir)
}

/// Per-class ink probabilities, `CLASSES × PIXELS`: a blob whose centre and size depend on the class.
fn ink_maps() -> Vec<f32> {
    let mut out = Vec::with_capacity(CLASSES * PIXELS);
    for c in 0..CLASSES {
        let (cy, cx) = (10.0 + (c % 3) as f32 * 4.0, 10.0 + (c / 3) as f32 * 2.5);
        let r = 5.0 + (c % 4) as f32;
        for p in 0..PIXELS {
            let (y, x) = ((p / 28) as f32, (p % 28) as f32);
            let d = ((y - cy).powi(2) + (x - cx).powi(2)).sqrt();
            out.push(if d < r { 0.9 } else { 0.02 });
        }
    }
    out
}

fn image_schema() -> Arc<Schema> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    Arc::new(Schema::new(vec![
        Field::new("pixels", DataType::FixedSizeList(item, PIXELS as i32), false),
        Field::new("label", DataType::Int64, false),
    ]))
}

fn write_image_shard(path: &Path, shard: u64, rows: usize, row_group: usize) -> Result<(), BoxError> {
    let ink = ink_maps();
    let schema = image_schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group))
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("label"), true)
        .build();
    let tmp = path.with_extension("parquet.tmp");
    let mut writer = ArrowWriter::try_new(File::create(&tmp)?, schema.clone(), Some(props))?;
    let mut rng = shardmix::rng::derive(SEED, 2, shard);
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let mut done = 0;
    while done < rows {
        let n = row_group.min(rows - done);
        let labels: Vec<i64> = (0..n).map(|_| shardmix::rng::below(&mut rng, CLASSES as u64) as i64).collect();
        let mut values = Vec::with_capacity(n * PIXELS);
        for &label in &labels {
            let map = &ink[label as usize * PIXELS..][..PIXELS];
            for &p in map {
                let v = if (shardmix::rng::uniform(&mut rng) as f32) < p {
                    shardmix::rng::below(&mut rng, 256) as f32 / 255.0
                } else {
                    0.0
                };
                values.push(v);
            }
        }
        let pixels =
            FixedSizeListArray::try_new(item.clone(), PIXELS as i32, Arc::new(Float32Array::from(values)), None)?;
        let arrays: Vec<ArrayRef> = vec![Arc::new(pixels), Arc::new(Int64Array::from(labels))];
        writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
        done += n;
    }
    writer.close()?;
    fs::rename(&tmp, path)?;
    Ok(())
}
