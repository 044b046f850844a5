//! `shardmix.inspect(path, **options)`: what `shardmix inspect --json` prints, as a dict
//! (the library's [`shardmix::inspect::report`], the CLI's builder).

use shardmix::{Result, Settings};

/// The report of `inspect --json` for these settings, as JSON text.
pub fn report(settings: &Settings) -> Result<String> {
    Ok(serde_json::to_string(&shardmix::inspect::report(settings)?).unwrap_or_default())
}
