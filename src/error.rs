//! The library's one error type.
//!
//! [`Error`] is a cheap, cloneable handle (one `Arc`) over an [`ErrorKind`] that carries the
//! context a user needs to act: the file, row group, column, row, step or parameter concerned.
//! Cloning matters because one failed row-group decode is reported to every worker that
//! waited for it, and `Result<Batch>` travels through channels.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from shardmix: a shared handle to an [`ErrorKind`].
///
/// # Example
/// ```
/// use shardmix::{Error, ErrorKind};
/// let err = Error::config("batch_size", "must be at least 1");
/// assert!(matches!(err.kind(), ErrorKind::Config { .. }));
/// assert_eq!(err.to_string(), "invalid parameter `batch_size`: must be at least 1");
/// ```
#[derive(Clone)]
pub struct Error(Arc<ErrorKind>);

impl Error {
    /// What went wrong, with its context.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// An invalid configuration value or hyper-parameter.
    pub fn config(name: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorKind::Config { name: name.into(), message: message.into() }.into()
    }

    /// A shape or size that does not fit (model vs data, batch vs spec, ...).
    pub fn shape(context: impl Into<String>, expected: impl fmt::Display, found: impl fmt::Display) -> Self {
        ErrorKind::Shape { context: context.into(), expected: expected.to_string(), found: found.to_string() }.into()
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ErrorKind::Io { path: path.into(), source }.into()
    }

    /// The whole cause chain on one line, `outer: cause: cause`, as the CLI prints it.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            let s = e.to_string();
            if !out.contains(&s) {
                out.push_str(": ");
                out.push_str(&s);
            }
            cur = e.source();
        }
        out
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Arc::new(kind))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Which bad value the reader met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadValue {
    /// A null in a feature or target column.
    Null,
    /// A NaN.
    NaN,
    /// +Inf or -Inf.
    Infinite,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadValue::Null => "null",
            BadValue::NaN => "NaN",
            BadValue::Infinite => "infinite",
        })
    }
}

/// What went wrong. Every variant names what it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A data spec matched no `.parquet` file.
    #[error("no Parquet shards found for '{spec}'")]
    NoShards {
        /// The directory, glob or list given.
        spec: String,
    },
    /// The dataset (or a selection of it) has no rows.
    #[error("{what} has no rows")]
    Empty {
        /// What is empty.
        what: String,
    },
    /// The footer could not be read: not Parquet, truncated, or corrupt metadata.
    #[error("{}: not a readable Parquet file", path.display())]
    Footer {
        /// The shard.
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Decoding a row group failed.
    #[error("{}, row group {row_group}: decoding failed", path.display())]
    Decode {
        /// The shard.
        path: PathBuf,
        /// The row group within the shard.
        row_group: usize,
        /// The reader's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The Parquet decoder panicked on this row group (corrupt data); the panic was contained.
    #[error("{}, row group {row_group}: corrupt data (the decoder panicked: {message})", path.display())]
    DecodePanic {
        /// The shard.
        path: PathBuf,
        /// The row group within the shard.
        row_group: usize,
        /// The panic message.
        message: String,
    },
    /// A column chunk is larger than the configured limit (decompression-bomb guard).
    #[error("{}, row group {row_group}, column '{column}': {size} bytes uncompressed exceeds the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The shard.
        path: PathBuf,
        /// The row group.
        row_group: usize,
        /// The column.
        column: String,
        /// Size claimed by the metadata.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// A required column is absent.
    #[error("{}: no column '{column}'{hint}", path.display())]
    MissingColumn {
        /// The shard.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// Extra help (e.g. the columns that exist).
        hint: String,
    },
    /// A column has a type that cannot serve in the role asked of it.
    #[error("{}, column '{column}': type {found} cannot be used as {role}", path.display())]
    ColumnType {
        /// The shard.
        path: PathBuf,
        /// The column.
        column: String,
        /// The Arrow type found.
        found: String,
        /// `features`, `class label`, ...
        role: String,
    },
    /// Shards disagree on a selected column.
    #[error("{}, column '{column}': {detail} (the first shard, {}, differs)", path.display(), first.display())]
    SchemaMismatch {
        /// The disagreeing shard.
        path: PathBuf,
        /// The first shard, the reference.
        first: PathBuf,
        /// The column.
        column: String,
        /// How they differ.
        detail: String,
    },
    /// A null, NaN or infinite value under the `error` policy.
    #[error("{}, row group {row_group}, column '{column}', row {row}: {value} value (set a null/NaN policy of skip-row or fill to accept it)", path.display())]
    BadValue {
        /// The shard.
        path: PathBuf,
        /// The row group.
        row_group: usize,
        /// The column.
        column: String,
        /// Global row id.
        row: u64,
        /// Null, NaN or infinite.
        value: BadValue,
    },
    /// A class label outside `0..num_classes`.
    #[error("{}, column '{column}', row {row}: label {value} is outside 0..{num_classes}", path.display())]
    Label {
        /// The shard.
        path: PathBuf,
        /// The label column.
        column: String,
        /// Global row id.
        row: u64,
        /// The label found.
        value: i64,
        /// The class count in force.
        num_classes: usize,
    },
    /// A list column whose rows differ in length.
    #[error("{}, column '{column}', row {row}: list has {len} values, expected {expected}", path.display())]
    Ragged {
        /// The shard.
        path: PathBuf,
        /// The list column.
        column: String,
        /// Global row id of the first bad row.
        row: u64,
        /// Its length.
        len: usize,
        /// The length of the first row.
        expected: usize,
    },
    /// An image of an image feature column cannot be decoded, or its shape differs from the
    /// first image's.
    #[error("{}, column '{column}', row {row}: {message}", path.display())]
    Image {
        /// The shard.
        path: PathBuf,
        /// The image column.
        column: String,
        /// Global row id.
        row: u64,
        /// What is wrong (the decoder's error, or the two shapes).
        message: String,
    },
    /// A shard became unreadable or changed while the pipeline ran.
    #[error("{}: {message}", path.display())]
    ShardChanged {
        /// The shard.
        path: PathBuf,
        /// What changed.
        message: String,
    },
    /// An invalid configuration value or hyper-parameter.
    #[error("invalid parameter `{name}`: {message}")]
    Config {
        /// The parameter.
        name: String,
        /// Why it is invalid.
        message: String,
    },
    /// Shapes that do not fit.
    #[error("shape mismatch in {context}: expected {expected}, found {found}")]
    Shape {
        /// Where.
        context: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A stage returned an error.
    #[error("step {step}, stage '{stage}' failed")]
    Stage {
        /// The pipeline step.
        step: u64,
        /// The stage's name.
        stage: String,
        /// The stage's error.
        #[source]
        source: Error,
    },
    /// A stage refused the data it would be given, when the pipeline was built (before any
    /// step ran).
    #[error("stage #{index} '{stage}' refused its input at build")]
    StageCheck {
        /// The stage's place in the pipeline, from 0.
        index: usize,
        /// The stage's name.
        stage: String,
        /// Why.
        #[source]
        source: Error,
    },
    /// Reading the rows of a step failed.
    #[error("step {step}: reading its rows failed")]
    Read {
        /// The pipeline step.
        step: u64,
        /// The reader's error.
        #[source]
        source: Error,
    },
    /// A stage or reader panicked; the panic was contained.
    #[error("step {step}, {stage} panicked: {message}")]
    Panic {
        /// The pipeline step.
        step: u64,
        /// The stage (or `reader`).
        stage: String,
        /// The panic message.
        message: String,
    },
    /// A pipeline worker did not answer in time.
    #[error("step {step}: no result after {seconds} s (a stage may be stuck)")]
    Timeout {
        /// The step waited for.
        step: u64,
        /// The timeout.
        seconds: u64,
    },
    /// A model file does not fit (shapes, metadata, tensor names).
    #[error("model {}: {message}", path.display())]
    Model {
        /// The model file (empty for in-memory models).
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// A batch a model cannot take: a value that is not finite, or outside the model's scale.
    #[error("{model}: batch of step {step}: {message}")]
    ModelInput {
        /// The model (`VAE`, `GAN`, `classifier`).
        model: String,
        /// The batch's step.
        step: u64,
        /// Which row and feature, and why.
        message: String,
    },
    /// A training step's loss is not finite; the weights were not updated.
    #[error("{model} training step {step}: the loss is not finite ({detail}); the weights were not updated (lower the learning rate or check the data)")]
    Diverged {
        /// The model.
        model: String,
        /// The step.
        step: u64,
        /// The losses.
        detail: String,
    },
    /// An Arrow operation failed (building or writing batches).
    #[error("{context}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The Arrow error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// Writing Parquet output failed.
    #[error("{}: writing Parquet failed", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The output directory or stream is not in the state required.
    #[error("{}: {message}", path.display())]
    Output {
        /// The output path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A caller used an API out of order or after it failed (writing to a sink after an
    /// earlier failure, a batch out of step order, `finish` before every step was written):
    /// a bug in the caller, not bad data or a bad path.
    #[error("{api}: {message}")]
    Misuse {
        /// The API misused (`ParquetSink::write`, `ParquetSink::finish`, ...).
        api: &'static str,
        /// What the caller did, and what the API expects instead.
        message: String,
    },
    /// The output directory holds files at the names shardmix writes that it did not write
    /// (a foreign `part-*.parquet`, a run file or manifest not its own): it will not replace
    /// or delete them.
    #[error("{}: holds {} file(s) at names shardmix writes that shardmix did not write, so it will not {action} them: {}; move them away or choose another directory", path.display(), files.len(), files.iter().map(|(name, why)| format!("{name} ({why})")).collect::<Vec<_>>().join(", "))]
    NotOurs {
        /// The output directory.
        path: PathBuf,
        /// What it would have done to them (`replace`, `delete`).
        action: String,
        /// Each file's name and why it is not shardmix's.
        files: Vec<(String, String)>,
    },
    /// The output directory holds the output of another run (another configuration, seed,
    /// data or layout), which only `overwrite` replaces.
    #[error("{}: {why}; rerun with --overwrite (`overwrite` of ParquetSink::open) to replace the files shardmix wrote there, or choose another directory", path.display())]
    OtherRun {
        /// The output directory.
        path: PathBuf,
        /// How the runs differ.
        why: String,
    },
    /// A distributed output was finished before every shard was written.
    #[error("{}: {} of {total} shard(s) are not written yet: {}; write them (write_shards) before finish", path.display(), missing.len(), missing.join(", "))]
    Incomplete {
        /// The output directory.
        path: PathBuf,
        /// The shards not written.
        missing: Vec<String>,
        /// The shards of the run.
        total: u64,
    },
    /// The stream's client went away before the end: a cut-short run, not a success.
    #[error("{target}: the client disconnected after {batches} batches ({rows} rows) were sent: {source}")]
    Disconnected {
        /// The stream's target (`-`, `unix:PATH`, `tcp:ADDR`).
        target: String,
        /// Batches sent before.
        batches: u64,
        /// Rows sent before.
        rows: u64,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The stream's client stopped reading for longer than the send timeout.
    #[error("{target}: the client stopped reading after {batches} batches ({rows} rows) were sent: {source}")]
    SendTimeout {
        /// The stream's target.
        target: String,
        /// Batches sent before.
        batches: u64,
        /// Rows sent before.
        rows: u64,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No client connected to a stream's socket within the accept timeout.
    #[error("{target}: no client connected within {:.1} s", waited.as_secs_f64())]
    AcceptTimeout {
        /// The stream's target (`unix:PATH`, `tcp:ADDR`).
        target: String,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// A stream read back ([`crate::read_verified_stream`]) is not a complete shardmix
    /// stream: truncated, corrupt, without its trailer, or failing its checksum.
    #[error("IPC stream: {message}")]
    BadStream {
        /// What is wrong, naming the message.
        message: String,
    },
    /// Another writer holds the lock of the output directory.
    #[error("{}: another writer is using this output directory{} (it holds the directory's lock); wait for it to finish or choose another output directory", path.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    OutputLocked {
        /// The output directory.
        path: PathBuf,
        /// The holder's process id, when the OS tells (Linux: `/proc/locks`).
        pid: Option<u32>,
    },
    /// A [`crate::StopToken`] asked the call to stop (Ctrl-C): it stopped at a step boundary,
    /// leaving its output as `state` says.
    #[error("{what} interrupted before step {step}; {state}")]
    Interrupted {
        /// What was interrupted (`augment into OUT`, `training`).
        what: String,
        /// The step it would have run next.
        step: u64,
        /// What the output holds now, and how to go on.
        state: String,
    },
}

#[cfg(test)]
impl Error {
    /// The parameter a [`ErrorKind::Config`] names (`None` for any other kind): what the unit
    /// tests match a refused value by.
    pub(crate) fn config_name(&self) -> Option<&str> {
        match self.kind() {
            ErrorKind::Config { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The context of an [`ErrorKind::Shape`] (`None` for any other kind).
    pub(crate) fn shape_context(&self) -> Option<&str> {
        match self.kind() {
            ErrorKind::Shape { context, .. } => Some(context),
            _ => None,
        }
    }
}

/// Turn a caught panic payload into its message.
#[allow(dead_code)]
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_and_shareable() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Error>();
    }

    #[test]
    fn chain_includes_causes() {
        let inner = Error::config("alpha", "must be finite");
        let outer: Error = ErrorKind::Stage { step: 3, stage: "mixup".into(), source: inner }.into();
        assert_eq!(outer.chain(), "step 3, stage 'mixup' failed: invalid parameter `alpha`: must be finite");
    }
}
