//! Peer benchmark: VAE and GAN training and generation throughput in samples/s, the same models
//! and batch as `benches/nn.rs` and `benches/peers/nn_torch.py` (VAE 64 → 128 → 16 → 128 → 64,
//! GAN G 16 → 128 → 64, D 64 → 128 → 1, batch 128). Used by `benches/peers/run.sh`.
//!
//! ```sh
//! cargo run --release --example peer_nn -- [--threads 1] [--repeats 5] [--iters 200] [--only NAME,NAME]
//! ```
//!
//! `--threads N` sizes rayon's global pool, which the models use inside a step (the matrix
//! products and element-wise passes are split by rows when large enough); the default 1 keeps
//! everything on the calling thread. `--only` runs the named benchmarks alone (for profiling).
//!
//! Each benchmark: a warm-up of `iters / 10` calls, then `--repeats` timings of `iters` calls.
//! Prints one `RESULT {"name": .., "rows": samples per timing, "secs": [..]}` line per benchmark.

use std::hint::black_box;
use std::time::Instant;

use ndarray::Array2;
use shardmix::nn::{Gan, GanConfig, Vae, VaeConfig};
use shardmix::{rng, Batch, Generator};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const BATCH: usize = 128;
const FEATURES: usize = 64;

fn time(
    only: &[String],
    name: &str,
    rows_per_call: usize,
    iters: usize,
    repeats: usize,
    mut f: impl FnMut() -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    if !only.is_empty() && !only.iter().any(|o| o == name) {
        return Ok(());
    }
    for _ in 0..(iters / 10).max(3) {
        f()?;
    }
    let mut secs = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        for _ in 0..iters {
            f()?;
        }
        secs.push(format!("{:.6}", t.elapsed().as_secs_f64()));
    }
    println!("RESULT {{\"name\": \"{name}\", \"rows\": {}, \"secs\": [{}]}}", rows_per_call * iters, secs.join(", "));
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let mut repeats = 5;
    let mut iters = 200;
    let mut threads = 1;
    let mut only: Vec<String> = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repeats" => repeats = it.next().ok_or("--repeats needs a value")?.parse()?,
            "--iters" => iters = it.next().ok_or("--iters needs a value")?.parse()?,
            "--threads" => threads = it.next().ok_or("--threads needs a value")?.parse()?,
            "--only" => only = it.next().ok_or("--only needs a value")?.split(',').map(str::to_owned).collect(),
            _ => {
                return Err(format!(
                    "unknown argument {a}; usage: peer_nn [--threads T] [--repeats R] [--iters N] [--only NAME,NAME]"
                )
                .into())
            }
        }
    }
    if threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    eprintln!("peer_nn: rayon pool of {} thread(s)", rayon::current_num_threads());
    let mut r = rng::derive(1, 1, 1);
    let x = Array2::from_shape_fn((BATCH, FEATURES), |_| rng::uniform(&mut r) as f32);
    let batch = Batch::new(0, x, None, (0..BATCH as u64).collect())?;

    let mut vae = Vae::new(VaeConfig::new(FEATURES), 0)?;
    time(&only, "vae_train_step_b128", BATCH, iters, repeats, || {
        black_box(vae.train_step(&batch)?);
        Ok(())
    })?;
    let sampler = vae.sampler();
    let mut g = rng::derive(0, 0, 0);
    time(&only, "vae_generate_128", BATCH, iters, repeats, || {
        black_box(sampler.generate(None, BATCH, &mut g)?);
        Ok(())
    })?;
    time(&only, "vae_generate_4096", 4096, (iters / 10).max(1), repeats, || {
        black_box(sampler.generate(None, 4096, &mut g)?);
        Ok(())
    })?;
    let mut gan = Gan::new(GanConfig::new(FEATURES), 0)?;
    time(&only, "gan_train_step_b128", BATCH, iters, repeats, || {
        black_box(gan.train_step(&batch)?);
        Ok(())
    })?;
    let gs = gan.sampler();
    time(&only, "gan_generate_128", BATCH, iters, repeats, || {
        black_box(gs.generate(None, BATCH, &mut g)?);
        Ok(())
    })?;
    Ok(())
}
