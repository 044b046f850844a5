//! Image features written back as images: each row's `H × W × C` values re-encoded as a PNG
//! file in Hugging Face's `Image` layout (a struct `{bytes: binary, path: string}`, with the
//! `huggingface` schema metadata that makes `datasets` read the column as `Image()`).

use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// How the sinks write image features (`augment --image-out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageOut {
    /// As the float tensors they are in the pipeline: one `FixedSizeList<Float32>` column
    /// (the default).
    #[default]
    Tensor,
    /// Re-encoded as 8-bit PNG files in Hugging Face's `Image` layout.
    Png,
}

impl ImageOut {
    /// Parse `tensor` or `png`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `image_out`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(shardmix::ImageOut::parse("png")?, shardmix::ImageOut::Png);
    /// assert!(shardmix::ImageOut::parse("jpeg").is_err());
    /// # Ok::<(), shardmix::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<ImageOut> {
        match s {
            "tensor" => Ok(ImageOut::Tensor),
            "png" => Ok(ImageOut::Png),
            other => Err(Error::config("image_out", format!("'{other}' is not one of tensor, png"))),
        }
    }
}

/// The `[H, W, C]` of PNG output, checked: C is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4
/// (RGBA), H and W fit PNG's `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PngShape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl PngShape {
    /// The shape for `feature_shape` and `num_features`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `image_out` when the features
    /// have no `[H, W, C]` shape or one PNG cannot hold.
    pub fn new(feature_shape: Option<&[usize]>, num_features: usize) -> Result<PngShape> {
        let Some(&[h, w, c]) = feature_shape else {
            return Err(Error::config(
                "image_out",
                format!(
                    "png needs image features of shape [H, W, C] (an image column, or --feature-shape), the data's \
                     shape is {feature_shape:?}"
                ),
            ));
        };
        if !(1..=4).contains(&c) {
            return Err(Error::config("image_out", format!("png holds 1 to 4 channels, the features have {c}")));
        }
        if h == 0 || w == 0 || u32::try_from(h).is_err() || u32::try_from(w).is_err() || h * w * c != num_features {
            return Err(Error::config(
                "image_out",
                format!("the shape [{h}, {w}, {c}] does not fit {num_features} features per row in a PNG"),
            ));
        }
        Ok(PngShape { h, w, c })
    }
}

/// The Arrow type of Hugging Face's `Image` feature: `struct<bytes: binary, path: string>`,
/// all nullable (as `datasets.Image().pa_type`, so that `datasets` matches it to the metadata).
pub(crate) fn image_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ]))
}

/// The `huggingface` schema metadata declaring `column` an `Image` feature (`datasets` takes
/// the features it names from here and infers the others from the Arrow types).
pub(crate) fn hf_metadata(column: &str) -> String {
    serde_json::json!({ "info": { "features": { column: { "_type": "Image" } } } }).to_string()
}

/// A value as an 8-bit sample: `round(v · 255)` clamped to [0, 255] (NaN → 0), the inverse
/// of the decoder's `p / 255`, so a decoded-then-encoded pixel is the original byte.
#[inline]
fn quantise(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

/// A feature value as a PNG sample: `f32` quantised ([`quantise`]), `u8` as it is.
pub(crate) trait Sample: Copy + Sync {
    /// The 8-bit sample.
    fn sample(self) -> u8;
}

impl Sample for f32 {
    #[inline]
    fn sample(self) -> u8 {
        quantise(self)
    }
}

impl Sample for u8 {
    #[inline]
    fn sample(self) -> u8 {
        self
    }
}

/// One row of `shape.h · shape.w · shape.c` values as a PNG file.
pub(crate) fn encode_row<T: Sample>(row: &[T], shape: PngShape) -> Result<Vec<u8>> {
    let pixels: Vec<u8> = row.iter().map(|&v| v.sample()).collect();
    let color = match shape.c {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    let mut out = Vec::with_capacity(pixels.len() / 2 + 128);
    let fail = |e: png::EncodingError| Error::config("image_out", format!("PNG encoding failed: {e}"));
    {
        let mut enc = png::Encoder::new(&mut out, shape.w as u32, shape.h as u32);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(fail)?;
        writer.write_image_data(&pixels).map_err(fail)?;
        writer.finish().map_err(fail)?;
    }
    Ok(out)
}

/// The `Image` column of `n` rows from their row-major values (rows encoded in parallel on
/// the rayon pool, in row order); `path` is null, as `datasets` writes images it holds as bytes.
pub(crate) fn image_column<T: Sample>(values: &[T], n: usize, shape: PngShape) -> Result<ArrayRef> {
    let width = shape.h * shape.w * shape.c;
    let files: Vec<Vec<u8>> =
        values[..n * width].par_chunks(width.max(1)).map(|row| encode_row(row, shape)).collect::<Result<_>>()?;
    let bytes = BinaryArray::from_iter_values(files.iter());
    let paths = StringArray::new_null(n);
    let DataType::Struct(fields) = image_type() else { unreachable!("image_type is a struct") };
    let arr = StructArray::try_new(fields, vec![Arc::new(bytes) as ArrayRef, Arc::new(paths)], None)
        .map_err(|e| Error::config("image_out", format!("building the image column: {e}")))?;
    Ok(Arc::new(arr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn decode(file: &[u8]) -> (png::ColorType, Vec<u8>) {
        let mut r = png::Decoder::new(Cursor::new(file)).read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.color_type, buf)
    }

    #[test]
    fn pixels_round_trip_through_png() {
        for c in 1..=4 {
            let shape = PngShape { h: 3, w: 5, c };
            let bytes: Vec<u8> = (0..15 * c).map(|i| (i * 37 % 256) as u8).collect();
            let row: Vec<f32> = bytes.iter().map(|&b| b as f32 / 255.0).collect();
            let (_, back) = decode(&encode_row(&row, shape).unwrap());
            assert_eq!(back, bytes, "{c} channels");
        }
    }

    #[test]
    fn out_of_range_values_are_clamped() {
        let shape = PngShape { h: 1, w: 4, c: 1 };
        let (_, back) = decode(&encode_row(&[-0.5, 1.7, f32::NAN, 0.5], shape).unwrap());
        assert_eq!(back, [0, 255, 0, 128]);
    }

    #[test]
    fn shapes_png_cannot_hold_are_named() {
        for (shape, n) in [(None, 4), (Some(vec![2, 2]), 4), (Some(vec![1, 1, 5]), 5), (Some(vec![2, 2, 1]), 5)] {
            let e = PngShape::new(shape.as_deref(), n).unwrap_err().to_string();
            assert!(e.contains("image_out"), "{e}");
        }
        assert!(PngShape::new(Some(&[28, 28, 1]), 784).is_ok());
    }
}
