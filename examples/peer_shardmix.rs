//! Peer benchmark: shardmix end to end through the library — Parquet shards → batches of `B`
//! rows in sequential order → the seed's Mixup(α) → a consumer that touches every batch.
//! Used by `benches/peers/run.sh`.
//!
//! ```sh
//! cargo run --release --example peer_shardmix -- DIR [--workers N] [--repeats R] [--epochs E]
//!     [--batch-size 256] [--alpha 0.2] [--features 'f*' | --list pixels] [--cache-mib M] [--stats]
//! ```
//!
//! Each timed pass opens the shards (footers), builds the pipeline and consumes one epoch (E
//! epochs of one pipeline with `--epochs E`, as `shardmix stream --epochs E` runs them),
//! summing one feature and one target value of every batch so that nothing is optimised away.
//! One untimed warm-up pass, then `--repeats` timed passes (default 5). Prints
//! `RESULT {"rows": N, "secs": [..]}` on stdout; with `--stats`, the pipeline's phase times of
//! the last pass (read, stages, consumer wait, worker idle, cache) on stderr.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use shardmix::{Features, Mixup, Order, Pipeline, ShardSet, Stats, Target};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    dir: PathBuf,
    workers: usize,
    repeats: usize,
    epochs: u64,
    batch_size: usize,
    alpha: f64,
    features: Features,
    cache_mib: Option<usize>,
    stats: bool,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        dir: PathBuf::new(),
        workers: 1,
        repeats: 5,
        epochs: 1,
        batch_size: 256,
        alpha: 0.2,
        features: Features::prefix("f"),
        cache_mib: None,
        stats: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--workers" => args.workers = value("--workers")?.parse()?,
            "--repeats" => args.repeats = value("--repeats")?.parse()?,
            "--epochs" => args.epochs = value("--epochs")?.parse()?,
            "--batch-size" => args.batch_size = value("--batch-size")?.parse()?,
            "--alpha" => args.alpha = value("--alpha")?.parse()?,
            "--features" => args.features = Features::glob(&value("--features")?),
            "--list" => args.features = Features::list(&value("--list")?),
            "--cache-mib" => args.cache_mib = Some(value("--cache-mib")?.parse()?),
            "--stats" => args.stats = true,
            _ if a.starts_with("--") => return Err(format!("unknown flag {a}").into()),
            _ => args.dir = PathBuf::from(a),
        }
    }
    if args.dir.as_os_str().is_empty() {
        return Err("usage: peer_shardmix DIR [--workers N] [--repeats R] [--epochs E] [--batch-size B] [--alpha A] \
                    [--features GLOB | --list COLUMN] [--cache-mib M] [--stats]"
            .into());
    }
    Ok(args)
}

/// One pass (one pipeline of `--epochs` epochs) end to end; returns (rows, checksum, stats).
fn epoch(args: &Args) -> Result<(u64, f64, Stats), BoxError> {
    let set = ShardSet::open(&args.dir)?.features(args.features.clone())?.target(Target::class("label", 10))?;
    let mut builder = Pipeline::builder()
        .source(set)
        .order(Order::sequential(args.batch_size))
        .stage(Mixup::new(args.alpha))
        .workers(args.workers)
        .seed(1)
        .epochs(args.epochs);
    if let Some(m) = args.cache_mib {
        builder = builder.cache_bytes(m << 20);
    }
    let mut pipeline = builder.build()?;
    let (mut rows, mut sum) = (0u64, 0.0f64);
    for batch in pipeline.by_ref() {
        let batch = batch?;
        sum += f64::from(batch.features[[0, 0]]);
        if let Some(t) = &batch.targets {
            sum += f64::from(t[[0, 0]]);
        }
        rows += black_box(&batch).rows() as u64;
    }
    Ok((rows, sum, pipeline.stats()))
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let (rows, checksum, _) = epoch(&args)?; // warm-up
    let mut secs = Vec::with_capacity(args.repeats);
    let mut last = None;
    for _ in 0..args.repeats {
        let t = Instant::now();
        let (n, sum, stats) = epoch(&args)?;
        secs.push(t.elapsed().as_secs_f64());
        if n != rows || sum != checksum {
            return Err(format!("pass gave {n} rows (checksum {sum}), the first {rows} ({checksum})").into());
        }
        last = Some(stats);
    }
    if let (true, Some(s)) = (args.stats, last) {
        let stages: Vec<String> =
            s.stage_times.iter().map(|(name, d)| format!("{name} {:.3} s", d.as_secs_f64())).collect();
        eprintln!(
            "stats (last pass, times summed over {} worker(s)): elapsed {:.3} s, read {:.3} s, decode (all threads) {:.3} s, \
             stages [{}], \
             consumer wait {:.3} s, worker idle {:.3} s, cache {} hits / {} misses, peak {:.1} MiB of {:.0} MiB",
            args.workers,
            s.elapsed.as_secs_f64(),
            s.read_time.as_secs_f64(),
            s.decode_time.as_secs_f64(),
            stages.join(", "),
            s.consumer_wait.as_secs_f64(),
            s.worker_idle.as_secs_f64(),
            s.cache.hits,
            s.cache.misses,
            s.cache.peak_bytes as f64 / (1 << 20) as f64,
            s.cache.capacity as f64 / (1 << 20) as f64,
        );
    }
    let list: Vec<String> = secs.iter().map(|s| format!("{s:.6}")).collect();
    println!("RESULT {{\"rows\": {rows}, \"secs\": [{}], \"checksum\": {checksum}}}", list.join(", "));
    Ok(())
}
