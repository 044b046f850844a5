//! [`Normalize`]: per-channel `(x − mean[c]) / std[c]` on channels-last tensors, as
//! torchvision's `Normalize` computes it.

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::rng::StepRng;
use crate::spec::DataSpec;
use crate::stage::Stage;

/// Normalise each channel of `H × W × C` features: `(x − mean[c]) / std[c]`, in `f32`, the
/// same operations in the same order as torchvision's `Normalize` (so the output is
/// bit-identical to `Normalize(mean, std)(ToTensor()(img))`, transposed to channels last).
///
/// The channel count is the last dimension of the data's feature shape (an image column's, or
/// `--feature-shape`); one mean and one std apply to every channel.
///
/// # Example
/// ```
/// use shardmix::{Batch, DataSpec, FeatureLayout, Normalize, Stage, TargetKind};
/// let n = Normalize::parse("0.5,0.25/0.5,0.25")?;
/// let spec = DataSpec {
///     features: FeatureLayout::List { column: "image".into(), len: 4 },
///     target: TargetKind::None,
///     feature_shape: Some(vec![1, 2, 2]),
///     pixels: shardmix::Pixels::F32,
/// };
/// n.check(&spec)?;
/// let b = Batch::new(0, ndarray::array![[1.0f32, 0.25, 0.0, 0.75]], None, vec![0])?;
/// let out = n.apply(b, &mut shardmix::rng::for_stage(0, 0, 0))?;
/// assert_eq!(out.features, ndarray::array![[1.0f32, 0.0, -1.0, 2.0]]);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// ImageNet's statistics, as torchvision's pretrained models expect them.
    pub const IMAGENET: ([f32; 3], [f32; 3]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);

    /// Per-channel means and standard deviations (one of each for every channel).
    ///
    /// The constructor only records them; [`validate`](Self::validate) checks them, once,
    /// when the pipeline is built ([`Stage::check`]) and again before each [`Stage::apply`].
    ///
    /// # Example
    /// ```
    /// use shardmix::{ErrorKind, Normalize};
    /// assert!(Normalize::new(vec![0.5], vec![0.25]).validate().is_ok());
    /// let err = Normalize::new(vec![0.5], vec![0.0]).validate().unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "normalize"));
    /// ```
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Self {
        Normalize { mean, std }
    }

    /// Check the means and standard deviations.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `normalize` when the lengths
    /// differ or are 0, a mean is not finite, or a std is not finite and positive.
    pub fn validate(&self) -> Result<()> {
        let (mean, std) = (&self.mean, &self.std);
        if mean.len() != std.len() || mean.is_empty() {
            return Err(Error::config("normalize", format!("{} means and {} stds", mean.len(), std.len())));
        }
        if let Some(c) = mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::config("normalize", format!("the mean of channel {c} is not finite")));
        }
        if let Some(c) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::config(
                "normalize",
                format!("the std of channel {c} is {}, it must be finite and positive", std[c]),
            ));
        }
        Ok(())
    }

    /// Parse `MEAN/STD`, each a comma list with one value per channel (`0.1307/0.3081`,
    /// `0.485,0.456,0.406/0.229,0.224,0.225`), or `imagenet`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `normalize` for text that does
    /// not parse; the values are checked by [`validate`](Self::validate).
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("imagenet") {
            let (m, d) = Self::IMAGENET;
            return Ok(Self::new(m.to_vec(), d.to_vec()));
        }
        let (m, d) = s.split_once('/').ok_or_else(|| {
            Error::config("normalize", format!("'{s}' is not MEAN/STD (e.g. 0.5,0.5,0.5/0.25,0.25,0.25)"))
        })?;
        let list = |part: &str, what: &str| -> Result<Vec<f32>> {
            part.split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .map_err(|_| Error::config("normalize", format!("{what} '{}' is not a number", v.trim())))
                })
                .collect()
        };
        Ok(Self::new(list(m, "mean")?, list(d, "std")?))
    }

    /// The channel count: the last dimension of the feature shape.
    fn channels(&self, spec: &DataSpec) -> Result<usize> {
        let shape = spec.feature_shape.as_deref().ok_or_else(|| {
            Error::config(
                "normalize",
                "needs a feature shape H×W×C: an image feature column, or --feature-shape / ShardSet::feature_shape",
            )
        })?;
        let c = shape.last().copied().unwrap_or(0);
        if c != self.mean.len() {
            return Err(Error::config(
                "normalize",
                format!("{} means and stds for {c} channels (feature shape {shape:?})", self.mean.len()),
            ));
        }
        Ok(c)
    }
}

impl Stage for Normalize {
    fn name(&self) -> &str {
        "normalize"
    }

    fn check(&self, spec: &DataSpec) -> Result<()> {
        self.validate()?;
        spec.pixels.require_float("normalize")?;
        let c = self.channels(spec)?;
        if !spec.num_features().is_multiple_of(c) {
            return Err(Error::shape("normalize", format!("a multiple of {c} features"), spec.num_features()));
        }
        Ok(())
    }

    fn apply(&self, mut batch: Batch, _rng: &mut StepRng) -> Result<Batch> {
        self.validate()?;
        let c = self.mean.len();
        let f = batch.features.ncols();
        if !f.is_multiple_of(c) {
            return Err(Error::shape("normalize", format!("a multiple of {c} features"), f));
        }
        let values = batch
            .features
            .as_slice_mut()
            .ok_or_else(|| Error::shape("normalize", "row-major features", "a strided array"))?;
        for pixel in values.chunks_exact_mut(c) {
            for ((x, m), s) in pixel.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{FeatureLayout, TargetKind};

    fn spec(shape: Option<Vec<usize>>) -> DataSpec {
        let len = shape.as_ref().map_or(6, |s| s.iter().product());
        DataSpec {
            features: FeatureLayout::List { column: "x".into(), len },
            target: TargetKind::None,
            feature_shape: shape,
            pixels: Default::default(),
        }
    }

    #[test]
    fn parses_and_checks() {
        assert_eq!(Normalize::parse("0.5/0.25").unwrap(), Normalize::new(vec![0.5], vec![0.25]));
        assert_eq!(Normalize::parse("imagenet").unwrap().mean, vec![0.485, 0.456, 0.406]);
        for bad in ["0.5", "a/1"] {
            let e = Normalize::parse(bad).unwrap_err();
            assert_eq!(e.config_name(), Some("normalize"), "{bad}: {e}");
        }
        for bad in ["0.5/0", "0.5,0.5/1", "nan/1", "0.5/-1"] {
            let n = Normalize::parse(bad).unwrap();
            assert_eq!(n.validate().unwrap_err().config_name(), Some("normalize"), "{bad}");
            // check refuses it too, before looking at the data.
            assert_eq!(n.check(&spec(Some(vec![1, 1, 1]))).unwrap_err().config_name(), Some("normalize"), "{bad}");
        }
        let n = Normalize::parse("0.5,0.5,0.5/1,1,1").unwrap();
        assert!(n.check(&spec(Some(vec![2, 1, 3]))).is_ok());
        assert!(n.check(&spec(Some(vec![3, 2, 1]))).unwrap_err().to_string().contains("1 channels"));
        assert!(n.check(&spec(None)).unwrap_err().to_string().contains("feature shape"));
    }

    #[test]
    fn per_channel_as_torchvision() {
        let n = Normalize::parse("0.485,0.456,0.406/0.229,0.224,0.225").unwrap();
        let x = ndarray::array![[0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6]];
        let b = Batch::new(0, x.clone(), None, vec![0]).unwrap();
        let out = n.apply(b, &mut crate::rng::for_stage(0, 0, 0)).unwrap();
        for j in 0..6 {
            let c = j % 3;
            assert_eq!(out.features[[0, j]], (x[[0, j]] - n.mean[c]) / n.std[c]);
        }
    }
}
