//! [`ObjectSource`]: one object of a store as a [`ByteSource`] — range reads pinned to the
//! ETag and size seen at open, the footer served from one speculative tail read, column chunks
//! fetched by coalesced ranges with several requests in flight.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore};

use super::runtime::{Blocking, TIMEOUT_ENV};
use crate::source::bytes::{ByteSource, Changed};

/// How much of an object's end is fetched when it is opened: a Parquet footer and its page
/// index usually fit, so opening a shard takes one request (with 64 KiB, the 66 KB page index
/// of dataset (a)'s shards cost two more round trips per shard).
pub const TAIL_BYTES: u64 = 256 << 10;

/// Ranges closer than this are fetched by one request (the gap is read and dropped).
pub const COALESCE_GAP: u64 = 1 << 20;

/// Requests of one [`ByteSource::read_ranges`] call in flight at once, by default.
pub const PARALLEL_REQUESTS: usize = 8;

/// The environment variable that sets the requests in flight per read (1 to 64; default
/// [`PARALLEL_REQUESTS`]); 1 turns the read-ahead inside a block's reads off.
pub const REQUESTS_ENV: &str = "SHARDMIX_STORE_REQUESTS";

/// [`REQUESTS_ENV`], or [`PARALLEL_REQUESTS`] when it is unset.
///
/// # Errors
/// [`crate::ErrorKind::Config`] for a value outside 1..=64.
pub(crate) fn requests_from_env() -> crate::error::Result<usize> {
    match std::env::var(REQUESTS_ENV) {
        Err(_) => Ok(PARALLEL_REQUESTS),
        Ok(v) => {
            v.trim().parse::<usize>().ok().filter(|n| (1..=64).contains(n)).ok_or_else(|| {
                crate::error::Error::config(REQUESTS_ENV, format!("'{v}' is not a whole number in 1..=64"))
            })
        }
    }
}

/// Requests larger than this are split, so that one large column chunk is fetched by several
/// requests in flight together.
pub const SPLIT_BYTES: u64 = 4 << 20;

/// One object, as seen when it was opened.
pub(crate) struct ObjectSource {
    name: PathBuf,
    store: Arc<dyn ObjectStore>,
    key: Key,
    rt: Arc<Blocking>,
    /// Requests in flight per read.
    parallel: usize,
    len: u64,
    /// The ETag at open: every later read asks for it (`If-Match`) and checks the answer's.
    etag: Option<String>,
    /// The object's last [`TAIL_BYTES`] from the open: (offset, bytes). Released once the
    /// footer is read ([`ByteSource::footer_read`]) or by the first read it cannot serve, so an
    /// open set of thousands of shards does not hold a tail each.
    tail: Mutex<Option<(u64, Bytes)>>,
}

impl std::fmt::Debug for ObjectSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSource")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("etag", &self.etag)
            .finish()
    }
}

/// An `object_store` error as an I/O error; a failed precondition or a vanished object is
/// [`Changed`].
pub(crate) fn io_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::Precondition { .. } => io::Error::other(Changed(
            "the object changed since it was opened: its ETag no longer matches (it was replaced)".into(),
        )),
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        other => {
            // A request that timed out (its last retry's, when the retries ran out first) says
            // which bound to raise.
            let timed_out = std::iter::successors(Some(&other as &dyn std::error::Error), |e| e.source())
                .any(|e| e.to_string().to_ascii_lowercase().contains("timed out"));
            if timed_out {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{other} (the store did not answer in time: set {TIMEOUT_ENV} to change the bound)"),
                )
            } else {
                io::Error::other(other.to_string())
            }
        }
    }
}

impl ObjectSource {
    /// Open `key` of `store`: one request fetches the object's size, its ETag and its last
    /// [`TAIL_BYTES`].
    #[cfg_attr(not(test), allow(dead_code))] // the storage opens objects through `open_async`
    pub fn open(
        name: PathBuf,
        store: Arc<dyn ObjectStore>,
        key: Key,
        rt: Arc<Blocking>,
        parallel: usize,
    ) -> io::Result<Self> {
        let runtime = rt.clone();
        runtime.run(Self::open_async(name, store, key, rt, parallel))
    }

    /// [`ObjectSource::open`] as a future (many objects are opened concurrently).
    pub async fn open_async(
        name: PathBuf,
        store: Arc<dyn ObjectStore>,
        key: Key,
        rt: Arc<Blocking>,
        parallel: usize,
    ) -> io::Result<Self> {
        let options = GetOptions { range: Some(GetRange::Suffix(TAIL_BYTES)), ..GetOptions::default() };
        let (len, etag, tail) = match store.get_opts(&key, options).await {
            Ok(got) => {
                let (meta, range) = (got.meta.clone(), got.range.clone());
                let bytes = got.bytes().await.map_err(io_error)?;
                (meta.size, meta.e_tag, Some((range.start, bytes)))
            }
            Err(object_store::Error::NotFound { .. }) => {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such object"));
            }
            // An empty object has no suffix to give (416): ask for its size alone.
            Err(_) => {
                let meta = head(&*store, &key).await?;
                (meta.size, meta.e_tag, None)
            }
        };
        let tail = tail.filter(|(start, b)| start.checked_add(b.len() as u64) == Some(len));
        Ok(ObjectSource { name, store, key, rt, parallel, len, etag, tail: Mutex::new(tail) })
    }

    /// The ranges of `ranges` the tail holds, as slices of it; `None` where it does not. A
    /// read the tail cannot serve releases it.
    fn served_by_tail(&self, ranges: &[Range<u64>]) -> Vec<Option<Bytes>> {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let out: Vec<Option<Bytes>> = ranges
            .iter()
            .map(|r| {
                let (start, bytes) = tail.as_ref()?;
                (r.start >= *start).then(|| bytes.slice((r.start - start) as usize..(r.end - start) as usize))
            })
            .collect();
        if out.iter().any(Option::is_none) {
            *tail = None;
        }
        out
    }

    /// Fetch `ranges` (within the object, non-empty): neighbours coalesced, large runs split,
    /// `parallel` requests in flight, every one pinned to the ETag and size.
    fn fetch(&self, ranges: &[Range<u64>]) -> io::Result<Vec<Bytes>> {
        let mut sorted: Vec<Range<u64>> = ranges.to_vec();
        sorted.sort_by_key(|r| r.start);
        let mut runs: Vec<Range<u64>> = Vec::new();
        for r in sorted {
            match runs.last_mut() {
                Some(last) if r.start <= last.end.saturating_add(COALESCE_GAP) => last.end = last.end.max(r.end),
                _ => runs.push(r),
            }
        }
        let mut requests = Vec::new();
        for run in &runs {
            let mut at = run.start;
            while at < run.end {
                let end = run.end.min(at + SPLIT_BYTES);
                requests.push(at..end);
                at = end;
            }
        }
        let (store, key, etag, len, parallel) =
            (self.store.clone(), self.key.clone(), self.etag.clone(), self.len, self.parallel);
        let fetched: Vec<Vec<Bytes>> = self.rt.run(async move {
            futures_util::stream::iter(requests.into_iter().map(|r| {
                let (store, key, etag) = (store.clone(), key.clone(), etag.clone());
                async move { get_pinned(&*store, &key, r, etag, len).await }
            }))
            .buffered(parallel)
            .try_collect()
            .await
        })?;
        // Reassemble the runs (one copy of the body chunks, none when a run came in one), then
        // cut the asked ranges out of them.
        let mut pieces = fetched.into_iter();
        let mut run_bytes: Vec<(u64, Bytes)> = Vec::with_capacity(runs.len());
        for run in &runs {
            let n = (run.end - run.start).div_ceil(SPLIT_BYTES) as usize;
            let parts: Vec<Bytes> = pieces.by_ref().take(n).flatten().collect();
            let bytes = if parts.len() == 1 {
                parts.into_iter().next().unwrap_or_default()
            } else {
                let mut joined = Vec::new();
                joined
                    .try_reserve_exact((run.end - run.start) as usize)
                    .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
                parts.iter().for_each(|p| joined.extend_from_slice(p));
                Bytes::from(joined)
            };
            run_bytes.push((run.start, bytes));
        }
        Ok(ranges
            .iter()
            .map(|r| {
                let i = run_bytes.partition_point(|(start, _)| *start <= r.start) - 1;
                let (start, bytes) = &run_bytes[i];
                bytes.slice((r.start - start) as usize..(r.end - start) as usize)
            })
            .collect())
    }
}

/// HEAD `key` (a GET with `head`, through the object-safe `ObjectStore` trait).
pub(crate) async fn head(store: &dyn ObjectStore, key: &Key) -> io::Result<object_store::ObjectMeta> {
    let options = GetOptions { head: true, ..GetOptions::default() };
    store.get_opts(key, options).await.map(|got| got.meta).map_err(io_error)
}

/// GET `range` of `key`, with `If-Match: etag`; the answer's ETag, size and length checked too
/// (a server that ignores `If-Match` still cannot hand over another object's bytes). The body
/// comes back as the chunks it arrived in.
async fn get_pinned(
    store: &dyn ObjectStore,
    key: &Key,
    range: Range<u64>,
    etag: Option<String>,
    len: u64,
) -> io::Result<Vec<Bytes>> {
    let want = range.end - range.start;
    let options = GetOptions { range: Some(GetRange::Bounded(range)), if_match: etag.clone(), ..GetOptions::default() };
    let got: GetResult = match store.get_opts(key, options).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(io::Error::other(Changed(
                "the object changed since it was opened: it no longer exists".into(),
            )));
        }
        Err(e) => return Err(io_error(e)),
    };
    if got.meta.size != len {
        return Err(io::Error::other(Changed(format!(
            "the object changed since it was opened: it is now {} bytes, it was {len}",
            got.meta.size
        ))));
    }
    if let (Some(then), Some(now)) = (&etag, &got.meta.e_tag) {
        if then != now {
            return Err(io::Error::other(Changed(format!(
                "the object changed since it was opened: its ETag is now {now}, it was {then}"
            ))));
        }
    }
    // The body's chunks as they came (no copy here: the caller joins a run's pieces once).
    let mut chunks = Vec::new();
    let mut sent = 0u64;
    let mut body = got.into_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(io_error)?;
        sent += chunk.len() as u64;
        if sent > want {
            break;
        }
        chunks.push(chunk);
    }
    if sent != want {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the store sent {sent} bytes for a range of {want}"),
        ));
    }
    Ok(chunks)
}

/// `UnexpectedEof` for a range past the end of an object of `len` bytes.
fn past_end(range: &Range<u64>, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("bytes {}..{} are past the end of the object ({len} bytes)", range.start, range.end),
    )
}

impl ByteSource for ObjectSource {
    fn name(&self) -> &Path {
        &self.name
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn footer_read(&self) {
        *self.tail.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let range = offset..offset.saturating_add(buf.len() as u64);
        let got = self.read_ranges(std::slice::from_ref(&range))?;
        buf.copy_from_slice(&got[0]);
        Ok(())
    }

    fn read_ranges(&self, ranges: &[Range<u64>]) -> io::Result<Vec<Bytes>> {
        if let Some(r) = ranges.iter().find(|r| r.start > r.end || r.end > self.len) {
            return Err(past_end(r, self.len));
        }
        let mut out = self.served_by_tail(ranges);
        let missing: Vec<Range<u64>> =
            ranges.iter().zip(&out).filter(|(r, got)| got.is_none() && !r.is_empty()).map(|(r, _)| r.clone()).collect();
        let mut fetched = if missing.is_empty() { Vec::new() } else { self.fetch(&missing)? }.into_iter();
        for (r, slot) in ranges.iter().zip(out.iter_mut()) {
            if slot.is_none() {
                *slot = Some(if r.is_empty() { Bytes::new() } else { fetched.next().unwrap_or_default() });
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // lists of byte ranges, some of one
mod tests {
    //! The range bookkeeping (tail, coalescing, splitting, reassembly) and the pinning, on
    //! `object_store`'s in-memory backend; the S3 behaviour itself is tested against a real
    //! server in tests/object_store.rs.
    use super::*;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};
    use std::time::Duration;

    fn put(store: &InMemory, key: &Key, data: Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(store.put(key, PutPayload::from(data))).unwrap();
    }

    fn open(data: &[u8]) -> (Arc<InMemory>, Key, ObjectSource) {
        let store = Arc::new(InMemory::new());
        let key = Key::from("d/x.parquet");
        put(&store, &key, data.to_vec());
        let rt = Arc::new(Blocking::new(Duration::from_secs(10)).unwrap());
        let src = ObjectSource::open("mem://d/x.parquet".into(), store.clone(), key.clone(), rt, 3).unwrap();
        (store, key, src)
    }

    #[test]
    fn ranges_in_any_order_come_back_exact() {
        let data: Vec<u8> = (0..(3 * SPLIT_BYTES as usize + 200_000)).map(|i| (i * 7 % 251) as u8).collect();
        let (_, _, src) = open(&data);
        assert_eq!(src.len(), data.len() as u64);
        let n = data.len() as u64;
        let ranges = vec![
            n - 10..n,                             // in the tail
            5..9,                                  // coalesced with the next
            20..30_000,                            //
            9..9,                                  // empty
            3 * SPLIT_BYTES..3 * SPLIT_BYTES + 10, // far apart
            100..2 * SPLIT_BYTES + 77,             // split into several requests, overlapping others
        ];
        let got = src.read_ranges(&ranges).unwrap();
        for (r, b) in ranges.iter().zip(&got) {
            assert_eq!(&b[..], &data[r.start as usize..r.end as usize], "{r:?}");
        }
        let mut buf = vec![0u8; 1000];
        src.read_exact_at(123_456, &mut buf).unwrap();
        assert_eq!(&buf[..], &data[123_456..124_456]);
        let err = src.read_exact_at(n - 5, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_replaced_or_deleted_object_is_changed() {
        let data = vec![1u8; 300_000];
        let (store, key, src) = open(&data);
        assert_eq!(src.read_ranges(&[0..10]).unwrap()[0].len(), 10);
        put(&store, &key, vec![2u8; 300_000]);
        let err = src.read_ranges(&[0..10]).unwrap_err();
        assert!(err.get_ref().is_some_and(|e| e.is::<Changed>()), "{err}");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(store.delete(&key)).unwrap();
        let err = src.read_ranges(&[0..10]).unwrap_err();
        assert!(err.get_ref().is_some_and(|e| e.is::<Changed>()), "{err}");
    }

    #[test]
    fn the_tail_serves_the_footer_reads_until_the_footer_is_read() {
        let data: Vec<u8> = (0..(TAIL_BYTES as usize + 5000)).map(|i| (i % 251) as u8).collect();
        let (store, key, src) = open(&data);
        let n = data.len() as u64;
        // Another object behind it: reads the tail holds still give the bytes seen at open
        // (no request is made), reads past it see the change.
        put(&store, &key, vec![0u8; data.len()]);
        let tail = [n - TAIL_BYTES..n - TAIL_BYTES + 100, n - 8..n];
        let got = src.read_ranges(&tail).unwrap();
        for (r, b) in tail.iter().zip(&got) {
            assert_eq!(&b[..], &data[r.start as usize..r.end as usize]);
        }
        src.footer_read();
        let err = src.read_ranges(&[n - 8..n]).unwrap_err();
        assert!(err.get_ref().is_some_and(|e| e.is::<Changed>()), "the tail was not released: {err}");
    }
}
