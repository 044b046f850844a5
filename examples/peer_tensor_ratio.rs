//! Peer benchmark for tensor columns: shardmix's decode of a `fixed_size_list` / `list` column
//! against a bare arrow-rs `ParquetRecordBatchReader` decode of the same files, at equal
//! threads, the two passes interleaved so that both see the same load on a shared machine.
//!
//! ```sh
//! cargo run --release --example peer_data              # prints b=DIR (dataset (b))
//! cargo run --release --example peer_tensor_ratio -- DIR [--threads N] [--repeats R] [--pixels uint8]
//! ```
//!
//! With `--pixels uint8` (for the `uint8` version of (b), `peer_data --with-uint8`'s `b8`)
//! shardmix keeps the pixels as `u8` (`Pixels::U8`); with `--pixels float32` (the default) it
//! widens them to `f32`. arrow-rs decodes the column as it is (a `UInt8Array` then).
//!
//! Each repeat decodes every `*.parquet` file of `DIR` once with arrow-rs (all columns, record
//! batches of one row group, 8,192 rows) and once with shardmix (`ShardSet::read_rows` over
//! the whole set a row group at a time: the list column `pixels` as row-major `f32` features,
//! `label` one-hot over 10 classes). With `--threads 2` each reader splits its work in two
//! contiguous halves, one per thread. One untimed warm-up of each, then `--repeats` pairs
//! (default 5); prints each pair's times and the median of the per-pair ratios
//! arrow-rs ÷ shardmix, then `RESULT {...}` on stdout.

use std::fs::File;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shardmix::{Features, Pixels, ShardSet, Target};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rows per arrow-rs record batch and per shardmix `read_rows` call (dataset (b)'s row group).
const CHUNK: usize = 8192;

fn arrow_decode(files: &[PathBuf]) -> Result<usize, BoxError> {
    let mut rows = 0;
    for path in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?.with_batch_size(CHUNK).build()?;
        for batch in reader {
            rows += black_box(&batch?).num_rows();
        }
    }
    Ok(rows)
}

fn arrow_threads(files: &[PathBuf], threads: usize) -> Result<usize, BoxError> {
    let per = files.len().div_ceil(threads.max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = files.chunks(per).map(|part| s.spawn(move || arrow_decode(part))).collect();
        handles.into_iter().map(|h| h.join().map_err(|_| BoxError::from("thread panicked"))?).sum()
    })
}

fn shardmix_threads(set: &ShardSet, threads: usize) -> Result<usize, BoxError> {
    let total = set.num_rows();
    let per = total.div_ceil(threads.max(1) as u64).div_ceil(CHUNK as u64) * CHUNK as u64;
    let read = |from: u64, to: u64| -> Result<usize, BoxError> {
        let mut rows = 0;
        let mut start = from;
        while start < to {
            let end = (start + CHUNK as u64).min(to);
            rows += black_box(set.read_rows(start..end)?).rows();
            start = end;
        }
        Ok(rows)
    };
    std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..total).step_by(per as usize).map(|from| s.spawn(move || read(from, (from + per).min(total)))).collect();
        handles.into_iter().map(|h| h.join().map_err(|_| BoxError::from("thread panicked"))?).sum()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Result<(), BoxError> {
    let (mut dir, mut threads, mut repeats) = (PathBuf::new(), 1usize, 5usize);
    let mut pixels = Pixels::F32;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--threads" => threads = value("--threads")?.parse()?,
            "--repeats" => repeats = value("--repeats")?.parse()?,
            "--pixels" => pixels = Pixels::parse(&value("--pixels")?)?,
            _ if a.starts_with("--") => return Err(format!("unknown flag {a}").into()),
            _ => dir = PathBuf::from(a),
        }
    }
    if dir.as_os_str().is_empty() {
        return Err("usage: peer_tensor_ratio DIR [--threads N] [--repeats R] [--pixels float32|uint8]".into());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let set = ShardSet::builder()
        .features(Features::list("pixels"))
        .target(Target::class("label", 10))
        .pixels(pixels)
        .open(Path::new(&dir))?;
    let rows = set.num_rows() as usize;
    // Warm-up (page cache, allocator, pools).
    let (a, s) = (arrow_threads(&files, threads)?, shardmix_threads(&set, threads)?);
    if a != rows || s != rows {
        return Err(format!("rows: arrow-rs {a}, shardmix {s}, footer {rows}").into());
    }
    let (mut arrow, mut ours, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..repeats {
        let t = Instant::now();
        arrow_threads(&files, threads)?;
        let a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        shardmix_threads(&set, threads)?;
        let s = t.elapsed().as_secs_f64();
        eprintln!("pair {i}: arrow-rs {a:.3} s, shardmix {s:.3} s, ratio {:.2}", a / s);
        arrow.push(a);
        ours.push(s);
        ratios.push(a / s);
    }
    let krows = |secs: f64| rows as f64 / secs / 1e3;
    println!(
        "pixels={} threads={threads}: arrow-rs {:.1} k rows/s, shardmix {:.1} k rows/s (medians), median pair ratio {:.2}x",
        pixels.as_str(),
        krows(median(arrow.clone())),
        krows(median(ours.clone())),
        median(ratios.clone())
    );
    println!("RESULT {{\"rows\": {rows}, \"threads\": {threads}, \"arrow_secs\": {arrow:?}, \"shardmix_secs\": {ours:?}, \"ratios\": {ratios:?}}}");
    Ok(())
}
