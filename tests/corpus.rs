//! Golden-corpus test: every Parquet fixture in `tests/data` (apache/parquet-testing) is either
//! read with the expected shape — and, for some, exact values — or rejected with the expected
//! error class. No panic may escape the public API.
//!
//! The expectations table [`EXPECT`] has one entry per fixture file; a file in `tests/data`
//! without an entry fails [`every_fixture_matches_its_expectation`] as an *untriaged fixture*,
//! and an entry without a file fails it as *stale*. The reasons behind each entry are in
//! `tests/data/MANIFEST.md`.
//!
//! The reader under test: `ShardSet::open(file)` with the default `Features::auto()` (every
//! numeric top-level column: ints, uints, floats incl. float16, decimals; bool, strings,
//! binary, timestamps and nested columns are skipped; with no numeric scalar column, a lone
//! list-of-numbers column is taken instead), no target, and the default
//! `NullPolicy::Error`, which rejects nulls, NaN and infinities.

mod common;

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::Array;
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shardmix::{BadValue, Batch, Error, ErrorKind, Features, NullPolicy, ShardSet, Target};

use common::data_file;

/// The class of an error: the `ErrorKind` variant, with the bad value for `BadValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Footer,
    Decode,
    DecodePanic,
    ColumnType,
    TooLarge,
    Bad(BadValue),
    Empty,
    MissingColumn,
    NoShards,
    SchemaMismatch,
    ShardChanged,
    Ragged,
    Io,
    Other,
}

fn class_of(err: &Error) -> Class {
    match err.kind() {
        ErrorKind::Footer { .. } => Class::Footer,
        ErrorKind::Decode { .. } => Class::Decode,
        ErrorKind::DecodePanic { .. } => Class::DecodePanic,
        ErrorKind::ColumnType { .. } => Class::ColumnType,
        ErrorKind::TooLarge { .. } => Class::TooLarge,
        ErrorKind::BadValue { value, .. } => Class::Bad(*value),
        ErrorKind::Empty { .. } => Class::Empty,
        ErrorKind::MissingColumn { .. } => Class::MissingColumn,
        ErrorKind::NoShards { .. } => Class::NoShards,
        ErrorKind::SchemaMismatch { .. } => Class::SchemaMismatch,
        ErrorKind::ShardChanged { .. } => Class::ShardChanged,
        ErrorKind::Ragged { .. } => Class::Ragged,
        ErrorKind::Io { .. } => Class::Io,
        _ => Class::Other,
    }
}

/// What the loader must do with a fixture.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Read under the default policy: `rows` × `features`.
    Read { rows: u64, features: usize },
    /// Rejected under the default policy with `BadValue(first)` (null, NaN or infinite);
    /// with `NullPolicy::Fill(0.0)` it reads `rows` × `features`.
    Fill { first: BadValue, rows: u64, features: usize },
    /// Rejected with this error class (at open, at feature selection, or at read).
    Reject(Class),
}

use Class::*;
use Expect::*;

/// No numeric top-level column: `Features::auto()` finds nothing to select.
const NO_NUMERIC: Expect = Reject(ColumnType);
const NULL: BadValue = BadValue::Null;
const NAN: BadValue = BadValue::NaN;

/// The expectations table: every fixture under `tests/data`, by path relative to it.
const EXPECT: &[(&str, Expect)] = &[
    // bad_data/: corrupt files from bug reports.
    ("bad_data/ARROW-GH-41317.parquet", Reject(Footer)), // columns disagree on row count; footer Thrift unreadable for arrow-rs
    ("bad_data/ARROW-GH-41321.parquet", Reject(Decode)), // RLE bit width 254 in the int64 column
    ("bad_data/ARROW-GH-43605.parquet", Read { rows: 21186, features: 1 }), // 0-bit-wide dictionary indices: valid
    // A lone list<int32> column is taken as a list feature; its repetition levels are corrupt.
    ("bad_data/ARROW-GH-45185.parquet", Reject(Decode)),
    ("bad_data/ARROW-GH-47662.parquet", NO_NUMERIC), // FLBA(4) with short page
    ("bad_data/ARROW-RS-GH-6229-DICTHEADER.parquet", Reject(Decode)), // negative dictionary num_values in nation_key
    ("bad_data/ARROW-RS-GH-6229-LEVELS.parquet", NO_NUMERIC), // list<struct<null>>
    ("bad_data/PARQUET-1481.parquet", Reject(Footer)), // physical type -7 in the footer
    // data/: valid files (and two encrypted ones).
    ("data/alltypes_dictionary.parquet", Read { rows: 2, features: 7 }),
    ("data/alltypes_plain.parquet", Read { rows: 8, features: 7 }),
    ("data/alltypes_plain.snappy.parquet", Read { rows: 2, features: 7 }),
    ("data/alltypes_tiny_pages.parquet", Read { rows: 7300, features: 9 }),
    ("data/alltypes_tiny_pages_plain.parquet", Read { rows: 7300, features: 9 }),
    ("data/binary.parquet", NO_NUMERIC),
    ("data/binary_truncated_min_max.parquet", NO_NUMERIC),
    ("data/byte_array_decimal.parquet", Read { rows: 24, features: 1 }),
    ("data/byte_stream_split.zstd.parquet", Read { rows: 300, features: 2 }),
    // 7 PLAIN/BSS pairs; the 2 FLBA(5) columns are not numeric.
    ("data/byte_stream_split_extended.gzip.parquet", Read { rows: 200, features: 12 }),
    ("data/column_chunk_key_value_metadata.parquet", Reject(Empty)), // zero rows
    ("data/concatenated_gzip_members.parquet", Read { rows: 513, features: 1 }),
    ("data/data_index_bloom_encoding_stats.parquet", NO_NUMERIC),
    ("data/data_index_bloom_encoding_with_length.parquet", NO_NUMERIC),
    ("data/datapage_v1-corrupt-checksum.parquet", Reject(Decode)), // page CRC mismatch
    ("data/datapage_v1-snappy-compressed-checksum.parquet", Read { rows: 5120, features: 2 }),
    ("data/datapage_v1-uncompressed-checksum.parquet", Read { rows: 5120, features: 2 }),
    ("data/datapage_v2.snappy.parquet", Read { rows: 5, features: 2 }),
    ("data/datapage_v2_empty_datapage.snappy.parquet", Fill { first: NULL, rows: 1, features: 1 }),
    ("data/delta_binary_packed.parquet", Read { rows: 200, features: 66 }),
    ("data/delta_byte_array.parquet", NO_NUMERIC),
    ("data/delta_encoding_optional_column.parquet", Fill { first: NULL, rows: 100, features: 9 }),
    ("data/delta_encoding_required_column.parquet", Read { rows: 100, features: 9 }),
    ("data/delta_length_byte_array.parquet", NO_NUMERIC),
    // pyarrow reads it; arrow-rs 60.1 cannot parse its footer (unknown Thrift fields).
    ("data/dict-page-offset-zero.parquet", Reject(Footer)),
    // Plaintext footer, encrypted column metadata: arrow-rs (no `encryption` feature) fails at
    // decode ("Required field type_ is missing"), not at open.
    ("data/encrypt_columns_plaintext_footer.parquet.encrypted", Reject(Decode)),
    ("data/fixed_length_byte_array.parquet", NO_NUMERIC),
    ("data/fixed_length_decimal.parquet", Read { rows: 24, features: 1 }),
    ("data/fixed_length_decimal_legacy.parquet", Read { rows: 24, features: 1 }),
    ("data/float16_nonzeros_and_nans.parquet", Fill { first: NULL, rows: 8, features: 1 }),
    ("data/float16_zeros_and_nans.parquet", Fill { first: NULL, rows: 3, features: 1 }),
    ("data/floating_orders_nan_count.parquet", Fill { first: NAN, rows: 50, features: 6 }),
    ("data/hadoop_lz4_compressed.parquet", Read { rows: 4, features: 2 }),
    ("data/hadoop_lz4_compressed_larger.parquet", NO_NUMERIC),
    ("data/incorrect_map_schema.parquet", NO_NUMERIC),
    ("data/int32_decimal.parquet", Read { rows: 24, features: 1 }),
    ("data/int32_with_null_pages.parquet", Fill { first: NULL, rows: 1000, features: 1 }),
    ("data/int64_decimal.parquet", Read { rows: 24, features: 1 }),
    ("data/int96_from_spark.parquet", NO_NUMERIC), // timestamps are not features
    ("data/large_string_map.brotli.parquet", NO_NUMERIC), // decompression bomb: never decoded
    // The lone numeric list column (list<int64>) is the feature; row 1 is [null, 1]: two
    // values where row 0 has three, ragged under every null policy (its null element is the
    // policy's, so it is no longer the first error reported).
    ("data/list_columns.parquet", Reject(Ragged)),
    ("data/lz4_raw_compressed.parquet", Read { rows: 4, features: 2 }),
    ("data/lz4_raw_compressed_larger.parquet", NO_NUMERIC),
    ("data/map_no_value.parquet", NO_NUMERIC),
    ("data/nan_in_stats.parquet", Fill { first: NAN, rows: 2, features: 1 }),
    // pyarrow reads it; arrow-rs 60.1: "EOF: Invalid page header".
    // arrow-rs fails on its binary columns; the two int32 columns that auto selects decode
    // with pyarrow's values (see nation_values).
    ("data/nation.dict-malformed.parquet", Read { rows: 25, features: 2 }),
    ("data/nested_lists.snappy.parquet", Read { rows: 3, features: 1 }),
    ("data/nested_maps.snappy.parquet", Read { rows: 6, features: 2 }),
    ("data/nested_structs.rust.parquet", NO_NUMERIC),
    ("data/non_hadoop_lz4_compressed.parquet", Read { rows: 4, features: 2 }),
    ("data/nonnullable.impala.parquet", Read { rows: 1, features: 1 }),
    ("data/null_list.parquet", NO_NUMERIC),
    ("data/nullable.impala.parquet", Read { rows: 7, features: 1 }),
    ("data/nulls.snappy.parquet", NO_NUMERIC),
    ("data/old_list_structure.parquet", NO_NUMERIC),
    ("data/overflow_i16_page_cnt.parquet", NO_NUMERIC), // bool
    ("data/page_v2_empty_compressed.parquet", Fill { first: NULL, rows: 10, features: 1 }),
    ("data/plain-dict-uncompressed-checksum.parquet", Read { rows: 1000, features: 1 }),
    // The footer says 0 rows (the data holds 6): never size an epoch from it.
    // File footer: 0 rows; its row group: 6; arrow-rs decodes 0, pyarrow 6. Refused at open.
    ("data/repeated_no_annotation.parquet", Reject(ShardChanged)),
    // The lone numeric list column (repeated int32) is the feature; its rows differ in length.
    ("data/repeated_primitive_no_list.parquet", Reject(Ragged)),
    ("data/rle-dict-snappy-checksum.parquet", Read { rows: 1000, features: 1 }),
    ("data/rle-dict-uncompressed-corrupt-checksum.parquet", Reject(Decode)), // dictionary page CRC
    ("data/rle_boolean_encoding.parquet", NO_NUMERIC),                       // bool
    ("data/single_nan.parquet", Fill { first: NULL, rows: 1, features: 1 }),
    ("data/sort_columns.parquet", Fill { first: NULL, rows: 6, features: 1 }),
    ("data/uniform_encryption.parquet.encrypted", Reject(Footer)),
    ("data/unknown-logical-type.parquet", NO_NUMERIC),
];

/// Every case must finish within this.
const CASE_LIMIT: Duration = Duration::from_secs(5);

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// Open `path` with auto features and `policy`, and read all its rows.
fn read_all(path: &Path, policy: NullPolicy) -> Result<Batch, Error> {
    let set = ShardSet::open(path)?.features(Features::auto())?.target(Target::none())?.null_policy(policy);
    set.read_rows(0..set.num_rows())
}

/// [`read_all`] with panics caught: `Err(message)` when one escaped.
fn guarded(path: &Path, policy: NullPolicy) -> Result<Result<Batch, Error>, String> {
    catch_unwind(AssertUnwindSafe(|| read_all(path, policy))).map_err(|p| panic_text(&*p))
}

/// Read a fixture that must read: its batch (panicking with the error otherwise).
fn read_ok(rel: &str, policy: NullPolicy) -> Batch {
    match read_all(&data_file(rel), policy) {
        Ok(b) => b,
        Err(e) => panic!("{rel}: expected to read, got {}", e.chain()),
    }
}

/// Read `features` of a fixture (no target, default policy).
fn read_columns(rel: &str, features: Features) -> Batch {
    let path = data_file(rel);
    let result = ShardSet::open(&path).and_then(|s| s.features(features)).and_then(|s| s.read_rows(0..s.num_rows()));
    match result {
        Ok(b) => b,
        Err(e) => panic!("{rel}: expected to read, got {}", e.chain()),
    }
}

/// Column `j` of a batch's features.
fn column(batch: &Batch, j: usize) -> Vec<f32> {
    batch.features.column(j).to_vec()
}

/// Index of the feature column `name` in the batch's spec.
fn feature_index(set_spec: &shardmix::DataSpec, name: &str) -> usize {
    set_spec
        .feature_names()
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no feature column '{name}' in {set_spec:?}"))
}

/// All fixture files under `tests/data` (relative paths with `/`).
fn fixture_files() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir).expect("read tests/data").map(|e| e.expect("dir entry").path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".parquet") || name.ends_with(".parquet.encrypted") {
                    let rel = p.strip_prefix(root).expect("under root");
                    let rel: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
                    out.push(rel.join("/"));
                }
            }
        }
    }
    let root = common::data_dir();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

#[test]
fn every_fixture_is_triaged() {
    let files = fixture_files();
    assert!(files.len() >= 70, "only {} fixtures found", files.len());
    let untriaged: Vec<&String> = files.iter().filter(|f| !EXPECT.iter().any(|(name, _)| name == f)).collect();
    let stale: Vec<&str> =
        EXPECT.iter().map(|(name, _)| *name).filter(|name| !files.iter().any(|f| f == name)).collect();
    assert!(untriaged.is_empty(), "untriaged fixture(s) in tests/data (add them to EXPECT): {untriaged:?}");
    assert!(stale.is_empty(), "EXPECT entries without a file: {stale:?}");
}

#[test]
fn every_fixture_matches_its_expectation() {
    let mut failures = Vec::new();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for (rel, expect) in EXPECT {
        let path = data_file(rel);
        if !path.exists() {
            continue; // reported by every_fixture_is_triaged
        }
        let started = Instant::now();
        let outcome = guarded(&path, NullPolicy::Error);
        let elapsed = started.elapsed();
        if elapsed > CASE_LIMIT {
            failures.push(format!("{rel}: took {elapsed:?} (limit {CASE_LIMIT:?})"));
        }
        let got = match &outcome {
            Err(panic) => {
                failures.push(format!("{rel}: PANIC escaped the API: {panic}"));
                continue;
            }
            Ok(Ok(b)) => format!("Read {{ rows: {}, features: {} }}", b.rows(), b.num_features()),
            Ok(Err(e)) => format!("{:?}: {}", class_of(e), e.chain()),
        };
        *tally
            .entry(match &outcome {
                Ok(Ok(_)) => "read".to_string(),
                Ok(Err(e)) => format!("{:?}", class_of(e)),
                Err(_) => "panic".to_string(),
            })
            .or_default() += 1;
        let ok = match (expect, &outcome) {
            (Read { rows, features }, Ok(Ok(b))) => check_batch(b, *rows, *features).map_err(|m| format!("{rel}: {m}")),
            (Fill { first, .. }, Ok(Err(e))) if class_of(e) == Bad(*first) => Ok(()),
            (Reject(class), Ok(Err(e))) if class_of(e) == *class => {
                check_names_file(e, &path).map_err(|m| format!("{rel}: {m}"))
            }
            _ => Err(format!("{rel}: expected {expect:?}, got {got}")),
        };
        if let Err(m) = ok {
            failures.push(m);
            continue;
        }
        // A Fill fixture must then read with a fill value.
        if let Fill { rows, features, .. } = expect {
            match guarded(&path, NullPolicy::Fill(0.0)) {
                Err(panic) => failures.push(format!("{rel} (fill): PANIC escaped: {panic}")),
                Ok(Err(e)) => failures.push(format!(
                    "{rel} (fill): expected Read {{ rows: {rows}, features: {features} }}, got {:?}: {}",
                    class_of(&e),
                    e.chain()
                )),
                Ok(Ok(b)) => {
                    if let Err(m) = check_batch(&b, *rows, *features) {
                        failures.push(format!("{rel} (fill): {m}"));
                    }
                }
            }
        }
    }
    eprintln!("corpus outcomes: {tally:?}");
    assert!(
        failures.is_empty(),
        "{} of {} fixtures do not match:\n  {}",
        failures.len(),
        EXPECT.len(),
        failures.join("\n  ")
    );
}

/// Shape, provenance and finiteness of a batch read from one file.
fn check_batch(b: &Batch, rows: u64, features: usize) -> Result<(), String> {
    if b.rows() as u64 != rows || b.num_features() != features {
        return Err(format!("expected {rows} rows × {features} features, got {} × {}", b.rows(), b.num_features()));
    }
    let expected_ids: Vec<u64> = (0..rows).collect();
    if b.provenance.row_a != expected_ids {
        return Err("provenance.row_a is not 0..rows".into());
    }
    if let Some(v) = b.features.iter().find(|v| !v.is_finite()) {
        return Err(format!("non-finite value {v} passed the default policy"));
    }
    if b.targets.is_some() {
        return Err("targets without a target".into());
    }
    Ok(())
}

/// A rejection must name the file (in its message chain).
fn check_names_file(e: &Error, path: &Path) -> Result<(), String> {
    let chain = e.chain();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if chain.contains(name) {
        Ok(())
    } else {
        Err(format!("error does not name the file: {chain}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Exact values.

/// A numeric column of a Parquet file read directly with arrow-rs, as f64 (None for null).
fn arrow_column(path: &Path, name: &str) -> Vec<Option<f64>> {
    let file = std::fs::File::open(path).expect("open fixture");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("footer").build().expect("reader");
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.expect("decode");
        let col = batch.column_by_name(name).expect("column");
        let get = |i: usize| -> Option<f64> {
            if col.is_null(i) {
                return None;
            }
            Some(match col.data_type() {
                DataType::Float32 => col.as_primitive::<Float32Type>().value(i) as f64,
                DataType::Float64 => col.as_primitive::<Float64Type>().value(i),
                DataType::Int32 => col.as_primitive::<Int32Type>().value(i) as f64,
                DataType::Int64 => col.as_primitive::<Int64Type>().value(i) as f64,
                other => panic!("arrow_column: unsupported type {other}"),
            })
        };
        out.extend((0..col.len()).map(get));
    }
    out
}

#[test]
fn alltypes_plain_values() {
    let set = ShardSet::open(data_file("data/alltypes_plain.parquet")).expect("open");
    assert_eq!(
        set.spec().feature_names(),
        ["id", "tinyint_col", "smallint_col", "int_col", "bigint_col", "float_col", "double_col"]
    );
    let b = set.read_rows(0..8).expect("read");
    assert_eq!(column(&b, 0), [4.0, 5.0, 6.0, 7.0, 2.0, 3.0, 0.0, 1.0]);
    assert_eq!(column(&b, 4), [0.0, 10.0, 0.0, 10.0, 0.0, 10.0, 0.0, 10.0]);
    assert_eq!(column(&b, 5), [0.0, 1.1, 0.0, 1.1, 0.0, 1.1, 0.0, 1.1]);
    assert_eq!(column(&b, 6), [0.0, 10.1, 0.0, 10.1, 0.0, 10.1, 0.0, 10.1]);
    // Row-major: row 6 is id 0.
    assert_eq!(b.features.row(6).to_vec(), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    // A sub-range keeps global ids.
    let part = set.read_rows(5..7).expect("read part");
    assert_eq!(column(&part, 0), [3.0, 0.0]);
    assert_eq!(part.provenance.row_a, [5, 6]);
}

#[test]
fn byte_stream_split_equals_plain_and_arrow() {
    let rel = "data/byte_stream_split_extended.gzip.parquet";
    let set = ShardSet::open(data_file(rel)).expect("open");
    let spec = set.spec().clone();
    let b = set.read_rows(0..set.num_rows()).expect("read");
    for ty in ["float16", "float", "double", "int32", "int64", "decimal"] {
        let plain = column(&b, feature_index(&spec, &format!("{ty}_plain")));
        let bss = column(&b, feature_index(&spec, &format!("{ty}_byte_stream_split")));
        assert_eq!(plain.len(), 200);
        assert_eq!(plain, bss, "{ty}: BYTE_STREAM_SPLIT differs from PLAIN");
        assert!(plain.iter().any(|v| *v != 0.0), "{ty}: all zeros is not a real check");
    }
    // f32/f64 standard normals (zstd), against a direct arrow-rs decode.
    let rel = "data/byte_stream_split.zstd.parquet";
    let b = read_ok(rel, NullPolicy::Error);
    for (j, name) in ["f32", "f64"].iter().enumerate() {
        let want: Vec<f32> =
            arrow_column(&data_file(rel), name).into_iter().map(|v| v.expect("no nulls") as f32).collect();
        assert_eq!(column(&b, j), want, "{name}");
    }
}

#[test]
fn delta_binary_packed_matches_expect_csv() {
    let (header, rows) = common::read_csv(&data_file("data/delta_binary_packed_expect.csv"));
    assert_eq!(rows.len(), 200);
    let set = ShardSet::open(data_file("data/delta_binary_packed.parquet")).expect("open");
    let spec = set.spec().clone();
    let b = set.read_rows(0..200).expect("read");
    let mut checked = 0;
    for (c, name) in header.iter().enumerate() {
        let j = feature_index(&spec, name);
        for (r, row) in rows.iter().enumerate() {
            let want: i64 = row[c].parse().expect("integer cell");
            // The reader's documented conversion: the integer rounded to the nearest f32.
            assert_eq!(b.features[[r, j]], want as f32, "column {name}, row {r}: {want}");
            checked += 1;
        }
    }
    assert_eq!(checked, 200 * 66);
}

#[test]
fn delta_encoding_required_column_matches_expect_csv() {
    let (header, rows) = common::read_csv(&data_file("data/delta_encoding_required_column_expect.csv"));
    let set = ShardSet::open(data_file("data/delta_encoding_required_column.parquet")).expect("open");
    let spec = set.spec().clone();
    let b = set.read_rows(0..100).expect("read");
    assert_eq!(rows.len(), 100);
    // The 9 integer columns come first in the CSV; the parquet names carry a trailing ':'.
    for (c, name) in header.iter().take(9).enumerate() {
        let j = feature_index(&spec, &format!("{name}:"));
        for (r, row) in rows.iter().enumerate() {
            let want: i64 = row[c].parse().expect("integer cell");
            assert_eq!(b.features[[r, j]], want as f32, "{name} row {r}");
        }
    }
}

#[test]
fn delta_encoding_optional_column_fills_nulls() {
    let (header, rows) = common::read_csv(&data_file("data/delta_encoding_optional_column_expect.csv"));
    let path = data_file("data/delta_encoding_optional_column.parquet");
    let set = ShardSet::open(&path).expect("open").null_policy(NullPolicy::Fill(-7.0));
    let spec = set.spec().clone();
    let b = set.read_rows(0..100).expect("read with fill");
    let mut filled = 0;
    for (c, name) in header.iter().take(9).enumerate() {
        let j = feature_index(&spec, name);
        for (r, row) in rows.iter().enumerate() {
            let want = if row[c].is_empty() {
                filled += 1;
                -7.0
            } else {
                row[c].parse::<i64>().expect("integer cell") as f32
            };
            assert_eq!(b.features[[r, j]], want, "{name} row {r}");
        }
    }
    assert_eq!(filled, 16, "nulls in the CSV");
    // Under the default policy the first null is named precisely.
    let err = read_all(&path, NullPolicy::Error).expect_err("nulls must be rejected");
    match err.kind() {
        ErrorKind::BadValue { value, path: p, .. } => {
            assert_eq!(*value, BadValue::Null);
            assert_eq!(p, &path);
        }
        other => panic!("expected BadValue, got {other:?}"),
    }
}

#[test]
fn checksummed_twins_are_equal() {
    let a = read_ok("data/datapage_v1-snappy-compressed-checksum.parquet", NullPolicy::Error);
    let b = read_ok("data/datapage_v1-uncompressed-checksum.parquet", NullPolicy::Error);
    assert_eq!(a.features, b.features);
    let want: Vec<f32> = arrow_column(&data_file("data/datapage_v1-uncompressed-checksum.parquet"), "b")
        .into_iter()
        .map(|v| v.expect("required") as f32)
        .collect();
    assert_eq!(column(&a, 1), want);
    // The plain-dict and rle-dict checksum files hold the same int64 column.
    let c = read_ok("data/plain-dict-uncompressed-checksum.parquet", NullPolicy::Error);
    let d = read_ok("data/rle-dict-snappy-checksum.parquet", NullPolicy::Error);
    assert_eq!(c.features, d.features);
}

#[test]
fn corrupt_checksums_are_rejected_naming_the_row_group() {
    for rel in ["data/datapage_v1-corrupt-checksum.parquet", "data/rle-dict-uncompressed-corrupt-checksum.parquet"] {
        let err = read_all(&data_file(rel), NullPolicy::Error).expect_err(rel);
        match err.kind() {
            ErrorKind::Decode { path, row_group, .. } => {
                assert_eq!(path, &data_file(rel));
                assert_eq!(*row_group, 0);
                assert!(err.chain().to_lowercase().contains("crc"), "{rel}: {}", err.chain());
            }
            other => panic!("{rel}: expected Decode, got {other:?}"),
        }
    }
}

#[test]
fn tiny_pages_equal_plain_pages() {
    let a = read_ok("data/alltypes_tiny_pages.parquet", NullPolicy::Error);
    let b = read_ok("data/alltypes_tiny_pages_plain.parquet", NullPolicy::Error);
    assert_eq!(a.features, b.features);
    // Reading in odd-sized pieces gives the same rows.
    let set = ShardSet::open(data_file("data/alltypes_tiny_pages.parquet")).expect("open");
    let mut start = 0;
    while start < 7300 {
        let end = (start + 997).min(7300);
        let part = set.read_rows(start..end).expect("read part");
        assert_eq!(part.features, a.features.slice(ndarray::s![start as usize..end as usize, ..]));
        start = end;
    }
}

#[test]
fn decimals_become_their_value() {
    let want: Vec<f32> = (1..=24).map(|v| v as f32).collect();
    for rel in [
        "data/byte_array_decimal.parquet",
        "data/int32_decimal.parquet",
        "data/int64_decimal.parquet",
        "data/fixed_length_decimal.parquet",
        "data/fixed_length_decimal_legacy.parquet",
    ] {
        let b = read_ok(rel, NullPolicy::Error);
        assert_eq!(column(&b, 0), want, "{rel}");
    }
}

#[test]
fn odd_codecs_and_types_have_their_values() {
    // Two concatenated gzip members: a reader that stops after the first loses rows.
    let b = read_ok("data/concatenated_gzip_members.parquet", NullPolicy::Error);
    let want: Vec<f32> = (1..=513).map(|v| v as f32).collect();
    assert_eq!(column(&b, 0), want);
    // LZ4 variants hold the same 4 rows.
    let h = read_ok("data/hadoop_lz4_compressed.parquet", NullPolicy::Error);
    let r = read_ok("data/lz4_raw_compressed.parquet", NullPolicy::Error);
    let n = read_ok("data/non_hadoop_lz4_compressed.parquet", NullPolicy::Error);
    assert_eq!(h.features, r.features);
    assert_eq!(h.features, n.features);
    // DataPage v2 + DELTA_BINARY_PACKED.
    let b = read_ok("data/datapage_v2.snappy.parquet", NullPolicy::Error);
    assert_eq!(column(&b, 0), [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(column(&b, 1), [2.0, 3.0, 4.0, 5.0, 2.0]);
    // Float16: null, 1, -2, NaN, 0, -1, -0, 2 (fill 9 replaces null and NaN; -0 keeps its sign).
    let b = read_ok("data/float16_nonzeros_and_nans.parquet", NullPolicy::Fill(9.0));
    let got = column(&b, 0);
    assert_eq!(got, [9.0, 1.0, -2.0, 9.0, 0.0, -1.0, 0.0, 2.0]);
    assert!(got[6].is_sign_negative() && !got[4].is_sign_negative());
    // The scalar columns of nested files are selected; the nested ones are skipped.
    let b = read_ok("data/nested_maps.snappy.parquet", NullPolicy::Error);
    assert_eq!(b.features.dim(), (6, 2));
    let b = read_ok("data/nullable.impala.parquet", NullPolicy::Error);
    assert_eq!(column(&b, 0), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
}

#[test]
fn null_policies_count_and_skip() {
    // 275 of 1000 values are null (some pages entirely).
    let rel = "data/int32_with_null_pages.parquet";
    let reference = arrow_column(&data_file(rel), "int32_field");
    assert_eq!(reference.iter().filter(|v| v.is_none()).count(), 275);
    let filled = read_ok(rel, NullPolicy::Fill(-1.0));
    let want: Vec<f32> = reference.iter().map(|v| v.map_or(-1.0, |x| x as f32)).collect();
    assert_eq!(column(&filled, 0), want);
    let skipped = read_ok(rel, NullPolicy::SkipRow);
    assert_eq!(skipped.rows(), 725);
    let kept: Vec<u64> = reference.iter().enumerate().filter(|(_, v)| v.is_some()).map(|(i, _)| i as u64).collect();
    assert_eq!(skipped.provenance.row_a, kept);
    // Fourteen NaNs per column over 5 row groups: each is filled, nothing else changes.
    let rel = "data/floating_orders_nan_count.parquet";
    let b = read_ok(rel, NullPolicy::Fill(0.5));
    assert_eq!(b.features.dim(), (50, 6));
    for (j, name) in ["float_ieee754", "float_typedef", "double_ieee754", "double_typedef"].iter().enumerate() {
        let want: Vec<f32> = arrow_column(&data_file(rel), name)
            .into_iter()
            .map(|v| v.expect("no nulls") as f32)
            .map(|v| if v.is_nan() { 0.5 } else { v })
            .collect();
        assert_eq!(column(&b, j), want, "{name}");
        let nans = arrow_column(&data_file(rel), name).iter().filter(|v| v.is_some_and(f64::is_nan)).count();
        assert_eq!(nans, 14, "{name}");
    }
    let rel = "data/sort_columns.parquet";
    let b = read_ok(rel, NullPolicy::SkipRow);
    assert_eq!(b.provenance.row_a, [1, 2, 4, 5]);
    assert_eq!(column(&b, 0), [2.0, 1.0, 2.0, 1.0]);
}

#[test]
fn size_guard_rejects_before_decoding() {
    // The decompression bomb cannot be selected as a feature at all.
    let path = data_file("data/large_string_map.brotli.parquet");
    let started = Instant::now();
    let err = ShardSet::open(&path)
        .and_then(|s| s.features(Features::columns(&["arr"])))
        .expect_err("a map column is not a feature");
    assert!(matches!(class_of(&err), ColumnType | TooLarge), "{}", err.chain());
    assert!(started.elapsed() < Duration::from_secs(2));
    // The guard itself, on a valid file: column chunks of ~30 KB against a 1 KB limit.
    let set = ShardSet::open(data_file("data/alltypes_tiny_pages.parquet")).expect("open").max_column_chunk_bytes(1024);
    let err = set.read_rows(0..10).expect_err("chunk over the limit");
    match err.kind() {
        ErrorKind::TooLarge { limit, size, .. } => {
            assert_eq!(*limit, 1024);
            assert!(*size > 1024);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn target_selection_on_a_fixture() {
    // alltypes_plain: id as a class label over 8 classes, the rest as features.
    let set = ShardSet::open(data_file("data/alltypes_plain.parquet"))
        .and_then(|s| s.target(Target::class("id", 8)))
        .expect("open with target");
    assert_eq!(set.spec().num_features(), 6);
    let b = set.read_rows(0..8).expect("read");
    let targets = b.targets.as_ref().expect("targets");
    assert_eq!(targets.dim(), (8, 8));
    // Row 0 has id 4: one-hot at 4.
    assert_eq!(targets.row(0).to_vec(), [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(b.classes(), Some(vec![4, 5, 6, 7, 2, 3, 0, 1]));
    // A string column cannot be a label.
    let err = ShardSet::open(data_file("data/alltypes_plain.parquet"))
        .and_then(|s| s.target(Target::class("string_col", 2)))
        .expect_err("string label");
    assert_eq!(class_of(&err), ColumnType);
    let err = ShardSet::open(data_file("data/alltypes_plain.parquet"))
        .and_then(|s| s.features(Features::columns(&["id", "nope"])))
        .expect_err("missing column");
    assert_eq!(class_of(&err), MissingColumn);
}

#[test]
fn nation_values() {
    // arrow-rs cannot read this file whole; the numeric projection matches pyarrow.
    let b = read_columns("data/nation.dict-malformed.parquet", Features::columns(&["nation_key", "region_key"]));
    let keys: Vec<f32> = (0..25).map(|v| v as f32).collect();
    assert_eq!(column(&b, 0), keys);
    let regions = [0, 1, 1, 1, 4, 0, 3, 3, 2, 2, 4, 4, 2, 4, 0, 0, 0, 1, 2, 3, 4, 2, 3, 3, 1];
    assert_eq!(column(&b, 1), regions.iter().map(|&v| v as f32).collect::<Vec<_>>());
}
