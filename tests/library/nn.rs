//! Integration tests of the generative models: save/load round trips, rejection of files
//! that do not fit, a conditional VAE whose samples a classifier recognises, and GAN
//! determinism.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array2, Axis};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use shardmix::nn::{
    load_generator, Classifier, ClassifierConfig, DataScale, Gan, GanConfig, GanSampler, Vae, VaeConfig, VaeSampler,
};
use shardmix::{rng, Batch, ErrorKind, Generator, Holdout, Origin};

/// `classes × per_class` rows of `features` values in [0, 1]: a binary prototype per class
/// (values 0.15 / 0.85) plus Gaussian noise (σ 0.08), clipped. Returns (x, labels).
fn prototypes(classes: usize, per_class: usize, features: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut r = rng::derive(seed, 1, 0);
    let protos: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..features).map(|_| if rng::below(&mut r, 2) == 1 { 0.85 } else { 0.15 }).collect())
        .collect();
    let n = classes * per_class;
    let mut noise = vec![0.0f32; n * features];
    shardmix::nn::standard_normal(&mut r, &mut noise);
    // Interleave classes so every contiguous slice holds all of them.
    let labels: Vec<usize> = (0..n).map(|i| i % classes).collect();
    let x = Array2::from_shape_fn((n, features), |(i, j)| {
        (protos[labels[i]][j] + 0.08 * noise[i * features + j]).clamp(0.0, 1.0)
    });
    (x, labels)
}

fn one_hot(labels: &[usize], classes: usize) -> Array2<f32> {
    Array2::from_shape_fn((labels.len(), classes), |(i, c)| if labels[i] == c { 1.0 } else { 0.0 })
}

/// Batch `step` of `size` rows, taken cyclically from a fixed shuffle of the data.
fn batch_of(x: &Array2<f32>, y: &Array2<f32>, order: &[usize], step: u64, size: usize) -> Batch {
    let idx: Vec<usize> = (0..size).map(|k| order[(step as usize * size + k) % order.len()]).collect();
    Batch::new(step, x.select(Axis(0), &idx), Some(y.select(Axis(0), &idx)), idx.iter().map(|&i| i as u64).collect())
        .unwrap()
}

fn small_cvae(scale: DataScale) -> Vae {
    let config = VaeConfig {
        num_classes: Some(3),
        hidden: vec![12, 8],
        latent_dim: 4,
        scale,
        feature_names: Some((0..6).map(|i| format!("f{i}")).collect()),
        ..VaeConfig::new(6)
    };
    let mut vae = Vae::new(config, 9).unwrap();
    let (x, labels) = prototypes(3, 20, 6, 1);
    let x = if scale == DataScale::Real { x.mapv(|v| 3.0 * v - 1.0) } else { x };
    let y = one_hot(&labels, 3);
    let order: Vec<usize> = (0..x.nrows()).collect();
    for step in 0..20 {
        vae.train_step(&batch_of(&x, &y, &order, step, 16)).unwrap();
    }
    vae
}

fn fixed_latents(rows: usize, latent: usize) -> Array2<f32> {
    let mut z = vec![0.0f32; rows * latent];
    shardmix::nn::standard_normal(&mut rng::derive(5, 5, 5), &mut z);
    Array2::from_shape_vec((rows, latent), z).unwrap()
}

#[test]
fn vae_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for scale in [DataScale::Unit, DataScale::Real] {
        let vae = small_cvae(scale);
        let path = dir.path().join(format!("vae-{scale:?}.safetensors"));
        vae.save(&path).unwrap();
        let loaded = Vae::load(&path).unwrap();
        assert_eq!(loaded.decoder().layers(), vae.decoder().layers());
        assert_eq!(loaded.encoder().layers(), vae.encoder().layers());
        assert_eq!(loaded.standardization(), vae.standardization());
        let z = fixed_latents(9, 4);
        let classes = [0, 1, 2, 0, 1, 2, 2, 1, 0];
        let a = vae.sampler().decode(z.view(), Some(&classes)).unwrap();
        let b = VaeSampler::load(&path).unwrap().decode(z.view(), Some(&classes)).unwrap();
        assert_eq!(a, b, "{scale:?}");
        if scale == DataScale::Real {
            // Outputs are in the data's scale (roughly [-1, 2]), not standardised.
            assert!(a.iter().any(|&v| v > 1.2) && a.iter().any(|&v| v < -0.2), "{a:?}");
        }
        // Same generator draws through the trait object.
        let g = load_generator(&path).unwrap();
        let info = g.info();
        assert_eq!((info.origin, info.num_features, info.num_classes), (Origin::Vae, 6, Some(3)));
        assert_eq!(info.path, path);
        assert_eq!(info.feature_names.as_ref().unwrap()[5], "f5");
        let r1 = g.generate(Some(&classes), 9, &mut rng::derive(1, 2, 3)).unwrap();
        let r2 = vae.sampler().generate(Some(&classes), 9, &mut rng::derive(1, 2, 3)).unwrap();
        assert_eq!(r1, r2);
    }
}

#[test]
fn gan_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut gan = Gan::new(
        GanConfig {
            num_classes: Some(2),
            generator_hidden: vec![10],
            discriminator_hidden: vec![7],
            ..GanConfig::new(5)
        },
        4,
    )
    .unwrap();
    let (x, labels) = prototypes(2, 16, 5, 3);
    let y = one_hot(&labels, 2);
    let order: Vec<usize> = (0..x.nrows()).collect();
    for step in 0..5 {
        gan.train_step(&batch_of(&x, &y, &order, step, 8)).unwrap();
    }
    let path = dir.path().join("gan.safetensors");
    gan.save(&path).unwrap();
    let loaded = Gan::load(&path).unwrap();
    assert_eq!(loaded.generator().layers(), gan.generator().layers());
    assert_eq!(loaded.discriminator().layers(), gan.discriminator().layers());
    let z = fixed_latents(4, 16);
    let a = gan.sampler().decode(z.view(), Some(&[0, 1, 1, 0])).unwrap();
    let b = GanSampler::load(&path).unwrap().decode(z.view(), Some(&[0, 1, 1, 0])).unwrap();
    assert_eq!(a, b);
    assert_eq!(load_generator(&path).unwrap().info().origin, Origin::Gan);
    // A GAN file is not a VAE.
    let err = VaeSampler::load(&path).err().unwrap();
    assert!(err.to_string().contains("not a vae"), "{err}");
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

/// Rewrite a safetensors file, letting `edit` change its tensors and metadata.
fn rewrite(
    src: &Path,
    dst: &Path,
    edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>, &mut HashMap<String, String>),
) {
    let bytes = std::fs::read(src).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = meta.metadata().clone().unwrap();
    let mut tensors: Vec<_> =
        st.tensors().into_iter().map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec())).collect();
    edit(&mut tensors, &mut metadata);
    let views: Vec<_> =
        tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    std::fs::write(dst, safetensors::serialize(views, Some(metadata)).unwrap()).unwrap();
}

fn load_error(path: &Path) -> String {
    let err = VaeSampler::load(path).expect_err("loading must fail");
    assert!(matches!(err.kind(), ErrorKind::Model { .. } | ErrorKind::Io { .. }), "{err:?}");
    err.to_string()
}

#[test]
fn bad_files_name_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    small_cvae(DataScale::Unit).save(&good).unwrap();
    let bad = dir.path().join("bad.safetensors");

    // Wrong shape.
    rewrite(&good, &bad, |t, _| {
        let e = t.iter_mut().find(|e| e.0 == "decoder.2.weight").unwrap();
        e.2 = vec![e.2[1], e.2[0]];
    });
    let msg = load_error(&bad);
    assert!(msg.contains("'decoder.2.weight'") && msg.contains("shape"), "{msg}");

    // Missing tensor.
    rewrite(&good, &bad, |t, _| t.retain(|e| e.0 != "fc_mu.bias"));
    let msg = load_error(&bad);
    assert!(msg.contains("'fc_mu.bias'") && msg.contains("missing"), "{msg}");

    // Wrong dtype.
    rewrite(&good, &bad, |t, _| {
        let e = t.iter_mut().find(|e| e.0 == "encoder.0.bias").unwrap();
        e.1 = Dtype::I32;
    });
    let msg = load_error(&bad);
    assert!(msg.contains("'encoder.0.bias'") && msg.contains("dtype"), "{msg}");

    // Unexpected extra tensor.
    rewrite(&good, &bad, |t, _| t.push(("decoder.6.weight".into(), Dtype::F32, vec![1], vec![0; 4])));
    let msg = load_error(&bad);
    assert!(msg.contains("'decoder.6.weight'") && msg.contains("unexpected"), "{msg}");

    // Metadata that contradicts itself: a latent size its heads do not produce.
    rewrite(&good, &bad, |_, m| {
        let arch = m.get_mut("shardmix.architecture").unwrap();
        *arch = arch.replace("\"latent_dim\":4", "\"latent_dim\":5");
    });
    let msg = load_error(&bad);
    assert!(msg.contains("shardmix.architecture") && msg.contains("'fc_mu' maps 8 → 4, expected 8 → 5"), "{msg}");
    // Metadata that contradicts the tensors: a wider decoder hidden layer than stored.
    rewrite(&good, &bad, |_, m| {
        let arch = m.get_mut("shardmix.architecture").unwrap();
        *arch = arch.replace("\"sizes\":[7,8,12,6]", "\"sizes\":[7,9,12,6]");
    });
    let msg = load_error(&bad);
    assert!(msg.contains("'decoder.0.weight' has shape [8, 7], expected [9, 7]"), "{msg}");

    // Metadata that is not an architecture, or is absent.
    rewrite(&good, &bad, |_, m| {
        m.insert("shardmix.architecture".into(), "{not json".into());
    });
    assert!(load_error(&bad).contains("not a valid architecture"));
    rewrite(&good, &bad, |_, m| {
        m.remove("shardmix.architecture");
    });
    assert!(load_error(&bad).contains("'shardmix.architecture' is missing"));
    rewrite(&good, &bad, |_, m| {
        m.insert("shardmix.kind".into(), "gan".into());
    });
    assert!(load_error(&bad).contains("shardmix.kind"));

    // Non-finite weights.
    rewrite(&good, &bad, |t, _| {
        let e = t.iter_mut().find(|e| e.0 == "decoder.0.weight").unwrap();
        e.3[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    assert!(load_error(&bad).contains("non-finite"));

    // Truncated and garbage files: errors, never panics.
    let bytes = std::fs::read(&good).unwrap();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        assert!(load_error(&bad).contains("safetensors"), "cut at {cut}");
    }
    std::fs::write(&bad, b"\xff\xff\xff\xff\xff\xff\xff\xff garbage").unwrap();
    load_error(&bad);
    // Missing file: an I/O error naming the path.
    let err = VaeSampler::load(dir.path().join("nope.safetensors")).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::Io { .. }) && err.to_string().contains("nope.safetensors"));
}

#[test]
fn generate_checks_classes() {
    let s = small_cvae(DataScale::Unit).sampler();
    let mut r = rng::derive(0, 0, 0);
    assert!(matches!(s.generate(Some(&[0, 3]), 2, &mut r).unwrap_err().kind(), ErrorKind::Shape { .. }));
    assert!(matches!(s.generate(Some(&[0, 1]), 3, &mut r).unwrap_err().kind(), ErrorKind::Shape { .. }));
    assert!(matches!(s.generate(None, 3, &mut r).unwrap_err().kind(), ErrorKind::Shape { .. }));
    assert_eq!(s.generate(Some(&[]), 0, &mut r).unwrap().dim(), (0, 6));
    let g = Gan::new(GanConfig::new(3), 0).unwrap().sampler();
    // An unconditional GAN given classes, and a latent of the wrong width.
    let err = g.generate(Some(&[0]), 1, &mut r).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Shape { context, .. } if context.contains("classes")), "{err:?}");
    let err = g.decode(Array2::zeros((2, 5)).view(), None).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Shape { context, .. } if context.contains("latent")), "{err:?}");
}

#[test]
fn conditional_vae_samples_are_recognised_as_their_class() {
    const CLASSES: usize = 10;
    const FEATURES: usize = 64;
    let (x, labels) = prototypes(CLASSES, 60, FEATURES, 42);
    let y = one_hot(&labels, CLASSES);
    let mut order: Vec<usize> = (0..x.nrows()).collect();
    rng::shuffle(&mut rng::derive(42, 2, 0), &mut order);

    // A classifier trained on the real data.
    let mut clf = Classifier::new(
        ClassifierConfig {
            hidden: None,
            adam: shardmix::nn::AdamConfig { lr: 1e-2, ..Default::default() },
            ..ClassifierConfig::new(FEATURES, CLASSES)
        },
        1,
    )
    .unwrap();
    for step in 0..150 {
        clf.train_step(&batch_of(&x, &y, &order, step, 100)).unwrap();
    }
    let real_acc = clf.accuracy(&x, &labels).unwrap();
    assert!(real_acc > 0.99, "classifier on real data: {real_acc}");

    // The CVAE at the bench's default sizes (64 → 128 → 16 and back).
    let mut vae = Vae::new(VaeConfig { num_classes: Some(CLASSES), ..VaeConfig::new(FEATURES) }, 7).unwrap();
    let mut first = None;
    let mut last = 0.0;
    for step in 0..1200 {
        let l = vae.train_step(&batch_of(&x, &y, &order, step, 100)).unwrap();
        first.get_or_insert(l.total);
        last = l.total;
    }
    assert!(last < 0.7 * first.unwrap(), "loss {first:?} -> {last}");

    let wanted: Vec<usize> = (0..500).map(|i| i % CLASSES).collect();
    let samples = vae.sampler().generate(Some(&wanted), wanted.len(), &mut rng::derive(3, 3, 3)).unwrap();
    assert!(samples.iter().all(|v| (0.0..=1.0).contains(v)));
    let acc = clf.accuracy(&samples, &wanted).unwrap();
    println!("CVAE: loss {first:?} -> {last}; samples classified as requested: {acc}");
    assert!(acc >= 0.8, "generated samples classified as requested: {acc}");
    // Samples vary within a class (the model does not just return the prototype).
    let class0 = samples.select(Axis(0), &(0..50).map(|k| k * CLASSES).collect::<Vec<_>>());
    let spread = class0.std_axis(Axis(0), 0.0).mean().unwrap();
    assert!(spread > 0.01, "within-class spread {spread}");
}

fn gan_weights(seed: u64, steps: u64) -> (Vec<shardmix::nn::Linear>, Vec<f32>) {
    let (x, labels) = prototypes(4, 32, 16, 8);
    let y = one_hot(&labels, 4);
    let order: Vec<usize> = (0..x.nrows()).collect();
    let mut gan = Gan::new(GanConfig { num_classes: Some(4), ..GanConfig::new(16) }, seed).unwrap();
    let mut losses = Vec::new();
    for step in 0..steps {
        let l = gan.train_step(&batch_of(&x, &y, &order, step, 32)).unwrap();
        assert!(l.d_loss.is_finite() && l.g_loss.is_finite(), "step {step}: {l:?}");
        losses.push(l.d_loss);
        losses.push(l.g_loss);
    }
    let mut layers = gan.generator().layers().to_vec();
    layers.extend(gan.discriminator().layers().iter().cloned());
    (layers, losses)
}

#[test]
fn gan_is_finite_and_deterministic() {
    let (a, la) = gan_weights(11, 30);
    let (b, lb) = gan_weights(11, 30);
    let (c, _) = gan_weights(12, 30);
    assert_eq!(la.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), lb.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    for (x, y) in a.iter().zip(&b) {
        let bits = |l: &shardmix::nn::Linear| {
            l.weight().iter().chain(l.bias().iter()).map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        assert_eq!(bits(x), bits(y), "same seed gives bit-identical weights");
    }
    assert_ne!(a[0].weight(), c[0].weight(), "another seed gives other weights");
    // With label noise the D loss at the start is near ln 2 ≈ 0.69 (not a degenerate 0).
    assert!(la[0] > 0.4 && la[0] < 1.0, "{}", la[0]);
}

/// The bundled digits: 1,797 rows of 64 pixels in [0, 1], 10 classes.
fn digits() -> shardmix::ShardSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    shardmix::ShardSet::open(path)
        .unwrap()
        .features(shardmix::Features::prefix("p"))
        .unwrap()
        .target(shardmix::Target::class("label", 10))
        .unwrap()
}

/// A pipeline over the training rows of `holdout` (held-out rows dropped by the first stage).
fn training_pipeline(set: &shardmix::ShardSet, holdout: Holdout, epochs: u64, batch: usize) -> shardmix::Pipeline {
    shardmix::Pipeline::builder()
        .source(set.clone())
        .order(shardmix::Order::shuffled(batch))
        .stage(holdout)
        .seed(5)
        .workers(1)
        .epochs(epochs)
        .build()
        .unwrap()
}

/// Row-weighted mean of `eval` over the held-out rows.
fn held_out_mean(set: &shardmix::ShardSet, holdout: &Holdout, mut eval: impl FnMut(&Batch) -> f32) -> (f64, usize) {
    let reader = shardmix::Reader::new(std::sync::Arc::new(set.clone()), 0);
    let (mut sum, mut rows) = (0.0f64, 0usize);
    for batch in holdout.batches(&reader, 256).unwrap() {
        let batch = batch.unwrap();
        for &id in &batch.provenance.row_a {
            assert!(holdout.is_held_out(id), "row {id} is not held out");
        }
        sum += eval(&batch) as f64 * batch.rows() as f64;
        rows += batch.rows();
    }
    (sum / rows.max(1) as f64, rows)
}

/// The digits figures with 20% held out (fixed seeds): the CVAE's held-out negative
/// ELBO, and how often a classifier trained on the real training digits recognises the
/// requested class in the CVAE's and the conditional GAN's samples. Epochs from
/// `SHARDMIX_DIGITS_EPOCHS` (default 30; the note quotes `cargo test --release --test library
/// nn::digits -- --nocapture` with 300).
#[test]
fn digits_held_out_elbo_and_recognition() {
    let epochs: u64 = std::env::var("SHARDMIX_DIGITS_EPOCHS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let set = digits();
    let holdout = Holdout::new(0.2, 5).unwrap();
    let n_held = holdout.held_out_rows(set.num_rows()).count();
    assert!((300..420).contains(&n_held), "{n_held} of 1797 rows held out");

    // The classifier, on real training digits only.
    let mut clf = Classifier::new(ClassifierConfig::new(64, 10), 1).unwrap();
    for batch in training_pipeline(&set, holdout, 100, 64) {
        let batch = batch.unwrap();
        for &id in &batch.provenance.row_a {
            assert!(!holdout.is_held_out(id), "training saw held-out row {id}");
        }
        clf.train_step(&batch).unwrap();
    }
    let reader = shardmix::Reader::new(std::sync::Arc::new(set.clone()), 0);
    let mut held_acc = 0.0;
    for batch in holdout.batches(&reader, 4096).unwrap() {
        let batch = batch.unwrap();
        held_acc = clf.accuracy(&batch.features, &batch.classes().unwrap()).unwrap();
    }

    // The CVAE (64 → 128 → 16 latent and back) and the conditional GAN, default sizes.
    let mut vae = Vae::new(VaeConfig { num_classes: Some(10), ..VaeConfig::new(64) }, 3).unwrap();
    let (elbo_init, rows) = held_out_mean(&set, &holdout, |b| vae.eval_loss(b).unwrap().total);
    assert_eq!(rows, n_held);
    for batch in training_pipeline(&set, holdout, epochs, 64) {
        vae.train_step(&batch.unwrap()).unwrap();
    }
    let (elbo, _) = held_out_mean(&set, &holdout, |b| vae.eval_loss(b).unwrap().total);
    let mut gan = Gan::new(GanConfig { num_classes: Some(10), ..GanConfig::new(64) }, 3).unwrap();
    for batch in training_pipeline(&set, holdout, epochs, 64) {
        gan.train_step(&batch.unwrap()).unwrap();
    }
    let (d_loss, _) = held_out_mean(&set, &holdout, |b| gan.eval_loss(b).unwrap().d_loss);

    let wanted: Vec<usize> = (0..1000).map(|i| i % 10).collect();
    let recognised = |g: &dyn Generator| {
        let x = g.generate(Some(&wanted), wanted.len(), &mut rng::derive(9, 9, 9)).unwrap();
        clf.accuracy(&x, &wanted).unwrap()
    };
    let (cvae_acc, gan_acc) = (recognised(&vae.sampler()), recognised(&gan.sampler()));
    println!(
        "digits, {n_held} of {} rows held out (seed 5), {epochs} epochs, batch 64:\n  \
         classifier (64-64-10, 100 epochs) on held-out real digits: {:.1}%\n  \
         CVAE held-out negative ELBO: {elbo_init:.2} at initialisation -> {elbo:.2}\n  \
         GAN held-out D loss (clean labels): {d_loss:.3}\n  \
         requested class recognised in 1,000 conditional samples: CVAE {:.1}%, GAN {:.1}%",
        set.num_rows(),
        100.0 * held_acc,
        100.0 * cvae_acc,
        100.0 * gan_acc
    );
    assert!(held_acc > 0.9, "classifier on held-out digits: {held_acc}");
    assert!(elbo.is_finite() && elbo < 0.7 * elbo_init, "held-out negative ELBO {elbo_init} -> {elbo}");
    assert!(cvae_acc >= 0.8, "CVAE samples recognised: {cvae_acc}");
    if epochs >= 200 {
        // The conditional GAN needs many more steps than the CVAE to follow its class input.
        assert!(gan_acc >= 0.8, "GAN samples recognised: {gan_acc}");
    }
}

/// `shardmix train vae --holdout 0.2` prints the held-out negative ELBO before training and
/// after; it is finite and lower after training.
#[test]
fn cli_reports_held_out_elbo() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet");
    let out = dir.path().join("cvae.safetensors");
    let run = |holdout: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_shardmix"))
            .args(["train", "vae", "--num-classes", "10", "--epochs", "3", "--batch-size", "64"])
            .args(["--order", "shuffled", "--seed", "4", "--workers", "1", "--holdout", holdout])
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{stderr}");
        stderr
    };
    let stderr = run("0.2");
    // One line per epoch with the held-out loss, and the summary.
    let epoch_lines = stderr.lines().filter(|l| l.starts_with("epoch ") && l.contains("; held-out neg_elbo "));
    assert_eq!(epoch_lines.count(), 3, "{stderr}");
    let summary = stderr.lines().find(|l| l.starts_with("trained vae")).unwrap();
    let number_after = |key: &str| -> f64 {
        let rest = &summary[summary.find(key).unwrap_or_else(|| panic!("{key} in {summary}")) + key.len()..];
        rest.split([' ', ',']).find(|t| !t.is_empty()).unwrap().parse().unwrap()
    };
    let before = number_after("held-out neg_elbo ");
    let after = number_after("before training, ");
    assert!(before.is_finite() && after.is_finite(), "{summary}");
    assert!(after < before - 5.0, "held-out negative ELBO {before} -> {after}");
    // Deterministic for a seed; another fraction gives another split.
    assert_eq!(
        run("0.2").lines().find(|l| l.starts_with("held-out:")),
        stderr.lines().find(|l| l.starts_with("held-out:"))
    );
    let other = run("0.3");
    let count = |s: &str| -> u64 { s.split("held-out: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap() };
    assert!(count(&other) > count(&stderr), "{other}");
    // Invalid fractions are rejected before training.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .args(["train", "vae", "--holdout", "1.0", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("holdout"));
}
