//! [`Inject`]: replace a fraction of each batch with (or append) rows drawn from a generative
//! model — the VAE's decoder or the GAN's generator — marked in the provenance.

use std::sync::Arc;

use ndarray::{concatenate, Axis};

use crate::batch::Batch;
use crate::error::{Error, ErrorKind, Result};
use crate::rng::{self, StepRng};
use crate::spec::{DataSpec, TargetKind};
use crate::stage::{Generator, Stage};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Replace(f64),
    Append(usize),
}

/// Inject synthetic rows into every batch.
///
/// * `replace(fraction)`: `round(fraction × rows)` rows, chosen uniformly at random, are
///   replaced; the batch size is unchanged. A conditional model generates each row in the class
///   of the row it replaces, so the class balance is kept.
/// * `append(count)`: `count` rows are added at the end; their classes follow randomly chosen
///   rows of the batch (or the configured distribution).
///
/// Synthetic rows get origin `vae`/`gan`, `row_a` = the id of the real row they replaced (or
/// whose class they follow), and one-hot targets of their class.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use ndarray::Array2;
/// use shardmix::{Batch, Generator, Inject, ModelInfo, Origin, Stage, StepRng};
/// /// A "model" that writes its class into every feature.
/// struct ClassPainter(ModelInfo);
/// impl Generator for ClassPainter {
///     fn info(&self) -> &ModelInfo { &self.0 }
///     fn generate(&self, classes: Option<&[usize]>, count: usize, _: &mut StepRng) -> shardmix::Result<Array2<f32>> {
///         let c = classes.unwrap_or(&[]);
///         Ok(Array2::from_shape_fn((count, self.0.num_features), |(i, _)| c.get(i).copied().unwrap_or(0) as f32))
///     }
/// }
/// let info = ModelInfo { path: "painter".into(), origin: Origin::Vae, num_features: 2, num_classes: Some(2), feature_names: None };
/// let inject = Inject::replace(Arc::new(ClassPainter(info)), 0.5);
/// let targets = ndarray::array![[1.0f32, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]];
/// let batch = Batch::new(0, Array2::zeros((4, 2)), Some(targets.clone()), vec![0, 1, 2, 3])?;
/// let out = inject.apply(batch, &mut shardmix::rng::for_stage(1, 0, 0))?;
/// let synthetic: Vec<usize> = (0..4).filter(|&i| out.provenance.origin[i] == Origin::Vae).collect();
/// assert_eq!(synthetic.len(), 2);
/// for i in synthetic {
///     assert_eq!(out.targets.as_ref().unwrap().row(i), targets.row(i)); // class kept
/// }
/// # Ok::<(), shardmix::Error>(())
/// ```
pub struct Inject {
    generator: Arc<dyn Generator>,
    mode: Mode,
    distribution: Option<Vec<f64>>,
    name: String,
}

impl Inject {
    fn new(generator: Arc<dyn Generator>, mode: Mode) -> Self {
        let name = format!("inject-{}", generator.info().origin.as_str());
        Inject { generator, mode, distribution: None, name }
    }

    /// Replace `fraction` of each batch's rows.
    ///
    /// The constructors and the setter only record their values; [`validate`](Self::validate)
    /// checks them, once, when the pipeline is built ([`Stage::check`], which also checks the
    /// model against the data) and again before each [`Stage::apply`].
    pub fn replace(generator: Arc<dyn Generator>, fraction: f64) -> Self {
        Self::new(generator, Mode::Replace(fraction))
    }

    /// Append `count` rows to each batch.
    pub fn append(generator: Arc<dyn Generator>, count: usize) -> Self {
        Self::new(generator, Mode::Append(count))
    }

    /// Draw the classes of synthetic rows from this distribution (weights, normalised)
    /// instead of following the rows they replace. [`validate`](Self::validate) refuses
    /// negative or non-finite weights, or all zero; [`Stage::check`] refuses a count other
    /// than the model's classes.
    pub fn class_distribution(mut self, weights: Vec<f64>) -> Self {
        self.distribution = Some(weights);
        self
    }

    /// Check the values given to the constructor and the setter.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming `vae_fraction` / `gan_fraction` (after the model's kind)
    /// unless `0 ≤ fraction ≤ 1`, or `class_distribution` for negative or non-finite weights,
    /// or all zero.
    pub fn validate(&self) -> Result<()> {
        self.checked_distribution().map(|_| ())
    }

    /// [`validate`](Self::validate), returning the class distribution normalised.
    fn checked_distribution(&self) -> Result<Option<Vec<f64>>> {
        if let Mode::Replace(fraction) = self.mode {
            if !(0.0..=1.0).contains(&fraction) {
                return Err(Error::config(
                    format!("{}_fraction", self.generator.info().origin.as_str()),
                    format!("{fraction} is not within [0, 1]"),
                ));
            }
        }
        let Some(weights) = &self.distribution else {
            return Ok(None);
        };
        let total: f64 = weights.iter().sum();
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0)
            || total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        {
            return Err(Error::config("class_distribution", "weights must be finite, non-negative and not all zero"));
        }
        Ok(Some(weights.iter().map(|w| w / total).collect()))
    }

    fn model_error(&self, message: String) -> Error {
        ErrorKind::Model { path: self.generator.info().path.clone(), message }.into()
    }

    fn draw_class(&self, dist: &[f64], rng: &mut StepRng) -> usize {
        let u = rng::uniform(rng);
        let mut acc = 0.0;
        for (c, p) in dist.iter().enumerate() {
            acc += p;
            if u < acc {
                return c;
            }
        }
        dist.len() - 1
    }
}

impl Stage for Inject {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, spec: &DataSpec) -> Result<()> {
        self.validate()?;
        spec.pixels.require_float(self.name())?;
        let info = self.generator.info();
        if info.num_features != spec.num_features() {
            return Err(self.model_error(format!(
                "it generates {} features, the data has {}",
                info.num_features,
                spec.num_features()
            )));
        }
        if let Some(names) = &info.feature_names {
            let data = spec.feature_names();
            if names.len() == data.len() && *names != data {
                let i = names.iter().zip(&data).position(|(a, b)| a != b).unwrap_or(0);
                return Err(self.model_error(format!(
                    "it was trained on feature '{}' where the data has '{}' (position {i})",
                    names[i], data[i]
                )));
            }
        }
        match (&spec.target, info.num_classes) {
            (TargetKind::None, None) => {}
            (TargetKind::None, Some(c)) => {
                return Err(self.model_error(format!(
                    "it is conditioned on {c} classes but the pipeline has no class target (give --label)"
                )));
            }
            (TargetKind::Class { num_classes, column }, Some(c)) => {
                if *num_classes != c {
                    return Err(
                        self.model_error(format!("it has {c} classes, the label column '{column}' has {num_classes}"))
                    );
                }
            }
            (TargetKind::Class { column, .. }, None) => {
                return Err(self.model_error(format!("it is unconditional, so its samples carry no class, but the pipeline has the class target '{column}'; train a conditional model")));
            }
            (other, _) => {
                return Err(
                    self.model_error(format!("synthetic rows need a class target or none, the pipeline has {other:?}"))
                );
            }
        }
        if let Some(d) = &self.distribution {
            if Some(d.len()) != info.num_classes {
                return Err(Error::config(
                    "class_distribution",
                    format!("{} weights for a model of {:?} classes", d.len(), info.num_classes),
                ));
            }
        }
        Ok(())
    }

    fn apply(&self, mut batch: Batch, rng: &mut StepRng) -> Result<Batch> {
        let distribution = self.checked_distribution()?;
        let n = batch.rows();
        let origin = self.generator.info().origin;
        let conditional = self.generator.info().num_classes.is_some();
        let classes_of_rows = if conditional {
            Some(batch.classes().ok_or_else(|| self.model_error("the batch has no targets to condition on".into()))?)
        } else {
            None
        };
        match self.mode {
            Mode::Replace(fraction) => {
                let k = ((fraction * n as f64).round() as usize).min(n);
                if k == 0 {
                    return Ok(batch);
                }
                // The first k entries of a random permutation, in ascending order.
                let mut rows = rng::permutation(rng, n);
                rows.truncate(k);
                rows.sort_unstable();
                let classes: Option<Vec<usize>> = match (&distribution, &classes_of_rows) {
                    (Some(d), _) => Some((0..k).map(|_| self.draw_class(d, rng)).collect()),
                    (None, Some(c)) => Some(rows.iter().map(|&r| c[r]).collect()),
                    (None, None) => None,
                };
                let generated = self.generator.generate(classes.as_deref(), k, rng)?;
                if generated.dim() != (k, batch.num_features()) {
                    return Err(Error::shape(
                        format!("samples of {}", self.generator.info().path.display()),
                        format!("{k} × {}", batch.num_features()),
                        format!("{:?}", generated.dim()),
                    ));
                }
                for (j, &r) in rows.iter().enumerate() {
                    batch.features.row_mut(r).assign(&generated.row(j));
                    if let (Some(t), Some(c)) = (batch.targets.as_mut(), classes.as_ref()) {
                        let mut row = t.row_mut(r);
                        row.fill(0.0);
                        row[c[j]] = 1.0;
                    }
                    batch.provenance.origin[r] = origin;
                    batch.provenance.row_b[r] = None;
                    batch.provenance.lambda[r] = None;
                }
                Ok(batch)
            }
            Mode::Append(count) => {
                if count == 0 || n == 0 {
                    return Ok(batch);
                }
                let followed: Vec<usize> = (0..count).map(|_| rng::below(rng, n as u64) as usize).collect();
                let classes: Option<Vec<usize>> = match (&distribution, &classes_of_rows) {
                    (Some(d), _) => Some((0..count).map(|_| self.draw_class(d, rng)).collect()),
                    (None, Some(c)) => Some(followed.iter().map(|&r| c[r]).collect()),
                    (None, None) => None,
                };
                let generated = self.generator.generate(classes.as_deref(), count, rng)?;
                if generated.dim() != (count, batch.num_features()) {
                    return Err(Error::shape(
                        "generated rows",
                        format!("{count} × {}", batch.num_features()),
                        format!("{:?}", generated.dim()),
                    ));
                }
                batch.features = concatenate![Axis(0), batch.features, generated];
                if let Some(t) = batch.targets.take() {
                    let mut extra = ndarray::Array2::<f32>::zeros((count, t.ncols()));
                    if let Some(c) = &classes {
                        for (j, &cls) in c.iter().enumerate() {
                            extra[[j, cls]] = 1.0;
                        }
                    }
                    batch.targets = Some(concatenate![Axis(0), t, extra]);
                }
                let p = &mut batch.provenance;
                for &r in &followed {
                    let id = p.row_a[r];
                    p.row_a.push(id);
                    p.origin.push(origin);
                    p.row_b.push(None);
                    p.lambda.push(None);
                }
                Ok(batch)
            }
        }
    }
}
