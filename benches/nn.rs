//! Training and generation throughput of the VAE (64 → 128 → 16 → 128 → 64) and the GAN
//! (G 16 → 128 → 64, D 64 → 128 → 1), batch 128, in samples per second, with rayon's global
//! pool as the models use it; the group is named after its size (`nn/t1/…`, `nn/t2/…`):
//!
//! ```sh
//! RAYON_NUM_THREADS=1 cargo bench --bench nn
//! RAYON_NUM_THREADS=2 cargo bench --bench nn
//! ```
//!
//! (Criterion cannot run inside a local pool, and the global pool is sized once per process.)
//! Compare with `benches/peers/nn_torch.py` (PyTorch CPU), or run both side by side with
//! `examples/peer_nn.rs` (see `benches/peers/`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array2;
use shardmix::nn::{Gan, GanConfig, Vae, VaeConfig};
use shardmix::{rng, Batch, Generator};

const BATCH: usize = 128;
const FEATURES: usize = 64;

fn batch() -> Batch {
    let mut r = rng::derive(1, 1, 1);
    let x = Array2::from_shape_fn((BATCH, FEATURES), |_| rng::uniform(&mut r) as f32);
    Batch::new(0, x, None, (0..BATCH as u64).collect()).unwrap()
}

fn bench(c: &mut Criterion) {
    let b = batch();
    let mut group = c.benchmark_group(format!("nn/t{}", rayon::current_num_threads()));
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut vae = Vae::new(VaeConfig::new(FEATURES), 0).unwrap();
    group.bench_function("vae_train_step_b128", |bench| {
        bench.iter(|| black_box(vae.train_step(black_box(&b)).unwrap()))
    });
    let sampler = vae.sampler();
    let mut r = rng::derive(0, 0, 0);
    group.bench_function("vae_generate_128", |bench| {
        bench.iter(|| black_box(sampler.generate(None, BATCH, &mut r).unwrap()))
    });

    let mut gan = Gan::new(GanConfig::new(FEATURES), 0).unwrap();
    group.bench_function("gan_train_step_b128", |bench| {
        bench.iter(|| black_box(gan.train_step(black_box(&b)).unwrap()))
    });
    let gs = gan.sampler();
    group.bench_function("gan_generate_128", |bench| {
        bench.iter(|| black_box(gs.generate(None, BATCH, &mut r).unwrap()))
    });

    group.throughput(Throughput::Elements(4096));
    group.bench_function("vae_generate_4096", |bench| {
        bench.iter(|| black_box(sampler.generate(None, 4096, &mut r).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
