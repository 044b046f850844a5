//! The codecs whose pages the direct path reads raw and decompresses itself, into buffers it
//! reuses: Snappy (our own decoder, [`snappy`]) and Zstandard (libzstd, through
//! one decompression context per thread).
//!
//! Left to arrow-rs's page reader, every page is decompressed into a `Vec` allocated for it.
//! A page over 128 KiB (polars writes one page per column chunk, 512 KiB for 131,072 `f32`
//! rows) then comes from a fresh `mmap` and is zeroed by page faults as it is written, and each
//! column chunk creates its own Zstandard contexts: on polars' file that was a third of the
//! decode's time.
//!
//! A length is never taken from a page without a bound: the decompressed size a page's header
//! (Snappy) or frame (Zstandard) claims must fit in its column chunk's uncompressed size and in
//! what the page's values can take ([`page_bound`]), and the data must fill exactly that many
//! bytes.

use std::borrow::Cow;
use std::cell::RefCell;

use parquet::basic::{Compression, Type as PhysicalType};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::schema::types::ColumnDescriptor;
use zstd::zstd_safe;

use super::snappy;

/// The most bytes a page of `values` values (or levels) of `size` bytes can decompress to in
/// any encoding the direct path reads: a value's own bytes, at most 5 more for its dictionary
/// index (an RLE run of one: a 1-byte header and up to 4 value bytes), 2 for each of its two
/// levels (the same, of one byte), with slack; plus the levels' length prefixes, an index bit
/// width and bit-packing's padding. The codecs refuse a page claiming more before a buffer is
/// reserved for it, so a frame header of a few bytes cannot reserve the column chunk's whole
/// claimed size (up to [`DEFAULT_MAX_COLUMN_CHUNK_BYTES`](crate::DEFAULT_MAX_COLUMN_CHUNK_BYTES)).
pub(crate) fn page_bound(values: usize, size: usize) -> usize {
    values.saturating_mul(size.saturating_add(20)).saturating_add(256)
}

/// The most bytes `compressed` bytes can decompress to under `codec`, for the codecs whose
/// expansion is bounded: Snappy (a 3-byte copy writes at most 64 bytes: 21⅓×) and LZ4 (each
/// length byte adds at most 255), with slack. These are also the codecs whose arrow-rs
/// decoders zero-fill the size a page claims before decompressing into it. `None` for the
/// others: Gzip, Brotli and Zstandard can expand far more (a Zstandard RLE block writes
/// 128 KiB from 4 bytes), and arrow-rs grows their output as it is written.
pub(crate) fn expansion_bound(codec: Compression, compressed: usize) -> Option<usize> {
    let ratio = match codec {
        Compression::SNAPPY => 22,
        Compression::LZ4 | Compression::LZ4_RAW => 256,
        _ => return None,
    };
    Some(compressed.saturating_mul(ratio).saturating_add(64))
}

/// The bytes of one value of column `descr` as stored (a fixed-length byte array's type
/// length; one byte for a boolean), for [`page_bound`]; `None` for a byte array, whose values
/// have no fixed size.
pub(crate) fn value_size(descr: &ColumnDescriptor) -> Option<usize> {
    match descr.physical_type() {
        PhysicalType::BOOLEAN => Some(1),
        PhysicalType::INT32 | PhysicalType::FLOAT => Some(4),
        PhysicalType::INT64 | PhysicalType::DOUBLE => Some(8),
        PhysicalType::INT96 => Some(12),
        PhysicalType::FIXED_LEN_BYTE_ARRAY => usize::try_from(descr.type_length()).ok(),
        PhysicalType::BYTE_ARRAY => None,
    }
}

/// A codec read raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawCodec {
    Snappy,
    Zstd,
}

impl RawCodec {
    /// The raw codec for a column chunk's compression, if it is read raw.
    pub fn of(compression: Compression) -> Option<Self> {
        match compression {
            Compression::SNAPPY => Some(RawCodec::Snappy),
            Compression::ZSTD(_) => Some(RawCodec::Zstd),
            _ => None,
        }
    }

    /// The size of a page `raw` whose bytes after `keep` (the uncompressed levels of a v2 page
    /// come first) are compressed, once decompressed; `None` when the compressed data's header
    /// is invalid, claims more than `max_page` bytes in all, or (Zstandard) does not say (a
    /// frame written without its content size: arrow-rs decodes that block then).
    pub fn len(self, raw: &[u8], keep: usize, max_page: usize) -> Option<usize> {
        let data = raw.get(keep..)?;
        let len = match self {
            RawCodec::Snappy => {
                snappy::len(data).filter(|&len| Some(len) <= expansion_bound(Compression::SNAPPY, data.len()))?
            }
            RawCodec::Zstd => usize::try_from(zstd_safe::get_frame_content_size(data).ok()??).ok()?,
        };
        keep.checked_add(len).filter(|&all| all <= max_page)
    }

    /// [`len`](Self::len) for a page of `values` values of `size` bytes: at most
    /// [`page_bound`] too.
    pub fn page_len(self, raw: &[u8], keep: usize, max_page: usize, values: usize, size: usize) -> Option<usize> {
        self.len(raw, keep, max_page.min(page_bound(values, size)))
    }

    /// `raw[..keep]` then `raw[keep..]` decompressed into `out`, which must be
    /// [`len`](Self::len) bytes long; `None` when the data does not fill it exactly.
    pub fn decompress_into(self, raw: &[u8], keep: usize, out: &mut [u8]) -> Option<()> {
        let (levels, values) = out.split_at_mut_checked(keep)?;
        levels.copy_from_slice(raw.get(..keep)?);
        let data = raw.get(keep..)?;
        match self {
            RawCodec::Snappy => snappy::decompress(data, values),
            RawCodec::Zstd => zstd_into(data, values),
        }
    }
}

/// The codec a column chunk's pages are read raw with, if any, and the metadata to open its
/// page reader with: for a raw codec, the chunk's own with its compression set to
/// `UNCOMPRESSED`, so that arrow-rs's reader hands the pages over as stored. `None` when that
/// metadata cannot be rebuilt.
pub(crate) fn raw_pages(meta: &ColumnChunkMetaData) -> Option<(Option<RawCodec>, Cow<'_, ColumnChunkMetaData>)> {
    match RawCodec::of(meta.compression()) {
        None => Some((None, Cow::Borrowed(meta))),
        codec => {
            let raw = meta.clone().into_builder().set_compression(Compression::UNCOMPRESSED).build().ok()?;
            Some((codec, Cow::Owned(raw)))
        }
    }
}

thread_local! {
    /// This thread's Zstandard decompression context, made once (libzstd allocates and sets up
    /// over 100 KiB for one).
    static ZSTD: RefCell<Option<zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

/// Decompress the Zstandard frames `data` into all of `out`; `None` on an error or when they
/// decompress to fewer bytes (more fail in libzstd: the output has no room).
fn zstd_into(data: &[u8], out: &mut [u8]) -> Option<()> {
    ZSTD.with(|slot| {
        let mut slot = slot.try_borrow_mut().ok()?;
        let dctx = match &mut *slot {
            Some(d) => d,
            empty => empty.insert(zstd_safe::DCtx::try_create()?),
        };
        let written = dctx.decompress(out, data).ok()?;
        (written == out.len()).then_some(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd_frame(data: &[u8]) -> Vec<u8> {
        zstd::bulk::compress(data, 3).unwrap()
    }

    #[test]
    fn zstd_pages_round_trip_with_their_levels_kept() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let mut raw = vec![7u8, 8, 9];
        raw.extend(zstd_frame(&data));
        let len = RawCodec::Zstd.len(&raw, 3, 1 << 20).unwrap();
        assert_eq!(len, 3 + data.len());
        let mut out = vec![0u8; len];
        RawCodec::Zstd.decompress_into(&raw, 3, &mut out).unwrap();
        assert_eq!(&out[..3], &[7, 8, 9]);
        assert_eq!(&out[3..], &data[..]);
        // The same again on this thread's context, and for another page after it.
        let mut again = vec![1u8; len];
        RawCodec::Zstd.decompress_into(&raw, 3, &mut again).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn a_zstd_claim_over_the_chunk_or_not_made_is_refused() {
        let frame = zstd_frame(&[5u8; 4096]);
        assert_eq!(RawCodec::Zstd.len(&frame, 0, 4096), Some(4096));
        assert_eq!(RawCodec::Zstd.len(&frame, 0, 4095), None, "over the chunk's uncompressed size");
        assert_eq!(RawCodec::Zstd.len(&frame, 1, 4096), None, "levels included");
        assert_eq!(RawCodec::Zstd.len(&frame[..3], 0, 1 << 20), None, "a cut header");
        assert_eq!(RawCodec::Zstd.len(b"not zstd at all", 0, 1 << 20), None);
        // A streamed frame that does not say its size: left to arrow-rs.
        let mut streamed = Vec::new();
        // (No size pledged: the frame header cannot hold one.)
        let mut encoder = zstd::stream::Encoder::new(&mut streamed, 3).unwrap();
        std::io::Write::write_all(&mut encoder, &[5u8; 4096]).unwrap();
        encoder.finish().unwrap();
        assert_eq!(RawCodec::Zstd.len(&streamed, 0, 1 << 20), None);
    }

    #[test]
    fn a_page_may_not_claim_more_than_its_values_can_take() {
        // A frame of a few bytes claiming 64 MiB of zeros, in a chunk that claims 1 GiB.
        let bomb = zstd_frame(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 4096);
        assert_eq!(RawCodec::Zstd.len(&bomb, 0, 1 << 30), Some(64 << 20));
        assert_eq!(RawCodec::Zstd.page_len(&bomb, 0, 1 << 30, 1_000, 4), None, "1,000 values");
        assert_eq!(RawCodec::Zstd.page_len(&bomb, 0, 1 << 30, 16 << 20, 4), Some(64 << 20), "16 Mi values");
        // Snappy alike: a preamble claiming 1 MiB, with enough data to expand to it (a 3-byte
        // copy writes at most 64 bytes).
        let mut claim = vec![0x80u8, 0x80, 0x40];
        claim.resize(1 << 20 >> 4, 0);
        assert_eq!(RawCodec::Snappy.len(&claim, 0, 1 << 30), Some(1 << 20));
        assert_eq!(RawCodec::Snappy.page_len(&claim, 0, 1 << 30, 100, 4), None);
        // Fewer bytes than that cannot.
        claim.truncate(1 << 20 >> 5);
        assert_eq!(RawCodec::Snappy.len(&claim, 0, 1 << 30), None);
        assert_eq!(expansion_bound(Compression::SNAPPY, 3), Some(130));
        assert_eq!(expansion_bound(Compression::LZ4_RAW, 1), Some(320));
        assert_eq!(expansion_bound(Compression::GZIP(Default::default()), 1), None);
        assert_eq!(page_bound(0, 4), 256);
        assert_eq!(page_bound(usize::MAX, 4), usize::MAX);
    }

    #[test]
    fn zstd_data_that_does_not_fill_its_claim_exactly_is_refused() {
        let frame = zstd_frame(&[5u8; 4096]);
        assert!(RawCodec::Zstd.decompress_into(&frame, 0, &mut [0u8; 4096]).is_some());
        assert!(RawCodec::Zstd.decompress_into(&frame, 0, &mut [0u8; 4097]).is_none(), "short");
        assert!(RawCodec::Zstd.decompress_into(&frame, 0, &mut [0u8; 4095]).is_none(), "long");
        let mut corrupt = frame.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xff;
        corrupt.truncate(corrupt.len() - 2);
        assert!(RawCodec::Zstd.decompress_into(&corrupt, 0, &mut [0u8; 4096]).is_none(), "cut");
        assert!(RawCodec::Zstd.decompress_into(&frame, 10_000, &mut [0u8; 4096]).is_none(), "levels past the end");
    }

    #[test]
    fn only_snappy_and_zstd_are_read_raw() {
        use parquet::basic::{GzipLevel, ZstdLevel};
        assert_eq!(RawCodec::of(Compression::SNAPPY), Some(RawCodec::Snappy));
        assert_eq!(RawCodec::of(Compression::ZSTD(ZstdLevel::default())), Some(RawCodec::Zstd));
        assert_eq!(RawCodec::of(Compression::UNCOMPRESSED), None);
        assert_eq!(RawCodec::of(Compression::GZIP(GzipLevel::default())), None);
    }
}
