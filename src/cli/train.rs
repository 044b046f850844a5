//! `shardmix train vae|gan`: train a generative model on Parquet data, fed by the pipeline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use shardmix::nn::{DataScale, Gan, GanConfig, Standardization, Vae, VaeConfig};
use shardmix::{Error, Pipeline, Result, Rows, ShardSet};

use super::args::PipelineArgs;

/// Which model to train.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A (conditional) variational autoencoder.
    Vae,
    /// A (conditional) generative adversarial network.
    Gan,
}

/// Arguments of `train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The model to train.
    #[arg(value_enum)]
    pub kind: Kind,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Where to save the model (safetensors); rewritten atomically after every epoch.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Latent size [default: 16].
    #[arg(long, value_name = "N")]
    pub latent: Option<usize>,
    /// Hidden layer widths, comma separated [default: 128].
    #[arg(long, value_name = "W,W")]
    pub hidden: Option<String>,
    /// Learning rate [default: 1e-3 for the VAE, 3e-4 for the GAN].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// Feature scale: unit (data in [0, 1]: BCE, sigmoid output), real (standardised, MSE), or
    /// auto (unit when every value lies in [0, 1]) [default: auto].
    #[arg(long, value_name = "SCALE")]
    pub scale: Option<String>,
}

/// A model being trained.
pub enum Model {
    /// A VAE.
    Vae(Box<Vae>),
    /// A GAN.
    Gan(Box<Gan>),
}

impl Model {
    /// A new model for the data of `set`.
    pub fn new(
        kind: Kind,
        set: &ShardSet,
        seed: u64,
        latent: Option<usize>,
        hidden: Option<Vec<usize>>,
        lr: Option<f64>,
        scale: DataScale,
    ) -> Result<Model> {
        let spec = set.spec();
        let f = spec.num_features();
        let classes = spec.num_classes();
        let names = Some(spec.feature_names());
        let standardization = match scale {
            DataScale::Real => Some(fit_standardization(set)?),
            DataScale::Unit => None,
        };
        Ok(match kind {
            Kind::Vae => {
                let mut c = VaeConfig {
                    num_classes: classes,
                    feature_names: names,
                    scale,
                    standardization,
                    ..VaeConfig::new(f)
                };
                if let Some(l) = latent {
                    c.latent_dim = l;
                }
                if let Some(h) = hidden {
                    c.hidden = h;
                }
                if let Some(lr) = lr {
                    c.adam.lr = lr as f32;
                }
                Model::Vae(Box::new(Vae::new(c, seed)?))
            }
            Kind::Gan => {
                let mut c = GanConfig {
                    num_classes: classes,
                    feature_names: names,
                    scale,
                    standardization,
                    ..GanConfig::new(f)
                };
                if let Some(l) = latent {
                    c.latent_dim = l;
                }
                if let Some(h) = hidden {
                    c.generator_hidden = h.clone();
                    c.discriminator_hidden = h;
                }
                if let Some(lr) = lr {
                    c.generator_adam.lr = lr as f32;
                    c.discriminator_adam.lr = lr as f32;
                }
                Model::Gan(Box::new(Gan::new(c, seed)?))
            }
        })
    }

    /// One training step; returns the losses as `(name, value)` pairs.
    pub fn step(&mut self, batch: &shardmix::Batch) -> Result<[(&'static str, f32); 2]> {
        Ok(match self {
            Model::Vae(m) => {
                let l = m.train_step(batch)?;
                [("recon", l.reconstruction), ("kl", l.kl)]
            }
            Model::Gan(m) => {
                let l = m.train_step(batch)?;
                [("d_loss", l.d_loss), ("g_loss", l.g_loss)]
            }
        })
    }

    /// Save atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        match self {
            Model::Vae(m) => m.save(path),
            Model::Gan(m) => m.save(path),
        }
    }
}

/// Mean/std of every feature from one pass over the data.
fn fit_standardization(set: &ShardSet) -> Result<Standardization> {
    let s = shardmix::Standardize::fit(set)?;
    Standardization::new(s.mean().to_vec(), s.std().to_vec())
}

/// `unit` when every feature value lies in [0, 1] (one pass over the data), else `real`.
pub fn detect_scale(set: &ShardSet) -> Result<DataScale> {
    let reader = shardmix::Reader::new(std::sync::Arc::new(set.clone()), 0);
    for rg in set.row_groups() {
        let b = reader.read(0, &Rows::Range(rg.first_row..rg.first_row + rg.num_rows))?;
        if b.features.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Ok(DataScale::Real);
        }
    }
    Ok(DataScale::Unit)
}

/// Feed `pipeline` into `model`, showing the losses on `bar`; after every epoch call
/// `on_epoch(epoch)`. Returns the mean losses of the last epoch.
pub fn fit(
    model: &mut Model,
    pipeline: &mut Pipeline,
    bar: &ProgressBar,
    mut on_epoch: impl FnMut(&Model, u64) -> Result<()>,
) -> Result<[(&'static str, f32); 2]> {
    let spe = pipeline.steps_per_epoch().max(1);
    let mut sums = [0f64; 2];
    let mut count = 0u64;
    let mut last = [("", 0f32); 2];
    let mut step = 0u64;
    for batch in pipeline.by_ref() {
        let batch = batch?;
        let losses = model.step(&batch)?;
        for (i, (_, v)) in losses.iter().enumerate() {
            sums[i] += *v as f64;
        }
        count += 1;
        step += 1;
        bar.inc(1);
        if step.is_multiple_of(spe) {
            let means =
                [(losses[0].0, (sums[0] / count as f64) as f32), (losses[1].0, (sums[1] / count as f64) as f32)];
            bar.set_message(format!(
                "epoch {} {} {:.3} {} {:.3}",
                step / spe,
                means[0].0,
                means[0].1,
                means[1].0,
                means[1].1
            ));
            last = means;
            sums = [0.0; 2];
            count = 0;
            on_epoch(model, step / spe)?;
        }
    }
    if count > 0 {
        last = [(last[0].0, (sums[0] / count as f64) as f32), (last[1].0, (sums[1] / count as f64) as f32)];
    }
    Ok(last)
}

pub fn run(mut args: TrainArgs, quiet: bool) -> Result<()> {
    // Augmentation is off unless asked for: the model learns the data as it is.
    args.pipeline.mixup_alpha.get_or_insert(0.0);
    let settings = args.pipeline.settings(None)?;
    let set = settings.open_source()?;
    let scale = match args.scale.as_deref().unwrap_or("auto") {
        "unit" => DataScale::Unit,
        "real" => DataScale::Real,
        "auto" => detect_scale(&set)?,
        other => return Err(Error::config("scale", format!("'{other}' is not one of unit, real, auto"))),
    };
    let hidden = match &args.hidden {
        None => None,
        Some(h) => Some(
            h.split(',')
                .map(|w| {
                    w.trim()
                        .parse::<usize>()
                        .map_err(|_| Error::config("hidden", format!("'{h}' is not a comma list of widths")))
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let mut model = Model::new(args.kind, &set, settings.seed, args.latent, hidden, args.lr, scale)?;
    let stages = settings.stages(&set)?;
    let mut builder = settings.builder(set)?;
    for s in stages {
        builder = builder.stage_arc(s);
    }
    let mut pipeline = builder.build()?;
    let bar = super::progress::bar(pipeline.total_steps(), "steps", quiet);
    let started = Instant::now();
    let out = args.out.clone();
    let last = fit(&mut model, &mut pipeline, &bar, |m, epoch| {
        m.save(&out)?;
        if quiet {
            return Ok(());
        }
        bar.println(format!("epoch {epoch}: checkpoint {}", out.display()));
        Ok(())
    })?;
    model.save(&args.out)?;
    bar.finish_and_clear();
    let stats = pipeline.stats();
    eprintln!(
        "trained {} on {} rows in {:.2} s ({:.0} rows/s); last epoch {} {:.4}, {} {:.4}; saved {}",
        match args.kind {
            Kind::Vae => "vae",
            Kind::Gan => "gan",
        },
        stats.rows,
        started.elapsed().as_secs_f64(),
        stats.rows as f64 / started.elapsed().as_secs_f64().max(1e-9),
        last[0].0,
        last[0].1,
        last[1].0,
        last[1].1,
        args.out.display()
    );
    Ok(())
}
