//! The source: Parquet shards → row-major batches.
//!
//! * [`shards`]: discovery, footers, the global row index ([`ShardSet`]);
//! * [`chunks`]: the bytes of a block's column chunks, read at once and bounded;
//! * [`columns`]: which columns are features and target ([`Features`], [`Target`]);
//! * [`decode`]: one row group → `f32` buffers, the boundary with untrusted bytes;
//! * [`direct`]: the fast path of `decode` for flat numeric columns, pages straight into
//!   the row-major block ([`pages`] reads them, [`rle`] decodes levels and dictionary indices);
//! * [`image`]: encoded PNG/JPEG columns, kept encoded in blocks and decoded per batch;
//! * [`transpose`]: the column-major → row-major kernels both paths share;
//! * [`pool`]: recycled decode buffers;
//! * [`cache`]: the bounded, shared row-group cache;
//! * [`page_map`]: where a column chunk's pages are, from one walk of its headers;
//! * [`thrift`]: a linear-time check of Thrift bytes before arrow-rs parses them;
//! * [`reader`]: rows → [`Batch`](crate::Batch) ([`Reader`]).

// Public items used from the next commits on (the object-store backend implements its traits).
#[allow(dead_code)]
pub(crate) mod bytes;
pub(crate) mod cache;
pub(crate) mod chunks;
pub(crate) mod columns;
pub(crate) mod decode;
pub(crate) mod direct;
pub(crate) mod image;
pub(crate) mod page_map;
pub(crate) mod pages;
pub(crate) mod pool;
pub(crate) mod reader;
pub(crate) mod rle;
pub(crate) mod shards;
pub(crate) mod thrift;
pub(crate) mod transpose;

pub use cache::CacheStats;
pub use columns::{Features, Target};
pub use decode::NullPolicy;
pub use image::{ImageColumn, MAX_IMAGE_VALUES};
pub use reader::{BadShard, Reader, Rows, SkippedBlock, AUTO_CACHE_MIN_BYTES};
pub use shards::{RowGroupRef, ShardInfo, ShardSet, DEFAULT_BLOCK_ROWS, DEFAULT_MAX_COLUMN_CHUNK_BYTES};
