//! Decode throughput: the arrow-rs baseline vs shardmix's reader, on 1 and 2 threads.
//!
//! Dataset (see `benches/common/mod.rs`): 1,048,576 rows × (64 f32 `f0..f63` + i64 `label`),
//! 8 snappy shards, row groups of 65,536 rows, generated once under `target/bench-data/`.
//!
//! - `arrow-rs/threads=N`: a plain `ParquetRecordBatchReader` loop over the 8 files decoding all
//!   65 columns into Arrow record batches of 65,536 rows; with 2 threads the files are split in
//!   two halves, one per thread (`std::thread::scope`).
//! - `shardmix/threads=N`: `ShardSet::open` + `read_rows` over the whole dataset one row group
//!   at a time, producing row-major `f32` feature matrices and one-hot targets (the same
//!   unit as the baseline's record batches); with 2 threads the row groups are split in two
//!   halves, one per thread, like the baseline's files.
//!
//! Throughput is reported per row (elements) and per decoded byte (64 × 4 + 8 = 264 B/row).
//!
//! `decode-tensor`: the same two readers on the peer benchmarks' dataset (b)
//! (`benches/peers/README.md`; the same generator and cache as `examples/peer_data.rs`):
//! 262,144 rows × `fixed_size_list<float32>[784]` `pixels` + `int64` `label`, 4 snappy shards,
//! row groups of 8,192 rows; shardmix reads `pixels` as a tensor column (the direct path) and
//! one-hot `label`, a row group per `read_rows` call.
//!
//! ```sh
//! cargo bench --bench decode              # full datasets (~270 MB + ~110 MB on disk, generated once)
//! cargo bench --bench decode -- tensor    # dataset (b) only
//! cargo test --bench decode               # criterion test mode on small datasets
//! ```

mod common;

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use common::{decode_dataset, DatasetSpec, PIXELS};

/// Decode every row of `files` with arrow-rs; returns the rows decoded.
fn arrow_decode(files: &[PathBuf], batch_size: usize) -> usize {
    let mut rows = 0;
    for path in files {
        let file = File::open(path).expect("open shard");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("footer")
            .with_batch_size(batch_size)
            .build()
            .expect("reader");
        for batch in reader {
            let batch = batch.expect("decode");
            rows += black_box(&batch).num_rows();
        }
    }
    rows
}

/// The same on `threads` threads, each taking a contiguous share of the files.
fn arrow_decode_threads(files: &[PathBuf], batch_size: usize, threads: usize) -> usize {
    if threads <= 1 {
        return arrow_decode(files, batch_size);
    }
    let per = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files.chunks(per).map(|part| s.spawn(move || arrow_decode(part, batch_size))).collect();
        handles.into_iter().map(|h| h.join().expect("decode thread")).sum()
    })
}

/// Read the whole dataset through shardmix's reader on `threads` threads, each taking a
/// contiguous half of the rows in chunks of `chunk_rows`; returns the rows read.
fn shardmix_read(dir: &std::path::Path, chunk_rows: u64, threads: usize) -> usize {
    shardmix_read_features(dir, shardmix::Features::prefix("f"), chunk_rows, threads)
}

/// [`shardmix_read`] with `features` (and the one-hot `label`).
fn shardmix_read_features(
    dir: &std::path::Path,
    features: shardmix::Features,
    chunk_rows: u64,
    threads: usize,
) -> usize {
    use shardmix::{ShardSet, Target};
    let set = ShardSet::open(dir)
        .expect("open")
        .features(features)
        .expect("features")
        .target(Target::class("label", common::CLASSES))
        .expect("target");
    let total = set.num_rows();
    let per = total.div_ceil(threads.max(1) as u64).div_ceil(chunk_rows) * chunk_rows;
    let read = |from: u64, to: u64| {
        let mut rows = 0;
        let mut start = from;
        while start < to {
            let end = (start + chunk_rows).min(to);
            let batch = set.read_rows(start..end).expect("read_rows");
            rows += black_box(&batch).rows();
            start = end;
        }
        rows
    };
    std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..total).step_by(per as usize).map(|from| s.spawn(move || read(from, (from + per).min(total)))).collect();
        handles.into_iter().map(|h| h.join().expect("read thread")).sum()
    })
}

fn bench_decode(c: &mut Criterion) {
    let spec = DatasetSpec::from_args();
    let data = decode_dataset(spec);
    let rows = spec.rows;
    eprintln!(
        "decode bench: {} rows, {} shards, row groups of {}, {:.1} MB on disk, {:.1} MB decoded",
        rows,
        spec.shards,
        spec.row_group,
        data.file_bytes as f64 / 1e6,
        data.decoded_bytes() as f64 / 1e6
    );

    let mut group = c.benchmark_group("decode");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::ElementsAndBytes { elements: rows as u64, bytes: data.decoded_bytes() });

    for threads in [1usize, 2] {
        group.bench_with_input(BenchmarkId::new("arrow-rs", format!("threads={threads}")), &threads, |b, &threads| {
            b.iter(|| {
                let n = arrow_decode_threads(&data.files, spec.row_group, threads);
                assert_eq!(n, rows);
            })
        });
    }

    let chunk_rows = spec.row_group as u64;
    for threads in [1usize, 2] {
        group.bench_with_input(BenchmarkId::new("shardmix", format!("threads={threads}")), &threads, |b, &threads| {
            b.iter(|| {
                let n = shardmix_read(&data.dir, chunk_rows, threads);
                assert_eq!(n, rows);
            })
        });
    }
    group.finish();
}

/// Dataset (b) of `benches/peers` (the generator of `examples/peer_data.rs`, same cache key).
fn tensor_dataset(spec: DatasetSpec) -> common::Dataset {
    common::image_dataset(spec).unwrap_or_else(|e| panic!("bench data {spec:?}: {e}"))
}

fn bench_tensor(c: &mut Criterion) {
    let spec = if DatasetSpec::from_args() == DatasetSpec::FULL {
        DatasetSpec { rows: 1 << 18, shards: 4, row_group: 1 << 13 }
    } else {
        DatasetSpec { rows: 1 << 12, shards: 4, row_group: 1 << 9 }
    };
    let data = tensor_dataset(spec);
    let rows = spec.rows;
    let decoded = rows as u64 * (PIXELS * 4 + 8) as u64;
    eprintln!(
        "tensor decode bench: {} rows, {} shards, row groups of {}, {:.1} MB on disk, {:.1} MB decoded",
        rows,
        spec.shards,
        spec.row_group,
        data.file_bytes as f64 / 1e6,
        decoded as f64 / 1e6
    );
    let mut group = c.benchmark_group("decode-tensor");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::ElementsAndBytes { elements: rows as u64, bytes: decoded });
    // Interleaved, so that both readers see the same load on a shared machine.
    for threads in [1usize, 2] {
        group.bench_with_input(BenchmarkId::new("arrow-rs", format!("threads={threads}")), &threads, |b, &threads| {
            b.iter(|| assert_eq!(arrow_decode_threads(&data.files, spec.row_group, threads), rows))
        });
        group.bench_with_input(BenchmarkId::new("shardmix", format!("threads={threads}")), &threads, |b, &threads| {
            b.iter(|| {
                let features = shardmix::Features::list("pixels");
                assert_eq!(shardmix_read_features(&data.dir, features, spec.row_group as u64, threads), rows)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode, bench_tensor);
criterion_main!(benches);
