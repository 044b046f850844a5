//! The notes a run gives about its data, as text: rows the order leaves unread, rows and
//! blocks skipped. The command line prints them on stderr; bindings pass them on.

use crate::pipeline::{Pipeline, Stats};

/// How many rows the order leaves out of the run (the offset order never reaches the last
/// rows), or `None` when it reads every row.
pub fn unread_note(pipeline: &Pipeline) -> Option<String> {
    pipeline.rows_unread().filter(|&u| u > 0).map(|u| {
        format!(
            "note: the offset order leaves {u} of {} rows unread over this run (offset = step·B mod (N − B) never reaches the last rows; --order sequential or shuffled reads every row)",
            pipeline.shard_set().num_rows()
        )
    })
}

/// One warning per block skipped with an unreadable shard, then the total of skipped rows, then
/// one for object-store shards that a cache directory was asked for but that were read from the
/// store.
pub fn skip_notes(stats: &Stats) -> Vec<String> {
    let mut notes: Vec<String> = stats
        .skipped_blocks
        .iter()
        .map(|b| {
            format!("warning: skipped {} rows of {} (row group {}): {}", b.rows, b.path.display(), b.row_group, b.error)
        })
        .collect();
    if stats.skipped_rows > 0 {
        notes.push(format!("warning: {} rows skipped in total", stats.skipped_rows));
    }
    if let Some(c) = stats.object_cache.as_ref().filter(|c| c.bypassed > 0) {
        let (n, were) =
            if c.bypassed == 1 { ("1 object".to_string(), "was") } else { (format!("{} objects", c.bypassed), "were") };
        notes.push(format!(
            "warning: {n} {were} read from the store, not through the cache (last: {})",
            c.last_bypass.as_deref().unwrap_or("?")
        ));
    }
    notes
}
