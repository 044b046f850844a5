//! Column selection: which columns are features and which is the target, resolved against a
//! shard's Arrow schema, and the numeric types shardmix turns into `f32`.

use std::path::Path;

use arrow_schema::{DataType, Field, Schema};

use crate::error::{Error, ErrorKind, Result};
use crate::spec::{DataSpec, FeatureLayout, TargetKind};

/// Which columns hold the features.
///
/// # Example
/// ```
/// use shardmix::Features;
/// let by_prefix = Features::prefix("p");
/// let by_glob = Features::glob("f*");
/// let explicit = Features::columns(&["height", "weight"]);
/// let tensor = Features::list("pixels");
/// let images = Features::image("image");
/// let default = Features::auto();
/// # let _ = (by_prefix, by_glob, explicit, tensor, images, default);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Features {
    /// Every numeric scalar column except the target (the default).
    Auto,
    /// These numeric columns, in this order.
    Columns(Vec<String>),
    /// Every numeric column whose name matches the pattern (`*` and `?` wildcards), in schema order.
    Glob(String),
    /// One list column of numbers; every row must have the same length.
    List(String),
    /// One column of encoded PNG or JPEG images — the Hugging Face layout (a struct
    /// `{bytes: binary, path: string}`) or a plain binary column — decoded to `H × W × C`
    /// floats in [0, 1], channels last; every image must have the first image's shape.
    Image(String),
}

impl Features {
    /// Every numeric scalar column except the target.
    pub fn auto() -> Self {
        Features::Auto
    }
    /// These columns, in this order.
    pub fn columns<S: AsRef<str>>(names: &[S]) -> Self {
        Features::Columns(names.iter().map(|s| s.as_ref().to_string()).collect())
    }
    /// Every numeric column whose name starts with `prefix`.
    pub fn prefix(prefix: &str) -> Self {
        Features::Glob(format!("{}*", escape_glob(prefix)))
    }
    /// Every numeric column whose name matches `pattern` (`*`, `?`).
    pub fn glob(pattern: &str) -> Self {
        Features::Glob(pattern.to_string())
    }
    /// One list (or fixed-size list) column of numbers.
    pub fn list(column: &str) -> Self {
        Features::List(column.to_string())
    }

    /// One column of encoded PNG or JPEG images (see [`Features::Image`]).
    pub fn image(column: &str) -> Self {
        Features::Image(column.to_string())
    }

    /// Parse the CLI's `--features` value: `a,b,c`, a `prefix*` glob, or one list column.
    pub fn parse(spec: &str) -> Self {
        let spec = spec.trim();
        if spec.is_empty() || spec == "auto" {
            Features::Auto
        } else if spec.contains(',') {
            Features::Columns(spec.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        } else if spec.contains(['*', '?']) {
            Features::Glob(spec.to_string())
        } else {
            // One name: a list, image or single scalar column, decided against the schema.
            Features::Columns(vec![spec.to_string()])
        }
    }
}

/// What the target of each row is.
///
/// # Example
/// ```
/// use shardmix::Target;
/// let ten_classes = Target::class("label", 10);
/// let derived = Target::class_auto("label");
/// # let _ = (ten_classes, derived, Target::regression("y"), Target::soft("probs"), Target::none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// No target.
    None,
    /// An integer class column, one-hot over `num_classes` (`None`: derived as max label + 1).
    Class {
        /// The column.
        column: String,
        /// The class count, or `None` to derive it from the data.
        num_classes: Option<usize>,
    },
    /// A numeric column as a regression target.
    Regression(String),
    /// A list column of floats (soft labels), all rows the same length.
    Soft(String),
    /// Decided by the column's type: integer → class (derived count), float → regression,
    /// list → soft labels.
    Auto(String),
}

impl Target {
    /// No target.
    pub fn none() -> Self {
        Target::None
    }
    /// An integer class column with `num_classes` classes.
    pub fn class(column: &str, num_classes: usize) -> Self {
        Target::Class { column: column.into(), num_classes: Some(num_classes) }
    }
    /// An integer class column, the class count derived from the data (max label + 1).
    pub fn class_auto(column: &str) -> Self {
        Target::Class { column: column.into(), num_classes: None }
    }
    /// A numeric regression column.
    pub fn regression(column: &str) -> Self {
        Target::Regression(column.into())
    }
    /// A list column of soft labels.
    pub fn soft(column: &str) -> Self {
        Target::Soft(column.into())
    }
    /// Decided by the column's type (integer → class, float → regression, list → soft).
    pub fn auto(column: &str) -> Self {
        Target::Auto(column.into())
    }

    pub(crate) fn column(&self) -> Option<&str> {
        match self {
            Target::None => None,
            Target::Class { column, .. } | Target::Regression(column) | Target::Soft(column) | Target::Auto(column) => {
                Some(column)
            }
        }
    }
}

fn escape_glob(s: &str) -> String {
    s.replace('[', "[[]").replace('*', "[*]").replace('?', "[?]")
}

/// Scalar numeric types that become `f32`.
pub(crate) fn is_numeric(dt: &DataType) -> bool {
    use DataType::*;
    matches!(
        dt,
        Int8 | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Decimal32(..)
            | Decimal64(..)
            | Decimal128(..)
    )
}

pub(crate) fn is_integer(dt: &DataType) -> bool {
    use DataType::*;
    matches!(dt, Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64)
}

/// The element type of a list column, if `dt` is a list of numbers, and its fixed length.
pub(crate) fn list_element(dt: &DataType) -> Option<(&DataType, Option<usize>)> {
    match dt {
        DataType::FixedSizeList(f, n) if is_numeric(f.data_type()) => Some((f.data_type(), usize::try_from(*n).ok())),
        DataType::List(f) | DataType::LargeList(f) if is_numeric(f.data_type()) => Some((f.data_type(), None)),
        _ => None,
    }
}

/// The resolved columns: one column model, the [`DataSpec`] they give (its column names are
/// the columns read), and how an image feature column holds its images.
///
/// While the selection is being resolved, a list feature column or soft-label column whose
/// length the schema does not fix has length 0 in the spec, and an image column no shape: the
/// shard set fills them in from the first row.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    /// The data spec; an image feature column is a list of `H·W·C` values.
    pub spec: DataSpec,
    /// Set when the feature column holds encoded images.
    pub image: Option<ImageSource>,
}

impl ColumnPlan {
    /// The feature column of images and how it holds them, when the features are images.
    pub fn image_column(&self) -> Option<(&str, ImageSource)> {
        match (&self.spec.features, self.image) {
            (FeatureLayout::List { column, .. }, Some(image)) => Some((column, image)),
            _ => None,
        }
    }
}

/// An image feature column: how it holds the encoded bytes, and the `[H, W, C]` shape of its
/// images, probed from the first image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageSource {
    /// The column's layout.
    pub kind: ImageKind,
    /// `[H, W, C]`, once probed.
    pub shape: Option<[usize; 3]>,
}

/// How an image column holds its encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    /// Hugging Face's `Image` layout: a struct whose field `bytes` is binary (found by name
    /// in each shard, so the fields may come in any order).
    Struct,
    /// A plain binary column.
    Binary,
}

fn is_binary(dt: &DataType) -> bool {
    matches!(dt, DataType::Binary | DataType::LargeBinary | DataType::BinaryView)
}

/// Whether a column can hold encoded images, and how.
pub(crate) fn image_kind(dt: &DataType) -> Option<ImageKind> {
    match dt {
        DataType::Struct(fields) => {
            fields.iter().any(|f| f.name() == "bytes" && is_binary(f.data_type())).then_some(ImageKind::Struct)
        }
        dt if is_binary(dt) => Some(ImageKind::Binary),
        _ => None,
    }
}

fn find<'a>(schema: &'a Schema, path: &Path, name: &str) -> Result<(usize, &'a Field)> {
    schema.column_with_name(name).ok_or_else(|| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).take(12).collect();
        ErrorKind::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            hint: format!(" (columns: {}{})", names.join(", "), if schema.fields().len() > 12 { ", ..." } else { "" }),
        }
        .into()
    })
}

fn type_error(path: &Path, field: &Field, role: &str) -> Error {
    ErrorKind::ColumnType {
        path: path.to_path_buf(),
        column: field.name().clone(),
        found: field.data_type().to_string(),
        role: role.to_string(),
    }
    .into()
}

/// Resolve the selection against the first shard's schema. `derived_classes` fills in a
/// class count that the caller computed from the data.
pub(crate) fn resolve(
    schema: &Schema,
    path: &Path,
    features: &Features,
    target: &Target,
    derived_classes: Option<usize>,
) -> Result<ColumnPlan> {
    let target_col = target.column();

    // Target first: Features::Auto excludes it.
    let target_kind = match target {
        Target::None => TargetKind::None,
        _ => {
            let column = target_col.unwrap_or_default();
            let (_, field) = find(schema, path, column)?;
            let dt = field.data_type();
            let as_class = match target {
                Target::Class { .. } => true,
                Target::Auto(_) => is_integer(dt),
                _ => false,
            };
            if as_class {
                if !is_integer(dt) {
                    return Err(type_error(path, field, "a class label (an integer column is needed)"));
                }
                let num_classes = match target {
                    Target::Class { num_classes: Some(n), .. } => *n,
                    _ => derived_classes.unwrap_or(0),
                };
                if num_classes == 0 && derived_classes.is_some() {
                    return Err(Error::config("num_classes", "must be at least 1"));
                }
                TargetKind::Class { column: column.into(), num_classes }
            } else if matches!(target, Target::Soft(_))
                || (matches!(target, Target::Auto(_)) && list_element(dt).is_some())
            {
                let Some((_, len)) = list_element(dt) else {
                    return Err(type_error(path, field, "soft labels (a list of numbers is needed)"));
                };
                TargetKind::Soft { column: column.into(), width: len.unwrap_or(0) }
            } else {
                if !is_numeric(dt) {
                    return Err(type_error(path, field, "a regression target (a numeric column is needed)"));
                }
                TargetKind::Regression { column: column.into() }
            }
        }
    };

    let (layout, image) = match features {
        Features::Auto => {
            // shardmix's own output carries provenance columns that are not features.
            let ours = schema.metadata().contains_key(crate::sink::META_VERSION);
            let provenance = |name: &str| ours && crate::sink::PROVENANCE_COLUMNS.contains(&name);
            let mut names = Vec::new();
            for f in schema.fields().iter() {
                if Some(f.name().as_str()) != target_col && is_numeric(f.data_type()) && !provenance(f.name()) {
                    names.push(f.name().clone());
                }
            }
            if names.is_empty() {
                // No numeric column: a lone image column is the features.
                let images: Vec<&Field> = schema
                    .fields()
                    .iter()
                    .filter(|f| Some(f.name().as_str()) != target_col && image_kind(f.data_type()).is_some())
                    .map(|f| f.as_ref())
                    .collect();
                if let [image] = images.as_slice() {
                    return resolve(schema, path, &Features::Image(image.name().clone()), target, derived_classes);
                }
                let non_target = schema.fields().iter().find(|f| Some(f.name().as_str()) != target_col);
                return Err(match non_target {
                    Some(f) => type_error(path, f, "features (no numeric feature column found)"),
                    None => ErrorKind::Empty { what: format!("{}: the feature selection", path.display()) }.into(),
                });
            }
            (FeatureLayout::Columns(names), None)
        }
        Features::Glob(pattern) => {
            let pat = glob::Pattern::new(pattern)
                .map_err(|e| Error::config("features", format!("bad pattern '{pattern}': {e}")))?;
            let mut names = Vec::new();
            for f in schema.fields().iter() {
                if pat.matches(f.name()) && Some(f.name().as_str()) != target_col {
                    if !is_numeric(f.data_type()) {
                        return Err(type_error(path, f, "a feature"));
                    }
                    names.push(f.name().clone());
                }
            }
            if names.is_empty() {
                return Err(ErrorKind::MissingColumn {
                    path: path.to_path_buf(),
                    column: pattern.clone(),
                    hint: " (no column matches the pattern)".into(),
                }
                .into());
            }
            (FeatureLayout::Columns(names), None)
        }
        Features::Columns(cols)
            if cols.len() == 1
                && find(schema, path, &cols[0]).is_ok_and(|(_, f)| list_element(f.data_type()).is_some()) =>
        {
            return resolve(schema, path, &Features::List(cols[0].clone()), target, derived_classes);
        }
        Features::Columns(cols)
            if cols.len() == 1
                && find(schema, path, &cols[0]).is_ok_and(|(_, f)| image_kind(f.data_type()).is_some()) =>
        {
            return resolve(schema, path, &Features::Image(cols[0].clone()), target, derived_classes);
        }
        Features::Columns(cols) => {
            if cols.is_empty() {
                return Err(Error::config("features", "the column list is empty"));
            }
            for (k, c) in cols.iter().enumerate() {
                if cols[..k].contains(c) {
                    return Err(Error::config("features", format!("column '{c}' is listed twice")));
                }
                let (_, f) = find(schema, path, c)?;
                if !is_numeric(f.data_type()) {
                    return Err(type_error(path, f, "a feature"));
                }
            }
            (FeatureLayout::Columns(cols.clone()), None)
        }
        Features::List(col) => {
            let (_, f) = find(schema, path, col)?;
            let Some((_, len)) = list_element(f.data_type()) else {
                return Err(type_error(path, f, "a list feature (a list of numbers is needed)"));
            };
            (FeatureLayout::List { column: col.clone(), len: len.unwrap_or(0) }, None)
        }
        Features::Image(col) => {
            let (_, f) = find(schema, path, col)?;
            let Some(kind) = image_kind(f.data_type()) else {
                return Err(type_error(
                    path,
                    f,
                    "an image column (a struct {bytes: binary, path: string} or a binary column is needed)",
                ));
            };
            if Some(col.as_str()) == target_col {
                return Err(Error::config("features", format!("column '{col}' is both a feature and the target")));
            }
            // The shape is the first image's, probed by the shard set (`image::resolve_shape`).
            (FeatureLayout::List { column: col.clone(), len: 0 }, Some(ImageSource { kind, shape: None }))
        }
    };
    if let Some(t) = target_col {
        if let FeatureLayout::Columns(c) = &layout {
            if c.iter().any(|n| n == t) {
                return Err(Error::config("features", format!("column '{t}' is both a feature and the target")));
            }
        }
    }
    let spec = DataSpec { features: layout, target: target_kind, feature_shape: None, pixels: Default::default() };
    Ok(ColumnPlan { spec, image })
}

/// Check that another shard has the selected columns with compatible types; returns the
/// projection roots in that shard's schema.
pub(crate) fn check_shard(
    schema: &Schema,
    path: &Path,
    first_schema: &Schema,
    first: &Path,
    plan: &ColumnPlan,
) -> Result<Vec<usize>> {
    let mut names: Vec<&str> = match &plan.spec.features {
        FeatureLayout::Columns(c) => c.iter().map(String::as_str).collect(),
        FeatureLayout::List { column, .. } => vec![column.as_str()],
    };
    if let Some(t) = plan.spec.target.column() {
        names.push(t);
    }
    let mut roots = Vec::with_capacity(names.len());
    for name in names {
        let (i, f) = find(schema, path, name)?;
        let (_, f0) = find(first_schema, first, name)?;
        let (a, b) = (f.data_type(), f0.data_type());
        let image = plan.image_column().is_some_and(|(column, _)| column == name);
        let compatible = a == b
            || (image && image_kind(a).is_some() && image_kind(b).is_some())
            || (is_integer(a) && is_integer(b))
            || (is_numeric(a) && is_numeric(b) && !is_integer(b))
            || matches!((list_element(a), list_element(b)), (Some((ea, la)), Some((eb, lb))) if is_numeric(ea) && is_numeric(eb) && (la.is_none() || lb.is_none() || la == lb));
        if !compatible {
            return Err(ErrorKind::SchemaMismatch {
                path: path.to_path_buf(),
                first: first.to_path_buf(),
                column: name.to_string(),
                detail: format!("type {a} where the first shard has {b}"),
            }
            .into());
        }
        roots.push(i);
    }
    roots.sort_unstable();
    roots.dedup();
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;
    use std::sync::Arc;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("f0", DataType::Float32, false),
            Field::new("f1", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("label", DataType::Int64, false),
            Field::new("px", DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), 4), false),
        ])
    }

    #[test]
    fn auto_takes_numeric_scalars_except_target() {
        let plan = resolve(&schema(), Path::new("a"), &Features::Auto, &Target::class("label", 3), None).unwrap();
        let spec = &plan.spec;
        assert_eq!(spec.features, FeatureLayout::Columns(vec!["f0".into(), "f1".into()]));
        assert_eq!(spec.num_targets(), 3);
        assert!(matches!(plan.spec.target, TargetKind::Class { num_classes: 3, .. }));
    }

    #[test]
    fn prefix_and_list() {
        let spec = resolve(&schema(), Path::new("a"), &Features::prefix("f"), &Target::None, None).unwrap().spec;
        assert_eq!(spec.num_features(), 2);
        let spec = resolve(&schema(), Path::new("a"), &Features::parse("px"), &Target::None, None).unwrap().spec;
        assert_eq!(spec.features, FeatureLayout::List { column: "px".into(), len: 4 });
    }

    #[test]
    fn errors_name_the_column() {
        let e =
            resolve(&schema(), Path::new("a.parquet"), &Features::columns(&["nope"]), &Target::None, None).unwrap_err();
        assert!(e.to_string().contains("'nope'"), "{e}");
        let e =
            resolve(&schema(), Path::new("a.parquet"), &Features::columns(&["name"]), &Target::None, None).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::ColumnType { .. }), "{e}");
        let e = resolve(&schema(), Path::new("a.parquet"), &Features::Auto, &Target::class("f0", 2), None).unwrap_err();
        assert!(e.to_string().contains("class label"), "{e}");
    }
}
