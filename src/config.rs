//! [`PipelineConfig`]: every pipeline setting of the command line, as a TOML file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The pipeline settings of `shardmix augment|stream|train` as a TOML file (the flags' names
/// with `_` for `-`). Every field is optional; an unknown key is an error that names it.
///
/// # Example
/// ```
/// use shardmix::PipelineConfig;
/// let c = PipelineConfig::parse("batch_size = 64\norder = \"shuffled\"\n", "p.toml".as_ref())?;
/// assert_eq!(c.batch_size, Some(64));
/// let e = PipelineConfig::parse("batch_sise = 64\n", "p.toml".as_ref()).unwrap_err();
/// assert!(e.to_string().contains("batch_sise"));
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// `--data`.
    pub data: Option<Vec<PathBuf>>,
    /// `--features`.
    pub features: Option<String>,
    /// `--label`.
    pub label: Option<String>,
    /// `--num-classes`.
    pub num_classes: Option<usize>,
    /// `--no-label`.
    pub no_label: Option<bool>,
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// `--order`.
    pub order: Option<String>,
    /// `--steps`.
    pub steps: Option<u64>,
    /// `--epochs`.
    pub epochs: Option<u64>,
    /// `--start-step`.
    pub start_step: Option<u64>,
    /// `--workers`.
    pub workers: Option<usize>,
    /// `--prefetch`.
    pub prefetch: Option<usize>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--rank`.
    pub rank: Option<usize>,
    /// `--world-size`.
    pub world_size: Option<usize>,
    /// `--null-policy`.
    pub null_policy: Option<String>,
    /// `--on-bad-shard`.
    pub on_bad_shard: Option<String>,
    /// `--mixup-alpha`.
    pub mixup_alpha: Option<f64>,
    /// `--mixup-mode`.
    pub mixup_mode: Option<String>,
    /// `--mixup-prob`.
    pub mixup_prob: Option<f64>,
    /// `--label-smoothing`.
    pub label_smoothing: Option<f64>,
    /// `--cutmix-alpha`.
    pub cutmix_alpha: Option<f64>,
    /// `--cutmix-switch-prob`.
    pub cutmix_switch_prob: Option<f64>,
    /// `--feature-shape`.
    pub feature_shape: Option<String>,
    /// `--normalize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<String>,
    /// `--random-resized-crop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_resized_crop: Option<String>,
    /// `--crop-scale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_scale: Option<String>,
    /// `--crop-ratio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_ratio: Option<String>,
    /// `--hflip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hflip: Option<f64>,
    /// `--pixels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixels: Option<String>,
    /// `--provenance`.
    pub provenance: Option<bool>,
    /// `--vae`.
    pub vae: Option<PathBuf>,
    /// `--vae-fraction`.
    pub vae_fraction: Option<f64>,
    /// `--gan`.
    pub gan: Option<PathBuf>,
    /// `--gan-fraction`.
    pub gan_fraction: Option<f64>,
    /// `--cache-mib`.
    pub cache_mib: Option<usize>,
    /// `--cache-dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// `--cache-max-bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_max_bytes: Option<u64>,
}

impl PipelineConfig {
    /// Parse a TOML config read from `path` (named in errors).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the file and the bad or unknown key.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::config("config", format!("{}: {}", path.display(), e.message())))
    }
}
