//! Careless numeric values (issue 14.5): each must end the run with a non-zero exit and one
//! clear line naming the parameter — never a panic, an abort, NaN output or a wrapped value.
//! The checks live in the library (`Settings::validate`, `PipelineBuilder::build`), so Rust
//! users get them too (the last tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shardmix::{ErrorKind, Features, Order, Pipeline, PipelineConfig, ShardSet, Target};

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .arg("--quiet")
        .env_remove("RANK")
        .env_remove("WORLD_SIZE")
        .output()
        .expect("run shardmix")
}

/// `args` fail with exit code 1 (not a signal, not a panic's 101) and an error naming `param`.
fn assert_rejected(args: &[&str], param: &str) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?}: status {:?}, stderr:\n{err}", o.status);
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{args:?} panicked:\n{err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(err.contains(&format!("`{param}`")), "{args:?}: the error does not name `{param}`:\n{err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line expected:\n{err}");
}

/// `augment` of the digits into a fresh directory with `extra` flags; the directory must stay
/// empty (nothing is written before validation).
fn assert_augment_rejected(extra: &[&str], param: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let data = digits();
    let mut args = vec!["augment", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    assert_rejected(&args, param);
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "{extra:?} wrote output");
}

#[test]
fn a_mixup_alpha_whose_beta_draws_are_nan_is_rejected() {
    assert_augment_rejected(&["--mixup-alpha", "1e-310"], "mixup_alpha");
}

#[test]
fn a_batch_size_of_zero_is_rejected() {
    assert_augment_rejected(&["--batch-size", "0"], "batch_size");
}

#[test]
fn a_billion_classes_are_rejected() {
    assert_augment_rejected(&["--num-classes", "1000000000"], "num_classes");
}

#[test]
fn an_accept_timeout_that_overflows_the_clock_is_rejected() {
    let data = digits();
    assert_rejected(
        &[
            "stream",
            "--data",
            data.to_str().unwrap(),
            "--to",
            "tcp:127.0.0.1:0",
            "--accept-timeout",
            "18446744073709551615",
        ],
        "accept_timeout",
    );
}

#[test]
fn a_feature_shape_whose_product_wraps_is_rejected() {
    assert_augment_rejected(&["--feature-shape", "4611686018427387905x64x1"], "feature_shape");
    assert_augment_rejected(&["--feature-shape", "4611686018427387905x64x1", "--cutmix-alpha", "1"], "feature_shape");
}

#[test]
fn a_cache_size_whose_bytes_wrap_is_rejected() {
    assert_augment_rejected(&["--cache-mib", "17592186044416"], "cache_mib");
    assert_augment_rejected(&["--cache-mib", "0"], "cache_mib");
}

#[test]
fn a_hundred_thousand_workers_are_rejected() {
    assert_augment_rejected(&["--workers", "100000"], "workers");
}

#[test]
fn the_other_pipeline_numbers_are_checked_too() {
    for (extra, param) in [
        (&["--prefetch", "0"][..], "prefetch"),
        (&["--prefetch", "100000000"], "prefetch"),
        (&["--epochs", "0"], "epochs"),
        (&["--steps", "0"], "steps"),
        (&["--world-size", "0"], "world_size"),
        (&["--rank", "3", "--world-size", "2"], "rank"),
        (&["--mixup-alpha", "1e301"], "mixup_alpha"),
        (&["--mixup-alpha", "NaN"], "mixup_alpha"),
        (&["--cutmix-alpha=-1"], "cutmix_alpha"),
        (&["--mixup-prob", "NaN"], "mixup_prob"),
        (&["--mixup-alpha", "0", "--mixup-prob", "2"], "mixup_prob"),
        (&["--cutmix-switch-prob", "1.5"], "cutmix_switch_prob"),
        (&["--label-smoothing", "1"], "label_smoothing"),
        (&["--vae-fraction", "2"], "vae_fraction"),
        (&["--gan-fraction=-0.5"], "gan_fraction"),
        (&["--num-classes", "0"], "num_classes"),
        (&["--batch-size", "18446744073709551615"], "batch_size"),
        (&["--row-group-size", "0"], "row_group_size"),
    ] {
        assert_augment_rejected(extra, param);
    }
}

#[test]
fn the_config_file_is_checked_like_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(&config, "mixup_alpha = 1e-310\n").unwrap();
    assert_augment_rejected(&["--config", config.to_str().unwrap()], "mixup_alpha");
    std::fs::write(&config, "workers = 100000\n").unwrap();
    assert_augment_rejected(&["--config", config.to_str().unwrap()], "workers");
}

#[test]
fn train_and_demo_numbers_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let (data, model) = (digits(), model.to_str().unwrap().to_string());
    let train = |extra: &[&str], param: &str| {
        let mut args = vec!["train", "vae", "--data", data.to_str().unwrap(), "--out", &model, "--steps", "1"];
        args.extend_from_slice(extra);
        assert_rejected(&args, param);
    };
    train(&["--latent", "1000000000"], "latent");
    train(&["--latent", "0"], "latent");
    train(&["--hidden", "64,1000000000"], "hidden");
    assert!(!Path::new(&model).exists(), "a model was written");
    assert_rejected(&["demo", "--epochs", "0"], "epochs");
    assert_rejected(&["demo", "--generator-epochs", "0"], "generator_epochs");
    assert_rejected(&["demo", "--vae-fraction", "7"], "vae_fraction");
    assert_rejected(&["demo", "--repeats", "0"], "repeats");
}

#[test]
fn the_library_checks_the_same_values() {
    let config = PipelineConfig { data: Some(vec![digits()]), mixup_alpha: Some(1e-310), ..Default::default() };
    let e = config.settings(None).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Config { name, .. } if name == "mixup_alpha"), "{e}");
    let e = shardmix::Mixup::new(1e-310).validate().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Config { name, .. } if name == "mixup_alpha"), "{e}");
    assert!(shardmix::Mixup::new(shardmix::Mixup::MIN_ALPHA).validate().is_ok());

    let set = || ShardSet::open(digits()).unwrap().features(Features::prefix("p")).unwrap();
    let name_of = |r: shardmix::Result<Pipeline>| match r.err() {
        Some(e) => match e.kind() {
            ErrorKind::Config { name, .. } => name.clone(),
            other => panic!("expected a config error, got {other:?}"),
        },
        None => panic!("expected a config error, the pipeline was built"),
    };
    assert_eq!(name_of(Pipeline::builder().source(set()).workers(100_000).build()), "workers");
    assert_eq!(name_of(Pipeline::builder().source(set()).prefetch(1 << 40).build()), "prefetch");
    let classes = set().target(Target::class("label", 1_000_000_000)).unwrap();
    assert_eq!(name_of(Pipeline::builder().source(classes).build()), "num_classes");
    // A batch size beyond the rows is one short batch of every row in the sequential order
    // (no overflow in the step → rows arithmetic).
    let rows: usize = Pipeline::builder()
        .source(set())
        .order(Order::sequential(usize::MAX))
        .workers(0)
        .build()
        .unwrap()
        .map(|b| b.unwrap().rows())
        .sum();
    assert_eq!(rows, 1797);
    assert_eq!(name_of(Pipeline::builder().source(set()).steps(10).start_step(11).build()), "start_step");
}
