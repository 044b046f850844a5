//! The integration tests that can share one process, linked into one binary (ripgrep's
//! layout): each file here is a module, so the ~50 MB of shardmix and its dependencies link
//! once instead of once per file.
//!
//! A test belongs here when it neither counts the process's threads or open files, nor bounds
//! a wall-clock or CPU time, nor depends on timing (cancellation, interrupts, stream timeouts):
//! the library's own tests, and CLI runs whose result does not depend on how busy the
//! machine is. The others stay one binary each in `tests/` (`soak.rs`, `pipeline.rs`,
//! `cancellation.rs`, ...). Shared helpers are `tests/common/`, here `crate::common`.
//!
//! Run one file's tests with `cargo test --test library mixup::` (the module path filters).

#[path = "../common/mod.rs"]
mod common;

mod augment_plan;
mod careless_flags;
mod demo;
mod image_stages;
mod images;
mod inject;
mod inspect_help;
mod mixup;
mod mixup_build;
mod mixup_seed;
mod nn;
mod nn_python;
mod null_tensors;
mod output_readers;
mod pixels_uint8;
mod pooled_buffers;
mod shard_changed;
mod shard_set_builder;
mod sink_ipc;
mod sink_parquet;
mod source;
mod source_layers;
mod stage_build;
mod tensor_differential;
mod train_defaults;
mod unread_rows;
