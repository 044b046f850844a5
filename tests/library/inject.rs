//! The injection stage: exact fractions, class-following, determinism, build-time checks.

use crate::common;

use common::fixture;

use std::sync::Arc;

use ndarray::Array2;
use shardmix::{
    Batch, ErrorKind, Features, Generator, Inject, ModelInfo, Order, Origin, Pipeline, Result, ShardSet, StepRng,
};

/// A conditional "model": feature j of a row of class c is `100·c + j + noise`.
struct Fake(ModelInfo);

impl Generator for Fake {
    fn info(&self) -> &ModelInfo {
        &self.0
    }
    fn generate(&self, classes: Option<&[usize]>, count: usize, rng: &mut StepRng) -> Result<Array2<f32>> {
        let f = self.0.num_features;
        let mut out = Array2::zeros((count, f));
        for i in 0..count {
            let c = classes.map_or(0, |c| c[i]);
            for j in 0..f {
                out[[i, j]] = 100.0 * c as f32 + j as f32 + shardmix::rng::uniform(rng) as f32 * 0.01;
            }
        }
        Ok(out)
    }
}

fn fake(features: usize, classes: Option<usize>, origin: Origin) -> Arc<dyn Generator> {
    Arc::new(Fake(ModelInfo {
        path: "fake.safetensors".into(),
        origin,
        num_features: features,
        num_classes: classes,
        feature_names: None,
    }))
}

fn run(set: &ShardSet, workers: usize, stages: Vec<Arc<dyn shardmix::Stage>>) -> Vec<Batch> {
    let mut b = Pipeline::builder().source(set.clone()).order(Order::shuffled(40)).workers(workers).seed(3).epochs(2);
    for s in stages {
        b = b.stage_arc(s);
    }
    b.build().unwrap().collect::<Result<_>>().unwrap()
}

#[test]
fn replaces_an_exact_fraction_keeping_classes() {
    let (_d, set, _) = fixture::open_dataset();
    let inject: Arc<dyn shardmix::Stage> = Arc::new(Inject::replace(fake(3, Some(4), Origin::Vae), 0.25));
    for b in run(&set, 2, vec![inject]) {
        let n = b.rows();
        let synthetic: Vec<usize> = (0..n).filter(|&i| b.provenance.origin[i] == Origin::Vae).collect();
        assert_eq!(synthetic.len(), (0.25 * n as f64).round() as usize, "step {}", b.step);
        for i in 0..n {
            let id = b.provenance.row_a[i];
            let class = fixture::label(id) as usize;
            // Every row keeps the class of the real row at its place.
            assert_eq!(b.targets.as_ref().unwrap()[[i, class]], 1.0);
            if synthetic.contains(&i) {
                assert!((b.features[[i, 0]] - 100.0 * class as f32).abs() < 0.02, "row {i}");
            } else {
                assert_eq!(b.features[[i, 0]], fixture::f0(id));
            }
        }
    }
}

#[test]
fn append_adds_rows_with_followed_classes() {
    let (_d, set, _) = fixture::open_dataset();
    let inject: Arc<dyn shardmix::Stage> = Arc::new(Inject::append(fake(3, Some(4), Origin::Gan), 5));
    for b in run(&set, 1, vec![inject]) {
        let n = b.rows();
        assert_eq!((n as u64 - 5..n as u64).filter(|&i| b.provenance.origin[i as usize] == Origin::Gan).count(), 5);
        for i in n - 5..n {
            let class = fixture::label(b.provenance.row_a[i]) as usize;
            assert_eq!(b.targets.as_ref().unwrap()[[i, class]], 1.0);
        }
    }
}

#[test]
fn deterministic_across_worker_counts() {
    let (_d, set, _) = fixture::open_dataset();
    let stages = || -> Vec<Arc<dyn shardmix::Stage>> {
        vec![
            Arc::new(Inject::replace(fake(3, Some(4), Origin::Vae), 0.3)),
            Arc::new(Inject::replace(fake(3, Some(4), Origin::Gan), 0.2)),
        ]
    };
    let reference = run(&set, 0, stages());
    for w in [1, 2, 8] {
        assert_eq!(run(&set, w, stages()), reference, "{w} workers");
    }
}

#[test]
fn mismatched_models_are_rejected_at_build() {
    let (_d, set, _) = fixture::open_dataset();
    let cases: Vec<(Arc<dyn Generator>, &str)> = vec![
        (fake(5, Some(4), Origin::Vae), "generates 5 features, the data has 3"),
        (fake(3, Some(7), Origin::Vae), "has 7 classes"),
        (fake(3, None, Origin::Gan), "unconditional"),
    ];
    for (g, want) in cases {
        let e = Pipeline::builder().source(set.clone()).stage(Inject::replace(g, 0.5)).build().err().unwrap();
        assert!(e.chain().contains(want) && e.chain().contains("fake.safetensors"), "{}", e.chain());
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut found = false;
        while let Some(x) = cur {
            if let Some(se) = x.downcast_ref::<shardmix::Error>() {
                found |= matches!(se.kind(), ErrorKind::Model { .. });
            }
            cur = x.source();
        }
        assert!(found);
    }
    let no_label = ShardSet::open(set.shards()[0].path.parent().unwrap())
        .unwrap()
        .features(Features::columns(&["f0", "f1", "f2"]))
        .unwrap();
    let e = Pipeline::builder()
        .source(no_label.clone())
        .stage(Inject::replace(fake(3, Some(4), Origin::Vae), 0.5))
        .build()
        .err()
        .unwrap();
    assert!(e.chain().contains("no class target"), "{}", e.chain());
    assert!(Pipeline::builder()
        .source(no_label)
        .stage(Inject::replace(fake(3, None, Origin::Vae), 0.5))
        .build()
        .is_ok());
    let err = Inject::replace(fake(3, None, Origin::Vae), 1.5).validate().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "vae_fraction"), "{err:?}");
}
