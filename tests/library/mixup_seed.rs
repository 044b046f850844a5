//! Faithfulness to the seed: shardmix's Mixup on the seed's offset batches equals the seed's
//! numpy `mixup_batch` given the same λ's and permutation (read back from the provenance).
//!
//! Runs `$SHARDMIX_PYTHON benches/peers/mixup_numpy.py --check DIR` (a Python with numpy);
//! the Python is found by `common::venv_python` (no Python is a failure unless
//! SHARDMIX_SKIP_PYTHON is set).

use crate::common;
use std::path::Path;
use std::process::Command;

use ndarray::{s, Array2};
use shardmix::rng::for_stage;
use shardmix::{Batch, Mixup, Stage};

fn write(dir: &Path, name: &str, bytes: Vec<u8>) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn f32_bytes<'a>(v: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    v.flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(v: impl Iterator<Item = i64>) -> Vec<u8> {
    v.flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn matches_the_numpy_seed_given_the_same_draws() {
    let Some(python) = common::venv_python() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/mixup_numpy.py");

    // The seed's data: N rows of features and one-hot float labels.
    let (n, f, c, b) = (1000usize, 16usize, 10usize, 64usize);
    let x = Array2::from_shape_fn((n, f), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5);
    let y = Array2::from_shape_fn((n, c), |(i, j)| ((i * 7) % c == j) as u8 as f32);
    let mixup = Mixup::new(0.2);

    for step in [0u64, 7, 15, 16, 123] {
        // Order::Offset, the seed's formula: offset = (step · B) mod (N − B).
        let offset = (step as usize * b) % (n - b);
        let batch = Batch::new(
            step,
            x.slice(s![offset..offset + b, ..]).to_owned(),
            Some(y.slice(s![offset..offset + b, ..]).to_owned()),
            (offset as u64..(offset + b) as u64).collect(),
        )
        .unwrap();
        let out = mixup.apply(batch, &mut for_stage(2024, 0, step)).unwrap();
        let p = &out.provenance;
        let lambda: Vec<f32> = p.lambda.iter().map(|l| l.expect("every row mixed")).collect();
        let index: Vec<i64> = p.row_b.iter().map(|r| r.expect("every row mixed") as i64 - offset as i64).collect();

        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "x.f32", f32_bytes(x.iter()));
        write(d, "y.f32", f32_bytes(y.iter()));
        write(d, "out_x.f32", f32_bytes(out.features.iter()));
        write(d, "out_y.f32", f32_bytes(out.targets.as_ref().unwrap().iter()));
        write(d, "lambda.f32", f32_bytes(lambda.iter()));
        write(d, "index.i64", i64_bytes(index.into_iter()));
        write(d, "row_a.i64", i64_bytes(p.row_a.iter().map(|&r| r as i64)));
        let meta = serde_json::json!({"n": n, "f": f, "c": c, "batch_size": b, "step": step, "alpha": 0.2});
        write(d, "meta.json", meta.to_string().into_bytes());

        let res = Command::new(&python)
            .arg(&script)
            .arg("--check")
            .arg(d)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let stdout = String::from_utf8_lossy(&res.stdout);
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert!(res.status.success(), "step {step}: the seed disagrees\n{stdout}{stderr}");
        assert!(stdout.starts_with("ok"), "{stdout}");
        println!("{}", stdout.trim());
    }
}
