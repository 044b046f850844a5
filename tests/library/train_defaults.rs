//! `train`'s defaults make a useful model (issue 20): with neither `steps` nor `epochs` the run
//! is raised to a step budget in whole epochs, and every run of a class-labelled dataset ends
//! with the recognition figure — how many of the model's class-conditional samples a
//! classifier trained on real rows assigns to the class asked for.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use shardmix::nn::quality::recognition;
use shardmix::nn::train::{
    default_min_steps, train, training_defaults, Kind, TrainEvent, TrainOptions, DEFAULT_MIN_STEPS,
};
use shardmix::rng::StepRng;
use shardmix::{Features, Generator, Holdout, ModelInfo, Origin, PipelineConfig, Settings, ShardSet, Target};

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.parquet")
}

fn settings(mut cfg: PipelineConfig) -> (Settings, Option<u64>) {
    cfg.data = Some(vec![digits()]);
    cfg.workers.get_or_insert(1);
    training_defaults(&mut cfg);
    let budget = default_min_steps(&cfg);
    (cfg.settings(None).unwrap(), budget)
}

#[test]
fn the_budget_applies_only_when_neither_steps_nor_epochs_is_given() {
    assert_eq!(default_min_steps(&PipelineConfig::default()), Some(DEFAULT_MIN_STEPS));
    assert_eq!(default_min_steps(&PipelineConfig { epochs: Some(1), ..Default::default() }), None);
    assert_eq!(default_min_steps(&PipelineConfig { steps: Some(5), ..Default::default() }), None);
}

#[test]
fn a_step_budget_is_rounded_up_to_whole_epochs_and_said() {
    let tmp = tempfile::tempdir().unwrap();
    // 1,797 rows in batches of 256 with the offset order: 7 steps per epoch.
    let (s, _) = settings(PipelineConfig { batch_size: Some(256), ..Default::default() });
    let opts = TrainOptions {
        out: tmp.path().join("g.safetensors"),
        hidden: Some("16".into()),
        min_steps: Some(30),
        ..Default::default()
    };
    let mut notes = Vec::new();
    let summary = train(Kind::Gan, &s, &opts, &mut |e| {
        if let TrainEvent::Note(n) = e {
            notes.push(n)
        }
    })
    .unwrap();
    assert_eq!(summary.steps, 35, "5 epochs of 7 steps cover 30");
    assert!(notes.iter().any(|n| n.contains("training 5 epochs of 7 steps (at least 30 steps")), "{notes:?}");
    // An explicit --steps is exact: the budget does not touch it.
    let (s, _) = settings(PipelineConfig { batch_size: Some(256), steps: Some(3), ..Default::default() });
    let summary = train(Kind::Gan, &s, &opts, &mut |_| {}).unwrap();
    assert_eq!(summary.steps, 3);
}

/// A "model" that draws each class's mean real row, shifted by `shift` classes: 0 is a
/// perfect conditional generator, 1 one that draws the wrong digit every time.
struct ClassMeans {
    info: ModelInfo,
    means: Array2<f32>,
    shift: usize,
}

impl ClassMeans {
    fn new(set: &ShardSet, shift: usize) -> Self {
        let all = set.read_rows(0..set.num_rows()).unwrap();
        let classes = all.classes().unwrap();
        let f = all.num_features();
        let mut means = Array2::<f32>::zeros((10, f));
        let mut counts = [0f32; 10];
        for (r, &c) in classes.iter().enumerate() {
            counts[c] += 1.0;
            let mut row = means.row_mut(c);
            row += &all.features.row(r);
        }
        for (mut row, n) in means.rows_mut().into_iter().zip(counts) {
            row /= n;
        }
        let info = ModelInfo {
            path: PathBuf::new(),
            origin: Origin::Vae,
            num_features: f,
            num_classes: Some(10),
            feature_names: None,
        };
        ClassMeans { info, means, shift }
    }
}

impl Generator for ClassMeans {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(&self, classes: Option<&[usize]>, count: usize, _rng: &mut StepRng) -> shardmix::Result<Array2<f32>> {
        let classes = classes.unwrap();
        Ok(Array2::from_shape_fn((count, self.means.ncols()), |(r, j)| self.means[[(classes[r] + self.shift) % 10, j]]))
    }
}

#[test]
fn the_recognition_figure_tells_a_good_generator_from_a_wrong_one() {
    let set = ShardSet::open(digits())
        .unwrap()
        .features(Features::prefix("p"))
        .unwrap()
        .target(Target::class("label", 10))
        .unwrap();
    let right = recognition(&set, None, &ClassMeans::new(&set, 0), 3).unwrap().unwrap();
    let wrong = recognition(&set, None, &ClassMeans::new(&set, 1), 3).unwrap().unwrap();
    assert!(
        right.classifier_accuracy > 0.9,
        "the classifier itself must be good for the figure to mean anything: {right}"
    );
    assert!(right.rate > 0.95, "{right}");
    assert!(wrong.rate < 0.05, "{wrong}");
    assert_eq!((right.samples, right.train_rows + right.check_rows), (1000, 1797));
    // Held-out rows are never read for it, and it is a function of the seed.
    let h = Holdout::new(0.5, 1).unwrap();
    let half = recognition(&set, Some(h), &ClassMeans::new(&set, 0), 3).unwrap().unwrap();
    assert_eq!(half.train_rows + half.check_rows, h.held_out_rows(1797).count().abs_diff(1797));
    assert_eq!(recognition(&set, None, &ClassMeans::new(&set, 0), 3).unwrap().unwrap(), right);
}

#[test]
fn every_trained_model_of_labelled_data_ends_with_the_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, _) = settings(PipelineConfig { steps: Some(3), ..Default::default() });
    let opts = TrainOptions { out: tmp.path().join("v.safetensors"), hidden: Some("16".into()), ..Default::default() };
    let summary = train(Kind::Vae, &s, &opts, &mut |_| {}).unwrap();
    let r = summary.recognition.clone().expect("digits have a class label");
    assert!(summary.message().ends_with(&r.to_string()), "{}", summary.message());
    assert!(r.rate < 0.5, "three steps cannot make a useful model: {r}");
}

#[test]
fn an_unlabelled_dataset_has_no_recognition_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, _) = settings(PipelineConfig { no_label: Some(true), steps: Some(2), ..Default::default() });
    let opts = TrainOptions { out: tmp.path().join("v.safetensors"), ..Default::default() };
    let summary = train(Kind::Vae, &s, &opts, &mut |_| {}).unwrap();
    assert_eq!(summary.recognition, None);
}
