//! `pixels = "uint8"`: the values of a `uint8` tensor column or of an image column kept as
//! `u8` end to end — read (direct path and arrow-rs alike), cropped and flipped, streamed and
//! written as `fixed_size_list<uint8>` or PNG — and the stages that compute in floats
//! refusing it when the pipeline is built, naming themselves and the option.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt8Type;
use arrow_array::{ArrayRef, BinaryArray, FixedSizeListArray, Int64Array, StringArray, StructArray, UInt8Array};
use arrow_schema::{DataType, Field};
use ndarray::Array2;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use shardmix::{
    read_verified_stream, Batch, ErrorKind, Features, HorizontalFlip, NullPolicy, PipelineConfig, Pixels,
    RandomResizedCrop, ShardSet, Stage, Target,
};

/// Image shape of the tensor fixtures: 4 × 5 × 3.
const SHAPE: [usize; 3] = [4, 5, 3];
const WIDTH: usize = 60;

/// The value of element `j` of row `r`: every byte value occurs.
fn value(r: usize, j: usize) -> u8 {
    ((r * 37 + j * 11 + (r * j) % 7) % 256) as u8
}

/// A file of `rows` rows of `fixed_size_list<uint8>[60]` `pixels` (row `null_row`, if any,
/// null) and `label` (`r mod 3`), row groups of 50, pages of 64 rows.
fn tensor_file(path: &Path, rows: usize, props: WriterProperties, null_row: Option<usize>) -> PathBuf {
    let values: Vec<u8> = (0..rows).flat_map(|r| (0..WIDTH).map(move |j| value(r, j))).collect();
    let item = Arc::new(Field::new("item", DataType::UInt8, false));
    let nulls = null_row.map(|n| (0..rows).map(|r| r != n).collect::<Vec<bool>>().into());
    let list = FixedSizeListArray::new(item, WIDTH as i32, Arc::new(UInt8Array::from(values)), nulls);
    let labels: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| i % 3)));
    common::write_columns(path, vec![("pixels", Arc::new(list)), ("label", labels)], props);
    path.to_path_buf()
}

fn plain_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(50))
        .set_data_page_row_count_limit(64)
        .set_write_batch_size(64)
        .build()
}

/// A PNG of `h × w × c` whose sample (y, x, k) is `(seed + 3y + 5x + 7k) mod 256`.
fn png(h: u32, w: u32, c: u32, seed: u8) -> Vec<u8> {
    let data: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| (0..c).map(move |k| seed.wrapping_add((3 * y + 5 * x + 7 * k) as u8))))
        .collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(if c == 1 { png::ColorType::Grayscale } else { png::ColorType::Rgb });
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    out
}

/// An HF-layout file of `rows` 6 × 7 RGB PNGs, row `i` with seed `11 i`, labels `i mod 3`.
fn png_file(path: &Path, rows: usize) -> PathBuf {
    let images: Vec<Vec<u8>> = (0..rows).map(|i| png(6, 7, 3, (i * 11) as u8)).collect();
    let bytes: ArrayRef = Arc::new(BinaryArray::from_iter_values(images.iter()));
    let paths: ArrayRef = Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("{i}.png"))));
    let fields = vec![Field::new("bytes", DataType::Binary, true), Field::new("path", DataType::Utf8, true)];
    let image = StructArray::new(fields.into(), vec![bytes, paths], None);
    let labels: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| i % 3)));
    common::write_columns(
        path,
        vec![("image", Arc::new(image)), ("label", labels)],
        common::props(Compression::SNAPPY, 16),
    );
    path.to_path_buf()
}

fn open(path: &Path, features: Features, pixels: Pixels) -> ShardSet {
    ShardSet::builder().features(features).target(Target::class("label", 3)).pixels(pixels).open(path).unwrap()
}

/// The widened batch's features as bytes (every value a whole number in 0..=255).
fn as_bytes(features: &Array2<f32>) -> Array2<u8> {
    features.mapv(|v| {
        assert!(v == v.trunc() && (0.0..=255.0).contains(&v), "{v} is no byte");
        v as u8
    })
}

#[test]
fn uint8_tensor_columns_keep_their_bytes_on_both_paths() {
    let dir = common::tempdir();
    let n = 230;
    for (name, props) in [("dict", common::props(Compression::SNAPPY, 50)), ("plain", plain_props())] {
        let path = tensor_file(&dir.path().join(format!("{name}.parquet")), n, props, None);
        let wide = open(&path, Features::list("pixels"), Pixels::F32).read_rows(0..n as u64).unwrap();
        let set = open(&path, Features::list("pixels"), Pixels::U8);
        assert_eq!(set.spec().pixels, Pixels::U8);
        let kept = set.read_rows(0..n as u64).unwrap();
        let pixels = kept.pixels.clone().expect("uint8 pixels in the batch");
        assert_eq!(pixels.dim(), (n, WIDTH));
        assert_eq!(kept.features.dim(), (n, 0), "no float features beside the pixels");
        assert_eq!(pixels, as_bytes(&wide.features), "{name}: the bytes, as the widened floats say");
        assert_eq!(pixels[[7, 9]], value(7, 9));
        assert_eq!(kept.targets, wide.targets);
        // arrow-rs's path, narrowed, gives the same block; so do rows across blocks, by id.
        let arrow = set.clone().without_direct_path().read_rows(0..n as u64).unwrap();
        assert_eq!(arrow.pixels, kept.pixels, "{name}: direct and arrow-rs paths agree");
        let reader = shardmix::Reader::new(Arc::new(set), 1 << 20);
        let some = reader.read(0, &shardmix::Rows::Ids(vec![229, 3, 120, 3])).unwrap();
        let p = some.pixels.unwrap();
        for (i, r) in [229usize, 3, 120, 3].into_iter().enumerate() {
            assert_eq!(p.row(i).to_vec(), (0..WIDTH).map(|j| value(r, j)).collect::<Vec<_>>());
        }
    }
}

#[test]
fn a_null_list_is_reported_as_for_floats_and_the_fill_must_be_a_byte() {
    let dir = common::tempdir();
    let path = tensor_file(&dir.path().join("null.parquet"), 120, common::props(Compression::SNAPPY, 50), Some(61));
    // The block with the null goes to arrow-rs, which reports it (as for float pixels).
    let set = ShardSet::builder().features(Features::list("pixels")).pixels(Pixels::U8).open(&path).unwrap();
    let err = set.read_rows(0..120).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BadValue { row: 61, .. }), "{err}");
    assert_eq!(set.read_rows(0..50).unwrap().pixels.unwrap()[[49, 3]], value(49, 3), "other blocks read");
    // A fill value no byte holds is refused, naming the option.
    let err = ShardSet::builder()
        .features(Features::list("pixels"))
        .null_policy(NullPolicy::Fill(0.5))
        .pixels(Pixels::U8)
        .open(&path)
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }) && err.to_string().contains("pixels"), "{err}");
}

#[test]
fn uint8_is_refused_for_features_that_are_no_pixels() {
    let dir = common::tempdir();
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let err = ShardSet::builder().pixels(Pixels::U8).open(&digits).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err}");
    assert!(err.to_string().contains("pixels") && err.to_string().contains("scalar"), "{err}");
    // A float tensor column.
    let path = dir.path().join("f32.parquet");
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let list = FixedSizeListArray::new(item, 2, Arc::new(arrow_array::Float32Array::from(vec![0.5f32; 8])), None);
    common::write_columns(&path, vec![("x", Arc::new(list))], common::props(Compression::SNAPPY, 8));
    let err = ShardSet::builder().features(Features::list("x")).pixels(Pixels::U8).open(&path).unwrap_err();
    assert!(err.to_string().contains("'x'") && err.to_string().contains("Float32"), "{err}");
    assert!(Pixels::parse("int8").unwrap_err().to_string().contains("pixels"));
}

#[test]
fn png_columns_decode_to_the_same_bytes() {
    let dir = common::tempdir();
    let path = png_file(&dir.path().join("png.parquet"), 40);
    let wide = open(&path, Features::image("image"), Pixels::F32).read_rows(0..40).unwrap();
    let set = open(&path, Features::image("image"), Pixels::U8);
    assert_eq!(set.spec().feature_shape, Some(vec![6, 7, 3]));
    let p = set.read_rows(0..40).unwrap().pixels.unwrap();
    assert_eq!(p, wide.features.mapv(|v| (v * 255.0).round() as u8));
    // Sample (y, x, k) of row i: 11 i + 3y + 5x + 7k.
    assert_eq!(p[[3, (2 * 7 + 4) * 3 + 1]], (33 + 6 + 20 + 7) as u8);
}

/// A pipeline over `data` with `cfg`'s settings and `workers`.
fn run(cfg: &PipelineConfig, workers: usize) -> Vec<Batch> {
    let cfg = PipelineConfig { workers: Some(workers), ..cfg.clone() };
    cfg.settings(None).unwrap().pipeline().unwrap().collect::<Result<_, _>>().unwrap()
}

fn config(data: &Path, extra: PipelineConfig) -> PipelineConfig {
    PipelineConfig {
        data: Some(vec![data.to_path_buf()]),
        batch_size: Some(16),
        order: Some("shuffled".into()),
        seed: Some(3),
        pixels: Some("uint8".into()),
        ..extra
    }
}

#[test]
fn float_stages_refuse_uint8_at_build_naming_stage_and_option() {
    let dir = common::tempdir();
    let path = png_file(&dir.path().join("png.parquet"), 40);
    let cases: [(PipelineConfig, &str); 4] = [
        (PipelineConfig { mixup_alpha: Some(0.2), ..Default::default() }, "mixup"),
        (PipelineConfig { mixup_alpha: Some(0.0), cutmix_alpha: Some(1.0), ..Default::default() }, "cutmix"),
        (PipelineConfig { normalize: Some("0.5/0.25".into()), ..Default::default() }, "normalize"),
        (
            PipelineConfig { random_resized_crop: Some("4".into()), mixup_alpha: Some(1.0), ..Default::default() },
            "mixup",
        ),
    ];
    for (extra, stage) in cases {
        let err = config(&path, extra).settings(None).unwrap().pipeline().err().expect("refused at build");
        assert!(matches!(err.kind(), ErrorKind::StageCheck { .. }), "{stage}: {err:?}");
        let text = err.chain();
        assert!(text.contains("pixels") && text.contains(&format!("`{stage}`")), "{stage}: {text}");
    }
    // Mixup is off by default with uint8; the crop and the flip run.
    let batches = run(
        &config(
            &path,
            PipelineConfig { random_resized_crop: Some("4x3".into()), hflip: Some(0.5), ..Default::default() },
        ),
        0,
    );
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0].pixels.as_ref().map(|p| p.dim()), Some((16, 4 * 3 * 3)));
}

#[test]
fn uint8_pipelines_are_deterministic_for_any_worker_count() {
    let dir = common::tempdir();
    let path = png_file(&dir.path().join("png.parquet"), 70);
    let cfg =
        config(&path, PipelineConfig { random_resized_crop: Some("5".into()), hflip: Some(0.5), ..Default::default() });
    let a = run(&cfg, 0);
    assert_eq!(a, run(&cfg, 2));
    assert_eq!(a, run(&cfg, 3));
    assert!(a.iter().all(|b| b.pixels.is_some() && b.features.ncols() == 0));
}

#[test]
fn crop_and_flip_of_pixels_follow_the_float_stages() {
    let n = 12;
    let x = Array2::from_shape_fn((n, WIDTH), |(r, j)| value(r, j));
    let floats = x.mapv(|v| v as f32 / 255.0);
    let rng = || shardmix::rng::for_stage(7, 1, 2);
    // The flip moves the same pixels.
    let flip = HorizontalFlip::new(0.5).feature_shape(&SHAPE);
    let a = flip.apply(Batch::from_pixels(2, x.clone(), None, (0..n as u64).collect()).unwrap(), &mut rng()).unwrap();
    let b = flip.apply(Batch::new(2, floats.clone(), None, (0..n as u64).collect()).unwrap(), &mut rng()).unwrap();
    assert_eq!(a.pixels.unwrap(), b.features.mapv(|v| (v * 255.0).round() as u8));
    // The crop draws the same boxes; Pillow's 8-bit resize rounds each of its two passes,
    // so a pixel is within one level of the float resize's value.
    let crop = RandomResizedCrop::new(3, 2).scale(0.3, 1.0).feature_shape(&SHAPE);
    let a = crop.apply(Batch::from_pixels(2, x, None, (0..n as u64).collect()).unwrap(), &mut rng()).unwrap();
    let b = crop.apply(Batch::new(2, floats, None, (0..n as u64).collect()).unwrap(), &mut rng()).unwrap();
    let (p, f) = (a.pixels.unwrap(), b.features);
    assert_eq!(p.dim(), (n, 3 * 2 * 3));
    let worst = p.iter().zip(f.iter()).map(|(&u, &v)| (f32::from(u) - v * 255.0).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1.0 + 1e-3, "largest difference {worst} levels");
}

#[test]
fn pillow_resizes_8_bit_crops_as_the_crop_stage_does() {
    // The 8-bit resize against Pillow's own (skipped without the test venv).
    let Some(py) = common::venv_python() else { return };
    let (h, w, c) = (9usize, 11usize, 3usize);
    let x = Array2::from_shape_fn((1, h * w * c), |(_, j)| ((j * 29 + j / 7) % 256) as u8);
    let crop = RandomResizedCrop::new(5, 4).scale(1.0, 1.0).ratio(w as f64 / h as f64, w as f64 / h as f64);
    let crop = crop.feature_shape(&[h, w, c]);
    let out = crop
        .apply(Batch::from_pixels(0, x.clone(), None, vec![0]).unwrap(), &mut shardmix::rng::for_stage(0, 0, 0))
        .unwrap();
    let script = format!(
        "import sys, numpy as np\nfrom PIL import Image\n\
         a = np.frombuffer(bytes.fromhex(sys.argv[1]), np.uint8).reshape({h}, {w}, {c})\n\
         print(np.asarray(Image.fromarray(a).resize((4, 5), Image.BILINEAR)).tobytes().hex())"
    );
    let hex: String = x.iter().map(|b| format!("{b:02x}")).collect();
    let o = Command::new(py).arg("-c").arg(script).arg(hex).output().unwrap();
    if !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("No module named 'PIL'") {
        return;
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let text = text.trim();
    let want: Vec<u8> = (0..text.len() / 2).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap()).collect();
    assert_eq!(
        out.pixels.unwrap().iter().copied().collect::<Vec<_>>(),
        want,
        "the whole image, resized as Pillow does"
    );
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shardmix")).args(args).output().unwrap()
}

#[test]
fn stream_sends_uint8_tensors_and_png_images() {
    let dir = common::tempdir();
    let path = png_file(&dir.path().join("png.parquet"), 32);
    let data = path.to_str().unwrap();
    let base =
        ["stream", "--data", data, "--batch-size", "8", "--order", "sequential", "--to", "-", "--pixels", "uint8"];
    let o = cli(&base);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (batches, trailer) = read_verified_stream(o.stdout.as_slice()).unwrap();
    assert_eq!(trailer.rows, 32);
    let want = open(&path, Features::image("image"), Pixels::U8).read_rows(0..32).unwrap().pixels.unwrap();
    let col = batches[1].column(0).as_fixed_size_list();
    assert_eq!(col.value_type(), DataType::UInt8);
    let got = col.values().as_primitive::<UInt8Type>().values();
    assert_eq!(&got[..], want.slice(ndarray::s![8..16, ..]).iter().copied().collect::<Vec<_>>().as_slice());
    // PNG: HF's Image struct, each file decoding to the row's pixels; the trailer verifies.
    let mut png_args = base.to_vec();
    png_args.extend(["--image-out", "png"]);
    let o = cli(&png_args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (batches, _) = read_verified_stream(o.stdout.as_slice()).unwrap();
    let images = batches[0].column(0).as_struct();
    let file = images.column(0).as_binary::<i32>().value(5);
    let mut reader = png::Decoder::new(std::io::Cursor::new(file)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    assert_eq!(buf, want.row(5).to_vec());
    // Float pixels go out as PNG too (quantised), and a shape PNG cannot hold is refused.
    let o =
        cli(&["stream", "--data", data, "--batch-size", "8", "--to", "-", "--image-out", "png", "--mixup-alpha", "0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cli(&["stream", "--data", data, "--to", "-", "--image-out", "gif"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("image_out"));
}

#[test]
fn augment_writes_uint8_tensors() {
    let dir = common::tempdir();
    let path = tensor_file(&dir.path().join("t.parquet"), 100, common::props(Compression::SNAPPY, 50), None);
    let out = dir.path().join("out");
    let o = cli(&[
        "augment",
        "--data",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "25",
        "--order",
        "sequential",
        "--pixels",
        "uint8",
        "--feature-shape",
        "4x5x3",
        "--hflip",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let set = ShardSet::builder().features(Features::list("pixels")).pixels(Pixels::U8).open(&out).unwrap();
    let field = set.arrow_schema().field_with_name("pixels").unwrap().clone();
    assert_eq!(field.data_type(), &DataType::FixedSizeList(Arc::new(Field::new("item", DataType::UInt8, false)), 60));
    let p = set.read_rows(0..100).unwrap().pixels.unwrap();
    // Every row flipped: pixel (y, x, k) of the output is (y, 4 - x, k) of the input.
    let (y, x, k) = (2, 1, 2);
    assert_eq!(p[[10, (y * 5 + x) * 3 + k]], value(10, (y * 5 + (4 - x)) * 3 + k));
}
