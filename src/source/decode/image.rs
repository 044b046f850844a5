//! Encoded image columns: PNG or JPEG files stored in a Parquet column — Hugging Face's
//! `Image` layout (a struct `{bytes: binary, path: string}`) or a plain binary column.
//!
//! **Where images are decoded.** A block keeps the *encoded* bytes of its rows
//! ([`EncodedImages`]: one buffer and offsets; a 28 × 28 PNG is ~10× smaller than its 784
//! `f32`), so the block cache holds encoded images and its byte bound counts encoded bytes.
//! The rows of a batch are decoded when the batch is assembled ([`assemble`]), on the thread
//! that assembles it — so the pipeline's workers decode in parallel, each its own batches —
//! and within a batch in chunks of rows on the rayon pool. Decoding is a pure function of the
//! bytes, so batches stay bit-identical for any worker count; the first failing row of a batch
//! (in row order) is the one reported.
//!
//! Pixels become `f32` in [0, 1] as torchvision's `ToTensor` computes them (`v as f32 / 255`),
//! channels last (`H × W × C`). PNG: 8-bit gray, gray + alpha, RGB and RGBA as stored;
//! palette images and gray of 1, 2 or 4 bits are expanded to 8 bits (a palette to RGB, or RGBA
//! with a `tRNS` chunk, as Pillow's `convert("RGB")`/`convert("RGBA")`), 16-bit samples keep
//! their high byte. JPEG: gray (C = 1) and YCbCr (C = 3, RGB). Every image must have the shape
//! of the first one; its header is checked before its pixels are decoded, so a small file
//! claiming a huge image costs nothing.

use std::io::Cursor;
use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::error::{BadValue, Error, ErrorKind, Result};
use crate::source::decode::block::{handle_bad, Decoded, NullPolicy, Site};
use crate::source::decode::columns::{ColumnPlan, ImageKind, ImageSource};
use crate::source::decode::probe::probe_column;
use crate::source::decode::{DecodeContext, RowGroupRef};
use crate::source::footer::ShardInfo;
use crate::spec::FeatureLayout;

/// The most values (H × W × C) one image may have: 2²⁶ (e.g. 4096 × 4096 × 4).
pub const MAX_IMAGE_VALUES: usize = 1 << 26;

/// Rows decoded per rayon task when a batch is assembled.
const ROWS_PER_TASK: usize = 16;

/// An image feature column of a [`ShardSet`](crate::ShardSet), as
/// [`ShardSet::image`](crate::ShardSet::image) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageColumn {
    /// The column.
    pub column: String,
    /// `[H, W, C]` of every image (the first image's shape).
    pub shape: [usize; 3],
    /// `true` for Hugging Face's struct layout, `false` for a plain binary column.
    pub hf_layout: bool,
}

/// The encoded images of one block's rows.
#[derive(Debug, Default)]
pub(crate) struct EncodedImages {
    /// Every row's file, back to back.
    data: Vec<u8>,
    /// Row `i` is `data[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    /// `Some` when a row is null (its bytes are empty); filled under the fill policy.
    nulls: Option<Vec<bool>>,
}

impl EncodedImages {
    /// Room for `rows` rows.
    pub fn new(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        EncodedImages { data: Vec::new(), offsets, nulls: None }
    }

    /// Bytes held, for the cache's bound.
    pub fn bytes(&self) -> usize {
        self.data.len() + self.offsets.len() * std::mem::size_of::<usize>() + self.nulls.as_ref().map_or(0, Vec::len)
    }

    fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    fn row(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i]..self.offsets[i + 1]]
    }

    fn is_null(&self, i: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n[i])
    }

    fn push(&mut self, bytes: Option<&[u8]>) {
        let rows = self.rows();
        match bytes {
            Some(b) => {
                self.data.extend_from_slice(b);
                if let Some(n) = &mut self.nulls {
                    n.push(false);
                }
            }
            None => self.nulls.get_or_insert_with(|| vec![false; rows]).push(true),
        }
        self.offsets.push(self.data.len());
    }
}

/// The binary values of an image column's array (the struct's `bytes` field, or the array).
fn bytes_array<'a>(arr: &'a ArrayRef, kind: ImageKind, name: &str, site: &Site) -> Result<(&'a ArrayRef, bool)> {
    match kind {
        ImageKind::Binary => Ok((arr, false)),
        ImageKind::Struct => {
            let s = arr.as_struct_opt().ok_or_else(|| unsupported(arr.data_type(), name, site))?;
            let b = s.column_by_name("bytes").ok_or_else(|| unsupported(arr.data_type(), name, site))?;
            Ok((b, true))
        }
    }
}

fn unsupported(dt: &DataType, name: &str, site: &Site) -> Error {
    ErrorKind::ColumnType {
        path: site.shard.path.clone(),
        column: name.to_string(),
        found: dt.to_string(),
        role: "an image column (a struct {bytes: binary, path: string} or a binary column is needed)".into(),
    }
    .into()
}

/// Append one record batch's images (rows `row0..` of the block) to `out.images`; nulls go
/// through the policy (a null image is filled whole under `fill`).
pub(super) fn put_encoded(
    arr: &ArrayRef,
    kind: ImageKind,
    out: &mut Decoded,
    row0: usize,
    name: &str,
    site: &Site,
    policy: NullPolicy,
) -> Result<()> {
    let (values, nested) = bytes_array(arr, kind, name, site)?;
    let n = arr.len();
    let get = |i: usize| -> Option<&[u8]> {
        if arr.is_null(i) || (nested && values.is_null(i)) {
            return None;
        }
        Some(match values.data_type() {
            DataType::Binary => values.as_binary::<i32>().value(i),
            DataType::LargeBinary => values.as_binary::<i64>().value(i),
            DataType::BinaryView => values.as_binary_view().value(i),
            _ => return None,
        })
    };
    if !matches!(values.data_type(), DataType::Binary | DataType::LargeBinary | DataType::BinaryView) {
        return Err(unsupported(arr.data_type(), name, site));
    }
    let images = out.images.get_or_insert_with(|| EncodedImages::new(n));
    if images.rows() != row0 {
        let context = format!("encoded images of {} row group {}", site.shard.path.display(), site.row_group);
        return Err(Error::shape(context, format!("{row0} rows"), images.rows()));
    }
    let mut null_rows = Vec::new();
    for i in 0..n {
        let b = get(i);
        if b.is_none() {
            null_rows.push(row0 + i);
        }
        images.push(b);
    }
    for row in null_rows {
        match policy {
            // `handle_bad` fails or drops the row; neither touches the (empty) features.
            NullPolicy::Error | NullPolicy::SkipRow => {
                handle_bad(out, 0, row, 0, name, site, policy, BadValue::Null, true)?
            }
            NullPolicy::Fill(_) => out.filled += 1,
        }
    }
    Ok(())
}

/// The pixel → `f32` table of torchvision's `ToTensor`: `v as f32 / 255`.
fn to_tensor_table() -> &'static [f32; 256] {
    static TABLE: OnceLock<[f32; 256]> = OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|v| v as f32 / 255.0))
}

/// An encoded image's format, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
}

fn format_of(bytes: &[u8]) -> std::result::Result<Format, String> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(Format::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(Format::Jpeg)
    } else if bytes.is_empty() {
        Err("empty image bytes".into())
    } else {
        let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Err(format!("neither PNG nor JPEG (first bytes {})", head.join(" ")))
    }
}

fn png_decoder(bytes: &[u8]) -> png::Decoder<Cursor<&[u8]>> {
    let mut d = png::Decoder::new(Cursor::new(bytes));
    d.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    d
}

fn png_channels(color: png::ColorType) -> usize {
    match color {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb | png::ColorType::Indexed => 3,
        png::ColorType::Rgba => 4,
    }
}

fn jpeg_options() -> zune_jpeg::zune_core::options::DecoderOptions {
    zune_jpeg::zune_core::options::DecoderOptions::default()
}

/// `[H, W, C]` of an encoded image, from its header alone.
fn shape_of(bytes: &[u8]) -> std::result::Result<[usize; 3], String> {
    match format_of(bytes)? {
        Format::Png => {
            let reader = png_decoder(bytes).read_info().map_err(|e| format!("PNG: {e}"))?;
            let (color, _) = reader.output_color_type();
            let info = reader.info();
            Ok([info.height as usize, info.width as usize, png_channels(color)])
        }
        Format::Jpeg => {
            let mut d = zune_jpeg::JpegDecoder::new_with_options(
                zune_jpeg::zune_core::bytestream::ZCursor::new(bytes),
                jpeg_options(),
            );
            d.decode_headers().map_err(|e| format!("JPEG: {e}"))?;
            let (w, h) = d.dimensions().ok_or("JPEG: no frame header")?;
            Ok([h, w, jpeg_channels(d.input_colorspace().ok_or("JPEG: no colour space")?)?])
        }
    }
}

fn jpeg_channels(cs: zune_jpeg::zune_core::colorspace::ColorSpace) -> std::result::Result<usize, String> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    match cs {
        ColorSpace::Luma => Ok(1),
        ColorSpace::YCbCr | ColorSpace::RGB => Ok(3),
        other => Err(format!("JPEG in colour space {other:?} is not supported (gray and YCbCr are)")),
    }
}

/// Decode one image of shape `shape` into `out` (`H·W·C` floats); `scratch` holds its pixels.
fn decode_into<T: Pixel>(
    bytes: &[u8],
    shape: [usize; 3],
    out: &mut [T],
    scratch: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    let len = shape[0] * shape[1] * shape[2];
    match format_of(bytes)? {
        Format::Png => {
            // One parse of the header serves the shape check and the decode.
            let mut reader = png_decoder(bytes).read_info().map_err(|e| format!("PNG: {e}"))?;
            let (color, _) = reader.output_color_type();
            let info = reader.info();
            same_shape([info.height as usize, info.width as usize, png_channels(color)], shape)?;
            let need = reader.output_buffer_size().ok_or("PNG: the image is too large")?;
            scratch.clear();
            scratch.resize(need, 0);
            let frame = reader.next_frame(scratch).map_err(|e| format!("PNG: {e}"))?;
            let line = shape[1] * shape[2];
            if frame.line_size == line {
                T::map(&scratch[..len], out);
            } else {
                for (y, dst) in out.chunks_exact_mut(line).enumerate() {
                    T::map(&scratch[y * frame.line_size..y * frame.line_size + line], dst);
                }
            }
        }
        Format::Jpeg => {
            use zune_jpeg::zune_core::colorspace::ColorSpace;
            same_shape(shape_of(bytes)?, shape)?;
            let cs = if shape[2] == 1 { ColorSpace::Luma } else { ColorSpace::RGB };
            let mut d = zune_jpeg::JpegDecoder::new_with_options(
                zune_jpeg::zune_core::bytestream::ZCursor::new(bytes),
                jpeg_options().jpeg_set_out_colorspace(cs),
            );
            let pixels = d.decode().map_err(|e| format!("JPEG: {e}"))?;
            if pixels.len() < len {
                return Err(format!("JPEG: decoded {} values, expected {len}", pixels.len()));
            }
            T::map(&pixels[..len], out);
        }
    }
    Ok(())
}

/// Every image of a column must have the first image's shape (checked from the header, before
/// its pixels are decoded).
fn same_shape(found: [usize; 3], shape: [usize; 3]) -> std::result::Result<(), String> {
    if found == shape {
        return Ok(());
    }
    Err(format!(
        "the image is {} × {} × {} (H × W × C) but the first image of the column is {} × {} × {}",
        found[0], found[1], found[2], shape[0], shape[1], shape[2]
    ))
}

/// What decoded pixels are written as: `f32` in [0, 1] (`ToTensor`), or `u8` as decoded
/// (`pixels = "uint8"`).
pub(crate) trait Pixel: Copy + Default + Send + Sync {
    /// Write the decoded 8-bit values `src` into `dst`.
    fn map(src: &[u8], dst: &mut [Self]);
    /// The value of the fill policy's `v` (checked to be a `u8` for `u8` pixels).
    fn fill(v: f32) -> Self;
}

impl Pixel for f32 {
    #[inline]
    fn map(src: &[u8], dst: &mut [f32]) {
        let table = to_tensor_table();
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = table[s as usize];
        }
    }
    fn fill(v: f32) -> Self {
        v
    }
}

impl Pixel for u8 {
    #[inline]
    fn map(src: &[u8], dst: &mut [u8]) {
        dst.copy_from_slice(&src[..dst.len()]);
    }
    fn fill(v: f32) -> Self {
        v as u8
    }
}

/// One row to decode: which fetched block (index into `groups`), its row in the block, and
/// the block's index in `blocks` (for errors).
pub(crate) struct Item {
    pub group: usize,
    pub local: usize,
    pub block: usize,
}

/// Decode the images of a batch's rows into `features` (resized to `items.len() × f`), in
/// parallel chunks of rows; the first failing row, in row order, is the error. `shards` and
/// `blocks` are the shard set's, for errors.
pub(crate) fn assemble<T: Pixel>(
    ctx: &DecodeContext,
    shards: &[ShardInfo],
    blocks: &[RowGroupRef],
    groups: &[Arc<Decoded>],
    items: &[Item],
    f: usize,
    features: &mut Vec<T>,
) -> Result<()> {
    let Some((column, ImageSource { shape: Some(shape), .. })) = ctx.plan().image_column() else {
        return Err(Error::shape("image assembly", "an image feature column", "another layout"));
    };
    features.clear();
    features.resize(items.len() * f, T::default());
    let fill = match ctx.policy() {
        NullPolicy::Fill(v) => Some(v),
        _ => None,
    };
    let decode_chunk = |(dst, items): (&mut [T], &[Item])| -> Result<()> {
        let mut scratch = Vec::new();
        for (dst, item) in dst.chunks_exact_mut(f.max(1)).zip(items) {
            let block = &blocks[item.block];
            let row = block.first_row + item.local as u64;
            let image_err = |message: String| -> Error {
                ErrorKind::Image { path: shards[block.shard].path.clone(), column: column.to_string(), row, message }
                    .into()
            };
            let images = groups[item.group].images.as_ref().ok_or_else(|| image_err("no encoded images".into()))?;
            if item.local >= images.rows() {
                return Err(image_err(format!("the block holds {} images", images.rows())));
            }
            if images.is_null(item.local) {
                // Only the fill policy lets a null image reach a batch.
                dst.fill(T::fill(fill.unwrap_or(0.0)));
                continue;
            }
            decode_into(images.row(item.local), shape, dst, &mut scratch).map_err(image_err)?;
        }
        Ok(())
    };
    let chunk = ROWS_PER_TASK * f.max(1);
    let results: Vec<Result<()>> = if items.len() > ROWS_PER_TASK {
        features.par_chunks_mut(chunk).zip(items.par_chunks(ROWS_PER_TASK)).map(decode_chunk).collect()
    } else {
        vec![decode_chunk((features.as_mut_slice(), items))]
    };
    results.into_iter().collect()
}

/// Fill in the shape of an image feature column from the first image of the first shard:
/// the plan's spec becomes a list of `H·W·C` values with `feature_shape` `[H, W, C]`. Of `ctx`, only
/// the buffers and page maps are used.
pub(crate) fn resolve_shape(ctx: &DecodeContext, shards: &[ShardInfo], plan: &mut ColumnPlan) -> Result<()> {
    let Some((column, ImageSource { kind, shape: None })) = plan.image_column() else {
        return Ok(());
    };
    let column = column.to_string();
    let (bytes, path, row) = first_image(ctx, shards, &column, kind)?;
    // A binary column whose first value is no PNG or JPEG at all holds something else (text,
    // serialised objects): a column of the wrong type for features, not a broken image.
    if let Err(why) = format_of(&bytes) {
        return Err(ErrorKind::ColumnType {
            path,
            column,
            found: match kind {
                ImageKind::Struct => "struct {bytes, path}".into(),
                ImageKind::Binary => "binary".into(),
            },
            role: format!("image features (row {row}: {why})"),
        }
        .into());
    }
    let shape = shape_of(&bytes).map_err(|message| {
        Error::from(ErrorKind::Image { path: path.clone(), column: column.clone(), row, message })
    })?;
    let values = shape[0].checked_mul(shape[1]).and_then(|v| v.checked_mul(shape[2])).unwrap_or(usize::MAX);
    if values == 0 || values > MAX_IMAGE_VALUES {
        return Err(ErrorKind::Image {
            path,
            column,
            row,
            message: format!(
                "the first image is {} × {} × {} = {values} values (at most {MAX_IMAGE_VALUES} and at least 1 are accepted)",
                shape[0], shape[1], shape[2]
            ),
        }
        .into());
    }
    plan.image = Some(ImageSource { kind, shape: Some(shape) });
    plan.spec.features = FeatureLayout::List { column, len: values };
    plan.spec.feature_shape = Some(shape.to_vec());
    Ok(())
}

/// The bytes of the first non-null image of the column (in the first row group holding one),
/// its shard and its global row.
fn first_image(
    ctx: &DecodeContext,
    shards: &[ShardInfo],
    column: &str,
    kind: ImageKind,
) -> Result<(Vec<u8>, std::path::PathBuf, u64)> {
    for shard in shards {
        let probed = probe_column(ctx, shard, column, |arr, at| {
            // `out` holds this batch only: its row 0 is the global row `at.row`.
            let site = Site { shard, row_group: at.row_group, first_row: at.row };
            let mut out = Decoded::new(arr.len(), Vec::new(), Vec::new(), None);
            put_encoded(arr, kind, &mut out, 0, column, &site, NullPolicy::Fill(0.0))?;
            Ok(out.images.as_ref().and_then(|images| {
                let i = (0..images.rows()).find(|&i| !images.is_null(i))?;
                Some((images.row(i).to_vec(), at.row + i as u64))
            }))
        })?;
        if let Some((bytes, row)) = probed.found {
            return Ok((bytes, shard.path.clone(), row));
        }
    }
    Err(ErrorKind::Empty { what: format!("image column '{column}' (every value is null)") }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_magic() {
        assert_eq!(format_of(b"\x89PNG\r\n\x1a\nrest"), Ok(Format::Png));
        assert_eq!(format_of(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(Format::Jpeg));
        let e = format_of(b"GIF89a").unwrap_err();
        assert!(e.contains("neither PNG nor JPEG") && e.contains("47 49 46"), "{e}");
        assert!(format_of(b"").is_err());
    }

    #[test]
    fn to_tensor_scale() {
        let t = to_tensor_table();
        assert_eq!((t[0], t[255]), (0.0, 1.0));
        assert_eq!(t[128], 128f32 / 255f32);
    }

    #[test]
    fn encoded_rows_and_nulls() {
        let mut e = EncodedImages::new(3);
        e.push(Some(b"ab"));
        e.push(None);
        e.push(Some(b"cde"));
        assert_eq!(e.rows(), 3);
        assert_eq!((e.row(0), e.row(1), e.row(2)), (&b"ab"[..], &b""[..], &b"cde"[..]));
        assert_eq!((e.is_null(0), e.is_null(1), e.is_null(2)), (false, true, false));
    }
}
