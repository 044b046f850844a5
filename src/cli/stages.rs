//! The augmentation stages the pipeline flags ask for.

use std::sync::Arc;

use std::path::Path;

use shardmix::nn::load_generator;
use shardmix::{Error, ErrorKind, Inject, MixMode, Mixup, Origin, Result, ShardSet, Stage};

use super::args::Settings;

/// Injection stages first (so Mixup mixes synthetic rows too), then Mixup.
pub fn build(settings: &Settings, set: &ShardSet) -> Result<Vec<Arc<dyn Stage>>> {
    let _ = set;
    let mut stages: Vec<Arc<dyn Stage>> = Vec::new();
    if let Some(path) = &settings.vae {
        stages.push(Arc::new(inject(path, Origin::Vae, settings.vae_fraction)?));
    }
    if let Some(path) = &settings.gan {
        stages.push(Arc::new(inject(path, Origin::Gan, settings.gan_fraction)?));
    }
    if let Some(m) = mixup(settings)? {
        stages.push(Arc::new(m));
    }
    Ok(stages)
}

/// The Mixup/CutMix stage, or `None` when both are off.
pub fn mixup(s: &Settings) -> Result<Option<Mixup>> {
    if s.mixup_alpha == 0.0 && s.cutmix_alpha == 0.0 {
        return Ok(None);
    }
    let mode = match s.mixup_mode.as_str() {
        "elem" => MixMode::Elem,
        "batch" => MixMode::Batch,
        "pair" => MixMode::Pair,
        other => return Err(Error::config("mixup_mode", format!("'{other}' is not one of elem, batch, pair"))),
    };
    let mut m = Mixup::new(s.mixup_alpha)?.mode(mode).prob(s.mixup_prob)?.label_smoothing(s.label_smoothing)?;
    if s.cutmix_alpha > 0.0 {
        let shape = s
            .feature_shape
            .as_deref()
            .ok_or_else(|| Error::config("cutmix_alpha", "CutMix needs --feature-shape HxWxC"))?;
        m = m.cutmix(s.cutmix_alpha)?.switch_prob(s.cutmix_switch_prob)?.feature_shape(shape)?;
    }
    Ok(Some(m))
}

/// An injection stage over the model in `path`, which must be of kind `origin`.
pub fn inject(path: &Path, origin: Origin, fraction: f64) -> Result<Inject> {
    let generator = load_generator(path)?;
    let kind = generator.info().origin;
    if kind != origin {
        return Err(ErrorKind::Model {
            path: path.to_path_buf(),
            message: format!("is a {} model, given as --{}", kind.as_str(), origin.as_str()),
        }
        .into());
    }
    Inject::replace(generator, fraction)
}
