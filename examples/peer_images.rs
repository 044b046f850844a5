//! Peer benchmark for image columns: shardmix end to end through the library on a dataset in
//! Hugging Face's `Image` layout — encoded PNGs decoded per batch on the workers, the seed's
//! Mixup(α), a consumer that touches every batch. Used by `benches/peers/images.sh`.
//!
//! ```sh
//! cargo run --release --example peer_images -- DIR [--workers N] [--repeats R] [--batch-size 256] [--alpha 0.2]
//! ```
//!
//! The features are the image column (found by `Features::auto`: the only non-label column),
//! the target the `label` column (10 classes). One untimed warm-up pass, then `--repeats` timed
//! passes (default 5); prints `RESULT {"rows": N, "secs": [..]}`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use shardmix::{Mixup, Order, Pipeline, ShardSet, Target};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn epoch(dir: &PathBuf, workers: usize, batch_size: usize, alpha: f64) -> Result<(u64, f64), BoxError> {
    let set = ShardSet::open(dir)?.target(Target::class("label", 10))?;
    if set.image().is_none() {
        return Err(format!("{}: no image column found", dir.display()).into());
    }
    let pipeline = Pipeline::builder()
        .source(set)
        .order(Order::sequential(batch_size))
        .stage(Mixup::new(alpha))
        .workers(workers)
        .seed(1)
        .epochs(1)
        .build()?;
    let (mut rows, mut sum) = (0u64, 0.0f64);
    for batch in pipeline {
        let batch = batch?;
        sum += f64::from(batch.features[[0, 0]]);
        rows += black_box(&batch).rows() as u64;
    }
    Ok((rows, sum))
}

fn main() -> Result<(), BoxError> {
    let (mut dir, mut workers, mut repeats, mut batch, mut alpha) = (PathBuf::new(), 1usize, 5usize, 256usize, 0.2f64);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--workers" => workers = value("--workers")?.parse()?,
            "--repeats" => repeats = value("--repeats")?.parse()?,
            "--batch-size" => batch = value("--batch-size")?.parse()?,
            "--alpha" => alpha = value("--alpha")?.parse()?,
            _ if a.starts_with("--") => return Err(format!("unknown flag {a}").into()),
            _ => dir = PathBuf::from(a),
        }
    }
    if dir.as_os_str().is_empty() {
        return Err("usage: peer_images DIR [--workers N] [--repeats R] [--batch-size B] [--alpha A]".into());
    }
    let (rows, checksum) = epoch(&dir, workers, batch, alpha)?; // warm-up
    let mut secs = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        let (n, sum) = epoch(&dir, workers, batch, alpha)?;
        secs.push(t.elapsed().as_secs_f64());
        if n != rows || sum != checksum {
            return Err(format!("pass gave {n} rows (checksum {sum}), the first {rows} ({checksum})").into());
        }
    }
    let list: Vec<String> = secs.iter().map(|s| format!("{s:.6}")).collect();
    println!("RESULT {{\"rows\": {rows}, \"secs\": [{}], \"checksum\": {checksum}}}", list.join(", "));
    Ok(())
}
