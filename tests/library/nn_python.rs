//! Cross-check against numpy: Rust saves trained models and its own outputs, and
//! `tests/python/check_forward.py` recomputes the decoder/generator forward pass from the
//! safetensors file with numpy. Needs `SHARDMIX_PYTHON` (a Python with numpy and
//! safetensors); skipped without it unless `CI` is set.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use ndarray::Array2;
use safetensors::tensor::{Dtype, TensorView};
use shardmix::nn::{DataScale, Gan, GanConfig, Vae, VaeConfig};
use shardmix::{rng, Batch};

fn python() -> Option<std::path::PathBuf> {
    crate::common::venv_python()
}

fn write_inputs(path: &Path, z: &Array2<f32>, onehot: Option<&Array2<f32>>, expected: &Array2<f32>) {
    let bytes = |a: &Array2<f32>| a.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let mut owned = vec![("z", z.dim(), bytes(z)), ("expected", expected.dim(), bytes(expected))];
    if let Some(o) = onehot {
        owned.push(("onehot", o.dim(), bytes(o)));
    }
    let views: Vec<_> = owned
        .iter()
        .map(|(n, (r, c), b)| (n.to_string(), TensorView::new(Dtype::F32, vec![*r, *c], b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None::<HashMap<String, String>>).unwrap()).unwrap();
}

fn data(rows: usize, features: usize, classes: usize) -> (Array2<f32>, Array2<f32>) {
    let mut r = rng::derive(3, 3, 3);
    let x = Array2::from_shape_fn((rows, features), |(i, j)| {
        ((i * 31 + j * 7) % 17) as f32 / 16.0 * 0.5 + 0.25 * rng::uniform(&mut r) as f32
    });
    let y = Array2::from_shape_fn((rows, classes), |(i, c)| if i % classes == c { 1.0 } else { 0.0 });
    (x, y)
}

fn latents(rows: usize, latent: usize) -> Array2<f32> {
    let mut z = vec![0.0f32; rows * latent];
    shardmix::nn::standard_normal(&mut rng::derive(8, 8, 8), &mut z);
    Array2::from_shape_vec((rows, latent), z).unwrap()
}

#[test]
fn numpy_recomputes_decoder_and_generator() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rows = 50;
    let classes: Vec<usize> = (0..rows).map(|i| i % 3).collect();
    let onehot = Array2::from_shape_fn((rows, 3), |(i, c)| if classes[i] == c { 1.0 } else { 0.0 });

    // A conditional VAE on [0, 1] data and an unconditional one on real-valued data.
    for (name, scale, cond) in [("cvae_unit", DataScale::Unit, true), ("vae_real", DataScale::Real, false)] {
        let cfg = VaeConfig {
            num_classes: cond.then_some(3),
            hidden: vec![32, 24],
            latent_dim: 5,
            scale,
            ..VaeConfig::new(10)
        };
        let mut vae = Vae::new(cfg, 1).unwrap();
        let (x, y) = data(64, 10, 3);
        let x = if scale == DataScale::Real { x.mapv(|v| 4.0 * v - 1.0) } else { x };
        let b = Batch::new(0, x, Some(y), (0..64).collect()).unwrap();
        for _ in 0..30 {
            vae.train_step(&b).unwrap();
        }
        vae.save(dir.path().join(format!("{name}.safetensors"))).unwrap();
        let z = latents(rows, 5);
        let out = vae.sampler().decode(z.view(), cond.then_some(&classes[..])).unwrap();
        write_inputs(&dir.path().join(format!("{name}.inputs.safetensors")), &z, cond.then_some(&onehot), &out);
    }
    // A conditional GAN (LeakyReLU D, ReLU G, sigmoid output) and a real-valued tanh one.
    for (name, scale, cond) in [("cgan_unit", DataScale::Unit, true), ("gan_real", DataScale::Real, false)] {
        let cfg = GanConfig {
            num_classes: cond.then_some(3),
            generator_hidden: vec![20],
            generator_activation: if cond { shardmix::nn::Activation::Relu } else { shardmix::nn::Activation::Tanh },
            scale,
            ..GanConfig::new(10)
        };
        let mut gan = Gan::new(cfg, 2).unwrap();
        let (x, y) = data(64, 10, 3);
        let b = Batch::new(0, x, Some(y), (0..64).collect()).unwrap();
        for _ in 0..10 {
            gan.train_step(&b).unwrap();
        }
        gan.save(dir.path().join(format!("{name}.safetensors"))).unwrap();
        let z = latents(rows, 16);
        let out = gan.sampler().decode(z.view(), cond.then_some(&classes[..])).unwrap();
        write_inputs(&dir.path().join(format!("{name}.inputs.safetensors")), &z, cond.then_some(&onehot), &out);
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_forward.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "check_forward.py failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.matches(" ok").count(), 4, "{stdout}");
}
