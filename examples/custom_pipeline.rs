//! A custom loader pipeline: a user-written stage (Gaussian pixel noise with per-step
//! randomness) after shuffling, on the bundled digits, with two workers.
//!
//! Run: `cargo run --release --example custom_pipeline`

use rand_distr::{Distribution, Normal};
use shardmix::{Batch, Features, Order, Pipeline, Result, ShardSet, Stage, StepRng, Target};

/// Adds N(0, σ²) noise to every feature and clips to [0, 1]. It holds no per-step state:
/// its randomness comes from the step's RNG, so the output is the same for any worker count.
struct PixelNoise {
    noise: Normal<f32>,
}

impl PixelNoise {
    fn new(sigma: f32) -> Result<Self> {
        let noise = Normal::new(0.0, sigma).map_err(|e| shardmix::Error::config("sigma", e.to_string()))?;
        Ok(PixelNoise { noise })
    }
}

impl Stage for PixelNoise {
    fn name(&self) -> &str {
        "pixel-noise"
    }

    fn apply(&self, mut batch: Batch, rng: &mut StepRng) -> Result<Batch> {
        for v in batch.features.iter_mut() {
            *v = (*v + self.noise.sample(rng)).clamp(0.0, 1.0);
        }
        Ok(batch)
    }
}

fn main() -> Result<()> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let source = ShardSet::open(&data)?.features(Features::prefix("p"))?.target(Target::class("label", 10))?;
    let mut pipeline = Pipeline::builder()
        .source(source)
        .order(Order::shuffled(128))
        .stage(PixelNoise::new(0.05)?)
        .workers(2)
        .seed(42)
        .epochs(3)
        .build()?;
    let mut checksum = 0f64;
    for batch in pipeline.by_ref() {
        let batch = batch?;
        checksum += batch.features.iter().map(|&v| v as f64).sum::<f64>();
    }
    let stats = pipeline.stats();
    println!("{} batches, {} rows, {:.0} rows/s", stats.batches, stats.rows, stats.rows_per_sec);
    for (stage, t) in &stats.stage_times {
        println!("  {stage}: {t:?} (summed over workers)");
    }
    println!("  reading: {:?}; consumer waited {:?}", stats.read_time, stats.consumer_wait);
    println!("feature checksum {checksum:.3} (the same for any --workers)");
    Ok(())
}
