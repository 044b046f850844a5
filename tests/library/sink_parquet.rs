//! ParquetSink: exact round trips, deterministic bytes, crash/resume, refusal of foreign
//! directories, and no partial file under a final name on errors.

use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use ndarray::Array2;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shardmix::{
    Batch, Compression, DataSpec, ErrorKind, FeatureLayout, Manifest, Origin, ParquetSink, ParquetSinkOptions,
    Provenance, TargetKind,
};

const ROWS: usize = 4;

fn columns_spec() -> DataSpec {
    DataSpec {
        features: FeatureLayout::Columns(vec!["a".into(), "b".into(), "c".into()]),
        target: TargetKind::Class { column: "label".into(), num_classes: 3 },
        feature_shape: None,
        pixels: Default::default(),
    }
}

fn list_spec() -> DataSpec {
    DataSpec {
        features: FeatureLayout::List { column: "pixels".into(), len: 5 },
        target: TargetKind::None,
        feature_shape: None,
        pixels: Default::default(),
    }
}

/// A batch whose every value is a function of (step, row, column), with mixed provenance.
fn batch(spec: &DataSpec, step: u64) -> Batch {
    let f = spec.num_features();
    let c = spec.num_targets();
    let features = Array2::from_shape_fn((ROWS, f), |(i, j)| (step as f32) * 100.0 + i as f32 * 10.0 + j as f32 + 0.25);
    let targets = (c > 0).then(|| {
        Array2::from_shape_fn(
            (ROWS, c),
            |(i, j)| {
                if j == (i + step as usize) % c {
                    0.75
                } else {
                    0.25 / (c as f32 - 1.0)
                }
            },
        )
    });
    let ids: Vec<u64> = (0..ROWS as u64).map(|i| step * 1000 + i).collect();
    let mut b = Batch::new(step, features, targets, ids.clone()).unwrap();
    b.provenance = Provenance {
        origin: (0..ROWS).map(|i| [Origin::Real, Origin::Vae, Origin::Gan][i % 3]).collect(),
        row_a: ids.clone(),
        row_b: (0..ROWS).map(|i| (i % 2 == 0).then_some(ids[(i + 1) % ROWS])).collect(),
        lambda: (0..ROWS).map(|i| (i % 2 == 0).then_some(0.125 * (i as f32 + 1.0))).collect(),
    };
    b
}

fn opts(steps_per_shard: u64, provenance: bool) -> ParquetSinkOptions {
    ParquetSinkOptions::new(steps_per_shard)
        .row_group_size(3) // several row groups per shard
        .provenance(provenance)
        .seed(11)
        .config(serde_json::json!({"mixup": 0.2}))
}

fn write_run(out: &Path, spec: &DataSpec, o: ParquetSinkOptions, steps: u64) -> Manifest {
    let mut sink = ParquetSink::open(out, spec, o, "fp-1", false).unwrap();
    assert_eq!(sink.resume_step(), 0);
    for s in 0..steps {
        sink.write(&batch(spec, s)).unwrap();
    }
    sink.finish(steps).unwrap()
}

/// The whole file as one batch (the reader fills a batch across row groups).
fn read_all(path: &Path) -> RecordBatch {
    let f = fs::File::open(path).unwrap();
    let mut batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .with_batch_size(1 << 20)
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    assert_eq!(batches.len(), 1);
    batches.remove(0)
}

fn dir_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn columns_layout_round_trips_exactly_with_targets_and_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let spec = columns_spec();
    let m = write_run(&out, &spec, opts(2, true), 5);
    assert_eq!(m.steps, 5);
    assert_eq!(m.rows, 5 * ROWS as u64);
    assert_eq!(m.seed, 11);
    assert_eq!(m.config["mixup"], 0.2);
    let ranges: Vec<(u64, u64)> = m.shards.iter().map(|s| (s.first_step, s.end_step)).collect();
    assert_eq!(ranges, vec![(0, 2), (2, 4), (4, 5)]);
    m.verify(&out).unwrap();
    assert_eq!(
        dir_files(&out),
        [
            ".shardmix-manifest.json",
            ".shardmix-run.json",
            "part-00000.parquet",
            "part-00001.parquet",
            "part-00002.parquet"
        ]
    );
    for shard in &m.shards {
        let rb = read_all(&out.join(&shard.file));
        assert_eq!(rb.num_rows() as u64, shard.rows);
        let names: Vec<&str> = rb.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "target", "step", "origin", "row_a", "row_b", "lambda"]);
        let f = fs::File::open(out.join(&shard.file)).unwrap();
        let file_schema = ParquetRecordBatchReaderBuilder::try_new(f).unwrap().schema().clone();
        assert_eq!(file_schema.metadata().get("shardmix.schema_hash"), Some(&m.schema_hash));
        assert!(file_schema.metadata().contains_key("shardmix.spec"));
        assert_eq!(
            shardmix::format::schema_hash(file_schema.fields()),
            m.schema_hash,
            "the hash is recomputable from the fields read back"
        );
        let mut r = 0;
        for step in shard.first_step..shard.end_step {
            let want = batch(&spec, step);
            for i in 0..ROWS {
                for (j, name) in ["a", "b", "c"].iter().enumerate() {
                    let col = rb.column_by_name(name).unwrap().as_primitive::<Float32Type>();
                    assert_eq!(col.value(r), want.features[[i, j]], "{name} step {step} row {i}");
                }
                let t = rb.column_by_name("target").unwrap().as_fixed_size_list();
                let tv = t.value(r);
                let tv = tv.as_primitive::<Float32Type>();
                let want_t = want.targets.as_ref().unwrap();
                for j in 0..3 {
                    assert_eq!(tv.value(j), want_t[[i, j]]);
                }
                let p = &want.provenance;
                let step_col = rb.column_by_name("step").unwrap().as_primitive::<UInt64Type>();
                assert_eq!(step_col.value(r), step);
                let origin = rb.column_by_name("origin").unwrap().as_string::<i32>();
                assert_eq!(origin.value(r), p.origin[i].as_str());
                let ra = rb.column_by_name("row_a").unwrap().as_primitive::<UInt64Type>();
                assert_eq!(ra.value(r), p.row_a[i]);
                let rbb = rb.column_by_name("row_b").unwrap().as_primitive::<UInt64Type>();
                assert_eq!(rbb.is_valid(r).then(|| rbb.value(r)), p.row_b[i]);
                let l = rb.column_by_name("lambda").unwrap().as_primitive::<Float32Type>();
                assert_eq!(l.is_valid(r).then(|| l.value(r)), p.lambda[i]);
                r += 1;
            }
        }
    }
    // Page statistics are written: the column index exists.
    let f = fs::File::open(out.join("part-00000.parquet")).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let md = b.metadata();
    assert_eq!(md.num_row_groups(), 3); // 8 rows, 3 per row group
    for g in md.row_groups() {
        for c in g.columns() {
            assert!(c.statistics().is_some(), "{:?}", c.column_path());
            assert!(c.column_index_range().is_some(), "no page index for {:?}", c.column_path());
        }
    }
}

#[test]
fn list_layout_without_targets_or_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let spec = list_spec();
    let m = write_run(&out, &spec, opts(3, false).compression(Compression::Zstd), 4);
    assert_eq!(m.shards.len(), 2);
    let mut got = Vec::new();
    for s in &m.shards {
        let rb = read_all(&out.join(&s.file));
        assert_eq!(rb.num_columns(), 1);
        assert_eq!(rb.schema_ref().field(0).name(), "pixels");
        let list = rb.column(0).as_fixed_size_list();
        assert_eq!(list.value_length(), 5);
        got.extend_from_slice(list.values().as_primitive::<Float32Type>().values());
    }
    let mut want = Vec::new();
    for s in 0..4 {
        want.extend(batch(&spec, s).features.iter().copied());
    }
    assert_eq!(got, want);
}

#[test]
fn identical_runs_give_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = columns_spec();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    write_run(&a, &spec, opts(2, true), 5);
    write_run(&b, &spec, opts(2, true), 5);
    let files = dir_files(&a);
    assert_eq!(files, dir_files(&b));
    for f in files {
        assert_eq!(fs::read(a.join(&f)).unwrap(), fs::read(b.join(&f)).unwrap(), "{f}");
    }
}

#[test]
fn crash_then_resume_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = columns_spec();
    let s = 2;
    let reference = tmp.path().join("reference");
    write_run(&reference, &spec, opts(s, true), 10);

    let out = tmp.path().join("out");
    {
        let mut sink = ParquetSink::open(&out, &spec, opts(s, true), "fp-1", false).unwrap();
        for step in 0..7 {
            sink.write(&batch(&spec, step)).unwrap(); // shards 0..3 complete, shard 3 begun
        }
        assert!(out.join(".part-00003.parquet.tmp").exists());
        // Simulated crash: dropped without finish.
    }
    assert!(!out.join("part-00003.parquet").exists());
    assert!(!out.join(shardmix::format::MANIFEST_FILE).exists());
    fs::write(out.join(".part-00004.parquet.tmp"), b"PAR1 half a shard").unwrap();
    fs::write(out.join("notes.txt"), b"user file").unwrap();

    let mut sink = ParquetSink::open(&out, &spec, opts(s, true), "fp-1", false).unwrap();
    assert!(!sink.is_complete());
    assert_eq!(sink.resume_step(), 3 * s);
    assert_eq!(sink.shards().len(), 3);
    assert!(!out.join(".part-00004.parquet.tmp").exists());
    // Out-of-sequence batches are refused.
    let err = sink.write(&batch(&spec, 0)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Misuse { api: "ParquetSink::write", message } if message.contains("expected step 6")),
        "{err:?}"
    );
    for step in 6..10 {
        sink.write(&batch(&spec, step)).unwrap();
    }
    let m = sink.finish(10).unwrap();
    m.verify(&out).unwrap();
    fs::remove_file(out.join("notes.txt")).unwrap();
    let files = dir_files(&reference);
    assert_eq!(files, dir_files(&out));
    for f in files {
        assert_eq!(fs::read(reference.join(&f)).unwrap(), fs::read(out.join(&f)).unwrap(), "{f}");
    }
    // Reopening a complete run reports it.
    let again = ParquetSink::open(&out, &spec, opts(s, true), "fp-1", false).unwrap();
    assert!(again.is_complete());
    assert_eq!(again.resume_step(), 10);
    assert_eq!(again.finish(10).unwrap(), m);
}

#[test]
fn a_corrupt_final_shard_is_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = list_spec();
    let out = tmp.path().join("out");
    {
        let mut sink = ParquetSink::open(&out, &spec, opts(1, false), "fp-1", false).unwrap();
        for step in 0..3 {
            sink.write(&batch(&spec, step)).unwrap();
        }
    }
    // Shards 0 and 1 are complete; damage shard 1's footer.
    let p1 = out.join("part-00001.parquet");
    let bytes = fs::read(&p1).unwrap();
    fs::write(&p1, &bytes[..bytes.len() - 10]).unwrap();
    let mut sink = ParquetSink::open(&out, &spec, opts(1, false), "fp-1", false).unwrap();
    assert_eq!(sink.resume_step(), 1);
    assert!(!p1.exists(), "an unreadable final-named shard must not stay");
    for step in 1..3 {
        sink.write(&batch(&spec, step)).unwrap();
    }
    sink.finish(3).unwrap().verify(&out).unwrap();
}

#[test]
fn another_configuration_is_refused_unless_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = list_spec();
    let out = tmp.path().join("out");
    write_run(&out, &spec, opts(1, false), 2);
    fs::write(out.join("notes.txt"), b"keep me").unwrap();
    let before = dir_files(&out);
    let err = ParquetSink::open(&out, &spec, opts(1, false), "fp-2", false).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::OtherRun { .. }), "{err:?}");
    assert!(err.to_string().contains("different configuration"), "{err}");
    assert_eq!(dir_files(&out), before, "a refused open changes nothing");
    // Same fingerprint but other steps per shard: refused too.
    let err = ParquetSink::open(&out, &spec, opts(2, false), "fp-1", false).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::OtherRun { path, .. } if *path == out), "{err:?}");

    let sink = ParquetSink::open(&out, &spec, opts(1, false), "fp-2", true).unwrap();
    assert_eq!(sink.resume_step(), 0);
    assert_eq!(dir_files(&out), [".shardmix-run.json", "notes.txt"]);
    drop(sink);

    // A directory shardmix did not make.
    let foreign = tmp.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("data.csv"), b"1,2").unwrap();
    let err = ParquetSink::open(&foreign, &spec, opts(1, false), "fp-1", false).err().unwrap();
    assert!(err.to_string().contains("not made by shardmix"), "{err}");
    ParquetSink::open(&foreign, &spec, opts(1, false), "fp-1", true).unwrap();
    assert!(foreign.join("data.csv").exists());
}

fn no_final_named_shard(dir: &Path) -> bool {
    !dir.exists() || fs::read_dir(dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with("part-"))
}

#[test]
fn unwritable_output_is_a_typed_error_without_partial_files() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let spec = list_spec();

    // The parent of OUT is a regular file: fails for root too.
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let out: PathBuf = file.join("out");
    let err = ParquetSink::open(&out, &spec, opts(1, false), "fp", false).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("out"), "{err}");

    // A read-only directory (root ignores permissions: then only check nothing is half-written).
    let ro = tmp.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).unwrap();
    let root_ignores = fs::write(ro.join("probe"), b"").is_ok();
    let _ = fs::remove_file(ro.join("probe"));
    let result = ParquetSink::open(&ro, &spec, opts(1, false), "fp", false);
    if root_ignores {
        eprintln!("running as root: permission check skipped");
        drop(result);
    } else {
        let err = result.err().unwrap();
        assert!(matches!(err.kind(), ErrorKind::Io { .. }), "{err:?}");
    }
    assert!(no_final_named_shard(&ro));
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn directory_removed_mid_run_fails_cleanly() {
    // The output directory disappears while a shard is open: closing it must fail with a
    // typed error and publish nothing.
    let tmp = tempfile::tempdir().unwrap();
    let spec = list_spec();
    let out = tmp.path().join("out");
    let mut sink = ParquetSink::open(&out, &spec, opts(2, false), "fp", false).unwrap();
    sink.write(&batch(&spec, 0)).unwrap();
    fs::remove_dir_all(&out).unwrap();
    sink.write(&batch(&spec, 1)).unwrap(); // still buffered in the open shard
    let err = sink.write(&batch(&spec, 2)).unwrap_err(); // rotation: re-read/rename fails
    assert!(matches!(err.kind(), ErrorKind::Io { .. } | ErrorKind::Write { .. } | ErrorKind::Footer { .. }), "{err:?}");
    assert!(no_final_named_shard(&out));
    // The sink refuses further work.
    let err = sink.write(&batch(&spec, 3)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Misuse { api: "ParquetSink::write", .. }), "{err:?}");
    let err = sink.finish(4).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Misuse { api: "ParquetSink::finish", .. }), "{err:?}");
}
