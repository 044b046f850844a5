//! Rows/s of the Mixup stage alone: the seed's setting (elem mode, α = 0.2) on 256 × 64 f32
//! batches with 10-class one-hot targets, and CutMix on 256 × (28·28·1).
//!
//! Peer: `python benches/peers/mixup_numpy.py --bench` (the seed's numpy `mixup_batch`).

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput};
use ndarray::Array2;
use shardmix::rng::for_stage;
use shardmix::{Batch, Mixup, Stage};

fn batch(rows: usize, features: usize, classes: usize) -> Batch {
    let x = Array2::from_shape_fn((rows, features), |(i, j)| ((i * 131 + j * 7) % 251) as f32 / 251.0);
    let y = Array2::from_shape_fn((rows, classes), |(i, j)| (i % classes == j) as u8 as f32);
    Batch::new(0, x, Some(y), (0..rows as u64).collect()).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixup");
    g.throughput(Throughput::Elements(256));
    // One step counter across the benchmarks: every call draws from a fresh step's RNG.
    let mut step = 0u64;
    let elem = Mixup::new(0.2);
    bench_stage(&mut g, "elem_a0.2_256x64", &batch(256, 64, 10), &elem, &mut step);
    let cutmix = Mixup::new(0.0).cutmix(1.0).feature_shape(&[28, 28, 1]);
    bench_stage(&mut g, "cutmix_a1_256x784", &batch(256, 28 * 28, 10), &cutmix, &mut step);
    g.finish();
}

/// Time `m.apply` on a clone of `b`, each call with the RNG of the next step.
fn bench_stage(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, b: &Batch, m: &Mixup, step: &mut u64) {
    g.bench_function(name, |bench| {
        bench.iter_batched(
            || {
                *step += 1;
                (b.clone(), for_stage(0, 0, *step))
            },
            |(b, mut r)| black_box(m.apply(b, &mut r).unwrap()),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
