//! The parameters of `RandomResizedCrop`, `HorizontalFlip`, `Normalize` and `Inject` are
//! checked once, when the pipeline is built, as Mixup's are (`mixup_build.rs`): constructing
//! a stage with bad values succeeds, and `build()` then refuses it with a `Config` error naming
//! the parameter, under the `StageCheck` error that names the stage and its place.

use std::sync::Arc;

use ndarray::Array2;
use shardmix::{
    Error, ErrorKind, Features, Generator, HorizontalFlip, Inject, ModelInfo, Normalize, Order, Origin, Pipeline,
    RandomResizedCrop, Result, ShardSet, Stage, StepRng, Target,
};

const DIGITS: &str = "examples/data/digits.parquet";

/// The digits as 8 × 8 × 1 images with their class.
fn source() -> ShardSet {
    ShardSet::open(DIGITS)
        .unwrap()
        .features(Features::prefix("p"))
        .unwrap()
        .target(Target::class("label", 10))
        .unwrap()
        .feature_shape(&[8, 8, 1])
        .unwrap()
}

/// A conditional generator of zeros for the digits.
struct Zeros(ModelInfo);

impl Generator for Zeros {
    fn info(&self) -> &ModelInfo {
        &self.0
    }
    fn generate(&self, _: Option<&[usize]>, count: usize, _: &mut StepRng) -> Result<Array2<f32>> {
        Ok(Array2::zeros((count, self.0.num_features)))
    }
}

fn zeros(origin: Origin) -> Arc<dyn Generator> {
    Arc::new(Zeros(ModelInfo {
        path: "zeros.safetensors".into(),
        origin,
        num_features: 64,
        num_classes: Some(10),
        feature_names: None,
    }))
}

/// Build a pipeline of a good flip (stage #0) then `stage` (stage #1).
fn build(stage: impl Stage + 'static) -> Result<Pipeline> {
    Pipeline::builder()
        .source(source())
        .order(Order::sequential(64))
        .stage(HorizontalFlip::new(0.5).feature_shape(&[8, 8, 1]))
        .stage(stage)
        .workers(0)
        .steps(2)
        .build()
}

/// The stage and parameter named by a build error: a `Config` error inside the `StageCheck`
/// error of stage #1.
fn refused(e: Error) -> (String, String) {
    match e.kind() {
        ErrorKind::StageCheck { index: 1, stage, source } => match source.kind() {
            ErrorKind::Config { name, .. } => (stage.clone(), name.clone()),
            other => panic!("expected a Config error under the stage, got {other:?}"),
        },
        other => panic!("expected stage #1's check error, got {other:?}"),
    }
}

fn refused_by_build(stage: impl Stage + 'static) -> (String, String) {
    refused(build(stage).err().expect("refused at build"))
}

#[test]
fn crop_parameters_are_checked_at_build() {
    let ok = || RandomResizedCrop::new(6, 6).feature_shape(&[8, 8, 1]);
    let cases = [
        (RandomResizedCrop::new(0, 6).feature_shape(&[8, 8, 1]), "random_resized_crop"),
        (RandomResizedCrop::parse("6x20000").unwrap().feature_shape(&[8, 8, 1]), "random_resized_crop"),
        (ok().scale(0.0, 1.0), "crop_scale"),
        (ok().scale(0.5, 1.5), "crop_scale"),
        (ok().ratio(2.0, 1.0), "crop_ratio"),
        (ok().ratio(1.0, f64::INFINITY), "crop_ratio"),
        (RandomResizedCrop::new(6, 6).feature_shape(&[8, 8]), "feature_shape"),
        (RandomResizedCrop::new(6, 6), "feature_shape"), // none given
    ];
    for (crop, name) in cases {
        assert_eq!(refused_by_build(crop), ("random-resized-crop".to_string(), name.to_string()));
    }
}

#[test]
fn flip_parameters_are_checked_at_build() {
    for (flip, name) in [
        (HorizontalFlip::new(1.5).feature_shape(&[8, 8, 1]), "hflip"),
        (HorizontalFlip::new(f64::NAN).feature_shape(&[8, 8, 1]), "hflip"),
        (HorizontalFlip::new(0.5).feature_shape(&[8, 0, 1]), "feature_shape"),
    ] {
        assert_eq!(refused_by_build(flip), ("hflip".to_string(), name.to_string()));
    }
    // A flip whose shape does not fit the data is refused with the shapes.
    let e = build(HorizontalFlip::new(0.5).feature_shape(&[4, 4, 1])).err().unwrap();
    match e.kind() {
        ErrorKind::StageCheck { index: 1, source, .. } => {
            assert!(matches!(source.kind(), ErrorKind::Shape { .. }), "{e:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn normalize_values_are_checked_at_build() {
    for n in [
        Normalize::new(vec![0.5], vec![0.0]),
        Normalize::new(vec![0.5], vec![-1.0]),
        Normalize::new(vec![f32::NAN], vec![1.0]),
        Normalize::new(vec![0.5, 0.5], vec![1.0]),
        Normalize::new(vec![], vec![]),
        Normalize::parse("0.5/inf").unwrap(),
    ] {
        assert_eq!(refused_by_build(n), ("normalize".to_string(), "normalize".to_string()));
    }
    // Good values that do not fit the data's channels are refused by check too.
    assert_eq!(
        refused_by_build(Normalize::new(vec![0.5; 3], vec![0.25; 3])),
        ("normalize".to_string(), "normalize".to_string())
    );
}

#[test]
fn inject_parameters_are_checked_at_build() {
    let cases = [
        (Inject::replace(zeros(Origin::Vae), 1.5), "inject-vae", "vae_fraction"),
        (Inject::replace(zeros(Origin::Gan), -0.1), "inject-gan", "gan_fraction"),
        (
            Inject::replace(zeros(Origin::Vae), 0.5).class_distribution(vec![1.0, -1.0]),
            "inject-vae",
            "class_distribution",
        ),
        (Inject::append(zeros(Origin::Vae), 4).class_distribution(vec![0.0; 10]), "inject-vae", "class_distribution"),
        // Valid weights, but not one per class of the model: a check against the model.
        (Inject::replace(zeros(Origin::Vae), 0.5).class_distribution(vec![1.0; 3]), "inject-vae", "class_distribution"),
    ];
    for (inject, stage, name) in cases {
        assert_eq!(refused_by_build(inject), (stage.to_string(), name.to_string()));
    }
}

#[test]
fn good_parameters_build_and_run() {
    let crop = RandomResizedCrop::new(6, 6).scale(0.5, 1.0).ratio(0.8, 1.25).feature_shape(&[8, 8, 1]);
    let p = Pipeline::builder()
        .source(source())
        .order(Order::sequential(64))
        .stage(crop)
        .stage(HorizontalFlip::new(0.5).feature_shape(&[6, 6, 1]))
        .stage(Normalize::new(vec![8.0], vec![4.0]))
        .stage(Inject::replace(zeros(Origin::Vae), 0.25).class_distribution(vec![1.0; 10]))
        .workers(0)
        .steps(2)
        .build();
    // The injection's model makes 64 features, the crop 36: refused, with the model named.
    let e = p.err().expect("a model of 64 features after a crop to 36");
    assert!(matches!(e.kind(), ErrorKind::StageCheck { index: 3, .. }), "{e:?}");
    let p = Pipeline::builder()
        .source(source())
        .order(Order::sequential(64))
        .stage(Inject::replace(zeros(Origin::Vae), 0.25).class_distribution(vec![1.0; 10]))
        .stage(RandomResizedCrop::new(6, 6).scale(0.5, 1.0).ratio(0.8, 1.25).feature_shape(&[8, 8, 1]))
        .stage(HorizontalFlip::new(0.5).feature_shape(&[6, 6, 1]))
        .stage(Normalize::new(vec![8.0], vec![4.0]))
        .workers(0)
        .steps(2)
        .build()
        .unwrap();
    let batches: Vec<_> = p.map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 2);
    for b in batches {
        assert_eq!(b.features.dim(), (64, 36));
        assert_eq!(b.provenance.origin.iter().filter(|&&o| o == Origin::Vae).count(), 16);
    }
}
