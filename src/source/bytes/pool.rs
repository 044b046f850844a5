//! Recycled buffers for decoding: the compressed column chunks of a block and its decoded
//! `f32` rows.
//!
//! A decoded block of 65,536 rows × 64 features is 16 MiB. Allocated fresh for every block,
//! such buffers come straight from the kernel (glibc serves them with `mmap`), and the page
//! faults that zero them on first touch cost about as much as decoding the block. Blocks
//! return their buffers here when dropped, and the next block reuses them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The pools of one [`ShardSet`](crate::ShardSet), shared by its readers.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    /// Decoded features and targets.
    pub floats: BufferPool<f32>,
    /// Column-chunk bytes read from the files.
    pub bytes: BufferPool<u8>,
    /// Decoded `uint8` pixels (with `pixels = "uint8"`).
    pub pixels: BufferPool<u8>,
    /// Decompressed pages of the direct decode path (a page or two per column in flight).
    pub pages: BufferPool<u8>,
}

impl Pools {
    /// Pools of their own (for a reader outside any shard set, and tests).
    pub fn new() -> Arc<Self> {
        Arc::new(Pools {
            floats: BufferPool::bounded(BLOCK_BUFFERS, BLOCK_BUFFER_BYTES),
            bytes: BufferPool::bounded(BufferPool::<u8>::MAX_BUFFERS, CHUNK_BUFFER_BYTES),
            pixels: BufferPool::bounded(BufferPool::<u8>::MAX_BUFFERS, BLOCK_BUFFER_BYTES),
            pages: BufferPool::bounded(PAGE_BUFFERS, PAGE_BUFFER_BYTES),
        })
    }

    /// The pools of the process, shared by every [`ShardSet`](crate::ShardSet) opened in it:
    /// a shard set opened for each epoch (or each benchmark pass) reuses the buffers of the
    /// one before, instead of taking fresh pages from the kernel for every block of its first
    /// pass. What they hold is bounded (2 × [`BLOCK_BUFFER_BYTES`] + [`CHUNK_BUFFER_BYTES`] +
    /// [`PAGE_BUFFER_BYTES`], 320 MiB, in all, or a single larger buffer per pool; in
    /// practice what one pipeline's decode had in flight) and stays held, for the next
    /// reader, once the last shard set is dropped.
    ///
    /// A buffer larger than its pool's bound is kept only while a shard set holds a
    /// [`PoolLease`]: once the last one is dropped, the pools keep no more than their bounds.
    pub fn shared() -> Arc<Self> {
        SHARED.get_or_init(Pools::new).clone()
    }

    /// Drop every buffer above its pool's bound.
    fn trim(&self) {
        self.floats.trim();
        self.bytes.trim();
        self.pixels.trim();
        self.pages.trim();
    }
}

static SHARED: OnceLock<Arc<Pools>> = OnceLock::new();

/// Shard sets alive in the process (holders of a [`PoolLease`]).
static LEASES: AtomicUsize = AtomicUsize::new(0);

/// A shard set's hold on the [shared](Pools::shared) pools: while any lease lives, a pool may
/// keep one buffer above its bound (a block larger than the bound is reused rather than
/// faulted in afresh); when the last lease is dropped, such buffers are freed, so an idle
/// process holds at most the pools' bounds.
#[derive(Debug)]
pub(crate) struct PoolLease(());

impl PoolLease {
    pub fn new() -> Arc<Self> {
        LEASES.fetch_add(1, Ordering::SeqCst);
        Arc::new(PoolLease(()))
    }
}

impl Drop for PoolLease {
    fn drop(&mut self) {
        if LEASES.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Some(pools) = SHARED.get() {
                pools.trim();
            }
        }
    }
}

/// Decoded `f32` (or `uint8`) block buffers kept at most per pool: the features and targets
/// of four blocks.
const BLOCK_BUFFERS: usize = 8;

/// Bytes of decoded block buffers kept at most per pool (four blocks of 65,536 rows × 64
/// `f32` features, with their targets).
const BLOCK_BUFFER_BYTES: usize = 80 << 20;

/// Bytes of column-chunk buffers kept at most.
const CHUNK_BUFFER_BYTES: usize = 64 << 20;

/// Page buffers kept at most: enough for 3 pages in flight in each of 128 columns of two
/// row groups, with their dictionaries.
const PAGE_BUFFERS: usize = 1024;

/// Bytes of page buffers kept at most: the dictionaries of two row groups of 64 columns as
/// pyarrow writes them (512 KiB each) and their pages in flight. With 32 MiB, passes over
/// pyarrow's default file took 1.7–2× the page faults (with 64 MiB, 1.6×): dictionaries and
/// pages dropped to glibc, which gives them back to the kernel, then faulted in again.
const PAGE_BUFFER_BYTES: usize = 96 << 20;

/// Freed buffers kept for reuse, at most [`BufferPool::MAX_BUFFERS`] of them unless made
/// [`bounded`](BufferPool::bounded) otherwise.
#[derive(Debug)]
pub(crate) struct BufferPool<T> {
    free: Mutex<Vec<Vec<T>>>,
    max_buffers: usize,
    max_bytes: usize,
}

impl<T: Copy + Default> Default for BufferPool<T> {
    fn default() -> Self {
        BufferPool::bounded(Self::MAX_BUFFERS, usize::MAX)
    }
}

impl<T: Copy + Default> BufferPool<T> {
    /// Buffers kept at most by default (a block has two: features and targets). Memory held
    /// here is bounded by this many blocks' buffers.
    pub const MAX_BUFFERS: usize = 4;

    /// A pool keeping at most `max_buffers` buffers of at most `max_bytes` in all.
    pub fn bounded(max_buffers: usize, max_bytes: usize) -> Self {
        BufferPool { free: Mutex::new(Vec::new()), max_buffers, max_bytes }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<T>>> {
        // The list is valid whatever a panicking holder did (a push or a remove).
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A buffer of `len` values, each `T::default()` (for contents to be overwritten, see
    /// [`take_at_least`](Self::take_at_least)).
    pub fn take(&self, len: usize) -> Vec<T> {
        if len == 0 {
            return Vec::new();
        }
        match self.reuse(len) {
            Some(mut v) => {
                v.clear();
                v.resize(len, T::default());
                v
            }
            None => vec![T::default(); len],
        }
    }

    /// A buffer of at least `len` values, their contents unspecified (the caller overwrites
    /// what it uses). A reused buffer that is too short is grown to its whole capacity, so
    /// that the values past `len` are zeroed once in its life, not again each time a longer
    /// one is asked for (page buffers alternate between dictionaries and data pages).
    pub fn take_at_least(&self, len: usize) -> Vec<T> {
        if len == 0 {
            return Vec::new();
        }
        match self.reuse(len) {
            Some(mut v) => {
                grow_to_fit(&mut v, len);
                v
            }
            None => vec![T::default(); len],
        }
    }

    /// An empty buffer with room for `capacity` values, to be filled by extending (no value
    /// is written twice, and none is zeroed first).
    pub fn take_empty(&self, capacity: usize) -> Vec<T> {
        match self.reuse(capacity) {
            Some(mut v) => {
                v.clear();
                v
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// The smallest pooled buffer with room for `capacity` values (so that small requests do
    /// not take big buffers), removed from the pool.
    fn reuse(&self, capacity: usize) -> Option<Vec<T>> {
        let mut free = self.lock();
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= capacity)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| free.swap_remove(i))
    }

    /// Return a buffer; dropped instead when the pool is full (the smallest one goes). A
    /// buffer larger than the byte bound is kept only when the pool is empty, and then alone.
    pub fn give(&self, v: Vec<T>) {
        if v.capacity() == 0 {
            return;
        }
        let size = |v: &Vec<T>| v.capacity() * std::mem::size_of::<T>();
        let mut free = self.lock();
        if size(&v) > self.max_bytes {
            // Kept only alone, and only while a shard set is open: a block larger than the
            // bound (65,536 rows of 300+ features) is still reused, one buffer at a time,
            // rather than faulted in afresh for every block.
            if free.is_empty() && LEASES.load(Ordering::SeqCst) > 0 {
                free.push(v);
            }
            return;
        }
        free.push(v);
        let mut held: usize = free.iter().map(size).sum();
        while free.len() > 1 && (free.len() > self.max_buffers || held > self.max_bytes) {
            let Some(i) = free.iter().enumerate().min_by_key(|(_, v)| v.capacity()).map(|(i, _)| i) else { break };
            held -= size(&free.swap_remove(i));
        }
    }

    /// Drop every buffer above the byte bound.
    fn trim(&self) {
        let max = self.max_bytes;
        self.lock().retain(|v| v.capacity() * std::mem::size_of::<T>() <= max);
    }

    /// Bytes held for reuse.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.lock().iter().map(|v| v.capacity() * std::mem::size_of::<T>()).sum()
    }
}

/// Make `v` at least `len` long for contents to be overwritten: when it is shorter, grow it to
/// its whole capacity (or `len`), zeroing the new values once, so that a buffer reused for
/// pages of varying sizes is not zeroed again each time a longer one comes.
pub(crate) fn grow_to_fit<T: Copy + Default>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize(v.capacity().max(len), T::default());
    }
}

/// A pooled byte buffer as the owner of a [`bytes::Bytes`]: back to its pool when the last
/// slice of it is dropped.
pub(crate) struct PooledBytes {
    /// At least `len` bytes (a reused buffer keeps its longer length, see
    /// [`BufferPool::take_at_least`]).
    buf: Vec<u8>,
    len: usize,
    pools: Arc<Pools>,
    page: bool,
}

impl PooledBytes {
    /// A buffer of `len` bytes with unspecified contents, to be overwritten: for column
    /// chunks, or with `page` for one page.
    pub fn take(pools: &Arc<Pools>, len: usize, page: bool) -> Self {
        let pool = if page { &pools.pages } else { &pools.bytes };
        PooledBytes { buf: pool.take_at_least(len), len, pools: pools.clone(), page }
    }

    /// A page buffer taken from `pools` earlier (from `pools.pages`), handed over to go back
    /// there when the last slice of it is dropped.
    pub fn page(pools: &Arc<Pools>, buf: Vec<u8>) -> Self {
        PooledBytes { len: buf.len(), buf, pools: pools.clone(), page: true }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl AsRef<[u8]> for PooledBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledBytes {
    fn drop(&mut self) {
        let pool = if self.page { &self.pools.pages } else { &self.pools.bytes };
        pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_zeroed() {
        let pool = BufferPool::<f32>::default();
        let mut a = pool.take(1000);
        a.iter_mut().for_each(|v| *v = 7.0);
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take(900);
        assert_eq!(b.as_ptr(), ptr, "the freed buffer is reused");
        assert_eq!(b.len(), 900);
        assert!(b.iter().all(|&v| v == 0.0));
        pool.give(b);
        let c = pool.take(1000);
        assert_eq!(c.len(), 1000);
        // Too big for anything pooled: a fresh buffer.
        let d = pool.take(5000);
        assert_eq!(d.len(), 5000);
        assert!(d.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn a_buffer_taken_at_least_keeps_its_length_and_is_zeroed_once() {
        let pool = BufferPool::<u8>::default();
        let mut a = pool.take_at_least(100);
        assert_eq!(a.len(), 100);
        a.fill(7);
        let ptr = a.as_ptr();
        pool.give(a);
        // Shorter: the same buffer, its length and contents kept (nothing truncated or zeroed).
        let b = pool.take_at_least(50);
        assert_eq!((b.as_ptr(), b.len()), (ptr, 100));
        assert!(b.iter().all(|&v| v == 7));
        pool.give(b);
        // A buffer shorter than its capacity, asked for more: grown to its whole capacity.
        let mut c = Vec::with_capacity(300);
        c.resize(10, 9u8);
        pool.give(c);
        let d = pool.take_at_least(200);
        assert_eq!((d.len(), d.capacity()), (300, 300));
        assert!(d[..10].iter().all(|&v| v == 9) && d[10..].iter().all(|&v| v == 0));
        // As bytes: the requested length, whatever the buffer's.
        let pools = Pools::new();
        pools.pages.give(vec![1u8; 64]);
        let mut bytes = PooledBytes::take(&pools, 40, true);
        assert_eq!((bytes.as_mut_slice().len(), bytes.as_ref().len()), (40, 40));
    }

    #[test]
    fn every_shard_set_shares_the_process_pools() {
        let (a, b) = (Pools::shared(), Pools::shared());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &Pools::new()));
        // Bounded as a set's own pools are.
        let own = Pools::new();
        for _ in 0..3 {
            own.floats.give(vec![0.0; BLOCK_BUFFER_BYTES / 4 / 2]);
        }
        assert!(own.floats.bytes() <= BLOCK_BUFFER_BYTES);
        assert!(own.floats.bytes() > 0);
    }

    #[test]
    fn trimming_drops_the_buffer_above_the_bound_only() {
        let _open = PoolLease::new();
        let pool = BufferPool::<u8>::bounded(10, 1000);
        pool.give(vec![0; 2000]);
        pool.trim();
        assert_eq!(pool.bytes(), 0);
        pool.give(vec![0; 300]);
        pool.trim();
        assert_eq!(pool.bytes(), 300);
    }

    #[test]
    fn holds_a_bounded_number_of_bytes() {
        let _open = PoolLease::new();
        let pool = BufferPool::<u8>::bounded(10, 1000);
        pool.give(vec![0; 2000]);
        assert_eq!(pool.bytes(), 2000, "a buffer over the limit is kept alone");
        pool.give(vec![0; 300]);
        assert_eq!(pool.bytes(), 2000, "beside it, nothing else");
        pool.give(vec![0; 3000]);
        assert_eq!(pool.bytes(), 2000, "nor a second one over the limit");
        assert_eq!(pool.take(1500).len(), 1500);
        assert_eq!(pool.bytes(), 0);
        for _ in 0..5 {
            pool.give(vec![0; 300]);
        }
        assert_eq!(pool.bytes(), 900);
    }

    #[test]
    fn holds_a_bounded_number_of_buffers() {
        let pool = BufferPool::<f32>::default();
        for n in 1..=20 {
            pool.give(vec![0.0; n * 10]);
        }
        assert_eq!(pool.lock().len(), BufferPool::<f32>::MAX_BUFFERS);
        // The largest are kept.
        let kept = 21 - BufferPool::<f32>::MAX_BUFFERS..=20;
        assert_eq!(pool.bytes(), kept.map(|n| n * 10 * 4).sum::<usize>());
    }
}
