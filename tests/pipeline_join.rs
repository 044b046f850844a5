//! No worker thread outlives a pipeline that ran to its end, nor one stopped with
//! [`Pipeline::close`] (even inside a slow step); only `drop` mid-run detaches a worker that is
//! inside a step, so that it returns at once. The `pages` fuzz target's LeakSanitizer report
//! (112 bytes: crossbeam-channel's thread-local context of a worker detached after missing its
//! stop grace on a starved machine) came from such a worker; the fuzz harness now closes its
//! pipelines.
//!
//! One test in this file: it counts the process's worker threads, which another test's
//! pipeline would add to.

use std::path::Path;
use std::time::{Duration, Instant};

use shardmix::{Batch, Features, Map, Order, Pipeline, ShardSet, StepRng, Target};

/// Threads of this process named as pipeline workers (`shardmix-worker-N`, cut to 15 bytes).
fn workers_alive() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("shardmix-worke"))
        .count()
}

/// A pipeline over the digits of `steps` batches of 8 rows on 4 workers whose stage sleeps
/// `sleep` per batch.
fn pipeline(steps: u64, sleep: Duration) -> Pipeline {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let set = ShardSet::open(data)
        .and_then(|s| s.features(Features::prefix("p")))
        .and_then(|s| s.target(Target::class("label", 10)))
        .expect("open the digits");
    let stage = Map::new("sleep", move |b: Batch, _: &mut StepRng| {
        std::thread::sleep(sleep);
        Ok(b)
    });
    Pipeline::builder()
        .source(set)
        .order(Order::sequential(8))
        .stage(stage)
        .workers(4)
        .prefetch(16)
        .steps(steps)
        .build()
        .expect("build the pipeline")
}

/// Wait up to 5 s for the worker threads to be gone (a detached one exits by itself).
fn settle() -> usize {
    let t = Instant::now();
    while workers_alive() > 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    workers_alive()
}

/// Wait up to 5 s for the worker threads to show: a thread names itself once it runs, which a
/// loaded machine may delay past `build`.
fn started() -> usize {
    let t = Instant::now();
    while workers_alive() == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    workers_alive()
}

#[test]
fn no_worker_outlives_a_finished_or_closed_pipeline() {
    assert_eq!(workers_alive(), 0, "before any pipeline");

    // Run to its end: the iterator's last `next` joins every worker.
    let mut p = pipeline(40, Duration::ZERO);
    assert!(started() > 0, "the worker threads are counted");
    assert_eq!(p.by_ref().map(|b| b.expect("a batch").rows()).sum::<usize>(), 320);
    assert_eq!(workers_alive(), 0, "after the last batch, before drop");
    drop(p);

    // Closed with every worker inside a 300 ms step: close waits for them.
    let mut p = pipeline(40, Duration::from_millis(300));
    assert!(p.next().expect("a batch").is_ok());
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    p.close();
    let took = t.elapsed();
    assert_eq!(workers_alive(), 0, "after close (which took {took:?})");
    assert!(took > Duration::from_millis(50), "close waited for the steps in progress: {took:?}");

    // Dropped in the same state, with 2 s steps: returns well before the steps end, the busy
    // workers detached (they exit after their step). This is the case close exists for.
    let mut p = pipeline(40, Duration::from_millis(2000));
    assert!(p.next().expect("a batch").is_ok());
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    drop(p);
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1500), "drop took {took:?}");
    assert_eq!(settle(), 0, "the detached workers exit after their step");
}
