//! Null rows of a tensor (list) feature column go through the null policy as a null scalar
//! feature does: `error` names file, row group, column and row; `skip-row` drops the row and
//! counts it; `fill(V)` writes V in every element of the row. A null element inside a list is
//! a null value of that element. The direct path (which leaves a block with a null to
//! arrow-rs) and arrow-rs's path give the same batches, for `float32` and `uint8` elements (the
//! latter as floats and as `uint8` pixels), `fixed_size_list` and `list`, PLAIN and dictionary
//! pages, whole row groups and blocks of part of one.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Int64Array, ListArray, PrimitiveArray, UInt8Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use shardmix::{BadValue, Batch, ErrorKind, Features, NullPolicy, Order, Pipeline, Pixels, ShardSet, Target};

const ROWS: usize = 230;
const WIDTH: usize = 12;
/// Null rows: the first row (a `list`'s width is then another row's), two in a row, one on a
/// page edge, the last.
const NULL_ROWS: [usize; 5] = [0, 61, 62, 128, 229];
/// A row whose element `NULL_ELEMENT.1` is null (the list itself is present).
const NULL_ELEMENT: (usize, usize) = (100, 5);
const FILL: f32 = 7.0;

/// The byte of element `j` of row `r`.
fn byte(r: usize, j: usize) -> u8 {
    ((r * 37 + j * 11 + (r * j) % 7) % 256) as u8
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Element {
    F32,
    U8,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    FixedSize,
    List,
}

/// The value element `j` of row `r` reads as (a float element holds a quarter of the byte).
fn value(element: Element, r: usize, j: usize) -> f32 {
    match element {
        Element::F32 => byte(r, j) as f32 * 0.25,
        Element::U8 => byte(r, j) as f32,
    }
}

fn is_null_row(r: usize) -> bool {
    NULL_ROWS.contains(&r)
}

/// Row groups of 100 rows, pages of 16 rows.
fn props(dictionary: bool) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(dictionary)
        .set_max_row_group_row_count(Some(100))
        .set_data_page_row_count_limit(16)
        .set_write_batch_size(16)
        .build()
}

/// A file of `ROWS` rows: `pixels`, a tensor column of `WIDTH` elements whose rows
/// `NULL_ROWS` are null and whose element `NULL_ELEMENT` is null, and `label` (`r mod 3`).
fn tensor_file(dir: &Path, element: Element, layout: Layout, dictionary: bool) -> PathBuf {
    let path = dir.join(format!("{element:?}-{layout:?}-{dictionary}.parquet"));
    let present = |r: usize, j: usize| (r, j) != NULL_ELEMENT && !(layout == Layout::List && is_null_row(r));
    // A fixed-size list keeps its width of (null) slots under a null row; a list has none.
    let slots: Vec<(usize, usize)> = (0..ROWS)
        .filter(|&r| layout == Layout::FixedSize || !is_null_row(r))
        .flat_map(|r| (0..WIDTH).map(move |j| (r, j)))
        .collect();
    let values: ArrayRef = match element {
        Element::F32 => {
            Arc::new(slots.iter().map(|&(r, j)| present(r, j).then(|| value(element, r, j))).collect::<Float32Array>())
        }
        Element::U8 => Arc::new(slots.iter().map(|&(r, j)| present(r, j).then(|| byte(r, j))).collect::<UInt8Array>()),
    };
    let item = Arc::new(Field::new("item", values.data_type().clone(), true));
    let nulls = Some(NullBuffer::from((0..ROWS).map(|r| !is_null_row(r)).collect::<Vec<bool>>()));
    let list: ArrayRef = match layout {
        Layout::FixedSize => Arc::new(FixedSizeListArray::new(item, WIDTH as i32, values, nulls)),
        Layout::List => {
            let lengths = (0..ROWS).map(|r| if is_null_row(r) { 0 } else { WIDTH });
            Arc::new(ListArray::new(item, OffsetBuffer::from_lengths(lengths), values, nulls))
        }
    };
    assert_eq!(list.null_count(), NULL_ROWS.len());
    let labels: ArrayRef = Arc::new(Int64Array::from_iter_values((0..ROWS as i64).map(|i| i % 3)));
    common::write_columns(&path, vec![("pixels", list), ("label", labels)], props(dictionary));
    path
}

/// Every case: element type, pixels kept as, layout, dictionary pages.
fn cases() -> Vec<(Element, Pixels, Layout, bool)> {
    let mut v = Vec::new();
    for (element, pixels) in [(Element::F32, Pixels::F32), (Element::U8, Pixels::F32), (Element::U8, Pixels::U8)] {
        for layout in [Layout::FixedSize, Layout::List] {
            for dictionary in [false, true] {
                v.push((element, pixels, layout, dictionary));
            }
        }
    }
    v
}

fn open(path: &Path, pixels: Pixels, policy: NullPolicy, block_rows: Option<u64>) -> ShardSet {
    let mut b = ShardSet::builder()
        .features(Features::list("pixels"))
        .target(Target::class("label", 3))
        .pixels(pixels)
        .null_policy(policy);
    if let Some(rows) = block_rows {
        b = b.block_rows(rows);
    }
    b.open(path).unwrap()
}

/// The batch's features, as floats (pixels widened).
fn features_of(batch: &Batch) -> Vec<Vec<f32>> {
    match &batch.pixels {
        Some(p) => p.rows().into_iter().map(|r| r.iter().map(|&v| f32::from(v)).collect()).collect(),
        None => batch.features.rows().into_iter().map(|r| r.to_vec()).collect(),
    }
}

/// Both paths read `set`'s rows `0..ROWS` to the same batch, which it returns.
fn read_both(set: &ShardSet, what: &str) -> Batch {
    let direct = set.read_rows(0..ROWS as u64).unwrap();
    let arrow = set.clone().without_direct_path().read_rows(0..ROWS as u64).unwrap();
    assert_eq!(direct.features, arrow.features, "{what}: features");
    assert_eq!(direct.pixels, arrow.pixels, "{what}: pixels");
    assert_eq!(direct.targets, arrow.targets, "{what}: targets");
    assert_eq!(direct.provenance.row_a, arrow.provenance.row_a, "{what}: rows");
    direct
}

#[test]
fn a_null_tensor_row_is_an_error_naming_file_row_group_column_and_row() {
    let dir = common::tempdir();
    for (element, pixels, layout, dictionary) in cases() {
        let what = format!("{element:?} as {pixels:?}, {layout:?}, dictionary {dictionary}");
        let path = tensor_file(dir.path(), element, layout, dictionary);
        for block_rows in [None, Some(40)] {
            let set = open(&path, pixels, NullPolicy::Error, block_rows);
            for direct in [true, false] {
                let set = if direct { set.clone() } else { set.clone().without_direct_path() };
                // Each block's first null (a read fails on the first null of the blocks it reads).
                for block in set.row_groups() {
                    let rows = block.first_row as usize..(block.first_row + block.num_rows) as usize;
                    let Some(null) = rows.clone().find(|&r| is_null_row(r) || r == NULL_ELEMENT.0) else {
                        continue;
                    };
                    let err = set.read_rows(rows.start as u64..rows.end as u64).unwrap_err();
                    match err.kind() {
                        ErrorKind::BadValue { path: p, row_group, column, row, value } => {
                            assert_eq!(p, &path, "{what}");
                            assert_eq!((*row as usize, *row_group), (null, null / 100), "{what} {rows:?}");
                            assert_eq!(column, "pixels", "{what}");
                            assert_eq!(*value, BadValue::Null, "{what}");
                        }
                        k => panic!("{what}: {k:?}"),
                    }
                    let message = err.to_string();
                    for part in [path.display().to_string(), "pixels".into(), format!("{null}")] {
                        assert!(message.contains(&part), "{what}: '{part}' missing from: {message}");
                    }
                }
                // A block without a null reads (by the direct path when it is on).
                if block_rows.is_some() {
                    let ok = set.read_rows(160..200).unwrap();
                    let want: Vec<f32> = (0..WIDTH).map(|j| value(element, 171, j)).collect();
                    assert_eq!(features_of(&ok)[11], want, "{what}");
                }
            }
        }
    }
}

#[test]
fn skip_row_drops_null_tensor_rows_on_both_paths_and_counts_them() {
    let dir = common::tempdir();
    let kept: Vec<u64> = (0..ROWS).filter(|&r| !is_null_row(r) && r != NULL_ELEMENT.0).map(|r| r as u64).collect();
    for (element, pixels, layout, dictionary) in cases() {
        let path = tensor_file(dir.path(), element, layout, dictionary);
        for block_rows in [None, Some(40)] {
            let what = format!("{element:?} as {pixels:?}, {layout:?}, dictionary {dictionary}, blocks {block_rows:?}");
            let set = open(&path, pixels, NullPolicy::SkipRow, block_rows);
            assert_eq!(set.spec().num_features(), WIDTH, "{what}: the width, though row 0 is null");
            let batch = read_both(&set, &what);
            assert_eq!(batch.provenance.row_a, kept, "{what}");
            assert_eq!(batch.pixels.is_some(), pixels == Pixels::U8, "{what}");
            let features = features_of(&batch);
            for (i, &r) in kept.iter().enumerate() {
                let want: Vec<f32> = (0..WIDTH).map(|j| value(element, r as usize, j)).collect();
                assert_eq!(features[i], want, "{what}: row {r}");
            }
            let targets = batch.targets.unwrap();
            assert!(kept.iter().enumerate().all(|(i, &r)| targets[[i, r as usize % 3]] == 1.0), "{what}");
        }
    }
}

#[test]
fn fill_writes_every_element_of_a_null_tensor_row_on_both_paths() {
    let dir = common::tempdir();
    for (element, pixels, layout, dictionary) in cases() {
        let path = tensor_file(dir.path(), element, layout, dictionary);
        for block_rows in [None, Some(40)] {
            let what = format!("{element:?} as {pixels:?}, {layout:?}, dictionary {dictionary}, blocks {block_rows:?}");
            let set = open(&path, pixels, NullPolicy::Fill(FILL), block_rows);
            let batch = read_both(&set, &what);
            assert_eq!(batch.provenance.row_a, (0..ROWS as u64).collect::<Vec<_>>(), "{what}");
            let features = features_of(&batch);
            for (r, row) in features.iter().enumerate() {
                let want: Vec<f32> = (0..WIDTH)
                    .map(|j| if is_null_row(r) || (r, j) == NULL_ELEMENT { FILL } else { value(element, r, j) })
                    .collect();
                assert_eq!(row, &want, "{what}: row {r}");
            }
        }
    }
}

#[test]
fn the_pipeline_counts_skipped_and_filled_tensor_rows() {
    let dir = common::tempdir();
    let path = tensor_file(dir.path(), Element::U8, Layout::FixedSize, false);
    // (Counted once per decode: the default cache keeps each block decoded once.)
    for (policy, pixels) in [
        (NullPolicy::SkipRow, Pixels::U8),
        (NullPolicy::Fill(FILL), Pixels::U8),
        (NullPolicy::SkipRow, Pixels::F32),
        (NullPolicy::Fill(FILL), Pixels::F32),
    ] {
        let set = open(&path, pixels, policy, None);
        let mut p = Pipeline::builder().source(set).order(Order::sequential(32)).workers(2).build().unwrap();
        let rows: usize = p.by_ref().map(|b| b.unwrap().rows()).sum();
        let stats = p.stats();
        match policy {
            NullPolicy::SkipRow => {
                assert_eq!(rows, ROWS - NULL_ROWS.len() - 1, "{pixels:?}");
                assert_eq!(stats.skipped_rows, NULL_ROWS.len() as u64 + 1, "{pixels:?}");
                assert_eq!(stats.filled_values, 0);
            }
            _ => {
                assert_eq!(rows, ROWS, "{pixels:?}");
                assert_eq!(stats.skipped_rows, 0);
                assert_eq!(stats.filled_values, (NULL_ROWS.len() * WIDTH + 1) as u64, "{pixels:?}");
            }
        }
    }
}

/// A null row's slots hold no value in the file; whatever arrow-rs puts there never shows.
#[test]
fn a_fixed_size_null_row_with_values_in_its_slots_reads_as_null() {
    let dir = common::tempdir();
    let path = dir.path().join("slots.parquet");
    let values: PrimitiveArray<arrow_array::types::Float32Type> = (0..4 * WIDTH).map(|i| Some(i as f32)).collect();
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let nulls = Some(NullBuffer::from(vec![true, false, true, true]));
    let list = FixedSizeListArray::new(item, WIDTH as i32, Arc::new(values), nulls);
    let labels: ArrayRef = Arc::new(Int64Array::from(vec![0, 1, 2, 0]));
    common::write_columns(&path, vec![("pixels", Arc::new(list)), ("label", labels)], props(false));
    let set = ShardSet::builder()
        .features(Features::list("pixels"))
        .target(Target::class("label", 3))
        .null_policy(NullPolicy::Fill(-1.0))
        .open(&path)
        .unwrap();
    let batch = set.read_rows(0..4).unwrap();
    assert_eq!(batch.features.row(1).to_vec(), vec![-1.0; WIDTH]);
    assert_eq!(batch.features.row(2).to_vec(), (2 * WIDTH..3 * WIDTH).map(|i| i as f32).collect::<Vec<_>>());
}
