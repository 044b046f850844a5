//! The pipeline flags shared by `augment`, `stream`, `train` and `demo`, and their TOML config
//! file; [`shardmix::Settings`] turns them into a [`shardmix::Pipeline`].

use std::path::{Path, PathBuf};

use shardmix::{PipelineConfig, Result, Settings};

/// Pipeline flags. Every flag may also come from `--config pipeline.toml` (same names with
/// `_` for `-`); flags given on the command line override the file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PipelineArgs {
    /// The data and its columns, shared with `inspect`.
    #[command(flatten)]
    pub columns: ColumnArgs,
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
    /// Batches prepared ahead of the consumer, 1 to 4096 [default: as many as fit in 32 MiB, at most 32, at least 2 × workers].
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
    /// The image stages (random resized crop, horizontal flip), run first.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Per-channel normalisation after the image stages and before the others, as torchvision's Normalize: MEAN/STD with one comma-separated value per channel (0.1307/0.3081, 0.5,0.5,0.5/0.25,0.25,0.25) or `imagenet`; needs a feature shape.
    #[arg(long, value_name = "MEAN/STD")]
    pub normalize: Option<String>,
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
    /// Keep whole copies of object-store shards (s3://, gs://, az://, https://) in DIR for later epochs and runs, keyed by URL, ETag and size (a replaced object is fetched again); local paths ignore it.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The most bytes the copies in --cache-dir may take; the least recently used are evicted first [default: no cap].
    #[arg(long, value_name = "N")]
    pub cache_max_bytes: Option<u64>,
    /// Read every pipeline flag from this TOML file; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The data and the columns to read: the flags of every command that reads data, `inspect`
/// included.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ColumnArgs {
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
    /// CutMix α (needs --feature-shape, or an image column); 0 turns it off [default: 0].
    #[arg(long, value_name = "A")]
    pub cutmix_alpha: Option<f64>,
    /// Probability of CutMix instead of Mixup when both are on [default: 0.5].
    #[arg(long, value_name = "P")]
    pub cutmix_switch_prob: Option<f64>,
    /// Tensor shape of each row's features, HxWxC (e.g. 28x28x1, or 8x8x1 for the digits) [default: an image column's].
    #[arg(long, value_name = "SHAPE")]
    pub feature_shape: Option<String>,
}

/// The per-row image stages of `augment`, `stream` and `train`, run before Normalize and
/// Mixup/CutMix as torchvision's transforms run per sample before timm's Mixup. They need a
/// feature shape (`--feature-shape`, or an image column's).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ImageArgs {
    /// Random resized crop to SIZE (S or HxW), as torchvision's RandomResizedCrop (bilinear, antialiased); the rows become SIZE × C.
    #[arg(long, value_name = "SIZE")]
    pub random_resized_crop: Option<String>,
    /// The crop's area as a fraction of the image's, MIN,MAX [default: 0.08,1].
    #[arg(long, value_name = "MIN,MAX")]
    pub crop_scale: Option<String>,
    /// The crop's aspect ratio (width / height), MIN,MAX [default: 3/4,4/3].
    #[arg(long, value_name = "MIN,MAX")]
    pub crop_ratio: Option<String>,
    /// Flip each row left-right with probability P (after the crop) [default when given without a value: 0.5].
    #[arg(long, value_name = "P", num_args = 0..=1, default_missing_value = "0.5", allow_negative_numbers = true)]
    pub hflip: Option<f64>,
    /// Keep the pixels of an image column or uint8 tensor column as uint8 (0-255) end to end: `uint8` or `float32` [default: float32]. uint8 allows the crop and the flip only (Mixup, CutMix, Normalize, VAE/GAN refuse it; --mixup-alpha defaults to 0); stream and augment write fixed_size_list<uint8> (or PNG).
    #[arg(long, value_name = "TYPE")]
    pub pixels: Option<String>,
}

impl PipelineArgs {
    /// The flags given, as a [`PipelineConfig`] (unset flags are `None`).
    pub fn to_config(&self) -> PipelineConfig {
        let a = self;
        PipelineConfig {
            data: (!a.columns.data.is_empty()).then(|| a.columns.data.clone()),
            features: a.columns.features.clone(),
            label: a.columns.label.clone(),
            num_classes: a.columns.num_classes,
            no_label: a.columns.no_label.then_some(true),
            batch_size: a.batch_size,
            order: a.order.clone(),
            steps: a.steps,
            epochs: a.epochs,
            start_step: a.start_step,
            workers: a.workers,
            prefetch: a.prefetch,
            seed: a.seed,
            rank: a.rank,
            world_size: a.world_size,
            null_policy: a.null_policy.clone(),
            on_bad_shard: a.on_bad_shard.clone(),
            mixup_alpha: a.mixup_alpha,
            mixup_mode: a.mixup.mixup_mode.clone(),
            mixup_prob: a.mixup.mixup_prob,
            label_smoothing: a.mixup.label_smoothing,
            cutmix_alpha: a.mixup.cutmix_alpha,
            cutmix_switch_prob: a.mixup.cutmix_switch_prob,
            feature_shape: a.mixup.feature_shape.clone(),
            normalize: a.normalize.clone(),
            random_resized_crop: a.image.random_resized_crop.clone(),
            crop_scale: a.image.crop_scale.clone(),
            crop_ratio: a.image.crop_ratio.clone(),
            hflip: a.image.hflip,
            pixels: a.image.pixels.clone(),
            provenance: a.provenance.then_some(true),
            vae: a.vae.clone(),
            vae_fraction: a.vae_fraction,
            gan: a.gan.clone(),
            gan_fraction: a.gan_fraction,
            cache_mib: a.cache_mib,
            cache_dir: a.cache_dir.clone(),
            cache_max_bytes: a.cache_max_bytes,
        }
    }

    /// Merge flags over the config file over defaults ([`PipelineConfig::settings`]).
    pub fn settings(&self, default_data: Option<&Path>) -> Result<Settings> {
        self.merged()?.settings(default_data)
    }

    /// The flags over the config file (`--config`), before defaults.
    pub fn merged(&self) -> Result<PipelineConfig> {
        let file = match &self.config {
            Some(p) => PipelineConfig::from_file(p)?,
            None => PipelineConfig::default(),
        };
        Ok(self.to_config().over(file))
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
}
