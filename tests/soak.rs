//! Soak: 20 epochs of streaming with random early drops and re-creation of the iterator must
//! leak no thread and keep the resident memory flat. (Its own test binary, so no other test's
//! threads or allocations blur the counts.)

mod common;

use common::fixture;

use rand::Rng;
use shardmix::{Features, Order, Pipeline, ShardSet};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn twenty_epochs_with_random_drops_leak_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6u64 {
        fixture::write_shard(&dir.path().join(format!("s{i}.parquet")), i * 5000, 5000, 1000);
    }
    let set = ShardSet::open(dir.path()).unwrap().features(Features::columns(&["f0", "f1", "f2"])).unwrap();
    let mut rng = shardmix::rng::derive(1, 2, 3);
    // Warm up first: the rayon pool that decodes blocks in parallel starts its threads lazily.
    let mut base_threads = 0;
    let mut rss_after_warmup = 0;
    for epoch in 0..20u64 {
        let mut pipeline = Pipeline::builder()
            .source(set.clone())
            .order(Order::shuffled(256))
            .workers(3)
            .seed(epoch)
            .epochs(1)
            .cache_bytes(1 << 20)
            .build()
            .unwrap();
        let spe = pipeline.steps_per_epoch();
        // Half the epochs are cut short at a random step, the others run to the end.
        let take = if epoch % 2 == 0 { 1 + rng.next_u64() % spe } else { spe };
        for _ in 0..take {
            pipeline.next().unwrap().unwrap();
        }
        drop(pipeline);
        // Dropping joins the workers that stop within STOP_GRACE and detaches any still busy
        // (on a loaded machine a worker may need longer to wake up); a detached worker exits
        // when its current job returns. So wait for the count to settle before comparing.
        let settled = |limit: usize| {
            let t = std::time::Instant::now();
            while threads() > limit && t.elapsed() < std::time::Duration::from_secs(2) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            threads()
        };
        if epoch == 1 {
            std::thread::sleep(std::time::Duration::from_millis(300));
            base_threads = settled(0);
        } else if epoch > 1 {
            let now = settled(base_threads);
            assert!(now <= base_threads, "epoch {epoch}: worker threads left behind ({now} > {base_threads})");
        }
        if epoch == 4 {
            rss_after_warmup = rss_kib();
        }
    }
    let rss_end = rss_kib();
    assert!(rss_end < rss_after_warmup + 16 * 1024, "RSS grew from {rss_after_warmup} KiB to {rss_end} KiB");
}
