//! [`Meta`]: what a VAE and a GAN know about their data besides their networks — feature,
//! class and latent counts, the scale and its standardisation, column names, the file they
//! came from — and the code both need for it: checking hyper-parameters, preparing batches,
//! describing themselves in a file, rebuilding from one, and handing out samplers.

use std::path::{Path, PathBuf};

use crate::batch::{Batch, Origin};
use crate::error::{Error, ErrorKind, Result};
use crate::nn::activation::Activation;
use crate::nn::input::{self, prepare, Prepared};
use crate::nn::mlp::Mlp;
use crate::nn::sampler::LatentDecoder;
use crate::nn::scale::{DataScale, Standardization};
use crate::nn::weights::{Architecture, ModelKind, Network, Tensors, FORMAT_VERSION};
use crate::stage::ModelInfo;

/// Stream of the model rng used for weight initialisation.
pub(crate) const INIT_STREAM: u64 = u64::MAX;
/// Streams `EVAL_BASE | step` serve evaluation.
pub(crate) const EVAL_BASE: u64 = 1 << 63;

/// The data side of a generative model.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) kind: ModelKind,
    pub(crate) num_features: usize,
    pub(crate) num_classes: Option<usize>,
    pub(crate) latent_dim: usize,
    pub(crate) scale: DataScale,
    pub(crate) standardization: Option<Standardization>,
    pub(crate) feature_names: Option<Vec<String>>,
    /// The file the model was loaded from (empty for a new model).
    pub(crate) path: PathBuf,
}

/// The output activation for data of `scale`: a sigmoid for `[0, 1]`, none for real values.
pub(crate) fn output_activation(scale: DataScale) -> Activation {
    match scale {
        DataScale::Unit => Activation::Sigmoid,
        DataScale::Real => Activation::Identity,
    }
}

impl Meta {
    /// A new model's data side (checked by the config's `validate` beforehand).
    pub(crate) fn new(
        kind: ModelKind,
        (num_features, num_classes, latent_dim): (usize, Option<usize>, usize),
        scale: DataScale,
        standardization: Option<Standardization>,
        feature_names: Option<Vec<String>>,
    ) -> Self {
        Meta {
            kind,
            num_features,
            num_classes,
            latent_dim,
            scale,
            standardization,
            feature_names,
            path: PathBuf::new(),
        }
    }

    /// `vae` or `gan`, the prefix of parameter names in errors.
    pub(crate) fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    /// A model error about the file at `path`.
    fn file_error(path: &Path, message: String) -> Error {
        ErrorKind::Model { path: path.to_path_buf(), message }.into()
    }

    /// A loaded file's data side and its networks `names` (in that order), checking that it
    /// holds a model of `kind` and that every tensor is used.
    ///
    /// # Errors
    /// A model error naming the file and what does not fit.
    pub(crate) fn from_file<const N: usize>(
        kind: ModelKind,
        arch: Architecture,
        mut tensors: Tensors,
        names: [&str; N],
    ) -> Result<(Self, [Mlp; N])> {
        let path = tensors.path().to_path_buf();
        let err = |m: String| Self::file_error(&path, m);
        if arch.kind != kind {
            return Err(err(format!("holds a {}, not a {}", arch.kind.as_str(), kind.as_str())));
        }
        let mut nets = Vec::with_capacity(N);
        for name in names {
            let net = arch.network(name).ok_or_else(|| err(format!("network '{name}' is missing")))?;
            nets.push(tensors.mlp(net)?);
        }
        tensors.finish()?;
        let nets: [Mlp; N] = nets.try_into().map_err(|_| err("network count".into()))?;
        let standardization = arch.standardization().map_err(err)?;
        let dims = (arch.num_features, arch.num_classes, arch.latent_dim);
        let meta =
            Meta { standardization, path: path.clone(), ..Self::new(kind, dims, arch.scale, None, arch.feature_names) };
        Ok((meta, nets))
    }

    /// The file's architecture description with these `networks`.
    pub(crate) fn architecture(&self, networks: Vec<Network>) -> Architecture {
        let (mean, std) = match &self.standardization {
            Some(s) => (Some(s.mean().to_vec()), Some(s.std().to_vec())),
            None => (None, None),
        };
        Architecture {
            version: FORMAT_VERSION,
            kind: self.kind,
            num_features: self.num_features,
            num_classes: self.num_classes,
            latent_dim: self.latent_dim,
            scale: self.scale,
            mean,
            std,
            feature_names: self.feature_names.clone(),
            networks,
        }
    }

    /// Set the standardisation of a `real` model.
    ///
    /// # Errors
    /// A config error for a `unit` model or a wrong feature count.
    pub(crate) fn set_standardization(&mut self, s: Standardization) -> Result<()> {
        let (model, dims) = (self.name(), (self.num_features, self.num_classes, self.latent_dim));
        validate_common(model, dims, &[], &[], self.scale, Some(&s), None)?;
        self.standardization = Some(s);
        Ok(())
    }

    /// Check a training batch and build the networks' inputs; a `real` model without a
    /// standardisation fits it on this batch first.
    pub(crate) fn prepare_train<'a>(&mut self, batch: &'a Batch) -> Result<Prepared<'a>> {
        input::check_features(self.name(), batch, self.num_features)?;
        if self.scale == DataScale::Real && self.standardization.is_none() {
            self.standardization = Some(Standardization::fit(batch.features.view())?);
        }
        self.prepare_eval(batch)
    }

    /// Check an evaluation batch and build the networks' inputs.
    ///
    /// # Errors
    /// Also a model error for a `real` model that has no standardisation yet.
    pub(crate) fn prepare_eval<'a>(&self, batch: &'a Batch) -> Result<Prepared<'a>> {
        if self.scale == DataScale::Real && self.standardization.is_none() {
            return Err(input::model_error(format!(
                "{}: no standardisation yet (train a step or set one first)",
                self.name()
            )));
        }
        let s = self.standardization.as_ref();
        prepare(self.name(), batch, self.num_features, self.num_classes, self.scale, s)
    }

    /// The sampler parts for the latent → feature network `net`: its [`ModelInfo`] and a
    /// snapshot of the network with the conditioning and the output scale.
    pub(crate) fn sampler_parts(&self, net: &Mlp) -> (ModelInfo, LatentDecoder) {
        let origin = match self.kind {
            ModelKind::Vae => Origin::Vae,
            ModelKind::Gan => Origin::Gan,
        };
        let info = ModelInfo {
            path: self.path.clone(),
            origin,
            num_features: self.num_features,
            num_classes: self.num_classes,
            feature_names: self.feature_names.clone(),
        };
        let decoder = LatentDecoder {
            net: net.snapshot(),
            latent_dim: self.latent_dim,
            num_classes: self.num_classes,
            standardization: self.standardization.clone(),
        };
        (info, decoder)
    }
}

/// Check the hyper-parameters a VAE and a GAN share: `dims` = (features, classes, latent),
/// the hidden widths and activations (named), and the scale with its standardisation.
///
/// # Errors
/// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the first invalid one.
pub(crate) fn validate_common(
    model: &str,
    (num_features, num_classes, latent_dim): (usize, Option<usize>, usize),
    hidden: &[(&str, &[usize])],
    activations: &[(&str, Activation)],
    scale: DataScale,
    standardization: Option<&Standardization>,
    feature_names: Option<&[String]>,
) -> Result<()> {
    if num_features == 0 {
        return Err(Error::config(format!("{model}.num_features"), "must be at least 1"));
    }
    if num_classes == Some(0) {
        return Err(Error::config(
            format!("{model}.num_classes"),
            "must be at least 1 (use None for an unconditional model)",
        ));
    }
    if latent_dim == 0 {
        return Err(Error::config(format!("{model}.latent_dim"), "must be at least 1"));
    }
    for (name, sizes) in hidden {
        if sizes.is_empty() {
            return Err(Error::config(*name, "needs at least one hidden layer"));
        }
        if let Some(i) = sizes.iter().position(|&s| s == 0) {
            return Err(Error::config(format!("{name}[{i}]"), "must be at least 1"));
        }
    }
    for (name, act) in activations {
        act.validate(name)?;
    }
    match (scale, standardization) {
        (DataScale::Unit, Some(_)) => {
            return Err(Error::config(format!("{model}.standardization"), "only applies to scale `real`"));
        }
        (DataScale::Real, Some(s)) if s.len() != num_features => {
            return Err(Error::config(
                format!("{model}.standardization"),
                format!("has {} features, the model {num_features}", s.len()),
            ));
        }
        _ => {}
    }
    if let Some(names) = feature_names {
        if names.len() != num_features {
            return Err(Error::config(
                format!("{model}.feature_names"),
                format!("{} names for {num_features} features", names.len()),
            ));
        }
    }
    Ok(())
}
