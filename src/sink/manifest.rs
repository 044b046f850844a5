//! The files that describe a Parquet output directory: the run file written first
//! (`.shardmix-run.json`, who made the directory and with which configuration fingerprint)
//! and the manifest written last (`.shardmix-manifest.json`, what the directory holds, with a
//! checksum per shard); plus the durable-write helpers both use.
//!
//! Both names start with a dot so that dataset readers skip them: pyarrow.dataset, DuckDB
//! and HF `datasets` ignore hidden files, and `*.parquet` globs do not match them. Before
//! 0.x they were `_shardmix_run.json` and `manifest.json` ([`LEGACY_RUN_FILE`],
//! [`LEGACY_MANIFEST_FILE`]); an output directory in that layout is migrated when resumed.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hash::Crc32;
use crate::error::{Error, ErrorKind, Result};

/// Name of the manifest, written last (hidden, so that dataset readers skip it).
pub const MANIFEST_FILE: &str = ".shardmix-manifest.json";
/// Name of the run file, written first (hidden, so that dataset readers skip it).
pub const RUN_FILE: &str = ".shardmix-run.json";
/// The manifest's name in the first output layout (still recognised, and renamed on resume).
pub(crate) const LEGACY_MANIFEST_FILE: &str = "manifest.json";
/// The run file's name in the first output layout (still recognised, and renamed on resume).
pub(crate) const LEGACY_RUN_FILE: &str = "_shardmix_run.json";
/// `format` value of the manifest.
pub const MANIFEST_FORMAT: &str = "shardmix-parquet-manifest/1";
/// `format` value of the run file.
pub(crate) const RUN_FORMAT: &str = "shardmix-parquet-run/1";

/// What a finished Parquet output directory holds.
///
/// # Example
/// ```no_run
/// use shardmix::Manifest;
/// let manifest = Manifest::read("out".as_ref())?;
/// manifest.verify("out".as_ref())?; // sizes and CRC-32 of every shard
/// println!("{} rows in {} shards", manifest.rows, manifest.shards.len());
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The shardmix version that wrote it.
    pub version: String,
    /// The configuration fingerprint given by the caller.
    pub fingerprint: String,
    /// The configuration given by the caller (free-form JSON).
    pub config: serde_json::Value,
    /// The pipeline seed.
    pub seed: u64,
    /// Pipeline steps written, `0..steps`.
    pub steps: u64,
    /// Steps per shard: shard `k` holds steps `[k·S, (k+1)·S)`.
    pub steps_per_shard: u64,
    /// Total rows.
    pub rows: u64,
    /// The output schema hash (`shardmix.schema_hash`).
    pub schema_hash: String,
    /// The data spec, as stored in the schema metadata.
    pub spec: serde_json::Value,
    /// The file checksum algorithm: `crc32` (zlib's CRC-32 of the whole file).
    pub checksum: String,
    /// The shards, in order.
    pub shards: Vec<ManifestShard>,
}

/// One shard of a finished output directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestShard {
    /// File name inside the output directory (`part-00000.parquet`).
    pub file: String,
    /// Rows in the file.
    pub rows: u64,
    /// First pipeline step in the file.
    pub first_step: u64,
    /// One past the last pipeline step in the file.
    pub end_step: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// CRC-32 of the file bytes, 8 lower-case hex digits.
    pub crc32: String,
}

impl Manifest {
    /// Read the manifest of the output directory `dir` ([`MANIFEST_FILE`]; in a directory
    /// written before the manifest was renamed and not resumed since, `manifest.json`).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when it cannot be read, [`ErrorKind::Output`] when it is not a
    /// shardmix manifest.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            let legacy = dir.join(LEGACY_MANIFEST_FILE);
            if legacy.exists() {
                return Manifest::read_file(&legacy);
            }
        }
        Manifest::read_file(&path)
    }

    /// Read and check the manifest at `path`.
    pub(crate) fn read_file(path: &Path) -> Result<Manifest> {
        let path = path.to_path_buf();
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| output(&path, e))?;
        if m.format != MANIFEST_FORMAT {
            return Err(output(&path, format!("unknown format '{}'", m.format)));
        }
        Ok(m)
    }

    /// Check that every shard listed exists with the recorded size and CRC-32.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] for an unreadable shard, [`ErrorKind::Output`] naming the first
    /// shard whose size or checksum differs.
    pub fn verify(&self, dir: &Path) -> Result<()> {
        for s in &self.shards {
            let path = dir.join(&s.file);
            let (bytes, crc) = file_crc32(&path)?;
            if bytes != s.bytes {
                return Err(output(&path, format!("{bytes} bytes, the manifest says {}", s.bytes)));
            }
            if crc_hex(crc) != s.crc32 {
                return Err(output(
                    &path,
                    format!("CRC-32 {} differs from the manifest's {} (the file is corrupt)", crc_hex(crc), s.crc32),
                ));
            }
        }
        Ok(())
    }
}

/// The run file: who made the output directory, for which configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    pub format: String,
    pub version: String,
    pub fingerprint: String,
    pub steps_per_shard: u64,
    pub schema_hash: String,
}

impl RunInfo {
    /// Read the run file at `path`; `Ok(None)` when absent or not ours.
    pub fn read_file(path: &Path) -> Result<Option<RunInfo>> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            // Not UTF-8: not ours.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        Ok(serde_json::from_str::<RunInfo>(&text).ok().filter(|r| r.format == RUN_FORMAT))
    }
}

/// An [`ErrorKind::Output`] on `path`.
pub(crate) fn output(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Error {
    ErrorKind::Output { path: path.into(), message: message.to_string() }.into()
}

/// 8 lower-case hex digits.
pub(crate) fn crc_hex(crc: u32) -> String {
    format!("{crc:08x}")
}

/// Size and CRC-32 of a file's bytes.
pub(crate) fn file_crc32(path: &Path) -> Result<(u64, u32)> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut crc = Crc32::new();
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, crc.value()))
}

/// The temporary name of `name` while it is written: `.NAME.tmp` (`NAME.tmp` when `name`
/// is already hidden), so that readers of the directory never see it.
pub(crate) fn temp_name(name: &str) -> String {
    if name.starts_with('.') {
        format!("{name}.tmp")
    } else {
        format!(".{name}.tmp")
    }
}

/// fsync a directory so that renames inside it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

/// Write `DIR/NAME` durably and atomically: write `.NAME.tmp`, fsync it, rename it over
/// `NAME`, fsync the directory. On error the temporary file is removed and `NAME` is
/// untouched.
/// Open the temporary file `tmp` with `opts`, never through a symbolic link: on Unix a link
/// at that name is refused (`O_NOFOLLOW`) rather than followed to a file elsewhere.
pub(crate) fn open_temp(opts: &mut fs::OpenOptions, tmp: &Path) -> Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(tmp).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return output(tmp, "is a symbolic link; refusing to write a temporary file through it");
        }
        Error::io(tmp, e)
    })
}

pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(temp_name(name));
    // Only a temporary file this call opened is removed on failure (not a link found there).
    let mut opened = false;
    let result = (|| {
        let mut f = open_temp(fs::OpenOptions::new().write(true).create(true).truncate(true), &tmp)?;
        opened = true;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(f);
        let dest = dir.join(name);
        fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
        sync_dir(dir)
    })();
    if result.is_err() && opened {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_at_the_temporary_name_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere.txt");
        fs::write(&elsewhere, b"keep me").unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join(temp_name("a.json"))).unwrap();
        let err = write_atomic(dir.path(), "a.json", b"one").unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert_eq!(fs::read(&elsewhere).unwrap(), b"keep me");
        assert!(!dir.path().join("a.json").exists());
        assert!(fs::symlink_metadata(dir.path().join(temp_name("a.json"))).is_ok(), "not ours to delete");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.json", b"one").unwrap();
        write_atomic(dir.path(), "a.json", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("a.json")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn verify_detects_a_changed_byte() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("part-00000.parquet"), b"abcdef").unwrap();
        let (bytes, crc) = file_crc32(&dir.path().join("part-00000.parquet")).unwrap();
        let m = Manifest {
            format: MANIFEST_FORMAT.into(),
            version: "0".into(),
            fingerprint: "f".into(),
            config: serde_json::Value::Null,
            seed: 0,
            steps: 1,
            steps_per_shard: 1,
            rows: 1,
            schema_hash: "h".into(),
            spec: serde_json::Value::Null,
            checksum: "crc32".into(),
            shards: vec![ManifestShard {
                file: "part-00000.parquet".into(),
                rows: 1,
                first_step: 0,
                end_step: 1,
                bytes,
                crc32: crc_hex(crc),
            }],
        };
        m.verify(dir.path()).unwrap();
        fs::write(dir.path().join("part-00000.parquet"), b"abcdeg").unwrap();
        let err = m.verify(dir.path()).unwrap_err();
        assert!(err.to_string().contains("CRC-32"), "{err}");
    }
}
