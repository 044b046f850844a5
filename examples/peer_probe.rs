//! Diagnostic of the peer benchmarks' writers section (`benches/peers/run.sh --writers`): what a
//! Parquet file's column chunks hold, and which of its blocks shardmix decodes by its direct path.
//!
//! ```sh
//! cargo run --release --example peer_probe -- [--passes N] DIR_OR_FILE...
//! ```
//!
//! For every `*.parquet` file (sorted by name) it prints on stdout, one line each:
//!
//! - `PROBE {json}`: the page census of the file's features (`f*`) and of `label`, read with
//!   arrow-rs's page reader: the codecs, every page as `kind:ENCODING` (`dict`, `v1`, `v2`;
//!   `v1` with a nullable column also names its definition-level encoding) with its count, the
//!   maximum definition level, and `predicted`: whether the direct path reads every page by the
//!   rules of `src/source/pages/plain.rs` as of this commit (PLAIN, BYTE_STREAM_SPLIT and dictionary
//!   values; v1 and v2 data pages; RLE definition levels; flat f32/f64/i32/i64 columns), or the
//!   first page it would not read. This is a prediction from those rules, not an observation.
//! - `BLOCK file block rows` before and `BLOCKEND file block secs` after shardmix decodes one
//!   block (`ShardSet::read_rows` of exactly that block, on this thread, no cache); with
//!   `--passes N` (default 1) every block of a file is decoded N times in a row, through the same
//!   `ShardSet` (so later passes find its buffer pools warm).
//!
//! The observation: shardmix does not say which path decoded a block (no public hook), so
//! `benches/peers/harness.py` runs this program under `gdb` with a breakpoint that prints
//! `GDB arrow-rs` each time `parquet::arrow::array_reader::ArrayReaderBuilder::build_array_reader`
//! runs, which only arrow-rs's record-batch reader, the fallback, calls while a block is decoded.
//! A `GDB arrow-rs` line between `BLOCK` and `BLOCKEND` is a block that fell back (wholly or
//! after the direct path met a page it does not read). Without gdb the census, the prediction
//! and the per-block times still print.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::Page;
use parquet::file::reader::{FileReader, SerializedFileReader};
use shardmix::{Features, ShardSet, Target};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one group of columns (the features, or the label) holds, over a file's row groups.
#[derive(Default)]
struct Census {
    codecs: BTreeMap<String, usize>,
    pages: BTreeMap<String, usize>,
    max_def: i16,
    /// The first reason the direct path would not read a column chunk of this group.
    fallback: Option<String>,
}

impl Census {
    fn json(&self) -> String {
        let map = |m: &BTreeMap<String, usize>| {
            let items: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            format!("{{{}}}", items.join(", "))
        };
        let predicted = match &self.fallback {
            None => "\"direct\"".to_string(),
            Some(why) => format!("\"arrow-rs: {}\"", why.replace('"', "'")),
        };
        format!(
            "{{\"codecs\": {}, \"pages\": {}, \"max_def\": {}, \"predicted\": {predicted}}}",
            map(&self.codecs),
            map(&self.pages),
            self.max_def
        )
    }
}

/// The direct path's rule for a column: its Parquet and Arrow types (`Plain::of`) and shape.
fn type_fallback(physical: PhysicalType, arrow: &DataType, max_def: i16, max_rep: i16) -> Option<String> {
    let readable = matches!(
        (physical, arrow),
        (PhysicalType::FLOAT, DataType::Float32)
            | (PhysicalType::DOUBLE, DataType::Float64)
            | (PhysicalType::INT32, DataType::Int32)
            | (PhysicalType::INT64, DataType::Int64)
    );
    if !readable {
        return Some(format!("type {physical:?} read as {arrow}"));
    }
    (max_def > 1 || max_rep > 0).then(|| format!("nested (max def {max_def}, max rep {max_rep})"))
}

/// The direct path's rule for one page (`PageStream::next_run` and `read_dictionary`).
fn page_fallback(page: &Page, max_def: i16, dictionaries: usize) -> Option<String> {
    let values = |e: Encoding| {
        matches!(
            e,
            Encoding::PLAIN | Encoding::BYTE_STREAM_SPLIT | Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY
        )
    };
    match page {
        Page::DictionaryPage { encoding, .. } => {
            if dictionaries > 0 {
                Some("a second dictionary page".into())
            } else if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
                Some(format!("dictionary page {encoding}"))
            } else {
                None
            }
        }
        Page::DataPage { encoding, def_level_encoding, .. } => {
            if !values(*encoding) {
                Some(format!("v1 page {encoding}"))
            } else if max_def > 0 && *def_level_encoding != Encoding::RLE {
                Some(format!("v1 page definition levels {def_level_encoding}"))
            } else {
                None
            }
        }
        Page::DataPageV2 { encoding, num_values, num_rows, def_levels_byte_len, rep_levels_byte_len, .. } => {
            if !values(*encoding) {
                Some(format!("v2 page {encoding}"))
            } else if *rep_levels_byte_len != 0 || num_rows != num_values {
                Some("v2 page with repetition levels".into())
            } else if max_def == 0 && *def_levels_byte_len != 0 {
                Some("v2 page with levels in a REQUIRED column".into())
            } else {
                None
            }
        }
    }
}

fn page_key(page: &Page, max_def: i16) -> String {
    match page {
        Page::DictionaryPage { encoding, .. } => format!("dict:{encoding}"),
        Page::DataPage { encoding, def_level_encoding, .. } if max_def > 0 => {
            format!("v1:{encoding} (levels {def_level_encoding})")
        }
        Page::DataPage { encoding, .. } => format!("v1:{encoding}"),
        Page::DataPageV2 { encoding, is_compressed, .. } => {
            format!("v2:{encoding}{}", if *is_compressed { "" } else { " (uncompressed)" })
        }
    }
}

/// The census of `path`: (features, label).
fn census(path: &Path) -> Result<(Census, Census), BoxError> {
    let arrow = ArrowReaderMetadata::load(&File::open(path)?, Default::default())?;
    let schema = arrow.schema().clone();
    let reader = SerializedFileReader::new(File::open(path)?)?;
    let meta = reader.metadata();
    let descr = meta.file_metadata().schema_descr();
    let (mut features, mut label) = (Census::default(), Census::default());
    for rg in 0..meta.num_row_groups() {
        let row_group = reader.get_row_group(rg)?;
        for leaf in 0..descr.num_columns() {
            let column = descr.column(leaf);
            let name = column.path().string();
            let group = if name == "label" {
                &mut label
            } else if name.starts_with('f') {
                &mut features
            } else {
                continue;
            };
            let max_def = column.max_def_level();
            group.max_def = group.max_def.max(max_def);
            let chunk = meta.row_group(rg).column(leaf);
            *group.codecs.entry(format!("{}", chunk.compression())).or_default() += 1;
            let field = schema.field(descr.get_column_root_idx(leaf));
            let mut why = type_fallback(column.physical_type(), field.data_type(), max_def, column.max_rep_level());
            let mut pages = row_group.get_column_page_reader(leaf)?;
            let mut dictionaries = 0;
            while let Some(page) = pages.get_next_page()? {
                *group.pages.entry(page_key(&page, max_def)).or_default() += 1;
                if why.is_none() {
                    why = page_fallback(&page, max_def, dictionaries).map(|w| format!("{w} (column {name})"));
                }
                dictionaries += usize::from(matches!(page, Page::DictionaryPage { .. }));
            }
            if group.fallback.is_none() {
                group.fallback = why;
            }
        }
    }
    Ok((features, label))
}

/// The `*.parquet` files of each argument (a file, or a directory's files sorted by name).
fn files(args: &[String]) -> Result<Vec<PathBuf>, BoxError> {
    let mut out = Vec::new();
    for a in args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            let mut list: Vec<PathBuf> = std::fs::read_dir(&p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
                .collect();
            list.sort();
            out.extend(list);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

fn main() -> Result<(), BoxError> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut passes = 1usize;
    if let Some(at) = args.iter().position(|a| a == "--passes") {
        passes = args.get(at + 1).ok_or("--passes needs a number")?.parse()?;
        args.drain(at..at + 2);
    }
    if args.is_empty() || passes == 0 || args.iter().any(|a| a.starts_with("--")) {
        return Err("usage: peer_probe [--passes N] DIR_OR_FILE...".into());
    }
    let mut out = std::io::stdout().lock();
    for (i, path) in files(&args)?.iter().enumerate() {
        let (features, label) = census(path)?;
        writeln!(
            out,
            "PROBE {{\"index\": {i}, \"file\": \"{}\", \"features\": {}, \"label\": {}}}",
            path.display(),
            features.json(),
            label.json()
        )?;
        out.flush()?;
        let set = ShardSet::open(path)?.features(Features::prefix("f"))?.target(Target::class("label", 10))?;
        let blocks = set.row_groups().iter().enumerate();
        for (b, block) in blocks.flat_map(|b| std::iter::repeat_n(b, passes)) {
            writeln!(out, "BLOCK {i} {b} {}", block.num_rows)?;
            out.flush()?;
            let t = Instant::now();
            let batch = set.read_rows(block.first_row..block.first_row + block.num_rows)?;
            let secs = t.elapsed().as_secs_f64();
            std::hint::black_box(&batch);
            writeln!(out, "BLOCKEND {i} {b} {secs:.6}")?;
            out.flush()?;
        }
    }
    Ok(())
}
