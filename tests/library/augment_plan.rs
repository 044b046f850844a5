//! The augment plan in pieces (`AugmentPlan::prepare`, `write_shards`, `finish`), as a
//! distributed runner uses it: the output directory is byte for byte the single-process
//! run's, whatever the order and grouping of the shard ranges; pieces are idempotent, touch
//! only files shardmix wrote, and `finish` refuses while shards are missing.

use crate::common;

use std::path::{Path, PathBuf};

use shardmix::augment::{AugmentOptions, AugmentPlan, Event};
use shardmix::{ErrorKind, PipelineConfig};

fn data(dir: &Path) -> PathBuf {
    let path = dir.join("in.parquet");
    common::classification_file(&path, 0, 1000, 6, 4, 128);
    path
}

fn plan(data: &Path, out: &Path, mixup: f64, workers: usize) -> AugmentPlan {
    let settings = PipelineConfig {
        data: Some(vec![data.to_path_buf()]),
        batch_size: Some(32),
        steps: Some(23),
        order: Some("shuffled".into()),
        mixup_alpha: Some(mixup),
        provenance: Some(true),
        seed: Some(5),
        workers: Some(workers),
        ..Default::default()
    }
    .settings(None)
    .unwrap();
    let opts = AugmentOptions { rows_per_shard: Some(96), row_group_size: Some(40), ..Default::default() };
    AugmentPlan::new(settings, out, &opts).unwrap()
}

fn quiet(_: Event) {}

#[test]
fn pieces_in_any_order_make_the_single_runs_directory() {
    let tmp = common::tempdir();
    let input = data(tmp.path());
    let single = tmp.path().join("single");
    let p = plan(&input, &single, 0.4, 2);
    assert_eq!((p.total_steps(), p.steps_per_shard(), p.num_shards()), (23, 3, 8));
    assert_eq!(p.shard_steps(7), 21..23);
    assert_eq!(p.shard_steps(8), 23..23);
    let summary = p.run(&mut quiet).unwrap();
    assert_eq!((summary.shards, summary.rows), (8, 23 * 32));

    let pieces = tmp.path().join("pieces");
    let q = plan(&input, &pieces, 0.4, 1);
    let prepared = q.prepare().unwrap();
    assert_eq!((prepared.complete, prepared.kept_shards, prepared.resume_step), (false, 0, 0));
    let mut steps = 0;
    let w = q
        .write_shards(5..8, &mut |e| {
            if e == Event::Step {
                steps += 1
            }
        })
        .unwrap();
    assert_eq!((w.written.len(), steps, w.rows), (3, 8, 8 * 32));
    q.write_shards(0..2, &mut quiet).unwrap();
    // Shards 5..8 are there already: only 2..5 are written; a range past the end is clamped.
    let w = q.write_shards(2..100, &mut quiet).unwrap();
    assert_eq!(w.skipped, vec![5, 6, 7]);
    assert_eq!(
        w.written.iter().map(|s| s.file.as_str()).collect::<Vec<_>>(),
        ["part-00002.parquet", "part-00003.parquet", "part-00004.parquet"]
    );
    let manifest = q.finish().unwrap();
    assert_eq!(manifest.shards.len(), 8);
    assert_eq!(common::dir_files(&single), common::dir_files(&pieces), "same files, same bytes");
    // Finishing again returns the manifest and changes nothing.
    q.finish().unwrap();
    assert_eq!(common::dir_files(&single), common::dir_files(&pieces));
}

#[test]
fn finish_names_the_missing_shards_and_changes_nothing() {
    let tmp = common::tempdir();
    let input = data(tmp.path());
    let out = tmp.path().join("out");
    let p = plan(&input, &out, 0.2, 1);
    p.prepare().unwrap();
    p.write_shards(0..2, &mut quiet).unwrap();
    p.write_shards(3..8, &mut quiet).unwrap();
    let before = common::dir_files(&out);
    let err = p.finish().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Incomplete { missing, .. } if missing == &["part-00002.parquet"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("part-00002.parquet"), "{err}");
    assert!(!err.to_string().contains("part-00003.parquet"), "{err}");
    assert_eq!(common::dir_files(&out), before, "nothing was deleted");
    p.write_shards(2..3, &mut quiet).unwrap();
    p.finish().unwrap();
}

#[test]
fn a_foreign_file_at_a_shard_name_is_refused_and_kept() {
    let tmp = common::tempdir();
    let input = data(tmp.path());
    let out = tmp.path().join("out");
    let p = plan(&input, &out, 0.2, 1);
    p.prepare().unwrap();
    // A readable Parquet file without shardmix's shard metadata (an unreadable file at a
    // shard's name counts as a damaged shard of this run and is rewritten, as on resume).
    std::fs::copy(&input, out.join("part-00001.parquet")).unwrap();
    let err = p.write_shards(0..3, &mut quiet).unwrap_err();
    assert!(err.to_string().contains("part-00001.parquet"), "{err}");
    assert_eq!(std::fs::read(out.join("part-00001.parquet")).unwrap(), std::fs::read(&input).unwrap());
    assert!(!out.join("part-00000.parquet").exists(), "nothing is written when a shard is refused");
}

#[test]
fn writing_needs_a_prepared_directory_of_the_same_run() {
    let tmp = common::tempdir();
    let input = data(tmp.path());
    let out = tmp.path().join("out");
    let err = plan(&input, &out, 0.2, 1).write_shards(0..1, &mut quiet).unwrap_err();
    assert!(err.to_string().contains("prepare"), "{err}");
    plan(&input, &out, 0.2, 1).prepare().unwrap();
    let err = plan(&input, &out, 0.3, 1).write_shards(0..1, &mut quiet).unwrap_err();
    assert!(err.to_string().contains("different configuration"), "{err}");
}

#[test]
fn a_single_process_run_is_refused_while_a_piece_holds_the_directory() {
    let tmp = common::tempdir();
    let input = data(tmp.path());
    let out = tmp.path().join("out");
    let p = plan(&input, &out, 0.2, 1);
    p.prepare().unwrap();
    let mut result = None;
    p.write_shards(0..1, &mut |e| {
        if e == Event::Step && result.is_none() {
            // Mid-write: the shared lock of the piece keeps a whole run (and finish) out.
            result = Some(plan(&input, &out, 0.2, 1).run(&mut quiet).map(|_| ()));
        }
    })
    .unwrap();
    let err = result.unwrap().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::OutputLocked { .. }), "{err:?}");
}
