//! An in-process training loop fed by the pipeline: a 64-64-10 MLP on the bundled digits,
//! trained on 80% of the rows with Mixup (the seed's α = 0.2), evaluated on the other 20%.
//!
//! Run: `cargo run --release --example train_loop`
//!
//! The split is by row id: the pipeline reads rows through a `Map` stage that drops held-out
//! rows, so nothing is copied or rewritten.

use shardmix::nn::{Classifier, ClassifierConfig};
use shardmix::{Batch, Features, Map, Mixup, Order, Pipeline, Result, ShardSet, StepRng, Target};

/// Row ids with `id % 5 == 0` are held out.
fn held_out(id: u64) -> bool {
    id.is_multiple_of(5)
}

/// Keep only the training rows of a batch (before Mixup, so held-out rows never leak in).
fn training_rows(mut batch: Batch, _rng: &mut StepRng) -> Result<Batch> {
    let keep: Vec<bool> = batch.provenance.row_a.iter().map(|&id| !held_out(id)).collect();
    batch.retain_rows(&keep)?;
    Ok(batch)
}

fn main() -> Result<()> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let source = ShardSet::open(&data)?.features(Features::prefix("p"))?.target(Target::class("label", 10))?;

    // The held-out rows, read once.
    let all = source.read_rows(0..source.num_rows())?;
    let test: Vec<usize> = (0..all.rows()).filter(|&i| held_out(all.provenance.row_a[i])).collect();
    let x_test = all.features.select(ndarray::Axis(0), &test);
    let y_test: Vec<usize> = all
        .classes()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| test.contains(i))
        .map(|(_, c)| c)
        .collect();

    let mut model = Classifier::new(ClassifierConfig::new(64, 10), 7)?;
    let epochs = 40;
    let pipeline = Pipeline::builder()
        .source(source)
        .order(Order::shuffled(64))
        .stage(Map::new("train-split", training_rows))
        .stage(Mixup::new(0.2))
        .workers(2)
        .seed(7)
        .epochs(epochs)
        .build()?;
    let steps_per_epoch = pipeline.steps_per_epoch();
    let (mut loss_sum, mut batches) = (0.0f32, 0u32);
    for batch in pipeline {
        let batch = batch?;
        loss_sum += model.train_step(&batch)?;
        batches += 1;
        if batch.step % steps_per_epoch == steps_per_epoch - 1 {
            let epoch = batch.step / steps_per_epoch + 1;
            if epoch % 5 == 0 {
                let acc = model.accuracy(&x_test, &y_test)?;
                println!(
                    "epoch {epoch:>3}: loss {:.4}, held-out accuracy {:.1}%",
                    loss_sum / batches as f32,
                    100.0 * acc
                );
            }
            (loss_sum, batches) = (0.0, 0);
        }
    }
    Ok(())
}
