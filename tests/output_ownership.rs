//! The output directory belongs to whoever wrote each file in it (issues 14 and 20):
//!
//! * `--overwrite` deletes only files shardmix can prove it wrote, and refuses — naming them,
//!   changing nothing — when someone else's files sit at the names it writes;
//! * `augment` refuses an `--out` that is, contains or lies inside its `--data`;
//! * a resume reads its own shards with the checks input footers get, so a crafted footer in
//!   `--out` is rejected at once instead of hanging arrow-rs;
//! * a run that failed before its first shard does not block the corrected rerun;
//! * a directory in the first layout (`manifest.json`, `_shardmix_run.json`) resumes, and is
//!   migrated to the hidden names.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float32Array};
use ndarray::Array2;
use shardmix::format::{shard_file_name, MANIFEST_FILE, RUN_FILE};
use shardmix::{Batch, DataSpec, ErrorKind, FeatureLayout, ParquetSink, ParquetSinkOptions, TargetKind};

const STEPS: u64 = 10;
const PER_SHARD: u64 = 2;

fn spec() -> DataSpec {
    DataSpec {
        features: FeatureLayout::Columns(vec!["a".into(), "b".into()]),
        target: TargetKind::None,
        feature_shape: None,
        pixels: Default::default(),
    }
}

fn batch(step: u64) -> Batch {
    let x = Array2::from_shape_fn((3, 2), |(i, j)| step as f32 * 10.0 + i as f32 + j as f32 / 4.0);
    Batch::new(step, x, None, (0..3).map(|i| step * 3 + i).collect()).unwrap()
}

fn opts() -> ParquetSinkOptions {
    ParquetSinkOptions::new(PER_SHARD).row_group_size(4).seed(1)
}

fn open(out: &Path, fingerprint: &str, overwrite: bool) -> shardmix::Result<ParquetSink> {
    ParquetSink::open(out, &spec(), opts(), fingerprint, overwrite)
}

/// Write steps `[sink.resume_step(), end)`; finish when `end == STEPS`, else drop the sink
/// (a crash after the complete shards).
fn write_to(mut sink: ParquetSink, end: u64) {
    for step in sink.resume_step()..end {
        sink.write(&batch(step)).unwrap();
    }
    if end == STEPS {
        sink.finish(STEPS).unwrap();
    }
}

fn complete_run(out: &Path, fingerprint: &str) {
    write_to(open(out, fingerprint, false).unwrap(), STEPS);
}

fn names(dir: &Path) -> Vec<String> {
    common::dir_files(dir).into_iter().map(|(n, _)| n).collect()
}

/// A Parquet file shardmix did not write (no `shardmix.shard` metadata).
fn foreign_parquet(path: &Path) {
    let a: ArrayRef = Arc::new(Float32Array::from(vec![1.0f32, 2.0]));
    common::write_columns(path, vec![("a", a)], common::props(parquet::basic::Compression::SNAPPY, 8));
}

fn assert_refused_naming(err: &shardmix::Error, files: &[&str]) {
    assert!(matches!(err.kind(), ErrorKind::NotOurs { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("shardmix did not write"), "{msg}");
    for f in files {
        assert!(msg.contains(f), "the refusal should name {f}: {msg}");
    }
}

#[test]
fn overwrite_refuses_someone_elses_shard_and_never_touches_their_manifest() {
    // Issue 14: over someone's manifest.json and part-00000.parquet, --overwrite deleted both.
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    foreign_parquet(&out.join("part-00000.parquet"));
    fs::write(out.join("manifest.json"), br#"{"format": "their-own", "files": ["part-00000.parquet"]}"#).unwrap();
    let before = common::dir_files(&out);
    let err = open(&out, "fp", true).err().unwrap();
    assert_refused_naming(&err, &["part-00000.parquet", "no 'shardmix.shard' metadata"]);
    assert!(!err.to_string().contains("manifest.json ("), "their manifest is no longer a name shardmix writes: {err}");
    assert!(common::dir_files(&out) == before, "a refused --overwrite changed the directory");

    // With their shard moved away, the run proceeds and their manifest.json stays as it was.
    fs::rename(out.join("part-00000.parquet"), tmp.path().join("theirs.parquet")).unwrap();
    write_to(open(&out, "fp", true).unwrap(), STEPS);
    let after = common::dir_files(&out);
    assert!(after.contains(&before.iter().find(|(n, _)| n == "manifest.json").unwrap().clone()));
    assert!(names(&out).contains(&MANIFEST_FILE.to_string()));
}

#[test]
fn overwrite_deletes_only_what_shardmix_wrote() {
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    complete_run(&out, "fp-1");
    fs::write(out.join("notes.txt"), b"keep me").unwrap();
    fs::write(out.join(".DS_Store"), b"keep me too").unwrap();
    // Without --overwrite the message names the flag.
    let err = open(&out, "fp-2", false).err().unwrap();
    assert!(err.to_string().contains("different configuration") && err.to_string().contains("--overwrite"), "{err}");

    let sink = open(&out, "fp-2", true).unwrap();
    assert_eq!(sink.resume_step(), 0);
    assert_eq!(names(&out), [".DS_Store", RUN_FILE, "notes.txt"]);
    write_to(sink, STEPS);
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"keep me");
}

#[test]
fn overwrite_refuses_a_foreign_file_at_a_shard_name_inside_a_shardmix_directory() {
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    complete_run(&out, "fp-1");
    foreign_parquet(&out.join("part-00001.parquet"));
    fs::write(out.join(".part-00007.parquet.tmp"), b"not a parquet file").unwrap();
    fs::write(out.join("part-00009.parquet"), b"not parquet either").unwrap();
    let before = common::dir_files(&out);
    let err = open(&out, "fp-2", true).err().unwrap();
    assert_refused_naming(&err, &["part-00001.parquet", ".part-00007.parquet.tmp", "part-00009.parquet (unreadable"]);
    assert!(!err.to_string().contains("part-00000.parquet"), "shard 0 is shardmix's: {err}");
    assert!(common::dir_files(&out) == before, "a refused --overwrite changed the directory");
    // A resume of the same configuration refuses them too: it would write over them.
    let err = open(&out, "fp-1", false).err().unwrap();
    assert!(err.to_string().contains(".part-00007.parquet.tmp"), "{err}");
    assert!(common::dir_files(&out) == before, "a refused resume changed the directory");
}

#[test]
fn a_run_that_failed_before_its_first_shard_does_not_block_the_corrected_rerun() {
    // Issue 20: a bad label fails the run after the run file is written; the corrected
    // configuration has another fingerprint.
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    drop(open(&out, "bad-config", false).unwrap());
    assert_eq!(names(&out), [RUN_FILE]);
    let sink = open(&out, "good-config", false).unwrap();
    assert_eq!(sink.resume_step(), 0);
    write_to(sink, STEPS);
    assert!(fs::read_to_string(out.join(RUN_FILE)).unwrap().contains("good-config"));
    // Once a shard exists, another configuration is refused again.
    let out2 = tmp.path().join("out2");
    write_to(open(&out2, "fp-1", false).unwrap(), PER_SHARD + 1);
    let err = open(&out2, "fp-2", false).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::OtherRun { path, .. } if *path == out2), "{err:?}");
}

/// `bytes` (a Parquet file) with an unknown field appended to its footer's FileMetaData: a
/// list of `n` lists of 2^31 − 1 booleans each. parquet 60.1's Thrift skip spends about a
/// second per inner list without consuming a byte (see src/source/footer/thrift.rs).
fn with_hostile_footer(bytes: &[u8], n: u8) -> Vec<u8> {
    let len = bytes.len();
    assert_eq!(&bytes[len - 4..], b"PAR1");
    let meta_len = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
    let meta = &bytes[len - 8 - meta_len..len - 8];
    assert_eq!(meta.last(), Some(&0), "FileMetaData ends with its stop byte");
    let mut hostile = vec![0x09, 0xc8, 0x01]; // field 100 (long form), type list
    hostile.extend([0xf9, n]); // a list of n lists
    for _ in 0..n {
        hostile.extend([0xf1, 0xff, 0xff, 0xff, 0xff, 0x07]); // a list of 2^31 - 1 booleans
    }
    let mut new_meta = meta[..meta.len() - 1].to_vec();
    new_meta.extend(hostile);
    new_meta.push(0);
    let mut out = bytes[..len - 8 - meta_len].to_vec();
    out.extend(&new_meta);
    out.extend((new_meta.len() as u32).to_le_bytes());
    out.extend(b"PAR1");
    out
}

/// The footer that hung arrow-rs for inputs, found by fuzzing (tests/fuzz_regressions.rs).
fn fuzz_bool_list_footer() -> PathBuf {
    common::data_dir().join("fuzz-regressions/read_shard-1519bf369d0acf3684404635ee9245ec7f4933e3")
}

#[test]
fn a_crafted_footer_in_the_output_is_rejected_at_once_when_resuming() {
    let tmp = common::tempdir();
    let reference = tmp.path().join("reference");
    complete_run(&reference, "fp");
    let out = tmp.path().join("out");
    // Shards 0-2, then a crash. Shard 1 becomes a crafted copy of itself (its shardmix
    // metadata intact), shard 2 the fuzz input: a minute and more of arrow-rs's Thrift skip
    // if read unchecked (a mutant that let arrow-rs parse them first ran over 60 s).
    write_to(open(&out, "fp", false).unwrap(), 3 * PER_SHARD);
    let p1 = out.join(shard_file_name(1));
    fs::write(&p1, with_hostile_footer(&fs::read(&p1).unwrap(), 8)).unwrap();
    fs::copy(fuzz_bool_list_footer(), out.join(shard_file_name(2))).unwrap();

    let start = Instant::now();
    let sink = open(&out, "fp", false).unwrap();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "opening took {took:?}: the footer was not checked first");
    assert_eq!(sink.resume_step(), PER_SHARD, "only shard 0 is kept");
    assert!(!p1.exists(), "the damaged shard is rewritten");
    write_to(sink, STEPS);
    assert!(common::dir_files(&out) == common::dir_files(&reference), "the resumed run differs from the reference");

    // --overwrite proves ownership through the same checks: refused at once, naming the file.
    let out2 = tmp.path().join("out2");
    complete_run(&out2, "fp");
    let p0 = out2.join(shard_file_name(0));
    fs::write(&p0, with_hostile_footer(&fs::read(&p0).unwrap(), 8)).unwrap();
    let start = Instant::now();
    let err = open(&out2, "fp-other", true).err().unwrap();
    assert!(start.elapsed() < Duration::from_secs(3), "refusing took {:?}", start.elapsed());
    assert_refused_naming(&err, &["part-00000.parquet (unreadable", "Thrift"]);
}

#[test]
fn a_directory_in_the_first_layout_resumes_and_is_migrated() {
    let tmp = common::tempdir();
    let reference = tmp.path().join("reference");
    complete_run(&reference, "fp");
    let want = common::dir_files(&reference);

    // Interrupted, in the first layout: `_shardmix_run.json` and a stale temporary.
    let out = tmp.path().join("out");
    write_to(open(&out, "fp", false).unwrap(), 3 * PER_SHARD + 1);
    fs::rename(out.join(RUN_FILE), out.join("_shardmix_run.json")).unwrap();
    fs::write(out.join(".manifest.json.tmp"), b"{\n  \"format\": \"shardmix-parquet-manifest/1\"").unwrap();
    let sink = open(&out, "fp", false).unwrap();
    assert_eq!(sink.resume_step(), 3 * PER_SHARD);
    assert!(out.join(RUN_FILE).exists() && !out.join("_shardmix_run.json").exists());
    write_to(sink, STEPS);
    assert!(common::dir_files(&out) == want, "the migrated run differs from the reference");

    // Complete, in the first layout: found complete, and renamed.
    let old = tmp.path().join("old");
    complete_run(&old, "fp");
    fs::rename(old.join(RUN_FILE), old.join("_shardmix_run.json")).unwrap();
    fs::rename(old.join(MANIFEST_FILE), old.join("manifest.json")).unwrap();
    assert_eq!(shardmix::Manifest::read(&old).unwrap().rows, STEPS * 3, "Manifest::read finds the old name");
    let sink = open(&old, "fp", false).unwrap();
    assert!(sink.is_complete());
    assert_eq!(sink.finish(STEPS).unwrap().steps, STEPS);
    assert!(common::dir_files(&old) == want, "the migrated directory differs from the reference");

    // --overwrite over the first layout deletes its files (they are shardmix's).
    complete_run(&old, "fp");
    fs::rename(old.join(RUN_FILE), old.join("_shardmix_run.json")).unwrap();
    fs::rename(old.join(MANIFEST_FILE), old.join("manifest.json")).unwrap();
    let sink = open(&old, "fp-2", true).unwrap();
    assert_eq!(names(&old), [RUN_FILE]);
    drop(sink);
}

// --- the CLI: --out apart from --data, the resume summary ---

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shardmix"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn augment(data: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["augment", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--batch-size", "64", "--steps", "40", "--rows-per-shard", "512", "--seed", "9", "--quiet"])
        .args(extra)
        .output()
        .expect("run shardmix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet")
}

#[test]
fn augment_refuses_an_out_that_is_contains_or_lies_inside_its_data() {
    // Issue 14: `augment --data D --out D --overwrite` deleted its own input.
    let tmp = common::tempdir();
    let d = tmp.path().join("d");
    let o = augment(&digits(), &d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = common::dir_files(&d);
    for (out, why) in [
        (d.clone(), "is the input itself"),
        (tmp.path().to_path_buf(), "contains the input"),
        (d.join("augmented"), "lies inside the input directory"),
    ] {
        let o = augment(&d, &out, &["--overwrite"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.starts_with("error: ") && err.contains(why) && err.contains("--out"), "{err}");
        assert!(common::dir_files(&d) == before, "a refused run changed the input");
        assert!(!d.join("augmented").exists());
    }
    // A pattern matching the output's shards.
    let o = augment(&d.join("*/*.parquet"), &d.join("x"), &[]);
    assert!(stderr(&o).contains("matched by the input pattern"), "{}", stderr(&o));
}

#[test]
fn a_resumed_augment_reports_this_runs_rows_and_the_total_apart() {
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    let o = augment(&digits(), &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 2560 rows in 5 shard(s)"), "{}", stderr(&o));
    for name in [MANIFEST_FILE, "part-00003.parquet", "part-00004.parquet"] {
        fs::remove_file(out.join(name)).unwrap();
    }
    let o = augment(&digits(), &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("this run wrote 1024 rows in 2 new shard(s)"), "{err}");
    assert!(err.contains("now holds 2560 rows in 5 shard(s), 3 of them kept"), "{err}");
}

#[test]
fn augment_that_fails_on_a_bad_label_does_not_block_the_corrected_rerun() {
    // Issue 20: labels 0-9 with --num-classes 5 fail the run; the corrected rerun succeeds.
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    let o = augment(&digits(), &out, &["--label", "label", "--num-classes", "5"]);
    assert!(!o.status.success(), "labels up to 9 with 5 classes must fail");
    let o = augment(&digits(), &out, &["--label", "label", "--num-classes", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(names(&out).contains(&MANIFEST_FILE.to_string()));
}

#[test]
fn augment_keeps_files_it_did_not_write_and_warns_that_dataset_readers_will_see_them() {
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), b"mine").unwrap();
    let o = augment(&digits(), &out, &[]);
    assert!(stderr(&o).contains("not made by shardmix") && stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    let o = augment(&digits(), &out, &["--overwrite"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: ") && err.contains("notes.txt") && err.contains("pyarrow.dataset"), "{err}");
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"mine");
}
