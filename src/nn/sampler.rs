//! Inference snapshots of trained models: [`VaeSampler`] (the VAE's decoder) and
//! [`GanSampler`] (the GAN's generator), both [`Generator`]s that are `Send + Sync` and meant
//! to be shared through an `Arc` by every pipeline worker.

use std::path::Path;
use std::sync::Arc;

use ndarray::{concatenate, Array2, ArrayView2, Axis};

use crate::error::{Error, ErrorKind, Result};
use crate::nn::init::randn;
use crate::nn::mlp::Mlp;
use crate::nn::par;
use crate::nn::scale::Standardization;
use crate::nn::weights::{self, ModelKind};
use crate::rng::StepRng;
use crate::stage::{Generator, ModelInfo};

/// One-hot rows for `classes` over `num_classes`.
///
/// # Errors
/// A shape error naming the first class out of range.
pub(crate) fn one_hot(context: &str, classes: &[usize], num_classes: usize) -> Result<Array2<f32>> {
    let mut out = Array2::zeros((classes.len(), num_classes));
    for (i, &c) in classes.iter().enumerate() {
        if c >= num_classes {
            return Err(Error::shape(
                format!("{context}: class of row {i}"),
                format!("a class in 0..{num_classes}"),
                c,
            ));
        }
        out[[i, c]] = 1.0;
    }
    Ok(out)
}

/// Columns of `a` followed by those of `b` (same row count).
pub(crate) fn hcat(a: ArrayView2<f32>, b: Option<ArrayView2<f32>>) -> Array2<f32> {
    match b {
        None => a.to_owned(),
        // Row counts are equal by construction at every call site.
        Some(b) => concatenate(Axis(1), &[a, b]).unwrap_or_else(|_| a.to_owned()),
    }
}

/// A latent → feature network with its conditioning and output scale.
#[derive(Debug, Clone)]
pub(crate) struct LatentDecoder {
    pub(crate) net: Mlp,
    pub(crate) latent_dim: usize,
    pub(crate) num_classes: Option<usize>,
    pub(crate) standardization: Option<Standardization>,
}

impl LatentDecoder {
    fn decode(&self, context: &str, z: ArrayView2<f32>, classes: Option<&[usize]>) -> Result<Array2<f32>> {
        if z.ncols() != self.latent_dim {
            return Err(Error::shape(format!("{context}: latent columns"), self.latent_dim, z.ncols()));
        }
        let cond = match (self.num_classes, classes) {
            (Some(c), Some(cls)) => {
                if cls.len() != z.nrows() {
                    return Err(Error::shape(
                        format!("{context}: classes"),
                        format!("{} classes (one per row)", z.nrows()),
                        cls.len(),
                    ));
                }
                Some(one_hot(context, cls, c)?)
            }
            (Some(c), None) => {
                return Err(Error::shape(
                    format!("{context}: classes"),
                    format!("one class in 0..{c} per row (the model is conditional)"),
                    "none",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::shape(
                    format!("{context}: classes"),
                    "none (the model is unconditional)",
                    "a class per row",
                ));
            }
            (None, None) => None,
        };
        let input = cond.as_ref().map(|c| hcat(z, Some(c.view())));
        let input = input.as_ref().map_or(z, |i| i.view());
        Ok(par::in_pool(input.nrows(), self.net.macs_per_row(), || {
            let mut out = self.net.forward(input);
            if let Some(s) = &self.standardization {
                s.invert(out.view_mut());
            }
            out
        }))
    }

    fn generate(
        &self,
        context: &str,
        classes: Option<&[usize]>,
        count: usize,
        rng: &mut StepRng,
    ) -> Result<Array2<f32>> {
        let z = randn(rng, count, self.latent_dim);
        self.decode(context, z.view(), classes)
    }
}

macro_rules! sampler {
    ($name:ident, $kind:expr, $what:literal, $part:literal) => {
        #[doc = concat!("An inference snapshot of a ", $what, "'s ", $part, ": a [`Generator`].")]
        ///
        /// `generate(classes, count, rng)` draws `count × latent` standard normals from `rng`,
        /// appends the one-hot classes (conditional models), and runs the network once for
        /// the whole count; outputs are in the data's own scale (standardisation undone).
        #[derive(Debug, Clone)]
        pub struct $name {
            info: ModelInfo,
            inner: LatentDecoder,
        }

        impl $name {
            pub(crate) fn from_parts(info: ModelInfo, inner: LatentDecoder) -> Self {
                $name { info, inner }
            }

            #[doc = concat!("Load a ", $what, " file written by `save` (or by PyTorch, see [`weights`](crate::nn::weights)).")]
            ///
            /// # Errors
            /// An I/O error, or [`ErrorKind::Model`](crate::ErrorKind::Model) naming what does
            /// not fit (wrong kind, missing tensor, wrong shape or dtype, bad metadata).
            pub fn load(path: impl AsRef<Path>) -> Result<Self> {
                let path = path.as_ref();
                let (arch, tensors) = weights::load(path)?;
                if arch.kind != $kind {
                    return Err(ErrorKind::Model {
                        path: path.to_path_buf(),
                        message: format!("holds a {}, not a {}", arch.kind.as_str(), $kind.as_str()),
                    }
                    .into());
                }
                Self::from_file(arch, tensors)
            }

            /// The latent size.
            pub fn latent_dim(&self) -> usize {
                self.inner.latent_dim
            }

            /// Decode explicit latents `z` (`rows × latent_dim`), with one class per row for a
            /// conditional model; outputs in the data's scale.
            ///
            /// # Errors
            /// A shape error when `z`'s width or the classes do not fit the model.
            pub fn decode(&self, z: ArrayView2<f32>, classes: Option<&[usize]>) -> Result<Array2<f32>> {
                self.inner.decode(stringify!($name), z, classes)
            }
        }

        impl Generator for $name {
            fn info(&self) -> &ModelInfo {
                &self.info
            }

            fn generate(&self, classes: Option<&[usize]>, count: usize, rng: &mut StepRng) -> Result<Array2<f32>> {
                self.inner.generate(stringify!($name), classes, count, rng)
            }
        }
    };
}

sampler!(VaeSampler, ModelKind::Vae, "VAE", "decoder");
sampler!(GanSampler, ModelKind::Gan, "GAN", "generator");

impl VaeSampler {
    fn from_file(arch: weights::Architecture, tensors: weights::Tensors) -> Result<Self> {
        let vae = crate::nn::vae::Vae::from_file(arch, tensors)?;
        Ok(vae.sampler())
    }
}

impl GanSampler {
    fn from_file(arch: weights::Architecture, tensors: weights::Tensors) -> Result<Self> {
        let gan = crate::nn::gan::Gan::from_file(arch, tensors)?;
        Ok(gan.sampler())
    }
}

/// Load a VAE or GAN file as a shareable [`Generator`], choosing by the kind in its metadata.
///
/// # Errors
/// As [`VaeSampler::load`].
///
/// # Example
/// ```
/// use shardmix::nn::{load_generator, Gan, GanConfig};
/// use shardmix::{Generator, Origin};
/// let dir = tempfile::tempdir().map_err(|e| shardmix::Error::io("tmp", e))?;
/// let path = dir.path().join("gan.safetensors");
/// Gan::new(GanConfig::new(5), 3)?.save(&path)?;
/// let generator = load_generator(&path)?;
/// assert_eq!(generator.info().origin, Origin::Gan);
/// let rows = generator.generate(None, 7, &mut shardmix::rng::derive(0, 0, 0))?;
/// assert_eq!(rows.dim(), (7, 5));
/// # Ok::<(), shardmix::Error>(())
/// ```
pub fn load_generator(path: impl AsRef<Path>) -> Result<Arc<dyn Generator>> {
    let path = path.as_ref();
    let (arch, tensors) = weights::load(path)?;
    Ok(match arch.kind {
        ModelKind::Vae => Arc::new(VaeSampler::from_file(arch, tensors)?),
        ModelKind::Gan => Arc::new(GanSampler::from_file(arch, tensors)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_are_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<VaeSampler>();
        assert_send_sync::<GanSampler>();
        assert_send_sync::<Arc<dyn Generator>>();
    }

    #[test]
    fn one_hot_checks_range() {
        assert_eq!(one_hot("t", &[1, 0], 2).unwrap(), ndarray::array![[0.0f32, 1.0], [1.0, 0.0]]);
        assert_eq!(one_hot("t", &[2], 2).unwrap_err().shape_context(), Some("t: class of row 0"));
    }
}
