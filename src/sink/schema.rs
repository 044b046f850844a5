//! The output schema shared by the Parquet and IPC sinks, and the fast conversion of a
//! [`Batch`] into an Arrow [`RecordBatch`] of that schema.
//!
//! Columns, in order:
//! * the features in the input's layout: one `Float32` column per name for
//!   [`FeatureLayout::Columns`], or one `FixedSizeList<Float32>[len]` column for
//!   [`FeatureLayout::List`] (`FixedSizeList<UInt8>[len]` for `uint8` pixels,
//!   [`Pixels::U8`]);
//! * `target`: `FixedSizeList<Float32>[C]` soft labels (absent for [`TargetKind::None`]);
//! * with provenance: `step` UInt64, `origin` Utf8 (`real` | `vae` | `gan`), `row_a` UInt64,
//!   `row_b` UInt64 (nullable), `lambda` Float32 (nullable).
//!
//! Schema metadata: `shardmix.version`, `shardmix.schema_hash` (see [`schema_hash`]) and
//! `shardmix.spec` (the [`DataSpec`] as JSON).

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, RecordBatchOptions, StringArray, UInt64Array,
    UInt8Array,
};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};

use super::hash::{fnv1a64, Crc32};
use super::png::{hf_metadata, image_column, image_type, ImageOut, PngShape};
use crate::batch::Batch;
use crate::error::{Error, ErrorKind, Result};
use crate::spec::{DataSpec, FeatureLayout, Pixels, TargetKind};

/// Metadata key: the shardmix version that wrote the data.
pub const META_VERSION: &str = "shardmix.version";
/// Metadata key: the hash of the field list, see [`schema_hash`].
pub const META_SCHEMA_HASH: &str = "shardmix.schema_hash";
/// Metadata key: the data spec as JSON.
pub const META_SPEC: &str = "shardmix.spec";

/// Names of the provenance columns, in output order.
pub const PROVENANCE_COLUMNS: [&str; 5] = ["step", "origin", "row_a", "row_b", "lambda"];

/// Name of the soft-label column.
pub const TARGET_COLUMN: &str = "target";

/// The output schema for a [`DataSpec`], and the converter from [`Batch`] to [`RecordBatch`].
///
/// # Example
/// ```
/// use shardmix::{Batch, DataSpec, FeatureLayout, OutputSchema, TargetKind};
/// let spec = DataSpec {
///     features: FeatureLayout::List { column: "pixels".into(), len: 2 },
///     target: TargetKind::Class { column: "label".into(), num_classes: 2 },
///     feature_shape: None,
///     pixels: shardmix::Pixels::F32,
/// };
/// let out = OutputSchema::new(&spec, true)?;
/// let names: Vec<_> = out.schema().fields().iter().map(|f| f.name().clone()).collect();
/// assert_eq!(names, ["pixels", "target", "step", "origin", "row_a", "row_b", "lambda"]);
/// let batch = Batch::new(7, ndarray::array![[1.0f32, 2.0]], Some(ndarray::array![[0.0f32, 1.0]]), vec![42])?;
/// let rb = out.to_record_batch(&batch)?;
/// assert_eq!(rb.num_rows(), 1);
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OutputSchema {
    spec: DataSpec,
    provenance: bool,
    schema: SchemaRef,
    hash: String,
    num_features: usize,
    num_targets: usize,
    /// `Some` when the features are written as PNG files ([`ImageOut::Png`]).
    png: Option<PngShape>,
}

impl OutputSchema {
    /// The schema for `spec`, with the provenance columns when `provenance` is true.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the spec has no features, duplicate feature names, or a
    /// feature name that collides with an output column (`target`, `step`, `origin`, ...).
    pub fn new(spec: &DataSpec, provenance: bool) -> Result<Self> {
        Self::with_image_out(spec, provenance, ImageOut::Tensor)
    }

    /// [`OutputSchema::new`] with the features written as `image_out` says: with
    /// [`ImageOut::Png`] one column of Hugging Face's `Image` layout named as the feature
    /// list column (`image` for scalar columns), each row's `H × W × C` values (the spec's
    /// feature shape) quantised to 8 bits (`round(v · 255)`, clamped) and PNG-encoded, and
    /// the `huggingface` schema metadata that declares it an `Image` feature.
    ///
    /// # Errors
    /// As [`OutputSchema::new`]; for PNG, [`ErrorKind::Config`] naming `image_out` when the
    /// spec has no `[H, W, C]` feature shape with 1 to 4 channels.
    pub fn with_image_out(spec: &DataSpec, provenance: bool, image_out: ImageOut) -> Result<Self> {
        let num_features = spec.num_features();
        if num_features == 0 {
            return Err(Error::config("features", "the data spec has no features"));
        }
        let num_targets = spec.num_targets();
        let reserved = |name: &str| name == TARGET_COLUMN || PROVENANCE_COLUMNS.contains(&name);
        let mut fields: Vec<Field> = Vec::new();
        let png = match image_out {
            ImageOut::Tensor => None,
            ImageOut::Png => Some(PngShape::new(spec.feature_shape.as_deref(), num_features)?),
        };
        let image_name = match &spec.features {
            FeatureLayout::List { column, .. } => column.as_str(),
            FeatureLayout::Columns(_) => "image",
        };
        match &spec.features {
            _ if png.is_some() => fields.push(Field::new(image_name, image_type(), true)),
            FeatureLayout::Columns(names) => {
                for (i, name) in names.iter().enumerate() {
                    if names[..i].contains(name) {
                        return Err(Error::config("features", format!("feature column '{name}' is listed twice")));
                    }
                    fields.push(Field::new(name, DataType::Float32, false));
                }
            }
            FeatureLayout::List { column, len } if spec.pixels == Pixels::U8 => {
                fields.push(Field::new(column, list_of(DataType::UInt8, *len)?, false));
            }
            FeatureLayout::List { column, len } => {
                fields.push(Field::new(column, float_list(*len)?, false));
            }
        }
        for f in &fields {
            if reserved(f.name()) {
                return Err(Error::config(
                    "features",
                    format!(
                        "feature column '{}' has the name of an output column \
                         (target, step, origin, row_a, row_b, lambda); rename it",
                        f.name()
                    ),
                ));
            }
        }
        if num_targets > 0 {
            fields.push(Field::new(TARGET_COLUMN, float_list(num_targets)?, false));
        }
        if provenance {
            fields.push(Field::new("step", DataType::UInt64, false));
            fields.push(Field::new("origin", DataType::Utf8, false));
            fields.push(Field::new("row_a", DataType::UInt64, false));
            fields.push(Field::new("row_b", DataType::UInt64, true));
            fields.push(Field::new("lambda", DataType::Float32, true));
        }
        let fields = Fields::from(fields);
        let hash = schema_hash(&fields);
        let mut metadata = std::collections::HashMap::new();
        metadata.insert(META_VERSION.to_string(), env!("CARGO_PKG_VERSION").to_string());
        metadata.insert(META_SCHEMA_HASH.to_string(), hash.clone());
        metadata.insert(META_SPEC.to_string(), spec_json(spec).to_string());
        if png.is_some() {
            metadata.insert("huggingface".to_string(), hf_metadata(image_name));
        }
        let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
        Ok(OutputSchema { spec: spec.clone(), provenance, schema, hash, num_features, num_targets, png })
    }

    /// The Arrow schema, with its metadata.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The data spec the schema was made for.
    pub fn spec(&self) -> &DataSpec {
        &self.spec
    }

    /// Whether the provenance columns are present.
    pub fn provenance(&self) -> bool {
        self.provenance
    }

    /// The schema hash (16 hex digits), also stored as `shardmix.schema_hash`.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Convert `batch` to a [`RecordBatch`] of this schema.
    ///
    /// Feature columns are built with one blocked transposing pass over the row-major buffer
    /// (all columns slices of one allocation); a list layout copies the row-major buffer as
    /// the list's values buffer as it is.
    ///
    /// # Errors
    /// [`ErrorKind::Shape`] when the batch's feature or target width differs from the spec,
    /// or its parts disagree on the row count.
    pub fn to_record_batch(&self, batch: &Batch) -> Result<RecordBatch> {
        self.check(batch)?;
        let features = match &self.spec.features {
            _ if batch.pixels.is_some() => {
                Features::Pixels(batch.pixels.as_ref().map(|p| row_major(p).into_owned()).unwrap_or_default())
            }
            _ if self.png.is_some() => Features::List(row_major(&batch.features).into_owned()),
            FeatureLayout::Columns(_) => Features::Columns(self.transposed(batch, Vec::new())),
            FeatureLayout::List { .. } => Features::List(row_major(&batch.features).into_owned()),
        };
        let targets = batch.targets.as_ref().filter(|_| self.num_targets > 0).map(|t| row_major(t).into_owned());
        self.assemble(batch, batch.rows(), features, targets)
    }

    /// [`to_record_batch`](Self::to_record_batch) without copying: the batch's feature (list
    /// layout) and target buffers become the Arrow buffers as they are. For a column layout
    /// the transposed features are written into `scratch` (reused: its allocation is returned
    /// as the second value, to be reclaimed with [`Buffer::into_vec`] once the record batch
    /// is dropped).
    pub(crate) fn to_record_batch_owned(
        &self,
        mut batch: Batch,
        scratch: Vec<f32>,
    ) -> Result<(RecordBatch, Option<Buffer>)> {
        self.check(&batch)?;
        let n = batch.rows();
        let mut reclaim = None;
        let features = match &self.spec.features {
            _ if batch.pixels.is_some() => {
                Features::Pixels(batch.pixels.take().map(into_row_major).unwrap_or_default())
            }
            FeatureLayout::Columns(_) if self.png.is_none() => {
                let buffer = self.transposed(&batch, scratch);
                reclaim = Some(buffer.clone());
                Features::Columns(buffer)
            }
            _ => {
                let f = std::mem::replace(&mut batch.features, ndarray::Array2::zeros((0, 0)));
                Features::List(into_row_major(f))
            }
        };
        let targets = batch.targets.take().filter(|_| self.num_targets > 0).map(into_row_major);
        Ok((self.assemble(&batch, n, features, targets)?, reclaim))
    }

    /// Number of feature values per row.
    pub(crate) fn num_features(&self) -> usize {
        self.num_features
    }

    /// Number of target values per row (0: no `target` column).
    pub(crate) fn num_targets(&self) -> usize {
        self.num_targets
    }

    /// Whether the features are written as PNG files ([`ImageOut::Png`]).
    pub(crate) fn is_png(&self) -> bool {
        self.png.is_some()
    }

    /// Check the batch's shapes against the spec.
    pub(crate) fn check(&self, batch: &Batch) -> Result<()> {
        batch.validate()?;
        let u8_spec = self.spec.pixels == Pixels::U8;
        if batch.pixels.is_some() != u8_spec {
            let kind = |u8_pixels: bool| if u8_pixels { "uint8 pixels" } else { "float32 features" };
            return Err(Error::shape(
                format!("features of the batch of step {}", batch.step),
                format!("{} (the data spec)", kind(u8_spec)),
                kind(batch.pixels.is_some()),
            ));
        }
        if batch.num_features() != self.num_features {
            return Err(Error::shape(
                format!("features of the batch of step {}", batch.step),
                format!("{} columns (the data spec)", self.num_features),
                format!("{} columns", batch.num_features()),
            ));
        }
        if self.num_targets > 0 {
            let Some(t) = &batch.targets else {
                return Err(Error::shape(
                    format!("targets of the batch of step {}", batch.step),
                    format!("{} values per row", self.num_targets),
                    "no targets",
                ));
            };
            if t.ncols() != self.num_targets {
                return Err(Error::shape(
                    format!("targets of the batch of step {}", batch.step),
                    format!("{} values per row (the data spec)", self.num_targets),
                    format!("{} values per row", t.ncols()),
                ));
            }
        } else if let Some(t) = &batch.targets {
            if t.ncols() != 0 {
                return Err(Error::shape(
                    format!("targets of the batch of step {}", batch.step),
                    "no targets (the data spec has none)",
                    format!("{} values per row", t.ncols()),
                ));
            }
        }
        Ok(())
    }

    /// The features of `batch` column-major (column `j` at `[j * n, (j + 1) * n)`) in the
    /// allocation of `scratch`.
    fn transposed(&self, batch: &Batch, mut scratch: Vec<f32>) -> Buffer {
        let (n, f) = (batch.rows(), self.num_features);
        let src = row_major(&batch.features);
        if scratch.len() != n * f {
            // Every element is overwritten below; a reclaimed buffer of the same size is reused as is.
            scratch.clear();
            scratch.resize(n * f, 0.0);
        }
        transpose(&src, n, f, &mut scratch);
        Buffer::from_vec(scratch)
    }

    /// The record batch from the feature and target value buffers of `batch`.
    /// `n` is the batch's row count (its feature array may have been taken already).
    fn assemble(&self, batch: &Batch, n: usize, features: Features, targets: Option<Vec<f32>>) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        match features {
            Features::Columns(buffer) => {
                for j in 0..self.num_features {
                    let values = ScalarBuffer::<f32>::new(buffer.clone(), j * n, n);
                    columns.push(Arc::new(Float32Array::new(values, None)));
                }
            }
            Features::List(values) => match self.png {
                Some(shape) => columns.push(image_column(&values, n, shape)?),
                None => columns.push(self.list_column(0, values, self.num_features)?),
            },
            Features::Pixels(values) => match self.png {
                Some(shape) => columns.push(image_column(&values, n, shape)?),
                None => columns.push(self.pixel_column(values)?),
            },
        }
        if let Some(t) = targets {
            let idx = columns.len();
            columns.push(self.list_column(idx, t, self.num_targets)?);
        }
        if self.provenance {
            let p = &batch.provenance;
            columns.push(Arc::new(UInt64Array::from(vec![batch.step; n])));
            columns.push(Arc::new(StringArray::from_iter_values(p.origin.iter().map(|o| o.as_str()))));
            columns.push(Arc::new(UInt64Array::from(p.row_a.clone())));
            columns.push(Arc::new(UInt64Array::from(p.row_b.clone())));
            columns.push(Arc::new(Float32Array::from(p.lambda.clone())));
        }
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|source| {
            ErrorKind::Arrow { context: format!("building the output batch of step {}", batch.step), source }.into()
        })
    }

    /// The `FixedSizeList<UInt8>[F]` feature column over row-major pixels (taken as they are).
    fn pixel_column(&self, values: Vec<u8>) -> Result<ArrayRef> {
        let field: FieldRef = match self.schema.field(0).data_type() {
            DataType::FixedSizeList(child, _) => child.clone(),
            other => return Err(Error::shape("output schema", "a fixed-size list column", format!("{other}"))),
        };
        let values = Arc::new(UInt8Array::new(ScalarBuffer::from(values), None));
        let arr =
            FixedSizeListArray::try_new(field, self.num_features as i32, values, None).map_err(|source| -> Error {
                ErrorKind::Arrow { context: format!("building column '{}'", self.schema.field(0).name()), source }
                    .into()
            })?;
        Ok(Arc::new(arr))
    }

    /// A `FixedSizeList<Float32>[width]` column over a row-major buffer (taken as it is).
    fn list_column(&self, field_idx: usize, values: Vec<f32>, width: usize) -> Result<ArrayRef> {
        let field: FieldRef = match self.schema.field(field_idx).data_type() {
            DataType::FixedSizeList(child, _) => child.clone(),
            other => return Err(Error::shape("output schema", "a fixed-size list column", format!("{other}"))),
        };
        let values = Arc::new(Float32Array::new(ScalarBuffer::from(values), None));
        let arr = FixedSizeListArray::try_new(field, width as i32, values, None).map_err(|source| -> Error {
            ErrorKind::Arrow { context: format!("building column '{}'", self.schema.field(field_idx).name()), source }
                .into()
        })?;
        Ok(Arc::new(arr))
    }
}

/// The feature values of one output batch.
enum Features {
    /// Column-major, one allocation (column layout).
    Columns(Buffer),
    /// Row-major (list layout).
    List(Vec<f32>),
    /// Row-major `uint8` pixels (list layout).
    Pixels(Vec<u8>),
}

/// Write the row-major `n × f` matrix `src` column-major into `dst` (`dst[j * n + i] =
/// src[i * f + j]`), in 8 × 8 blocks (AVX2 shuffles where the CPU has them).
fn transpose(src: &[f32], n: usize, f: usize, dst: &mut [f32]) {
    transpose_strided(src, n, f, dst, n);
}

/// [`transpose`] with column `j` at `dst[j * stride ..][..n]` (`stride >= n`; the elements
/// between columns are left as they are).
pub(crate) fn transpose_strided(src: &[f32], n: usize, f: usize, dst: &mut [f32], stride: usize) {
    assert!(
        stride >= n && src.len() >= n * f && (f == 0 || dst.len() >= stride * (f - 1) + n),
        "transpose: buffers shorter than {n} x {f} (column stride {stride})"
    );
    const B: usize = 8;
    let (nb, fb) = (n / B * B, f / B * B);
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    for i0 in (0..nb).step_by(B) {
        for j0 in (0..fb).step_by(B) {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: AVX2 is present; rows i0..i0+8 and columns j0..j0+8 lie inside the
                // n × f matrix, so every load (src[(i0 + r) * f + j0 ..][..8]) and store
                // (dst[(j0 + c) * stride + i0 ..][..8]) is in bounds (checked by the assert above).
                unsafe {
                    block8_avx2(src.as_ptr().add(i0 * f + j0), f, dst.as_mut_ptr().add(j0 * stride + i0), stride)
                };
                continue;
            }
            let mut t = [[0f32; B]; B];
            for (r, row) in src[i0 * f..].chunks(f).take(B).enumerate() {
                for (c, &v) in row[j0..j0 + B].iter().enumerate() {
                    t[c][r] = v;
                }
            }
            for (c, col) in t.iter().enumerate() {
                dst[(j0 + c) * stride + i0..][..B].copy_from_slice(col);
            }
        }
        for j in fb..f {
            for r in 0..B {
                dst[j * stride + i0 + r] = src[(i0 + r) * f + j];
            }
        }
    }
    for i in nb..n {
        for j in 0..f {
            dst[j * stride + i] = src[i * f + j];
        }
    }
}

/// Transpose one 8 × 8 block: rows `src + r * src_stride`, columns to `dst + c * dst_stride`.
///
/// # Safety
/// AVX2 must be available; the 8 rows of 8 floats at `src` and the 8 columns of 8 floats at
/// `dst` must be valid for reads and writes respectively.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block8_avx2(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    use std::arch::x86_64::*;
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|k| _mm256_loadu_ps(src.add(k * src_stride)));
        let cols = crate::source::decode::transpose::transpose8x8(r);
        for (c, col) in cols.into_iter().enumerate() {
            _mm256_storeu_ps(dst.add(c * dst_stride), col);
        }
    }
}

/// The row-major contents of `a`, borrowed when it is already in standard layout.
pub(crate) fn row_major<T: Copy>(a: &ndarray::Array2<T>) -> Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

/// The row-major contents of `a`: its own allocation when it is in standard layout and
/// fills it exactly (the pipeline's batches do), a copy otherwise.
fn into_row_major<T: Copy>(a: ndarray::Array2<T>) -> Vec<T> {
    let len = a.len();
    if !a.is_standard_layout() {
        return a.iter().copied().collect();
    }
    let (mut v, offset) = a.into_raw_vec_and_offset();
    let start = offset.unwrap_or(0);
    if start == 0 && v.len() == len {
        return v;
    }
    if start > 0 {
        v.drain(..start.min(v.len()));
    }
    v.truncate(len);
    v
}

/// `FixedSizeList<Float32>[len]` with a non-nullable `item` child.
fn float_list(len: usize) -> Result<DataType> {
    list_of(DataType::Float32, len)
}

/// `FixedSizeList<element>[len]` with a non-nullable `item` child.
fn list_of(element: DataType, len: usize) -> Result<DataType> {
    let size = i32::try_from(len)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| Error::config("features", format!("list length {len} is not in 1..2^31")))?;
    Ok(DataType::FixedSizeList(Arc::new(Field::new("item", element, false)), size))
}

/// A stable description of a data type for [`schema_hash`].
fn describe_type(t: &DataType) -> String {
    match t {
        DataType::Float32 => "float32".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Utf8 => "utf8".into(),
        DataType::Binary => "binary".into(),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!(
                    "{}:{}{}",
                    f.name(),
                    describe_type(f.data_type()),
                    if f.is_nullable() { "?" } else { "" }
                ))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::FixedSizeList(child, n) => format!(
            "fixed_size_list<{}{}>[{n}]",
            describe_type(child.data_type()),
            if child.is_nullable() { "?" } else { "" }
        ),
        other => format!("other:{other}"),
    }
}

/// The stable hash of a field list: FNV-1a 64 (16 lower-case hex digits) over one line per
/// field, `name:type` plus `?` when nullable, e.g. `pixels:fixed_size_list<float32>[784]`.
///
/// # Example
/// ```
/// use arrow_schema::{DataType, Field, Fields};
/// let a = shardmix::format::schema_hash(&Fields::from(vec![Field::new("x", DataType::Float32, false)]));
/// let b = shardmix::format::schema_hash(&Fields::from(vec![Field::new("y", DataType::Float32, false)]));
/// assert_eq!(a.len(), 16);
/// assert_ne!(a, b);
/// ```
pub fn schema_hash(fields: &Fields) -> String {
    let mut desc = String::new();
    for f in fields.iter() {
        desc.push_str(f.name());
        desc.push(':');
        desc.push_str(&describe_type(f.data_type()));
        if f.is_nullable() {
            desc.push('?');
        }
        desc.push('\n');
    }
    format!("{:016x}", fnv1a64(desc.as_bytes()))
}

/// The spec as JSON, as stored under `shardmix.spec`.
pub(crate) fn spec_json(spec: &DataSpec) -> serde_json::Value {
    use serde_json::json;
    let features = match &spec.features {
        FeatureLayout::Columns(c) => json!({ "layout": "columns", "columns": c }),
        FeatureLayout::List { column, len } => {
            json!({ "layout": "list", "column": column, "len": len })
        }
    };
    let target = match &spec.target {
        TargetKind::None => json!({ "kind": "none" }),
        TargetKind::Class { column, num_classes } => {
            json!({ "kind": "class", "column": column, "num_classes": num_classes })
        }
        TargetKind::Regression { column } => json!({ "kind": "regression", "column": column }),
        TargetKind::Soft { column, width } => {
            json!({ "kind": "soft", "column": column, "width": width })
        }
    };
    let mut out = json!({
        "features": features,
        "target": target,
        "num_targets": spec.num_targets(),
        "feature_shape": spec.feature_shape,
    });
    // Only `uint8` is written, so that float outputs keep their metadata as before.
    if spec.pixels == Pixels::U8 {
        out["pixels"] = json!(spec.pixels.as_str());
    }
    out
}

/// Feed the CRC with the value bytes (little-endian `f32`, or `u8` pixels; for a PNG `Image`
/// column the bytes of its rows' files, in row order) of every feature and target column
/// of `rb` (all columns but the provenance ones), in schema order. This is the checksum the
/// IPC trailer carries; Python computes it with `zlib.crc32` over the same buffers.
pub(crate) fn update_value_crc(crc: &mut Crc32, rb: &RecordBatch) {
    for (field, col) in rb.schema().fields().iter().zip(rb.columns()) {
        if PROVENANCE_COLUMNS.contains(&field.name().as_str()) {
            continue;
        }
        feed_floats(crc, col.as_ref());
    }
}

fn feed_floats(crc: &mut Crc32, arr: &dyn Array) {
    if let Some(a) = arr.as_any().downcast_ref::<Float32Array>() {
        crc.update(f32_bytes(a.values()));
    } else if let Some(a) = arr.as_any().downcast_ref::<UInt8Array>() {
        crc.update(a.values());
    } else if let Some(s) = arr.as_any().downcast_ref::<arrow_array::StructArray>() {
        // An `Image` column: the bytes of its rows' files, in row order.
        if let Some(b) = s.column(0).as_any().downcast_ref::<arrow_array::BinaryArray>() {
            let offsets = b.value_offsets();
            let (from, to) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
            crc.update(&b.value_data()[from..to]);
        }
    } else if let Some(l) = arr.as_any().downcast_ref::<FixedSizeListArray>() {
        let w = l.value_length() as usize;
        let child = l.values().slice(l.offset() * w, l.len() * w);
        feed_floats(crc, child.as_ref());
    }
}

/// The little-endian bytes of `f32` values (this crate only targets little-endian machines'
/// Arrow buffers, which are little-endian on the wire as well).
pub(crate) fn f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8; alignment of u8 is 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Origin, Provenance};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, UInt64Type};
    use ndarray::array;

    fn spec(features: FeatureLayout, target: TargetKind) -> DataSpec {
        DataSpec { features, target, feature_shape: None, pixels: Default::default() }
    }

    #[test]
    fn columns_layout_is_transposed_exactly() {
        let s = spec(FeatureLayout::Columns(vec!["a".into(), "b".into(), "c".into()]), TargetKind::None);
        let out = OutputSchema::new(&s, false).unwrap();
        let b = Batch::new(0, array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]], None, vec![0, 1]).unwrap();
        let rb = out.to_record_batch(&b).unwrap();
        assert_eq!(rb.num_columns(), 3);
        assert_eq!(rb.column(1).as_primitive::<Float32Type>().values(), &[2.0, 5.0]);
        assert_eq!(rb.column(2).as_primitive::<Float32Type>().values(), &[3.0, 6.0]);
    }

    #[test]
    fn transpose_matches_the_definition_for_every_small_shape() {
        for n in 0..20 {
            for f in 1..20 {
                let src: Vec<f32> = (0..n * f).map(|v| v as f32).collect();
                let mut dst = vec![-1.0f32; n * f];
                transpose(&src, n, f, &mut dst);
                for i in 0..n {
                    for j in 0..f {
                        assert_eq!(dst[j * n + i], src[i * f + j], "n {n} f {f} at ({i}, {j})");
                    }
                }
            }
        }
    }

    #[test]
    fn strided_transpose_writes_only_the_columns() {
        for (n, f, stride) in [(0, 3, 0), (0, 3, 16), (5, 3, 16), (8, 8, 8), (13, 11, 16), (17, 9, 32)] {
            let src: Vec<f32> = (0..n * f).map(|v| v as f32).collect();
            let mut dst = vec![-1.0f32; stride * f];
            transpose_strided(&src, n, f, &mut dst, stride);
            for j in 0..f {
                for i in 0..stride {
                    let want = if i < n { src[i * f + j] } else { -1.0 };
                    assert_eq!(dst[j * stride + i], want, "n {n} f {f} stride {stride} at ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn owned_conversion_equals_the_borrowing_one_and_reuses_its_scratch() {
        let s = spec(
            FeatureLayout::Columns((0..11).map(|j| format!("f{j}")).collect()),
            TargetKind::Class { column: "l".into(), num_classes: 3 },
        );
        let out = OutputSchema::new(&s, true).unwrap();
        let mut scratch = Vec::new();
        for rows in [13usize, 13, 5, 0, 16] {
            let x = ndarray::Array2::from_shape_fn((rows, 11), |(i, j)| (i * 100 + j) as f32);
            let y = ndarray::Array2::from_shape_fn((rows, 3), |(i, j)| ((i + j) % 3) as f32);
            let b = Batch::new(4, x, Some(y), (0..rows as u64).collect()).unwrap();
            let want = out.to_record_batch(&b).unwrap();
            let (got, reclaim) = out.to_record_batch_owned(b, std::mem::take(&mut scratch)).unwrap();
            assert_eq!(got, want, "{rows} rows");
            drop(got);
            scratch = reclaim.unwrap().into_vec::<f32>().expect("the scratch is ours again");
            assert_eq!(scratch.len(), rows * 11);
        }
        let l = spec(FeatureLayout::List { column: "x".into(), len: 2 }, TargetKind::None);
        let out = OutputSchema::new(&l, false).unwrap();
        let b = Batch::new(0, array![[1.0f32, 2.0], [3.0, 4.0]], None, vec![0, 1]).unwrap();
        let (got, reclaim) = out.to_record_batch_owned(b.clone(), Vec::new()).unwrap();
        assert!(reclaim.is_none());
        assert_eq!(got, out.to_record_batch(&b).unwrap());
    }

    #[test]
    fn provenance_and_targets() {
        let s =
            spec(FeatureLayout::List { column: "x".into(), len: 2 }, TargetKind::Soft { column: "y".into(), width: 2 });
        let out = OutputSchema::new(&s, true).unwrap();
        let mut b =
            Batch::new(9, array![[1.0f32, 2.0], [3.0, 4.0]], Some(array![[0.25f32, 0.75], [1.0, 0.0]]), vec![10, 11])
                .unwrap();
        b.provenance = Provenance {
            origin: vec![Origin::Real, Origin::Gan],
            row_a: vec![10, 11],
            row_b: vec![Some(11), None],
            lambda: vec![Some(0.5), None],
        };
        let rb = out.to_record_batch(&b).unwrap();
        let t = rb.column(1).as_fixed_size_list();
        assert_eq!(t.values().as_primitive::<Float32Type>().values(), &[0.25, 0.75, 1.0, 0.0]);
        assert_eq!(rb.column(2).as_primitive::<UInt64Type>().values(), &[9, 9]);
        assert_eq!(rb.column(3).as_string::<i32>().value(1), "gan");
        let rowb = rb.column(5).as_primitive::<UInt64Type>();
        assert!(rowb.is_valid(0) && rowb.is_null(1));
        assert_eq!(rowb.value(0), 11);
        let meta = out.schema().metadata();
        assert_eq!(meta.get(META_SCHEMA_HASH).unwrap(), out.hash());
        let spec_meta: serde_json::Value = serde_json::from_str(meta.get(META_SPEC).unwrap()).unwrap();
        assert_eq!(spec_meta["features"]["len"], 2);
    }

    #[test]
    fn rejects_bad_shapes_and_names() {
        let s = spec(
            FeatureLayout::Columns(vec!["a".into(), "b".into()]),
            TargetKind::Class { column: "l".into(), num_classes: 3 },
        );
        let out = OutputSchema::new(&s, false).unwrap();
        let b = Batch::new(0, array![[1.0f32]], Some(array![[1.0f32, 0.0, 0.0]]), vec![0]).unwrap();
        assert!(matches!(out.to_record_batch(&b).unwrap_err().kind(), ErrorKind::Shape { .. }));
        let b = Batch::new(0, array![[1.0f32, 2.0]], None, vec![0]).unwrap();
        assert!(out.to_record_batch(&b).unwrap_err().to_string().contains("no targets"));
        let bad = spec(FeatureLayout::Columns(vec!["a".into(), "step".into()]), TargetKind::None);
        let err = OutputSchema::new(&bad, true).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "features"), "{err:?}");
        let dup = spec(FeatureLayout::Columns(vec!["a".into(), "a".into()]), TargetKind::None);
        let err = OutputSchema::new(&dup, false).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "features"), "{err:?}");
    }

    #[test]
    fn hash_changes_with_fields_and_is_stable() {
        let s = spec(FeatureLayout::List { column: "x".into(), len: 4 }, TargetKind::None);
        let a = OutputSchema::new(&s, false).unwrap();
        let b = OutputSchema::new(&s, true).unwrap();
        assert_ne!(a.hash(), b.hash());
        // Pinned: a change here breaks readers that compare hashes across versions.
        let want = format!("{:016x}", fnv1a64(b"x:fixed_size_list<float32>[4]\n"));
        assert_eq!(a.hash(), want);
    }

    #[test]
    fn non_standard_layout_is_accepted() {
        let s = spec(FeatureLayout::Columns(vec!["a".into(), "b".into()]), TargetKind::None);
        let out = OutputSchema::new(&s, false).unwrap();
        let f = array![[1.0f32, 3.0], [2.0, 4.0]].reversed_axes();
        let b = Batch::new(0, f, None, vec![0, 1]).unwrap();
        let rb = out.to_record_batch(&b).unwrap();
        assert_eq!(rb.column(0).as_primitive::<Float32Type>().values(), &[1.0, 3.0]);
    }
}
