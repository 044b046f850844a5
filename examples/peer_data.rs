//! Generate the datasets of the peer benchmarks (`benches/peers/run.sh`), once, deterministically.
//!
//! ```sh
//! cargo run --release --example peer_data [-- --quick] [--tabular-only]
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
//! machine. Prints `a=DIR` and `b=DIR` on stdout for the harness; with `--tabular-only`, only
//! (a) is generated and printed (the writers section of `run.sh --writers` needs no more).

#[path = "../benches/common/mod.rs"]
mod common;

use std::sync::Arc;

use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array};
use arrow_schema::{DataType, Field, Schema};

use common::{BoxError, DatasetSpec, CLASSES};

/// Pixels per image (28 × 28).
const PIXELS: usize = 784;

fn main() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let tabular_only = std::env::args().any(|a| a == "--tabular-only");
    let a = if quick { DatasetSpec { rows: 1 << 17, shards: 8, row_group: 1 << 13 } } else { DatasetSpec::FULL };
    let b = if quick {
        DatasetSpec { rows: 1 << 15, shards: 4, row_group: 1 << 11 }
    } else {
        DatasetSpec { rows: 1 << 18, shards: 4, row_group: 1 << 13 }
    };
    let tabular = common::decode_dataset(a);
    println!("a={}", tabular.dir.display());
    if tabular_only {
        return Ok(());
    }
    let ink = ink_maps();
    let image = common::cached_dataset("image-v1", b, image_schema(), 2, |rng, n| image_chunk(&ink, rng, n))?;
    println!("b={}", image.dir.display());
    Ok(())
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
