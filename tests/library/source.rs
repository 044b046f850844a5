//! The Parquet source: column selection, exact values, null/NaN policy, clear errors.

use crate::common;

use common::fixture;

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use shardmix::{ErrorKind, Features, NullPolicy, Reader, Rows, ShardSet, Target};

#[test]
fn reads_every_row_exactly_across_shards_and_row_groups() {
    let (_dir, set, n) = fixture::open_dataset();
    assert_eq!(set.num_rows(), n);
    assert_eq!(set.shards().len(), 4);
    let b = set.read_rows(0..n).unwrap();
    assert_eq!(b.features.dim(), (n as usize, 3));
    for r in 0..n {
        let row = b.features.row(r as usize);
        assert_eq!(row.to_vec(), vec![fixture::f0(r), fixture::f1(r), fixture::f2(r)], "row {r}");
        let t = b.targets.as_ref().unwrap().row(r as usize).to_vec();
        let mut want = vec![0.0; 4];
        want[fixture::label(r) as usize] = 1.0;
        assert_eq!(t, want);
    }
    assert_eq!(b.provenance.row_a, (0..n).collect::<Vec<_>>());
}

#[test]
fn auto_prefix_glob_and_list_features() {
    let (dir, n) = fixture::dataset_dir();
    let auto = ShardSet::open(dir.path()).unwrap().target(Target::class_auto("label")).unwrap();
    assert_eq!(auto.spec().feature_names(), vec!["f0", "f1", "f2"]);
    assert_eq!(auto.spec().num_classes(), Some(4));
    let glob = ShardSet::open(dir.path().join("*.parquet")).unwrap().features(Features::glob("f?")).unwrap();
    assert_eq!(glob.spec().num_features(), 3);
    for col in ["px", "vl"] {
        let list = ShardSet::open(dir.path()).unwrap().features(Features::list(col)).unwrap();
        assert_eq!(list.spec().num_features(), 3, "{col}");
        let b = list.read_rows(95..140).unwrap();
        for (i, r) in (95..140u64).enumerate() {
            assert_eq!(b.features.row(i).to_vec(), fixture::px(r).to_vec(), "{col} row {r}");
        }
    }
    let reader = Reader::new(Arc::new(auto), 1 << 20);
    let ids = vec![n - 1, 0, 137, 137, 100];
    let b = reader.read(3, &Rows::Ids(ids.clone())).unwrap();
    assert_eq!(b.step, 3);
    for (i, &r) in ids.iter().enumerate() {
        assert_eq!(b.features[[i, 0]], fixture::f0(r));
    }
}

#[test]
fn column_errors_name_file_and_column() {
    let (dir, _) = fixture::dataset_dir();
    let set = ShardSet::open(dir.path()).unwrap();
    let e = set.clone().features(Features::columns(&["f0", "missing"])).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::MissingColumn { column, .. } if column == "missing"), "{e}");
    assert!(e.to_string().contains("part-0.parquet"), "{e}");
    let e = set.clone().features(Features::columns(&["name"])).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ColumnType { .. }), "{e}");
    let e = set.clone().target(Target::class("f0", 3)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ColumnType { .. }), "{e}");
    let e = set.clone().target(Target::class("label", 3)).unwrap().read_rows(0..10).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Label { value: 3, num_classes: 3, row: 3, .. }), "{e}");
}

#[test]
fn no_files_empty_data_and_non_parquet_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = ShardSet::open(dir.path()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NoShards { .. }), "{e}");
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"this is not parquet at all, just some bytes").unwrap();
    let e = ShardSet::open(&junk).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Footer { path, .. } if path == &junk), "{e}");
    let empty = dir.path().join("empty.parquet");
    common::write_batches(&empty, &[fixture::batch(0, 0)], fixture::row_groups(10));
    let e = ShardSet::open(&empty).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Empty { .. }), "{e}");
    let e = ShardSet::open(dir.path().join("nope/*.parquet")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NoShards { .. }), "{e}");
}

#[test]
fn truncated_shard_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    fixture::write_shard(&p, 0, 100, 10);
    let bytes = std::fs::read(&p).unwrap();
    for cut in [0, 4, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = ShardSet::open(&p).unwrap_err();
        assert!(e.to_string().contains("t.parquet"), "cut {cut}: {e}");
    }
}

#[test]
fn mismatched_schemas_between_shards() {
    let dir = tempfile::tempdir().unwrap();
    fixture::write_shard(&dir.path().join("a.parquet"), 0, 10, 10);
    let schema = Arc::new(Schema::new(vec![
        Field::new("f0", DataType::Utf8, false),
        Field::new("label", DataType::Int64, false),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(arrow_array::StringArray::from(vec!["x"; 3])) as ArrayRef,
            Arc::new(Int64Array::from(vec![0; 3])),
        ],
    )
    .unwrap();
    common::write_batches(&dir.path().join("b.parquet"), &[b], fixture::row_groups(10));
    // The default selection (every numeric column) already meets the mismatch at open.
    let e = ShardSet::open(dir.path()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::SchemaMismatch { column, .. } if column == "f0"), "{e}");
    assert!(e.to_string().contains("b.parquet"), "{e}");
    // A shard lacking a selected column.
    let only_f0 = Arc::new(Schema::new(vec![Field::new("f0", DataType::Float32, false)]));
    let c = RecordBatch::try_new(only_f0, vec![Arc::new(Float32Array::from(vec![1.0f32; 3])) as ArrayRef]).unwrap();
    common::write_batches(&dir.path().join("c.parquet"), &[c], fixture::row_groups(10));
    let e = ShardSet::open_many(&[dir.path().join("a.parquet"), dir.path().join("c.parquet")]).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::MissingColumn { path, column, .. } if path.ends_with("c.parquet") && column == "f1"),
        "{e}"
    );
    let ok = ShardSet::open(dir.path().join("a.parquet")).unwrap().features(Features::columns(&["f0"])).unwrap();
    assert_eq!(ok.spec().num_features(), 1);
}

fn with_bad_values(dir: &std::path::Path) -> std::path::PathBuf {
    let schema =
        Arc::new(Schema::new(vec![Field::new("a", DataType::Float32, true), Field::new("b", DataType::Float32, true)]));
    let a = Float32Array::from(vec![Some(1.0), None, Some(3.0), Some(4.0), Some(5.0)]);
    let b = Float32Array::from(vec![Some(1.0), Some(2.0), Some(f32::NAN), Some(f32::INFINITY), Some(5.0)]);
    let batch = RecordBatch::try_new(schema, vec![Arc::new(a) as ArrayRef, Arc::new(b)]).unwrap();
    let p = dir.join("bad.parquet");
    common::write_batches(&p, &[batch], fixture::row_groups(2));
    p
}

#[test]
fn null_and_nan_policy() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_bad_values(dir.path());
    let set = ShardSet::open(&p).unwrap();
    let e = set.read_rows(0..5).unwrap_err();
    match e.kind() {
        ErrorKind::BadValue { column, row, row_group, value, .. } => {
            assert_eq!((column.as_str(), *row, *row_group), ("a", 1, 0));
            assert_eq!(*value, shardmix::BadValue::Null);
        }
        k => panic!("{k:?}"),
    }
    let e = set.read_rows(2..3).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::BadValue { value: shardmix::BadValue::NaN, row: 2, row_group: 1, .. }),
        "{e}"
    );
    let skip = set.clone().null_policy(NullPolicy::SkipRow).read_rows(0..5).unwrap();
    assert_eq!(skip.provenance.row_a, vec![0, 4]);
    assert_eq!(skip.features.row(1).to_vec(), vec![5.0, 5.0]);
    let fill = set.null_policy(NullPolicy::Fill(-1.0)).read_rows(0..5).unwrap();
    assert_eq!(fill.features.column(0).to_vec(), vec![1.0, -1.0, 3.0, 4.0, 5.0]);
    assert_eq!(fill.features.column(1).to_vec(), vec![1.0, 2.0, -1.0, -1.0, 5.0]);
}

#[test]
fn column_chunk_limit_rejects_before_decoding() {
    let (dir, _) = fixture::dataset_dir();
    let set = ShardSet::open(dir.path()).unwrap().max_column_chunk_bytes(16);
    let e = set.read_rows(0..1).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::TooLarge { limit: 16, .. }), "{e}");
}

#[test]
fn ragged_list_names_the_row() {
    use arrow_array::builder::{Float32Builder, ListBuilder};
    use arrow_array::Array;
    let dir = tempfile::tempdir().unwrap();
    let mut lb = ListBuilder::new(Float32Builder::new());
    for len in [2usize, 2, 3, 2] {
        for _ in 0..len {
            lb.values().append_value(1.0);
        }
        lb.append(true);
    }
    let arr = lb.finish();
    let schema = Arc::new(Schema::new(vec![Field::new("v", arr.data_type().clone(), true)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(arr) as ArrayRef]).unwrap();
    let p = dir.path().join("ragged.parquet");
    common::write_batches(&p, &[batch], fixture::row_groups(10));
    let set = ShardSet::open(&p).unwrap();
    assert_eq!(set.spec().num_features(), 2);
    let e = set.read_rows(0..4).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Ragged { row: 2, len: 3, expected: 2, .. }), "{e}");
}

#[test]
fn a_huge_row_group_is_decoded_in_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one_big_group.parquet");
    let n = 120_000u64;
    fixture::write_shard(&p, 0, n as usize, n as usize);
    let set =
        ShardSet::open(&p).unwrap().features(Features::columns(&["f0", "f1"])).unwrap().block_rows(10_000).unwrap();
    assert_eq!(set.shards()[0].num_row_groups, 1);
    assert_eq!(set.row_groups().len(), 12);
    // A cache of two blocks: the bound holds although the row group is 6× larger.
    let cap = 2 * 10_000 * 2 * 4;
    let reader = Reader::new(Arc::new(set), cap);
    for start in (0..n).step_by(7_000) {
        let end = (start + 7_000).min(n);
        let b = reader.read(0, &Rows::Range(start..end)).unwrap();
        for (i, r) in (start..end).enumerate().step_by(997) {
            assert_eq!(b.features[[i, 0]], fixture::f0(r));
            assert_eq!(b.features[[i, 1]], fixture::f1(r));
        }
    }
    let stats = reader.cache_stats();
    assert!(stats.peak_bytes <= cap, "{stats:?}");
    assert_eq!(stats.misses, 12, "each block decoded once when read in order: {stats:?}");
}
