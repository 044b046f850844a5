//! Replays of inputs found by `cargo fuzz` (see `fuzz/README.md`): every file in
//! `tests/data/fuzz-regressions/` named `<target>-<hash>` goes through the same code path as
//! its fuzz target (`fuzz/src/lib.rs`, included below), and no panic may escape. Inputs with a
//! known outcome also have a test of their own that checks it exactly.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::ShardOutcome;
use shardmix::{ErrorKind, PipelineConfig, Result};

/// Inputs the sweep leaves to their own tests: the huge row count runs in a memory-capped
/// child process, so that a regression cannot take the test runner down with it.
const OWN_TESTS: &[&str] = &[HUGE_ROW_COUNT];

/// 1,181 bytes; see `read_shard_huge_footer_row_count_is_rejected`.
const HUGE_ROW_COUNT: &str = "read_shard-22c6b9f61933c5207f35dd6569084ab7d34920f2";

/// 7,878 bytes; see `read_shard_thrift_skip_hang_is_bounded`.
const THRIFT_SKIP_HANG: &str = "read_shard-3ff7229869c378cc3680d015bf73a192e6a87894";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions")
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let prefix = format!("{target}-");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix)))
        .collect();
    out.sort();
    out
}

/// The `read_shard` path on a committed input; a panic fails the test with the file named.
fn read_shard(name: &str) -> Result<ShardOutcome> {
    let path = dir().join(name);
    assert!(path.is_file(), "missing regression input {}", path.display());
    catch_unwind(AssertUnwindSafe(|| harness::read_shard_file(&path)))
        .unwrap_or_else(|_| panic!("read_shard panicked on {name}"))
}

/// The error for `name`, which must come within `limit` (the input once made arrow-rs hang).
fn rejected_within(name: &str, limit: Duration) -> shardmix::Error {
    let start = Instant::now();
    let e = read_shard(name).unwrap_err();
    let took = start.elapsed();
    assert!(took < limit, "rejecting {name} took {took:?}");
    e
}

/// The `parse_config` path on a committed input; `None` when it is not UTF-8.
fn parse_config(name: &str) -> Option<Result<PipelineConfig>> {
    let bytes = std::fs::read(dir().join(name)).unwrap();
    catch_unwind(AssertUnwindSafe(|| harness::parse_config_bytes(&bytes)))
        .unwrap_or_else(|_| panic!("parse_config panicked on {name}"))
}

fn name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap()
}

#[test]
fn every_read_shard_input_is_ok_or_err() {
    let all = inputs("read_shard");
    assert!(all.len() >= 3, "expected the committed read_shard inputs, found {all:?}");
    for p in all.iter().filter(|p| !OWN_TESTS.contains(&name(p))) {
        let _ = read_shard(name(p));
    }
}

#[test]
fn every_parse_config_input_is_ok_or_err() {
    let all = inputs("parse_config");
    assert!(all.len() >= 3, "expected the committed parse_config inputs, found {all:?}");
    for p in &all {
        let _ = parse_config(name(p));
    }
}

#[test]
fn oversized_input_is_skipped() {
    let path = harness::scratch_path();
    assert!(name(&path).starts_with("shardmix-fuzz-"), "{}", path.display());
    assert!(harness::read_shard_bytes(&vec![0; harness::MAX_INPUT_BYTES + 1], &path).is_none());
    let r = harness::read_shard_bytes(b"PAR1", &path).expect("a small input is tried");
    let _ = std::fs::remove_file(&path);
    assert!(matches!(r.unwrap_err().kind(), ErrorKind::Footer { .. }));
}

#[test]
fn non_utf8_config_is_skipped() {
    assert!(harness::parse_config_bytes(&[0x62, 0xff, 0x3d]).is_none());
}

// Hang found by fuzzing, fixed: a 7,878-byte mutant of a DELTA_BINARY_PACKED/DELTA_BYTE_ARRAY
// file took ~100 s (test profile) before failing with "failed to fill whole buffer". The page
// header of column 5 (`c_first_sales_date_sk`, data page at offset 1404) holds an unknown field
// that parquet 60.1's Thrift reader skips (`parquet_thrift.rs`, `skip_till_depth`): a list of up
// to i32::MAX doubles, and `skip_bytes` (`io::copy` of `take(n)` into a sink) returned Ok at end
// of file, so every element cost a `read(2)` that returned 0. shardmix now decodes through its
// own ChunkReader (src/source/pages/chunks.rs), whose readers fail at the end of the column chunk
// instead of returning 0 bytes, so the skip stops at the first element past the end.
#[test]
fn read_shard_thrift_skip_hang_is_bounded() {
    let e = rejected_within(THRIFT_SKIP_HANG, Duration::from_secs(5));
    assert!(e.chain().contains("row group 0"), "{}", e.chain());
}

// Crash found by fuzzing, fixed (libFuzzer: out-of-memory, > 2 GiB): a 1,181-byte file whose
// only row group claims 9,223,372,036,854,775,778 rows in the footer while its one column chunk
// holds 21,186 values. `ShardSet::open` accepted the count and built one block per 65,536 rows
// (~1.4e14 entries), dying on allocation failure before any decode. A row group cannot have
// more rows than any of its leaf column chunks has values, so `open_many` now rejects it with a
// typed error naming the file and row group. The check runs in a child process limited to
// 2 GiB of address space, so that a regression fails this test instead of exhausting memory.
#[test]
fn read_shard_huge_footer_row_count_is_rejected() {
    if std::env::var_os(CHILD).is_some() {
        let e = read_shard(HUGE_ROW_COUNT).unwrap_err();
        println!("rejected: {}", e.chain());
        return;
    }
    let out = in_limited_child("read_shard_huge_footer_row_count_is_rejected");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("rejected:"),
        "child {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The Thrift footer check (an over-long varint) now rejects it before the row-count check.
    assert!(stdout.contains("not a readable Parquet file") || stdout.contains("row group 0"), "{stdout}");
}

/// Set in a child started by `in_limited_child`.
const CHILD: &str = "SHARDMIX_FUZZ_REGRESSION_CHILD";

/// Run one test of this binary again in a child process whose address space is
/// limited to 2 GiB, so an input that allocates without bound fails fast instead of taking the
/// machine's memory.
fn in_limited_child(test: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap()
}

/// The message of an arrow-rs panic that shardmix contained in row group 0.
fn contained_panic(name: &str) -> String {
    let e = read_shard(name).unwrap_err();
    match e.kind() {
        ErrorKind::DecodePanic { path, row_group, message } => {
            assert_eq!(path, &dir().join(name));
            assert_eq!(*row_group, 0, "{e}");
            message.clone()
        }
        _ => panic!("expected a contained decoder panic for {name}, got {}", e.chain()),
    }
}

// A mutant of fixed_length_decimal_legacy.parquet from the fuzz corpus that still reads:
// 24 rows of one decimal feature, 4 batches of 7 in the pipeline, both reads equal.
#[test]
fn read_shard_decimal_mutant_reads_every_row() {
    let got = read_shard("read_shard-7d1330b25f66a9e19b2e72c94fd35029dbd9fddb").unwrap();
    assert_eq!(got, ShardOutcome { rows: 24, features: 1, batches: 4 });
}

// 149 bytes from the fuzz corpus: a footer with an invalid Thrift list element type (arrow-rs:
// "Unexpected list/set element type"); the footer check finds a map that overruns it first.
#[test]
fn read_shard_bad_footer_is_a_footer_error() {
    let e = read_shard("read_shard-46049db5fafef7ad578f334540cf271dd51be71e").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Footer { .. }), "{}", e.chain());
    assert!(e.chain().contains("footer metadata: Thrift map"), "{}", e.chain());
}

// One bit flipped in datapage_v2_empty_datapage.snappy.parquet: arrow-buffer panics in
// bit_chunk_iterator.rs ("offset + len out of bounds") while reading definition levels, the
// same site as the fuzzer's first crash before the targets contained caught panics.
#[test]
fn read_shard_contains_bit_chunk_panic() {
    let m = contained_panic("read_shard-0968c68dbdcb5d700cd962c535d9f47de5d751e3");
    assert!(m.contains("offset + len out of bounds"), "{m}");
}

/// The page-header check (src/source/footer/thrift.rs) rejected `name` in row group 0, before arrow-rs.
fn page_header_rejected(name: &str) -> String {
    let e = read_shard(name).unwrap_err();
    match e.kind() {
        ErrorKind::Decode { path, row_group, .. } => {
            assert_eq!(path, &dir().join(name));
            assert_eq!(*row_group, 0, "{e}");
            assert!(e.chain().contains("page header"), "{}", e.chain());
            e.chain()
        }
        _ => panic!("expected the page-header check to reject {name}, got {}", e.chain()),
    }
}

// Another bit of the same file: arrow-rs overflowed inside the decoder (a contained panic);
// the page-header check now rejects the header before arrow-rs reads it.
#[test]
fn read_shard_overflow_mutant_is_rejected_by_the_page_header_check() {
    let m = page_header_rejected("read_shard-0f3fa94d7f8a1cbff8feff0f83f84936009e454c");
    assert!(m.contains("compressed_page_size"), "{m}");
}

// One bit flipped in byte_array_decimal.parquet: a negative column start in the footer.
#[test]
fn read_shard_contains_negative_column_start_panic() {
    let m = contained_panic("read_shard-e23cd0093d7b0ffb526e1058befb55866739a912");
    assert!(m.contains("column start and length should not be negative"), "{m}");
}

// One bit flipped in page_v2_empty_compressed.parquet: arrow-rs panicked on a
// dictionary-encoded page without a dictionary page ("Decoder for dict should have been set",
// contained); the flipped bit also breaks a page header, which the check now rejects first.
#[test]
fn read_shard_missing_dictionary_mutant_is_rejected_by_the_page_header_check() {
    let m = page_header_rejected("read_shard-7f66da47c62f865a32423179cd4469b470236f4f");
    assert!(m.contains("overruns"), "{m}");
}

// Hang found by fuzzing the new read path (2 min 16 s in a release build, 100 s of it in
// read(2)): a 2,766-byte file whose list column's page header holds an unknown list field.
// Deriving the list length read row group 0 through a plain `File`, whose `BufReader` returns
// 0 bytes at the end, so parquet's Thrift skip spun on it. Every reader of shardmix now goes
// through `chunks::open_row_group`, which checks the page headers first.
#[test]
fn read_shard_list_probe_page_header_is_rejected_at_once() {
    let e = rejected_within("read_shard-185c776fa2584e937e23359589e214dee3071acb", Duration::from_secs(1));
    assert!(matches!(e.kind(), ErrorKind::Decode { row_group: 0, .. }), "{}", e.chain());
    assert!(e.chain().contains("page header"), "{}", e.chain());
}

// Slow input found by fuzzing (13 s under ASan; 1.6 s in a release build): a 732-byte footer
// with an unknown field holding a list of 257,416,833 booleans, which parquet 60.1's Thrift
// skip iterates without consuming bytes. The footer check rejects it at once.
#[test]
fn read_shard_bool_list_footer_is_rejected_at_once() {
    let e = rejected_within("read_shard-1519bf369d0acf3684404635ee9245ec7f4933e3", Duration::from_secs(1));
    assert!(matches!(e.kind(), ErrorKind::Footer { .. }), "{}", e.chain());
    assert!(e.chain().contains("257416833 elements"), "{}", e.chain());
}

// NaN, infinity, negative zero, escapes and a multi-line string survive parsing and the
// target's TOML round trip.
#[test]
fn parse_config_special_values() {
    let c = parse_config("parse_config-46941e241530c347bde03793218ca505f2628a9c").unwrap().unwrap();
    assert_eq!(c.batch_size, Some(64));
    assert_eq!(c.seed, Some(7));
    assert!(c.mixup_alpha.unwrap().is_nan());
    assert_eq!(c.label_smoothing.map(f64::to_bits), Some((-0.0f64).to_bits()));
    assert_eq!(c.cutmix_alpha, Some(f64::INFINITY));
    let data: Vec<PathBuf> = ["a b", "b\u{e9}", "c:\\\\x"].iter().map(PathBuf::from).collect();
    assert_eq!(c.data, Some(data));
    assert_eq!(c.features.as_deref(), Some("f0,\nf1"));
}

// From the fuzz corpus: tabs inside an array and a literal string with backslashes.
#[test]
fn parse_config_tabs_and_literal_strings() {
    let c = parse_config("parse_config-3355853e1eeddd514c3cd557fd13b2f343a8d113").unwrap().unwrap();
    let data: Vec<PathBuf> = ["a", "b\u{1e9}", "c:\\\\vaexbacti\t\t\t"].iter().map(PathBuf::from).collect();
    assert_eq!(c.data, Some(data));
    assert_eq!(c, PipelineConfig { data: c.data.clone(), ..PipelineConfig::default() });
}

// From the fuzz corpus: an escaped quote in a basic string, quotes inside a multi-line string.
#[test]
fn parse_config_quotes() {
    let c = parse_config("parse_config-bf2b8405401ca0bc593ebc753d488a91f18d7d99").unwrap().unwrap();
    let data: Vec<PathBuf> = ["a", "b\"  e9", "c:\\\\vaex"].iter().map(PathBuf::from).collect();
    assert_eq!(c.data, Some(data));
    assert_eq!(c.features.as_deref(), Some("\"b,\n%\""));
}

// u64 fields take the whole u64 range (toml 1 reads integers above i64::MAX, and the round
// trip writes them back); a negative value for a usize field is an error naming the file.
#[test]
fn parse_config_integer_ranges() {
    let c = parse_config("parse_config-8f380cf74f4f889d234adfa6879fe6620f566dec").unwrap().unwrap();
    assert_eq!(c.seed, Some(u64::MAX));
    let e = parse_config("parse_config-4ea4ad33995a4accbc1c855a9f537390bdc080a0").unwrap().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Config { .. }), "{}", e.chain());
    assert!(e.to_string().contains("fuzz.toml"), "{e}");
}

/// Deterministic pseudo-random bytes (xorshift), `len` of them, for seed `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Input `seed` of `structured_inputs_are_read_alike_by_both_paths`.
fn structured_input(seed: u64) -> Vec<u8> {
    let mut data = noise(seed, 64 + (seed as usize * 37) % 600);
    if seed.is_multiple_of(2) {
        // Small bytes: small counts, mostly valid choices.
        data.iter_mut().for_each(|b| *b %= 24);
    }
    data
}

// The structured targets (`pages`, `differential`) on 400 fixed inputs: every one is read or
// rejected without a panic, and the direct path agrees with arrow-rs on each. Inputs whose
// bytes are mostly small make valid pages; the others exercise the checks.
#[test]
fn structured_inputs_are_read_alike_by_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("structured.parquet");
    let mut read = 0;
    // SHARDMIX_STRUCTURED_SEED=n: only seed n, with the file it makes printed;
    // SHARDMIX_STRUCTURED_SEEDS=n: seeds 0..n (a longer, unguided run of both targets).
    let var = |name: &str| -> Option<u64> { std::env::var(name).ok().and_then(|s| s.parse().ok()) };
    let only = var("SHARDMIX_STRUCTURED_SEED");
    let count = var("SHARDMIX_STRUCTURED_SEEDS").unwrap_or(400);
    for seed in only.map_or(0..count, |s| s..s + 1) {
        let data = structured_input(seed);
        if only.is_some() {
            let s = harness::structured(&data);
            println!("block rows {}, {:?}\n{:#?}", s.block_rows, s.policy, s.file);
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| harness::pages_bytes(&data, &path)))
            .unwrap_or_else(|_| panic!("pages panicked on seed {seed}"));
        read += usize::from(matches!(outcome, Some(Ok(_))));
        catch_unwind(AssertUnwindSafe(|| harness::differential_bytes(&data, &path)))
            .unwrap_or_else(|_| panic!("differential panicked on seed {seed}"));
    }
    if only.is_none() {
        assert!(
            read as u64 * 40 >= count,
            "only {read} of {count} structured inputs were readable: too few valid files"
        );
    }
}

/// One optional `f32` column `c0` of the given pages, read in whole blocks, nulls skipped.
fn one_nullable_column(pages: Vec<harness::raw::Page>, rows: i64) -> harness::Structured {
    use harness::raw;
    harness::Structured {
        file: raw::File {
            columns: vec![raw::Column { name: "c0".into(), physical: raw::FLOAT, optional: true }],
            codec: raw::UNCOMPRESSED,
            row_groups: vec![raw::RowGroup { num_rows: rows, pages: vec![pages], num_values: None }],
            num_rows: None,
        },
        block_rows: shardmix::DEFAULT_BLOCK_ROWS,
        policy: shardmix::NullPolicy::SkipRow,
    }
}

/// The direct path and arrow-rs must agree on `s` (values, or both an error).
fn both_paths_agree(s: &harness::Structured) {
    let dir = tempfile::tempdir().unwrap();
    harness::differential_shard(s, &dir.path().join("x.parquet")).unwrap();
}

// Found by the differential check (structured seed 104): a BYTE_STREAM_SPLIT page with bytes
// beyond its values. arrow-rs splits the streams at len / 4 (trailing bytes included); the
// direct path split them at the count of values and read different values for every row.
#[test]
fn differential_byte_stream_split_with_trailing_bytes() {
    use harness::raw::{self, Page};
    // Three values (1.0, 2.0, 3.0) as four streams of three bytes, then two stray bytes.
    let mut data = raw::v1_levels(&raw::rle_run(3, 1));
    let values: Vec<[u8; 4]> = [1f32, 2.0, 3.0].iter().map(|v| v.to_le_bytes()).collect();
    for k in 0..4 {
        data.extend(values.iter().map(|v| v[k]));
    }
    let clean = data.clone();
    data.extend([0x55, 0xaa, 0x12, 0x34, 0x56]);
    for data in [clean, data] {
        both_paths_agree(&one_nullable_column(
            vec![Page::V1 { num_values: 3, encoding: raw::BYTE_STREAM_SPLIT, def_encoding: raw::RLE, data }],
            3,
        ));
    }
}

// Found by the differential check (structured seed 210): a v2 page whose header claims more
// nulls than its definition levels hold. arrow-rs trusts the claim (and fails for want of
// values); the direct path counted the levels and read the page. It now leaves such a page
// to arrow-rs.
#[test]
fn differential_v2_null_count_contradicting_the_levels() {
    use harness::raw::{self, Page};
    let levels = raw::rle_run(4, 1);
    let def_len = levels.len() as i32;
    let mut data = levels;
    data.extend([0u8; 16]);
    for num_nulls in [0, 2] {
        let page = Page::V2 {
            num_values: 4,
            num_nulls,
            num_rows: 4,
            encoding: raw::PLAIN,
            def_len,
            data: data.clone(),
            compressed: false,
        };
        both_paths_agree(&one_nullable_column(vec![page], 4));
    }
}

// Found with the two above: an RLE run of definition levels whose value byte is wider than
// the bit width (3 for width 1). The direct path masked it to 1 (present); arrow-rs reads 3,
// which is not the maximum level, so the row is null. Such a run is now malformed for the
// direct path, and arrow-rs reads the page.
#[test]
fn differential_rle_value_wider_than_its_bit_width() {
    use harness::raw::{self, Page};
    for value in [1u8, 3] {
        let mut data = raw::v1_levels(&raw::rle_run(2, value));
        data.extend([0u8; 8]);
        let page = Page::V1 { num_values: 2, encoding: raw::PLAIN, def_encoding: raw::RLE, data };
        both_paths_agree(&one_nullable_column(vec![page], 2));
    }
}

// Found by the unguided run of the structured targets (seed 2346): a dictionary-encoded page
// of no values in a chunk without a dictionary page. arrow-rs sets up its decoder anyway and
// panics ("Decoder for dict should have been set", contained as an error); the direct path
// skipped the empty page and read the chunk. It now leaves the chunk to arrow-rs.
#[test]
fn differential_empty_dictionary_page_without_a_dictionary() {
    use harness::raw::{self, Page};
    let mut data = raw::v1_levels(&raw::rle_run(2, 1));
    data.extend([0u8; 8]);
    let plain = Page::V1 { num_values: 2, encoding: raw::PLAIN, def_encoding: raw::RLE, data };
    let empty = Page::V2 {
        num_values: 0,
        num_nulls: 0,
        num_rows: 0,
        encoding: raw::PLAIN_DICTIONARY,
        def_len: 0,
        data: vec![],
        compressed: false,
    };
    both_paths_agree(&one_nullable_column(vec![plain, empty], 2));
}

// Every committed input of the differential target (tests/data/fuzz-regressions/differential-*):
// the direct path and arrow-rs read it alike (same values, or both an error).
#[test]
fn differential_regression_inputs_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    let mut seen = 0;
    for file in inputs("differential") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&file).unwrap();
        if std::env::var_os("SHARDMIX_SHOW_STRUCTURED").is_some() {
            let s = harness::structured(&data);
            println!("{name}: block rows {}, {:?}\n{:#?}", s.block_rows, s.policy, s.file);
        }
        catch_unwind(AssertUnwindSafe(|| harness::differential_bytes(&data, &path)))
            .unwrap_or_else(|_| panic!("the direct path and arrow-rs disagree on {name}"));
        seen += 1;
    }
    assert!(seen > 0, "no differential-* inputs found");
}
