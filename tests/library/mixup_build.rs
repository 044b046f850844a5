//! Mixup's parameters are checked once, when the pipeline is built: constructing a Mixup with
//! bad values succeeds, and `build()` then refuses it with a `Config` error naming the
//! parameter (under the `StageCheck` error that names the stage and its place).

use shardmix::{Error, ErrorKind, Features, Mixup, Order, Pipeline, ShardSet, Target};

const DIGITS: &str = "examples/data/digits.parquet";

fn source() -> ShardSet {
    ShardSet::open(DIGITS).unwrap().features(Features::prefix("p")).unwrap().target(Target::class("label", 10)).unwrap()
}

/// The parameter named by a build error: a `Config` error inside the `StageCheck` error of the
/// stage `mixup`.
fn parameter(e: &Error) -> String {
    match e.kind() {
        ErrorKind::StageCheck { index: 0, stage, source } => {
            assert!(stage.starts_with("mixup"), "{e}");
            match source.kind() {
                ErrorKind::Config { name, .. } => name.clone(),
                other => panic!("expected a Config error under the stage, got {other:?}"),
            }
        }
        other => panic!("expected the mixup stage's error, got {other:?}"),
    }
}

fn build(m: Mixup) -> Error {
    Pipeline::builder()
        .source(source())
        .order(Order::sequential(64))
        .stage(m)
        .workers(0)
        .build()
        .err()
        .expect("refused")
}

#[test]
fn a_bad_alpha_is_accepted_by_new_and_refused_by_build() {
    // Construction alone checks nothing: this is a plain value.
    let m = Mixup::new(-1.0);
    let e = build(m);
    assert_eq!(parameter(&e), "mixup_alpha");
    // The message is the one the setter used to give.
    assert!(e.chain().contains("invalid parameter `mixup_alpha`: must be 0 (off) or in"), "{}", e.chain());
}

#[test]
fn every_setter_is_checked_at_build() {
    let ok = || Mixup::new(0.2);
    let cases = [
        (Mixup::new(f64::NAN), "mixup_alpha"),
        (ok().prob(1.5), "mixup_prob"),
        (ok().label_smoothing(1.0), "label_smoothing"),
        (ok().cutmix(-1.0), "cutmix_alpha"),
        (ok().switch_prob(f64::NAN), "switch_prob"),
        (ok().feature_shape(&[8, 8]), "feature_shape"),
        (ok().cutmix(1.0).feature_shape(&[8, 0, 1]), "feature_shape"),
    ];
    for (m, name) in cases {
        assert_eq!(parameter(&build(m)), name);
    }
}

#[test]
fn good_parameters_build_and_run() {
    let m = Mixup::new(0.2).prob(0.5).label_smoothing(0.1).cutmix(1.0).switch_prob(0.3).feature_shape(&[8, 8, 1]);
    let p =
        Pipeline::builder().source(source()).order(Order::sequential(64)).stage(m).workers(0).steps(2).build().unwrap();
    assert_eq!(p.map(|b| b.unwrap().rows()).sum::<usize>(), 128);
}
