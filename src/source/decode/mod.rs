//! The block decode layer: one block of one shard → row-major `f32` buffers.
//!
//! This is the boundary where untrusted bytes meet the decoders: column-chunk sizes are
//! checked against a limit before anything is decompressed, and the decode runs under
//! `catch_unwind` (arrow-rs panics on a small fraction of corrupt files). Two paths sit side
//! by side and write through one block writer ([`block`]):
//!
//! * [`direct`]: flat numeric columns and tensor (list) columns, pages straight into the
//!   row-major block;
//! * [`arrow`]: everything else, and any block the direct path gives up on, through arrow-rs.
//!
//! [`image`] keeps encoded image columns encoded in blocks and decodes them per batch;
//! [`columns`] resolves which columns are features and target; [`transpose`] holds the
//! column-major → row-major kernels both paths share.

pub(crate) mod arrow;
pub(crate) mod block;
pub(crate) mod columns;
pub(crate) mod direct;
pub(crate) mod image;
pub(crate) mod probe;
pub(crate) mod transpose;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parquet::errors::ParquetError;

use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::source::bytes::changed_in;
use crate::source::bytes::pool::{PoolLease, Pools};
use crate::source::footer::ShardInfo;
use crate::source::pages::chunks::open_row_group;
use crate::source::pages::page_map::PageMaps;
use crate::source::pages::shared::SharedPages;
use crate::spec::{DataSpec, Pixels};

pub(crate) use block::{Decoded, NullPolicy};
use columns::ColumnPlan;

/// One block of the global row index: a whole row group, or a run of at most
/// [`ShardSet::block_rows`](crate::ShardSet::block_rows) rows of a larger one. Blocks are the
/// unit of decoding and caching, so a row group of ten million rows never has to be decoded
/// (or held) at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowGroupRef {
    /// Index of the shard in [`ShardSet::shards`](crate::ShardSet::shards).
    pub shard: usize,
    /// Row group within the shard.
    pub row_group: usize,
    /// Offset of the block's first row within its row group.
    pub offset: u64,
    /// Global id of the block's first row.
    pub first_row: u64,
    /// The block's rows.
    pub num_rows: u64,
}

/// What decoding a block needs besides the block: the resolved columns, the policies and
/// limits, and the buffers and page maps shared by every reader of a shard set (clones share
/// them).
#[derive(Debug, Clone)]
pub(crate) struct DecodeContext {
    /// The columns read, and the data spec they give.
    pub plan: ColumnPlan,
    /// What to do with nulls, NaN and infinities.
    pub policy: NullPolicy,
    /// The most bytes a column chunk may claim uncompressed.
    pub max_chunk: u64,
    /// Decode buffers recycled by every reader.
    pub pools: Arc<Pools>,
    /// This shard set's hold on the process's pools, kept for its drop (see [`PoolLease`]).
    pub _lease: Arc<PoolLease>,
    /// The page maps of the column chunks read so far.
    pub page_maps: Arc<PageMaps>,
    /// Dictionaries and pages shared by the blocks of a row group (direct path).
    pub shared_pages: Arc<SharedPages>,
    /// Whether blocks of flat numeric columns take the direct decode path.
    pub direct: bool,
}

impl DecodeContext {
    /// The columns read.
    pub fn plan(&self) -> &ColumnPlan {
        &self.plan
    }

    /// The data spec the columns give.
    pub fn spec(&self) -> &DataSpec {
        &self.plan.spec
    }

    /// What to do with nulls, NaN and infinities.
    pub fn policy(&self) -> NullPolicy {
        self.policy
    }

    /// The most bytes a column chunk may claim uncompressed.
    pub fn chunk_limit(&self) -> u64 {
        self.max_chunk
    }

    /// The decode buffers shared by every reader.
    pub fn pools(&self) -> &Arc<Pools> {
        &self.pools
    }

    /// The page maps of the column chunks read so far.
    pub fn page_maps(&self) -> &PageMaps {
        &self.page_maps
    }
}

/// A decode error of `row_group` of `shard`: [`ErrorKind::ShardChanged`] when the shard changed
/// under the read, else [`ErrorKind::Decode`].
pub(crate) fn decode_error(shard: &ShardInfo, row_group: usize, source: ParquetError) -> Error {
    match changed_in(&source) {
        Some(changed) => ErrorKind::ShardChanged { path: shard.path.clone(), message: changed.0.clone() }.into(),
        None => ErrorKind::Decode { path: shard.path.clone(), row_group, source }.into(),
    }
}

/// Decode one block (a row group, or a run of rows of one) of `shard`.
pub(crate) fn decode_block(ctx: &DecodeContext, shard: &ShardInfo, block: &RowGroupRef) -> Result<Decoded> {
    decode_block_with(ctx, shard, block, ctx.direct)
}

/// [`decode_block`], through arrow-rs only unless `allow_direct` (the tests compare the two).
pub(crate) fn decode_block_with(
    ctx: &DecodeContext,
    shard: &ShardInfo,
    block: &RowGroupRef,
    allow_direct: bool,
) -> Result<Decoded> {
    let row_group = block.row_group;
    let result = catch_unwind(AssertUnwindSafe(|| decode_inner(ctx, shard, block, allow_direct)));
    match result {
        Ok(Ok(mut out)) if ctx.spec().pixels == Pixels::U8 => {
            out.narrow_to_pixels();
            Ok(out)
        }
        Ok(r) => r,
        Err(payload) => {
            Err(ErrorKind::DecodePanic { path: shard.path.clone(), row_group, message: panic_message(&*payload) }
                .into())
        }
    }
}

fn decode_inner(ctx: &DecodeContext, shard: &ShardInfo, block: &RowGroupRef, allow_direct: bool) -> Result<Decoded> {
    let row_group = block.row_group;
    let meta = shard.metadata.metadata();
    let rg_meta = meta.row_group(row_group);
    let rg_rows = usize::try_from(rg_meta.num_rows()).unwrap_or(0);
    let expected_rows = block.num_rows as usize;
    let descr = meta.file_metadata().schema_descr();
    let limit = ctx.chunk_limit();
    for leaf in 0..rg_meta.num_columns() {
        if !shard.roots.contains(&descr.get_column_root_idx(leaf)) {
            continue;
        }
        let col = rg_meta.column(leaf);
        let size = col.uncompressed_size();
        if size < 0 || size as u64 > limit || col.compressed_size() < 0 {
            return Err(ErrorKind::TooLarge {
                path: shard.path.clone(),
                row_group,
                column: descr.column(leaf).path().string(),
                size: size.max(0) as u64,
                limit,
            }
            .into());
        }
    }
    // The direct path reads pages as it needs them; arrow-rs reads faster from memory.
    let direct = if allow_direct { direct::plan(ctx, shard) } else { None };
    let whole = direct.is_none() && expected_rows == rg_rows;
    let source = open_row_group(shard, row_group, &shard.roots, whole, ctx.pools(), ctx.page_maps())?;
    if let Some(direct) = &direct {
        if let Some(out) = direct::decode(ctx, shard, block, direct, &source)? {
            return Ok(out);
        }
    }
    arrow::decode(ctx, shard, block, source, whole)
}
