//! [`ParquetSink`]: offline augmentation output — a directory of Parquet shards written
//! atomically, resumable after a crash, described by a manifest written last.
//!
//! ```text
//! OUT/.shardmix-run.json       written first: format, fingerprint, steps per shard, schema hash
//! OUT/part-00000.parquet       shard k = pipeline steps [k·S, (k+1)·S), a pure function of (config, k)
//! OUT/part-00001.parquet
//! OUT/.part-00002.parquet.tmp  the shard being written (never under its final name until complete)
//! OUT/.shardmix-manifest.json  written last: config, seed, steps, per shard rows/steps/bytes/CRC-32
//! ```
//!
//! Every file that is not a shard has a name starting with a dot, so that the directory opens
//! as a dataset as it is: `pyarrow.dataset.dataset(OUT, format="parquet")`,
//! `pyarrow.parquet.read_table(OUT)`, HF `datasets.load_dataset("parquet", data_dir=OUT)`
//! skip hidden files; DuckDB's `read_parquet('OUT/*.parquet')` and polars'
//! `scan_parquet('OUT/*.parquet')` match only the shards (polars' `scan_parquet(OUT)` refuses a
//! directory holding any other file, hidden or not). The lock is on the directory itself
//! ([`DirLock`]) and adds no file.
//!
//! A shard is written under a temporary name, fsynced, re-read (footer, row count, shard
//! metadata), renamed, and the directory fsynced. Each shard also carries its identity in
//! its Parquet key-value metadata (`shardmix.shard`: index, steps, rows, fingerprint), so a
//! rerun can tell which final-named shards are complete and belong to the same run. A
//! resume reads those footers with the checks input footers get (the source's footer
//! reader), so a crafted file in the output directory cannot make it hang.
//!
//! The sink touches only files it can prove it wrote (see `owned.rs`): `overwrite` deletes
//! those and refuses, naming them, when other files sit at the names it writes.
//!
//! The sink holds an exclusive lock on the directory ([`DirLock`]) from `open` until it is
//! dropped, so a second writer fails at once instead of interleaving shards.
//!
//! When the disk fills (or a file size limit is hit) the error is an [`ErrorKind::Io`]
//! naming the temporary file, whose OS error kind tells why (`StorageFull`,
//! `FileTooLarge`, `QuotaExceeded`); the temporary file is removed, so the directory holds
//! only complete shards and a rerun resumes after them.
//!
//! Page checksums: the `parquet` 60.1 writer does not write page CRCs (its page writer has a
//! `TODO` there), so the whole-file CRC-32 in the manifest is the integrity check; page-level
//! statistics are written.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::lock::DirLock;
use super::manifest::{
    crc_hex, file_crc32, output, sync_dir, temp_name, write_atomic, Manifest, ManifestShard, RunInfo, MANIFEST_FILE,
    MANIFEST_FORMAT, RUN_FILE, RUN_FORMAT,
};
use super::owned::{
    check_shard, not_ours, read_shard_meta, refuse, shard_file_name, Entry, Role, ShardCheck, ShardMeta, META_SHARD,
};
use super::png::ImageOut;
use super::schema::{spec_json, OutputSchema, META_SCHEMA_HASH, META_SPEC, META_VERSION};
use crate::batch::Batch;
use crate::error::{Error, ErrorKind, Result};
use crate::spec::DataSpec;

/// Compression of Parquet output pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Snappy (the default): fast, moderate ratio.
    #[default]
    Snappy,
    /// Zstandard at its default level: smaller files, slower.
    Zstd,
    /// No compression.
    None,
}

impl FromStr for Compression {
    type Err = Error;

    /// `snappy`, `zstd` or `none`.
    ///
    /// # Example
    /// ```
    /// use shardmix::Compression;
    /// assert_eq!("zstd".parse::<Compression>()?, Compression::Zstd);
    /// assert!("gzip".parse::<Compression>().is_err());
    /// # Ok::<(), shardmix::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "snappy" => Ok(Compression::Snappy),
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            other => Err(Error::config("compression", format!("'{other}' is not one of snappy, zstd, none"))),
        }
    }
}

impl Compression {
    fn to_parquet(self) -> PqCompression {
        match self {
            Compression::Snappy => PqCompression::SNAPPY,
            Compression::Zstd => PqCompression::ZSTD(ZstdLevel::default()),
            Compression::None => PqCompression::UNCOMPRESSED,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Compression::Snappy => "snappy",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }
}

/// Options of a [`ParquetSink`]; validated by [`ParquetSink::open`].
///
/// # Example
/// ```
/// use shardmix::{Compression, ParquetSinkOptions};
/// let opts = ParquetSinkOptions::new(16)
///     .row_group_size(4096)
///     .compression(Compression::Zstd)
///     .provenance(true)
///     .seed(7);
/// assert_eq!(opts.steps_per_shard(), 16);
/// ```
#[derive(Debug, Clone)]
pub struct ParquetSinkOptions {
    steps_per_shard: u64,
    row_group_size: usize,
    compression: Compression,
    provenance: bool,
    seed: u64,
    config: serde_json::Value,
    image_out: ImageOut,
}

impl ParquetSinkOptions {
    /// Options with `steps_per_shard` pipeline steps per shard (at least 1; the CLI derives
    /// it from the rows per shard and the batch size) and the defaults below.
    pub fn new(steps_per_shard: u64) -> Self {
        ParquetSinkOptions {
            steps_per_shard,
            row_group_size: 65_536,
            compression: Compression::Snappy,
            provenance: false,
            seed: 0,
            config: serde_json::Value::Null,
            image_out: ImageOut::Tensor,
        }
    }

    /// Maximum rows per row group (default 65,536; at least 1).
    pub fn row_group_size(mut self, rows: usize) -> Self {
        self.row_group_size = rows;
        self
    }

    /// Page compression (default [`Compression::Snappy`]).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Write the provenance columns (default false).
    pub fn provenance(mut self, on: bool) -> Self {
        self.provenance = on;
        self
    }

    /// The pipeline seed, recorded in the manifest (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The configuration, recorded in the manifest as given (default `null`).
    pub fn config(mut self, config: serde_json::Value) -> Self {
        self.config = config;
        self
    }

    /// How image features are written (default [`ImageOut::Tensor`]); see
    /// [`OutputSchema::with_image_out`].
    pub fn image_out(mut self, image_out: ImageOut) -> Self {
        self.image_out = image_out;
        self
    }

    /// Steps per shard.
    pub fn steps_per_shard(&self) -> u64 {
        self.steps_per_shard
    }

    fn validate(&self) -> Result<()> {
        if self.steps_per_shard == 0 {
            return Err(Error::config("steps_per_shard", "must be at least 1"));
        }
        if self.row_group_size == 0 {
            return Err(Error::config("row_group_size", "must be at least 1"));
        }
        Ok(())
    }

    /// What must match for a rerun to resume into existing shards.
    fn writer_layout(&self) -> String {
        format!("compression={},row_group_size={}", self.compression.as_str(), self.row_group_size)
    }
}

/// The run file with the writer layout (kept private: an implementation detail).
#[derive(serde::Serialize, serde::Deserialize)]
struct RunFile {
    #[serde(flatten)]
    run: RunInfo,
    writer: String,
}

/// The file a shard is written to. It keeps the first OS error it meets: the Parquet writer
/// turns some of them into strings (a failed final flush becomes
/// `General("fail to get inner writer: ...")`), and callers need the error kind to tell a
/// full disk. In unit tests it can run out of space after a byte budget shared by all the
/// shards of a sink, like a filling disk.
struct ShardFile {
    file: File,
    failure: Arc<OnceLock<io::Error>>,
    #[cfg(test)]
    budget: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl ShardFile {
    fn record<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            let _ = self.failure.set(copy_io_error(e));
        }
        result
    }

    fn write_inner(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(test)]
        if let Some(budget) = &self.budget {
            use std::sync::atomic::Ordering::Relaxed;
            let left = budget.load(Relaxed);
            if left == 0 && !buf.is_empty() {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device (injected)"));
            }
            let n = self.file.write(&buf[..buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))])?;
            budget.fetch_sub(n as u64, Relaxed);
            return Ok(n);
        }
        self.file.write(buf)
    }
}

impl Write for ShardFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.write_inner(buf);
        self.record(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.file.flush();
        self.record(result)
    }
}

/// What the final name of one shard of a run holds (see [`shard_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardState {
    /// The shard of this run: shardmix's, with this index, fingerprint and steps.
    Written,
    /// No file at the shard's name.
    Missing,
    /// shardmix's shard of another run or index, or an unreadable file: rewritten.
    Stale,
    /// A file shardmix did not write (why): never replaced.
    Foreign(String),
}

/// The state of shard `index` of the run `fingerprint` in `dir`, which covers `steps`
/// (its footer read with the checks input footers get; not its CRC, which the manifest
/// records).
pub fn shard_state(dir: &Path, index: u64, fingerprint: &str, steps: std::ops::Range<u64>) -> ShardState {
    let path = dir.join(shard_file_name(index));
    if fs::symlink_metadata(&path).is_err() {
        return ShardState::Missing;
    }
    if !path.is_file() {
        return ShardState::Foreign("not a regular file".into());
    }
    match check_shard(&path) {
        ShardCheck::Ours(m)
            if m.index == index
                && m.fingerprint == fingerprint
                && m.first_step == steps.start
                && m.end_step == steps.end =>
        {
            ShardState::Written
        }
        ShardCheck::Ours(_) | ShardCheck::Damaged(_) => ShardState::Stale,
        ShardCheck::Foreign(why) => ShardState::Foreign(why),
    }
}

/// The refusal of a sink that failed before.
const FAILED: &str = "an earlier write failed; the sink accepts no more batches";

/// An [`ErrorKind::Misuse`] of the sink API `api`.
fn misuse(api: &'static str, message: impl Into<String>) -> Error {
    ErrorKind::Misuse { api, message: message.into() }.into()
}

/// Create (or truncate) a shard's temporary file under an exclusive `flock`, so that two
/// writers of the same shard (two tasks of a distributed run given it) cannot interleave
/// their bytes: the second fails at once. Where the filesystem has no locks, it is not
/// protected.
fn create_locked(tmp: &Path) -> Result<File> {
    let file = super::manifest::open_temp(fs::OpenOptions::new().write(true).create(true).truncate(false), tmp)?;
    match file.try_lock() {
        Ok(()) | Err(fs::TryLockError::Error(_)) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(ErrorKind::OutputLocked { path: tmp.to_path_buf(), pid: super::lock::holder_pid(&file) }.into())
        }
    }
    file.set_len(0).map_err(|e| Error::io(tmp, e))?;
    Ok(file)
}

/// The same OS error (io::Error is not `Clone`).
fn copy_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// A Parquet writer error on `path`; an OS error behind it (disk full, file too large) —
/// the one the file recorded in `failure`, or one the writer kept — becomes
/// [`ErrorKind::Io`] so that callers can match on its kind.
fn write_error(path: &Path, source: ParquetError, failure: &OnceLock<io::Error>) -> Error {
    if let Some(e) = failure.get() {
        return Error::io(path, copy_io_error(e));
    }
    match source {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(e) => Error::io(path, *e),
            Err(inner) => ErrorKind::Write { path: path.to_path_buf(), source: ParquetError::External(inner) }.into(),
        },
        source => ErrorKind::Write { path: path.to_path_buf(), source }.into(),
    }
}

/// The shard being written.
struct OpenShard {
    index: u64,
    tmp: PathBuf,
    writer: ArrowWriter<ShardFile>,
    /// The first OS error of the file (shared with its [`ShardFile`]).
    failure: Arc<OnceLock<io::Error>>,
    rows: u64,
    first_step: u64,
}

/// Writes pipeline batches to a directory of Parquet shards (see `ParquetSink::open` for the layout, resume and ownership rules).
///
/// # Example
/// ```
/// use shardmix::{Batch, DataSpec, FeatureLayout, ParquetSink, ParquetSinkOptions, TargetKind};
/// let spec = DataSpec {
///     features: FeatureLayout::Columns(vec!["x".into(), "y".into()]),
///     target: TargetKind::None,
///     feature_shape: None,
///     pixels: shardmix::Pixels::F32,
/// };
/// let dir = tempfile::tempdir().unwrap();
/// let out = dir.path().join("out");
/// let mut sink = ParquetSink::open(&out, &spec, ParquetSinkOptions::new(2), "cfg-1", false)?;
/// assert_eq!(sink.resume_step(), 0);
/// for step in 0..3 {
///     sink.write(&Batch::new(step, ndarray::array![[1.0f32, 2.0]], None, vec![step])?)?;
/// }
/// let manifest = sink.finish(3)?;
/// assert_eq!(manifest.shards.len(), 2); // steps [0, 2) and [2, 3)
/// assert_eq!(manifest.rows, 3);
/// // A rerun with the same fingerprint sees a complete run.
/// let again = ParquetSink::open(&out, &spec, ParquetSinkOptions::new(2), "cfg-1", false)?;
/// assert!(again.is_complete());
/// assert_eq!(again.resume_step(), 3);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub struct ParquetSink {
    dir: PathBuf,
    schema: OutputSchema,
    opts: ParquetSinkOptions,
    fingerprint: String,
    shards: Vec<ManifestShard>,
    next_step: u64,
    current: Option<OpenShard>,
    complete: Option<Manifest>,
    failed: bool,
    /// Opened by [`open_shards`](Self::open_shards): writes shards, never the manifest.
    range: bool,
    /// Held until the sink is dropped (fields drop after `Drop::drop`, so the lock outlives
    /// the removal of an unfinished temporary file).
    lock: DirLock,
    /// Test-only: bytes the shard files may still take before "the disk is full".
    #[cfg(test)]
    budget: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl ParquetSink {
    /// Open (or resume) the output directory `out` for data of `spec`.
    ///
    /// * `out` absent or empty (or holding only shardmix temporaries): a new run; the run file
    ///   records `fingerprint`.
    /// * `out` made by a run with the same fingerprint and layout: its complete shards are
    ///   kept (each footer read with the checks input footers get, and its identity
    ///   re-checked; bad or out-of-sequence ones and stale temporary files are deleted), and
    ///   [`resume_step`](Self::resume_step) tells where to restart the pipeline. When its
    ///   manifest exists the run is complete ([`is_complete`](Self::is_complete)). A
    ///   directory in the first layout (`manifest.json`, `_shardmix_run.json`) has those
    ///   renamed to [`MANIFEST_FILE`] and [`RUN_FILE`].
    /// * `out` made by shardmix but holding no shard nor manifest (a run that failed before
    ///   its first shard, whatever its configuration): a new run.
    /// * otherwise (different fingerprint, or not a shardmix directory): an error, unless
    ///   `overwrite`, which deletes the files shardmix can prove it wrote (by their content:
    ///   shard footers with shardmix's metadata, run files and manifests of its format,
    ///   temporaries that begin as its files do) and starts afresh. Other files are never
    ///   touched; when one sits at a name shardmix writes (a `part-NNNNN.parquet` that is not
    ///   its shard, say), `overwrite` refuses, naming it, and changes nothing.
    ///
    /// The directory is locked ([`DirLock`]) before anything in it is read or changed, and
    /// stays locked until the sink is dropped.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for invalid options or spec, [`ErrorKind::Io`] when the
    /// directory cannot be created, read or written, [`ErrorKind::OutputLocked`] when another
    /// sink (in any process) has it open, [`ErrorKind::OtherRun`] when it belongs to another
    /// run, [`ErrorKind::NotOurs`] when it holds files at shardmix's names that shardmix did
    /// not write.
    pub fn open(
        out: &Path,
        spec: &DataSpec,
        opts: ParquetSinkOptions,
        fingerprint: &str,
        overwrite: bool,
    ) -> Result<ParquetSink> {
        opts.validate()?;
        let schema = OutputSchema::with_image_out(spec, opts.provenance, opts.image_out)?;
        fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let lock = DirLock::acquire(out)?;
        let mut sink = ParquetSink {
            dir: out.to_path_buf(),
            schema,
            opts,
            fingerprint: fingerprint.to_string(),
            shards: Vec::new(),
            next_step: 0,
            current: None,
            complete: None,
            failed: false,
            range: false,
            lock,
            #[cfg(test)]
            budget: None,
        };
        let entries: Vec<Entry> = sink.list()?.iter().map(|n| Entry::new(n)).collect();
        // Only our temporaries (a run killed before its run file was in place): start afresh.
        if entries.iter().all(|e| e.role == Role::JsonTemp || e.role == Role::ShardTemp) {
            return sink.replace(&entries);
        }
        let run = sink.read_run_file(&entries)?;
        let mismatch = sink.mismatch(run.as_ref());
        let Some(why) = mismatch else {
            sink.resume(&entries)?;
            return Ok(sink);
        };
        // A run of ours that failed before its first shard (a bad label, say) left only its
        // run file: nothing to keep, so a corrected rerun starts afresh.
        let nothing_written = || {
            !entries.iter().any(|e| {
                matches!(e.role, Role::Shard(_)) || (e.role == Role::Manifest && not_ours(&sink.dir, e).is_none())
            })
        };
        if overwrite || (run.is_some() && nothing_written()) {
            return sink.replace(&entries);
        }
        Err(ErrorKind::OtherRun { path: out.to_path_buf(), why }.into())
    }

    /// Open `out`, made ready by [`open`](Self::open) for the same run (fingerprint, steps
    /// per shard, schema and writer layout), to write whole shards from shard `first_shard`
    /// on, for one task of a distributed run: batches start at step `first_shard × steps per
    /// shard`, and [`close_shards`](Self::close_shards) ends the last shard without writing
    /// the manifest (the run's [`open`](Self::open) + [`finish`](Self::finish) does that
    /// once every shard is there).
    ///
    /// The directory is locked shared ([`DirLock::acquire_shared`]): tasks writing other
    /// shards run at once, a single-process run or a [`open`](Self::open) is refused while
    /// any of them runs. Each shard's temporary file is locked too, so two tasks given the
    /// same shard cannot interleave its bytes. A final-named shard is replaced only when it
    /// is shardmix's (or unreadable); a foreign file at that name is refused when the shard
    /// is closed.
    ///
    /// # Errors
    /// [`ErrorKind::Output`] when `out` was not made ready for this run (no run file, or one
    /// of another configuration); [`ErrorKind::OutputLocked`] while a single-process run
    /// holds it; [`ErrorKind::Config`] for invalid options.
    pub fn open_shards(
        out: &Path,
        spec: &DataSpec,
        opts: ParquetSinkOptions,
        fingerprint: &str,
        first_shard: u64,
    ) -> Result<ParquetSink> {
        opts.validate()?;
        let schema = OutputSchema::with_image_out(spec, opts.provenance, opts.image_out)?;
        if !out.is_dir() {
            return Err(output(out, "does not exist: prepare the run first (ParquetSink::open)"));
        }
        let lock = DirLock::acquire_shared(out)?;
        let next_step = first_shard
            .checked_mul(opts.steps_per_shard)
            .ok_or_else(|| Error::config("first_shard", format!("shard {first_shard} is past the last step")))?;
        let sink = ParquetSink {
            dir: out.to_path_buf(),
            schema,
            opts,
            fingerprint: fingerprint.to_string(),
            shards: Vec::new(),
            next_step,
            current: None,
            complete: None,
            failed: false,
            range: true,
            lock,
            #[cfg(test)]
            budget: None,
        };
        let entries: Vec<Entry> = sink.list()?.iter().map(|n| Entry::new(n)).collect();
        let run = sink.read_run_file(&entries)?;
        if let Some(why) = sink.mismatch(run.as_ref()) {
            return Err(output(out, format!("{why}; prepare the run first (ParquetSink::open) with these settings")));
        }
        Ok(sink)
    }

    /// Close the last shard of a sink from [`open_shards`](Self::open_shards) and return
    /// the shards it wrote (no manifest is written).
    ///
    /// # Errors
    /// [`ErrorKind::Write`]/[`ErrorKind::Io`] when closing fails (the temporary file is
    /// removed); [`ErrorKind::Misuse`] after an earlier failure.
    pub fn close_shards(mut self) -> Result<Vec<ManifestShard>> {
        if self.failed {
            return Err(misuse("ParquetSink::close_shards", FAILED));
        }
        if let Err(e) = self.close_shard() {
            self.fail();
            return Err(e);
        }
        Ok(std::mem::take(&mut self.shards))
    }

    /// Why the run file `run` does not describe this run, or `None` when it does.
    fn mismatch(&self, run: Option<&RunFile>) -> Option<String> {
        match run {
            None => Some(format!("is not empty and was not made by shardmix (no readable {RUN_FILE})")),
            Some(r) if r.run.fingerprint != self.fingerprint => Some(format!(
                "holds the output of a different configuration (fingerprint '{}', this run '{}')",
                r.run.fingerprint, self.fingerprint
            )),
            Some(r) if r.run.steps_per_shard != self.opts.steps_per_shard => Some(format!(
                "was written with {} steps per shard, this run uses {}",
                r.run.steps_per_shard, self.opts.steps_per_shard
            )),
            Some(r) if r.run.schema_hash != self.schema.hash() => {
                Some(format!("was written with schema {}, this run's is {}", r.run.schema_hash, self.schema.hash()))
            }
            Some(r) if r.writer != self.opts.writer_layout() => {
                Some(format!("was written with {}, this run uses {}", r.writer, self.opts.writer_layout()))
            }
            Some(_) => None,
        }
    }

    /// The first step the pipeline must produce: 0 for a new run, the end of the complete
    /// shards for a resumed one, the total for a complete one. After writes, the next step
    /// the sink expects.
    pub fn resume_step(&self) -> u64 {
        self.next_step
    }

    /// True when the directory already holds a complete run (its manifest).
    pub fn is_complete(&self) -> bool {
        self.complete.is_some()
    }

    /// The shards found complete when the sink was opened, plus those finished since.
    pub fn shards(&self) -> &[ManifestShard] {
        &self.shards
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// False when the filesystem does not support locks, so that the directory is not
    /// protected against a second writer (see [`DirLock::is_enforced`]).
    pub fn is_locked(&self) -> bool {
        self.lock.is_enforced()
    }

    /// The output schema.
    pub fn schema(&self) -> &OutputSchema {
        &self.schema
    }

    /// Write the batch of the next step. Batches must arrive in step order without gaps,
    /// starting at [`resume_step`](Self::resume_step); the sink rotates to a new shard at
    /// every multiple of the steps per shard.
    ///
    /// # Errors
    /// [`ErrorKind::Misuse`] for a batch out of sequence, a complete run, or a sink that
    /// failed before; [`ErrorKind::Shape`] for a batch that does not fit the spec;
    /// [`ErrorKind::Io`] naming the shard's temporary file when the OS refuses a write (its
    /// kind tells a full disk: `StorageFull`, `FileTooLarge`, `QuotaExceeded`),
    /// [`ErrorKind::Write`] for other writer errors. Either way the temporary file is
    /// removed, no shard is published, and the sink refuses further writes; reopening the
    /// directory resumes after the complete shards.
    pub fn write(&mut self, batch: &Batch) -> Result<()> {
        self.check_usable("ParquetSink::write")?;
        if batch.step != self.next_step {
            return Err(misuse(
                "ParquetSink::write",
                format!(
                    "got the batch of step {}, expected step {} (batches must arrive in order, without gaps)",
                    batch.step, self.next_step
                ),
            ));
        }
        let rb = self.schema.to_record_batch(batch)?;
        let index = batch.step / self.opts.steps_per_shard;
        let result = (|| {
            if self.current.as_ref().is_some_and(|c| c.index != index) {
                self.close_shard()?;
            }
            let open = match self.current.take() {
                Some(cur) => cur,
                None => self.create_shard(index, batch.step)?,
            };
            let cur = self.current.insert(open);
            cur.writer.write(&rb).map_err(|e| write_error(&cur.tmp, e, &cur.failure))?;
            cur.rows += rb.num_rows() as u64;
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.next_step += 1;
                Ok(())
            }
            Err(e) => {
                self.fail();
                Err(e)
            }
        }
    }

    /// Close the last shard and write the manifest; `total_steps` is the number of pipeline
    /// steps of the run (every step `0..total_steps` must have been written, by this sink or
    /// the run it resumed). For a run found complete, returns its manifest.
    ///
    /// # Errors
    /// [`ErrorKind::Misuse`] on a sink of [`open_shards`](Self::open_shards), after an
    /// earlier failure, or when steps `0..total_steps` are not exactly the steps written;
    /// [`ErrorKind::Output`] when the run found complete has another step count;
    /// [`ErrorKind::Write`]/[`ErrorKind::Io`] when closing or writing fails.
    pub fn finish(mut self, total_steps: u64) -> Result<Manifest> {
        if self.range {
            return Err(misuse("ParquetSink::finish", "a sink of open_shards writes no manifest: call close_shards"));
        }
        if let Some(m) = self.complete.take() {
            if m.steps != total_steps {
                return Err(output(
                    &self.dir,
                    format!("the complete run there has {} steps, not {total_steps}", m.steps),
                ));
            }
            return Ok(m);
        }
        self.check_usable("ParquetSink::finish")?;
        if self.next_step != total_steps {
            return Err(misuse(
                "ParquetSink::finish",
                format!("finish({total_steps}) called after steps 0..{} were written", self.next_step),
            ));
        }
        if let Err(e) = self.close_shard() {
            self.fail();
            return Err(e);
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            fingerprint: self.fingerprint.clone(),
            config: self.opts.config.clone(),
            seed: self.opts.seed,
            steps: total_steps,
            steps_per_shard: self.opts.steps_per_shard,
            rows: self.shards.iter().map(|s| s.rows).sum(),
            schema_hash: self.schema.hash().to_string(),
            spec: spec_json(self.schema.spec()),
            checksum: "crc32".to_string(),
            shards: self.shards.clone(),
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| output(self.dir.join(MANIFEST_FILE), e))?;
        write_atomic(&self.dir, MANIFEST_FILE, text.as_bytes())?;
        Ok(manifest)
    }

    /// Refuse a call (`api`) on a sink that holds a complete run or failed before.
    fn check_usable(&self, api: &'static str) -> Result<()> {
        if self.complete.is_some() {
            return Err(misuse(
                api,
                format!(
                    "{} already holds the complete run (its manifest exists); nothing to write",
                    self.dir.display()
                ),
            ));
        }
        if self.failed {
            return Err(misuse(api, FAILED));
        }
        Ok(())
    }

    /// Drop the open shard and its temporary file; refuse further writes.
    fn fail(&mut self) {
        self.failed = true;
        if let Some(cur) = self.current.take() {
            let tmp = cur.tmp.clone();
            drop(cur);
            let _ = fs::remove_file(tmp);
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn remove(&self, name: &str) -> Result<()> {
        let p = self.dir.join(name);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// The run file (at its name, else at its legacy name) when it is ours.
    fn read_run_file(&self, entries: &[Entry]) -> Result<Option<RunFile>> {
        // Sorted names put the new (hidden) name before the legacy one.
        for e in entries.iter().filter(|e| e.role == Role::Run) {
            let path = self.dir.join(&e.name);
            // RunInfo::read_file checks the file is ours; parse again with the layout.
            if RunInfo::read_file(&path)?.is_none() {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            if let Ok(run) = serde_json::from_str(&text) {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    /// Delete every file shardmix wrote and start afresh; refuse, changing nothing, when
    /// files that shardmix did not write sit at names it writes.
    fn replace(mut self, entries: &[Entry]) -> Result<ParquetSink> {
        let mut ours = Vec::new();
        let mut blocked = Vec::new();
        for e in entries.iter().filter(|e| e.role != Role::Other) {
            match not_ours(&self.dir, e) {
                None => ours.push(e.name.as_str()),
                // A legacy name is no longer shardmix's: someone else's file, not in the way.
                Some(_) if e.legacy => {}
                Some(why) => blocked.push((e.name.clone(), why)),
            }
        }
        if !blocked.is_empty() {
            return Err(refuse(&self.dir, "delete or replace", &blocked));
        }
        for name in ours {
            self.remove(name)?;
        }
        self.start_fresh()?;
        Ok(self)
    }

    fn start_fresh(&mut self) -> Result<()> {
        let run = RunFile {
            run: RunInfo {
                format: RUN_FORMAT.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                fingerprint: self.fingerprint.clone(),
                steps_per_shard: self.opts.steps_per_shard,
                schema_hash: self.schema.hash().to_string(),
            },
            writer: self.opts.writer_layout(),
        };
        let text = serde_json::to_string_pretty(&run).map_err(|e| output(self.dir.join(RUN_FILE), e))?;
        write_atomic(&self.dir, RUN_FILE, text.as_bytes())
    }

    /// Keep the verified prefix of complete shards; delete our temporaries and our shards
    /// after that prefix; rename files of the first layout. Everything is checked before
    /// anything is changed: a file at one of our names that is not ours is an error.
    fn resume(&mut self, entries: &[Entry]) -> Result<()> {
        let mut delete: Vec<&str> = Vec::new();
        let mut blocked = Vec::new();
        for e in entries.iter().filter(|e| matches!(e.role, Role::JsonTemp | Role::ShardTemp)) {
            match not_ours(&self.dir, e) {
                None => delete.push(&e.name),
                Some(_) if e.legacy => {}
                Some(why) => blocked.push((e.name.clone(), why)),
            }
        }
        // Run files and manifests: the new name wins; an ours at the legacy name is renamed.
        let mut renames: Vec<(&str, &str)> = Vec::new();
        let has = |role: Role, legacy: bool| entries.iter().find(|e| e.role == role && e.legacy == legacy);
        let mut manifest_here = false;
        for (role, name) in [(Role::Run, RUN_FILE), (Role::Manifest, MANIFEST_FILE)] {
            let current = has(role, false);
            if let Some(e) = current {
                if let Some(why) = not_ours(&self.dir, e) {
                    // A foreign file at our run file's name (ours was read at the legacy
                    // name), or at our manifest's.
                    blocked.push((e.name.clone(), why));
                    continue;
                }
            }
            let legacy = has(role, true).filter(|e| not_ours(&self.dir, e).is_none());
            match (current, legacy) {
                (Some(_), Some(old)) => delete.push(&old.name),
                (None, Some(old)) => renames.push((&old.name, name)),
                _ => {}
            }
            manifest_here |= role == Role::Manifest && (current.is_some() || legacy.is_some());
        }
        if !blocked.is_empty() {
            return Err(refuse(&self.dir, "delete or replace", &blocked));
        }
        let complete = if manifest_here {
            let m = Manifest::read(&self.dir)?;
            Some(m).filter(|m| m.fingerprint == self.fingerprint && m.schema_hash == self.schema.hash())
        } else {
            None
        };
        if let Some(m) = complete {
            for name in delete {
                self.remove(name)?;
            }
            for (from, to) in renames {
                self.rename(from, to)?;
            }
            sync_dir(&self.dir)?;
            self.shards = m.shards.clone();
            self.next_step = m.steps;
            self.complete = Some(m);
            return Ok(());
        }
        let s = self.opts.steps_per_shard;
        let mut k = 0u64;
        loop {
            let name = shard_file_name(k);
            let path = self.dir.join(&name);
            if !path.exists() {
                break;
            }
            let meta = match read_shard_meta(&path) {
                Ok(m) => m,
                Err(_) => break,
            };
            let full = meta.end_step == meta.first_step + s;
            if meta.index != k
                || meta.fingerprint != self.fingerprint
                || meta.first_step != k * s
                || meta.end_step <= meta.first_step
                || meta.end_step > meta.first_step + s
            {
                break;
            }
            let (bytes, crc) = file_crc32(&path)?;
            self.shards.push(ManifestShard {
                file: name,
                rows: meta.rows,
                first_step: meta.first_step,
                end_step: meta.end_step,
                bytes,
                crc32: crc_hex(crc),
            });
            self.next_step = meta.end_step;
            k += 1;
            if !full {
                break; // a short shard can only be the last one
            }
        }
        // Final-named shards past the verified prefix are rewritten: ours (another run's, or
        // out of sequence) and damaged ones (a shard of this directory whose footer no longer
        // reads) are deleted; a readable Parquet file that is not a shardmix shard is refused.
        for e in entries {
            if let Role::Shard(i) = e.role {
                if i >= k {
                    match check_shard(&self.dir.join(&e.name)) {
                        ShardCheck::Ours(_) | ShardCheck::Damaged(_) => delete.push(&e.name),
                        ShardCheck::Foreign(why) => blocked.push((e.name.clone(), why)),
                    }
                }
            }
        }
        if !blocked.is_empty() {
            self.shards.clear();
            self.next_step = 0;
            return Err(refuse(&self.dir, "delete or replace", &blocked));
        }
        // The stale manifest of another configuration under a matching run file.
        if manifest_here {
            delete.push(MANIFEST_FILE);
            if let Some(old) = has(Role::Manifest, true).filter(|e| not_ours(&self.dir, e).is_none()) {
                delete.push(&old.name);
            }
            renames.retain(|(_, to)| *to != MANIFEST_FILE);
        }
        for name in delete {
            self.remove(name)?;
        }
        for (from, to) in renames {
            self.rename(from, to)?;
        }
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Rename `from` to `to` inside the directory (the caller fsyncs the directory).
    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let dest = self.dir.join(to);
        fs::rename(self.dir.join(from), &dest).map_err(|e| Error::io(&dest, e))
    }

    fn create_shard(&self, index: u64, first_step: u64) -> Result<OpenShard> {
        let tmp = self.dir.join(temp_name(&shard_file_name(index)));
        let failure = Arc::new(OnceLock::new());
        let file = ShardFile {
            file: create_locked(&tmp)?,
            failure: failure.clone(),
            #[cfg(test)]
            budget: self.budget.clone(),
        };
        // Mixed and synthetic floats are nearly all distinct: dictionary encoding only burns
        // time building dictionaries it then abandons (it was 60 % of `augment`'s CPU time).
        let props = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_compression(self.opts.compression.to_parquet())
            .set_max_row_group_row_count(Some(self.opts.row_group_size))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_key_value_metadata(Some(
                [META_VERSION, META_SCHEMA_HASH, META_SPEC]
                    .iter()
                    .map(|k| KeyValue::new(k.to_string(), self.schema.schema().metadata().get(k).cloned()))
                    .collect(),
            ))
            .build();
        let writer =
            ArrowWriter::try_new(file, self.schema.schema().clone(), Some(props)).map_err(|source| -> Error {
                let _ = fs::remove_file(&tmp);
                write_error(&tmp, source, &failure)
            })?;
        Ok(OpenShard { index, tmp, writer, failure, rows: 0, first_step })
    }

    /// Close the open shard: footer, fsync, re-read, rename, fsync the directory.
    fn close_shard(&mut self) -> Result<()> {
        let Some(mut cur) = self.current.take() else {
            return Ok(());
        };
        let name = shard_file_name(cur.index);
        let meta = ShardMeta {
            index: cur.index,
            first_step: cur.first_step,
            end_step: self.next_step,
            rows: cur.rows,
            fingerprint: self.fingerprint.clone(),
        };
        let meta_json = serde_json::to_string(&meta).map_err(|e| output(&cur.tmp, e))?;
        cur.writer.append_key_value_metadata(KeyValue::new(META_SHARD.to_string(), Some(meta_json)));
        let tmp = cur.tmp.clone();
        let result = (|| {
            let failure = cur.failure.clone();
            let file = cur.writer.into_inner().map_err(|e| write_error(&tmp, e, &failure))?.file;
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
            let found = read_shard_meta(&tmp)?;
            if found != meta {
                return Err(output(&tmp, format!("re-read shard metadata {found:?} differs from what was written")));
            }
            let (bytes, crc) = file_crc32(&tmp)?;
            let dest = self.dir.join(&name);
            if self.range && dest.exists() {
                // Another task's shard (the same bytes) or a stale one of ours is replaced;
                // a file shardmix did not write is not.
                if let ShardCheck::Foreign(why) = check_shard(&dest) {
                    return Err(refuse(&self.dir, "replace", &[(name.clone(), why)]));
                }
            }
            fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
            // The temporary file's lock is held until it has its final name.
            drop(file);
            sync_dir(&self.dir)?;
            Ok(ManifestShard {
                file: name,
                rows: meta.rows,
                first_step: meta.first_step,
                end_step: meta.end_step,
                bytes,
                crc32: crc_hex(crc),
            })
        })();
        match result {
            Ok(info) => {
                self.shards.push(info);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

impl Drop for ParquetSink {
    /// An unfinished shard is discarded: its temporary file is removed, nothing is renamed.
    fn drop(&mut self) {
        if let Some(cur) = self.current.take() {
            let tmp = cur.tmp.clone();
            drop(cur);
            let _ = fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::AtomicU64;

    fn spec() -> DataSpec {
        DataSpec {
            features: crate::FeatureLayout::Columns(vec!["a".into(), "b".into(), "c".into()]),
            target: crate::TargetKind::None,
            feature_shape: None,
            pixels: Default::default(),
        }
    }

    fn batch(step: u64) -> Batch {
        let x = ndarray::Array2::from_shape_fn((4, 3), |(i, j)| step as f32 * 100.0 + i as f32 * 10.0 + j as f32);
        Batch::new(step, x, None, (0..4).map(|i| step * 10 + i).collect()).unwrap()
    }

    fn opts() -> ParquetSinkOptions {
        // Row groups of 3 rows: shards reach the file during write(), not only at close.
        ParquetSinkOptions::new(2).row_group_size(3).seed(5)
    }

    /// Every file of `dir`, sorted, with its bytes.
    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    }

    const STEPS: u64 = 10; // 5 shards of 2 steps

    #[test]
    fn a_run_killed_while_writing_its_run_file_does_not_block_the_rerun() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join(temp_name(RUN_FILE)), b"{\n  \"form").unwrap();
        let sink = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
        assert_eq!(sink.resume_step(), 0);
        let names: Vec<String> = files(&out).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec![RUN_FILE.to_string()]);
        // Anything else in the directory still makes it someone else's.
        drop(sink);
        let other = tmp.path().join("other");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join(temp_name(RUN_FILE)), b"x").unwrap();
        fs::write(other.join("notes.txt"), b"mine").unwrap();
        let err = ParquetSink::open(&other, &spec(), opts(), "fp", false).err().expect("refused");
        assert!(
            matches!(err.kind(), ErrorKind::NotOurs { path, .. } | ErrorKind::OtherRun { path, .. } if *path == other),
            "{err:?}"
        );
    }

    #[test]
    fn a_full_disk_publishes_only_complete_shards_and_a_rerun_is_identical() {
        let tmp = tempfile::tempdir().unwrap();
        let reference = tmp.path().join("reference");
        let mut sink = ParquetSink::open(&reference, &spec(), opts(), "fp", false).unwrap();
        for step in 0..STEPS {
            sink.write(&batch(step)).unwrap();
        }
        sink.finish(STEPS).unwrap();
        let want = files(&reference);
        let shard_bytes: Vec<u64> =
            (0..5).map(|k| fs::metadata(reference.join(shard_file_name(k))).unwrap().len()).collect();
        let before = |k: usize| shard_bytes[..k].iter().sum::<u64>();
        // Budgets: nothing, inside shard 0, exactly shards 0-1, inside shard 2, one byte short of all.
        let budgets = [0, shard_bytes[0] / 2, before(2), before(2) + shard_bytes[2] / 3, before(5) - 1];
        for (case, &budget) in budgets.iter().enumerate() {
            let out = tmp.path().join(format!("out{case}"));
            let mut sink = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
            sink.budget = Some(Arc::new(AtomicU64::new(budget)));
            let err = match (0..STEPS).map(|step| sink.write(&batch(step))).find_map(Result::err) {
                Some(e) => {
                    // The sink refuses more work.
                    let again = sink.write(&batch(STEPS)).unwrap_err();
                    assert!(matches!(again.kind(), ErrorKind::Misuse { api: "ParquetSink::write", .. }), "{again:?}");
                    drop(sink); // releases the directory
                    e
                }
                None => sink.finish(STEPS).unwrap_err(), // the last shard fails at close
            };
            // The shard the disk filled on: the first one that does not fit in the budget.
            let failed = (0..5).find(|&k| before(k + 1) > budget).unwrap() as u64;
            let tmp_path = out.join(temp_name(&shard_file_name(failed)));
            match err.kind() {
                ErrorKind::Io { path, source } => {
                    assert_eq!(path, &tmp_path, "budget {budget}");
                    assert_eq!(source.kind(), io::ErrorKind::StorageFull, "budget {budget}");
                }
                other => panic!("budget {budget}: {other:?}"),
            }
            assert!(err.to_string().contains(&shard_file_name(failed)), "{err}");
            // Only the run file and the complete shards before the failed one, byte-identical.
            let names: Vec<String> = files(&out).into_iter().map(|(n, _)| n).collect();
            let mut expected = vec![RUN_FILE.to_string()];
            expected.extend((0..failed).map(shard_file_name));
            expected.sort();
            assert_eq!(names, expected, "budget {budget}");
            for (name, bytes) in files(&out) {
                assert!(want.contains(&(name.clone(), bytes)), "budget {budget}: {name} differs from the reference");
            }
            let mut sink = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
            assert_eq!(sink.resume_step(), failed * 2, "budget {budget}");
            for step in sink.resume_step()..STEPS {
                sink.write(&batch(step)).unwrap();
            }
            sink.finish(STEPS).unwrap();
            assert!(files(&out) == want, "budget {budget}: the resumed run differs from the reference");
        }
    }

    #[test]
    fn a_second_sink_on_the_same_directory_is_refused_and_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut first = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
        assert!(first.is_locked());
        for step in 0..3 {
            first.write(&batch(step)).unwrap();
        }
        let before = files(&out);
        // Even with overwrite and another fingerprint, which would otherwise delete files.
        let err = ParquetSink::open(&out, &spec(), opts(), "other", true).err().unwrap();
        assert!(matches!(err.kind(), ErrorKind::OutputLocked { path, .. } if *path == out), "{err:?}");
        assert!(err.to_string().contains(&out.display().to_string()), "{err}");
        assert_eq!(files(&out), before);
        for step in 3..STEPS {
            first.write(&batch(step)).unwrap();
        }
        first.finish(STEPS).unwrap();
        let again = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
        assert!(again.is_complete());
    }

    /// The kind and API of a [`ErrorKind::Misuse`] (panics on any other kind).
    fn misused(err: &Error) -> (&'static str, &str) {
        match err.kind() {
            ErrorKind::Misuse { api, message } => (api, message.as_str()),
            _ => panic!("not a misuse: {err:?}"),
        }
    }

    #[test]
    fn calls_out_of_order_are_misuse_and_change_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut sink = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
        // A batch ahead of the next step.
        let err = sink.write(&batch(1)).unwrap_err();
        assert_eq!(misused(&err).0, "ParquetSink::write");
        assert!(misused(&err).1.contains("expected step 0"), "{err}");
        for step in 0..3 {
            sink.write(&batch(step)).unwrap();
        }
        // A batch already written.
        let err = sink.write(&batch(1)).unwrap_err();
        assert!(misused(&err).1.contains("got the batch of step 1, expected step 3"), "{err}");
        // finish before every step was written, then with fewer steps than written.
        let err = sink.finish(STEPS).unwrap_err();
        assert_eq!(misused(&err), ("ParquetSink::finish", "finish(10) called after steps 0..3 were written"));
        // A refused finish publishes nothing: no manifest, and the shard begun stays unpublished.
        assert!(!out.join(MANIFEST_FILE).exists());
        assert!(!out.join(shard_file_name(1)).exists());

        let mut sink = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
        for step in sink.resume_step()..STEPS {
            sink.write(&batch(step)).unwrap();
        }
        let err = sink.finish(STEPS - 1).unwrap_err();
        assert_eq!(misused(&err).0, "ParquetSink::finish");
        let mut sink = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
        for step in sink.resume_step()..STEPS {
            sink.write(&batch(step)).unwrap();
        }
        sink.finish(STEPS).unwrap();

        // Writing to a complete run.
        let mut sink = ParquetSink::open(&out, &spec(), opts(), "fp", false).unwrap();
        assert!(sink.is_complete());
        let err = sink.write(&batch(STEPS)).unwrap_err();
        assert_eq!(misused(&err).0, "ParquetSink::write");
        assert!(misused(&err).1.contains("already holds the complete run"), "{err}");
        drop(sink);

        // finish on a sink of open_shards.
        let other = tmp.path().join("other");
        drop(ParquetSink::open(&other, &spec(), opts(), "fp", false).unwrap());
        let sink = ParquetSink::open_shards(&other, &spec(), opts(), "fp", 0).unwrap();
        let err = sink.finish(STEPS).unwrap_err();
        assert_eq!(
            misused(&err),
            ("ParquetSink::finish", "a sink of open_shards writes no manifest: call close_shards")
        );
    }

    #[test]
    fn options_are_validated() {
        let spec = DataSpec {
            features: crate::FeatureLayout::Columns(vec!["a".into()]),
            target: crate::TargetKind::None,
            feature_shape: None,
            pixels: Default::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let err = ParquetSink::open(dir.path(), &spec, ParquetSinkOptions::new(0), "f", false).err().unwrap();
        assert!(err.to_string().contains("steps_per_shard"));
        let err = ParquetSink::open(dir.path(), &spec, ParquetSinkOptions::new(1).row_group_size(0), "f", false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("row_group_size"));
    }
}
