//! Snappy decompression alone, on the pages of real files: the `snap` crate (what arrow-rs
//! uses) against shardmix's own decompressor (`shardmix::snappy`, the direct decode path's),
//! interleaved, each pass decompressing every Snappy page of every `*.parquet` file of `DIR`
//! into one reused buffer.
//!
//! ```sh
//! cargo run --release --example peer_data -- --with-uint8    # prints b8=DIR
//! cargo run --release --example snappy_pages -- DIR [--repeats R]
//! ```
//!
//! Prints the pages' sizes, what their Snappy streams are made of (literals and copies, copies
//! at offsets under 16), each pair's times, and the median ratio snap ÷ shardmix. Every page
//! is checked to decompress to the same bytes with both.

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use parquet::basic::Compression;
use parquet::column::page::{Page, PageReader};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::SerializedPageReader;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The Snappy-compressed bytes of every page of every Snappy column chunk of `path`.
fn pages_of(path: &PathBuf, out: &mut Vec<Vec<u8>>) -> Result<(), BoxError> {
    let file = Arc::new(File::open(path)?);
    let reader = SerializedFileReader::new(File::open(path)?)?;
    for rg in reader.metadata().row_groups() {
        for col in rg.columns() {
            if col.compression() != Compression::SNAPPY {
                continue;
            }
            // Read the pages raw, as the direct path does.
            let raw = col.clone().into_builder().set_compression(Compression::UNCOMPRESSED).build()?;
            let mut pages = SerializedPageReader::new(file.clone(), &raw, rg.num_rows() as usize, None)?;
            while let Some(page) = pages.get_next_page()? {
                match page {
                    Page::DataPage { buf, .. } | Page::DictionaryPage { buf, .. } => out.push(buf.to_vec()),
                    Page::DataPageV2 { buf, def_levels_byte_len, rep_levels_byte_len, is_compressed, .. } => {
                        if is_compressed {
                            out.push(buf[(def_levels_byte_len + rep_levels_byte_len) as usize..].to_vec());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// (literals, literal bytes, copies, copied bytes, copies at offsets under 16, their bytes).
fn ops(page: &[u8]) -> [u64; 6] {
    let mut s = 0;
    while page[s] & 0x80 != 0 {
        s += 1;
    }
    s += 1;
    let mut c = [0u64; 6];
    while s < page.len() {
        let tag = page[s];
        s += 1;
        let (n, offset) = match tag & 3 {
            0 => {
                let mut n = (tag >> 2) as usize + 1;
                if n > 60 {
                    let k = n - 60;
                    n = page[s..s + k].iter().rev().fold(0, |v, &b| (v << 8) | b as usize) + 1;
                    s += k;
                }
                s += n;
                c[0] += 1;
                c[1] += n as u64;
                continue;
            }
            1 => {
                s += 1;
                (((tag >> 2) & 7) as usize + 4, ((tag as usize >> 5) << 8) | page[s - 1] as usize)
            }
            2 => {
                s += 2;
                ((tag >> 2) as usize + 1, u16::from_le_bytes([page[s - 2], page[s - 1]]) as usize)
            }
            _ => {
                s += 4;
                ((tag >> 2) as usize + 1, u32::from_le_bytes(page[s - 4..s].try_into().unwrap()) as usize)
            }
        };
        c[2] += 1;
        c[3] += n as u64;
        if offset < 16 {
            c[4] += 1;
            c[5] += n as u64;
        }
    }
    c
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().ok_or("usage: snappy_pages DIR [--repeats R]")?);
    let repeats: usize = match args.iter().position(|a| a == "--repeats") {
        Some(i) => args.get(i + 1).ok_or("--repeats needs a value")?.parse()?,
        None => 5,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "parquet"));
    files.sort();
    let mut pages = Vec::new();
    for f in &files {
        pages_of(f, &mut pages)?;
    }
    let lens: Vec<usize> =
        pages.iter().map(|p| shardmix::snappy::len(p).ok_or("bad header")).collect::<Result<_, _>>()?;
    let (raw, all): (usize, usize) = (pages.iter().map(Vec::len).sum(), lens.iter().sum());
    let max = lens.iter().copied().max().unwrap_or(0);
    let mut c = [0u64; 6];
    for p in &pages {
        for (a, b) in c.iter_mut().zip(ops(p)) {
            *a += b;
        }
    }
    println!(
        "{} pages, {:.1} MB -> {:.1} MB (largest {} KB); literals {} ({} B avg), copies {} ({:.1} B avg), \
         offset < 16: {} copies ({:.1} % of copied bytes)",
        pages.len(),
        raw as f64 / 1e6,
        all as f64 / 1e6,
        max / 1000,
        c[0],
        c[1] / c[0].max(1),
        c[2],
        c[3] as f64 / c[2].max(1) as f64,
        c[4],
        100.0 * c[5] as f64 / c[3].max(1) as f64
    );
    let mut a = vec![0u8; max];
    let mut b = vec![0u8; max];
    for (p, &n) in pages.iter().zip(&lens) {
        let got = snap::raw::Decoder::new().decompress(p, &mut a[..n])?;
        shardmix::snappy::decompress(p, &mut b[..n]).ok_or("shardmix::snappy refused a page")?;
        if got != n || a[..n] != b[..n] {
            return Err("the two decompressors differ".into());
        }
    }
    let mut ratios = Vec::new();
    let (mut ts, mut to) = (Vec::new(), Vec::new());
    for r in 0..repeats + 1 {
        let t = Instant::now();
        for (p, &n) in pages.iter().zip(&lens) {
            black_box(snap::raw::Decoder::new().decompress(p, &mut a[..n])?);
        }
        let snap_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for (p, &n) in pages.iter().zip(&lens) {
            black_box(shardmix::snappy::decompress(p, &mut b[..n]));
        }
        let ours = t.elapsed().as_secs_f64();
        if r == 0 {
            continue; // warm-up
        }
        println!(
            "pair {}: snap {:.3} s ({:.0} MB/s), shardmix {:.3} s ({:.0} MB/s), ratio {:.3}",
            r - 1,
            snap_secs,
            all as f64 / snap_secs / 1e6,
            ours,
            all as f64 / ours / 1e6,
            snap_secs / ours
        );
        ratios.push(snap_secs / ours);
        ts.push(snap_secs);
        to.push(ours);
    }
    println!(
        "median: snap {:.3} s, shardmix {:.3} s, median pair ratio {:.3}x",
        median(ts),
        median(to),
        median(ratios)
    );
    Ok(())
}
