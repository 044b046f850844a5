//! The probes at open: the first rows of one column, read until a question about the column
//! is answered (a list column's length, an image column's first image).

use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow_array::ArrayRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::error::{panic_message, ErrorKind, Result};
use crate::source::decode::{decode_error, DecodeContext};
use crate::source::footer::ShardInfo;
use crate::source::pages::chunks::open_row_group;

/// Rows read at a time by a probe.
const PROBE_ROWS: usize = 256;

/// Where a probed batch is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProbeAt {
    /// Its row group.
    pub row_group: usize,
    /// The global row of the batch's first row.
    pub row: u64,
}

/// What a probe found, and how many rows it read to find it.
pub(crate) struct Probed<T> {
    /// What `visit` returned, or `None` when no row of the shard answered.
    pub found: Option<T>,
    /// Rows read.
    pub rows: u64,
}

/// Read the top-level column `column` of `shard`, row group by row group, [`PROBE_ROWS`] rows
/// at a time, until `visit` answers: it gets each batch of the column and where it is. A panic inside arrow-rs is a [`ErrorKind::DecodePanic`] naming the row group
/// it happened in; a missing column is [`ErrorKind::MissingColumn`].
pub(crate) fn probe_column<T>(
    ctx: &DecodeContext,
    shard: &ShardInfo,
    column: &str,
    mut visit: impl FnMut(&ArrayRef, ProbeAt) -> Result<Option<T>>,
) -> Result<Probed<T>> {
    let meta = shard.metadata.metadata();
    let root = shard.metadata.schema().index_of(column).map_err(|_| ErrorKind::MissingColumn {
        path: shard.path.clone(),
        column: column.into(),
        hint: String::new(),
    })?;
    let descr = meta.file_metadata().schema_descr_ptr();
    let mut row = shard.first_row;
    let mut rows_read = 0u64;
    for rg in 0..meta.num_row_groups() {
        let rows = u64::try_from(meta.row_group(rg).num_rows()).unwrap_or(0);
        if rows == 0 {
            continue;
        }
        let mut run = || -> Result<Option<T>> {
            let source = open_row_group(shard, rg, &[root], true, ctx.pools(), ctx.page_maps())?;
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(source, shard.metadata.clone())
                .with_row_groups(vec![rg])
                .with_projection(ProjectionMask::roots(&descr, [root]))
                .with_batch_size(PROBE_ROWS)
                .build()
                .map_err(|e| decode_error(shard, rg, e))?;
            let mut at = row;
            for batch in reader {
                let batch = batch.map_err(|e| decode_error(shard, rg, e.into()))?;
                rows_read += batch.num_rows() as u64;
                if let Some(found) = visit(batch.column(0), ProbeAt { row_group: rg, row: at })? {
                    return Ok(Some(found));
                }
                at += batch.num_rows() as u64;
            }
            Ok(None)
        };
        match catch_unwind(AssertUnwindSafe(&mut run)) {
            Ok(Ok(Some(found))) => return Ok(Probed { found: Some(found), rows: rows_read }),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return Err(e),
            Err(p) => {
                return Err(ErrorKind::DecodePanic {
                    path: shard.path.clone(),
                    row_group: rg,
                    message: panic_message(&*p),
                }
                .into())
            }
        }
        row += rows;
    }
    Ok(Probed { found: None, rows: rows_read })
}
