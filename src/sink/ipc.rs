//! [`IpcSink`]: pipeline batches as an Arrow IPC *stream* for external trainers, closed by a
//! verifiable trailer; and [`read_verified_stream`], the reader that demands it.
//!
//! # Wire format
//! A standard Arrow IPC stream (readable by any Arrow implementation):
//! `schema`, one record batch per pipeline batch, then the **trailer**, then the
//! end-of-stream marker. The trailer is a zero-row record batch of the same schema whose
//! *message custom metadata* holds `shardmix.trailer` = JSON
//! `{"rows": R, "batches": B, "checksum": "xxxxxxxx", "algorithm": "crc32-values"}`:
//! * `rows`, `batches`: data rows and data batches before the trailer;
//! * `checksum`: CRC-32 (zlib's), chained over the data batches in order, over the
//!   little-endian `f32` value bytes of every feature and target column (all columns but
//!   `step`, `origin`, `row_a`, `row_b`, `lambda`), in schema order; for a
//!   `FixedSizeList<Float32>` column, its child values. Python: `zlib.crc32(values, crc)`.
//!
//! A reader that ignores the trailer sees exactly the data rows (the trailer has none).
//! Why a trailer: arrow-rs and pyarrow accept a stream cut at a message boundary as complete
//! (see RELIABILITY.md), so only a trailer tells a finished stream from a truncated one.
//!
//! The data batches are encoded by [`BatchEncoder`] straight from the batch's buffers into
//! one message buffer (the bytes arrow-rs's `StreamWriter` writes for the same batch; PNG
//! image columns go through arrow-rs), then written with one `write_all`.
//!
//! arrow-rs 60.1's `StreamWriter` cannot attach custom metadata to a record-batch message, so
//! the trailer message is encoded by `IpcDataGenerator` and its flatbuffer header rebuilt with
//! the metadata added (same nodes, buffers and body); pyarrow reads it with
//! `RecordBatchStreamReader.read_next_batch_with_custom_metadata()`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::convert::{metadata_to_fb, IpcSchemaEncoder};
use arrow_ipc::reader::read_record_batch;
use arrow_ipc::writer::{
    write_message, DictionaryTracker, EncodedData, IpcDataGenerator, IpcWriteContext, IpcWriteOptions, StreamWriter,
};
use arrow_ipc::{FieldNode, MessageBuilder, MessageHeader, RecordBatchBuilder};
use arrow_schema::{ArrowError, Metadata, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::encode::BatchEncoder;
use super::hash::Crc32;
use super::manifest::output;
use super::png::ImageOut;
use super::schema::{schema_hash, update_value_crc, OutputSchema, META_SCHEMA_HASH};
use crate::batch::Batch;
use crate::error::{Error, ErrorKind, Result};
use crate::spec::DataSpec;

/// Message custom-metadata key of the trailer.
pub const TRAILER_KEY: &str = "shardmix.trailer";
/// The `algorithm` value of a [`Trailer`].
pub const TRAILER_ALGORITHM: &str = "crc32-values";

/// Largest message header the verifying reader accepts (bytes).
const MAX_HEADER: usize = 64 << 20;

/// What the trailer of a stream says; written by [`IpcSink::finish`], checked by [`read_verified_stream`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// Data rows in the stream.
    pub rows: u64,
    /// Data batches in the stream.
    pub batches: u64,
    /// CRC-32 of the feature and target values, 8 lower-case hex digits.
    pub checksum: String,
    /// Always [`TRAILER_ALGORITHM`].
    pub algorithm: String,
}

/// Writes pipeline batches as an Arrow IPC stream with a trailer.
///
/// Give it a buffered writer (as [`StreamTarget::accept`](crate::StreamTarget::accept)
/// returns): the sink flushes after every batch so that the reader gets each batch at once.
///
/// # Example
/// ```
/// use shardmix::{read_verified_stream, Batch, DataSpec, FeatureLayout, IpcSink, TargetKind};
/// let spec = DataSpec {
///     features: FeatureLayout::List { column: "x".into(), len: 2 },
///     target: TargetKind::None,
///     feature_shape: None,
///     pixels: shardmix::Pixels::F32,
/// };
/// let mut bytes = Vec::new();
/// let mut sink = IpcSink::new(&mut bytes, "memory", &spec, false)?;
/// sink.write(&Batch::new(0, ndarray::array![[1.0f32, 2.0], [3.0, 4.0]], None, vec![0, 1])?)?;
/// let trailer = sink.finish()?;
/// assert_eq!((trailer.rows, trailer.batches), (2, 1));
/// let (batches, read) = read_verified_stream(bytes.as_slice())?;
/// assert_eq!(batches.len(), 1);
/// assert_eq!(read, trailer);
/// // A stream cut short fails verification.
/// assert!(read_verified_stream(&bytes[..bytes.len() - 8]).is_err());
/// # Ok::<(), shardmix::Error>(())
/// ```
pub struct IpcSink<W: Write> {
    writer: StreamWriter<W>,
    schema: OutputSchema,
    target: String,
    rows: u64,
    batches: u64,
    crc: Crc32,
    options: IpcWriteOptions,
    /// The reused allocation of a column layout's transposed features.
    scratch: Vec<f32>,
    /// The encoder of data batches; `None` for PNG images (encoded through arrow-rs).
    encoder: Option<BatchEncoder>,
}

impl<W: Write> IpcSink<W> {
    /// Start a stream on `writer`: writes and flushes the schema message. `target` names the destination
    /// in errors (`-`, `tcp:127.0.0.1:7000`, a path); `provenance` adds the provenance columns.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a spec that cannot be written; a write error as in
    /// [`write`](Self::write).
    pub fn new(writer: W, target: &str, spec: &DataSpec, provenance: bool) -> Result<Self> {
        Self::with_image_out(writer, target, spec, provenance, ImageOut::Tensor)
    }

    /// [`new`](Self::new) with the features written as `image_out` says: with
    /// [`ImageOut::Png`] one column in Hugging Face's `Image` layout (a struct `{bytes, path}`
    /// of PNG files, as `augment --image-out png` writes; see
    /// [`OutputSchema::with_image_out`]). The trailer's checksum then covers each row's PNG
    /// bytes in place of the feature values.
    ///
    /// # Errors
    /// As [`new`](Self::new); for PNG, [`ErrorKind::Config`] naming `image_out` when the spec
    /// has no `[H, W, C]` feature shape with 1 to 4 channels.
    pub fn with_image_out(
        writer: W,
        target: &str,
        spec: &DataSpec,
        provenance: bool,
        image_out: ImageOut,
    ) -> Result<Self> {
        let schema = OutputSchema::with_image_out(spec, provenance, image_out)?;
        let options = IpcWriteOptions::default();
        let writer = StreamWriter::try_new_with_options(writer, schema.schema(), options.clone())
            .and_then(|mut w| w.flush().map(|()| w))
            .map_err(|e| write_error(target, 0, 0, e))?;
        let encoder = BatchEncoder::new(&schema);
        Ok(IpcSink {
            writer,
            encoder,
            schema,
            target: target.to_string(),
            rows: 0,
            batches: 0,
            crc: Crc32::new(),
            options,
            scratch: Vec::new(),
        })
    }

    /// The output schema.
    pub fn schema(&self) -> &OutputSchema {
        &self.schema
    }

    /// Data rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Data batches written so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Write one pipeline batch as one record batch, and flush.
    ///
    /// # Errors
    /// [`ErrorKind::Shape`] for a batch that does not fit the spec; [`ErrorKind::Disconnected`]
    /// when the reader went away (broken pipe, connection reset) and
    /// [`ErrorKind::SendTimeout`] when a send timeout
    /// ([`StreamTarget::send_timeout`](crate::StreamTarget::send_timeout)) expired;
    /// [`ErrorKind::Io`] for another write error.
    pub fn write(&mut self, batch: &Batch) -> Result<()> {
        let Some(encoder) = &mut self.encoder else {
            let rb = self.schema.to_record_batch(batch)?;
            return self.write_record_batch(rb);
        };
        let (rows, batches) = (self.rows, self.batches);
        // The CRC so far is kept until the batch is written.
        let mut crc = self.crc;
        let message = encoder.encode(&self.schema, batch, &mut crc)?;
        let w = self.writer.get_mut();
        w.write_all(message)
            .and_then(|()| w.flush())
            .map_err(|e| write_error(&self.target, batches, rows, ArrowError::from(e)))?;
        self.crc = crc;
        self.rows += batch.rows() as u64;
        self.batches += 1;
        Ok(())
    }

    /// [`write`](Self::write) taking the batch by value (what `shardmix stream` uses): the
    /// same bytes; for PNG images the batch's buffers become the image column's input without a copy.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn write_owned(&mut self, batch: Batch) -> Result<()> {
        if self.encoder.is_some() {
            return self.write(&batch);
        }
        let scratch = std::mem::take(&mut self.scratch);
        let (rb, reclaim) = self.schema.to_record_batch_owned(batch, scratch)?;
        self.write_record_batch(rb)?;
        // The record batch is gone: its transposed features' allocation is ours again.
        if let Some(Ok(v)) = reclaim.map(|b| b.into_vec::<f32>()) {
            self.scratch = v;
        }
        Ok(())
    }

    fn write_record_batch(&mut self, rb: RecordBatch) -> Result<()> {
        let (rows, batches) = (self.rows, self.batches);
        self.writer
            .write(&rb)
            .and_then(|()| self.writer.flush())
            .map_err(|e| write_error(&self.target, batches, rows, e))?;
        update_value_crc(&mut self.crc, &rb);
        self.rows += rb.num_rows() as u64;
        self.batches += 1;
        Ok(())
    }

    /// Write the trailer and the end-of-stream marker, flush, and return the trailer.
    /// Dropping the sink without `finish` leaves a stream without a trailer, which
    /// verifying readers reject.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn finish(mut self) -> Result<Trailer> {
        let trailer = Trailer {
            rows: self.rows,
            batches: self.batches,
            checksum: format!("{:08x}", self.crc.value()),
            algorithm: TRAILER_ALGORITHM.to_string(),
        };
        let json = serde_json::to_string(&trailer).map_err(|e| output(&self.target, e))?;
        let (rows, batches) = (self.rows, self.batches);
        let result = trailer_message(self.schema.schema(), &json, &self.options)
            .and_then(|msg| write_message(self.writer.get_mut(), msg, &self.options))
            .and_then(|_| self.writer.finish());
        result.map_err(|e| write_error(&self.target, batches, rows, e))?;
        Ok(trailer)
    }
}

/// A stream that is not a complete shardmix stream.
fn bad_stream(message: impl std::fmt::Display) -> Error {
    ErrorKind::BadStream { message: message.to_string() }.into()
}

/// A typed error for a failed stream write.
fn write_error(target: &str, batches: u64, rows: u64, e: ArrowError) -> Error {
    match e {
        ArrowError::IoError(_, io) => match io.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected => {
                ErrorKind::Disconnected { target: target.to_string(), batches, rows, source: io }.into()
            }
            io::ErrorKind::TimedOut => {
                ErrorKind::SendTimeout { target: target.to_string(), batches, rows, source: io }.into()
            }
            _ => Error::io(target, io),
        },
        source => ErrorKind::Arrow { context: format!("writing the IPC stream to {target}"), source }.into(),
    }
}

/// The trailer: a zero-row record batch message carrying `json` as custom metadata.
fn trailer_message(
    schema: &SchemaRef,
    json: &str,
    options: &IpcWriteOptions,
) -> std::result::Result<EncodedData, ArrowError> {
    let empty = RecordBatch::new_empty(schema.clone());
    let (_dicts, encoded) = IpcDataGenerator::default().encode(
        &empty,
        &mut DictionaryTracker::new(false),
        options,
        &mut IpcWriteContext::default(),
    )?;
    let message = arrow_ipc::root_as_message(&encoded.ipc_message)
        .map_err(|e| ArrowError::IpcError(format!("re-reading the trailer header: {e}")))?;
    let rb = message
        .header_as_record_batch()
        .ok_or_else(|| ArrowError::IpcError("trailer header is not a record batch".into()))?;
    let nodes: Vec<FieldNode> = rb.nodes().map(|v| v.iter().copied().collect()).unwrap_or_default();
    let buffers: Vec<arrow_ipc::Buffer> = rb.buffers().map(|v| v.iter().copied().collect()).unwrap_or_default();
    let body_len = message.bodyLength();
    let version = message.version();
    // `IpcSchemaEncoder` hands out a FlatBufferBuilder without naming the flatbuffers crate.
    let mut fbb = IpcSchemaEncoder::new().schema_to_fb(&Schema::empty());
    fbb.reset();
    let nodes = fbb.create_vector(&nodes);
    let buffers = fbb.create_vector(&buffers);
    let mut metadata = Metadata::new();
    metadata.insert(TRAILER_KEY, json);
    let custom = metadata_to_fb(&mut fbb, &metadata);
    let mut rbb = RecordBatchBuilder::new(&mut fbb);
    rbb.add_length(0);
    rbb.add_nodes(nodes);
    rbb.add_buffers(buffers);
    let rb = rbb.finish();
    let mut mb = MessageBuilder::new(&mut fbb);
    mb.add_version(version);
    mb.add_header_type(MessageHeader::RecordBatch);
    mb.add_bodyLength(body_len);
    mb.add_header(rb.as_union_value());
    mb.add_custom_metadata(custom);
    let root = mb.finish();
    fbb.finish(root, None);
    Ok(EncodedData { ipc_message: fbb.finished_data().to_vec(), arrow_data: encoded.arrow_data })
}

/// Read a whole stream written by [`IpcSink`] and verify it: every message complete, the
/// end-of-stream marker present, the schema hash consistent, the trailer present as the last
/// batch, and its rows, batches and checksum equal to what was read. Returns the data
/// batches (without the trailer) and the trailer.
///
/// # Errors
/// [`ErrorKind::Output`] naming what is wrong (truncated inside message N, no trailer, a
/// count or checksum mismatch, ...); [`ErrorKind::Arrow`] when a message cannot be decoded;
/// [`ErrorKind::Io`] for a read error.
pub fn read_verified_stream<R: Read>(mut r: R) -> Result<(Vec<RecordBatch>, Trailer)> {
    const WHAT: &str = "IPC stream";
    let mut schema: Option<SchemaRef> = None;
    let mut batches = Vec::new();
    let mut trailer: Option<Trailer> = None;
    let (mut rows, mut crc) = (0u64, Crc32::new());
    let mut index = 0usize;
    loop {
        let mut prefix = [0u8; 4];
        read_full(&mut r, &mut prefix, index, "its length prefix")?;
        let mut header = prefix.to_vec();
        if prefix == [0xff; 4] {
            read_full(&mut r, &mut prefix, index, "its length prefix")?;
            header.extend_from_slice(&prefix);
        }
        let len = i32::from_le_bytes(prefix);
        if len == 0 {
            break; // end-of-stream marker
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_HEADER)
            .ok_or_else(|| bad_stream(format!("message {index}: bad header length {len}")))?;
        let start = header.len();
        header.resize(start + len, 0);
        read_full(&mut r, &mut header[start..], index, "its header")?;
        let message = arrow_ipc::root_as_message(&header[start..])
            .map_err(|e| bad_stream(format!("message {index}: corrupt header: {e}")))?;
        let body_len = u64::try_from(message.bodyLength())
            .map_err(|_| bad_stream(format!("message {index}: negative body length")))?;
        let trailer_json = (message.header_type() == MessageHeader::RecordBatch)
            .then(|| message.custom_metadata())
            .flatten()
            .and_then(|kvs| {
                kvs.iter().find(|kv| kv.key() == Some(TRAILER_KEY)).and_then(|kv| kv.value().map(str::to_string))
            });
        let mut body = Vec::new();
        (&mut r).take(body_len).read_to_end(&mut body).map_err(|e| Error::io(WHAT, e))?;
        if body.len() as u64 != body_len {
            return Err(truncated(index, "its body"));
        }
        let arrow_err = |source: ArrowError| -> Error {
            ErrorKind::Arrow { context: format!("decoding message {index} of the IPC stream"), source }.into()
        };
        let mut decoded = None;
        match (message.header_type(), &schema) {
            (MessageHeader::Schema, None) => {
                let fb = message.header_as_schema().ok_or_else(|| bad_stream("message 0: unreadable schema"))?;
                let sch = Arc::new(try_fb_to_schema(fb).map_err(arrow_err)?);
                check_schema_hash(&sch)?;
                schema = Some(sch);
            }
            (MessageHeader::RecordBatch, Some(sch)) => {
                let fb = message
                    .header_as_record_batch()
                    .ok_or_else(|| bad_stream(format!("message {index}: unreadable batch")))?;
                let rb = read_record_batch(
                    &Buffer::from_vec(body),
                    fb,
                    sch.clone(),
                    &HashMap::new(),
                    None,
                    &message.version(),
                )
                .map_err(arrow_err)?;
                decoded = Some(rb);
            }
            (t, _) => {
                return Err(bad_stream(format!(
                    "message {index}: unexpected {} message",
                    t.variant_name().unwrap_or("unknown")
                )))
            }
        }
        if let Some(rb) = decoded {
            if trailer.is_some() {
                return Err(bad_stream(format!("message {index}: a batch after the trailer")));
            }
            if let Some(json) = trailer_json {
                let t: Trailer =
                    serde_json::from_str(&json).map_err(|e| bad_stream(format!("unreadable trailer: {e}")))?;
                if rb.num_rows() != 0 {
                    return Err(bad_stream("the trailer batch has rows"));
                }
                trailer = Some(t);
            } else {
                update_value_crc(&mut crc, &rb);
                rows += rb.num_rows() as u64;
                batches.push(rb);
            }
        }
        index += 1;
    }
    let Some(t) = trailer else {
        return Err(bad_stream(format!(
            "no trailer after {} batches ({rows} rows): the stream was cut short, or not written by shardmix",
            batches.len()
        )));
    };
    if t.algorithm != TRAILER_ALGORITHM {
        return Err(bad_stream(format!("unknown trailer checksum '{}'", t.algorithm)));
    }
    let found = format!("{:08x}", crc.value());
    if t.rows != rows || t.batches != batches.len() as u64 || t.checksum != found {
        return Err(bad_stream(
            format!(
                "trailer says {} rows in {} batches with checksum {}, the stream has {rows} rows in {} batches with checksum {found}",
                t.rows,
                t.batches,
                t.checksum,
                batches.len()
            ),
        ));
    }
    Ok((batches, t))
}

fn check_schema_hash(schema: &Schema) -> Result<()> {
    let want = schema_hash(schema.fields());
    match schema.metadata().get(META_SCHEMA_HASH) {
        Some(h) if *h == want => Ok(()),
        Some(h) => Err(bad_stream(format!("schema hash {h} does not match its fields ({want})"))),
        None => Err(bad_stream(format!("the schema has no '{META_SCHEMA_HASH}': not written by shardmix"))),
    }
}

fn truncated(index: usize, part: &str) -> Error {
    bad_stream(format!("truncated: the stream ends in message {index} ({part}) before the end-of-stream marker"))
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8], index: usize, part: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            truncated(index, part)
        } else {
            Error::io("IPC stream", e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{FeatureLayout, TargetKind};
    use arrow_ipc::reader::StreamReader;
    use ndarray::array;

    fn spec() -> DataSpec {
        DataSpec {
            features: FeatureLayout::Columns(vec!["a".into(), "b".into()]),
            target: TargetKind::Class { column: "y".into(), num_classes: 2 },
            feature_shape: None,
            pixels: Default::default(),
        }
    }

    fn stream(n: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut sink = IpcSink::new(&mut bytes, "mem", &spec(), true).unwrap();
        for s in 0..n {
            let b = Batch::new(
                s,
                array![[s as f32, 1.0], [2.0, 3.0]],
                Some(array![[1.0f32, 0.0], [0.0, 1.0]]),
                vec![2 * s, 2 * s + 1],
            )
            .unwrap();
            sink.write(&b).unwrap();
        }
        sink.finish().unwrap();
        bytes
    }

    #[test]
    fn plain_arrow_reader_sees_only_data_rows() {
        let bytes = stream(3);
        let reader = StreamReader::try_new(bytes.as_slice(), None).unwrap();
        let rows: Vec<usize> = reader.map(|b| b.unwrap().num_rows()).collect();
        assert_eq!(rows, vec![2, 2, 2, 0]); // the trailer is a zero-row batch
        let (batches, t) = read_verified_stream(bytes.as_slice()).unwrap();
        assert_eq!(batches.len(), 3);
        assert_eq!((t.rows, t.batches), (6, 3));
    }

    #[test]
    fn whole_stream_is_the_arrow_rs_writers_bytes() {
        // What the sink wrote before it had its own encoder: arrow-rs's StreamWriter for every
        // batch, then the same trailer and end-of-stream marker.
        let schema = OutputSchema::new(&spec(), true).unwrap();
        let options = IpcWriteOptions::default();
        let mut w = StreamWriter::try_new_with_options(Vec::new(), schema.schema(), options.clone()).unwrap();
        let mut crc = Crc32::new();
        for s in 0..3u64 {
            let b = Batch::new(
                s,
                array![[s as f32, 1.0], [2.0, 3.0]],
                Some(array![[1.0f32, 0.0], [0.0, 1.0]]),
                vec![2 * s, 2 * s + 1],
            )
            .unwrap();
            let rb = schema.to_record_batch(&b).unwrap();
            update_value_crc(&mut crc, &rb);
            w.write(&rb).unwrap();
        }
        let trailer = Trailer {
            rows: 6,
            batches: 3,
            checksum: format!("{:08x}", crc.value()),
            algorithm: TRAILER_ALGORITHM.to_string(),
        };
        let json = serde_json::to_string(&trailer).unwrap();
        write_message(w.get_mut(), trailer_message(schema.schema(), &json, &options).unwrap(), &options).unwrap();
        w.finish().unwrap();
        assert!(stream(3) == w.get_ref().as_slice(), "the stream's bytes changed");
    }

    #[test]
    fn a_changed_value_fails_the_checksum() {
        let mut bytes = stream(2);
        // Find the bytes of 1.0f32 (feature b of row 0, batch 0) and change one to 5.0.
        let one = 1.0f32.to_le_bytes();
        let five = 5.0f32.to_le_bytes();
        let schema_len = {
            let (_, rest) = bytes.split_at(4);
            i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize + 8
        };
        let pos = bytes[schema_len..].windows(4).rposition(|w| w == one).map(|p| p + schema_len).unwrap();
        bytes[pos..pos + 4].copy_from_slice(&five);
        let err = read_verified_stream(bytes.as_slice()).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn disconnect_is_a_typed_error() {
        struct Broken(usize);
        impl Write for Broken {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::from(io::ErrorKind::BrokenPipe));
                }
                self.0 -= 1;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        // The schema message is written, then the pipe breaks.
        let mut sink = IpcSink::new(Broken(usize::MAX), "tcp:127.0.0.1:1", &spec(), false).unwrap();
        sink.writer.get_mut().0 = 0;
        let b = Batch::new(0, array![[0.0f32, 1.0]], Some(array![[1.0f32, 0.0]]), vec![0]).unwrap();
        let err = sink.write(&b).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Disconnected { batches: 0, rows: 0, .. }), "{err:?}");
        assert!(err.to_string().starts_with("tcp:127.0.0.1:1"), "{err}");
        // After one batch (one write: the whole message), the error counts it.
        let mut sink = IpcSink::new(Broken(usize::MAX), "tcp:127.0.0.1:1", &spec(), false).unwrap();
        sink.writer.get_mut().0 = 1;
        sink.write(&b).unwrap();
        let err = sink.write(&b).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Disconnected { batches: 1, rows: 1, .. }), "{err:?}");
    }
}
