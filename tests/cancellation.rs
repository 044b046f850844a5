//! Stopping a pipeline: dropping it, or its first error, must not wait for the steps still
//! queued (up to the prefetch depth) — a shared stop flag keeps the workers from starting
//! another job, and `drop` does not wait for a slow stage to finish.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use shardmix::{Batch, Error, Features, Map, Order, Pipeline, ShardSet, StepRng, Target};

const BATCH: u64 = 8;
const WORKERS: usize = 2;
const QUEUED: usize = 32;

/// A pipeline over the digits, 8 rows a batch, whose stage records each step it starts and
/// takes 1 s per batch except for the steps in `fast`; step `fail` (if any) fails at once.
fn slow_pipeline(fast: &'static [u64], fail: Option<u64>, started: Arc<AtomicUsize>) -> Pipeline {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let set = ShardSet::open(data)
        .and_then(|s| s.features(Features::prefix("p")))
        .and_then(|s| s.target(Target::class("label", 10)))
        .expect("open the digits");
    let stage = Map::new("slow", move |b: Batch, _: &mut StepRng| {
        started.fetch_add(1, Ordering::SeqCst);
        let step = b.provenance.row_a[0] / BATCH;
        if Some(step) == fail {
            return Err(Error::config("test", format!("step {step} fails")));
        }
        if !fast.contains(&step) {
            std::thread::sleep(Duration::from_secs(1));
        }
        Ok(b)
    });
    Pipeline::builder()
        .source(set)
        .order(Order::sequential(BATCH as usize))
        .stage(stage)
        .workers(WORKERS)
        .prefetch(QUEUED)
        .steps(200)
        .build()
        .expect("build the pipeline")
}

/// Run `f` on another thread; how long it took, or `None` after `limit` (so that a failing
/// run reports in seconds rather than after every queued step).
fn timed(limit: Duration, f: impl FnOnce() + Send + 'static) -> Option<Duration> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let t = Instant::now();
        f();
        let _ = tx.send(t.elapsed());
    });
    rx.recv_timeout(limit).ok()
}

/// No step starts after the stop: wait past one slow step and count again.
fn assert_no_new_steps(started: &AtomicUsize, at_stop: usize) {
    std::thread::sleep(Duration::from_millis(1500));
    let now = started.load(Ordering::SeqCst);
    assert!(now <= at_stop, "{} steps started after the stop (at the stop {at_stop}, now {now})", now - at_stop);
}

#[test]
fn drop_returns_within_100_ms_with_32_slow_batches_queued() {
    let started = Arc::new(AtomicUsize::new(0));
    let mut p = slow_pipeline(&[0], None, started.clone());
    // Dispatches 32 steps; step 0 is fast, every other step takes 1 s.
    assert!(p.next().expect("a batch").is_ok());
    // Let both workers enter a slow step.
    std::thread::sleep(Duration::from_millis(100));
    let at_stop = started.load(Ordering::SeqCst);
    assert!(at_stop <= 1 + WORKERS, "{at_stop} steps started before the drop");
    let took = timed(Duration::from_secs(3), move || drop(p));
    let took = took.expect("drop did not return within 3 s");
    assert!(took < Duration::from_millis(100), "drop took {took:?}");
    assert_no_new_steps(&started, at_stop);
}

#[test]
fn the_first_error_stops_the_queued_steps_within_100_ms() {
    let started = Arc::new(AtomicUsize::new(0));
    let mut p = slow_pipeline(&[0, 1], Some(1), started.clone());
    assert!(p.next().expect("a batch").is_ok());
    // Step 1 fails at once; both workers then enter a slow step.
    std::thread::sleep(Duration::from_millis(100));
    let at_stop = started.load(Ordering::SeqCst);
    let (tx, rx) = mpsc::channel();
    let took = timed(Duration::from_secs(3), move || {
        let r = p.next();
        let _ = tx.send((r.map(|r| r.map(|b| b.rows())), p));
    });
    let took = took.expect("the error did not arrive within 3 s");
    let (r, p) = rx.recv().expect("the result");
    let err = r.expect("an item").expect_err("step 1 fails");
    let msg = err.chain().to_string();
    assert!(msg.contains("step 1 fails"), "{msg}");
    assert!(took < Duration::from_millis(100), "the error took {took:?}");
    assert_no_new_steps(&started, at_stop);
    let t = Instant::now();
    drop(p);
    assert!(t.elapsed() < Duration::from_millis(100), "drop after the error took {:?}", t.elapsed());
}
