//! The wire and on-disk format shardmix writes, for programs that read its output without the
//! library's readers (or check it): the names of the files of an `augment` output directory,
//! the schema metadata keys and the provenance columns of every output, the IPC stream's
//! trailer, the checksums, and the output directory's lock.
//!
//! * An `augment` directory holds `part-NNNNN.parquet` shards ([`shard_file_name`]), the
//!   hidden run file [`RUN_FILE`] (the run's configuration, written first) and the hidden
//!   manifest [`MANIFEST_FILE`] (format [`MANIFEST_FORMAT`]; every shard with its rows, bytes
//!   and CRC-32, written last). A writer holds [`DirLock`] on the directory.
//! * Every output's Arrow schema carries [`META_VERSION`], [`META_SPEC`] (the data spec as
//!   JSON) and [`META_SCHEMA_HASH`] ([`schema_hash`] of its fields, an FNV-1a 64
//!   ([`fnv1a64`])); soft-label targets are the column [`TARGET_COLUMN`], and with provenance
//!   the columns [`PROVENANCE_COLUMNS`] follow.
//! * The IPC stream ends with a zero-row batch whose custom metadata [`TRAILER_KEY`] holds the
//!   trailer: batches, rows and a checksum ([`TRAILER_ALGORITHM`], computed with [`Crc32`]).
//!
//! # Example
//! ```
//! use shardmix::format::{shard_file_name, MANIFEST_FILE, RUN_FILE};
//! assert_eq!(shard_file_name(3), "part-00003.parquet");
//! assert!(RUN_FILE.starts_with('.') && MANIFEST_FILE.starts_with('.'));
//! ```

pub use crate::sink::{
    fnv1a64, schema_hash, shard_file_name, Crc32, DirLock, MANIFEST_FILE, MANIFEST_FORMAT, META_SCHEMA_HASH, META_SPEC,
    META_VERSION, PROVENANCE_COLUMNS, RUN_FILE, TARGET_COLUMN, TRAILER_ALGORITHM, TRAILER_KEY,
};
