//! # shardmix
//!
//! A streaming, deterministic data-loader pipeline for machine-learning training: Parquet
//! shards in, batches of row-major `f32` features and soft-label targets out, through
//! composable stages (Mixup, VAE and GAN sample injection, your own) run on worker threads.
#![deny(missing_docs)]

mod batch;
mod error;
mod order;
mod pipeline;
pub mod rng;
mod source;
mod spec;
mod stage;

pub use batch::{Batch, Origin, Provenance};
pub use error::{BadValue, Error, ErrorKind, Result};
pub use order::{Order, DEFAULT_SHUFFLE_WINDOW};
pub use pipeline::{Pipeline, PipelineBuilder, Stats};
pub use rng::StepRng;
pub use source::{
    BadShard, CacheStats, Features, NullPolicy, Reader, RowGroupRef, Rows, ShardInfo, ShardSet, SkippedBlock, Target,
    DEFAULT_BLOCK_ROWS, DEFAULT_CACHE_BYTES, DEFAULT_MAX_COLUMN_CHUNK_BYTES,
};
pub use spec::{DataSpec, FeatureLayout, TargetKind};
pub use stage::{Generator, Inject, Map, MixMode, Mixup, ModelInfo, Stage, Standardize};
