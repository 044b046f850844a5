//! Training a generative model on Parquet data, fed by the pipeline: what `shardmix train
//! vae|gan` does, for any front end (the command line, Rust code, the Python package).
//!
//! [`train`] is the whole command: options checked as the CLI checks its flags, the model
//! built for the data ([`Model::new`], the feature scale detected unless given), an optional
//! held-out split ([`Validation`]), the pipeline fed into the model ([`fit_epochs`]), the
//! model saved atomically after every epoch and at the end. Augmentation is off unless asked
//! for: callers default `mixup_alpha` to 0 ([`training_defaults`]).
//!
//! [`train_with_stop`] takes a [`StopToken`], checked before every step: once it is stopped
//! the run returns [`crate::ErrorKind::Interrupted`] without saving, so the model file is the
//! one of the last complete epoch (each save is an atomic rewrite), or absent.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::quality::Recognition;
use super::{DataScale, Gan, GanConfig, Standardization, Vae, VaeConfig};
use crate::config::PipelineConfig;
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::source::{Reader, Rows, ShardSet, AUTO_CACHE_MIN_BYTES};
use crate::stage::{Holdout, Standardize};
use crate::stop::StopToken;
use crate::{Batch, Pipeline};

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Kind {
    /// A (conditional) variational autoencoder.
    Vae,
    /// A (conditional) generative adversarial network.
    Gan,
}

impl Kind {
    /// `vae` or `gan`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vae => "vae",
            Kind::Gan => "gan",
        }
    }

    /// `vae` or `gan` (the command's argument).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Config`] on `kind` for anything else.
    pub fn parse(s: &str) -> Result<Kind> {
        match s {
            "vae" => Ok(Kind::Vae),
            "gan" => Ok(Kind::Gan),
            other => Err(Error::config("kind", format!("'{other}' is not one of vae, gan"))),
        }
    }
}

/// The options of `train` besides the pipeline's: its flags `--out`, `--latent`,
/// `--hidden`, `--lr`, `--scale`, `--holdout`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainOptions {
    /// Where to save the model (safetensors); rewritten atomically after every epoch.
    pub out: PathBuf,
    /// Latent size (default 16).
    pub latent: Option<usize>,
    /// Hidden layer widths, comma separated (default 128).
    pub hidden: Option<String>,
    /// Learning rate (default 1e-3 for the VAE, 3e-4 for the GAN).
    pub lr: Option<f64>,
    /// Feature scale: `unit`, `real` or `auto` (default `auto`).
    pub scale: Option<String>,
    /// Fraction of the rows held out for validation (default 0, nothing held out).
    pub holdout: Option<f64>,
    /// Train for at least this many global steps, in whole epochs, when the settings give no
    /// `steps`: the epochs are raised to cover it. The front ends set it to
    /// [`DEFAULT_MIN_STEPS`] when neither `--steps` nor `--epochs` is given
    /// ([`default_min_steps`]), so that the defaults make a useful model: one epoch of the
    /// bundled digits (7 steps) leaves a GAN whose samples are recognised at chance.
    pub min_steps: Option<u64>,
}

/// The step budget of `train` when neither `steps` nor `epochs` is given: on the bundled
/// digits (1,797 rows, batches of 256) about 1,400 epochs, and the class-conditional samples
/// of both models are then recognised as their class almost always (see the README).
pub const DEFAULT_MIN_STEPS: u64 = 10_000;

/// [`TrainOptions::min_steps`] for the pipeline options given (flags over the config file,
/// merged): [`DEFAULT_MIN_STEPS`] when they set neither `steps` nor `epochs`, else `None`.
pub fn default_min_steps(config: &PipelineConfig) -> Option<u64> {
    (config.steps.is_none() && config.epochs.is_none()).then_some(DEFAULT_MIN_STEPS)
}

/// What happens during [`train`], for a front end to show.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TrainEvent {
    /// A note about the data, always shown (the command line prints it on stderr).
    Note(String),
    /// A line of progress (held-out losses, each epoch's losses and checkpoint), hidden by
    /// `--quiet`.
    Info(String),
    /// Training starts: this many steps (when bounded).
    Start(Option<u64>),
    /// One more step.
    Step,
    /// The current epoch's losses, for a progress bar's message.
    Status(String),
}

/// What [`train`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrainSummary {
    /// The model trained.
    pub kind: Kind,
    /// Where it was saved.
    pub out: PathBuf,
    /// Rows the model was fed.
    pub rows: u64,
    /// Steps run.
    pub steps: u64,
    /// Seconds of training.
    pub seconds: f64,
    /// Mean training losses of the last epoch.
    pub last: Losses,
    /// Held-out losses before training, with `holdout`.
    pub held_out_before: Option<Losses>,
    /// Held-out losses after the last epoch, with `holdout`.
    pub held_out_after: Option<Losses>,
    /// How recognisable the model's class-conditional samples are (a class-labelled dataset
    /// only; [`super::quality::recognition`]).
    pub recognition: Option<Recognition>,
}

impl TrainSummary {
    /// The line the command line prints at the end.
    pub fn message(&self) -> String {
        let held = match (&self.held_out_before, &self.held_out_after) {
            (Some(a), Some(b)) => {
                let name = a.0.first().map_or("loss", |(n, _)| *n);
                format!("; held-out {name} {:.4} before training, {:.4} after ({b})", a.main(), b.main())
            }
            _ => String::new(),
        };
        let recognised = match &self.recognition {
            Some(r) => format!("\n{r}"),
            None => String::new(),
        };
        format!(
            "trained {} on {} rows in {} steps, {:.2} s ({:.0} rows/s); last epoch {}{held}; saved {}{recognised}",
            self.kind.as_str(),
            self.rows,
            self.steps,
            self.seconds,
            self.rows as f64 / self.seconds.max(1e-9),
            self.last,
            self.out.display()
        )
    }
}

/// Set the pipeline defaults of training on `config`: augmentation off (`mixup_alpha` 0)
/// unless given, so that the model learns the data as it is. Apply to the options given
/// before merging a config file, as the command line does.
pub fn training_defaults(config: &mut PipelineConfig) {
    config.mixup_alpha.get_or_insert(0.0);
}

/// The widest latent or hidden layer `train` accepts: a 16,384 × 16,384 layer already holds
/// 1 GiB of `f32` weights (and as much again for each Adam moment).
pub const MAX_WIDTH: usize = 1 << 14;

/// Check a `--latent` or `--hidden` width against [1, [`MAX_WIDTH`]].
fn check_width(name: &str, width: Option<usize>) -> Result<()> {
    match width {
        Some(w) if !(1..=MAX_WIDTH).contains(&w) => {
            Err(Error::config(name, format!("widths must be in [1, {MAX_WIDTH}], got {w}")))
        }
        _ => Ok(()),
    }
}

/// The most epoch lines a run prints (see [`train_with_stop`]).
const EPOCH_LINES: u64 = 20;

/// Rows per evaluation batch of the held-out rows.
const EVAL_ROWS: usize = 1024;

/// Named loss values, printed as `name value, name value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Losses(pub Vec<(&'static str, f64)>);

impl Losses {
    /// The first value (the VAE's negative ELBO, the GAN's D loss).
    pub fn main(&self) -> f64 {
        self.0.first().map_or(f64::NAN, |(_, v)| *v)
    }
}

impl fmt::Display for Losses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, v)) in self.0.iter().enumerate() {
            write!(f, "{}{name} {v:.4}", if i > 0 { ", " } else { "" })?;
        }
        Ok(())
    }
}

/// The held-out rows and a reader for them.
pub struct Validation {
    holdout: Holdout,
    reader: Reader,
    rows: u64,
}

impl Validation {
    /// The held-out split of `set` (`fraction > 0`).
    pub fn new(set: &ShardSet, fraction: f64, seed: u64, cache_bytes: usize) -> Result<Self> {
        let holdout = Holdout::new(fraction, seed)?;
        let rows = holdout.held_out_rows(set.num_rows()).count() as u64;
        if rows == 0 {
            return Err(Error::config(
                "holdout",
                format!("{fraction} of {} rows holds out no row; raise it or drop --holdout", set.num_rows()),
            ));
        }
        Ok(Validation { holdout, reader: Reader::new(Arc::new(set.clone()), cache_bytes), rows })
    }

    /// The split.
    pub fn holdout(&self) -> Holdout {
        self.holdout
    }

    /// Number of held-out rows.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// `model`'s losses on every held-out row (means over rows).
    pub fn evaluate(&self, model: &Model) -> Result<Losses> {
        let mut sums: Vec<(&'static str, f64)> = Vec::new();
        let mut n = 0usize;
        for batch in self.holdout.batches(&self.reader, EVAL_ROWS)? {
            let batch = batch?;
            let rows = batch.rows();
            let losses = model.eval(&batch)?;
            if sums.is_empty() {
                sums = losses.0.iter().map(|&(name, _)| (name, 0.0)).collect();
            }
            for (s, (_, v)) in sums.iter_mut().zip(&losses.0) {
                s.1 += v * rows as f64;
            }
            n += rows;
        }
        Ok(Losses(sums.into_iter().map(|(name, s)| (name, s / n.max(1) as f64)).collect()))
    }
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
    pub fn step(&mut self, batch: &Batch) -> Result<[(&'static str, f32); 2]> {
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

    /// The losses on `batch` without training: the VAE's negative ELBO with its
    /// reconstruction and KL terms, the GAN's D loss (clean labels) and G loss.
    pub fn eval(&self, batch: &Batch) -> Result<Losses> {
        Ok(match self {
            Model::Vae(m) => {
                let l = m.eval_loss(batch)?;
                Losses(vec![("neg_elbo", l.total as f64), ("recon", l.reconstruction as f64), ("kl", l.kl as f64)])
            }
            Model::Gan(m) => {
                let l = m.eval_loss(batch)?;
                Losses(vec![("d_loss", l.d_loss as f64), ("g_loss", l.g_loss as f64)])
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
    let s = Standardize::fit(set)?;
    Standardization::new(s.mean().to_vec(), s.std().to_vec())
}

/// `unit` when every feature value lies in [0, 1] (one pass over the data), else `real`.
pub fn detect_scale(set: &ShardSet) -> Result<DataScale> {
    let reader = Reader::new(Arc::new(set.clone()), 0);
    for rg in set.row_groups() {
        let b = reader.read(0, &Rows::Range(rg.first_row..rg.first_row + rg.num_rows))?;
        if b.features.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Ok(DataScale::Real);
        }
    }
    Ok(DataScale::Unit)
}

/// Feed `pipeline` into `model`, telling `on_event` of each step ([`TrainEvent::Step`]) and
/// epoch ([`TrainEvent::Status`]); after every epoch call `on_epoch(epoch)`. Returns the
/// mean losses of the last epoch.
pub fn fit(
    model: &mut Model,
    pipeline: &mut Pipeline,
    on_event: &mut dyn FnMut(TrainEvent),
    mut on_epoch: impl FnMut(&Model, u64) -> Result<()>,
) -> Result<[(&'static str, f32); 2]> {
    let last = fit_epochs(model, pipeline, on_event, |m, epoch, _| on_epoch(m, epoch))?;
    let get = |i: usize| last.0.get(i).map_or(("", 0.0), |&(n, v)| (n, v as f32));
    Ok([get(0), get(1)])
}

/// [`fit`], giving `on_epoch(model, epoch, mean training losses of the epoch)` too. Empty
/// batches (every row held out) are skipped.
pub fn fit_epochs(
    model: &mut Model,
    pipeline: &mut Pipeline,
    on_event: &mut dyn FnMut(TrainEvent),
    on_epoch: impl FnMut(&Model, u64, &Losses) -> Result<()>,
) -> Result<Losses> {
    fit_until(model, pipeline, &StopToken::new(), &|_| (String::new(), 0, String::new()), on_event, on_epoch)
}

/// [`fit_epochs`], checking `stop` before every step; `interrupted(step)` words the error.
fn fit_until(
    model: &mut Model,
    pipeline: &mut Pipeline,
    stop: &StopToken,
    interrupted: &dyn Fn(u64) -> (String, u64, String),
    on_event: &mut dyn FnMut(TrainEvent),
    mut on_epoch: impl FnMut(&Model, u64, &Losses) -> Result<()>,
) -> Result<Losses> {
    let spe = pipeline.steps_per_epoch().max(1);
    let mut names = [""; 2];
    let mut sums = [0f64; 2];
    let mut count = 0u64;
    let mut last = Losses(Vec::new());
    let mut step = 0u64;
    let mean = |names: [&'static str; 2], sums: [f64; 2], count: u64| {
        Losses(names.iter().zip(sums).map(|(&n, s)| (n, s / count.max(1) as f64)).collect())
    };
    loop {
        stop.check(|| interrupted(step))?;
        let Some(batch) = pipeline.next() else { break };
        let batch = batch?;
        step += 1;
        on_event(TrainEvent::Step);
        if batch.rows() > 0 {
            let losses = model.step(&batch)?;
            for (i, (name, v)) in losses.iter().enumerate() {
                names[i] = name;
                sums[i] += *v as f64;
            }
            count += 1;
        }
        if step.is_multiple_of(spe) {
            last = mean(names, sums, count);
            on_event(TrainEvent::Status(format!("epoch {} {last}", step / spe)));
            sums = [0.0; 2];
            count = 0;
            on_epoch(model, step / spe, &last)?;
        }
    }
    if count > 0 {
        last = mean(names, sums, count);
    }
    Ok(last)
}

/// Train a model of `kind` on the data of `settings` and save it to `options.out`: what
/// `shardmix train` does; see the [module docs](self). `on_event` hears the notes and
/// progress the command line shows.
///
/// # Errors
/// [`crate::ErrorKind::Config`] naming the option (`scale`, `hidden`, `latent`, `holdout`,
/// ...), and any error of opening the data, building the pipeline, training or saving.
pub fn train(
    kind: Kind,
    settings: &Settings,
    options: &TrainOptions,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<TrainSummary> {
    train_with_stop(kind, settings, options, &StopToken::new(), on_event)
}

/// [`train`], checking `stop` before every step (see the [module docs](self)).
///
/// # Errors
/// As [`train`], and [`crate::ErrorKind::Interrupted`] once `stop` is stopped: nothing is
/// saved then, the model file of the last complete epoch (if any) is left as it is.
pub fn train_with_stop(
    kind: Kind,
    settings: &Settings,
    options: &TrainOptions,
    stop: &StopToken,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<TrainSummary> {
    let interrupted = |step: u64| {
        let out = options.out.display();
        let state = if options.out.exists() {
            format!("{out} is the model of the last complete epoch (or of an earlier run), left untouched")
        } else {
            format!("no model was saved to {out}")
        };
        ("training".to_string(), step, state)
    };
    stop.check(|| interrupted(0))?;
    let set = settings.open_source()?;
    // The models train on floats.
    set.spec().pixels.require_float("train")?;
    let scale = match options.scale.as_deref().unwrap_or("auto") {
        "unit" => DataScale::Unit,
        "real" => DataScale::Real,
        "auto" => detect_scale(&set)?,
        other => return Err(Error::config("scale", format!("'{other}' is not one of unit, real, auto"))),
    };
    let hidden = match &options.hidden {
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
    check_width("latent", options.latent)?;
    for &w in hidden.iter().flatten() {
        check_width("hidden", Some(w))?;
    }
    let mut model = Model::new(kind, &set, settings.seed, options.latent, hidden, options.lr, scale)?;
    let validation = match options.holdout {
        Some(f) if f != 0.0 => {
            Some(Validation::new(&set, f, settings.seed, settings.cache_bytes()?.unwrap_or(AUTO_CACHE_MIN_BYTES))?)
        }
        _ => None,
    };
    let mut settings = settings.clone();
    if let (None, Some(min)) = (settings.steps, options.min_steps) {
        let per_epoch =
            crate::Order::parse(&settings.order, settings.batch_size)?.steps_per_epoch(set.num_rows()).max(1);
        let epochs = min.div_ceil(per_epoch).max(settings.epochs);
        if epochs > settings.epochs {
            on_event(TrainEvent::Note(format!(
                "no --steps or --epochs given: training {epochs} epochs of {per_epoch} steps (at least {min} steps, the default budget)"
            )));
            settings.epochs = epochs;
        }
    }
    let settings = &settings;
    let stages = settings.stages(&set)?;
    let mut builder = settings.builder(set.clone())?;
    if let Some(v) = &validation {
        // First, so that no later stage (Mixup) sees a held-out row.
        builder = builder.stage(v.holdout());
    }
    for s in stages {
        builder = builder.stage_arc(s);
    }
    let mut pipeline = builder.build()?;
    if let Some(note) = crate::report::unread_note(&pipeline) {
        on_event(TrainEvent::Note(note));
    }
    on_event(TrainEvent::Start(pipeline.total_steps()));
    let initial = match &validation {
        None => None,
        Some(v) => {
            stop.check(|| interrupted(0))?;
            let l = v.evaluate(&model)?;
            on_event(TrainEvent::Info(format!(
                "held-out: {} rows (fraction {} by row id, seed {}); before training: {l}",
                v.rows(),
                v.holdout().fraction(),
                settings.seed
            )));
            Some(l)
        }
    };
    let started = Instant::now();
    let out = options.out.clone();
    let mut last_held_out = initial.clone();
    // Both the step events of `fit_epochs` and the epoch lines below go to `on_event`, one
    // call at a time.
    let events = std::cell::RefCell::new(on_event);
    let emit = |e: TrainEvent| (events.borrow_mut())(e);
    // An epoch line (and its held-out evaluation) for each of at most 20 epochs: every one of
    // a short run, every `every`-th and the last of a long one.
    let epochs_total = pipeline.total_steps().map(|t| t.div_ceil(pipeline.steps_per_epoch().max(1)));
    let every = epochs_total.map_or(1, |e| e.div_ceil(EPOCH_LINES).max(1));
    let last = fit_until(&mut model, &mut pipeline, stop, &interrupted, &mut |e| emit(e), |m, epoch, train| {
        m.save(&out)?;
        if epoch % every != 0 && Some(epoch) != epochs_total {
            return Ok(());
        }
        let held = match &validation {
            Some(v) => {
                let l = v.evaluate(m)?;
                let msg = format!("; held-out {l}");
                last_held_out = Some(l);
                msg
            }
            None => String::new(),
        };
        emit(TrainEvent::Info(format!("epoch {epoch}: train {train}{held}; checkpoint {}", out.display())));
        Ok(())
    })?;
    model.save(&options.out)?;
    let stats = pipeline.stats();
    let seconds = started.elapsed().as_secs_f64();
    // The final model's held-out losses (the epoch lines may have skipped its epoch, or the
    // run may end inside an epoch).
    if let Some(v) = &validation {
        last_held_out = Some(v.evaluate(&model)?);
    }
    stop.check(|| interrupted(stats.batches))?;
    let generator = super::load_generator(&options.out)?;
    let recognition =
        super::quality::recognition(&set, validation.as_ref().map(|v| v.holdout()), generator.as_ref(), settings.seed)?;
    Ok(TrainSummary {
        kind,
        out: options.out.clone(),
        rows: stats.rows,
        steps: stats.batches,
        seconds,
        last,
        held_out_before: initial,
        held_out_after: last_held_out,
        recognition,
    })
}
