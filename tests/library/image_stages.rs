//! The image stages as timm / torchvision users expect them: random resized crop and
//! horizontal flip per row before Mixup/CutMix, deterministic for any worker count; CutMix's
//! box in image coordinates with λ from the box's area; and `augment --image-out png`, whose
//! images read back (shardmix's decoder, pyarrow + Pillow, HF `datasets`) as the pixels the
//! pipeline produced, quantised to 8 bits.
//!
//! The checks against Pillow / torch / `datasets` run `tests/python/image_stages_check.py`
//! with the test venv (`SHARDMIX_PYTHON`, set by scripts/test.sh) and are skipped without it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Int64Array, StringArray, StructArray};
use arrow_schema::{DataType, Field};
use parquet::basic::Compression;
use shardmix::{Batch, Features, Mixup, Order, Pipeline, PipelineConfig, RandomResizedCrop, ShardSet, Stage, Target};

/// A PNG of `h × w × c` (c = 1 or 3) whose sample (y, x, k) is `(seed + 3y + 5x + 7k) mod 256`.
fn png(h: u32, w: u32, c: u32, seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(if c == 1 { png::ColorType::Grayscale } else { png::ColorType::Rgb });
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(&pixels(h, w, c, seed)).unwrap();
    writer.finish().unwrap();
    out
}

fn pixels(h: u32, w: u32, c: u32, seed: u8) -> Vec<u8> {
    (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| (0..c).map(move |k| seed.wrapping_add((3 * y + 5 * x + 7 * k) as u8))))
        .collect()
}

/// An HF-layout file of `rows` `h × w × c` PNGs, row `i` with seed `11 i` (so every row
/// differs from every other at every pixel), labels `i mod 3`, row groups of 16.
fn hf_file(path: &Path, rows: usize, h: u32, w: u32, c: u32) -> PathBuf {
    let images: Vec<Vec<u8>> = (0..rows).map(|i| png(h, w, c, (i * 11) as u8)).collect();
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

fn config(data: &Path) -> PipelineConfig {
    PipelineConfig {
        data: Some(vec![data.to_path_buf()]),
        batch_size: Some(10),
        order: Some("shuffled".into()),
        seed: Some(5),
        provenance: Some(true),
        ..Default::default()
    }
}

fn run(cfg: &PipelineConfig, workers: usize) -> Vec<Batch> {
    let cfg = PipelineConfig { workers: Some(workers), ..cfg.clone() };
    cfg.settings(None).unwrap().pipeline().unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn crop_flip_and_cutmix_are_identical_for_any_worker_count() {
    let dir = common::tempdir();
    let data = hf_file(&dir.path().join("rgb.parquet"), 60, 12, 10, 3);
    let cfg = PipelineConfig {
        random_resized_crop: Some("6x5".into()),
        hflip: Some(0.5),
        mixup_alpha: Some(0.4),
        cutmix_alpha: Some(1.0),
        normalize: Some("0.5,0.5,0.5/0.25,0.25,0.25".into()),
        ..config(&data)
    };
    let p = cfg.settings(None).unwrap().pipeline().unwrap();
    assert_eq!(p.spec().feature_shape, Some(vec![6, 5, 3]), "the stages after the crop see its shape");
    assert_eq!(p.spec().num_features(), 90);
    drop(p);
    let reference = run(&cfg, 0);
    assert_eq!(reference.iter().map(|b| b.rows()).sum::<usize>(), 60);
    assert!(reference.iter().all(|b| b.features.ncols() == 90));
    for workers in [1, 2, 3] {
        let other = run(&cfg, workers);
        assert_eq!(other.len(), reference.len());
        for (a, b) in reference.iter().zip(&other) {
            assert_eq!(a.features, b.features, "workers {workers}, step {}", a.step);
            assert_eq!(a.targets, b.targets);
            assert_eq!(a.provenance, b.provenance);
        }
    }
    // Another seed crops differently.
    let other_seed = run(&PipelineConfig { seed: Some(6), ..cfg.clone() }, 0);
    assert_ne!(other_seed[0].features, reference[0].features);
}

#[test]
fn crop_and_flip_run_per_row_before_mixup() {
    // Stage order: the crop (index 0) and flip (index 1) come first, so a pipeline of just
    // those two gives the rows Mixup then mixes: with CutMix's λ and partners from the
    // provenance, every output row is recomputable from them.
    let dir = common::tempdir();
    let data = hf_file(&dir.path().join("gray.parquet"), 40, 9, 9, 1);
    let base = PipelineConfig { random_resized_crop: Some("5".into()), hflip: Some(0.5), ..config(&data) };
    let unmixed = run(&PipelineConfig { mixup_alpha: Some(0.0), ..base.clone() }, 0);
    let mixed = run(&PipelineConfig { mixup_alpha: Some(0.5), ..base }, 0);
    let mut rows = 0;
    for (u, m) in unmixed.iter().zip(&mixed) {
        assert_eq!(u.provenance.row_a, m.provenance.row_a);
        for i in 0..u.rows() {
            let l = m.provenance.lambda[i].expect("every row mixed");
            let j = m.provenance.row_a.iter().position(|&r| Some(r) == m.provenance.row_b[i]).unwrap();
            for k in 0..25 {
                let want = u.features[[i, k]] * l + u.features[[j, k]] * (1.0 - l);
                assert_eq!(m.features[[i, k]], want, "step {} row {i} value {k}", u.step);
            }
        }
        rows += u.rows();
    }
    assert_eq!(rows, 40);
}

#[test]
fn cutmix_on_images_pastes_a_box_in_image_coordinates_with_lambda_from_its_area() {
    // timm's CutMix: one box per row (elem mode) in H × W, every channel of a pixel inside it
    // from the partner, λ = 1 − box area / (H · W) (correct_lam). Rows differ from each
    // other at every sample, so the pasted pixels are exactly those equal to the partner's.
    let dir = common::tempdir();
    let (h, w, c) = (8usize, 6usize, 3usize);
    let data = hf_file(&dir.path().join("rgb.parquet"), 48, h as u32, w as u32, c as u32);
    let set = ShardSet::open(&data).unwrap().target(Target::class_auto("label")).unwrap();
    let p = Pipeline::builder()
        .source(set.clone())
        .order(Order::sequential(12))
        .stage(Mixup::new(0.0).cutmix(1.0).feature_shape(&[h, w, c]))
        .workers(0)
        .build()
        .unwrap();
    let mut boxes_seen = 0;
    for b in p {
        let b = b.unwrap();
        let plain = set.read_rows(b.provenance.row_a[0]..b.provenance.row_a[0] + b.rows() as u64).unwrap();
        for i in 0..b.rows() {
            let j = (b.provenance.row_b[i].unwrap() - b.provenance.row_a[0]) as usize;
            let l = b.provenance.lambda[i].unwrap();
            if i == j {
                continue;
            }
            let mut inside = Vec::new();
            for y in 0..h {
                for x in 0..w {
                    let from: Vec<bool> = (0..c)
                        .map(|k| {
                            let v = b.features[[i, (y * w + x) * c + k]];
                            if v == plain.features[[j, (y * w + x) * c + k]] {
                                true
                            } else {
                                assert_eq!(v, plain.features[[i, (y * w + x) * c + k]], "row {i} ({y}, {x}, {k})");
                                false
                            }
                        })
                        .collect();
                    assert!(from.iter().all(|&f| f == from[0]), "row {i}: pixel ({y}, {x}) split across channels");
                    if from[0] {
                        inside.push((y, x));
                    }
                }
            }
            if let (Some(y0), Some(y1)) = (inside.iter().map(|p| p.0).min(), inside.iter().map(|p| p.0).max()) {
                let x0 = inside.iter().map(|p| p.1).min().unwrap();
                let x1 = inside.iter().map(|p| p.1).max().unwrap();
                assert_eq!(inside.len(), (y1 - y0 + 1) * (x1 - x0 + 1), "row {i}: the pasted pixels are not a box");
                boxes_seen += 1;
            }
            let want = 1.0 - inside.len() as f32 / (h * w) as f32;
            assert!((l - want).abs() < 1e-6, "row {i}: λ {l}, box area {}", inside.len());
        }
    }
    assert!(boxes_seen > 20, "{boxes_seen} boxes");
}

/// The test venv's Python running `image_stages_check.py` with `args`.
fn python_check(args: &[&std::ffi::OsStr], hf_home: &Path) -> Option<Output> {
    let py = common::venv_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/image_stages_check.py");
    let o = Command::new(py)
        .arg(script)
        .args(args)
        .env("HF_HOME", hf_home)
        .env("HF_DATASETS_OFFLINE", "1")
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run image_stages_check.py");
    assert!(
        o.status.success(),
        "image_stages_check.py failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    Some(o)
}

#[test]
fn resize_equals_pillow_bilinear_when_shrinking_and_enlarging() {
    // scale (1, 1) and the image's own ratio: the crop is the whole image, so the stage is
    // the resize alone, compared with Pillow's (mode "F", BILINEAR) — and torch's
    // interpolate(antialias=True), torchvision's tensor path, when torch is installed.
    let dir = common::tempdir();
    let (h, w) = (28usize, 21usize);
    let x: Vec<f32> = (0..h * w).map(|k| (((k * 37) % 101) as f32 / 100.0).powi(2)).collect();
    let input = dir.path().join("in.f32");
    std::fs::write(&input, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    for (oh, ow) in [(20usize, 15usize), (9, 30), (40, 33), (28, 21)] {
        let crop = RandomResizedCrop::new(oh, ow)
            .scale(1.0, 1.0)
            .ratio(w as f64 / h as f64, w as f64 / h as f64)
            .feature_shape(&[h, w, 1]);
        let batch =
            Batch::new(0, ndarray::Array2::from_shape_vec((1, h * w), x.clone()).unwrap(), None, vec![0]).unwrap();
        let got = crop.apply(batch, &mut shardmix::rng::for_stage(0, 0, 0)).unwrap();
        let expected = dir.path().join(format!("out-{oh}x{ow}.f32"));
        let args: Vec<std::ffi::OsString> = vec![
            "resize".into(),
            input.clone().into(),
            h.to_string().into(),
            w.to_string().into(),
            oh.to_string().into(),
            ow.to_string().into(),
            expected.clone().into(),
        ];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let Some(_) = python_check(&args, dir.path()) else { return };
        let want: Vec<f32> = std::fs::read(&expected)
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(want.len(), oh * ow);
        let diff = got.features.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{oh}x{ow}: max difference from Pillow {diff}");
    }
}

fn shardmix(args: &[&str], data: &Path, out: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shardmix"));
    c.args(args).arg("--quiet").arg("--data").arg(data);
    if let Some(out) = out {
        c.arg("--out").arg(out);
    }
    c.output().expect("run shardmix")
}

#[test]
fn bad_image_stage_values_are_named_before_any_work() {
    let dir = common::tempdir();
    let data = hf_file(&dir.path().join("gray.parquet"), 20, 6, 6, 1);
    let tabular = dir.path().join("tab.parquet");
    common::classification_file(&tabular, 0, 20, 3, 2, 20);
    let cases: &[(&[&str], &Path, &str)] = &[
        (&["--hflip", "1.5"], &data, "hflip"),
        (&["--hflip", "-0.1"], &data, "hflip"),
        (&["--random-resized-crop", "0"], &data, "random_resized_crop"),
        (&["--random-resized-crop", "4x"], &data, "random_resized_crop"),
        (&["--random-resized-crop", "4", "--crop-scale", "0.5,0.1"], &data, "crop_scale"),
        (&["--random-resized-crop", "4", "--crop-scale", "0,1"], &data, "crop_scale"),
        (&["--random-resized-crop", "4", "--crop-scale", "half"], &data, "crop_scale"),
        (&["--random-resized-crop", "4", "--crop-ratio", "4/3,3/4"], &data, "crop_ratio"),
        (&["--crop-scale", "0.5,1"], &data, "crop_scale"),
        (&["--random-resized-crop", "4"], &tabular, "random_resized_crop"),
        (&["--hflip"], &tabular, "hflip"),
        (&["--hflip", "--feature-shape", "2x2x1"], &tabular, "feature_shape"),
    ];
    for (i, (flags, data, name)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let mut args = vec!["augment", "--batch-size", "4"];
        args.extend_from_slice(flags);
        let o = shardmix(&args, data, Some(&out));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{flags:?} succeeded");
        assert!(err.contains(name), "{flags:?}: the error does not name {name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.join("part-00000.parquet").exists(), "{flags:?} wrote output");
    }
    // `--hflip` alone is p = 0.5; the config file takes the same keys.
    let toml = dir.path().join("p.toml");
    std::fs::write(
        &toml,
        "random_resized_crop = \"4x3\"\ncrop_scale = \"0.5,1\"\ncrop_ratio = \"3/4,4/3\"\nhflip = 0.5\n",
    )
    .unwrap();
    let cfg = PipelineConfig::from_file(&toml).unwrap();
    let s = PipelineConfig { data: Some(vec![data.clone()]), batch_size: Some(4), ..cfg }.settings(None).unwrap();
    assert_eq!(s.hflip, Some(0.5));
    let p = s.pipeline().unwrap();
    assert_eq!(p.spec().feature_shape, Some(vec![4, 3, 1]));
    let e = PipelineConfig::parse("hflip = 3.0\n", Path::new("p.toml")).unwrap().settings(Some(&data)).unwrap_err();
    assert!(e.to_string().contains("hflip"), "{e}");
}

#[test]
fn augment_png_output_reads_back_as_the_same_pixels() {
    let dir = common::tempdir();
    let (h, w, c) = (7usize, 5usize, 3usize);
    let data = hf_file(&dir.path().join("rgb.parquet"), 30, h as u32, w as u32, c as u32);
    let base = ["augment", "--batch-size", "10", "--order", "sequential", "--workers", "2", "--features", "image"];

    // No augmentation: the PNGs written hold the input's pixels exactly.
    let plain = dir.path().join("plain");
    let mut args = base.to_vec();
    args.extend(["--mixup-alpha", "0", "--image-out", "png"]);
    let o = shardmix(&args, &data, Some(&plain));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = ShardSet::builder().features(Features::image("image")).open(&plain).unwrap();
    assert_eq!(back.image().map(|i| (i.shape, i.hf_layout)), Some(([h, w, c], true)));
    let rows = back.read_rows(0..30).unwrap();
    for i in 0..30 {
        let want: Vec<f32> =
            pixels(h as u32, w as u32, c as u32, (i * 11) as u8).iter().map(|&p| p as f32 / 255.0).collect();
        assert_eq!(rows.features.row(i).to_vec(), want, "row {i}");
    }

    // Crop, flip and Mixup: the PNGs hold the tensor output quantised to 8 bits.
    let mut aug_args = base.to_vec();
    aug_args.extend(["--random-resized-crop", "6x4", "--hflip", "--mixup-alpha", "0.4"]);
    let tensors = dir.path().join("tensors");
    let o = shardmix(&aug_args, &data, Some(&tensors));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pngs = dir.path().join("pngs");
    let mut png_args = aug_args.clone();
    png_args.extend(["--image-out", "png"]);
    let o = shardmix(&png_args, &data, Some(&pngs));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = ShardSet::builder().features(Features::list("image")).open(&tensors).unwrap().read_rows(0..30).unwrap();
    let p = ShardSet::builder().features(Features::image("image")).open(&pngs).unwrap().read_rows(0..30).unwrap();
    assert_eq!(t.features.dim(), (30, 6 * 4 * c));
    let quantised: Vec<u8> = t.features.iter().map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect();
    let decoded: Vec<u8> = p.features.iter().map(|&v| (v * 255.0).round() as u8).collect();
    assert_eq!(decoded, quantised);
    assert!(t.features.iter().any(|&v| (v * 255.0).fract().abs() > 1e-3), "Mixup made non-integer levels");

    // A rerun with the other output form is another run's output: refused without --overwrite.
    let o = shardmix(&aug_args, &data, Some(&pngs));
    assert!(!o.status.success(), "tensor output over PNG output was accepted");
    // PNG output needs an image shape: tabular data is refused, naming the option.
    let tabular = dir.path().join("tab.parquet");
    common::classification_file(&tabular, 0, 20, 3, 2, 20);
    let o = shardmix(&["augment", "--batch-size", "4", "--image-out", "png"], &tabular, Some(&dir.path().join("t")));
    assert!(String::from_utf8_lossy(&o.stderr).contains("image_out"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = shardmix(&["augment", "--batch-size", "4", "--image-out", "jpeg"], &data, Some(&dir.path().join("j")));
    assert!(String::from_utf8_lossy(&o.stderr).contains("image_out"), "{}", String::from_utf8_lossy(&o.stderr));

    // pyarrow + Pillow and HF datasets read the same pixels.
    let expected = dir.path().join("pixels.u8");
    std::fs::write(&expected, &quantised).unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        "png-out".into(),
        pngs.clone().into(),
        expected.into(),
        "30".into(),
        "6".into(),
        "4".into(),
        c.to_string().into(),
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    python_check(&args, dir.path());
}
