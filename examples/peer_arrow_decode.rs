//! Peer benchmark: a bare arrow-rs `ParquetRecordBatchReader` loop that only decodes — the floor
//! any Parquet loader written on arrow-rs pays. Used by `benches/peers/run.sh`.
//!
//! ```sh
//! cargo run --release --example peer_arrow_decode -- DIR [--threads N] [--repeats R]
//! ```
//!
//! Decodes every column of every `*.parquet` file of `DIR` (sorted by name) into Arrow record
//! batches of one row group each (`--batch-size`, default 65,536 rows), touching each batch. With
//! `--threads 2` the files are split into two contiguous halves, one per thread. One untimed
//! warm-up pass, then `--repeats` timed passes (default 5); prints
//! `RESULT {"rows": N, "secs": [..]}` on stdout.

use std::fs::File;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    dir: PathBuf,
    threads: usize,
    repeats: usize,
    batch_size: usize,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args { dir: PathBuf::new(), threads: 1, repeats: 5, batch_size: 65_536 };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--threads" => args.threads = value("--threads")?.parse()?,
            "--repeats" => args.repeats = value("--repeats")?.parse()?,
            "--batch-size" => args.batch_size = value("--batch-size")?.parse()?,
            _ if a.starts_with("--") => return Err(format!("unknown flag {a}").into()),
            _ => args.dir = PathBuf::from(a),
        }
    }
    if args.dir.as_os_str().is_empty() {
        return Err("usage: peer_arrow_decode DIR [--threads N] [--repeats R] [--batch-size B]".into());
    }
    Ok(args)
}

/// The `*.parquet` files of `dir`, sorted.
fn shard_files(dir: &Path) -> Result<Vec<PathBuf>, BoxError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.parquet files in {}", dir.display()).into());
    }
    Ok(files)
}

/// Decode every row of `files`; returns the rows decoded.
fn decode(files: &[PathBuf], batch_size: usize) -> Result<usize, BoxError> {
    let mut rows = 0;
    for path in files {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?.with_batch_size(batch_size).build()?;
        for batch in reader {
            rows += black_box(&batch?).num_rows();
        }
    }
    Ok(rows)
}

fn decode_threads(files: &[PathBuf], batch_size: usize, threads: usize) -> Result<usize, BoxError> {
    if threads <= 1 {
        return decode(files, batch_size);
    }
    let per = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files.chunks(per).map(|part| s.spawn(move || decode(part, batch_size))).collect();
        let mut rows = 0;
        for h in handles {
            rows += h.join().map_err(|_| "decode thread panicked")??;
        }
        Ok(rows)
    })
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let files = shard_files(&args.dir)?;
    let rows = decode_threads(&files, args.batch_size, args.threads)?; // warm-up
    let mut secs = Vec::with_capacity(args.repeats);
    for _ in 0..args.repeats {
        let t = Instant::now();
        let n = decode_threads(&files, args.batch_size, args.threads)?;
        secs.push(t.elapsed().as_secs_f64());
        if n != rows {
            return Err(format!("decoded {n} rows, then {rows}").into());
        }
    }
    let list: Vec<String> = secs.iter().map(|s| format!("{s:.6}")).collect();
    println!("RESULT {{\"rows\": {rows}, \"secs\": [{}]}}", list.join(", "));
    Ok(())
}
