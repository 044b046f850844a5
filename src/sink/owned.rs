//! Which files of an output directory shardmix wrote, proven by their content.
//!
//! `--overwrite` deletes only files proven to be shardmix's, and a run refuses to write over a
//! file at one of its names that is not. A name alone proves nothing (`part-00000.parquet`
//! and `manifest.json` are common names); the content does:
//!
//! | name | shardmix's when |
//! |---|---|
//! | `part-NNNNN.parquet` | its footer passes the checks input footers get and carries `shardmix.shard` metadata |
//! | `.shardmix-run.json`, legacy `_shardmix_run.json` | it parses as a run file (`format` `shardmix-parquet-run/1`) |
//! | `.shardmix-manifest.json`, legacy `manifest.json` | it parses as a manifest (`format` `shardmix-parquet-manifest/1`) |
//! | the temporary `.NAME.tmp` of one of those | it is empty (killed before its first write) or begins as shardmix's files do: `PAR1` for a shard, `{` for JSON |
//!
//! Shard footers are read through the source's footer reader (Thrift pre-check, contained
//! panics), so a crafted file in an output directory cannot make a resume hang.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::manifest::{
    output, temp_name, Manifest, RunInfo, LEGACY_MANIFEST_FILE, LEGACY_RUN_FILE, MANIFEST_FILE, RUN_FILE,
};
use crate::error::{Error, ErrorKind, Result};

/// Key-value metadata key of a shard's identity.
pub(crate) const META_SHARD: &str = "shardmix.shard";

/// Identity of a shard, stored in its key-value metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ShardMeta {
    pub index: u64,
    pub first_step: u64,
    pub end_step: u64,
    pub rows: u64,
    pub fingerprint: String,
}

/// What a directory entry is, by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The run file.
    Run,
    /// The manifest.
    Manifest,
    /// A final-named shard, with its index.
    Shard(u64),
    /// The temporary file of a shard.
    ShardTemp,
    /// The temporary file of the run file or the manifest.
    JsonTemp,
    /// Anything else: shardmix never touches it.
    Other,
}

/// A directory entry and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The file name.
    pub name: String,
    /// What its name says it is.
    pub role: Role,
    /// A name of the first layout (`manifest.json`, `_shardmix_run.json` and their
    /// temporaries), which shardmix no longer writes: if not proven its own, it is simply
    /// someone else's file and never in the way.
    pub legacy: bool,
}

impl Entry {
    /// Classify `name`.
    pub fn new(name: &str) -> Entry {
        let (role, legacy) = role_of(name);
        Entry { name: name.to_string(), role, legacy }
    }
}

/// `part-00000.parquet`.
pub fn shard_file_name(index: u64) -> String {
    format!("part-{index:05}.parquet")
}

/// The shard index of a final shard name.
pub(crate) fn parse_shard_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    if digits.len() >= 5 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

fn role_of(name: &str) -> (Role, bool) {
    match name {
        RUN_FILE => return (Role::Run, false),
        MANIFEST_FILE => return (Role::Manifest, false),
        LEGACY_RUN_FILE => return (Role::Run, true),
        LEGACY_MANIFEST_FILE => return (Role::Manifest, true),
        _ => {}
    }
    if let Some(i) = parse_shard_name(name) {
        return (Role::Shard(i), false);
    }
    if name == temp_name(RUN_FILE) || name == temp_name(MANIFEST_FILE) {
        return (Role::JsonTemp, false);
    }
    if name == temp_name(LEGACY_RUN_FILE) || name == temp_name(LEGACY_MANIFEST_FILE) {
        return (Role::JsonTemp, true);
    }
    match name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) {
        Some(inner) if parse_shard_name(inner).is_some() => (Role::ShardTemp, false),
        _ => (Role::Other, false),
    }
}

/// How a final-named shard reads.
#[derive(Debug)]
pub(crate) enum ShardCheck {
    /// A shard shardmix wrote: its identity.
    Ours(ShardMeta),
    /// A readable Parquet file that shardmix did not write (why).
    Foreign(String),
    /// Not readable as a shard: a damaged footer, or a row count that contradicts the
    /// shard's identity.
    Damaged(Error),
}

/// Read a shard's footer with the source's checks (Thrift pre-check, page index checks,
/// contained panics) and check its row count against its identity metadata.
pub(crate) fn check_shard(path: &Path) -> ShardCheck {
    let metadata = match crate::source::shards::read_footer(path) {
        Ok((m, _)) => m,
        Err(e) => return ShardCheck::Damaged(e),
    };
    let pq = metadata.metadata();
    let fmeta = pq.file_metadata();
    let Some(kv) = fmeta
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == META_SHARD))
        .and_then(|kv| kv.value.as_deref())
    else {
        return ShardCheck::Foreign(format!("no '{META_SHARD}' metadata in its footer"));
    };
    let meta: ShardMeta = match serde_json::from_str(kv) {
        Ok(m) => m,
        Err(e) => return ShardCheck::Foreign(format!("its '{META_SHARD}' metadata is not shardmix's: {e}")),
    };
    let rows = fmeta.num_rows();
    let group_rows: i64 = pq.row_groups().iter().map(|g| g.num_rows()).sum();
    if rows < 0 || rows as u64 != meta.rows || group_rows != rows {
        return ShardCheck::Damaged(output(
            path,
            format!("footer has {rows} rows ({group_rows} in its row groups), the shard metadata says {}", meta.rows),
        ));
    }
    ShardCheck::Ours(meta)
}

/// A shard's identity, or an error: [`ErrorKind::Footer`]/[`ErrorKind::Io`] for an
/// unreadable footer, [`ErrorKind::Output`] for a file that is not a shardmix shard.
pub(crate) fn read_shard_meta(path: &Path) -> Result<ShardMeta> {
    match check_shard(path) {
        ShardCheck::Ours(m) => Ok(m),
        ShardCheck::Foreign(why) => Err(output(path, format!("not a shardmix shard: {why}"))),
        ShardCheck::Damaged(e) => Err(e),
    }
}

/// `None` when the entry is proven shardmix's, else why not. An entry named
/// [`Role::Other`] is never shardmix's.
pub(crate) fn not_ours(dir: &Path, entry: &Entry) -> Option<String> {
    let path = dir.join(&entry.name);
    if !path.is_file() {
        return Some("not a regular file".into());
    }
    match entry.role {
        Role::Run => match RunInfo::read_file(&path) {
            Ok(Some(_)) => None,
            Ok(None) => Some("not a shardmix run file".into()),
            Err(e) => Some(e.chain()),
        },
        Role::Manifest => Manifest::read_file(&path).err().map(|e| e.chain()),
        Role::Shard(_) => match check_shard(&path) {
            ShardCheck::Ours(_) => None,
            ShardCheck::Foreign(why) => Some(why),
            ShardCheck::Damaged(e) => Some(format!("unreadable: {}", e.chain())),
        },
        Role::ShardTemp => begins_with(&path, b"PAR1"),
        Role::JsonTemp => begins_with(&path, b"{"),
        Role::Other => Some("not a name shardmix writes".into()),
    }
}

/// `None` when the file is empty or its first bytes are (a prefix of) `magic`.
fn begins_with(path: &Path, magic: &[u8]) -> Option<String> {
    let mut head = Vec::with_capacity(magic.len());
    let read = File::open(path).and_then(|f| f.take(magic.len() as u64).read_to_end(&mut head));
    match read {
        Ok(_) if magic.starts_with(&head) => None,
        Ok(_) => Some(format!("does not begin with '{}' as shardmix's do", String::from_utf8_lossy(magic))),
        Err(e) => Some(format!("unreadable: {e}")),
    }
}

/// The error for files at shardmix's names that it did not write: `action` is what it would
/// have done to them ("delete", "replace").
pub(crate) fn refuse(dir: &Path, action: &str, blocked: &[(String, String)]) -> Error {
    ErrorKind::NotOurs { path: dir.to_path_buf(), action: action.to_string(), files: blocked.to_vec() }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_classify() {
        assert_eq!(shard_file_name(3), "part-00003.parquet");
        assert_eq!(parse_shard_name("part-00003.parquet"), Some(3));
        assert_eq!(parse_shard_name("part-123456.parquet"), Some(123456));
        assert_eq!(parse_shard_name("part-3.parquet"), None);
        let role = |n: &str| {
            let e = Entry::new(n);
            (e.role, e.legacy)
        };
        assert_eq!(role(".part-00001.parquet.tmp"), (Role::ShardTemp, false));
        assert_eq!(role(".shardmix-manifest.json"), (Role::Manifest, false));
        assert_eq!(role(".shardmix-manifest.json.tmp"), (Role::JsonTemp, false));
        assert_eq!(role(".shardmix-run.json"), (Role::Run, false));
        assert_eq!(role("manifest.json"), (Role::Manifest, true));
        assert_eq!(role("._shardmix_run.json.tmp"), (Role::JsonTemp, true));
        assert_eq!(role(".manifest.json.tmp"), (Role::JsonTemp, true));
        assert_eq!(role("part-00002.parquet"), (Role::Shard(2), false));
        assert_eq!(role("notes.txt"), (Role::Other, false));
        assert_eq!(role(".other.tmp"), (Role::Other, false));
    }

    #[test]
    fn temporaries_are_ours_only_when_they_begin_as_ours_do() {
        let dir = tempfile::tempdir().unwrap();
        let case = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.path().join(name), bytes).unwrap();
            not_ours(dir.path(), &Entry::new(name)).is_none()
        };
        assert!(case(".part-00000.parquet.tmp", b""));
        assert!(case(".part-00000.parquet.tmp", b"PA"));
        assert!(case(".part-00000.parquet.tmp", b"PAR1\x15\x00"));
        assert!(!case(".part-00000.parquet.tmp", b"hello"));
        assert!(case(".shardmix-run.json.tmp", b"{\n  \"format\""));
        assert!(!case(".shardmix-run.json.tmp", b"[]"));
        assert!(!case("notes.txt", b"{"));
        // JSON at our names must be our format.
        assert!(!case(RUN_FILE, b"{\"format\": \"someone-else\"}"));
        assert!(!case(MANIFEST_FILE, b"{}"));
    }
}
