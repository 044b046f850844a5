//! The code paths the fuzz targets drive, shared with `tests/fuzz_regressions.rs` (which
//! includes this file with `#[path]`), so a regression test replays exactly what the fuzzer ran.
//!
//! Each function returns `Ok`/`Err` for anything shardmix reports; it panics only when an
//! invariant of a successful read is broken (a bug the fuzzer should report as a crash).

use std::path::{Path, PathBuf};

use shardmix::{NullPolicy, Order, Pipeline, PipelineConfig, Result, ShardSet};

#[path = "raw.rs"]
pub mod raw;

use raw::{Column, Page};

#[cfg(not(test))]
pub use contain::run_contained;

/// Inputs larger than this are skipped (they only slow the fuzzer down).
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// The column-chunk limit set on every shard set: no giant allocations from a lying footer.
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;

/// Batch size of the pipeline pass.
pub const BATCH: usize = 7;

/// What a successful read of one shard saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOutcome {
    /// Rows the footer declares (and both reads returned).
    pub rows: u64,
    /// Features per row.
    pub features: usize,
    /// Batches the one-epoch pipeline pass produced.
    pub batches: u64,
}

/// [`read_shard_file`] with the default block size.
pub fn read_shard_file(path: &Path) -> Result<ShardOutcome> {
    read_shard_file_in_blocks(path, shardmix::DEFAULT_BLOCK_ROWS)
}

/// Open `path` as a one-file shard set, read every row with `read_rows`, then again through a
/// 2-worker `Pipeline` in `Order::sequential(BATCH)` for one epoch; both reads must agree.
///
/// # Errors
/// Whatever shardmix reports for the file.
///
/// # Panics
/// When a successful read returns a different row count or different values than the other
/// read or than the footer declares.
/// The set is read in blocks of `block_rows` rows.
pub fn read_shard_file_in_blocks(path: &Path, block_rows: u64) -> Result<ShardOutcome> {
    let set = ShardSet::open(path)?.max_column_chunk_bytes(MAX_CHUNK_BYTES).block_rows(block_rows)?;
    let rows = set.num_rows();
    let features = set.spec().num_features();
    let all = set.read_rows(0..rows)?;
    assert_eq!(all.features.dim(), (rows as usize, features), "read_rows shape vs footer rows");
    let expected: Vec<u32> = all.features.iter().map(|v| v.to_bits()).collect();

    let mut pipeline = Pipeline::builder().source(set).order(Order::sequential(BATCH)).workers(2).epochs(1).build()?;
    let mut seen: Vec<u32> = Vec::with_capacity(expected.len());
    let mut batches = 0u64;
    let mut failed = None;
    for batch in pipeline.by_ref() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        assert_eq!(batch.features.ncols(), features, "pipeline batch {batches} feature count");
        seen.extend(batch.features.iter().map(|v| v.to_bits()));
        batches += 1;
    }
    // Every worker joined, even one still in a step after an error: a detached worker's
    // thread-local state (crossbeam-channel's context) is a leak to LeakSanitizer when the
    // process exits before the thread does.
    pipeline.close();
    if let Some(e) = failed {
        return Err(e);
    }
    assert_eq!(batches, rows.div_ceil(BATCH as u64), "pipeline batches for {rows} rows");
    assert!(seen == expected, "pipeline values differ from read_rows");
    Ok(ShardOutcome { rows, features, batches })
}

/// The scratch file the fuzzer writes each input to: one per process, in `/dev/shm` when
/// present (no disk I/O), else the temp directory.
pub fn scratch_path() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    dir.join(format!("shardmix-fuzz-{}.parquet", std::process::id()))
}

/// The `read_shard` target: `data` as the bytes of a Parquet file written to `path`.
/// Returns `None` for skipped inputs (too large, or the scratch file cannot be written).
pub fn read_shard_bytes(data: &[u8], path: &Path) -> Option<Result<ShardOutcome>> {
    if data.len() > MAX_INPUT_BYTES {
        return None;
    }
    std::fs::write(path, data).ok()?;
    Some(read_shard_file(path))
}

/// Bytes the structured targets take their choices from; past the end every choice is 0.
pub struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data, pos: 0 }
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// The next `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let from = self.pos.min(self.data.len());
        let to = self.pos.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        self.data[from..to].to_vec()
    }

    /// A count: usually small, sometimes anything a page header can hold.
    pub fn count(&mut self) -> i32 {
        match self.byte() {
            250..=255 => self.u32() as i32,
            b => (b % 48) as i32,
        }
    }
}

/// A shard built from fuzzer choices: one row group or two, one or two flat numeric columns,
/// pages (dictionary, v1, v2) whose headers, levels and values are chosen byte by byte (valid
/// most of the time, so that the decoder gets past its first checks), and a block size.
pub struct Structured {
    pub file: raw::File,
    pub block_rows: u64,
    pub policy: NullPolicy,
}

/// Levels of `n` rows (1 = present): RLE runs and bit-packed groups as chosen, or raw bytes.
/// Returns the bytes and how many rows are present (as far as the choice is valid).
fn levels(c: &mut Choices, n: usize) -> (Vec<u8>, usize) {
    if c.byte().is_multiple_of(8) {
        let len = c.byte() as usize;
        return (c.bytes(len), n / 2);
    }
    let mut out = Vec::new();
    let mut done = 0;
    let mut present = 0;
    while done < n {
        let left = n - done;
        let b = c.byte();
        if b.is_multiple_of(2) {
            let run = ((b as usize / 2) % left).max(1);
            let value = u8::from(!c.byte().is_multiple_of(4));
            out.extend(raw::rle_run(run as u64, value));
            present += run * value as usize;
            done += run;
        } else {
            let groups = left.div_ceil(8).min(1 + (b as usize >> 5));
            out.extend(raw::uleb((groups as u64) << 1 | 1));
            for g in 0..groups {
                // Values past the page's rows are padding and do not count.
                let k = (left - 8 * g).min(8);
                let bits = c.byte();
                present += (bits as u16 & ((1u16 << k) - 1)).count_ones() as usize;
                out.push(bits);
            }
            done += (8 * groups).min(left);
        }
    }
    (out, present)
}

/// Values of `present` rows for `encoding`: valid bytes, or raw ones.
fn values(c: &mut Choices, encoding: i32, present: usize, size: usize, dictionary: usize) -> Vec<u8> {
    if c.byte().is_multiple_of(8) {
        let len = c.byte() as usize;
        return c.bytes(len);
    }
    match encoding {
        raw::RLE_DICTIONARY | raw::PLAIN_DICTIONARY => {
            let width = (usize::BITS - dictionary.saturating_sub(1).leading_zeros()) as u8;
            let width = if c.byte().is_multiple_of(16) { c.byte() % 34 } else { width.max(1) };
            let mut out = vec![width];
            let mut done = 0;
            while done < present {
                let run = ((c.byte() as usize) % (present - done)).max(1);
                let index = (c.byte() as usize % dictionary.max(1)) as u8;
                out.extend(raw::uleb((run as u64) << 1));
                out.extend(std::iter::repeat_n(0u8, (width as usize).div_ceil(8)));
                if width > 0 {
                    let at = out.len() - (width as usize).div_ceil(8);
                    out[at] = index;
                }
                done += run;
            }
            out
        }
        _ => {
            let mut out = c.bytes(present * size);
            out.resize(present * size, 0x3f);
            out
        }
    }
}

/// `values` (each below `1 << bw`) in the RLE / bit-packed hybrid: one bit-packed run, or an
/// RLE run per run of equal values, as `c` chooses.
fn hybrid(c: &mut Choices, values: &[u8], bw: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if c.byte().is_multiple_of(2) {
        let groups = values.len().div_ceil(8);
        out.extend(raw::uleb((groups as u64) << 1 | 1));
        let mut acc = 0u32;
        let mut bits = 0;
        for i in 0..groups * 8 {
            acc |= (values.get(i).copied().unwrap_or(0) as u32) << bits;
            bits += bw;
            while bits >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                bits -= 8;
            }
        }
        return out;
    }
    let mut i = 0;
    while i < values.len() {
        let run = values[i..].iter().take_while(|&&v| v == values[i]).count();
        out.extend(raw::rle_run(run as u64, values[i]));
        i += run;
    }
    out
}

/// The pages of one list column chunk of `width` values per row (sometimes another length, an
/// empty list or a null element), and the rows they hold.
fn list_pages(c: &mut Choices, width: usize, optional: bool) -> (Vec<Page>, i64) {
    let max_def = 1 + u8::from(optional);
    let mut list = Vec::new();
    let mut total = 0i64;
    let mut dictionary = 0usize;
    let npages = 1 + c.byte() % 6;
    for p in 0..npages {
        let kind = c.byte();
        if p == 0 && kind.is_multiple_of(3) {
            dictionary = 1 + (c.byte() % 8) as usize;
            let mut data = c.bytes(dictionary * 4);
            data.resize(dictionary * 4, 0x40);
            list.push(Page::Dictionary { num_values: dictionary as i32, encoding: raw::PLAIN, data });
            continue;
        }
        let records = c.count();
        // A huge count keeps its levels small: the decoder must not trust it.
        let modelled = (records.max(0) as usize).min(512);
        let (mut reps, mut defs) = (Vec::new(), Vec::new());
        for _ in 0..modelled {
            let len = if c.byte().is_multiple_of(16) { c.byte() as usize % (width + 2) } else { width };
            if len == 0 {
                reps.push(0);
                defs.push(0);
            }
            for k in 0..len {
                reps.push(u8::from(k > 0));
                defs.push(if optional && c.byte().is_multiple_of(32) { 1 } else { max_def });
            }
        }
        let present = defs.iter().filter(|&&d| d == max_def).count();
        let levels = if records as usize == modelled { reps.len() as i32 } else { records };
        let encoding = match c.byte() % 8 {
            0..=3 => raw::PLAIN,
            4 | 5 if dictionary > 0 => raw::RLE_DICTIONARY,
            4 | 5 => raw::PLAIN,
            6 => raw::PLAIN_DICTIONARY,
            _ => c.byte() as i32 % 12,
        };
        let reps = if c.byte().is_multiple_of(16) { c.bytes(8) } else { hybrid(c, &reps, 1) };
        let defs = hybrid(c, &defs, max_def as usize);
        let vals = values(c, encoding, present, 4, dictionary);
        total = total.saturating_add(records as i64);
        if kind % 3 == 1 {
            let (rep_len, def_len) = (reps.len() as i32, defs.len() as i32);
            let mut data = reps;
            data.extend(defs);
            data.extend(vals);
            list.push(Page::V2Repeated {
                num_values: levels,
                num_nulls: levels.saturating_sub(present as i32),
                num_rows: records,
                encoding,
                rep_len,
                def_len,
                data,
                compressed: kind & 0x40 == 0,
            });
        } else {
            let mut data = raw::v1_levels(&reps);
            data.extend(raw::v1_levels(&defs));
            data.extend(vals);
            list.push(Page::V1 { num_values: levels, encoding, def_encoding: raw::RLE, data });
        }
    }
    (list, total)
}

/// The shard the `pages` and `differential` targets build from `data`: with flags `0x18`, one
/// list column of `float32` (a tensor column) instead of flat ones; with `0x02`, compressed
/// pages (Zstandard with `0x20` too, else Snappy).
pub fn structured(data: &[u8]) -> Structured {
    let mut c = Choices::new(data);
    let flags = c.byte();
    if flags & 0x18 == 0x18 {
        return structured_list(&mut c, flags);
    }
    let ncols = 1 + (flags & 1) as usize;
    let codec = codec_of(flags);
    let rgs = 1 + ((flags >> 2) & 1) as usize;
    let block_rows = match c.byte() {
        0..=127 => shardmix::DEFAULT_BLOCK_ROWS,
        b => 1 + (b % 64) as u64,
    };
    let policy = match c.byte() % 3 {
        0 => NullPolicy::Error,
        1 => NullPolicy::SkipRow,
        _ => NullPolicy::Fill(0.5),
    };
    let mut columns = Vec::new();
    for j in 0..ncols {
        let t = c.byte();
        let physical = [raw::FLOAT, raw::DOUBLE, raw::INT32, raw::INT64][(t % 4) as usize];
        columns.push(Column { name: format!("c{j}"), physical, optional: t & 4 != 0 });
    }
    let mut row_groups = Vec::new();
    for _ in 0..rgs {
        let mut pages = Vec::new();
        let mut rows = Vec::new();
        for column in &columns {
            let size = if matches!(column.physical, raw::FLOAT | raw::INT32) { 4 } else { 8 };
            let mut list = Vec::new();
            let mut total = 0i64;
            let mut dictionary = 0usize;
            let npages = 1 + c.byte() % 6;
            for p in 0..npages {
                let kind = c.byte();
                if p == 0 && kind.is_multiple_of(3) {
                    dictionary = 1 + (c.byte() % 8) as usize;
                    let mut data = c.bytes(dictionary * size);
                    data.resize(dictionary * size, 0x40);
                    list.push(Page::Dictionary { num_values: dictionary as i32, encoding: raw::PLAIN, data });
                    continue;
                }
                let n = c.count();
                let rows_n = n.max(0) as usize;
                let encoding = match c.byte() % 8 {
                    0..=2 => raw::PLAIN,
                    3 | 4 if dictionary > 0 => raw::RLE_DICTIONARY,
                    3 | 4 => raw::BYTE_STREAM_SPLIT,
                    5 => raw::PLAIN_DICTIONARY,
                    6 => raw::BYTE_STREAM_SPLIT,
                    _ => c.byte() as i32 % 12,
                };
                // A huge count keeps its levels and values small: the decoder must not trust it.
                let modelled = rows_n.min(4096);
                let (defs, present) = if column.optional { levels(&mut c, modelled) } else { (Vec::new(), modelled) };
                let vals = values(&mut c, encoding, present, size, dictionary);
                total = total.saturating_add(n as i64);
                if kind % 3 == 1 {
                    let def_len = defs.len() as i32;
                    let mut data = defs;
                    data.extend(vals);
                    list.push(Page::V2 {
                        num_values: n,
                        num_nulls: n.saturating_sub(present as i32),
                        num_rows: n,
                        encoding,
                        def_len,
                        data,
                        compressed: kind & 0x40 == 0,
                    });
                } else {
                    let mut data = if column.optional { raw::v1_levels(&defs) } else { Vec::new() };
                    data.extend(vals);
                    list.push(Page::V1 { num_values: n, encoding, def_encoding: raw::RLE, data });
                }
            }
            rows.push(total);
            pages.push(list);
        }
        // Usually the rows the pages hold; sometimes a count of the fuzzer's own.
        let num_rows =
            if c.byte().is_multiple_of(8) { c.u32() as i64 } else { rows.iter().copied().min().unwrap_or(0) };
        row_groups.push(raw::RowGroup { num_rows, pages, num_values: None });
    }
    Structured { file: raw::File { columns, codec, row_groups, num_rows: None }, block_rows, policy }
}

/// The pages' codec [`structured`]'s flags choose.
fn codec_of(flags: u8) -> i32 {
    match (flags & 0x02 != 0, flags & 0x20 != 0) {
        (true, true) => raw::ZSTD,
        (true, false) => raw::SNAPPY,
        (false, _) => raw::UNCOMPRESSED,
    }
}

/// The list-column shard of [`structured`].
fn structured_list(c: &mut Choices, flags: u8) -> Structured {
    let codec = codec_of(flags);
    let rgs = 1 + ((flags >> 2) & 1) as usize;
    let block_rows = match c.byte() {
        0..=127 => shardmix::DEFAULT_BLOCK_ROWS,
        b => 1 + (b % 64) as u64,
    };
    let policy = match c.byte() % 3 {
        0 => NullPolicy::Error,
        1 => NullPolicy::SkipRow,
        _ => NullPolicy::Fill(0.5),
    };
    let t = c.byte();
    let width = 1 + (t >> 4) as usize % 6;
    let column = Column { name: "c0".into(), physical: raw::FLOAT | raw::LIST, optional: t & 4 != 0 };
    let mut row_groups = Vec::new();
    for _ in 0..rgs {
        let (pages, rows) = list_pages(c, width, column.optional);
        let num_rows = if c.byte().is_multiple_of(8) { c.u32() as i64 } else { rows };
        row_groups.push(raw::RowGroup { num_rows, pages: vec![pages], num_values: None });
    }
    Structured { file: raw::File { columns: vec![column], codec, row_groups, num_rows: None }, block_rows, policy }
}

/// The `pages` target: the shard [`structured`] builds from `data`, through [`read_shard_file_in_blocks`].
pub fn pages_bytes(data: &[u8], path: &Path) -> Option<Result<ShardOutcome>> {
    if data.len() > MAX_INPUT_BYTES {
        return None;
    }
    let s = structured(data);
    std::fs::write(path, raw::write(&s.file)).ok()?;
    Some(read_shard_file_in_blocks(path, s.block_rows))
}

/// What one decode path made of a shard: (rows kept, feature bits) or the error's kind.
fn read_all(set: Result<ShardSet>) -> std::result::Result<(usize, Vec<u32>), String> {
    let set = set.map_err(|e| format!("{:?}", std::mem::discriminant(e.kind())))?;
    let batch = set.read_rows(0..set.num_rows()).map_err(|e| e.chain())?;
    Ok((batch.features.nrows(), batch.features.iter().map(|v| v.to_bits()).collect()))
}

/// The `differential` target: the shard [`structured`] builds from `data`, read by the direct
/// path and through arrow-rs only; both must give the same values bit for bit, or both fail.
///
/// # Panics
/// When they differ.
pub fn differential_bytes(data: &[u8], path: &Path) -> Option<()> {
    if data.len() > MAX_INPUT_BYTES {
        return None;
    }
    differential_shard(&structured(data), path)
}

/// [`differential_bytes`] on a shard already built: written to `path`, read both ways.
///
/// # Panics
/// When the two paths differ.
pub fn differential_shard(s: &Structured, path: &Path) -> Option<()> {
    std::fs::write(path, raw::write(&s.file)).ok()?;
    // A list column is read as the features (the default selection takes scalar columns only).
    let list = s.file.columns.iter().find(|c| c.physical & raw::LIST != 0).map(|c| c.name.clone());
    let open = || -> Result<ShardSet> {
        let set = ShardSet::open(path)?.max_column_chunk_bytes(MAX_CHUNK_BYTES).block_rows(s.block_rows)?;
        let set = match &list {
            Some(name) => set.features(shardmix::Features::List(name.clone()))?,
            None => set,
        };
        Ok(set.null_policy(s.policy))
    };
    let direct = read_all(open());
    let arrow = read_all(open().map(ShardSet::without_direct_path));
    match (&direct, &arrow) {
        (Ok(d), Ok(a)) => assert!(d == a, "the direct path and arrow-rs read different values: {d:?} vs {a:?}"),
        (Err(_), Err(_)) => {}
        _ => panic!("the direct path and arrow-rs disagree: direct {direct:?}, arrow-rs {arrow:?}"),
    }
    Some(())
}

/// The `parse_config` target: `data` as UTF-8 TOML; `None` when it is not UTF-8.
/// A parsed config must survive a TOML round trip unchanged.
///
/// # Panics
/// When the round trip fails or changes the config.
pub fn parse_config_bytes(data: &[u8]) -> Option<Result<PipelineConfig>> {
    let text = std::str::from_utf8(data).ok()?;
    let parsed = PipelineConfig::parse(text, Path::new("fuzz.toml"));
    if let Ok(config) = &parsed {
        let again = toml::to_string(config).map_err(|e| e.to_string()).and_then(|t| {
            PipelineConfig::parse(&t, Path::new("again.toml")).map_err(|e| format!("{e}\n--- serialised:\n{t}"))
        });
        match again {
            // Debug, not PartialEq: NaN fields compare unequal to themselves.
            Ok(again) => assert_eq!(format!("{again:?}"), format!("{config:?}"), "TOML round trip changed the config"),
            Err(e) => panic!("a parsed config does not survive a TOML round trip: {e}"),
        }
    }
    Some(parsed)
}

/// Panic containment for the fuzz targets (not compiled into the regression tests, which use
/// `catch_unwind` and the default hook directly).
///
/// libfuzzer-sys installs a panic hook that aborts on *every* panic, even one that is caught;
/// but shardmix deliberately catches arrow-rs panics at its decode boundary and worker panics
/// in the pipeline, turning them into errors. So the targets replace that hook with one that
/// only records the panic, and abort only when a panic escapes the public API.
#[cfg(not(test))]
mod contain {
    use std::backtrace::Backtrace;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::{Mutex, Once};

    static HOOK: Once = Once::new();
    static LAST: Mutex<Option<(String, Backtrace)>> = Mutex::new(None);

    /// Run `f`; if a panic escapes it, print the panic (message, location, backtrace of the
    /// panicking thread) and abort, which libFuzzer records as a crash.
    pub fn run_contained<T>(f: impl FnOnce() -> T) -> T {
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let msg = format!("{info} (thread {:?})", std::thread::current().name().unwrap_or("<unnamed>"));
                *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some((msg, Backtrace::force_capture()));
            }));
        });
        *LAST.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => v,
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                eprintln!("\n==== a panic escaped shardmix's public API: {text}");
                if let Some((msg, bt)) = LAST.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    eprintln!("last panic seen by the hook: {msg}\n{bt}");
                }
                std::process::abort();
            }
        }
    }
}
