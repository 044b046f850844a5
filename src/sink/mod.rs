//! Output sinks: where pipeline batches go when they leave the process.
//!
//! * [`ParquetSink`]: offline augmentation — a directory of Parquet shards written
//!   atomically, resumable, described by a [`Manifest`] with a CRC-32 per shard, and
//!   locked ([`DirLock`]) against a second writer;
//! * [`IpcSink`]: an Arrow IPC stream with a verifiable [`Trailer`] to an external trainer,
//!   over standard output, a Unix socket or TCP ([`open_stream`]);
//!   [`read_verified_stream`] is the reader that demands the trailer.
//!
//! Both write the schema of [`OutputSchema`]: the features in the input's layout, soft-label
//! `target`s, optional provenance columns, and `shardmix.*` schema metadata.

mod encode;
mod hash;
mod ipc;
mod listen;
mod lock;
mod manifest;
mod owned;
mod parquet;
mod png;
mod schema;

pub use hash::{fnv1a64, Crc32};
pub use ipc::{read_verified_stream, IpcSink, Trailer, TRAILER_ALGORITHM, TRAILER_KEY};
pub use listen::{open_stream, StreamTarget};
pub use lock::DirLock;
pub use manifest::{Manifest, ManifestShard, MANIFEST_FILE, MANIFEST_FORMAT, RUN_FILE};
pub use owned::shard_file_name;
pub use parquet::{shard_state, Compression, ParquetSink, ParquetSinkOptions, ShardState};
pub use png::ImageOut;
pub use schema::{
    schema_hash, OutputSchema, META_SCHEMA_HASH, META_SPEC, META_VERSION, PROVENANCE_COLUMNS, TARGET_COLUMN,
};
