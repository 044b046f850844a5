//! How useful a trained conditional model is: the share of its class-conditional samples that
//! a classifier trained on real rows assigns to the class asked for. The demo's table reports
//! it, and `train` prints it at its end, because a generator's own losses do not tell a model
//! that draws digits from one that draws noise (a GAN's D and G losses hover near 0.7 either
//! way).
//!
//! The check is bounded whatever the data's size: at most [`MAX_ROWS`] real rows, spread
//! evenly over the data by row id (never a held-out row), a fixed number of classifier steps,
//! and 100 samples per class (at most 10,000).

use ndarray::{Array2, Axis};

use super::{Classifier, ClassifierConfig};
use crate::error::{Error, Result};
use crate::rng;
use crate::source::{Reader, Rows, ShardSet};
use crate::stage::{Generator, Holdout};
use crate::Batch;

/// The most real rows read for the check.
pub const MAX_ROWS: usize = 10_000;
/// Classifier steps of [`BATCH`] rows.
const STEPS: usize = 3_000;
/// Classifier batch size.
const BATCH: usize = 32;
/// Conditional samples drawn per class.
const SAMPLES_PER_CLASS: usize = 100;
/// Stream of the check's random draws (`rng::derive(seed, STREAM, k)`).
const STREAM: u64 = 0x9A11;

/// The result of [`recognition`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Recognition {
    /// Share of the samples that the classifier assigns to the class they were drawn for.
    pub rate: f32,
    /// Samples drawn.
    pub samples: usize,
    /// Real rows the classifier was trained on.
    pub train_rows: usize,
    /// The classifier's accuracy on other real rows (`check_rows` of them): how far its
    /// verdict on the samples can be trusted.
    pub classifier_accuracy: f32,
    /// Real rows the classifier's accuracy was measured on.
    pub check_rows: usize,
}

impl std::fmt::Display for Recognition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1}% of {} class-conditional samples recognised as their class by a classifier trained on {} real rows (its accuracy on {} other real rows: {:.1}%)",
            100.0 * self.rate,
            self.samples,
            self.train_rows,
            self.check_rows,
            100.0 * self.classifier_accuracy
        )
    }
}

/// Train a small classifier on real rows of `set` (none that `holdout` keeps out), then
/// measure how many of `generator`'s class-conditional samples it recognises. `None` when the
/// data has no class label (nothing to condition on) or too few rows (fewer than 10).
///
/// # Errors
/// A read error of the rows; a shape error when the generator does not fit the data.
///
/// # Example
/// ```no_run
/// # fn main() -> shardmix::Result<()> {
/// use shardmix::{Features, ShardSet, Target};
/// let set = ShardSet::open("examples/data/digits.parquet")?
///     .features(Features::prefix("p"))?
///     .target(Target::class("label", 10))?;
/// let gan = shardmix::nn::load_generator("cgan.safetensors")?;
/// if let Some(r) = shardmix::nn::quality::recognition(&set, None, gan.as_ref(), 0)? {
///     println!("{r}");
/// }
/// # Ok(())
/// # }
/// ```
pub fn recognition(
    set: &ShardSet,
    holdout: Option<Holdout>,
    generator: &dyn Generator,
    seed: u64,
) -> Result<Option<Recognition>> {
    let Some(classes) = set.spec().num_classes() else { return Ok(None) };
    let n = set.num_rows();
    let stride = (n / MAX_ROWS as u64).max(1);
    let ids: Vec<u64> = (0..n)
        .step_by(stride as usize)
        .filter(|&r| !holdout.is_some_and(|h| h.is_held_out(r)))
        .take(MAX_ROWS)
        .collect();
    if ids.len() < 10 {
        return Ok(None);
    }
    let reader = Reader::new(std::sync::Arc::new(set.clone()), 0);
    let rows = reader.read(0, &Rows::Ids(ids.clone()))?;
    let labels = rows.classes().ok_or_else(|| Error::config("label", "the recognition check needs class targets"))?;
    // Every fifth row checks the classifier; the others train it.
    let (check, train): (Vec<usize>, Vec<usize>) = (0..ids.len()).partition(|i| i % 5 == 4);
    let x = &rows.features;
    let (mean, std) = moments(x, &train);
    let scaled = |r: usize, out: &mut [f32]| {
        for (j, o) in out.iter_mut().enumerate() {
            *o = (x[[r, j]] - mean[j]) / std[j];
        }
    };
    let f = x.ncols();
    let mut clf = Classifier::new(ClassifierConfig::new(f, classes), seed)?;
    let mut order = Vec::new();
    let mut epoch = 0;
    for step in 0..STEPS {
        if order.len() < BATCH {
            let perm = rng::permutation(&mut rng::derive(seed, STREAM, epoch), train.len());
            order.extend(perm.into_iter().map(|i| train[i]));
            epoch += 1;
        }
        let take: Vec<usize> = order.drain(..BATCH.min(order.len())).collect();
        let mut features = Array2::zeros((take.len(), f));
        let mut targets = Array2::zeros((take.len(), classes));
        for (i, &r) in take.iter().enumerate() {
            scaled(r, features.row_mut(i).as_slice_mut().expect("a fresh array is row-major"));
            targets[[i, labels[r]]] = 1.0;
        }
        let batch = Batch::new(step as u64, features, Some(targets), take.iter().map(|&r| ids[r]).collect())?;
        clf.train_step(&batch)?;
    }
    let mut xc = Array2::zeros((check.len(), f));
    for (i, &r) in check.iter().enumerate() {
        scaled(r, xc.row_mut(i).as_slice_mut().expect("a fresh array is row-major"));
    }
    let classifier_accuracy = clf.accuracy(&xc, &check.iter().map(|&r| labels[r]).collect::<Vec<_>>())?;
    let asked: Vec<usize> = (0..(SAMPLES_PER_CLASS * classes).min(MAX_ROWS)).map(|i| i % classes).collect();
    let mut samples = generator.generate(Some(&asked), asked.len(), &mut rng::derive(seed, STREAM + 1, 0))?;
    if samples.ncols() != f {
        return Err(Error::shape("recognition check: generated rows", f, samples.ncols()));
    }
    for mut row in samples.axis_iter_mut(Axis(0)) {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v - mean[j]) / std[j];
        }
    }
    let rate = clf.accuracy(&samples, &asked)?;
    Ok(Some(Recognition {
        rate,
        samples: asked.len(),
        train_rows: train.len(),
        classifier_accuracy,
        check_rows: check.len(),
    }))
}

/// Per-feature mean and standard deviation (floored at 1e-6) of the rows `rows` of `x`.
fn moments(x: &Array2<f32>, rows: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let f = x.ncols();
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0f64; f];
    let mut sq = vec![0f64; f];
    for &r in rows {
        for j in 0..f {
            let v = x[[r, j]] as f64;
            mean[j] += v;
            sq[j] += v * v;
        }
    }
    let mean: Vec<f64> = mean.iter().map(|s| s / n).collect();
    let std = sq.iter().zip(&mean).map(|(s, m)| ((s / n - m * m).max(0.0).sqrt().max(1e-6)) as f32).collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_per_feature_and_floored() {
        let x = Array2::from_shape_vec((3, 2), vec![1.0, 5.0, 3.0, 5.0, 100.0, 5.0]).unwrap();
        let (m, s) = moments(&x, &[0, 1]);
        assert_eq!(m, vec![2.0, 5.0]);
        assert_eq!(s, vec![1.0, 1e-6]);
    }
}
