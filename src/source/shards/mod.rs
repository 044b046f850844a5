//! [`ShardSet`]: a set of Parquet shards opened by their footers alone — schema, row groups
//! and a global row index — with the feature and target columns resolved and checked in
//! every shard before any data is decoded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use rayon::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::source::bytes::local::{LocalFile, LocalStorage};
use crate::source::bytes::pool::{PoolLease, Pools};
use crate::source::bytes::{storage_with_cache, ByteSource, CacheConfig, Storage};
use crate::source::decode::columns::{self, ColumnPlan, Features, ImageKind, ImageSource, Target};
use crate::source::decode::image::{self, ImageColumn};
use crate::source::decode::probe::probe_column;
use crate::source::decode::{self, DecodeContext, Decoded, NullPolicy, RowGroupRef};
use crate::source::footer::{self, ShardInfo};
use crate::spec::{DataSpec, FeatureLayout, Pixels, TargetKind};

/// Default limit on one column chunk's uncompressed size: 1 GiB.
pub const DEFAULT_MAX_COLUMN_CHUNK_BYTES: u64 = 1 << 30;

/// The most rows a row group may claim per byte of its column chunks (compressed, as stored in
/// the file). Real files hold far fewer (a page of 20,000 rows of one constant value takes about
/// 30 bytes); the bound keeps the block index, and the time to read a file, proportional to
/// the file's size.
pub(crate) const MAX_ROWS_PER_BYTE: u64 = 1 << 16;

/// Default block size: row groups larger than this are decoded in blocks of this many rows.
pub const DEFAULT_BLOCK_ROWS: u64 = 65_536;

/// Shards opened together by [`Storage::open_ahead`] before their footers are read: enough
/// requests in flight to hide a store's latency, few enough tails held at once (64 × 256 KiB).
const OPEN_AHEAD_SHARDS: usize = 64;

/// Threads of the pool that scans a remote set's label column for its class count, one
/// request in flight each.
const REMOTE_IO_THREADS: usize = 16;

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
    block_rows: u64,
    feature_shape: Option<Vec<usize>>,
    pixels: Pixels,
    /// The resolved columns, policies and limits, and the buffers and page maps shared by
    /// every reader of this set (and its clones).
    ctx: DecodeContext,
}

/// Read and check the footer of the local file `path` (`augment` reads its own output's
/// footers with it when it resumes): the footer and its file's length.
///
/// # Errors
/// As [`footer::read_footer`], and [`ErrorKind::Io`] when the file cannot be opened.
pub(crate) fn read_footer(path: &Path) -> Result<(ArrowReaderMetadata, u64)> {
    let source: Arc<dyn ByteSource> = Arc::new(LocalFile::open(path)?);
    Ok((footer::read_footer(&source)?, source.len()))
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

/// How to open a [`ShardSet`]: every setting given first, then [`open`](Self::open) reads the
/// footers and resolves the columns once (each setter of an opened [`ShardSet`] resolves them
/// again, and a derived class count scans the label column each time).
///
/// # Example
/// ```
/// use shardmix::{Features, ShardSet, Target};
/// let set = ShardSet::builder()
///     .features(Features::prefix("p"))
///     .target(Target::class_auto("label"))
///     .feature_shape(&[8, 8, 1])
///     .open("examples/data/digits.parquet")?;
/// assert_eq!(set.spec().num_classes(), Some(10));
/// assert_eq!(set.spec().feature_shape, Some(vec![8, 8, 1]));
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShardSetBuilder {
    features: Features,
    target: Target,
    null_policy: NullPolicy,
    max_chunk: u64,
    block_rows: u64,
    feature_shape: Option<Vec<usize>>,
    pixels: Pixels,
    cache: Option<CacheConfig>,
}

impl Default for ShardSetBuilder {
    fn default() -> Self {
        ShardSetBuilder {
            features: Features::Auto,
            target: Target::None,
            null_policy: NullPolicy::Error,
            max_chunk: DEFAULT_MAX_COLUMN_CHUNK_BYTES,
            block_rows: DEFAULT_BLOCK_ROWS,
            feature_shape: None,
            pixels: Pixels::F32,
            cache: None,
        }
    }
}

impl ShardSetBuilder {
    /// Select the feature columns (default [`Features::auto`]).
    pub fn features(mut self, features: Features) -> Self {
        self.features = features;
        self
    }

    /// Select the target (default none).
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// What to do with nulls, NaN and infinities (default [`NullPolicy::Error`]).
    pub fn null_policy(mut self, policy: NullPolicy) -> Self {
        self.null_policy = policy;
        self
    }

    /// As [`ShardSet::max_column_chunk_bytes`].
    pub fn max_column_chunk_bytes(mut self, bytes: u64) -> Self {
        self.max_chunk = bytes;
        self
    }

    /// As [`ShardSet::block_rows`]; 0 is refused by [`open`](Self::open).
    pub fn block_rows(mut self, rows: u64) -> Self {
        self.block_rows = rows;
        self
    }

    /// As [`ShardSet::feature_shape`]; checked against the features by [`open`](Self::open).
    pub fn feature_shape(mut self, shape: &[usize]) -> Self {
        self.feature_shape = Some(shape.to_vec());
        self
    }

    /// As [`ShardSet::pixels`]; checked against the features by [`open`](Self::open).
    pub fn pixels(mut self, pixels: Pixels) -> Self {
        self.pixels = pixels;
        self
    }

    /// Keep whole copies of object-store shards (`s3://…`, `https://…`) in the local directory
    /// `dir` (in its `shardmix-cache-v1` folder), at most `max_bytes` of them (`None`: no cap),
    /// the least recently used evicted first: later runs over the same objects read the
    /// copies. A copy is keyed by the object's URL, ETag and size, so a replaced object is
    /// fetched again. Local paths ignore it.
    pub fn object_cache(mut self, dir: impl Into<PathBuf>, max_bytes: Option<u64>) -> Self {
        self.cache = Some(CacheConfig { dir: dir.into(), max_bytes });
        self
    }

    /// Open a directory, a glob or one file (as [`ShardSet::open`]) with these settings.
    ///
    /// # Errors
    /// As [`ShardSet::open`]; [`ErrorKind::Config`] for 0 block rows; [`ErrorKind::Shape`] for
    /// a feature shape whose product is not the feature count.
    pub fn open(self, spec: impl AsRef<Path>) -> Result<ShardSet> {
        self.open_many(&[spec])
    }

    /// Open several specs as one dataset, in the order given, with these settings.
    ///
    /// # Errors
    /// As [`ShardSetBuilder::open`].
    pub fn open_many<P: AsRef<Path>>(self, specs: &[P]) -> Result<ShardSet> {
        let set = ShardSet::read_footers(specs, self.cache.as_ref())?;
        self.apply(set)
    }

    /// Resolve `set` (footers read, nothing resolved) with these settings, once.
    pub(crate) fn apply(self, mut set: ShardSet) -> Result<ShardSet> {
        if self.block_rows == 0 {
            return Err(Error::config("block_rows", "must be at least 1"));
        }
        set.block_rows = self.block_rows;
        set.row_groups = blocks(&set.shards, self.block_rows);
        set.features = self.features;
        set.target = self.target;
        set.ctx.policy = self.null_policy;
        set.ctx.max_chunk = self.max_chunk;
        set.pixels = self.pixels;
        set.resolve()?;
        match &self.feature_shape {
            Some(shape) => set.feature_shape(shape),
            None => Ok(set),
        }
    }
}

impl ShardSet {
    /// A [`ShardSetBuilder`]: settings first, then one open that resolves the columns once.
    pub fn builder() -> ShardSetBuilder {
        ShardSetBuilder::default()
    }

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
        ShardSet::builder().open_many(specs)
    }

    /// The shards of `specs` by their footers, their columns not resolved yet: what
    /// [`ShardSetBuilder::apply`] takes. Its schema ([`ShardSet::arrow_schema`]) may be read
    /// in between.
    /// `cache`: where object-store shards are cached ([`ShardSetBuilder::object_cache`]).
    pub(crate) fn read_footers<P: AsRef<Path>>(specs: &[P], cache: Option<&CacheConfig>) -> Result<Self> {
        let mut files: Vec<(PathBuf, Arc<dyn Storage>)> = Vec::new();
        for s in specs {
            let s = s.as_ref();
            // A spec that is no UTF-8 string is a local path.
            let (names, storage) = match s.to_str() {
                Some(spec) => {
                    let storage = storage_with_cache(spec, cache)?;
                    (storage.list(spec)?, storage)
                }
                None => (LocalStorage.list_path(s)?, Arc::new(LocalStorage) as Arc<dyn Storage>),
            };
            files.extend(names.into_iter().map(|name| (name, storage.clone())));
        }
        if files.is_empty() {
            let spec = specs.iter().map(|s| s.as_ref().display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(ErrorKind::NoShards { spec }.into());
        }
        // An object store opens its shards many at a time (one round trip for all rather than
        // one each), in groups so that the footers fetched at open are not all held at once.
        let mut footers: Vec<Result<(ArrowReaderMetadata, u64)>> = Vec::with_capacity(files.len());
        for group in files.chunks(OPEN_AHEAD_SHARDS) {
            for (i, (_, storage)) in group.iter().enumerate() {
                if !group[..i].iter().any(|(_, s)| Arc::ptr_eq(s, storage)) {
                    let names: Vec<PathBuf> =
                        group.iter().filter(|(_, s)| Arc::ptr_eq(s, storage)).map(|(n, _)| n.clone()).collect();
                    storage.open_ahead(&names);
                }
            }
            footers.par_extend(group.par_iter().map(|(name, storage)| {
                let source = storage.open(name)?;
                let footer = footer::read_footer(&source);
                source.footer_read();
                Ok((footer?, source.len()))
            }));
        }
        let mut shards = Vec::with_capacity(files.len());
        let mut first_row = 0u64;
        for ((path, storage), footer) in files.into_iter().zip(footers) {
            let (metadata, file_len) = footer?;
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
                metadata,
                roots: Vec::new(),
                storage,
            });
            first_row = first_row.saturating_add(shard_rows);
        }
        let set = ShardSet {
            row_groups: blocks(&shards, DEFAULT_BLOCK_ROWS),
            shards,
            num_rows: first_row,
            features: Features::Auto,
            target: Target::None,
            block_rows: DEFAULT_BLOCK_ROWS,
            feature_shape: None,
            pixels: Pixels::F32,
            ctx: DecodeContext {
                plan: ColumnPlan {
                    spec: DataSpec {
                        features: FeatureLayout::Columns(Vec::new()),
                        target: TargetKind::None,
                        feature_shape: None,
                        pixels: Default::default(),
                    },
                    image: None,
                },
                policy: NullPolicy::Error,
                max_chunk: DEFAULT_MAX_COLUMN_CHUNK_BYTES,
                pools: Pools::shared(),
                _lease: PoolLease::new(),
                page_maps: Arc::default(),
                shared_pages: Arc::default(),
                direct: true,
            },
        };
        if set.num_rows == 0 {
            let what = if set.shards.len() == 1 {
                set.shards[0].path.display().to_string()
            } else {
                format!("the {} shards", set.shards.len())
            };
            return Err(ErrorKind::Empty { what }.into());
        }
        Ok(set)
    }

    /// Select the feature columns (default [`Features::auto`]). This resolves the columns again
    /// (and scans the label column again for a derived class count): to set several things,
    /// [`ShardSet::builder`] resolves once.
    ///
    /// # Errors
    /// [`ErrorKind::MissingColumn`], [`ErrorKind::ColumnType`] or [`ErrorKind::SchemaMismatch`]
    /// naming the shard and column; [`ErrorKind::Shape`] when a feature shape declared before
    /// does not fit the new features.
    pub fn features(mut self, features: Features) -> Result<Self> {
        self.features = features;
        self.resolve()?;
        Ok(self)
    }

    /// Select the target (default none). As [`ShardSet::features`], this resolves the columns
    /// again.
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
        self.ctx.policy = policy;
        self
    }

    /// Refuse to decode a column chunk whose footer claims more than `bytes` uncompressed
    /// (default [`DEFAULT_MAX_COLUMN_CHUNK_BYTES`]): a guard against decompression bombs.
    pub fn max_column_chunk_bytes(mut self, bytes: u64) -> Self {
        self.ctx.max_chunk = bytes;
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
        if shape.is_empty() || product != self.ctx.plan.spec.num_features() {
            return Err(Error::shape(
                "feature_shape",
                format!("{} values per row", self.ctx.plan.spec.num_features()),
                format!("{shape:?} = {product}"),
            ));
        }
        self.feature_shape = Some(shape.to_vec());
        self.ctx.plan.spec.feature_shape = Some(shape.to_vec());
        Ok(self)
    }

    /// Keep the features as `uint8` pixels ([`Pixels::U8`]: 0–255 as stored, in
    /// [`Batch::pixels`](crate::Batch::pixels)) or widen them to `f32` ([`Pixels::F32`], the
    /// default). This resolves the columns again.
    ///
    /// # Example
    /// ```
    /// use shardmix::{Pixels, ShardSet};
    /// // digits.parquet holds 64 scalar columns: not pixels that can stay uint8.
    /// let err = ShardSet::open("examples/data/digits.parquet")?.pixels(Pixels::U8).unwrap_err();
    /// assert!(err.to_string().contains("pixels"), "{err}");
    /// # Ok::<(), shardmix::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming `pixels` when `uint8` is asked of features that are not an
    /// image column or a list column of `uint8` in every shard, or with a fill policy whose
    /// value is not a whole number in 0..=255.
    pub fn pixels(mut self, pixels: Pixels) -> Result<Self> {
        self.pixels = pixels;
        self.resolve()?;
        Ok(self)
    }

    /// Check that the features of `plan` can be kept as `uint8`.
    fn check_uint8(&self, plan: &ColumnPlan) -> Result<()> {
        if let NullPolicy::Fill(v) = self.ctx.policy {
            if !(v == v.trunc() && (0.0..=255.0).contains(&v)) {
                return Err(Error::config(
                    "pixels",
                    format!("uint8 pixels cannot be filled with {v}: the fill value must be a whole number in 0..=255"),
                ));
            }
        }
        if plan.image.is_some() {
            return Ok(());
        }
        let FeatureLayout::List { column, .. } = &plan.spec.features else {
            return Err(Error::config(
                "pixels",
                "uint8 keeps the values of an image column or of a list column of uint8; the features are scalar columns",
            ));
        };
        for shard in &self.shards {
            let field = shard.metadata.schema().field_with_name(column).ok();
            let element = field.and_then(|f| columns::list_element(f.data_type())).map(|(e, _)| e.clone());
            if element != Some(arrow_schema::DataType::UInt8) {
                let found = element.map_or_else(|| "no list".to_string(), |e| format!("a list of {e}"));
                return Err(Error::config(
                    "pixels",
                    format!(
                        "uint8 keeps the values of an image column or of a list column of uint8; column '{column}' of {} is {found}",
                        shard.path.display()
                    ),
                ));
            }
        }
        Ok(())
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
        let mut plan = columns::resolve(&schema, &first.path, &features, &self.target, derived)?;
        // Lengths the schema does not fix (0 in the spec) are the first row's.
        if let (FeatureLayout::List { column, len: 0 }, None) = (&plan.spec.features, plan.image) {
            let column = column.clone();
            let len = self.probe_list_len(&column)?;
            plan.spec.features = FeatureLayout::List { column, len };
        }
        image::resolve_shape(&self.ctx, &self.shards, &mut plan)?;
        if let TargetKind::Soft { column, width: 0 } = &plan.spec.target {
            let column = column.clone();
            let width = self.probe_list_len(&column)?;
            plan.spec.target = TargetKind::Soft { column, width };
        }
        let spec = &mut plan.spec;
        if spec.num_features() == 0 {
            return Err(Error::shape("features", "at least one value per row", "0"));
        }
        if let Some(shape) = &self.feature_shape {
            // A shape declared for other features does not fit these: refuse, not drop it.
            let product = shape.iter().product::<usize>();
            if product != spec.num_features() {
                return Err(Error::shape(
                    "feature_shape",
                    format!("{} values per row (the features now selected)", spec.num_features()),
                    format!("{shape:?} = {product}, declared before"),
                ));
            }
            spec.feature_shape = Some(shape.clone());
        }
        let first_path = first.path.clone();
        let mut roots = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            roots.push(columns::check_shard(shard.metadata.schema(), &shard.path, &schema, &first_path, &plan)?);
        }
        for (shard, r) in self.shards.iter_mut().zip(roots) {
            shard.roots = r;
        }
        if self.pixels == Pixels::U8 {
            self.check_uint8(&plan)?;
        }
        plan.spec.pixels = self.pixels;
        self.ctx.plan = plan;
        Ok(())
    }

    fn derive_classes(&self, column: &str) -> Result<usize> {
        let maxes: Vec<Result<Option<i128>>> = self.on_io_pool(|| {
            self.row_groups
                .par_iter()
                .map(|rg| decode::arrow::max_label(&self.ctx, &self.shards[rg.shard], rg.row_group, column))
                .collect()
        });
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

    /// Run `f`, whose parallel iterators wait on an object store more than they compute, on a
    /// pool of [`REMOTE_IO_THREADS`] threads when the first shard is remote (so that many
    /// requests are in flight, not one per core); on the global pool otherwise.
    fn on_io_pool<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let remote = self.shards.first().and_then(|s| s.open().ok()).is_some_and(|s| s.is_remote());
        match rayon::ThreadPoolBuilder::new().num_threads(REMOTE_IO_THREADS).build() {
            Ok(pool) if remote => pool.install(f),
            _ => f(),
        }
    }

    /// The length of the first present (non-null) row of the list column `column` in the first
    /// shard; 0 when every row there is null or the column is no list.
    fn probe_list_len(&self, column: &str) -> Result<usize> {
        use arrow_array::cast::AsArray;
        use arrow_array::Array;
        use arrow_schema::DataType;
        let shard = &self.shards[0];
        // A null row (no length) does not decide.
        let probed = probe_column(&self.ctx, shard, column, |arr, _| {
            let Some(row) = (0..arr.len()).find(|&i| arr.is_valid(i)) else { return Ok(None) };
            Ok(Some(match arr.data_type() {
                DataType::List(_) => arr.as_list::<i32>().value_length(row) as usize,
                DataType::LargeList(_) => arr.as_list::<i64>().value_length(row) as usize,
                _ => 0,
            }))
        })?;
        match probed.found {
            Some(len) => Ok(len),
            None if probed.rows == 0 => {
                Err(ErrorKind::Empty { what: format!("{}: list column '{column}'", shard.path.display()) }.into())
            }
            None => Ok(0),
        }
    }

    /// What the local cache of object-store shards did so far (every store of the set summed);
    /// `None` when no shard is read through one.
    ///
    /// # Example
    /// ```
    /// let set = shardmix::ShardSet::open("examples/data/digits.parquet")?;
    /// assert!(set.object_cache_stats().is_none()); // a local file
    /// # Ok::<(), shardmix::Error>(())
    /// ```
    pub fn object_cache_stats(&self) -> Option<crate::source::bytes::ObjectCacheStats> {
        let mut seen: Vec<&Arc<dyn Storage>> = Vec::new();
        let mut sum: Option<crate::source::bytes::ObjectCacheStats> = None;
        for shard in &self.shards {
            if seen.iter().any(|s| Arc::ptr_eq(s, &shard.storage)) {
                continue;
            }
            seen.push(&shard.storage);
            if let Some(stats) = shard.storage.object_cache_stats() {
                sum.get_or_insert_with(Default::default).add(&stats);
            }
        }
        sum
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
        &self.ctx.plan.spec
    }

    /// The Arrow schema of the first shard.
    pub fn arrow_schema(&self) -> &arrow_schema::SchemaRef {
        self.shards[0].metadata.schema()
    }

    /// The null/NaN policy in force.
    pub fn policy(&self) -> NullPolicy {
        self.ctx.policy
    }

    /// What decoding a block of this set needs besides the block.
    pub(crate) fn decode_context(&self) -> &DecodeContext {
        &self.ctx
    }

    /// Decode block `block` (one of [`ShardSet::row_groups`]).
    pub(crate) fn decode_block(&self, block: &RowGroupRef) -> Result<Decoded> {
        decode::decode_block(&self.ctx, &self.shards[block.shard], block)
    }

    /// Decode every block through arrow-rs, never by the direct path (which gives the same
    /// values, faster): for the differential fuzz target, which compares the two.
    #[doc(hidden)]
    pub fn without_direct_path(mut self) -> Self {
        self.ctx.direct = false;
        self
    }

    /// Index into [`ShardSet::row_groups`] of the row group holding global row `row`.
    pub(crate) fn locate(&self, row: u64) -> usize {
        self.row_groups.partition_point(|rg| rg.first_row + rg.num_rows <= row)
    }

    /// The image column the features come from, if they come from one (see
    /// [`Features::image`](crate::Features::image)).
    ///
    /// # Example
    /// ```
    /// use shardmix::ShardSet;
    /// let set = ShardSet::open("examples/data/digits.parquet")?;
    /// assert!(set.image().is_none());
    /// # Ok::<(), shardmix::Error>(())
    /// ```
    pub fn image(&self) -> Option<ImageColumn> {
        match self.ctx.plan.image_column()? {
            (column, ImageSource { kind, shape: Some(shape) }) => {
                Some(ImageColumn { column: column.to_string(), shape, hf_layout: kind == ImageKind::Struct })
            }
            _ => None,
        }
    }
}
