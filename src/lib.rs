//! # shardmix
//!
//! A streaming, deterministic data-loader pipeline for machine-learning training: Parquet
//! shards in, batches of row-major `f32` features and soft-label targets out, through
//! composable stages (Mixup, VAE and GAN sample injection, your own) run on worker threads.
#![deny(missing_docs)]

mod batch;
mod error;
pub mod nn;
pub mod rng;
mod spec;
mod stage;

pub use batch::{Batch, Origin, Provenance};
pub use error::{BadValue, Error, ErrorKind, Result};
pub use rng::StepRng;
pub use spec::{DataSpec, FeatureLayout, TargetKind};
pub use stage::{Generator, Map, ModelInfo, Stage};
