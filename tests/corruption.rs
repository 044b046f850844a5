//! Deterministic corruption sweep: truncations, seeded single-bit flips and footer overwrites of
//! a few valid files, plus non-Parquet files, an empty file and shards with mismatched schemas.
//!
//! Every case must end as `Ok` or a typed `Err` within [`CASE_LIMIT`], and no panic may escape
//! the public API (each case runs inside `catch_unwind`). The test prints, per class of case,
//! how many were `Ok` with the original values, `Ok` with different values (silent
//! corruption the format cannot detect without checksums), and `Err` by error kind.

mod common;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float32Array, Int64Array, StringArray};
use parquet::basic::Compression;
use rand::Rng;
use shardmix::{Batch, Error, ErrorKind, Features, NullPolicy, ShardSet, Target};

use common::data_file;

/// Every case must finish within this.
const CASE_LIMIT: Duration = Duration::from_secs(5);
/// The size guard used in the sweep: a flipped size field must not make the reader allocate
/// gigabytes (the default limit is 1 GiB per column chunk).
const SWEEP_CHUNK_LIMIT: u64 = 64 << 20;
/// Seed of the bit flips and footer overwrites.
const SEED: u64 = 0xC0_22_0F_7E;

/// Cases per source file.
const TRUNCATIONS: usize = 120;
const BIT_FLIPS: usize = 500;
const FOOTER_OVERWRITES: usize = 60;

/// The result of one case.
#[derive(Debug)]
enum Outcome {
    /// Read, values identical to the uncorrupted file.
    Same,
    /// Read, but different rows or values.
    Different,
    /// Read (no baseline to compare with).
    Read,
    /// A typed error, by kind.
    Err(&'static str),
}

fn kind_name(e: &Error) -> &'static str {
    match e.kind() {
        ErrorKind::Io { .. } => "Io",
        ErrorKind::NoShards { .. } => "NoShards",
        ErrorKind::Empty { .. } => "Empty",
        ErrorKind::Footer { .. } => "Footer",
        ErrorKind::Decode { .. } => "Decode",
        ErrorKind::DecodePanic { .. } => "DecodePanic",
        ErrorKind::TooLarge { .. } => "TooLarge",
        ErrorKind::MissingColumn { .. } => "MissingColumn",
        ErrorKind::ColumnType { .. } => "ColumnType",
        ErrorKind::SchemaMismatch { .. } => "SchemaMismatch",
        ErrorKind::BadValue { .. } => "BadValue",
        ErrorKind::Label { .. } => "Label",
        ErrorKind::ShardChanged { .. } => "ShardChanged",
        ErrorKind::Config { .. } => "Config",
        ErrorKind::Shape { .. } => "Shape",
        _ => "other",
    }
}

/// Silence the default panic hook for panics raised outside this test file (the reader's
/// contained decoder panics would otherwise flood the output); panics in the test itself
/// (failed assertions) are still printed.
fn quiet_library_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info.location().is_some_and(|l| l.file().contains("tests"));
            if ours {
                default(info);
            }
        }));
    });
}

/// Open `paths` with auto features (the default policy) and the sweep's size guard, and read
/// every row.
fn read_all(paths: &[PathBuf]) -> Result<Batch, Error> {
    let set = ShardSet::open_many(paths)?
        .features(Features::auto())?
        .target(Target::none())?
        .null_policy(NullPolicy::Error)
        .max_column_chunk_bytes(SWEEP_CHUNK_LIMIT);
    set.read_rows(0..set.num_rows())
}

/// Tallies per class of case.
#[derive(Default)]
struct Report {
    counts: BTreeMap<String, BTreeMap<String, usize>>,
    failures: Vec<String>,
    cases: usize,
    slowest: (Duration, String),
}

impl Report {
    /// Run one case: read `paths`, compare to `baseline`, record the outcome under `class`.
    fn case(&mut self, class: &str, what: &str, paths: &[PathBuf], baseline: Option<&Batch>) {
        self.cases += 1;
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| read_all(paths)));
        let elapsed = started.elapsed();
        if elapsed > self.slowest.0 {
            self.slowest = (elapsed, format!("{class}: {what}"));
        }
        if elapsed > CASE_LIMIT {
            self.failures.push(format!("{class}: {what}: took {elapsed:?}"));
        }
        let outcome = match result {
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                self.failures.push(format!("{class}: {what}: PANIC escaped the API: {msg}"));
                return;
            }
            Ok(Err(e)) => {
                // Every error must name the file concerned (any of them, for multi-file cases).
                let chain = e.chain();
                let named = paths.iter().any(|p| chain.contains(&*p.to_string_lossy()))
                    || matches!(e.kind(), ErrorKind::NoShards { .. });
                if !named {
                    self.failures.push(format!("{class}: {what}: error does not name the file: {chain}"));
                }
                Outcome::Err(kind_name(&e))
            }
            Ok(Ok(b)) => match baseline {
                Some(base) if base.features == b.features && base.provenance.row_a == b.provenance.row_a => {
                    Outcome::Same
                }
                Some(_) => Outcome::Different,
                None => Outcome::Read,
            },
        };
        let key = match outcome {
            Outcome::Same => "Ok (same values)".to_string(),
            Outcome::Different => "Ok (different values)".to_string(),
            Outcome::Read => "Ok".to_string(),
            Outcome::Err(k) => format!("Err {k}"),
        };
        *self.counts.entry(class.to_string()).or_default().entry(key).or_default() += 1;
    }

    fn print(&self, elapsed: Duration) {
        eprintln!("corruption sweep: {} cases in {:.1} s", self.cases, elapsed.as_secs_f64());
        for (class, counts) in &self.counts {
            let total: usize = counts.values().sum();
            let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            eprintln!("  {class:<38} {total:>5}  {}", parts.join(", "));
        }
        eprintln!("  slowest case: {:?} ({})", self.slowest.0, self.slowest.1);
    }

    fn assert_clean(&self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n  {}",
            self.failures.len(),
            self.cases,
            self.failures.iter().take(50).cloned().collect::<Vec<_>>().join("\n  ")
        );
    }
}

/// The valid files the sweep corrupts: three fixtures and one written in code.
fn sources(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let generated = dir.join("generated.parquet");
    // 300 rows, 4 float32 features + int64 label, 3 row groups, small pages, snappy.
    common::classification_file(&generated, 0, 300, 4, 5, 100);
    let mut out = Vec::new();
    for (name, path) in [
        ("alltypes_plain", data_file("data/alltypes_plain.parquet")),
        ("byte_stream_split.zstd", data_file("data/byte_stream_split.zstd.parquet")),
        ("datapage_v1-snappy-checksum", data_file("data/datapage_v1-snappy-compressed-checksum.parquet")),
        ("generated", generated),
    ] {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((name.to_string(), bytes));
    }
    out
}

/// Write `bytes` to `path` (reusing the file).
fn put(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Footer length as stored in the last 8 bytes (`len` + `PAR1`).
fn footer_len(bytes: &[u8]) -> usize {
    let n = bytes.len();
    u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]) as usize
}

#[test]
fn corruption_sweep_never_panics() {
    quiet_library_panics();
    let tmp = common::tempdir();
    let started = Instant::now();
    let mut report = Report::default();
    let case_path = tmp.path().join("case.parquet");
    let case = std::slice::from_ref(&case_path);

    for (name, bytes) in sources(tmp.path()) {
        let original = tmp.path().join(format!("{name}.orig.parquet"));
        put(&original, &bytes);
        let baseline = read_all(std::slice::from_ref(&original))
            .unwrap_or_else(|e| panic!("{name}: the uncorrupted file must read: {}", e.chain()));
        assert!(baseline.rows() > 0, "{name}");
        let len = bytes.len();

        // Truncation to every length on a stride (always detectable: the footer is at the end).
        let stride = len.div_ceil(TRUNCATIONS).max(1);
        for cut in (0..len).step_by(stride).chain(len.saturating_sub(16)..len) {
            put(&case_path, &bytes[..cut]);
            report.case("truncate", &format!("{name} to {cut} of {len} bytes"), case, Some(&baseline));
        }

        // Seeded single-bit flips anywhere in the file.
        let mut rng = shardmix::rng::derive(SEED, 1, name.len() as u64 * 1_000_003 + len as u64);
        let mut flipped = bytes.clone();
        for _ in 0..BIT_FLIPS {
            let bit = shardmix::rng::below(&mut rng, len as u64 * 8);
            let (byte, mask) = ((bit / 8) as usize, 1u8 << (bit % 8));
            flipped[byte] ^= mask;
            put(&case_path, &flipped);
            report.case(
                &format!("bit flip {name}"),
                &format!("{name} byte {byte} mask {mask:#04x}"),
                case,
                Some(&baseline),
            );
            flipped[byte] ^= mask;
        }

        // Footer overwrites: random bytes, zeros or 0xFF over a stretch of the Thrift footer,
        // and bad footer lengths.
        let flen = footer_len(&bytes);
        assert!(flen + 8 <= len, "{name}: footer length {flen}");
        let footer_start = len - 8 - flen;
        for k in 0..FOOTER_OVERWRITES {
            let mut b = bytes.clone();
            let start = footer_start + shardmix::rng::below(&mut rng, flen as u64) as usize;
            let run = 1 + shardmix::rng::below(&mut rng, 16) as usize;
            let end = (start + run).min(len - 8);
            let fill = match k % 3 {
                0 => None,
                1 => Some(0u8),
                _ => Some(0xFF),
            };
            for byte in &mut b[start..end] {
                *byte = fill.unwrap_or_else(|| rng.next_u64() as u8);
            }
            put(&case_path, &b);
            report.case("footer overwrite", &format!("{name} bytes {start}..{end} ({fill:?})"), case, Some(&baseline));
        }
        for (what, value) in [
            ("zero", 0u32),
            ("one", 1),
            ("off by one short", flen as u32 - 1),
            ("off by one long", flen as u32 + 1),
            ("file length", len as u32),
            ("u32::MAX", u32::MAX),
        ] {
            let mut b = bytes.clone();
            b[len - 8..len - 4].copy_from_slice(&value.to_le_bytes());
            put(&case_path, &b);
            report.case("footer length", &format!("{name} footer length = {what}"), case, Some(&baseline));
        }
        for (what, magic) in [("tail magic", len - 4), ("head magic", 0)] {
            let mut b = bytes.clone();
            b[magic..magic + 4].copy_from_slice(b"PAR0");
            put(&case_path, &b);
            report.case("magic", &format!("{name} {what}"), case, Some(&baseline));
        }
    }

    // Files that are not Parquet at all.
    let not_parquet: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", Vec::new()),
        ("text", b"id,label\n1,2\n3,4\n".to_vec()),
        ("PAR1 only", b"PAR1".to_vec()),
        ("PAR1PAR1", b"PAR1PAR1".to_vec()),
        ("magic around zeros", [&b"PAR1"[..], &[0u8; 64], &b"PAR1"[..]].concat()),
        ("magic around garbage", {
            let mut rng = shardmix::rng::derive(SEED, 2, 0);
            let mut v = b"PAR1".to_vec();
            v.extend((0..4096).map(|_| rng.next_u64() as u8));
            v.extend_from_slice(&[0x00, 0x01, 0x00, 0x00]);
            v.extend_from_slice(b"PAR1");
            v
        }),
        (
            "digits README",
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/README.md")).unwrap_or_default(),
        ),
    ];
    for (what, bytes) in &not_parquet {
        put(&case_path, bytes);
        report.case("not parquet", what, case, None);
    }
    assert_eq!(
        report.counts["not parquet"].get("Ok (different values)").copied().unwrap_or(0),
        0,
        "a non-Parquet file was read"
    );

    // A directory without shards, and a missing file.
    let empty_dir = tmp.path().join("no-shards");
    std::fs::create_dir(&empty_dir).expect("mkdir");
    report.case("not parquet", "empty directory", &[empty_dir], None);
    report.case("not parquet", "missing file", &[tmp.path().join("missing.parquet")], None);

    schema_mismatch_cases(tmp.path(), &mut report);

    let elapsed = started.elapsed();
    report.print(elapsed);
    report.assert_clean();
    // Truncations are always detectable.
    let trunc = &report.counts["truncate"];
    assert!(!trunc.contains_key("Ok (different values)"), "a truncated file read: {trunc:?}");
}

/// Two shards whose schemas disagree on a selected column: an error naming both files, never a
/// panic and never a silent cast.
fn schema_mismatch_cases(dir: &Path, report: &mut Report) {
    let a = dir.join("a.parquet");
    common::classification_file(&a, 0, 50, 3, 4, 25);
    let props = || common::props(Compression::SNAPPY, 25);
    let f32s = |v: f32| Arc::new(Float32Array::from(vec![v; 50])) as ArrayRef;
    let labels = || Arc::new(Int64Array::from(vec![1i64; 50])) as ArrayRef;
    let variants: Vec<(&str, Vec<(&str, ArrayRef)>)> = vec![
        ("column missing", vec![("x0", f32s(1.0)), ("x1", f32s(2.0)), ("label", labels())]),
        (
            "string where a number was",
            vec![
                ("x0", f32s(1.0)),
                ("x1", Arc::new(StringArray::from(vec!["2.0"; 50])) as ArrayRef),
                ("x2", f32s(3.0)),
                ("label", labels()),
            ],
        ),
        ("float label", vec![("x0", f32s(1.0)), ("x1", f32s(2.0)), ("x2", f32s(3.0)), ("label", f32s(1.0))]),
        (
            "int64 where float32 was",
            vec![
                ("x0", Arc::new(Int64Array::from(vec![1i64; 50])) as ArrayRef),
                ("x1", f32s(2.0)),
                ("x2", f32s(3.0)),
                ("label", labels()),
            ],
        ),
        ("no columns in common", vec![("y", f32s(1.0))]),
    ];
    for (what, columns) in variants {
        let b = dir.join("b.parquet");
        common::write_columns(&b, columns, props());
        // With the target: the label's type matters too.
        let paths = [a.clone(), b.clone()];
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            ShardSet::open_many(&paths)
                .and_then(|s| s.target(Target::class("label", 4)))
                .and_then(|s| s.read_rows(0..s.num_rows()))
        }));
        report.cases += 1;
        let key = match &result {
            Err(_) => {
                report.failures.push(format!("schema mismatch: {what}: PANIC escaped the API"));
                continue;
            }
            Ok(Ok(_)) => "Ok".to_string(),
            Ok(Err(e)) => format!("Err {}", kind_name(e)),
        };
        if started.elapsed() > CASE_LIMIT {
            report.failures.push(format!("schema mismatch: {what}: took {:?}", started.elapsed()));
        }
        if let Ok(Err(e)) = &result {
            let chain = e.chain();
            if !chain.contains("b.parquet") {
                report.failures.push(format!("schema mismatch: {what}: error does not name b.parquet: {chain}"));
            }
        }
        // Silent acceptance is only right for a float shard after an integer-free first shard
        // (int64 into a float32 feature); everything else must be rejected.
        let accepted_ok = what == "int64 where float32 was";
        if key == "Ok" && !accepted_ok {
            report.failures.push(format!("schema mismatch: {what}: read without error"));
        }
        *report.counts.entry("schema mismatch".into()).or_default().entry(format!("{key} ({what})")).or_default() += 1;
        // The same pair also goes through the generic case runner (auto features, no target).
        report.case("schema mismatch (auto)", what, &paths, None);
    }
}
