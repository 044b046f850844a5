//! Stopping a long call with a [`StopToken`] (what Ctrl-C does in the CLI and the Python
//! package): a token stopped beforehand stops `augment` and `train` at once with
//! `ErrorKind::Interrupted`; a token stopped from another thread stops them before the next
//! step. An interrupted augment leaves a resumable directory (complete shards, no temporary
//! file) from which a rerun writes the bytes of an uninterrupted run; an interrupted train
//! leaves the model file of the last complete epoch untouched.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shardmix::augment::{AugmentOptions, AugmentPlan, Event};
use shardmix::nn::train::{train_with_stop, training_defaults, Kind, TrainEvent, TrainOptions};
use shardmix::{ErrorKind, PipelineConfig, StopToken};

/// The most a stopped call may take to return (generous: a loaded machine; one step takes
/// milliseconds here).
const STOP_BOUND: Duration = Duration::from_secs(2);

fn plan(data: &Path, out: &Path) -> AugmentPlan {
    let settings = PipelineConfig {
        data: Some(vec![data.to_path_buf()]),
        batch_size: Some(16),
        steps: Some(120),
        order: Some("shuffled".into()),
        mixup_alpha: Some(0.4),
        seed: Some(3),
        ..Default::default()
    }
    .settings(None)
    .unwrap();
    let opts = AugmentOptions { rows_per_shard: Some(160), row_group_size: Some(64), ..Default::default() };
    AugmentPlan::new(settings, out, &opts).unwrap()
}

/// Every file of `dir` (hidden ones too) with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn input(dir: &Path) -> PathBuf {
    let path = dir.join("in.parquet");
    common::classification_file(&path, 0, 2000, 6, 4, 128);
    path
}

#[test]
fn a_stopped_token_stops_augment_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = input(tmp.path());
    let out = tmp.path().join("out");
    let p = plan(&data, &out);
    let stop = StopToken::new();
    stop.stop();
    let mut steps = 0;
    let err = p
        .run_with_stop(&stop, &mut |e| {
            if e == Event::Step {
                steps += 1
            }
        })
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Interrupted { step: 0, .. }), "{err}");
    assert!(err.to_string().contains("run the same command again to resume"), "{err}");
    assert_eq!(steps, 0);
    assert!(!files(&out).keys().any(|n| n.ends_with(".parquet") || n.ends_with(".tmp")), "{:?}", files(&out).keys());
    let err = p.write_shards_with_stop(0..2, &stop, &mut |_| {}).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Interrupted { step: 0, .. }), "{err}");
}

#[test]
fn a_token_stopped_from_another_thread_stops_augment_before_the_next_step_and_the_rerun_is_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let data = input(tmp.path());
    let whole = tmp.path().join("whole");
    plan(&data, &whole).run(&mut |_| {}).unwrap();

    let out = tmp.path().join("out");
    let p = plan(&data, &out);
    let stop = StopToken::new();
    let (tx, rx) = mpsc::channel::<()>();
    let (stopped_tx, stopped_rx) = mpsc::channel::<Instant>();
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            rx.recv().unwrap();
            stop.stop();
            stopped_tx.send(Instant::now()).unwrap();
        })
    };
    // Stop in the middle of shard 2 (10 steps a shard).
    let mut steps = 0u64;
    let mut after_stop = 0u64;
    let err = p
        .run_with_stop(&stop, &mut |e| {
            if e == Event::Step {
                steps += 1;
                if steps == 25 {
                    tx.send(()).unwrap();
                    // Let the other thread stop the token while this run goes on.
                    std::thread::sleep(Duration::from_millis(20));
                } else if steps > 25 {
                    after_stop += 1;
                }
            }
        })
        .unwrap_err();
    let returned = Instant::now();
    stopper.join().unwrap();
    let stopped_at = stopped_rx.recv().unwrap();
    assert!(matches!(err.kind(), ErrorKind::Interrupted { .. }), "{err}");
    assert!(after_stop <= 1, "{after_stop} steps ran after the stop");
    assert!(returned - stopped_at < STOP_BOUND, "stopped after {:?}", returned - stopped_at);
    let left = files(&out);
    let shards: Vec<_> = left.keys().filter(|n| n.ends_with(".parquet")).collect();
    assert_eq!(shards, ["part-00000.parquet", "part-00001.parquet"], "{:?}", left.keys());
    assert!(!left.keys().any(|n| n.ends_with(".tmp")), "a temporary file was left: {:?}", left.keys());
    for (name, bytes) in left.iter().filter(|(n, _)| n.ends_with(".parquet")) {
        assert_eq!(&files(&whole)[name], bytes, "{name} differs from the uninterrupted run's");
    }

    // The rerun resumes after the complete shards and writes the same directory.
    let summary = p.run(&mut |_| {}).unwrap();
    assert_eq!(summary.shards_kept, 2);
    assert_eq!(files(&out), files(&whole));
}

#[test]
fn a_token_stopped_between_write_shards_steps_discards_the_partial_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let data = input(tmp.path());
    let whole = tmp.path().join("whole");
    plan(&data, &whole).run(&mut |_| {}).unwrap();
    let out = tmp.path().join("out");
    let p = plan(&data, &out);
    p.prepare().unwrap();
    let stop = StopToken::new();
    let mut steps = 0;
    let err = p
        .write_shards_with_stop(3..6, &stop, &mut |e| {
            if e == Event::Step {
                steps += 1;
                if steps == 15 {
                    stop.stop();
                }
            }
        })
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Interrupted { step: 45, .. }), "{err}");
    let names: Vec<String> = files(&out).into_keys().filter(|n| !n.starts_with(".shardmix")).collect();
    assert_eq!(names, ["part-00003.parquet"], "only the complete shard stays");
    p.write_shards(0..12, &mut |_| {}).unwrap();
    p.finish().unwrap();
    assert_eq!(files(&out), files(&whole));
}

fn train_settings() -> shardmix::Settings {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let mut cfg = PipelineConfig {
        data: Some(vec![data]),
        batch_size: Some(64),
        epochs: Some(4),
        seed: Some(1),
        ..Default::default()
    };
    training_defaults(&mut cfg);
    cfg.settings(None).unwrap()
}

#[test]
fn a_stopped_token_stops_train_at_once_and_saves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("model.safetensors");
    let opts = TrainOptions { out: out.clone(), hidden: Some("32".into()), ..Default::default() };
    let stop = StopToken::new();
    stop.stop();
    let err = train_with_stop(Kind::Vae, &train_settings(), &opts, &stop, &mut |_| {}).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Interrupted { step: 0, .. }), "{err}");
    assert!(err.to_string().contains("no model was saved"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_token_stopped_mid_epoch_leaves_the_last_epochs_model_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("model.safetensors");
    let opts = TrainOptions { out: out.clone(), hidden: Some("32".into()), ..Default::default() };
    let stop = StopToken::new();
    let (tx, rx) = mpsc::channel::<()>();
    let (stopped_tx, stopped_rx) = mpsc::channel::<Instant>();
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            rx.recv().unwrap();
            stop.stop();
            stopped_tx.send(Instant::now()).unwrap();
        })
    };
    let mut saved: Option<Vec<u8>> = None;
    let mut steps_after_save = 0;
    let err = train_with_stop(Kind::Vae, &train_settings(), &opts, &stop, &mut |e| match e {
        TrainEvent::Info(line) if line.starts_with("epoch 1:") => saved = Some(std::fs::read(&out).unwrap()),
        TrainEvent::Step if saved.is_some() => {
            steps_after_save += 1;
            if steps_after_save == 5 {
                tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        _ => {}
    })
    .unwrap_err();
    let returned = Instant::now();
    stopper.join().unwrap();
    assert!(returned - stopped_rx.recv().unwrap() < STOP_BOUND);
    assert!(matches!(err.kind(), ErrorKind::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains("left untouched"), "{err}");
    assert!(steps_after_save <= 6, "{steps_after_save} steps after the first epoch");
    let saved = saved.expect("the first epoch was saved");
    assert_eq!(std::fs::read(&out).unwrap(), saved, "the model file changed after the first epoch");
    let dir: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(dir.len(), 1, "only the model file: {dir:?}");
}

/// The CLI: the first Ctrl-C stops `train` before the next step; it exits with status 130,
/// saying what the model file holds, and the file is the last complete epoch's.
#[test]
fn ctrl_c_stops_the_cli_train_with_status_130() {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("model.safetensors");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .args(["--quiet", "train", "vae", "--batch-size", "16", "--epochs", "1000", "--hidden", "64"])
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !out.exists() && Instant::now() < deadline {
        assert!(child.try_wait().unwrap().is_none(), "train ended before its first epoch was saved");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(out.exists(), "no epoch saved in time");
    let sent = Instant::now();
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(sent.elapsed() < Duration::from_secs(30), "train did not stop");
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = sent.elapsed();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}: {stderr}");
    assert!(took < STOP_BOUND, "stopped {took:?} after SIGINT");
    assert!(stderr.contains("error: training interrupted before step"), "{stderr}");
    assert!(stderr.contains("left untouched"), "{stderr}");
    let dir: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(dir.len(), 1, "only the model file: {dir:?}");
    // A complete file: it loads.
    shardmix::nn::Vae::load(&out).unwrap();
}

/// A pipeline over the digits whose stage sleeps `slow` on step 1.
fn slow_step_one(slow: Duration, timeout: Option<Duration>) -> shardmix::Pipeline {
    use shardmix::{Batch, Features, Map, Order, ShardSet, StepRng, Target};
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let set = ShardSet::open(data)
        .and_then(|s| s.features(Features::prefix("p")))
        .and_then(|s| s.target(Target::class("label", 10)))
        .unwrap();
    let stage = Map::new("slow", move |b: Batch, _: &mut StepRng| {
        if b.provenance.row_a[0] / 8 == 1 {
            std::thread::sleep(slow);
        }
        Ok(b)
    });
    let mut builder =
        shardmix::Pipeline::builder().source(set).order(Order::sequential(8)).stage(stage).workers(2).steps(4);
    if let Some(t) = timeout {
        builder = builder.step_timeout(t);
    }
    builder.build().unwrap()
}

/// `Pipeline::next_within` (what the Python package waits with, to answer Ctrl-C): a slow
/// step is `Pending` for a while, then the same batch as `next()` gives, no step skipped.
#[test]
fn next_within_waits_in_bounded_rounds_and_loses_no_step() {
    use std::task::Poll;
    let reference: Vec<_> = slow_step_one(Duration::ZERO, None).map(|b| b.unwrap()).collect();
    let mut p = slow_step_one(Duration::from_millis(600), None);
    let mut got = Vec::new();
    let mut pending = 0;
    loop {
        let t = Instant::now();
        match p.next_within(Duration::from_millis(50)) {
            Poll::Pending => {
                assert!(t.elapsed() < STOP_BOUND, "one round waited {:?}", t.elapsed());
                pending += 1;
            }
            Poll::Ready(None) => break,
            Poll::Ready(Some(b)) => got.push(b.unwrap()),
        }
    }
    assert!(pending >= 3, "the slow step was pending {pending} times");
    assert_eq!(got.iter().map(|b| b.step).collect::<Vec<_>>(), [0, 1, 2, 3]);
    for (a, b) in got.iter().zip(&reference) {
        assert_eq!(a.features, b.features);
    }
}

/// The step timeout counts across the rounds of `next_within`, not from each call.
#[test]
fn next_within_keeps_the_step_timeout() {
    use std::task::Poll;
    let mut p = slow_step_one(Duration::from_secs(3), Some(Duration::from_millis(300)));
    assert!(matches!(p.next_within(Duration::from_millis(50)), Poll::Ready(Some(Ok(_)))));
    let t = Instant::now();
    let err = loop {
        match p.next_within(Duration::from_millis(50)) {
            Poll::Pending => assert!(t.elapsed() < Duration::from_secs(2), "the timeout never came"),
            Poll::Ready(r) => break r.unwrap().unwrap_err(),
        }
    };
    assert!(matches!(err.kind(), ErrorKind::Timeout { step: 1, .. }), "{err}");
    assert!(t.elapsed() >= Duration::from_millis(300));
}
