//! `augment --pixels uint8` interrupted and resumed: a run killed with SIGKILL after it has
//! written some shards, then rerun with the same flags, leaves a directory byte-identical to an
//! uninterrupted run's (the complete shards are kept, the rest written as the undisturbed run
//! wrote them). The run crops and flips, so every shard depends on (seed, step).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, FixedSizeListArray, Int64Array, UInt8Array};
use arrow_schema::{DataType, Field};
use parquet::basic::Compression;
use shardmix::{Features, Pixels, ShardSet};

/// Image shape of the fixture: 12 × 10 × 3.
const SHAPE: &str = "12x10x3";
const WIDTH: usize = 12 * 10 * 3;
const ROWS: usize = 6000;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shardmix"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// `ROWS` rows of `fixed_size_list<uint8>[WIDTH]` `pixels` (every byte value occurs) and a
/// 10-class `label`.
fn tensor_file(path: &Path) -> PathBuf {
    let values: Vec<u8> =
        (0..ROWS).flat_map(|r| (0..WIDTH).map(move |j| ((r * 31 + j * 7 + (r * j) % 13) % 256) as u8)).collect();
    let item = Arc::new(Field::new("item", DataType::UInt8, false));
    let list = FixedSizeListArray::new(item, WIDTH as i32, Arc::new(UInt8Array::from(values)), None);
    let labels: ArrayRef = Arc::new(Int64Array::from_iter_values((0..ROWS as i64).map(|i| i % 10)));
    common::write_columns(
        path,
        vec![("pixels", Arc::new(list)), ("label", labels)],
        common::props(Compression::SNAPPY, 500),
    );
    path.to_path_buf()
}

/// `augment --pixels uint8` of `data` into `out`: shuffled, cropped and flipped, 20 shards.
fn args(data: &Path, out: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec!["augment".into(), "--data".into(), data.display().to_string()];
    a.extend(["--out".into(), out.display().to_string()]);
    for (k, v) in [
        ("--pixels", "uint8"),
        ("--feature-shape", SHAPE),
        ("--random-resized-crop", "8x6"),
        ("--hflip", "0.5"),
        ("--batch-size", "50"),
        ("--order", "shuffled"),
        ("--epochs", "2"),
        ("--seed", "5"),
        ("--rows-per-shard", "600"),
        ("--workers", "2"),
    ] {
        a.extend([k.to_string(), v.to_string()]);
    }
    a.extend(["--provenance".into(), "--quiet".into()]);
    a
}

fn run(args: &[String]) -> Output {
    bin().args(args).output().expect("run shardmix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shards_done(out: &Path) -> usize {
    std::fs::read_dir(out)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with("part-") && name.ends_with(".parquet")
                })
                .count()
        })
        .unwrap_or(0)
}

/// Start `augment` and freeze it (SIGSTOP) as soon as it has finished a shard.
fn start_and_stop_after_a_shard(args: &[String], out: &Path) -> Child {
    let mut child = bin().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    loop {
        if shards_done(out) >= 1 {
            // At once (not through kill(1)), so that the run is frozen well before its end.
            let pid = i32::try_from(child.id()).unwrap();
            assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0, "SIGSTOP failed");
            return child;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("augment ended ({status}) before it was seen finishing a shard");
        }
        assert!(t.elapsed() < Duration::from_secs(120), "augment never finished a shard");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_interrupted_uint8_augment_resumes_byte_for_byte() {
    let dir = common::tempdir();
    let data = tensor_file(&dir.path().join("pixels.parquet"));
    let reference = dir.path().join("reference");
    let o = run(&args(&data, &reference));
    assert!(o.status.success(), "reference run: {}", stderr(&o));
    let want = common::dir_files(&reference);
    let shards = want.iter().filter(|(n, _)| n.starts_with("part-")).count();
    assert_eq!(shards, 20, "{:?}", want.iter().map(|(n, _)| n).collect::<Vec<_>>());
    // The output is uint8 images of the cropped shape.
    let set = ShardSet::builder().features(Features::list("pixels")).pixels(Pixels::U8).open(&reference).unwrap();
    assert_eq!(set.spec().num_features(), 8 * 6 * 3);
    assert_eq!(set.num_rows(), 2 * ROWS as u64);

    let out = dir.path().join("out");
    let mut first = start_and_stop_after_a_shard(&args(&data, &out), &out);
    first.kill().unwrap(); // SIGKILL, while frozen
    first.wait().unwrap();
    let kept = shards_done(&out);
    assert!(kept >= 1 && kept < shards, "the killed run wrote {kept} of {shards} shards");
    assert!(!out.join(shardmix::format::MANIFEST_FILE).exists());
    // What the killed run published is the undisturbed run's, byte for byte.
    for (name, bytes) in common::dir_files(&out).iter().filter(|(n, _)| n.starts_with("part-")) {
        assert!(want.iter().any(|(n, b)| n == name && b == bytes), "{name} differs from the undisturbed run");
    }
    let o = run(&args(&data, &out));
    assert!(o.status.success(), "the rerun: {}", stderr(&o));
    let got = common::dir_files(&out);
    assert_eq!(
        got.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        want.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "the same files"
    );
    for ((name, a), (_, b)) in got.iter().zip(&want) {
        assert!(a == b, "{name} differs after the resume");
    }
}
