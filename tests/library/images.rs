//! Image columns as the ML world stores them: Hugging Face's `Image` layout (a struct
//! `{bytes, path}` of PNG/JPEG files) and plain binary columns, decoded to `f32` in [0, 1]
//! channels last, checked against Pillow's decoded pixels.
//!
//! The fixtures are written by `tests/python/images_fixture.py` (Pillow + pyarrow, run with
//! `SHARDMIX_PYTHON`), which also dumps `np.asarray(Image.open(...))` for every image; the
//! tests that need no Python write PNGs with the `png` crate.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Int64Array, StringArray, StructArray};
use arrow_schema::{DataType, Field};
use parquet::basic::Compression;
use shardmix::{ErrorKind, Features, Mixup, Normalize, NullPolicy, Order, Pipeline, ShardSet, Target};

/// JPEG tolerance against Pillow (libjpeg-turbo), in 8-bit levels (1 level = 1/255 after
/// scaling): decoders may round the IDCT, the colour conversion and the chroma upsampling
/// differently. Measured on the fixture (smooth 7 × 5 images, quality 90; Pillow 13.0.0 vs
/// zune-jpeg 0.5.15): RGB (4:2:0) max 3 levels, mean 0.21; gray max 1, mean 0.015. The bounds
/// leave one level of slack on the maximum.
const JPEG_MAX_ABS_LEVELS: u8 = 4;
const JPEG_MEAN_ABS_LEVELS: f64 = 0.5;

/// Write the Pillow fixtures into `dir` (None: no Python, the test is skipped).
fn pillow_fixtures(dir: &Path) -> Option<()> {
    let py = common::venv_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/images_fixture.py");
    let o = Command::new(py).arg(script).arg(dir).output().expect("run images_fixture.py");
    assert!(o.status.success(), "images_fixture.py failed: {}", String::from_utf8_lossy(&o.stderr));
    Some(())
}

/// Pillow's pixels of fixture `name`.
fn pillow_pixels(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(format!("{name}.u8"))).expect("read Pillow's pixels")
}

fn all_rows(set: &ShardSet) -> shardmix::Batch {
    set.read_rows(0..set.num_rows()).expect("read every row")
}

#[test]
fn png_gray_rgb_rgba_equal_pillow_exactly() {
    let dir = common::tempdir();
    let Some(()) = pillow_fixtures(dir.path()) else { return };
    for (name, channels, rows) in [("gray", 1, 37), ("rgb", 3, 21), ("rgba", 4, 21), ("binary", 3, 21)] {
        let path = dir.path().join(format!("{name}.parquet"));
        let set = ShardSet::open(&path).unwrap().target(Target::auto("label")).unwrap();
        let image = set.image().unwrap_or_else(|| panic!("{name}: no image column detected"));
        assert_eq!(image.shape, [7, 5, channels], "{name}");
        assert_eq!(image.hf_layout, name != "binary", "{name}");
        assert_eq!(set.spec().feature_shape, Some(vec![7, 5, channels]), "{name}: feature shape set from the image");
        assert_eq!(set.spec().num_features(), 35 * channels);
        let batch = all_rows(&set);
        assert_eq!(batch.features.dim(), (rows, 35 * channels), "{name}");
        let expected = pillow_pixels(dir.path(), name);
        assert_eq!(expected.len(), rows * 35 * channels);
        for (k, (&got, &px)) in batch.features.iter().zip(&expected).enumerate() {
            // ToTensor's scale, exactly.
            assert_eq!(got, px as f32 / 255.0, "{name}: value {k} (row {})", k / (35 * channels));
        }
        // The label came through as the one-hot target (row 3: label 4 in every fixture).
        let targets = batch.targets.expect("class targets");
        let label = if name == "binary" { 3 } else { (3 * 7 + 3) % 10 };
        assert_eq!(targets.row(3).iter().position(|&v| v == 1.0), Some(label), "{name}");
    }
}

#[test]
fn jpeg_within_tolerance_of_pillow() {
    let dir = common::tempdir();
    let Some(()) = pillow_fixtures(dir.path()) else { return };
    for (name, channels) in [("jpeg", 3), ("jpeg_gray", 1)] {
        let set = ShardSet::open(dir.path().join(format!("{name}.parquet")))
            .unwrap()
            .features(Features::image("image"))
            .unwrap();
        assert_eq!(set.image().map(|i| i.shape), Some([7, 5, channels]), "{name}");
        let batch = all_rows(&set);
        let expected = pillow_pixels(dir.path(), name);
        assert_eq!(batch.features.len(), expected.len(), "{name}");
        let (mut max, mut sum) = (0u8, 0f64);
        for (&got, &px) in batch.features.iter().zip(&expected) {
            let level = (got * 255.0).round();
            assert!((0.0..=255.0).contains(&level) && (got * 255.0 - level).abs() < 1e-3, "not a level: {got}");
            let d = (level as i32 - px as i32).unsigned_abs() as u8;
            max = max.max(d);
            sum += d as f64;
        }
        let mean = sum / expected.len() as f64;
        eprintln!("{name}: |shardmix − Pillow| max {max} levels, mean {mean:.3} levels");
        assert!(max <= JPEG_MAX_ABS_LEVELS, "{name}: max difference {max} levels");
        assert!(mean <= JPEG_MEAN_ABS_LEVELS, "{name}: mean difference {mean} levels");
    }
}

#[test]
fn truncated_png_names_file_and_row() {
    let dir = common::tempdir();
    let Some(()) = pillow_fixtures(dir.path()) else { return };
    let path = dir.path().join("truncated.parquet");
    let set = ShardSet::open(&path).unwrap().target(Target::class("label", 1)).unwrap();
    // Rows before the bad one read fine; the batch holding it fails naming it.
    assert_eq!(set.read_rows(0..9).unwrap().rows(), 9);
    let e = set.read_rows(8..12).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Image { row: 9, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("truncated.parquet") && msg.contains("row 9") && msg.contains("'image'"), "{msg}");
    // Through a pipeline too, with any worker count, as the step's error.
    for workers in [0, 2] {
        let p = Pipeline::builder().source(set.clone()).order(Order::sequential(4)).workers(workers).build().unwrap();
        let results: Vec<_> = p.collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2, "steps 0 and 1 are fine");
        let e = results[2].as_ref().unwrap_err();
        assert!(e.chain().contains("row 9"), "{}", e.chain());
    }
}

#[test]
fn different_shape_names_the_row() {
    let dir = common::tempdir();
    let Some(()) = pillow_fixtures(dir.path()) else { return };
    let set = ShardSet::open(dir.path().join("shape.parquet")).unwrap().features(Features::parse("image")).unwrap();
    assert_eq!(set.image().unwrap().shape, [7, 5, 1]);
    let e = set.read_rows(0..12).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e.kind(), ErrorKind::Image { row: 7, .. }), "{msg}");
    assert!(msg.contains("shape.parquet") && msg.contains("5 × 7 × 1") && msg.contains("7 × 5 × 1"), "{msg}");
}

#[test]
fn inspect_shows_the_image_column() {
    let dir = common::tempdir();
    let Some(()) = pillow_fixtures(dir.path()) else { return };
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .arg("inspect")
        .arg(dir.path().join("rgb.parquet"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("image 7x5x3"), "{out}");
    assert!(out.contains("image column 'image' (7x5x3 images"), "{out}");
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .args(["inspect", "--json", "--features", "png"])
        .arg(dir.path().join("binary.parquet"))
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect --json");
    assert_eq!(json["image"]["shape"], serde_json::json!([7, 5, 3]), "{json}");
    assert_eq!(json["image"]["layout"], "binary");
}

// ---- Without Python: PNGs written with the `png` crate. ----

/// A gray `h × w` PNG whose pixel (y, x) is `(seed + 3y + 5x) mod 256`.
fn png_gray(h: u32, w: u32, seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().unwrap();
    let data: Vec<u8> = (0..h).flat_map(|y| (0..w).map(move |x| seed.wrapping_add((3 * y + 5 * x) as u8))).collect();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    out
}

/// An HF-layout file of `rows` 6 × 4 gray PNGs (`None`: a null image), in row groups of 8.
fn hf_file(path: &Path, images: &[Option<Vec<u8>>]) -> PathBuf {
    let bytes: ArrayRef = Arc::new(BinaryArray::from_iter(images.iter().map(|b| b.as_deref())));
    let paths: ArrayRef =
        Arc::new(StringArray::from_iter(images.iter().enumerate().map(|(i, _)| Some(format!("{i}.png")))));
    let fields = vec![Field::new("bytes", DataType::Binary, true), Field::new("path", DataType::Utf8, true)];
    let nulls = arrow_buffer::NullBuffer::from(images.iter().map(Option::is_some).collect::<Vec<_>>());
    let image = StructArray::new(fields.into(), vec![bytes, paths], Some(nulls));
    let labels: ArrayRef = Arc::new(Int64Array::from_iter_values((0..images.len() as i64).map(|i| i % 3)));
    common::write_columns(
        path,
        vec![("image", Arc::new(image)), ("label", labels)],
        common::props(Compression::SNAPPY, 8),
    );
    path.to_path_buf()
}

fn expected_gray(seed: u8) -> Vec<f32> {
    (0..6u32).flat_map(|y| (0..4u32).map(move |x| seed.wrapping_add((3 * y + 5 * x) as u8) as f32 / 255.0)).collect()
}

#[test]
fn hf_layout_without_python_and_auto_selection() {
    let dir = common::tempdir();
    let images: Vec<Option<Vec<u8>>> = (0..30).map(|i| Some(png_gray(6, 4, (i * 11) as u8))).collect();
    let path = hf_file(&dir.path().join("hf.parquet"), &images);
    // Auto: the only non-label column is the image; `--features image` names it.
    for features in [Features::auto(), Features::parse("image"), Features::image("image")] {
        let set = ShardSet::open(&path).unwrap().features(features).unwrap().target(Target::auto("label")).unwrap();
        assert_eq!(set.image().map(|i| i.shape), Some([6, 4, 1]));
        assert_eq!(set.spec().num_classes(), Some(3));
        let b = set.read_rows(0..30).unwrap();
        for r in 0..30 {
            assert_eq!(b.features.row(r).to_vec(), expected_gray((r * 11) as u8), "row {r}");
        }
    }
    // Ids across row groups, in the order asked.
    let set = ShardSet::open(&path).unwrap().features(Features::image("image")).unwrap();
    let reader = shardmix::Reader::new(Arc::new(set), 1 << 20);
    let b = reader.read(0, &shardmix::Rows::Ids(vec![29, 3, 17, 3])).unwrap();
    for (k, r) in [29usize, 3, 17, 3].into_iter().enumerate() {
        assert_eq!(b.features.row(k).to_vec(), expected_gray((r * 11) as u8));
    }
    // A label column is not an image column.
    let e = ShardSet::open(&path).unwrap().features(Features::image("label")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ColumnType { .. }), "{e}");
}

#[test]
fn null_images_follow_the_null_policy() {
    let dir = common::tempdir();
    let mut images: Vec<Option<Vec<u8>>> = (0..12).map(|i| Some(png_gray(6, 4, i as u8))).collect();
    images[5] = None;
    let path = hf_file(&dir.path().join("nulls.parquet"), &images);
    let open = || ShardSet::open(&path).unwrap().features(Features::image("image")).unwrap();
    let e = open().read_rows(0..12).unwrap_err();
    assert!(e.to_string().contains("row 5") && e.to_string().contains("null"), "{e}");
    let skip = open().null_policy(NullPolicy::SkipRow).read_rows(0..12).unwrap();
    assert_eq!(skip.provenance.row_a, (0..12).filter(|&r| r != 5).collect::<Vec<u64>>());
    let fill = open().null_policy(NullPolicy::Fill(0.5)).read_rows(0..12).unwrap();
    assert!(fill.features.row(5).iter().all(|&v| v == 0.5));
    assert_eq!(fill.features.row(6).to_vec(), expected_gray(6));
}

#[test]
fn not_an_image_is_an_error_naming_the_row() {
    let dir = common::tempdir();
    let mut images: Vec<Option<Vec<u8>>> = (0..10).map(|i| Some(png_gray(6, 4, i as u8))).collect();
    images[3] = Some(b"GIF89a not supported".to_vec());
    let path = hf_file(&dir.path().join("gif.parquet"), &images);
    let e = ShardSet::open(&path).unwrap().target(Target::auto("label")).unwrap().read_rows(0..10).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Image { row: 3, .. }), "{e}");
    assert!(e.to_string().contains("neither PNG nor JPEG"), "{e}");
    // A first value that is no PNG or JPEG at all fails at open: the column holds something
    // else, so it is the wrong type for image features (named with the row).
    images[0] = Some(vec![1, 2, 3]);
    let path = hf_file(&dir.path().join("bad_first.parquet"), &images);
    let e = ShardSet::open(&path).unwrap().features(Features::image("image")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ColumnType { .. }), "{e}");
    assert!(e.to_string().contains("row 0") && e.to_string().contains("neither PNG nor JPEG"), "{e}");
    // A first image that is a PNG but broken is an image error naming the row.
    images[0] = Some(png_gray(6, 4, 0)[..20].to_vec());
    let path = hf_file(&dir.path().join("broken_first.parquet"), &images);
    let e = ShardSet::open(&path).unwrap().features(Features::image("image")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Image { row: 0, .. }), "{e}");
}

#[test]
fn cutmix_and_normalize_over_images_are_deterministic_across_workers() {
    let dir = common::tempdir();
    let images: Vec<Option<Vec<u8>>> = (0..100).map(|i| Some(png_gray(6, 4, (i * 7) as u8))).collect();
    let path = hf_file(&dir.path().join("hf.parquet"), &images);
    let set = ShardSet::open(&path).unwrap().target(Target::class_auto("label")).unwrap();
    let shape = set.spec().feature_shape.clone().expect("shape from the image");
    let run = |workers: usize| -> Vec<shardmix::Batch> {
        Pipeline::builder()
            .source(set.clone())
            .order(Order::shuffled(16))
            .stage(Normalize::parse("0.5/0.25").unwrap())
            .stage(Mixup::new(0.4).cutmix(1.0).feature_shape(&shape))
            .workers(workers)
            .seed(3)
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let reference = run(0);
    assert_eq!(reference.iter().map(|b| b.rows()).sum::<usize>(), 100);
    for workers in [1, 2, 3] {
        let other = run(workers);
        assert_eq!(other.len(), reference.len());
        for (a, b) in reference.iter().zip(&other) {
            assert_eq!(a.features, b.features, "workers {workers}, step {}", a.step);
            assert_eq!(a.provenance, b.provenance);
        }
    }
    // Normalize alone is (x − 0.5) / 0.25 of ToTensor's value.
    let p = Pipeline::builder()
        .source(set.clone())
        .order(Order::sequential(10))
        .stage(Normalize::parse("0.5/0.25").unwrap())
        .workers(0)
        .steps(1)
        .build()
        .unwrap();
    let b = p.into_iter().next().unwrap().unwrap();
    let want: Vec<f32> = expected_gray(0).iter().map(|v| (v - 0.5) / 0.25).collect();
    assert_eq!(b.features.row(0).to_vec(), want);
}

#[test]
fn augment_with_cutmix_and_normalize_from_the_command_line() {
    let dir = common::tempdir();
    let images: Vec<Option<Vec<u8>>> = (0..40).map(|i| Some(png_gray(6, 4, (i * 5) as u8))).collect();
    let path = hf_file(&dir.path().join("hf.parquet"), &images);
    let out = dir.path().join("out");
    // CutMix needs no --feature-shape: the image column gives it.
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .args(["augment", "--quiet", "--batch-size", "8", "--order", "sequential", "--workers", "2"])
        .args(["--cutmix-alpha", "1", "--normalize", "0.5/0.25", "--features", "image", "--data"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let part = out.join("part-00000.parquet");
    let file = std::fs::File::open(&part).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let field = reader.schema().field_with_name("image").unwrap().clone();
    assert!(
        matches!(field.data_type(), DataType::FixedSizeList(f, 24) if f.data_type() == &DataType::Float32),
        "{field:?}"
    );
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 40);
    // Normalize needs a feature shape: tabular data without one is refused before any work.
    let tabular = dir.path().join("tab.parquet");
    common::classification_file(&tabular, 0, 50, 3, 2, 50);
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .args(["augment", "--quiet", "--batch-size", "8", "--normalize", "0.5/0.25", "--data"])
        .arg(&tabular)
        .arg("--out")
        .arg(dir.path().join("out2"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("normalize") && err.contains("feature shape"), "{err}");
}
