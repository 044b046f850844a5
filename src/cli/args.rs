//! The pipeline flags shared by `augment`, `stream`, `train` and `demo`, their TOML config
//! file, and how they become a [`Pipeline`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use shardmix::{
    BadShard, Error, Features, NullPolicy, Order, Pipeline, PipelineBuilder, PipelineConfig, Result, ShardSet, Stage,
    Target,
};

/// Pipeline flags. Every flag may also come from `--config pipeline.toml` (same names with
/// `_` for `-`); flags given on the command line override the file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PipelineArgs {
    /// Input data: a directory of .parquet files, a glob, or a file (repeatable).
    #[arg(long = "data", value_name = "PATH")]
    pub data: Vec<PathBuf>,
    /// Feature columns: a comma list, a `prefix*` glob, or one list column [default: every numeric column but the label].
    #[arg(long, value_name = "SPEC")]
    pub features: Option<String>,
    /// Target column: integer → classes, float → regression, list → soft labels [default: `label` if present].
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    /// Number of classes of an integer label [default: largest label + 1].
    #[arg(long, value_name = "C")]
    pub num_classes: Option<usize>,
    /// No target column.
    #[arg(long)]
    pub no_label: bool,
    /// Rows per batch [default: 256].
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,
    /// Batch order: offset (the seed's), sequential or shuffled [default: offset].
    #[arg(long, value_name = "ORDER")]
    pub order: Option<String>,
    /// Run N global steps.
    #[arg(long, value_name = "N", conflicts_with = "epochs")]
    pub steps: Option<u64>,
    /// Run E epochs of N_rows / B steps (rounded down for offset) [default: 1].
    #[arg(long, value_name = "E")]
    pub epochs: Option<u64>,
    /// Resume at step K: the output from K on equals an uninterrupted run's.
    #[arg(long, value_name = "K")]
    pub start_step: Option<u64>,
    /// Worker threads; 0 runs inline [default: available cores].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Batches prepared ahead of the consumer [default: 2 × workers].
    #[arg(long, value_name = "N")]
    pub prefetch: Option<usize>,
    /// Seed of every random draw [default: 0].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Data-parallel rank [default: $RANK or 0].
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// Data-parallel world size [default: $WORLD_SIZE or 1].
    #[arg(long, value_name = "W")]
    pub world_size: Option<usize>,
    /// Null/NaN/Inf policy: error, skip-row or fill(VALUE) [default: error].
    #[arg(long, value_name = "POLICY")]
    pub null_policy: Option<String>,
    /// When a shard becomes unreadable mid-run: fail, or skip its rows with a warning [default: fail].
    #[arg(long, value_name = "POLICY")]
    pub on_bad_shard: Option<String>,
    /// Mixup α; 0 turns Mixup off [default: 0.2].
    #[arg(long, value_name = "A")]
    pub mixup_alpha: Option<f64>,
    /// The other Mixup/CutMix flags, shared with `demo`.
    #[command(flatten)]
    pub mixup: MixupArgs,
    /// Add the provenance columns step, origin, row_a, row_b, lambda.
    #[arg(long)]
    pub provenance: bool,
    /// A VAE model (safetensors) whose samples replace --vae-fraction of each batch.
    #[arg(long, value_name = "FILE")]
    pub vae: Option<PathBuf>,
    /// Fraction of each batch replaced by VAE samples [default: 0.25 when --vae is given].
    #[arg(long, value_name = "F")]
    pub vae_fraction: Option<f64>,
    /// A GAN model (safetensors) whose samples replace --gan-fraction of each batch.
    #[arg(long, value_name = "FILE")]
    pub gan: Option<PathBuf>,
    /// Fraction of each batch replaced by GAN samples [default: 0.25 when --gan is given].
    #[arg(long, value_name = "F")]
    pub gan_fraction: Option<f64>,
    /// Block cache capacity in MiB [default: what the order has in use at once, at least 64].
    #[arg(long, value_name = "MIB")]
    pub cache_mib: Option<usize>,
    /// Read every pipeline flag from this TOML file; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The Mixup/CutMix flags of `augment`, `stream` and `demo` (all but `--mixup-alpha`, whose
/// default and meaning differ by command). Their defaults are applied by
/// [`PipelineArgs::settings`].
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MixupArgs {
    /// Mixup mode: elem (per-row λ, the seed's), batch or pair [default: elem].
    #[arg(long, value_name = "MODE")]
    pub mixup_mode: Option<String>,
    /// Probability of mixing a batch [default: 1].
    #[arg(long, value_name = "P")]
    pub mixup_prob: Option<f64>,
    /// Label smoothing applied to class targets before mixing [default: 0].
    #[arg(long, value_name = "S")]
    pub label_smoothing: Option<f64>,
    /// CutMix α (needs --feature-shape); 0 turns it off [default: 0].
    #[arg(long, value_name = "A")]
    pub cutmix_alpha: Option<f64>,
    /// Probability of CutMix instead of Mixup when both are on [default: 0.5].
    #[arg(long, value_name = "P")]
    pub cutmix_switch_prob: Option<f64>,
    /// Tensor shape of each row's features, HxWxC (e.g. 28x28x1, or 8x8x1 for the digits).
    #[arg(long, value_name = "SHAPE")]
    pub feature_shape: Option<String>,
}

/// Every setting with its value in force (flags over file over defaults).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Settings {
    pub data: Vec<PathBuf>,
    pub features: Option<String>,
    pub label: Option<String>,
    pub num_classes: Option<usize>,
    pub no_label: bool,
    pub batch_size: usize,
    pub order: String,
    pub steps: Option<u64>,
    pub epochs: u64,
    pub start_step: u64,
    /// Not part of the output's identity (any worker count gives the same output).
    #[serde(skip)]
    pub workers: Option<usize>,
    #[serde(skip)]
    pub prefetch: Option<usize>,
    pub seed: u64,
    pub rank: usize,
    pub world_size: usize,
    pub null_policy: String,
    pub on_bad_shard: String,
    pub mixup_alpha: f64,
    pub mixup_mode: String,
    pub mixup_prob: f64,
    pub label_smoothing: f64,
    pub cutmix_alpha: f64,
    pub cutmix_switch_prob: f64,
    pub feature_shape: Option<Vec<usize>>,
    pub provenance: bool,
    pub vae: Option<PathBuf>,
    pub vae_fraction: f64,
    pub gan: Option<PathBuf>,
    pub gan_fraction: f64,
    #[serde(skip)]
    pub cache_mib: Option<usize>,
}

fn env_usize(name: &str) -> Result<Option<usize>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map(Some).map_err(|_| Error::config(name, format!("'{v}' is not a whole number")))
        }
        _ => Ok(None),
    }
}

impl PipelineArgs {
    /// Merge flags over the config file over defaults.
    pub fn settings(&self, default_data: Option<&Path>) -> Result<Settings> {
        let cfg = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                PipelineConfig::parse(&text, p)?
            }
            None => PipelineConfig::default(),
        };
        let a = self;
        let data = if !a.data.is_empty() {
            a.data.clone()
        } else if let Some(d) = cfg.data.clone() {
            d
        } else if let Some(d) = default_data {
            vec![d.to_path_buf()]
        } else {
            return Err(Error::config("data", "no input: give --data PATH"));
        };
        let feature_shape = match a.mixup.feature_shape.clone().or(cfg.feature_shape.clone()) {
            None => None,
            Some(s) => Some(parse_shape(&s)?),
        };
        let vae = a.vae.clone().or(cfg.vae.clone());
        let gan = a.gan.clone().or(cfg.gan.clone());
        Ok(Settings {
            data,
            features: a.features.clone().or(cfg.features),
            label: a.label.clone().or(cfg.label),
            num_classes: a.num_classes.or(cfg.num_classes),
            no_label: a.no_label || cfg.no_label.unwrap_or(false),
            batch_size: a.batch_size.or(cfg.batch_size).unwrap_or(256),
            order: a.order.clone().or(cfg.order).unwrap_or_else(|| "offset".into()),
            steps: a.steps.or(if a.epochs.is_some() { None } else { cfg.steps }),
            epochs: a.epochs.or(cfg.epochs).unwrap_or(1),
            start_step: a.start_step.or(cfg.start_step).unwrap_or(0),
            workers: a.workers.or(cfg.workers),
            prefetch: a.prefetch.or(cfg.prefetch),
            seed: a.seed.or(cfg.seed).unwrap_or(0),
            rank: match a.rank.or(cfg.rank) {
                Some(r) => r,
                None => env_usize("RANK")?.unwrap_or(0),
            },
            world_size: match a.world_size.or(cfg.world_size) {
                Some(w) => w,
                None => env_usize("WORLD_SIZE")?.unwrap_or(1),
            },
            null_policy: a.null_policy.clone().or(cfg.null_policy).unwrap_or_else(|| "error".into()),
            on_bad_shard: a.on_bad_shard.clone().or(cfg.on_bad_shard).unwrap_or_else(|| "fail".into()),
            mixup_alpha: a.mixup_alpha.or(cfg.mixup_alpha).unwrap_or(0.2),
            mixup_mode: a.mixup.mixup_mode.clone().or(cfg.mixup_mode).unwrap_or_else(|| "elem".into()),
            mixup_prob: a.mixup.mixup_prob.or(cfg.mixup_prob).unwrap_or(1.0),
            label_smoothing: a.mixup.label_smoothing.or(cfg.label_smoothing).unwrap_or(0.0),
            cutmix_alpha: a.mixup.cutmix_alpha.or(cfg.cutmix_alpha).unwrap_or(0.0),
            cutmix_switch_prob: a.mixup.cutmix_switch_prob.or(cfg.cutmix_switch_prob).unwrap_or(0.5),
            feature_shape,
            provenance: a.provenance || cfg.provenance.unwrap_or(false),
            vae_fraction: a.vae_fraction.or(cfg.vae_fraction).unwrap_or(if vae.is_some() { 0.25 } else { 0.0 }),
            vae,
            gan_fraction: a.gan_fraction.or(cfg.gan_fraction).unwrap_or(if gan.is_some() { 0.25 } else { 0.0 }),
            gan,
            cache_mib: a.cache_mib.or(cfg.cache_mib),
        })
    }
}

/// Parse `28x28x1` (or `28,28,1`).
pub fn parse_shape(s: &str) -> Result<Vec<usize>> {
    let dims: std::result::Result<Vec<usize>, _> =
        s.split(['x', 'X', ',']).map(|d| d.trim().parse::<usize>()).collect();
    match dims {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x > 0) => Ok(d),
        _ => Err(Error::config("feature_shape", format!("'{s}' is not a shape like 28x28x1"))),
    }
}

impl Settings {
    /// Open the data with the selected columns.
    pub fn open_source(&self) -> Result<ShardSet> {
        let mut set = ShardSet::open_many(&self.data)?.null_policy(NullPolicy::parse(&self.null_policy)?);
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
        set = set.target(target)?;
        if let Some(f) = &self.features {
            set = set.features(Features::parse(f))?;
        }
        if let Some(shape) = &self.feature_shape {
            set = set.feature_shape(shape)?;
        }
        Ok(set)
    }

    /// A pipeline builder with every setting but the stages applied.
    pub fn builder(&self, set: ShardSet) -> Result<PipelineBuilder> {
        let order = Order::parse(&self.order, self.batch_size)?;
        let mut b = Pipeline::builder()
            .source(set)
            .order(order)
            .seed(self.seed)
            .start_step(self.start_step)
            .rank(self.rank, self.world_size)
            .on_bad_shard(BadShard::parse(&self.on_bad_shard)?);
        if let Some(mib) = self.cache_mib {
            b = b.cache_bytes(mib << 20);
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

    /// The augmentation stages these settings ask for, in order: injection, then Mixup.
    pub fn stages(&self, set: &ShardSet) -> Result<Vec<Arc<dyn Stage>>> {
        super::stages::build(self, set)
    }

    /// Build the whole pipeline.
    pub fn pipeline(&self) -> Result<Pipeline> {
        let set = self.open_source()?;
        let stages = self.stages(&set)?;
        let mut b = self.builder(set)?;
        for s in stages {
            b = b.stage_arc(s);
        }
        b.build()
    }

    /// A stable fingerprint of everything that determines the output.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", shardmix::fnv1a64(json.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_config_key_is_named() {
        let e = PipelineConfig::parse("batch_size = 3\nbatch_sise = 4\n", Path::new("p.toml")).unwrap_err();
        assert!(e.to_string().contains("batch_sise"), "{e}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, "batch_size = 64\nseed = 9\norder = \"sequential\"\ndata = [\"x.parquet\"]\n").unwrap();
        let args = PipelineArgs { config: Some(p), batch_size: Some(32), ..Default::default() };
        let s = args.settings(None).unwrap();
        assert_eq!((s.batch_size, s.seed, s.order.as_str()), (32, 9, "sequential"));
        assert_eq!(s.data, vec![PathBuf::from("x.parquet")]);
    }

    #[test]
    fn shapes_parse() {
        assert_eq!(parse_shape("28x28x1").unwrap(), vec![28, 28, 1]);
        assert!(parse_shape("28x0").is_err());
        assert!(parse_shape("abc").is_err());
    }
}
