//! # shardmix
//!
//! A streaming, deterministic data-loader pipeline for machine-learning training: Parquet
//! shards in, batches of row-major `f32` features and soft-label targets out, through
//! composable stages (Mixup, VAE and GAN sample injection, your own) run on worker threads.
#![deny(missing_docs)]

mod batch;
mod config;
mod error;
pub mod nn;
mod order;
mod pipeline;
pub mod rng;
mod sink;
mod source;
mod spec;
mod stage;

pub use batch::{Batch, Origin, Provenance};
pub use config::PipelineConfig;
pub use error::{BadValue, Error, ErrorKind, Result};
pub use order::{Order, DEFAULT_SHUFFLE_WINDOW};
pub use pipeline::{Pipeline, PipelineBuilder, Stats};
pub use rng::StepRng;
pub use sink::{
    fnv1a64, open_stream, read_verified_stream, schema_hash, shard_file_name, Compression, Crc32, IpcSink, Manifest,
    ManifestShard, OutputSchema, ParquetSink, ParquetSinkOptions, StreamTarget, Trailer, MANIFEST_FILE,
    MANIFEST_FORMAT, META_SCHEMA_HASH, META_SPEC, META_VERSION, PROVENANCE_COLUMNS, RUN_FILE, TARGET_COLUMN,
    TRAILER_ALGORITHM, TRAILER_KEY,
};
pub use source::{
    BadShard, CacheStats, Features, NullPolicy, Reader, RowGroupRef, Rows, ShardInfo, ShardSet, SkippedBlock, Target,
    DEFAULT_BLOCK_ROWS, DEFAULT_CACHE_BYTES, DEFAULT_MAX_COLUMN_CHUNK_BYTES,
};
pub use spec::{DataSpec, FeatureLayout, TargetKind};
pub use stage::{Generator, Inject, Map, MixMode, Mixup, ModelInfo, Stage, Standardize};
