//! Shared benchmark data: a deterministic, cached Parquet dataset.
//!
//! [`decode_dataset`] returns the benchmark dataset of `benches/decode.rs`, generating it once
//! under `target/bench-data/` (or `$CARGO_TARGET_DIR/bench-data/`):
//!
//! - `rows` rows split evenly over `shards` snappy-compressed files `shard-000.parquet`, ...,
//!   written by the `parquet` crate's `ArrowWriter` with row groups of `row_group` rows;
//! - 64 `float32` feature columns `f0..f63` and an `int64` column `label` (10 classes);
//! - content: `label` uniform in `0..10`, `f_j = center[label][j] + N(0, 1)` with per-class
//!   centres in `[-2, 2)`; every draw comes from `shardmix::rng::derive(SEED, ..)` so the
//!   files are identical on every machine and run.
//!
//! A `DONE` marker holding the parameters is written last: an interrupted generation is
//! redone, and a parameter change regenerates. [`cached_dataset`] does this for any content
//! (`examples/peer_data.rs` makes its image dataset with it).
#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use shardmix::StepRng;

/// The error of dataset generation.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Seed of the benchmark content.
pub const SEED: u64 = 0x5348_4152_444d_4958; // "SHARDMIX"
/// Number of feature columns.
pub const FEATURES: usize = 64;
/// Number of classes of `label`.
pub const CLASSES: usize = 10;

/// The shape of a generated dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Total rows.
    pub rows: usize,
    /// Number of files; `rows` must divide evenly.
    pub shards: usize,
    /// Rows per row group.
    pub row_group: usize,
}

impl DatasetSpec {
    /// The full benchmark dataset: 1,048,576 rows, 8 shards, row groups of 65,536 rows.
    pub const FULL: DatasetSpec = DatasetSpec { rows: 1 << 20, shards: 8, row_group: 1 << 16 };

    /// A small stand-in used when criterion runs in test mode (`cargo test --benches`), so that
    /// the test suite exercises the benchmark code without generating 270 MB.
    pub const SMALL: DatasetSpec = DatasetSpec { rows: 1 << 14, shards: 8, row_group: 1 << 10 };

    /// [`Self::FULL`] under `cargo bench`, [`Self::SMALL`] otherwise (criterion's test mode).
    pub fn from_args() -> DatasetSpec {
        if std::env::args().any(|a| a == "--bench") && !std::env::args().any(|a| a == "--test") {
            Self::FULL
        } else {
            Self::SMALL
        }
    }

    /// Decoded size of one row: 64 × f32 + one i64.
    pub const fn row_bytes() -> u64 {
        (FEATURES * 4 + 8) as u64
    }

    /// The directory name of dataset `kind` (a name with a version, e.g. `decode-v1`) of this shape.
    fn tag(&self, kind: &str) -> String {
        format!("{kind}-r{}-s{}-g{}", self.rows, self.shards, self.row_group)
    }
}

/// A generated dataset on disk.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Its directory.
    pub dir: PathBuf,
    /// The shard files, in order.
    pub files: Vec<PathBuf>,
    /// What it holds.
    pub spec: DatasetSpec,
    /// Bytes on disk, all shards.
    pub file_bytes: u64,
}

impl Dataset {
    /// Decoded bytes of the whole dataset (what MB/s figures refer to).
    pub fn decoded_bytes(&self) -> u64 {
        self.spec.rows as u64 * DatasetSpec::row_bytes()
    }
}

/// Where generated benchmark data lives.
pub fn data_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

/// The dataset for `spec`, generated on first use.
///
/// # Panics
/// On I/O or Parquet errors while generating (benchmark setup, not library code).
pub fn decode_dataset(spec: DatasetSpec) -> Dataset {
    let centres = centres();
    cached_dataset("decode-v1", spec, schema(), 1, |rng, n| Ok(decode_chunk(&centres, rng, n)))
        .unwrap_or_else(|e| panic!("bench data {spec:?}: {e}"))
}

/// The dataset `kind` (a name with a version, e.g. `decode-v1`) of shape `spec` under
/// [`data_root`], generated unless its `DONE` marker holds the same spec.
///
/// Each shard is written by its own thread to `shard-NNN.parquet.tmp`, then renamed: snappy,
/// row groups of `spec.row_group` rows, dictionary encoding for `label` only. Its rows come in
/// chunks of at most one row group, `chunk(rng, n)` giving the `n` rows' columns (in `schema`
/// order) with `rng = shardmix::rng::derive(SEED, purpose, shard index)`.
pub fn cached_dataset<F>(
    kind: &str,
    spec: DatasetSpec,
    schema: Arc<Schema>,
    purpose: u64,
    chunk: F,
) -> Result<Dataset, BoxError>
where
    F: Fn(&mut StepRng, usize) -> Result<Vec<ArrayRef>, BoxError> + Sync,
{
    if spec.shards == 0 || !spec.rows.is_multiple_of(spec.shards) {
        return Err(format!("{spec:?}: the rows do not split evenly over the shards").into());
    }
    let dir = data_root().join(spec.tag(kind));
    let files: Vec<PathBuf> = (0..spec.shards).map(|i| dir.join(format!("shard-{i:03}.parquet"))).collect();
    let marker = dir.join("DONE");
    let expected = format!("{spec:?}\n");
    let cached = fs::read_to_string(&marker).is_ok_and(|m| m == expected) && files.iter().all(|f| f.is_file());
    if !cached {
        let started = std::time::Instant::now();
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let per_shard = spec.rows / spec.shards;
        let (schema, chunk) = (&schema, &chunk);
        let results: Vec<Result<(), BoxError>> = std::thread::scope(|s| {
            let handles: Vec<_> = files
                .iter()
                .enumerate()
                .map(|(i, path)| {
                    s.spawn(move || {
                        let mut rng = shardmix::rng::derive(SEED, purpose, i as u64);
                        write_shard(path, schema, per_shard, spec.row_group, |n| chunk(&mut rng, n))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("writer thread panicked".into()))).collect()
        });
        for r in results {
            r?;
        }
        fs::write(&marker, &expected)?;
        eprintln!("bench data: generated {} in {:.1} s", dir.display(), started.elapsed().as_secs_f64());
    }
    let file_bytes = files.iter().map(|f| fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    Ok(Dataset { dir, files, spec, file_bytes })
}

/// Write `rows` rows to `path` (via a `.tmp` file renamed at the end), `chunk(n)` making each
/// run of `n <= row_group` rows.
fn write_shard(
    path: &Path,
    schema: &Arc<Schema>,
    rows: usize,
    row_group: usize,
    mut chunk: impl FnMut(usize) -> Result<Vec<ArrayRef>, BoxError>,
) -> Result<(), BoxError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group))
        // Random floats do not dictionary-encode; the label does.
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("label"), true)
        .build();
    let tmp = path.with_extension("parquet.tmp");
    let mut writer = ArrowWriter::try_new(File::create(&tmp)?, schema.clone(), Some(props))?;
    let mut done = 0;
    while done < rows {
        let n = row_group.min(rows - done);
        writer.write(&RecordBatch::try_new(schema.clone(), chunk(n)?)?)?;
        done += n;
    }
    writer.close()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// The Arrow schema of the dataset.
pub fn schema() -> Arc<Schema> {
    let mut fields: Vec<Field> = (0..FEATURES).map(|j| Field::new(format!("f{j}"), DataType::Float32, false)).collect();
    fields.push(Field::new("label", DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

/// Per-class feature centres in `[-2, 2)`, `CLASSES × FEATURES`, row-major.
fn centres() -> Vec<f32> {
    let mut rng = shardmix::rng::derive(SEED, 0, u64::MAX);
    (0..CLASSES * FEATURES).map(|_| (shardmix::rng::uniform(&mut rng) * 4.0 - 2.0) as f32).collect()
}

/// A standard normal pair by Box–Muller, from the stable `uniform` primitive.
fn normal_pair(rng: &mut StepRng) -> (f32, f32) {
    let u1 = 1.0 - shardmix::rng::uniform(rng); // (0, 1]
    let u2 = shardmix::rng::uniform(rng);
    let r = (-2.0 * u1.ln()).sqrt();
    let t = std::f64::consts::TAU * u2;
    ((r * t.cos()) as f32, (r * t.sin()) as f32)
}

/// The columns of `n` rows: the labels first, then each row's features.
fn decode_chunk(centres: &[f32], rng: &mut StepRng, n: usize) -> Vec<ArrayRef> {
    let labels: Vec<i64> = (0..n).map(|_| shardmix::rng::below(rng, CLASSES as u64) as i64).collect();
    // Column-major fill: column j of the chunk.
    let mut cols: Vec<Vec<f32>> = (0..FEATURES).map(|_| Vec::with_capacity(n)).collect();
    for &label in &labels {
        let centre = &centres[label as usize * FEATURES..][..FEATURES];
        for j in (0..FEATURES).step_by(2) {
            let (a, b) = normal_pair(rng);
            cols[j].push(centre[j] + a);
            cols[j + 1].push(centre[j + 1] + b);
        }
    }
    let mut arrays: Vec<ArrayRef> = cols.into_iter().map(|c| Arc::new(Float32Array::from(c)) as ArrayRef).collect();
    arrays.push(Arc::new(Int64Array::from(labels)));
    arrays
}

/// Pixels per image of dataset (b) (28 × 28).
pub const PIXELS: usize = 784;

/// Dataset (b) of `benches/peers`: 28 × 28 `float32` images as `fixed_size_list<float32>[784]`
/// plus an `i64` label, cached under `image-v1` (`examples/peer_data.rs` and `benches/decode.rs`).
pub fn image_dataset(spec: DatasetSpec) -> Result<Dataset, BoxError> {
    let ink = ink_maps();
    cached_dataset("image-v1", spec, image_schema(), 2, |rng, n| image_chunk(&ink, rng, n))
}

/// Dataset (b) as `uint8`: the same images (the same draws: an inked pixel is `k` where (b)
/// has `k / 255`) in a `fixed_size_list<uint8>[784]` column `pixels`, written as (b) is.
pub fn image_dataset_u8(spec: DatasetSpec) -> Result<Dataset, BoxError> {
    let ink = ink_maps();
    cached_dataset("image-u8-v1", spec, image_schema_u8(), 2, |rng, n| image_chunk_u8(&ink, rng, n))
}

fn image_schema_u8() -> Arc<Schema> {
    let item = Arc::new(Field::new("item", DataType::UInt8, false));
    Arc::new(Schema::new(vec![
        Field::new("pixels", DataType::FixedSizeList(item, PIXELS as i32), false),
        Field::new("label", DataType::Int64, false),
    ]))
}

/// [`image_chunk`]'s rows as bytes.
fn image_chunk_u8(ink: &[f32], rng: &mut shardmix::StepRng, n: usize) -> Result<Vec<ArrayRef>, BoxError> {
    let labels: Vec<i64> = (0..n).map(|_| shardmix::rng::below(rng, CLASSES as u64) as i64).collect();
    let mut values = Vec::with_capacity(n * PIXELS);
    for &label in &labels {
        let map = &ink[label as usize * PIXELS..][..PIXELS];
        for &p in map {
            let v = if (shardmix::rng::uniform(rng) as f32) < p { shardmix::rng::below(rng, 256) as u8 } else { 0 };
            values.push(v);
        }
    }
    let item = Arc::new(Field::new("item", DataType::UInt8, false));
    let pixels =
        FixedSizeListArray::try_new(item, PIXELS as i32, Arc::new(arrow_array::UInt8Array::from(values)), None)?;
    Ok(vec![Arc::new(pixels), Arc::new(Int64Array::from(labels))])
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

fn pixel_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Float32, false))
}

fn image_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("pixels", DataType::FixedSizeList(pixel_field(), PIXELS as i32), false),
        Field::new("label", DataType::Int64, false),
    ]))
}

/// The columns of `n` images: the labels first, then each image's pixels.
fn image_chunk(ink: &[f32], rng: &mut shardmix::StepRng, n: usize) -> Result<Vec<ArrayRef>, BoxError> {
    let labels: Vec<i64> = (0..n).map(|_| shardmix::rng::below(rng, CLASSES as u64) as i64).collect();
    let mut values = Vec::with_capacity(n * PIXELS);
    for &label in &labels {
        let map = &ink[label as usize * PIXELS..][..PIXELS];
        for &p in map {
            let v = if (shardmix::rng::uniform(rng) as f32) < p {
                shardmix::rng::below(rng, 256) as f32 / 255.0
            } else {
                0.0
            };
            values.push(v);
        }
    }
    let pixels = FixedSizeListArray::try_new(pixel_field(), PIXELS as i32, Arc::new(Float32Array::from(values)), None)?;
    Ok(vec![Arc::new(pixels), Arc::new(Int64Array::from(labels))])
}
