//! [`Classifier`]: a small softmax classifier (softmax regression or one hidden layer)
//! trained with cross-entropy on soft labels — enough to check that generated samples look
//! like their class.

use ndarray::Array2;

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::nn::activation::Activation;
use crate::nn::adam::{Adam, AdamConfig};
use crate::nn::input::{self, check_features};
use crate::nn::loss::softmax_cross_entropy;
use crate::nn::mlp::Mlp;
use crate::rng::{self, purpose};

/// Hyper-parameters of a [`Classifier`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierConfig {
    /// Features per row (≥ 1).
    pub num_features: usize,
    /// Number of classes (≥ 2).
    pub num_classes: usize,
    /// Width of the ReLU hidden layer; `None` for softmax regression (default `Some(64)`).
    pub hidden: Option<usize>,
    /// Optimiser (default Adam, lr 1e-3).
    pub adam: AdamConfig,
}

impl ClassifierConfig {
    /// Defaults for `num_features` features and `num_classes` classes.
    pub fn new(num_features: usize, num_classes: usize) -> Self {
        ClassifierConfig { num_features, num_classes, hidden: Some(64), adam: AdamConfig::default() }
    }
}

/// A softmax classifier.
///
/// # Example
/// ```
/// use shardmix::nn::{AdamConfig, Classifier, ClassifierConfig};
/// use shardmix::Batch;
/// let x = ndarray::array![[0.0f32, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]];
/// let y = ndarray::array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
/// let batch = Batch::new(0, x.clone(), Some(y), vec![0, 1, 2, 3])?;
/// let adam = AdamConfig { lr: 0.05, ..AdamConfig::default() };
/// let mut clf = Classifier::new(ClassifierConfig { hidden: None, adam, ..ClassifierConfig::new(2, 2) }, 0)?;
/// for _ in 0..200 { clf.train_step(&batch)?; }
/// assert_eq!(clf.predict(&x)?, vec![0, 1, 0, 1]);
/// assert_eq!(clf.accuracy(&x, &[0, 1, 0, 1])?, 1.0);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Classifier {
    net: Mlp,
    adam: Adam,
    num_classes: usize,
}

impl Classifier {
    /// A freshly initialised classifier (weights from `(seed, MODEL)`).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for invalid hyper-parameters.
    pub fn new(config: ClassifierConfig, seed: u64) -> Result<Self> {
        if config.num_features == 0 {
            return Err(Error::config("classifier.num_features", "must be at least 1"));
        }
        if config.num_classes < 2 {
            return Err(Error::config("classifier.num_classes", "must be at least 2"));
        }
        if config.hidden == Some(0) {
            return Err(Error::config("classifier.hidden", "must be at least 1 (None for no hidden layer)"));
        }
        config.adam.validate("classifier.adam")?;
        let mut sizes = vec![config.num_features];
        sizes.extend(config.hidden);
        sizes.push(config.num_classes);
        let mut rng = rng::derive(seed, purpose::MODEL, u64::MAX - 1);
        Ok(Classifier {
            net: Mlp::new(&sizes, Activation::Relu, Activation::Identity, &mut rng)?,
            adam: Adam::new(config.adam)?,
            num_classes: config.num_classes,
        })
    }

    /// One Adam step on the batch's soft-label targets; returns the cross-entropy.
    ///
    /// # Errors
    /// A shape error for a feature or target width that does not fit (or no targets); a
    /// model error for a non-finite loss.
    pub fn train_step(&mut self, batch: &Batch) -> Result<f32> {
        check_features("classifier", batch, self.net.inputs())?;
        let t = batch.targets.as_ref().ok_or_else(|| {
            Error::shape(
                format!("classifier: batch of step {} targets", batch.step),
                format!("{} class columns", self.num_classes),
                "no targets",
            )
        })?;
        if t.ncols() != self.num_classes {
            return Err(Error::shape("classifier: batch targets", format!("{} columns", self.num_classes), t.ncols()));
        }
        let logits = self.net.forward_train(batch.features.view());
        let loss = softmax_cross_entropy(logits.view(), t.view())?;
        if !loss.loss.is_finite() {
            return Err(input::non_finite("classifier", batch.step, format!("cross-entropy {}", loss.loss)));
        }
        self.net.backward(loss.grad.view(), true, false);
        self.adam.step(self.net.params());
        Ok(loss.loss)
    }

    /// The most likely class of each row.
    ///
    /// # Errors
    /// A shape error when the width of `x` differs from the classifier's.
    pub fn predict(&self, x: &Array2<f32>) -> Result<Vec<usize>> {
        if x.ncols() != self.net.inputs() {
            return Err(Error::shape("classifier: features", self.net.inputs(), x.ncols()));
        }
        let logits = self.net.forward(x.view());
        Ok(logits
            .rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (j, &v)| if v > best.1 { (j, v) } else { best })
                    .0
            })
            .collect())
    }

    /// The fraction of rows of `x` predicted as `labels`.
    ///
    /// # Errors
    /// A shape error when widths or row counts differ.
    pub fn accuracy(&self, x: &Array2<f32>, labels: &[usize]) -> Result<f32> {
        if labels.len() != x.nrows() {
            return Err(Error::shape("classifier: labels", x.nrows(), labels.len()));
        }
        let pred = self.predict(x)?;
        let hits = pred.iter().zip(labels).filter(|(a, b)| a == b).count();
        Ok(hits as f32 / labels.len().max(1) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_input() {
        let name = |r: Result<Classifier>| r.err().unwrap().config_name().map(str::to_string);
        assert_eq!(name(Classifier::new(ClassifierConfig::new(3, 1), 0)).as_deref(), Some("classifier.num_classes"));
        let no_hidden = Classifier::new(ClassifierConfig { hidden: Some(0), ..ClassifierConfig::new(3, 2) }, 0);
        assert_eq!(name(no_hidden).as_deref(), Some("classifier.hidden"));
        let mut c = Classifier::new(ClassifierConfig::new(3, 2), 0).unwrap();
        assert_eq!(c.predict(&Array2::zeros((2, 4))).unwrap_err().shape_context(), Some("classifier: features"));
        let b = Batch::new(0, Array2::zeros((2, 3)), None, vec![0, 1]).unwrap();
        let e = c.train_step(&b).unwrap_err();
        assert_eq!(e.shape_context(), Some("classifier: batch of step 0 targets"), "{e:?}");
        let b = Batch::new(0, Array2::zeros((2, 3)), Some(Array2::zeros((2, 3))), vec![0, 1]).unwrap();
        assert_eq!(c.train_step(&b).unwrap_err().shape_context(), Some("classifier: batch targets"));
    }
}
