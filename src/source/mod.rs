//! The source: Parquet shards → row-major batches, built in layers, one folder each. A layer
//! uses only the layers above it in this list (`tests/library/source_layers.rs` checks it):
//!
//! * [`bytes`]: where a shard's bytes come from — the one seam with storage
//!   ([`ByteSource`](bytes::ByteSource), [`Storage`](bytes::Storage)), local files
//!   ([`bytes::local`]), and the recycled buffers they are read into ([`bytes::pool`]);
//! * [`footer`]: a shard's footer read and checked ([`footer::thrift`]: linear-time checks of
//!   Thrift bytes before arrow-rs parses them), and what it says ([`ShardInfo`]);
//! * [`pages`]: a block's column chunks, read at once and bounded ([`pages::chunks`]), where
//!   their pages are ([`pages::page_map`]), and plain pages of flat numeric columns
//!   ([`pages::plain`], [`pages::rle`]);
//! * [`decode`]: one block → `f32` buffers, the boundary with untrusted bytes: the direct path
//!   and the arrow-rs path side by side ([`decode::direct`], [`decode::arrow`]) writing through
//!   one block writer ([`decode::block`]), encoded images ([`decode::image`]), the resolved
//!   columns ([`decode::columns`]) and the transpose kernels ([`decode::transpose`]);
//! * [`shards`]: the shard set — listing, footers, the column selection resolved and checked in
//!   every shard, the global row index in blocks ([`ShardSet`]);
//! * [`reader`]: rows → [`Batch`](crate::Batch) ([`Reader`]), through the bounded, shared block
//!   cache ([`reader::cache`]).

pub(crate) mod bytes;
pub(crate) mod decode;
pub(crate) mod footer;
pub(crate) mod pages;
pub(crate) mod reader;
pub(crate) mod shards;

pub use bytes::ObjectCacheStats;
pub use decode::block::NullPolicy;
pub use decode::columns::{Features, Target};
pub use decode::image::{ImageColumn, MAX_IMAGE_VALUES};
pub use decode::RowGroupRef;
pub use footer::ShardInfo;
pub use reader::cache::CacheStats;
pub use reader::{BadShard, Reader, Rows, SkippedBlock, AUTO_CACHE_MIN_BYTES};
pub use shards::{ShardSet, ShardSetBuilder, DEFAULT_BLOCK_ROWS, DEFAULT_MAX_COLUMN_CHUNK_BYTES};
