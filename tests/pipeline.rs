//! The pipeline engine: determinism across workers and resume points, orders and ranks,
//! failure handling, shutdown and memory bounds.

mod common;

use common::fixture;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::Rng;
use shardmix::{Batch, Error, ErrorKind, Features, Map, Order, Pipeline, Result, ShardSet, StepRng};

/// A stage that uses its RNG, so determinism covers stage randomness too.
fn noisy() -> impl shardmix::Stage {
    Map::new("noise", |mut b: Batch, rng: &mut StepRng| {
        for v in b.features.iter_mut() {
            *v += (rng.next_u32() % 1000) as f32 * 1e-3;
        }
        Ok(b)
    })
}

fn run(set: &ShardSet, order: Order, workers: usize, start: u64, steps: u64) -> Vec<Batch> {
    Pipeline::builder()
        .source(set.clone())
        .order(order)
        .stage(noisy())
        .workers(workers)
        .prefetch(3)
        .seed(11)
        .steps(steps)
        .start_step(start)
        .build()
        .unwrap()
        .collect::<Result<Vec<_>>>()
        .unwrap()
}

#[test]
fn offset_order_reads_the_seeds_slices() {
    let (_d, set, n) = fixture::open_dataset();
    let b = 32u64;
    let batches: Vec<Batch> = Pipeline::builder()
        .source(set)
        .order(Order::offset(b as usize))
        .workers(2)
        .steps(30)
        .build()
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    for (s, batch) in batches.iter().enumerate() {
        let offset = (s as u64 * b) % (n - b);
        assert_eq!(batch.step, s as u64);
        assert_eq!(batch.provenance.row_a, (offset..offset + b).collect::<Vec<_>>(), "step {s}");
        assert_eq!(batch.features[[0, 0]], fixture::f0(offset));
    }
}

#[test]
fn sequential_and_shuffled_cover_every_row_once_per_epoch() {
    let (_d, set, n) = fixture::open_dataset();
    for order in [Order::sequential(48), Order::shuffled(48).window(2)] {
        let p = Pipeline::builder().source(set.clone()).order(order.clone()).workers(2).epochs(2).build().unwrap();
        let spe = p.steps_per_epoch();
        let batches: Vec<Batch> = p.collect::<Result<_>>().unwrap();
        assert_eq!(batches.len() as u64, 2 * spe);
        for epoch in 0..2 {
            let mut ids: Vec<u64> = batches[(epoch * spe) as usize..((epoch + 1) * spe) as usize]
                .iter()
                .flat_map(|b| b.provenance.row_a.clone())
                .collect();
            ids.sort();
            assert_eq!(ids, (0..n).collect::<Vec<_>>(), "{order:?} epoch {epoch}");
        }
        // Every row's values match its id.
        for b in &batches {
            for (i, &r) in b.provenance.row_a.iter().enumerate() {
                assert_eq!(b.features[[i, 1]], fixture::f1(r));
            }
        }
    }
}

#[test]
fn ranks_are_disjoint_and_their_union_is_the_single_process_run() {
    let (_d, set, _) = fixture::open_dataset();
    for order in [Order::offset(40), Order::shuffled(40)] {
        let single: Vec<Batch> = Pipeline::builder()
            .source(set.clone())
            .order(order.clone())
            .stage(noisy())
            .seed(5)
            .epochs(2)
            .workers(1)
            .build()
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        let world = 3;
        let mut union: Vec<Batch> = Vec::new();
        for rank in 0..world {
            let part: Vec<Batch> = Pipeline::builder()
                .source(set.clone())
                .order(order.clone())
                .stage(noisy())
                .seed(5)
                .epochs(2)
                .rank(rank, world)
                .workers(2)
                .build()
                .unwrap()
                .collect::<Result<_>>()
                .unwrap();
            assert!(part.iter().all(|b| b.step % world as u64 == rank as u64));
            union.extend(part);
        }
        union.sort_by_key(|b| b.step);
        assert_eq!(union, single, "{order:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn bit_identical_for_any_worker_count_and_resume_point(start in 0u64..20, order_kind in 0usize..3) {
        let (_d, set, _) = fixture::open_dataset();
        let order = match order_kind { 0 => Order::offset(24), 1 => Order::sequential(24), _ => Order::shuffled(24) };
        let reference = run(&set, order.clone(), 0, 0, 30);
        for workers in [1, 2, 8] {
            let out = run(&set, order.clone(), workers, 0, 30);
            prop_assert_eq!(&out, &reference);
        }
        let resumed = run(&set, order.clone(), 2, start, 30);
        prop_assert_eq!(&resumed[..], &reference[start as usize..]);
    }

    #[test]
    fn a_stage_error_names_its_step_and_ends_the_stream(fail_at in 0u64..20, workers in 0usize..4) {
        let (_d, set, _) = fixture::open_dataset();
        let p = Pipeline::builder().source(set).order(Order::offset(16)).workers(workers).steps(25)
            .stage(Map::new("picky", move |b: Batch, _: &mut StepRng| if b.step == fail_at { Err(Error::config("picky", "refused")) } else { Ok(b) }))
            .build().unwrap();
        let items: Vec<Result<Batch>> = p.collect();
        prop_assert_eq!(items.len() as u64, fail_at + 1);
        let err = items.last().unwrap().as_ref().unwrap_err();
        let matched = matches!(err.kind(), ErrorKind::Stage { step, stage, .. } if *step == fail_at && stage == "picky");
        prop_assert!(matched, "{}", err);
    }
}

#[test]
fn a_panicking_stage_becomes_an_error() {
    let (_d, set, _) = fixture::open_dataset();
    for workers in [0, 2] {
        let p = Pipeline::builder()
            .source(set.clone())
            .order(Order::offset(16))
            .workers(workers)
            .steps(10)
            .stage(Map::new(
                "boom",
                |b: Batch, _: &mut StepRng| {
                    if b.step == 3 {
                        panic!("kaboom at three")
                    } else {
                        Ok(b)
                    }
                },
            ))
            .build()
            .unwrap();
        let items: Vec<Result<Batch>> = p.collect();
        assert_eq!(items.len(), 4);
        let err = items[3].as_ref().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Panic { step: 3, .. }), "{err}");
        assert!(err.to_string().contains("kaboom at three") && err.to_string().contains("boom"), "{err}");
    }
}

#[test]
fn size_hint_counts_the_steps_left_and_an_error_ends_the_iterator() {
    let (_d, set, _) = fixture::open_dataset();
    let mut p = Pipeline::builder().source(set.clone()).order(Order::offset(16)).workers(2).steps(5).build().unwrap();
    assert_eq!(p.size_hint(), (1, Some(5)));
    p.next().unwrap().unwrap();
    assert_eq!(p.size_hint(), (1, Some(4)));
    assert_eq!(p.by_ref().count(), 4);
    assert_eq!(p.size_hint(), (0, Some(0)));
    assert!(p.next().is_none());

    let fails = Map::new(
        "fails",
        |b: Batch, _: &mut StepRng| {
            if b.step == 1 {
                Err(Error::config("fails", "on purpose"))
            } else {
                Ok(b)
            }
        },
    );
    let mut p = Pipeline::builder().source(set).order(Order::offset(16)).steps(5).stage(fails).build().unwrap();
    p.next().unwrap().unwrap();
    let err = p.next().unwrap().unwrap_err();
    match err.kind() {
        ErrorKind::Stage { step: 1, stage, source } if stage == "fails" => {
            assert!(matches!(source.kind(), ErrorKind::Config { name, .. } if name == "fails"), "{err:?}")
        }
        other => panic!("expected the stage's error at step 1, got {other:?}"),
    }
    assert_eq!(p.size_hint(), (0, Some(0)), "the first error is the last item");
    assert!(p.next().is_none());
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn dropping_mid_epoch_joins_every_worker_promptly() {
    let (_d, set, _) = fixture::open_dataset();
    let before = thread_count();
    for _ in 0..20 {
        let mut p =
            Pipeline::builder().source(set.clone()).order(Order::shuffled(8)).workers(4).unbounded().build().unwrap();
        assert!(p.next().unwrap().is_ok());
        let t = Instant::now();
        drop(p);
        assert!(t.elapsed() < Duration::from_millis(100), "drop took {:?}", t.elapsed());
    }
    // Other tests run in parallel threads of this process, so allow them some slack, but 20
    // leaked pipelines would leave 80 threads.
    assert!(thread_count() < before + 16, "threads before {before}, after {}", thread_count());
}

#[test]
fn a_stuck_stage_is_reported_after_the_timeout() {
    let (_d, set, _) = fixture::open_dataset();
    let p = Pipeline::builder()
        .source(set)
        .order(Order::offset(16))
        .workers(1)
        .steps(3)
        .step_timeout(Duration::from_millis(200))
        .stage(Map::new("stuck", |b: Batch, _: &mut StepRng| {
            if b.step == 1 {
                std::thread::sleep(Duration::from_secs(3));
            }
            Ok(b)
        }))
        .build()
        .unwrap();
    let t = Instant::now();
    let items: Vec<Result<Batch>> = p.collect();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(matches!(items[1].as_ref().unwrap_err().kind(), ErrorKind::Timeout { step: 1, .. }));
}

#[test]
fn cache_stays_within_its_bound_while_streaming_more_than_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    // 8 shards × 5 row groups × 500 rows × 3 features ≈ 240 KB decoded; cache 40 KB.
    for i in 0..8u64 {
        fixture::write_shard(&dir.path().join(format!("s{i}.parquet")), i * 2500, 2500, 500);
    }
    let set = ShardSet::open(dir.path()).unwrap().features(Features::columns(&["f0", "f1", "f2"])).unwrap();
    let cap = 40_000;
    let p = Pipeline::builder()
        .source(set)
        .order(Order::sequential(100))
        .workers(2)
        .epochs(2)
        .cache_bytes(cap)
        .build()
        .unwrap();
    let mut p = p;
    let mut rows = 0;
    for b in p.by_ref() {
        rows += b.unwrap().rows();
    }
    assert_eq!(rows, 40_000);
    let stats = p.stats();
    assert!(stats.cache.peak_bytes <= cap, "{:?}", stats.cache);
    assert!(stats.cache.peak_bytes > 0);
    // Sequential reading decodes each row group once per epoch (80 decodes), not once per batch.
    assert!(stats.cache.misses <= 80 + 2, "{:?}", stats.cache);
}

#[test]
fn invalid_configuration_is_rejected_at_build() {
    let (_d, set, n) = fixture::open_dataset();
    let e = Pipeline::builder().source(set.clone()).order(Order::offset(n as usize)).build().err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::Config { name, .. } if name == "batch_size"), "{e}");
    let e = Pipeline::builder().source(set.clone()).rank(3, 3).build().err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::Config { name, .. } if name == "rank"), "{e}");
    let e = Pipeline::builder().build().err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::Config { name, .. } if name == "source"), "{e}");
    let e = Pipeline::builder().source(set).prefetch(0).build().err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::Config { name, .. } if name == "prefetch"), "{e}");
}

#[test]
fn stats_count_rows_and_stage_time() {
    let (_d, set, _) = fixture::open_dataset();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let mut p = Pipeline::builder()
        .source(set)
        .order(Order::offset(10))
        .workers(2)
        .steps(7)
        .stage(Map::new("count", move |b: Batch, _: &mut StepRng| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(b)
        }))
        .build()
        .unwrap();
    for b in p.by_ref() {
        b.unwrap();
    }
    let s = p.stats();
    assert_eq!((s.rows, s.batches), (70, 7));
    assert_eq!(calls.load(Ordering::SeqCst), 7);
    assert_eq!(s.stage_times.len(), 1);
    assert_eq!(s.stage_times[0].0, "count");
    assert!(s.rows_per_sec > 0.0);
}

#[test]
fn a_shard_that_disappears_mid_epoch_fails_with_its_name_or_is_skipped() {
    use shardmix::BadShard;
    for policy in [BadShard::Fail, BadShard::Skip] {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..4u64 {
            fixture::write_shard(&dir.path().join(format!("s{i}.parquet")), i * 100, 100, 50);
        }
        let set = ShardSet::open(dir.path()).unwrap().features(Features::columns(&["f0"])).unwrap();
        let mut p = Pipeline::builder()
            .source(set)
            .order(Order::sequential(50))
            .workers(2)
            .prefetch(1)
            .cache_bytes(0)
            .on_bad_shard(policy)
            .build()
            .unwrap();
        let first = p.next().unwrap().unwrap();
        assert_eq!(first.rows(), 50);
        // Truncate the third shard and delete the fourth while the epoch runs.
        let third = dir.path().join("s2.parquet");
        let bytes = std::fs::read(&third).unwrap();
        std::fs::write(&third, &bytes[..bytes.len() / 2]).unwrap();
        std::fs::remove_file(dir.path().join("s3.parquet")).unwrap();
        let rest: Vec<Result<Batch>> = p.by_ref().collect();
        match policy {
            BadShard::Fail => {
                let err = rest.iter().find_map(|r| r.as_ref().err()).expect("an error");
                assert!(err.chain().contains("s2.parquet"), "{}", err.chain());
                assert!(matches!(err.kind(), ErrorKind::Read { step: 4, .. }), "{}", err.chain());
            }
            BadShard::Skip => {
                let rows: usize = rest.iter().map(|r| r.as_ref().unwrap().rows()).sum();
                assert_eq!(rows + 50, 200);
                let stats = p.stats();
                assert_eq!(stats.skipped_rows, 200);
                let paths: Vec<String> = stats.skipped_blocks.iter().map(|b| b.path.display().to_string()).collect();
                assert!(
                    paths.iter().any(|p| p.ends_with("s2.parquet")) && paths.iter().any(|p| p.ends_with("s3.parquet")),
                    "{paths:?}"
                );
            }
        }
    }
}
