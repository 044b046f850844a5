//! # shardmix
//!
//! A streaming, deterministic data-loader pipeline for machine-learning training: Parquet
//! shards in, batches of row-major `f32` features and soft-label targets out, through
//! composable stages — the seed's offset-batched [`Mixup`], VAE and GAN sample injection
//! ([`Inject`]), [`Standardize`], your own [`Stage`] — run on worker threads.
//!
//! Same data + configuration + seed ⇒ bit-identical batches for any worker count and any
//! resume point; memory is bounded by the block cache and the batches in flight; every failure
//! reaches the consumer as an [`Error`] that names the file, row group, column, step or
//! parameter concerned.
//!
//! # Example
//!
//! ```
//! use shardmix::{Features, Mixup, Order, Pipeline, ShardSet, Target};
//!
//! let source = ShardSet::open("examples/data/digits.parquet")?   // a file, a directory or a glob
//!     .features(Features::prefix("p"))?                          // p0..p63 → 64 f32 per row
//!     .target(Target::class("label", 10))?;                      // one-hot over 10 classes
//! let pipeline = Pipeline::builder()
//!     .source(source)
//!     .order(Order::offset(256))      // the seed's batching: offset = (step·B) mod (N − B)
//!     .stage(Mixup::new(0.2))         // λ ~ Beta(0.2, 0.2) per row, partner from a permutation
//!     .workers(2)
//!     .prefetch(4)
//!     .seed(42)
//!     .epochs(1)
//!     .build()?;
//! let mut rows = 0;
//! for batch in pipeline {
//!     let batch = batch?;
//!     assert_eq!(batch.features.ncols(), 64);
//!     let targets = batch.targets.as_ref().expect("class targets");
//!     // Mixed soft labels still sum to one.
//!     assert!(targets.rows().into_iter().all(|t| (t.sum() - 1.0).abs() < 1e-5));
//!     rows += batch.rows();
//! }
//! assert_eq!(rows, 1797 / 256 * 256); // an epoch of the offset order is N / B steps
//! # Ok::<(), shardmix::Error>(())
//! ```
//!
//! The modules follow the data: [`ShardSet`] (footers, columns, global row index) →
//! [`Order`] (step → rows) → [`Reader`] (rows → [`Batch`], through a bounded block cache) →
//! stages → [`Pipeline`] (workers, re-order buffer) → your loop, [`ParquetSink`] or [`IpcSink`].
//! Generative models live in [`nn`]. [`settings`] turns a [`PipelineConfig`] (the command
//! line's flags or TOML file) into validated [`Settings`] and a ready [`Pipeline`].
#![deny(missing_docs)]

pub mod augment;
mod batch;
mod config;
mod error;
pub mod format;
pub mod inspect;
pub mod nn;
mod order;
mod pipeline;
pub mod report;
pub mod rng;
pub mod settings;
mod sink;
mod source;
mod spec;
mod stage;
mod stop;

pub use batch::{Batch, Origin, Provenance};
pub use config::PipelineConfig;
pub use error::{BadValue, Error, ErrorKind, Result};
pub use order::{Order, DEFAULT_SHUFFLE_WINDOW};
pub use pipeline::{
    Pipeline, PipelineBuilder, Stats, MAX_BATCH_BYTES, MAX_PREFETCH, MAX_WORKERS, PREFETCH_BYTES, STOP_GRACE,
};
pub use rng::StepRng;
pub use settings::Settings;
pub use sink::{
    open_stream, read_verified_stream, shard_state, Compression, ImageOut, IpcSink, Manifest, ManifestShard,
    OutputSchema, ParquetSink, ParquetSinkOptions, ShardState, StreamTarget, Trailer,
};
pub use source::{
    BadShard, CacheStats, Features, NullPolicy, ObjectCacheStats, Reader, RowGroupRef, Rows, ShardInfo, ShardSet,
    ShardSetBuilder, SkippedBlock, Target, AUTO_CACHE_MIN_BYTES, DEFAULT_BLOCK_ROWS, DEFAULT_MAX_COLUMN_CHUNK_BYTES,
};
pub use source::{ImageColumn, MAX_IMAGE_VALUES};
pub use spec::{DataSpec, FeatureLayout, Pixels, TargetKind, MAX_CLASSES};
pub use stage::Normalize;
pub use stage::{Generator, Holdout, Inject, Map, MixMode, Mixup, ModelInfo, Stage, Standardize};
pub use stage::{HorizontalFlip, RandomResizedCrop};
pub use stop::StopToken;

/// The direct decode path's Snappy block decompressor, for the `snappy` fuzz target and the
/// `snappy_pages` example only (not part of the API).
#[doc(hidden)]
pub use source::pages::snappy;
