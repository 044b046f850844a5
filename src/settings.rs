//! [`Settings`]: the pipeline settings in force — a [`PipelineConfig`] (flags or TOML) merged
//! over the defaults — and how they become a [`ShardSet`], the augmentation stages and a
//! [`Pipeline`]: what `shardmix augment|stream|train` do with their flags, for any front end
//! (the command line, Rust code, bindings).
//!
//! # Example
//! ```
//! use shardmix::PipelineConfig;
//! let config = PipelineConfig {
//!     data: Some(vec!["examples/data/digits.parquet".into()]),
//!     batch_size: Some(64),
//!     steps: Some(3),
//!     ..Default::default()
//! };
//! let settings = config.settings(None)?;
//! assert_eq!((settings.batch_size, settings.mixup_alpha), (64, 0.2));
//! let batches = settings.pipeline()?.collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(batches.len(), 3);
//! # Ok::<(), shardmix::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::PipelineConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::nn::load_generator;
use crate::order::Order;
use crate::pipeline::{Pipeline, PipelineBuilder, MAX_PREFETCH, MAX_WORKERS};
use crate::sink::fnv1a64;
use crate::source::bytes::CacheConfig;
use crate::source::{BadShard, Features, NullPolicy, ShardSet, Target};
use crate::spec::{Pixels, MAX_CLASSES};
use crate::stage::check_alpha;
use crate::stage::{HorizontalFlip, Inject, MixMode, Mixup, Normalize, RandomResizedCrop, Stage};
use crate::Origin;

/// Every pipeline setting with its value in force (given values over defaults), as made by
/// [`PipelineConfig::settings`]. Its JSON form (serde) is the run's configuration, and
/// [`Settings::fingerprint`] its identity.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Settings {
    /// Input paths: files, directories or globs (`--data`).
    pub data: Vec<PathBuf>,
    /// Feature columns (`--features`); `None`: every numeric column but the label.
    pub features: Option<String>,
    /// Target column (`--label`); `None`: `label`, `target`, `y` or `class` if present.
    pub label: Option<String>,
    /// Classes of an integer label (`--num-classes`); `None`: largest label + 1.
    pub num_classes: Option<usize>,
    /// No target column (`--no-label`).
    pub no_label: bool,
    /// Rows per batch (`--batch-size`, default 256).
    pub batch_size: usize,
    /// Batch order: `offset`, `sequential` or `shuffled` (`--order`, default `offset`).
    pub order: String,
    /// Global steps to run (`--steps`); `None`: run [`Settings::epochs`] epochs.
    pub steps: Option<u64>,
    /// Epochs to run when `steps` is `None` (`--epochs`, default 1).
    pub epochs: u64,
    /// The local step to resume at (`--start-step`, default 0).
    pub start_step: u64,
    /// Worker threads (`--workers`); `None`: the available cores. Not part of the output's
    /// identity (any worker count gives the same output).
    #[serde(skip)]
    pub workers: Option<usize>,
    /// Batches prepared ahead (`--prefetch`); `None`: the pipeline's default. Not part of the
    /// output's identity.
    #[serde(skip)]
    pub prefetch: Option<usize>,
    /// Seed of every random draw (`--seed`, default 0).
    pub seed: u64,
    /// Data-parallel rank (`--rank`, default `$RANK` or 0).
    pub rank: usize,
    /// Data-parallel world size (`--world-size`, default `$WORLD_SIZE` or 1).
    pub world_size: usize,
    /// Null/NaN/Inf policy: `error`, `skip-row` or `fill(VALUE)` (`--null-policy`, default `error`).
    pub null_policy: String,
    /// Policy for a shard unreadable mid-run: `fail` or `skip` (`--on-bad-shard`, default `fail`).
    pub on_bad_shard: String,
    /// Mixup α; 0 turns Mixup off (`--mixup-alpha`, default 0.2).
    pub mixup_alpha: f64,
    /// Mixup mode: `elem`, `batch` or `pair` (`--mixup-mode`, default `elem`).
    pub mixup_mode: String,
    /// Probability of mixing a batch (`--mixup-prob`, default 1).
    pub mixup_prob: f64,
    /// Label smoothing before mixing (`--label-smoothing`, default 0).
    pub label_smoothing: f64,
    /// CutMix α; 0 turns CutMix off (`--cutmix-alpha`, default 0).
    pub cutmix_alpha: f64,
    /// Probability of CutMix instead of Mixup when both are on (`--cutmix-switch-prob`, default 0.5).
    pub cutmix_switch_prob: f64,
    /// Tensor shape of each row's features, e.g. `[28, 28, 1]` (`--feature-shape`).
    pub feature_shape: Option<Vec<usize>>,
    /// Per-channel `MEAN/STD` of a [`Normalize`] stage run after the image stages (`--normalize`), or `None`.
    /// Left out of the JSON form when unset, so that earlier runs keep their fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalize: Option<String>,
    /// Output size `S` or `HxW` of a [`RandomResizedCrop`] stage run first
    /// (`--random-resized-crop`), or `None`. Left out of the JSON form when unset (as the
    /// other image stages' settings), so that earlier runs keep their fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_resized_crop: Option<String>,
    /// The crop's area range `MIN,MAX` (`--crop-scale`, default `0.08,1`); needs
    /// `random_resized_crop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop_scale: Option<String>,
    /// The crop's aspect-ratio range `MIN,MAX` (`--crop-ratio`, default `3/4,4/3`); needs
    /// `random_resized_crop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop_ratio: Option<String>,
    /// Probability of a [`HorizontalFlip`] of each row, after the crop (`--hflip`), or `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hflip: Option<f64>,
    /// The features' element type, `float32` or `uint8` ([`Pixels`]; `--pixels`, default
    /// `float32`). With `uint8`, `mixup_alpha` defaults to 0 (Mixup computes in floats).
    /// Left out of the JSON form when unset, so that earlier runs keep their fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixels: Option<String>,
    /// Add the provenance columns (`--provenance`).
    pub provenance: bool,
    /// A VAE model whose samples replace `vae_fraction` of each batch (`--vae`).
    pub vae: Option<PathBuf>,
    /// Fraction of each batch replaced by VAE samples (`--vae-fraction`, default 0.25 with a VAE, else 0).
    pub vae_fraction: f64,
    /// A GAN model whose samples replace `gan_fraction` of each batch (`--gan`).
    pub gan: Option<PathBuf>,
    /// Fraction of each batch replaced by GAN samples (`--gan-fraction`, default 0.25 with a GAN, else 0).
    pub gan_fraction: f64,
    /// Block cache capacity in MiB (`--cache-mib`); `None`: the pipeline's default. Not part
    /// of the output's identity.
    #[serde(skip)]
    pub cache_mib: Option<usize>,
    /// A local directory keeping whole copies of object-store shards for later epochs and runs
    /// (`--cache-dir`); local paths ignore it. Not part of the output's identity.
    #[serde(skip)]
    pub cache_dir: Option<PathBuf>,
    /// The most bytes the copies in `cache_dir` may take, least recently used evicted first
    /// (`--cache-max-bytes`); `None`: no cap. Not part of the output's identity.
    #[serde(skip)]
    pub cache_max_bytes: Option<u64>,
}

/// A whole number from the environment variable `name`, if set and not blank.
fn env_usize(name: &str) -> Result<Option<usize>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map(Some).map_err(|_| Error::config(name, format!("'{v}' is not a whole number")))
        }
        _ => Ok(None),
    }
}

impl PipelineConfig {
    /// Read and parse the TOML config file at `path`.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when it cannot be read; as [`PipelineConfig::parse`] otherwise.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        PipelineConfig::parse(&text, path)
    }

    /// `self` with every unset key taken from `under` (how flags override a config file).
    /// Setting `epochs` here hides the `steps` of `under`, as `--epochs` overrides a file's
    /// `steps`; the switches `no_label` and `provenance` are on when either side turns them on.
    pub fn over(self, under: PipelineConfig) -> PipelineConfig {
        let steps = self.steps.or(if self.epochs.is_some() { None } else { under.steps });
        PipelineConfig {
            data: self.data.or(under.data),
            features: self.features.or(under.features),
            label: self.label.or(under.label),
            num_classes: self.num_classes.or(under.num_classes),
            no_label: if self.no_label == Some(true) { Some(true) } else { under.no_label.or(self.no_label) },
            batch_size: self.batch_size.or(under.batch_size),
            order: self.order.or(under.order),
            steps,
            epochs: self.epochs.or(under.epochs),
            start_step: self.start_step.or(under.start_step),
            workers: self.workers.or(under.workers),
            prefetch: self.prefetch.or(under.prefetch),
            seed: self.seed.or(under.seed),
            rank: self.rank.or(under.rank),
            world_size: self.world_size.or(under.world_size),
            null_policy: self.null_policy.or(under.null_policy),
            on_bad_shard: self.on_bad_shard.or(under.on_bad_shard),
            mixup_alpha: self.mixup_alpha.or(under.mixup_alpha),
            mixup_mode: self.mixup_mode.or(under.mixup_mode),
            mixup_prob: self.mixup_prob.or(under.mixup_prob),
            label_smoothing: self.label_smoothing.or(under.label_smoothing),
            cutmix_alpha: self.cutmix_alpha.or(under.cutmix_alpha),
            cutmix_switch_prob: self.cutmix_switch_prob.or(under.cutmix_switch_prob),
            feature_shape: self.feature_shape.or(under.feature_shape),
            normalize: self.normalize.or(under.normalize),
            random_resized_crop: self.random_resized_crop.or(under.random_resized_crop),
            crop_scale: self.crop_scale.or(under.crop_scale),
            crop_ratio: self.crop_ratio.or(under.crop_ratio),
            hflip: self.hflip.or(under.hflip),
            pixels: self.pixels.or(under.pixels),
            provenance: if self.provenance == Some(true) { Some(true) } else { under.provenance.or(self.provenance) },
            vae: self.vae.or(under.vae),
            vae_fraction: self.vae_fraction.or(under.vae_fraction),
            gan: self.gan.or(under.gan),
            gan_fraction: self.gan_fraction.or(under.gan_fraction),
            cache_mib: self.cache_mib.or(under.cache_mib),
            cache_dir: self.cache_dir.or(under.cache_dir),
            cache_max_bytes: self.cache_max_bytes.or(under.cache_max_bytes),
        }
    }

    /// The settings in force: every key given here, the defaults for the others (`data`
    /// defaults to `default_data`; `rank` and `world_size` to `$RANK` and `$WORLD_SIZE`).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming the parameter: no data, a bad `feature_shape`, a `RANK` or
    /// `WORLD_SIZE` that is not a number, and every value outside its range (see
    /// [`Settings::validate`]).
    pub fn settings(&self, default_data: Option<&Path>) -> Result<Settings> {
        let cfg = self.clone();
        let data = match (cfg.data, default_data) {
            (Some(d), _) => d,
            (None, Some(d)) => vec![d.to_path_buf()],
            (None, None) => return Err(Error::config("data", "no input: give --data PATH")),
        };
        let feature_shape = match cfg.feature_shape {
            None => None,
            Some(s) => Some(parse_shape(&s)?),
        };
        let vae = cfg.vae;
        let gan = cfg.gan;
        let uint8 = match &cfg.pixels {
            Some(p) => Pixels::parse(p)? == Pixels::U8,
            None => false,
        };
        let settings = Settings {
            data,
            features: cfg.features,
            label: cfg.label,
            num_classes: cfg.num_classes,
            no_label: cfg.no_label.unwrap_or(false),
            batch_size: cfg.batch_size.unwrap_or(256),
            order: cfg.order.unwrap_or_else(|| "offset".into()),
            steps: cfg.steps,
            epochs: cfg.epochs.unwrap_or(1),
            start_step: cfg.start_step.unwrap_or(0),
            workers: cfg.workers,
            prefetch: cfg.prefetch,
            seed: cfg.seed.unwrap_or(0),
            rank: match cfg.rank {
                Some(r) => r,
                None => env_usize("RANK")?.unwrap_or(0),
            },
            world_size: match cfg.world_size {
                Some(w) => w,
                None => env_usize("WORLD_SIZE")?.unwrap_or(1),
            },
            null_policy: cfg.null_policy.unwrap_or_else(|| "error".into()),
            on_bad_shard: cfg.on_bad_shard.unwrap_or_else(|| "fail".into()),
            // Mixup computes in floats: off by default for uint8 pixels (refused if asked for).
            mixup_alpha: cfg.mixup_alpha.unwrap_or(if uint8 { 0.0 } else { 0.2 }),
            mixup_mode: cfg.mixup_mode.unwrap_or_else(|| "elem".into()),
            mixup_prob: cfg.mixup_prob.unwrap_or(1.0),
            label_smoothing: cfg.label_smoothing.unwrap_or(0.0),
            cutmix_alpha: cfg.cutmix_alpha.unwrap_or(0.0),
            cutmix_switch_prob: cfg.cutmix_switch_prob.unwrap_or(0.5),
            feature_shape,
            normalize: cfg.normalize,
            random_resized_crop: cfg.random_resized_crop,
            crop_scale: cfg.crop_scale,
            crop_ratio: cfg.crop_ratio,
            hflip: cfg.hflip,
            pixels: cfg.pixels,
            provenance: cfg.provenance.unwrap_or(false),
            vae_fraction: cfg.vae_fraction.unwrap_or(if vae.is_some() { 0.25 } else { 0.0 }),
            vae,
            gan_fraction: cfg.gan_fraction.unwrap_or(if gan.is_some() { 0.25 } else { 0.0 }),
            gan,
            cache_mib: cfg.cache_mib,
            cache_dir: cfg.cache_dir,
            cache_max_bytes: cfg.cache_max_bytes,
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// The longest timeout accepted in seconds (one year): a larger one overflows the clock
/// (`u64::MAX` seconds panicked in `Instant + Duration`) and means "forever", which is what
/// leaving the timeout out says.
pub const MAX_TIMEOUT_SECS: u64 = 365 * 24 * 3600;

/// `secs` as a timeout for the parameter `name`, if it lies in [1, [`MAX_TIMEOUT_SECS`]].
///
/// # Errors
/// [`ErrorKind::Config`] naming `name` and the range.
pub fn timeout_secs(name: &str, secs: u64) -> Result<Duration> {
    if (1..=MAX_TIMEOUT_SECS).contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(Error::config(
            name,
            format!("must be in [1, {MAX_TIMEOUT_SECS}] seconds (leave it out to wait forever), got {secs}"),
        ))
    }
}

/// Check that `value` lies in `[lo, hi]` (`hi_open`: `[lo, hi)`), NaN never does.
fn check_range(name: &str, value: f64, lo: f64, hi: f64, hi_open: bool) -> Result<()> {
    let ok = value >= lo && if hi_open { value < hi } else { value <= hi };
    if ok {
        Ok(())
    } else {
        let close = if hi_open { ')' } else { ']' };
        Err(Error::config(name, format!("must be in [{lo}, {hi}{close}, got {value}")))
    }
}

/// Check that the whole number `value` lies in `[lo, hi]`.
fn check_count(name: &str, value: u64, lo: u64, hi: u64, note: &str) -> Result<()> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else if hi == u64::MAX {
        Err(Error::config(name, format!("must be at least {lo}{note}, got {value}")))
    } else {
        Err(Error::config(name, format!("must be in [{lo}, {hi}]{note}, got {value}")))
    }
}

/// Parse a range `MIN,MAX` for the parameter `name`; each bound a number or a fraction `A/B`
/// (`3/4,4/3`).
///
/// # Errors
/// [`ErrorKind::Config`] naming `name` when it is not two numbers.
pub fn parse_range(name: &str, s: &str) -> Result<(f64, f64)> {
    let bad = || Error::config(name, format!("'{s}' is not a range MIN,MAX (e.g. 0.08,1 or 3/4,4/3)"));
    let number = |v: &str| -> Result<f64> {
        let v = v.trim();
        match v.split_once('/') {
            Some((a, b)) => {
                let (a, b): (f64, f64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
                Ok(a / b)
            }
            None => v.parse().map_err(|_| bad()),
        }
    };
    let (lo, hi) = s.split_once(',').ok_or_else(bad)?;
    Ok((number(lo)?, number(hi)?))
}

/// Parse a feature shape like `28x28x1` (or `28,28,1`).
///
/// # Errors
/// [`ErrorKind::Config`] naming `feature_shape` when a dimension is not a positive whole number
/// or the product of the dimensions overflows.
pub fn parse_shape(s: &str) -> Result<Vec<usize>> {
    let dims: std::result::Result<Vec<usize>, _> =
        s.split(['x', 'X', ',']).map(|d| d.trim().parse::<usize>()).collect();
    match dims {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x > 0) => {
            if d.iter().try_fold(1usize, |p, &x| p.checked_mul(x)).is_none() {
                return Err(Error::config(
                    "feature_shape",
                    format!("'{s}' has more values per row than a usize counts (the product overflows)"),
                ));
            }
            Ok(d)
        }
        _ => Err(Error::config("feature_shape", format!("'{s}' is not a shape like 28x28x1"))),
    }
}

impl Settings {
    /// Check every numeric setting against its range, naming the parameter and the range:
    /// `batch_size` ≥ 1; `num_classes` in [1, [`MAX_CLASSES`]]; `steps` and `epochs` ≥ 1;
    /// `workers` ≤ [`MAX_WORKERS`]; `prefetch` in [1, [`MAX_PREFETCH`]]; `world_size` ≥ 1
    /// and `rank` below it; `cache_mib` ≥ 1 with `cache_mib × 2²⁰` a `usize`; `cache_max_bytes`
    /// ≥ 1 and only with `cache_dir`; `mixup_alpha`
    /// and `cutmix_alpha` 0 or in [[`Mixup::MIN_ALPHA`], [`Mixup::MAX_ALPHA`]];
    /// `mixup_prob`, `cutmix_switch_prob`, `vae_fraction` and `gan_fraction` in [0, 1];
    /// `label_smoothing` in [0, 1); a `feature_shape` of positive dimensions whose product is
    /// a `usize`; the image stages' `random_resized_crop`, `crop_scale`, `crop_ratio` (see
    /// [`RandomResizedCrop`]) and `hflip` in [0, 1]. [`PipelineConfig::settings`] calls it; what depends on the data (the batch
    /// against the rows, the shape against the features) is checked by
    /// [`PipelineBuilder::build`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for the first value out of range.
    pub fn validate(&self) -> Result<()> {
        check_count("batch_size", self.batch_size as u64, 1, u64::MAX, "")?;
        if let Some(c) = self.num_classes {
            check_count("num_classes", c as u64, 1, MAX_CLASSES as u64, "")?;
        }
        if let Some(n) = self.steps {
            check_count("steps", n, 1, u64::MAX, "")?;
        }
        check_count("epochs", self.epochs, 1, u64::MAX, "")?;
        if let Some(w) = self.workers {
            check_count("workers", w as u64, 0, MAX_WORKERS as u64, " (0 runs inline)")?;
        }
        if let Some(p) = self.prefetch {
            check_count("prefetch", p as u64, 1, MAX_PREFETCH as u64, "")?;
        }
        check_count("world_size", self.world_size as u64, 1, u64::MAX, "")?;
        if self.rank >= self.world_size {
            return Err(Error::config(
                "rank",
                format!("rank {} is not below the world size {}", self.rank, self.world_size),
            ));
        }
        self.cache_bytes()?;
        match (&self.cache_dir, self.cache_max_bytes) {
            (_, Some(0)) => return Err(Error::config("cache_max_bytes", "must be at least 1")),
            (None, Some(_)) => return Err(Error::config("cache_max_bytes", "needs cache_dir (--cache-dir DIR)")),
            _ => {}
        }
        check_alpha("mixup_alpha", self.mixup_alpha)?;
        check_alpha("cutmix_alpha", self.cutmix_alpha)?;
        check_range("mixup_prob", self.mixup_prob, 0.0, 1.0, false)?;
        check_range("cutmix_switch_prob", self.cutmix_switch_prob, 0.0, 1.0, false)?;
        check_range("label_smoothing", self.label_smoothing, 0.0, 1.0, true)?;
        check_range("vae_fraction", self.vae_fraction, 0.0, 1.0, false)?;
        check_range("gan_fraction", self.gan_fraction, 0.0, 1.0, false)?;
        self.crop()?;
        if let Some(p) = self.hflip {
            HorizontalFlip::new(p).validate()?;
        }
        if let Some(shape) = &self.feature_shape {
            if shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d)).is_none_or(|p| p == 0) {
                return Err(Error::config(
                    "feature_shape",
                    format!("{shape:?} has a zero dimension or a product that overflows"),
                ));
            }
        }
        Ok(())
    }

    /// The block cache capacity in bytes (`cache_mib × 2²⁰`), `None` for the default.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming `cache_mib` when it is 0 or the bytes overflow a `usize`.
    pub fn cache_bytes(&self) -> Result<Option<usize>> {
        let Some(mib) = self.cache_mib else {
            return Ok(None);
        };
        let max = usize::MAX >> 20;
        match mib.checked_mul(1 << 20) {
            Some(bytes) if mib >= 1 => Ok(Some(bytes)),
            _ => Err(Error::config("cache_mib", format!("must be in [1, {max}] MiB, got {mib}"))),
        }
    }

    /// Open the data with the selected columns and target.
    ///
    /// # Errors
    /// Any error of opening the shards or selecting the columns, the target or the shape.
    pub fn open_source(&self) -> Result<ShardSet> {
        // The footers first (the label's default depends on the schema), then the columns
        // resolved once with every setting.
        let policy = NullPolicy::parse(&self.null_policy)?;
        let cache =
            self.cache_dir.as_ref().map(|dir| CacheConfig { dir: dir.clone(), max_bytes: self.cache_max_bytes });
        let set = ShardSet::read_footers(&self.data, cache.as_ref())?;
        let has = |name: &str| set.arrow_schema().field_with_name(name).is_ok();
        let label = if self.no_label {
            None
        } else {
            match &self.label {
                Some(l) => Some(l.clone()),
                None => ["label", "target", "y", "class"].iter().find(|c| has(c)).map(|c| c.to_string()),
            }
        };
        let target = match (&label, self.num_classes) {
            (None, _) => Target::None,
            (Some(l), Some(c)) => Target::class(l, c),
            (Some(l), None) => Target::auto(l),
        };
        let mut builder = ShardSet::builder().null_policy(policy).target(target);
        if let Some(f) = &self.features {
            builder = builder.features(Features::parse(f));
        }
        if let Some(shape) = &self.feature_shape {
            builder = builder.feature_shape(shape);
        }
        if let Some(p) = &self.pixels {
            builder = builder.pixels(Pixels::parse(p)?);
        }
        builder.apply(set)
    }

    /// A pipeline builder over `set` with every setting but the stages applied.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a bad `order`, `on_bad_shard` or `cache_mib`.
    pub fn builder(&self, set: ShardSet) -> Result<PipelineBuilder> {
        let order = Order::parse(&self.order, self.batch_size)?;
        let mut b = Pipeline::builder()
            .source(set)
            .order(order)
            .seed(self.seed)
            .start_step(self.start_step)
            .rank(self.rank, self.world_size)
            .on_bad_shard(BadShard::parse(&self.on_bad_shard)?);
        if let Some(bytes) = self.cache_bytes()? {
            b = b.cache_bytes(bytes);
        }
        b = match self.steps {
            Some(n) => b.steps(n),
            None => b.epochs(self.epochs),
        };
        if let Some(w) = self.workers {
            b = b.workers(w);
        }
        if let Some(p) = self.prefetch {
            b = b.prefetch(p);
        }
        Ok(b)
    }

    /// The augmentation stages these settings ask for, in order: the image stages
    /// `RandomResizedCrop` and `HorizontalFlip` (per row, as torchvision's transforms run per
    /// sample before timm's batch-level Mixup), `Normalize` (when `normalize` is set),
    /// injection (VAE, then GAN, so that Mixup mixes synthetic rows too), then Mixup/CutMix.
    /// The image stages and CutMix take `feature_shape`, or else the data's own (an image
    /// column's `H × W × C`); the stages after a crop see the cropped shape.
    ///
    /// # Errors
    /// A model that cannot be loaded or is of the wrong kind; a bad image-stage, Mixup/CutMix
    /// or normalize setting; an image stage without a feature shape.
    pub fn stages(&self, set: &ShardSet) -> Result<Vec<Arc<dyn Stage>>> {
        let mut stages: Vec<Arc<dyn Stage>> = Vec::new();
        let mut shape: Option<Vec<usize>> = self.feature_shape.clone().or_else(|| set.spec().feature_shape.clone());
        let need_shape = |name: &str, shape: &Option<Vec<usize>>| -> Result<Vec<usize>> {
            shape.clone().ok_or_else(|| {
                Error::config(name, "this image stage needs --feature-shape HxWxC (or an image feature column)")
            })
        };
        if let Some(crop) = self.crop()? {
            let s = need_shape("random_resized_crop", &shape)?;
            let crop = crop.feature_shape(&s);
            let c = s.last().copied().unwrap_or(1);
            shape = Some(crop.output_shape(c).to_vec());
            stages.push(Arc::new(crop));
        }
        if let Some(p) = self.hflip {
            let s = need_shape("hflip", &shape)?;
            stages.push(Arc::new(HorizontalFlip::new(p).feature_shape(&s)));
        }
        if let Some(n) = &self.normalize {
            let n = Normalize::parse(n)?;
            n.validate()?;
            stages.push(Arc::new(n));
        }
        if let Some(path) = &self.vae {
            stages.push(Arc::new(inject(path, Origin::Vae, self.vae_fraction)?));
        }
        if let Some(path) = &self.gan {
            stages.push(Arc::new(inject(path, Origin::Gan, self.gan_fraction)?));
        }
        if let Some(m) = self.mixup_with_shape(shape.as_deref())? {
            stages.push(Arc::new(m));
        }
        Ok(stages)
    }

    /// The `RandomResizedCrop` stage without its input shape, or `None` when
    /// `random_resized_crop` is not set.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming `random_resized_crop`, `crop_scale` or `crop_ratio`: a bad
    /// size or range, or a range given without a crop.
    pub fn crop(&self) -> Result<Option<RandomResizedCrop>> {
        let Some(size) = &self.random_resized_crop else {
            for (name, v) in [("crop_scale", &self.crop_scale), ("crop_ratio", &self.crop_ratio)] {
                if v.is_some() {
                    return Err(Error::config(name, "is a parameter of the crop: give --random-resized-crop SIZE too"));
                }
            }
            return Ok(None);
        };
        let mut crop = RandomResizedCrop::parse(size)?;
        if let Some(s) = &self.crop_scale {
            let (lo, hi) = parse_range("crop_scale", s)?;
            crop = crop.scale(lo, hi);
        }
        if let Some(s) = &self.crop_ratio {
            let (lo, hi) = parse_range("crop_ratio", s)?;
            crop = crop.ratio(lo, hi);
        }
        crop.validate()?;
        Ok(Some(crop))
    }

    /// The Mixup/CutMix stage, or `None` when both are off (both α are 0).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming the bad Mixup/CutMix setting.
    pub fn mixup(&self) -> Result<Option<Mixup>> {
        self.mixup_with_shape(self.feature_shape.as_deref())
    }

    /// [`Settings::mixup`] with CutMix over `shape`.
    fn mixup_with_shape(&self, shape: Option<&[usize]>) -> Result<Option<Mixup>> {
        if self.mixup_alpha == 0.0 && self.cutmix_alpha == 0.0 {
            return Ok(None);
        }
        let mode = match self.mixup_mode.as_str() {
            "elem" => MixMode::Elem,
            "batch" => MixMode::Batch,
            "pair" => MixMode::Pair,
            other => return Err(Error::config("mixup_mode", format!("'{other}' is not one of elem, batch, pair"))),
        };
        let mut m = Mixup::new(self.mixup_alpha).mode(mode).prob(self.mixup_prob).label_smoothing(self.label_smoothing);
        if self.cutmix_alpha > 0.0 {
            let shape = shape.ok_or_else(|| {
                Error::config("cutmix_alpha", "CutMix needs --feature-shape HxWxC (or an image feature column)")
            })?;
            m = m.cutmix(self.cutmix_alpha).switch_prob(self.cutmix_switch_prob).feature_shape(shape);
        }
        // The pipeline's build checks it again; checked here too so that a bad setting is
        // reported as the configuration error it is (`ConfigError` in Python), not as the
        // mixup stage's failure at build.
        m.validate()?;
        Ok(Some(m))
    }

    /// Build the whole pipeline: [`Settings::open_source`], [`Settings::stages`],
    /// [`Settings::builder`], [`PipelineBuilder::build`].
    ///
    /// # Errors
    /// Any error of those steps.
    pub fn pipeline(&self) -> Result<Pipeline> {
        let set = self.open_source()?;
        let stages = self.stages(&set)?;
        let mut b = self.builder(set)?;
        for s in stages {
            b = b.stage_arc(s);
        }
        b.build()
    }

    /// A stable fingerprint (16 hex digits) of everything that determines the output: the
    /// FNV-1a hash of the JSON form, which leaves out `workers`, `prefetch` and `cache_mib`.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", fnv1a64(json.as_bytes()))
    }
}

/// An injection stage over the model in `path`, which must be of kind `origin`.
fn inject(path: &Path, origin: Origin, fraction: f64) -> Result<Inject> {
    let generator = load_generator(path)?;
    let kind = generator.info().origin;
    if kind != origin {
        return Err(ErrorKind::Model {
            path: path.to_path_buf(),
            message: format!("is a {} model, given as --{}", kind.as_str(), origin.as_str()),
        }
        .into());
    }
    let inject = Inject::replace(generator, fraction);
    inject.validate()?;
    Ok(inject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse() {
        assert_eq!(parse_shape("28x28x1").unwrap(), vec![28, 28, 1]);
        assert_eq!(parse_shape("28x0").unwrap_err().config_name(), Some("feature_shape"));
        assert_eq!(parse_shape("abc").unwrap_err().config_name(), Some("feature_shape"));
    }

    #[test]
    fn given_keys_override_under() {
        let file = PipelineConfig { batch_size: Some(64), seed: Some(9), steps: Some(5), ..Default::default() };
        let flags = PipelineConfig { batch_size: Some(32), epochs: Some(2), ..Default::default() };
        let s = flags.over(file).settings(Some(Path::new("x.parquet"))).unwrap();
        assert_eq!((s.batch_size, s.seed, s.steps, s.epochs), (32, 9, None, 2));
        assert_eq!(s.data, vec![PathBuf::from("x.parquet")]);
    }

    #[test]
    fn no_data_is_named() {
        let e = PipelineConfig::default().settings(None).unwrap_err();
        assert!(e.to_string().contains("data"), "{e}");
    }
}
