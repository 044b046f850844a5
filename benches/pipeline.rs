//! End-to-end pipeline throughput on the benchmark dataset (1,048,576 rows × 64 f32 + label,
//! 8 snappy shards, row groups of 65,536): Parquet → batches of 256 through an identity stage,
//! and through the seed's Mixup, with 1 and 2 workers; plus 25% CVAE injection against none.
//!
//! `cargo bench --bench pipeline` (the dataset is generated once under target/bench-data/).

mod common;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardmix::nn::{Vae, VaeConfig};
use shardmix::{Batch, Features, Inject, Map, Mixup, Order, Pipeline, ShardSet, Stage, StepRng, Target};

fn source(ds: &common::Dataset) -> ShardSet {
    ShardSet::open(&ds.dir)
        .and_then(|s| s.features(Features::prefix("f")))
        .and_then(|s| s.target(Target::class("label", 10)))
        .expect("open bench data")
}

fn run_epoch(set: &ShardSet, workers: usize, stages: &[Arc<dyn Stage>]) -> u64 {
    let mut b =
        Pipeline::builder().source(set.clone()).order(Order::sequential(256)).workers(workers).seed(1).epochs(1);
    for s in stages {
        b = b.stage_arc(s.clone());
    }
    let mut rows = 0u64;
    for batch in b.build().expect("pipeline") {
        rows += batch.expect("batch").rows() as u64;
    }
    rows
}

fn identity() -> Arc<dyn Stage> {
    Arc::new(Map::new("identity", |b: Batch, _: &mut StepRng| Ok(b)))
}

fn bench_pipeline(c: &mut Criterion) {
    let ds = common::decode_dataset(common::DatasetSpec::from_args());
    let set = source(&ds);
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10).throughput(Throughput::Elements(ds.spec.rows as u64));
    let mixup: Arc<dyn Stage> = Arc::new(Mixup::new(0.2));
    for workers in [1usize, 2] {
        g.bench_with_input(BenchmarkId::new("decode+identity", workers), &workers, |b, &w| {
            b.iter(|| run_epoch(&set, w, &[identity()]))
        });
        g.bench_with_input(BenchmarkId::new("decode+mixup", workers), &workers, |b, &w| {
            b.iter(|| run_epoch(&set, w, std::slice::from_ref(&mixup)))
        });
    }
    g.finish();
}

fn bench_inject(c: &mut Criterion) {
    let ds = common::decode_dataset(common::DatasetSpec::from_args());
    let set = source(&ds);
    // Untrained weights generate at the same cost as trained ones.
    let vae = Vae::new(VaeConfig { num_classes: Some(10), ..VaeConfig::new(64) }, 0).expect("vae");
    let inject: Arc<dyn Stage> = Arc::new(Inject::replace(Arc::new(vae.sampler()), 0.25));
    let mixup: Arc<dyn Stage> = Arc::new(Mixup::new(0.2));
    let mut g = c.benchmark_group("inject");
    g.sample_size(10).throughput(Throughput::Elements(ds.spec.rows as u64));
    for workers in [1usize, 2] {
        g.bench_with_input(BenchmarkId::new("mixup", workers), &workers, |b, &w| {
            b.iter(|| run_epoch(&set, w, std::slice::from_ref(&mixup)))
        });
        g.bench_with_input(BenchmarkId::new("vae25%+mixup", workers), &workers, |b, &w| {
            b.iter(|| run_epoch(&set, w, &[inject.clone(), mixup.clone()]))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_pipeline, bench_inject);
criterion_main!(benches);
