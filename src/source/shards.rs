//! [`ShardSet`]: a set of Parquet shards opened by their footers alone — schema, row groups
//! and a global row index — with the feature and target columns resolved and checked in
//! every shard before any data is decoded.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::PageIndexPolicy;
use rayon::prelude::*;

use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::source::bytes::{is_url, storage_for, ByteSource, Storage};
use crate::source::chunks;
use crate::source::columns::{self, ColumnPlan, FeatureSource, Features, Target, TargetSource};
use crate::source::decode::{self, NullPolicy};
use crate::source::page_map::PageMaps;
use crate::source::pool::Pools;
use crate::source::thrift;
use crate::spec::{DataSpec, FeatureLayout, TargetKind};

/// Default limit on one column chunk's uncompressed size: 1 GiB.
pub const DEFAULT_MAX_COLUMN_CHUNK_BYTES: u64 = 1 << 30;

/// The most rows a row group may claim per byte of its column chunks (compressed, as stored in
/// the file). Real files hold far fewer (a page of 20,000 rows of one constant value takes about
/// 30 bytes); the bound keeps the block index, and the time to read a file, proportional to
/// the file's size.
pub(crate) const MAX_ROWS_PER_BYTE: u64 = 1 << 16;

/// One Parquet file of a [`ShardSet`].
#[derive(Debug, Clone)]
pub struct ShardInfo {
    /// The file.
    pub path: PathBuf,
    /// Rows, from the footer.
    pub num_rows: u64,
    /// Row groups, from the footer.
    pub num_row_groups: usize,
    /// Global id of the shard's first row.
    pub first_row: u64,
    pub(crate) file_len: u64,
    /// An object-store shard's source, pinned to the size and ETag seen at open (`None` for a
    /// local file, opened again for each row group).
    pub(crate) remote: Option<Arc<dyn ByteSource>>,
    pub(crate) metadata: ArrowReaderMetadata,
    /// Projection roots of the selected columns in this shard's schema.
    pub(crate) roots: Vec<usize>,
}

/// Default block size: row groups larger than this are decoded in blocks of this many rows.
pub const DEFAULT_BLOCK_ROWS: u64 = 65_536;

/// One block of the global row index: a whole row group, or a run of at most
/// [`ShardSet::block_rows`] rows of a larger one. Blocks are the unit of decoding and caching,
/// so a row group of ten million rows never has to be decoded (or held) at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowGroupRef {
    /// Index of the shard in [`ShardSet::shards`].
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

/// A set of Parquet shards with resolved feature and target columns.
///
/// # Example
/// ```
/// use shardmix::{Features, ShardSet, Target};
/// let set = ShardSet::open("examples/data/digits.parquet")?
///     .features(Features::prefix("p"))?
///     .target(Target::class("label", 10))?;
/// assert_eq!(set.num_rows(), 1797);
/// assert_eq!(set.spec().num_features(), 64);
/// let batch = set.read_rows(0..4)?;
/// assert_eq!(batch.features.dim(), (4, 64));
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShardSet {
    shards: Vec<ShardInfo>,
    row_groups: Vec<RowGroupRef>,
    num_rows: u64,
    features: Features,
    target: Target,
    null_policy: NullPolicy,
    max_chunk: u64,
    block_rows: u64,
    feature_shape: Option<Vec<usize>>,
    plan: ColumnPlan,
    spec: DataSpec,
    /// Decode buffers recycled by every reader of this set (and its clones).
    pools: Arc<Pools>,
    /// The page maps of the column chunks read so far (shared by clones).
    page_maps: Arc<PageMaps>,
    /// Whether blocks of flat numeric columns take the direct decode path.
    direct: bool,
}

fn has_glob_chars(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.contains(['*', '?', '[']))
}

/// Expand a directory, a glob or a file into a sorted list of files.
fn expand(spec: &Path) -> Result<Vec<PathBuf>> {
    if has_glob_chars(spec) && !spec.exists() {
        let pattern = spec.to_str().unwrap_or_default();
        let paths = glob::glob(pattern).map_err(|e| Error::config("data", format!("bad pattern '{pattern}': {e}")))?;
        let mut out = Vec::new();
        for p in paths {
            let p = p.map_err(|e| Error::io(e.path().to_path_buf(), std::io::Error::other(e.to_string())))?;
            if p.is_file() {
                out.push(p);
            }
        }
        out.sort();
        return Ok(out);
    }
    let meta = std::fs::metadata(spec).map_err(|e| Error::io(spec, e))?;
    if meta.is_dir() {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(spec).map_err(|e| Error::io(spec, e))? {
            let entry = entry.map_err(|e| Error::io(spec, e))?;
            let p = entry.path();
            let is_parquet = p.extension().is_some_and(|e| e == "parquet");
            let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(['.', '_']));
            if is_parquet && !hidden && p.is_file() {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    } else {
        Ok(vec![spec.to_path_buf()])
    }
}

/// Read `len` bytes at `offset` of `file`.
fn read_range(file: &File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file ends early"));
    }
    Ok(buf)
}

/// Read `len` bytes at an offset of a shard.
type ReadRange<'a> = &'a (dyn Fn(u64, u64) -> std::io::Result<Vec<u8>> + Sync);

/// The Thrift checks of [`thrift`] on the footer: `Err` with the reason when it fails.
fn check_footer_thrift(file: ReadRange<'_>, len: u64) -> std::result::Result<(), String> {
    if len < 12 {
        return Ok(()); // arrow-rs reports the short file
    }
    let tail = file(len - 8, 8).map_err(|e| e.to_string())?;
    let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if &tail[4..] != b"PAR1" || meta_len + 8 > len {
        return Ok(()); // not plain Parquet, or a bad length: arrow-rs reports it
    }
    let meta = file(len - 8 - meta_len, meta_len).map_err(|e| e.to_string())?;
    thrift::check_struct(&meta).map_err(|e| format!("footer metadata: {e}"))
}

/// The Thrift checks on the page index (column and offset indexes) that `metadata` points to.
fn check_page_index_thrift(file: ReadRange<'_>, len: u64, metadata: &ArrowReaderMetadata) -> bool {
    let mut ranges = Vec::new();
    for rg in metadata.metadata().row_groups() {
        for col in rg.columns() {
            for (offset, length) in [
                (col.offset_index_offset(), col.offset_index_length()),
                (col.column_index_offset(), col.column_index_length()),
            ] {
                if let (Some(o), Some(l)) = (offset, length) {
                    match (u64::try_from(o), u64::try_from(l)) {
                        (Ok(o), Ok(l)) if o.checked_add(l).is_some_and(|e| e <= len) => ranges.push(o..o + l),
                        _ => return false,
                    }
                }
            }
        }
    }
    let (Some(lo), Some(hi)) = (ranges.iter().map(|r| r.start).min(), ranges.iter().map(|r| r.end).max()) else {
        return true;
    };
    if hi - lo > 256 << 20 {
        return false; // an index spread over more than 256 MiB: read without it
    }
    let Ok(bytes) = file(lo, hi - lo) else { return false };
    ranges.iter().all(|r| thrift::check_struct(&bytes[(r.start - lo) as usize..(r.end - lo) as usize]).is_ok())
}

/// Read and check the footer of `path` (also used on `augment`'s own output when it resumes).
pub(crate) fn read_footer(path: &Path) -> Result<(ArrowReaderMetadata, u64)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let metadata = load_footer(path, &file, &|offset, n| read_range(&file, offset, n), len)?;
    Ok((metadata, len))
}

/// Read and check the footer of an object-store shard through its pinned `source`.
fn read_remote_footer(source: &Arc<dyn ByteSource>) -> Result<ArrowReaderMetadata> {
    let path = source.name();
    let len = source.len();
    let read = |offset: u64, n: u64| -> std::io::Result<Vec<u8>> {
        let got = source.read_ranges(std::slice::from_ref(&(offset..offset.saturating_add(n))))?;
        Ok(got.into_iter().next().map(|b| b.to_vec()).unwrap_or_default())
    };
    let chunks = chunks::ChunkSource::new(source.clone(), len, Pools::new(), true);
    load_footer(path, &chunks, &read, len).map_err(|e| match e.kind() {
        // A store that failed (not a bad footer) is an I/O error naming the object.
        ErrorKind::Footer { source: parquet::errors::ParquetError::External(inner), .. } => {
            Error::io(path, std::io::Error::other(inner.to_string()))
        }
        _ => e,
    })
}

/// The footer checks and parse of [`read_footer`] on any [`ChunkReader`](parquet::file::reader::ChunkReader)
/// of `len` bytes, `read` giving its raw bytes.
fn load_footer<R: parquet::file::reader::ChunkReader + 'static>(
    path: &Path,
    file: &R,
    read: ReadRange<'_>,
    len: u64,
) -> Result<ArrowReaderMetadata> {
    // arrow-rs's Thrift reader can spin for hours on crafted metadata (see thrift.rs): check
    // the footer, then the page index it points to, before arrow-rs parses either.
    if let Err(why) = check_footer_thrift(read, len) {
        return Err(ErrorKind::Footer {
            path: path.to_path_buf(),
            source: parquet::errors::ParquetError::General(why),
        }
        .into());
    }
    // The offset index lets a block of a large row group skip the pages before it; a file
    // without one (or with a broken one) is read without it.
    let with_index = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        let plain = ArrowReaderMetadata::load(file, ArrowReaderOptions::new())?;
        if !check_page_index_thrift(read, len, &plain) {
            return Ok(plain);
        }
        Ok(ArrowReaderMetadata::load(file, with_index).unwrap_or(plain))
    }));
    match loaded {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(source)) => Err(ErrorKind::Footer { path: path.to_path_buf(), source }.into()),
        Err(p) => Err(ErrorKind::DecodePanic {
            path: path.to_path_buf(),
            row_group: 0,
            message: format!("while reading the footer: {}", panic_message(&*p)),
        }
        .into()),
    }
}

/// Split every non-empty row group into blocks of at most `block_rows` rows.
fn blocks(shards: &[ShardInfo], block_rows: u64) -> Vec<RowGroupRef> {
    let mut out = Vec::new();
    for (i, shard) in shards.iter().enumerate() {
        let mut first = shard.first_row;
        for (rg, meta) in shard.metadata.metadata().row_groups().iter().enumerate() {
            let n = u64::try_from(meta.num_rows()).unwrap_or(0);
            let mut offset = 0;
            while offset < n {
                let len = block_rows.min(n - offset);
                out.push(RowGroupRef { shard: i, row_group: rg, offset, first_row: first + offset, num_rows: len });
                offset += len;
            }
            first += n;
        }
    }
    out
}

impl ShardSet {
    /// Open a directory (its `*.parquet` files, not hidden ones), a glob (`data/*.parquet`) or
    /// one file. Only footers are read. Features default to [`Features::auto`], no target.
    ///
    /// # Errors
    /// [`ErrorKind::NoShards`] when nothing matches, [`ErrorKind::Footer`] for a file that is
    /// not readable Parquet, [`ErrorKind::Empty`] when there are no rows, and the column errors
    /// of [`ShardSet::features`].
    pub fn open(spec: impl AsRef<Path>) -> Result<Self> {
        Self::open_many(&[spec])
    }

    /// Open several specs (each a directory, glob or file) as one dataset, in the order given.
    ///
    /// # Errors
    /// As [`ShardSet::open`].
    pub fn open_many<P: AsRef<Path>>(specs: &[P]) -> Result<Self> {
        // Local paths are expanded here; a URL (`s3://…`) is listed by its object store.
        let mut files: Vec<(PathBuf, Option<Arc<dyn Storage>>)> = Vec::new();
        for s in specs {
            match s.as_ref().to_str().filter(|t| is_url(t)) {
                Some(url) => {
                    let storage = storage_for(url)?;
                    files.extend(storage.list(url)?.into_iter().map(|name| (name, Some(storage.clone()))));
                }
                None => files.extend(expand(s.as_ref())?.into_iter().map(|p| (p, None))),
            }
        }
        if files.is_empty() {
            let spec = specs.iter().map(|s| s.as_ref().display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(ErrorKind::NoShards { spec }.into());
        }
        type Footer = (ArrowReaderMetadata, u64, Option<Arc<dyn ByteSource>>);
        let footers: Vec<Result<Footer>> = files
            .par_iter()
            .map(|(p, storage)| match storage {
                None => read_footer(p).map(|(m, len)| (m, len, None)),
                Some(storage) => {
                    let source = storage.open(p)?;
                    let metadata = read_remote_footer(&source)?;
                    Ok((metadata, source.len(), Some(source)))
                }
            })
            .collect();
        let mut shards = Vec::with_capacity(files.len());
        let mut first_row = 0u64;
        for ((path, _), footer) in files.into_iter().zip(footers) {
            let (metadata, file_len, remote) = footer?;
            let meta = metadata.metadata().clone();
            let mut shard_rows = 0u64;
            for (rg, rg_meta) in meta.row_groups().iter().enumerate() {
                let n = u64::try_from(rg_meta.num_rows()).map_err(|_| ErrorKind::ShardChanged {
                    path: path.clone(),
                    message: format!("row group {rg} has a negative row count in its footer"),
                })?;
                // Every row puts at least one value (or null level) in each leaf column, so a
                // footer claiming more rows than a column chunk holds is lying; without this
                // check a claim near i64::MAX made the block index alone exhaust memory.
                if let Some(values) = rg_meta.columns().iter().map(|c| c.num_values()).min() {
                    if n > u64::try_from(values).unwrap_or(0) {
                        return Err(ErrorKind::ShardChanged {
                            path: path.clone(),
                            message: format!("row group {rg}: the footer claims {n} rows but a column chunk holds only {values} values"),
                        }
                        .into());
                    }
                }
                // Nor can a row group hold more rows than its bytes can encode: the densest
                // encoding real writers produce (an RLE run of one value, 20,000 rows per page
                // for parquet-rs, parquet-mr and Arrow C++) stays well below this. Without it a
                // 132-byte file could claim 2^31 rows; every block of it is then cheap to
                // decode, but there are as many blocks as the file claims.
                let bytes = rg_meta
                    .columns()
                    .iter()
                    .map(|c| u64::try_from(c.compressed_size()).unwrap_or(0).min(file_len))
                    .fold(0u64, u64::saturating_add)
                    .min(file_len);
                if n > bytes.saturating_mul(MAX_ROWS_PER_BYTE) {
                    return Err(ErrorKind::ShardChanged {
                        path: path.clone(),
                        message: format!(
                            "row group {rg}: the footer claims {n} rows but its column chunks hold only {bytes} bytes \
                             (at most {MAX_ROWS_PER_BYTE} rows per byte are accepted)"
                        ),
                    }
                    .into());
                }
                shard_rows = shard_rows.saturating_add(n);
            }
            // Readers disagree on such a file (pyarrow reads the row groups' rows, arrow-rs the
            // footer's): refuse it rather than pick one.
            let footer_rows = meta.file_metadata().num_rows();
            if u64::try_from(footer_rows).ok() != Some(shard_rows) {
                return Err(ErrorKind::ShardChanged {
                    path: path.clone(),
                    message: format!("the footer says {footer_rows} rows but its row groups hold {shard_rows}"),
                }
                .into());
            }
            shards.push(ShardInfo {
                path,
                num_rows: shard_rows,
                num_row_groups: meta.num_row_groups(),
                first_row,
                file_len,
                remote,
                metadata,
                roots: Vec::new(),
            });
            first_row = first_row.saturating_add(shard_rows);
        }
        let mut set = ShardSet {
            row_groups: blocks(&shards, DEFAULT_BLOCK_ROWS),
            shards,
            num_rows: first_row,
            features: Features::Auto,
            target: Target::None,
            null_policy: NullPolicy::Error,
            max_chunk: DEFAULT_MAX_COLUMN_CHUNK_BYTES,
            block_rows: DEFAULT_BLOCK_ROWS,
            feature_shape: None,
            plan: ColumnPlan { features: FeatureSource::Columns(Vec::new()), target: None },
            spec: DataSpec {
                features: FeatureLayout::Columns(Vec::new()),
                target: TargetKind::None,
                feature_shape: None,
            },
            pools: Pools::new(),
            page_maps: Arc::default(),
            direct: true,
        };
        if set.num_rows == 0 {
            let what = if set.shards.len() == 1 {
                set.shards[0].path.display().to_string()
            } else {
                format!("the {} shards", set.shards.len())
            };
            return Err(ErrorKind::Empty { what }.into());
        }
        set.resolve()?;
        Ok(set)
    }

    /// Select the feature columns (default [`Features::auto`]).
    ///
    /// # Errors
    /// [`ErrorKind::MissingColumn`], [`ErrorKind::ColumnType`] or [`ErrorKind::SchemaMismatch`]
    /// naming the shard and column.
    pub fn features(mut self, features: Features) -> Result<Self> {
        self.features = features;
        self.resolve()?;
        Ok(self)
    }

    /// Select the target (default none).
    ///
    /// # Errors
    /// As [`ShardSet::features`]; for a derived class count also the label errors of a scan.
    pub fn target(mut self, target: Target) -> Result<Self> {
        self.target = target;
        self.resolve()?;
        Ok(self)
    }

    /// What to do with nulls, NaN and infinities (default [`NullPolicy::Error`]).
    pub fn null_policy(mut self, policy: NullPolicy) -> Self {
        self.null_policy = policy;
        self
    }

    /// Refuse to decode a column chunk whose footer claims more than `bytes` uncompressed
    /// (default [`DEFAULT_MAX_COLUMN_CHUNK_BYTES`]): a guard against decompression bombs.
    pub fn max_column_chunk_bytes(mut self, bytes: u64) -> Self {
        self.max_chunk = bytes;
        self
    }

    /// Decode row groups larger than `rows` in blocks of `rows` (default
    /// [`DEFAULT_BLOCK_ROWS`]); the block is the unit of the cache and of the shuffled order.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for 0.
    pub fn block_rows(mut self, rows: u64) -> Result<Self> {
        if rows == 0 {
            return Err(Error::config("block_rows", "must be at least 1"));
        }
        self.block_rows = rows;
        self.row_groups = blocks(&self.shards, rows);
        Ok(self)
    }

    /// Declare the tensor shape of each row's features (e.g. `[28, 28, 1]`, H × W × C), used by
    /// CutMix.
    ///
    /// # Errors
    /// [`ErrorKind::Shape`] when the product differs from the feature count.
    pub fn feature_shape(mut self, shape: &[usize]) -> Result<Self> {
        let product: usize = shape.iter().product();
        if shape.is_empty() || product != self.spec.num_features() {
            return Err(Error::shape(
                "feature_shape",
                format!("{} values per row", self.spec.num_features()),
                format!("{shape:?} = {product}"),
            ));
        }
        self.feature_shape = Some(shape.to_vec());
        self.spec.feature_shape = Some(shape.to_vec());
        Ok(self)
    }

    fn resolve(&mut self) -> Result<()> {
        let first = &self.shards[0];
        let schema = first.metadata.schema().clone();
        let derived = match &self.target {
            Target::Class { column, num_classes: None } => Some(self.derive_classes(column)?),
            Target::Auto(column)
                if schema.field_with_name(column).is_ok_and(|f| columns::is_integer(f.data_type())) =>
            {
                Some(self.derive_classes(column)?)
            }
            _ => None,
        };
        let features = match (&self.features, self.target.column()) {
            // Auto with a lone list column (and no scalar features) takes the list column.
            (Features::Auto, t)
                if !schema
                    .fields()
                    .iter()
                    .any(|f| Some(f.name().as_str()) != t && columns::is_numeric(f.data_type())) =>
            {
                let lists: Vec<_> = schema
                    .fields()
                    .iter()
                    .filter(|f| Some(f.name().as_str()) != t && columns::list_element(f.data_type()).is_some())
                    .collect();
                if lists.len() == 1 {
                    Features::List(lists[0].name().clone())
                } else {
                    Features::Auto
                }
            }
            (f, _) => f.clone(),
        };
        let (mut plan, mut spec) = columns::resolve(&schema, &first.path, &features, &self.target, derived)?;
        if let FeatureSource::List { column, len: None } = plan.features.clone() {
            let len = self.probe_list_len(&column)?;
            plan.features = FeatureSource::List { column: column.clone(), len: Some(len) };
            spec.features = FeatureLayout::List { column: column.clone(), len };
        }
        crate::source::image::resolve_shape(self, &mut plan, &mut spec)?;
        if let Some(TargetSource::Soft { column, width: None }) = plan.target.clone() {
            let width = self.probe_list_len(&column)?;
            plan.target = Some(TargetSource::Soft { column: column.clone(), width: Some(width) });
            spec.target = TargetKind::Soft { column: column.clone(), width };
        }
        if spec.num_features() == 0 {
            return Err(Error::shape("features", "at least one value per row", "0"));
        }
        if let Some(shape) = &self.feature_shape {
            if shape.iter().product::<usize>() == spec.num_features() {
                spec.feature_shape = Some(shape.clone());
            } else {
                self.feature_shape = None;
            }
        }
        let first_path = first.path.clone();
        let mut roots = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            roots.push(columns::check_shard(shard.metadata.schema(), &shard.path, &schema, &first_path, &plan)?);
        }
        for (shard, r) in self.shards.iter_mut().zip(roots) {
            shard.roots = r;
        }
        self.plan = plan;
        self.spec = spec;
        Ok(())
    }

    fn derive_classes(&self, column: &str) -> Result<usize> {
        let maxes: Vec<Result<Option<i128>>> = self
            .row_groups
            .par_iter()
            .map(|rg| decode::max_label(self, &self.shards[rg.shard], rg.row_group, column))
            .collect();
        let mut max: Option<i128> = None;
        for m in maxes {
            if let Some(v) = m? {
                max = Some(max.map_or(v, |x| x.max(v)));
            }
        }
        let max = max.ok_or_else(|| {
            Error::from(ErrorKind::Empty { what: format!("label column '{column}' (every value is null)") })
        })?;
        usize::try_from(max + 1).ok().filter(|&n| n <= 1 << 20).ok_or_else(|| {
            Error::config(
                "num_classes",
                format!("derived from the largest label {max}, which is too large; give --num-classes"),
            )
        })
    }

    fn probe_list_len(&self, column: &str) -> Result<usize> {
        use arrow_array::Array;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::arrow::ProjectionMask;
        let shard = &self.shards[0];
        let run = || -> Result<usize> {
            let root = shard.metadata.schema().index_of(column).map_err(|_| ErrorKind::MissingColumn {
                path: shard.path.clone(),
                column: column.into(),
                hint: String::new(),
            })?;
            // The first row is in the first non-empty row group.
            let rg = shard.metadata.metadata().row_groups().iter().position(|g| g.num_rows() > 0).unwrap_or(0);
            let source = chunks::open_row_group(self, shard, rg, &[root], true)?;
            let descr = shard.metadata.metadata().file_metadata().schema_descr_ptr();
            let err = |source| Error::from(ErrorKind::Decode { path: shard.path.clone(), row_group: rg, source });
            let mut reader = ParquetRecordBatchReaderBuilder::new_with_metadata(source, shard.metadata.clone())
                .with_row_groups(vec![rg])
                .with_projection(ProjectionMask::roots(&descr, [root]))
                .with_limit(1)
                .with_batch_size(1)
                .build()
                .map_err(err)?;
            let batch = reader
                .next()
                .ok_or_else(|| {
                    Error::from(ErrorKind::Empty { what: format!("{}: list column '{column}'", shard.path.display()) })
                })?
                .map_err(|e| err(e.into()))?;
            let arr = batch.column(0);
            let len = match arr.data_type() {
                arrow_schema::DataType::List(_) => {
                    arrow_array::cast::AsArray::as_list::<i32>(arr).value_length(0) as usize
                }
                arrow_schema::DataType::LargeList(_) => {
                    arrow_array::cast::AsArray::as_list::<i64>(arr).value_length(0) as usize
                }
                _ => 0,
            };
            let _ = arr.len();
            Ok(len)
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(r) => r,
            Err(p) => {
                Err(ErrorKind::DecodePanic { path: shard.path.clone(), row_group: 0, message: panic_message(&*p) }
                    .into())
            }
        }
    }

    /// The shards, in order.
    pub fn shards(&self) -> &[ShardInfo] {
        &self.shards
    }

    /// Every block (whole row groups, or runs of rows of large ones), in global row order.
    pub fn row_groups(&self) -> &[RowGroupRef] {
        &self.row_groups
    }

    /// Total rows (from the footers; each row group's decoded count is checked against it).
    pub fn num_rows(&self) -> u64 {
        self.num_rows
    }

    /// The resolved data spec.
    pub fn spec(&self) -> &DataSpec {
        &self.spec
    }

    /// The Arrow schema of the first shard.
    pub fn arrow_schema(&self) -> &arrow_schema::SchemaRef {
        self.shards[0].metadata.schema()
    }

    /// The null/NaN policy in force.
    pub fn policy(&self) -> NullPolicy {
        self.null_policy
    }

    pub(crate) fn plan(&self) -> &ColumnPlan {
        &self.plan
    }

    pub(crate) fn chunk_limit(&self) -> u64 {
        self.max_chunk
    }

    pub(crate) fn pools(&self) -> &Arc<Pools> {
        &self.pools
    }

    pub(crate) fn page_maps(&self) -> &PageMaps {
        &self.page_maps
    }

    pub(crate) fn direct_path(&self) -> bool {
        self.direct
    }

    /// Decode every block through arrow-rs, never by the direct path (which gives the same
    /// values, faster): for the differential fuzz target, which compares the two.
    #[doc(hidden)]
    pub fn without_direct_path(mut self) -> Self {
        self.direct = false;
        self
    }

    /// Index into [`ShardSet::row_groups`] of the row group holding global row `row`.
    pub(crate) fn locate(&self, row: u64) -> usize {
        self.row_groups.partition_point(|rg| rg.first_row + rg.num_rows <= row)
    }
}
