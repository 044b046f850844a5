//! [`DataSpec`]: the shape of the data a pipeline carries — feature layout and target kind —
//! fixed when the source is opened, checked by every stage at build time, and used by the
//! sinks to write output in the input's layout.

/// The most classes a class target may have: 2²⁰ (1,048,576), the same cap as for a class
/// count derived from the data. A batch holds `batch_size × num_classes` `f32` targets, so a
/// careless `num_classes = 1e9` would ask for terabytes.
pub const MAX_CLASSES: usize = 1 << 20;

/// How the features are laid out in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureLayout {
    /// One scalar numeric column per feature, in this order.
    Columns(Vec<String>),
    /// One list column whose rows all hold `len` numbers.
    List {
        /// The list column.
        column: String,
        /// Values per row.
        len: usize,
    },
}

/// What the target of each row is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// No target.
    None,
    /// An integer class column, one-hot over `num_classes`.
    Class {
        /// The label column.
        column: String,
        /// Number of classes.
        num_classes: usize,
    },
    /// A numeric column used as a regression target (one value).
    Regression {
        /// The target column.
        column: String,
    },
    /// A list column of `width` floats per row (soft labels).
    Soft {
        /// The list column.
        column: String,
        /// Values per row.
        width: usize,
    },
}

impl TargetKind {
    /// The target column, if there is a target.
    pub fn column(&self) -> Option<&str> {
        match self {
            TargetKind::None => None,
            TargetKind::Class { column, .. } | TargetKind::Regression { column } | TargetKind::Soft { column, .. } => {
                Some(column)
            }
        }
    }
}

/// The element type of the features: `float32` (the default: every numeric column is widened
/// to `f32` on read, image pixels scaled to [0, 1] as torchvision's `ToTensor`) or `uint8`
/// (pixels kept as read, 0–255, in [`Batch::pixels`](crate::Batch::pixels): a quarter of the
/// memory and bandwidth of `f32` from the first stage on).
///
/// `uint8` needs the features to be an image column or a tensor column of `uint8`
/// ([`ShardSet::pixels`](crate::ShardSet::pixels) checks). Stages that compute in floats
/// (Mixup, CutMix, Normalize, Standardize, VAE / GAN injection) refuse it when the pipeline is
/// built; `RandomResizedCrop` and `HorizontalFlip` work on it.
///
/// # Example
/// ```
/// use shardmix::Pixels;
/// assert_eq!(Pixels::parse("uint8")?, Pixels::U8);
/// assert_eq!(Pixels::default().as_str(), "float32");
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pixels {
    /// `f32` features in [`Batch::features`](crate::Batch::features).
    #[default]
    F32,
    /// `u8` features in [`Batch::pixels`](crate::Batch::pixels).
    U8,
}

impl Pixels {
    /// Parse `float32` (or `f32`) or `uint8` (or `u8`).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `pixels` for anything else.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s.trim() {
            "float32" | "f32" => Ok(Pixels::F32),
            "uint8" | "u8" => Ok(Pixels::U8),
            other => Err(crate::Error::config("pixels", format!("'{other}' is not one of float32, uint8"))),
        }
    }

    /// `float32` or `uint8`, as the option is spelled.
    pub fn as_str(self) -> &'static str {
        match self {
            Pixels::F32 => "float32",
            Pixels::U8 => "uint8",
        }
    }

    /// Refuse `uint8` for a stage that computes in floats: the [`Stage::check`] of such stages
    /// calls this with its name.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `pixels` and the stage.
    ///
    /// [`Stage::check`]: crate::Stage::check
    pub fn require_float(self, stage: &str) -> crate::Result<()> {
        match self {
            Pixels::F32 => Ok(()),
            Pixels::U8 => Err(crate::Error::config(
                "pixels",
                format!(
                    "stage `{stage}` computes in floats and cannot take uint8 pixels; \
                     use pixels = \"float32\" (the default) for a pipeline with this stage"
                ),
            )),
        }
    }
}

/// The shape of the data flowing through a pipeline.
///
/// # Example
/// ```
/// use shardmix::{DataSpec, FeatureLayout, TargetKind};
/// let spec = DataSpec {
///     features: FeatureLayout::Columns(vec!["a".into(), "b".into()]),
///     target: TargetKind::Class { column: "label".into(), num_classes: 3 },
///     feature_shape: None,
///     pixels: shardmix::Pixels::F32,
/// };
/// assert_eq!(spec.num_features(), 2);
/// assert_eq!(spec.num_targets(), 3);
/// assert_eq!(spec.num_classes(), Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    /// Feature layout.
    pub features: FeatureLayout,
    /// Target kind.
    pub target: TargetKind,
    /// Declared tensor shape of the features (e.g. `[28, 28, 1]`, H × W × C), for CutMix.
    pub feature_shape: Option<Vec<usize>>,
    /// The features' element type ([`Pixels::U8`]: in [`Batch::pixels`](crate::Batch::pixels)).
    pub pixels: Pixels,
}

impl DataSpec {
    /// Number of feature values per row.
    pub fn num_features(&self) -> usize {
        match &self.features {
            FeatureLayout::Columns(c) => c.len(),
            FeatureLayout::List { len, .. } => *len,
        }
    }

    /// Number of target values per row (0 without a target).
    pub fn num_targets(&self) -> usize {
        match &self.target {
            TargetKind::None => 0,
            TargetKind::Class { num_classes, .. } => *num_classes,
            TargetKind::Regression { .. } => 1,
            TargetKind::Soft { width, .. } => *width,
        }
    }

    /// The class count when the target is a class column.
    pub fn num_classes(&self) -> Option<usize> {
        match &self.target {
            TargetKind::Class { num_classes, .. } => Some(*num_classes),
            _ => None,
        }
    }

    /// Names of the feature values: the column names, or `column[i]` for a list column.
    pub fn feature_names(&self) -> Vec<String> {
        match &self.features {
            FeatureLayout::Columns(c) => c.clone(),
            FeatureLayout::List { column, len } => (0..*len).map(|i| format!("{column}[{i}]")).collect(),
        }
    }
}
