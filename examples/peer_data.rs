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
//! - **(b8) image, uint8**: (b) with `fixed_size_list<uint8>[784]` pixels (`k` for `k / 255`),
//!   written the same way (`--with-uint8`; prints `b8=DIR`).
//!
//! Everything is drawn from `shardmix::rng::derive(SEED, ..)`, so the files are identical on every
//! machine. Prints `a=DIR` and `b=DIR` on stdout for the harness; with `--tabular-only`, only
//! (a) is generated and printed (the writers section of `run.sh --writers` needs no more).

#[path = "../benches/common/mod.rs"]
mod common;

use common::{BoxError, DatasetSpec};

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
    let image = common::image_dataset(b)?;
    println!("b={}", image.dir.display());
    if std::env::args().any(|a| a == "--with-uint8") {
        let image = common::image_dataset_u8(b)?;
        println!("b8={}", image.dir.display());
    }
    Ok(())
}
