//! [`BatchEncoder`]: a pipeline [`Batch`] as one Arrow IPC record-batch message, written
//! straight from the batch's buffers into one reused output buffer.
//!
//! The bytes are exactly those of arrow-rs's `StreamWriter` with the default
//! `IpcWriteOptions` (metadata V5, 64-byte alignment, no compression) for the record batch
//! that [`OutputSchema::to_record_batch`] makes of the same batch (tests below compare
//! them for every layout). What it saves on the stream's consumer thread: the
//! [`RecordBatch`](arrow_array::RecordBatch) (an `Arc`'d array, `ArrayData` and buffer list
//! per column), the column-major copy of the features (the transpose writes into the
//! message body itself), the write buffer's copy of every body buffer, and a second pass
//! over the values for the trailer's CRC (computed on the body while it is in cache).
//!
//! # Message layout (the Arrow IPC format)
//! `0xFFFFFFFF`, the header length `L` (i32), the flatbuffer `Message` header zero-padded so
//! that `8 + L` is a multiple of 64, then the body: each buffer of each column in schema
//! order (a column's validity bitmap, then its offsets or values, then its children's),
//! zero-padded to a multiple of 64 bytes. A validity bitmap is empty (length 0) when the
//! column has no nulls.

use arrow_buffer::MutableBuffer;
use arrow_ipc::{FieldNode, MessageBuilder, MessageHeader, MetadataVersion, RecordBatchBuilder};
use arrow_schema::DataType;
use flatbuffers::FlatBufferBuilder;

use super::hash::Crc32;
use super::schema::{f32_bytes, row_major, transpose_strided, OutputSchema};
use crate::batch::Batch;
use crate::error::{Error, Result};

/// The body alignment of arrow-rs's default `IpcWriteOptions`.
const ALIGN: usize = 64;

/// `len` rounded up to a multiple of [`ALIGN`].
fn padded(len: usize) -> usize {
    len.div_ceil(ALIGN) * ALIGN
}

/// How the feature values of a batch are laid out in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeatureBody {
    /// One `Float32` column per feature: the row-major features transposed.
    Columns,
    /// One `FixedSizeList<Float32>` column: the row-major features as they are.
    ListF32,
    /// One `FixedSizeList<UInt8>` column: the row-major pixels as they are.
    ListU8,
}

/// Encodes pipeline batches as IPC record-batch messages; see the module documentation.
/// One per stream: it keeps its output buffer and flatbuffer builder between batches, so
/// that a stream of batches of one size allocates nothing after the first.
pub(crate) struct BatchEncoder {
    features: FeatureBody,
    fbb: FlatBufferBuilder<'static>,
    /// The message (64-byte aligned, so that the body's `f32` values can be written as such);
    /// its length only grows, the message is its first `total` bytes.
    out: MutableBuffer,
    nodes: Vec<FieldNode>,
    buffers: Vec<arrow_ipc::Buffer>,
    body_len: usize,
}

impl BatchEncoder {
    /// An encoder for `schema`, or `None` when its features are not written as values (PNG
    /// images are encoded through arrow-rs).
    pub(crate) fn new(schema: &OutputSchema) -> Option<Self> {
        if schema.is_png() {
            return None;
        }
        let features = match schema.schema().field(0).data_type() {
            DataType::Float32 => FeatureBody::Columns,
            DataType::FixedSizeList(child, _) if *child.data_type() == DataType::Float32 => FeatureBody::ListF32,
            DataType::FixedSizeList(child, _) if *child.data_type() == DataType::UInt8 => FeatureBody::ListU8,
            _ => return None,
        };
        Some(BatchEncoder {
            features,
            fbb: FlatBufferBuilder::new(),
            out: MutableBuffer::new(0),
            nodes: Vec::new(),
            buffers: Vec::new(),
            body_len: 0,
        })
    }

    /// The message of `batch`, valid until the next call. `crc` is fed with the value bytes
    /// of the feature and target columns, as [`update_value_crc`](super::schema::update_value_crc)
    /// would over the record batch.
    ///
    /// # Errors
    /// [`ErrorKind::Shape`](crate::ErrorKind::Shape) for a batch that does not fit the schema
    /// (as [`OutputSchema::to_record_batch`]).
    pub(crate) fn encode(&mut self, schema: &OutputSchema, batch: &Batch, crc: &mut Crc32) -> Result<&[u8]> {
        schema.check(batch)?;
        let with_pixels = self.features == FeatureBody::ListU8;
        if batch.pixels.is_some() != with_pixels {
            return Err(Error::shape("output schema", "a fixed-size list column", "float32 feature columns"));
        }
        self.plan(schema, batch);
        let header_len = self.header(batch.rows());
        let total = header_len + self.body_len;
        if self.out.len() < total {
            self.out.resize(total, 0);
        }
        self.body(schema, batch, header_len, crc);
        Ok(&self.out.as_slice()[..total])
    }

    /// The field nodes and buffers of `batch`, in the order arrow-rs writes them.
    fn plan(&mut self, schema: &OutputSchema, batch: &Batch) {
        self.nodes.clear();
        self.buffers.clear();
        self.body_len = 0;
        let n = batch.rows();
        let f = schema.num_features();
        match self.features {
            FeatureBody::Columns => {
                for _ in 0..f {
                    self.primitive(n, 0, 0, 4 * n);
                }
            }
            FeatureBody::ListF32 => self.list(n, f, 4),
            FeatureBody::ListU8 => self.list(n, f, 1),
        }
        if schema.num_targets() > 0 {
            self.list(n, schema.num_targets(), 4);
        }
        if schema.provenance() {
            let p = &batch.provenance;
            self.primitive(n, 0, 0, 8 * n); // step
            self.node(n, 0); // origin: validity, offsets, characters
            self.buffer(0);
            self.buffer(4 * (n + 1));
            self.buffer(p.origin.iter().map(|o| o.as_str().len()).sum());
            self.primitive(n, 0, 0, 8 * n); // row_a
            let nulls = p.row_b.iter().filter(|v| v.is_none()).count();
            self.primitive(n, nulls, bitmap_len(n, nulls), 8 * n);
            let nulls = p.lambda.iter().filter(|v| v.is_none()).count();
            self.primitive(n, nulls, bitmap_len(n, nulls), 4 * n);
        }
    }

    fn node(&mut self, len: usize, nulls: usize) {
        self.nodes.push(FieldNode::new(len as i64, nulls as i64));
    }

    fn buffer(&mut self, len: usize) {
        self.buffers.push(arrow_ipc::Buffer::new(self.body_len as i64, len as i64));
        self.body_len += padded(len);
    }

    /// A primitive column: its node, its validity bitmap, its values.
    fn primitive(&mut self, n: usize, nulls: usize, validity: usize, values: usize) {
        self.node(n, nulls);
        self.buffer(validity);
        self.buffer(values);
    }

    /// A `FixedSizeList[width]` column of `elem`-byte values without nulls.
    fn list(&mut self, n: usize, width: usize, elem: usize) {
        self.node(n, 0);
        self.buffer(0);
        self.primitive(n * width, 0, 0, elem * n * width);
    }

    /// Build the flatbuffer header as arrow-rs's `record_batch_to_bytes` does (same builder
    /// calls in the same order, so the same bytes) and write the prefix, the header and its
    /// padding; returns where the body begins.
    fn header(&mut self, rows: usize) -> usize {
        let fbb = &mut self.fbb;
        fbb.reset();
        let buffers = fbb.create_vector(&self.buffers);
        let nodes = fbb.create_vector(&self.nodes);
        let mut rb = RecordBatchBuilder::new(fbb);
        rb.add_length(rows as i64);
        rb.add_nodes(nodes);
        rb.add_buffers(buffers);
        let rb = rb.finish();
        let mut message = MessageBuilder::new(fbb);
        message.add_version(MetadataVersion::V5);
        message.add_header_type(MessageHeader::RecordBatch);
        message.add_bodyLength(self.body_len as i64);
        message.add_header(rb.as_union_value());
        let root = message.finish();
        fbb.finish(root, None);
        let meta = fbb.finished_data();
        let header_len = padded(8 + meta.len());
        if self.out.len() < header_len {
            self.out.resize(header_len, 0);
        }
        let out = self.out.as_slice_mut();
        out[..4].copy_from_slice(&[0xff; 4]);
        out[4..8].copy_from_slice(&((header_len - 8) as i32).to_le_bytes());
        out[8..8 + meta.len()].copy_from_slice(meta);
        out[8 + meta.len()..header_len].fill(0);
        header_len
    }

    /// Write every buffer of the body (and every padding byte: the output buffer is reused)
    /// at the offsets of [`plan`](Self::plan).
    fn body(&mut self, schema: &OutputSchema, batch: &Batch, header_len: usize, crc: &mut Crc32) {
        let n = batch.rows();
        let mut k = 0; // the next buffer of `self.buffers`
        match self.features {
            FeatureBody::Columns => {
                let f = schema.num_features();
                // Column j's values are buffer 2j + 1, `stride` floats apart (validity buffers are empty).
                let stride = padded(4 * n) / 4;
                let start = header_len + self.buffers.get(1).map_or(0, |b| b.offset() as usize);
                let floats = self.out.typed_data_mut::<f32>();
                let dst = &mut floats[start / 4..start / 4 + f * stride];
                let src = row_major(&batch.features);
                transpose_strided(&src, n, f, dst, stride);
                for col in dst.chunks_exact_mut(stride.max(1)).take(f) {
                    col[n..].fill(0.0);
                    crc.update(f32_bytes(&col[..n]));
                }
                k = 2 * f;
            }
            FeatureBody::ListF32 => {
                // The list's validity, its child's validity, the child's values (buffer k - 1).
                k += 3;
                self.put(header_len, k - 1, f32_bytes(&row_major(&batch.features)), Some(crc));
            }
            FeatureBody::ListU8 => {
                k += 3;
                if let Some(p) = &batch.pixels {
                    self.put(header_len, k - 1, &row_major(p), Some(crc));
                }
            }
        }
        if schema.num_targets() > 0 {
            k += 3;
            if let Some(t) = &batch.targets {
                self.put(header_len, k - 1, f32_bytes(&row_major(t)), Some(crc));
            }
        }
        if schema.provenance() {
            let p = &batch.provenance;
            let step = batch.step.to_le_bytes();
            self.fill(header_len, k + 1, (0..n).map(|_| step));
            // origin: offsets from 0, then the characters.
            let mut end = 0i32;
            let offsets = std::iter::once(0i32).chain(p.origin.iter().map(|o| {
                end += o.as_str().len() as i32;
                end
            }));
            self.fill(header_len, k + 3, offsets.map(i32::to_le_bytes));
            let chars: Vec<u8> = p.origin.iter().flat_map(|o| o.as_str().bytes()).collect();
            self.put(header_len, k + 4, &chars, None);
            self.fill(header_len, k + 6, p.row_a.iter().map(|v| v.to_le_bytes()));
            self.bitmap(header_len, k + 7, p.row_b.iter().map(Option::is_some));
            self.fill(header_len, k + 8, p.row_b.iter().map(|v| v.unwrap_or(0).to_le_bytes()));
            self.bitmap(header_len, k + 9, p.lambda.iter().map(Option::is_some));
            self.fill(header_len, k + 10, p.lambda.iter().map(|v| v.unwrap_or(0.0).to_le_bytes()));
            k += 11;
        }
        debug_assert_eq!(k, self.buffers.len());
        // Zero-length buffers have no padding; nothing else is left unwritten.
    }

    /// The bytes of buffer `k` and its padding.
    fn region(&mut self, header_len: usize, k: usize) -> (&mut [u8], usize) {
        let b = self.buffers[k];
        let (at, len) = (header_len + b.offset() as usize, b.length() as usize);
        (&mut self.out.as_slice_mut()[at..at + padded(len)], len)
    }

    /// Buffer `k` is `bytes`; `crc` is fed with them.
    fn put(&mut self, header_len: usize, k: usize, bytes: &[u8], crc: Option<&mut Crc32>) {
        let (region, len) = self.region(header_len, k);
        debug_assert_eq!(len, bytes.len());
        region[..len].copy_from_slice(bytes);
        region[len..].fill(0);
        if let Some(crc) = crc {
            crc.update(&region[..len]);
        }
    }

    /// Buffer `k` is the concatenation of `items`.
    fn fill<const W: usize>(&mut self, header_len: usize, k: usize, items: impl Iterator<Item = [u8; W]>) {
        let (region, len) = self.region(header_len, k);
        let mut chunks = region[..len].chunks_exact_mut(W);
        for (chunk, item) in (&mut chunks).zip(items) {
            chunk.copy_from_slice(&item);
        }
        debug_assert!(chunks.next().is_none(), "fewer items than the planned buffer holds");
        region[len..].fill(0);
    }

    /// Buffer `k` is the validity bitmap of `valid` (least significant bit first), when planned
    /// (a column without nulls has an empty one).
    fn bitmap(&mut self, header_len: usize, k: usize, valid: impl Iterator<Item = bool>) {
        let (region, len) = self.region(header_len, k);
        if len == 0 {
            return;
        }
        region.fill(0);
        for (i, v) in valid.enumerate() {
            region[i / 8] |= u8::from(v) << (i % 8);
        }
    }
}

/// The validity bitmap's length: none without nulls, else one bit per row.
fn bitmap_len(n: usize, nulls: usize) -> usize {
    if nulls == 0 {
        0
    } else {
        n.div_ceil(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Origin, Provenance};
    use crate::sink::schema::update_value_crc;
    use crate::spec::{DataSpec, FeatureLayout, Pixels, TargetKind};
    use arrow_ipc::writer::StreamWriter;
    use ndarray::Array2;

    /// What arrow-rs's `StreamWriter` (default options, as `IpcSink` uses) writes for the record
    /// batch of `batch`, without the schema message before it.
    fn arrow_message(schema: &OutputSchema, batch: &Batch) -> Vec<u8> {
        let mut w = StreamWriter::try_new(Vec::new(), schema.schema()).unwrap();
        let start = w.get_ref().len();
        w.write(&schema.to_record_batch(batch).unwrap()).unwrap();
        w.get_ref()[start..].to_vec()
    }

    fn spec(features: FeatureLayout, target: TargetKind, pixels: Pixels) -> DataSpec {
        DataSpec { features, target, feature_shape: None, pixels }
    }

    /// A batch of `n` rows, `f` features (as pixels when `u8`), `c` targets, with mixed
    /// provenance: `nulls` says which rows have no partner (every 3rd, all, none).
    fn batch(step: u64, n: usize, f: usize, c: usize, u8_pixels: bool, nulls: usize) -> Batch {
        let x = Array2::from_shape_fn((n, f), |(i, j)| (i * 1000 + j) as f32 * 0.5 - 7.25);
        let y = (c > 0).then(|| Array2::from_shape_fn((n, c), |(i, j)| ((i + j) % c) as f32 / c as f32));
        let ids: Vec<u64> = (0..n as u64).map(|i| 100 + i).collect();
        let mut b = if u8_pixels {
            let p = Array2::from_shape_fn((n, f), |(i, j)| (i * 31 + j * 7) as u8);
            Batch::from_pixels(step, p, y, ids).unwrap()
        } else {
            Batch::new(step, x, y, ids).unwrap()
        };
        let partner = |i: usize| match nulls {
            0 => true,
            1 => false,
            _ => !i.is_multiple_of(3),
        };
        b.provenance = Provenance {
            origin: (0..n).map(|i| [Origin::Real, Origin::Vae, Origin::Gan][i % 3]).collect(),
            row_a: (0..n as u64).map(|i| 100 + i).collect(),
            row_b: (0..n).map(|i| partner(i).then_some(200 + i as u64)).collect(),
            lambda: (0..n).map(|i| partner(i).then_some(0.125 * i as f32)).collect(),
        };
        b
    }

    /// The encoder's message and CRC equal arrow-rs's message and the CRC of the record batch,
    /// for every row count (a reused encoder, row counts that shrink and grow) and both
    /// provenance settings.
    fn check_layout(spec: &DataSpec, u8_pixels: bool) {
        for provenance in [false, true] {
            let schema = OutputSchema::new(spec, provenance).unwrap();
            let mut enc = BatchEncoder::new(&schema).expect("values are encoded");
            let (f, c) = (schema.num_features(), schema.num_targets());
            for (k, n) in [256usize, 0, 1, 7, 8, 13, 16, 300, 5, 64, 256].into_iter().enumerate() {
                for nulls in [0, 1, 2] {
                    let b = batch(k as u64 * 3 + nulls as u64, n, f, c, u8_pixels, nulls);
                    let want = arrow_message(&schema, &b);
                    let mut want_crc = Crc32::resume(0x1234_5678);
                    update_value_crc(&mut want_crc, &schema.to_record_batch(&b).unwrap());
                    let mut crc = Crc32::resume(0x1234_5678);
                    let got = enc.encode(&schema, &b, &mut crc).unwrap();
                    assert!(
                        got == want.as_slice(),
                        "{spec:?}, provenance {provenance}, {n} rows, nulls {nulls}: {} bytes, arrow-rs {} bytes, first difference at {:?}",
                        got.len(),
                        want.len(),
                        got.iter().zip(&want).position(|(a, b)| a != b)
                    );
                    assert_eq!(crc, want_crc, "{spec:?}, provenance {provenance}, {n} rows");
                }
            }
        }
    }

    #[test]
    fn feature_columns_are_byte_identical_to_arrow_rs() {
        let names = |f: usize| FeatureLayout::Columns((0..f).map(|j| format!("f{j}")).collect());
        let class = TargetKind::Class { column: "label".into(), num_classes: 10 };
        check_layout(&spec(names(64), class.clone(), Pixels::F32), false);
        check_layout(&spec(names(11), TargetKind::None, Pixels::F32), false);
        check_layout(&spec(names(1), TargetKind::Regression { column: "y".into() }, Pixels::F32), false);
    }

    #[test]
    fn list_features_and_soft_labels_are_byte_identical_to_arrow_rs() {
        let list = |len| FeatureLayout::List { column: "pixels".into(), len };
        let soft = TargetKind::Soft { column: "y".into(), width: 3 };
        check_layout(&spec(list(5), soft.clone(), Pixels::F32), false);
        check_layout(&spec(list(784), TargetKind::Class { column: "l".into(), num_classes: 10 }, Pixels::F32), false);
        check_layout(&spec(list(1), TargetKind::None, Pixels::F32), false);
    }

    #[test]
    fn uint8_pixels_are_byte_identical_to_arrow_rs() {
        let list = |len| FeatureLayout::List { column: "pixels".into(), len };
        check_layout(&spec(list(7), TargetKind::Class { column: "l".into(), num_classes: 4 }, Pixels::U8), true);
        check_layout(&spec(list(784), TargetKind::None, Pixels::U8), true);
    }

    #[test]
    fn non_standard_layouts_are_read_in_row_order() {
        let s = spec(FeatureLayout::Columns(vec!["a".into(), "b".into()]), TargetKind::None, Pixels::F32);
        let schema = OutputSchema::new(&s, false).unwrap();
        let b = Batch::new(0, ndarray::array![[1.0f32, 3.0], [2.0, 4.0]].reversed_axes(), None, vec![0, 1]).unwrap();
        let mut enc = BatchEncoder::new(&schema).unwrap();
        assert_eq!(enc.encode(&schema, &b, &mut Crc32::new()).unwrap(), arrow_message(&schema, &b).as_slice());
    }

    #[test]
    fn png_images_and_bad_batches_are_not_encoded() {
        let mut s = spec(FeatureLayout::List { column: "image".into(), len: 4 }, TargetKind::None, Pixels::F32);
        s.feature_shape = Some(vec![2, 2, 1]);
        let png = OutputSchema::with_image_out(&s, false, crate::ImageOut::Png).unwrap();
        assert!(BatchEncoder::new(&png).is_none());
        let schema = OutputSchema::new(&s, false).unwrap();
        let mut enc = BatchEncoder::new(&schema).unwrap();
        let narrow = Batch::new(0, ndarray::array![[1.0f32, 2.0]], None, vec![0]).unwrap();
        let err = enc.encode(&schema, &narrow, &mut Crc32::new()).unwrap_err();
        assert!(matches!(err.kind(), crate::ErrorKind::Shape { .. }), "{err:?}");
    }
}
