//! `shardmix augment`: write the augmented stream as Parquet shards, resumably.
//!
//! `--out` must stay apart from the input: it may not be a `--data` path, contain one, lie
//! inside a `--data` directory (pyarrow.dataset and HF `datasets` read a directory's
//! subdirectories too, so the augmented shards would join the input dataset), or be matched
//! by a `--data` pattern (the next run would read its shards as input).

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use shardmix::{Compression, Error, ParquetSink, ParquetSinkOptions, Result};

use super::args::PipelineArgs;

/// Arguments of `augment`.
#[derive(clap::Args, Debug)]
pub struct AugmentArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Output directory: part-00000.parquet, … and the hidden .shardmix-run.json and
    /// .shardmix-manifest.json. Must not be, contain or lie inside a --data path.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Rows per output shard, rounded down to whole batches [default: 262144].
    #[arg(long, value_name = "N")]
    pub rows_per_shard: Option<u64>,
    /// Rows per row group in the output [default: 65536].
    #[arg(long, value_name = "N")]
    pub row_group_size: Option<usize>,
    /// Output compression: snappy, zstd or none [default: snappy].
    #[arg(long, value_name = "CODEC")]
    pub compression: Option<String>,
    /// Replace the output of another configuration: deletes only the files shardmix wrote
    /// there, and refuses if other files sit at the names it writes.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn run(args: AugmentArgs, quiet: bool) -> Result<()> {
    let settings = args.pipeline.settings(None)?;
    if settings.world_size > 1 {
        return Err(Error::config("world_size", "augment writes one dataset: run it without --rank/--world-size (each rank of a training job reads the output)"));
    }
    if settings.start_step != 0 {
        return Err(Error::config(
            "start_step",
            "augment resumes by itself from the shards already in --out; do not give --start-step",
        ));
    }
    check_out_apart(&args.out, &settings.data)?;
    let rows_per_shard = args.rows_per_shard.unwrap_or(262_144);
    let steps_per_shard = (rows_per_shard / settings.batch_size as u64).max(1);
    let compression = match args.compression.as_deref().unwrap_or("snappy") {
        "snappy" => Compression::Snappy,
        "zstd" => Compression::Zstd,
        "none" | "uncompressed" => Compression::None,
        other => return Err(Error::config("compression", format!("'{other}' is not one of snappy, zstd, none"))),
    };
    let config = serde_json::to_value(&settings).unwrap_or_default();
    let opts = ParquetSinkOptions::new(steps_per_shard)
        .row_group_size(args.row_group_size.unwrap_or(65_536))
        .compression(compression)
        .provenance(settings.provenance)
        .seed(settings.seed)
        .config(config);

    let set = settings.open_source()?;
    let stages = settings.stages(&set)?;
    let mut builder = settings.builder(set)?;
    for s in stages {
        builder = builder.stage_arc(s);
    }
    // Build once to learn the output spec and the length, then open the sink to learn where to
    // resume, then build the pipeline that starts there.
    let probe = builder.build()?;
    let spec = probe.spec().clone();
    let total = probe.total_steps().unwrap_or(0);
    drop(probe);
    // Locks --out (a concurrent run into it fails here at once) until the sink is dropped.
    let mut sink = ParquetSink::open(&args.out, &spec, opts, &settings.fingerprint(), args.overwrite)?;
    if !sink.is_locked() {
        eprintln!(
            "warning: {}: the filesystem does not support locks; make sure no other run writes there",
            args.out.display()
        );
    }
    let strays = visible_strays(&args.out);
    if !strays.is_empty() {
        eprintln!(
            "warning: {} holds file(s) shardmix did not write: {}; pyarrow.dataset and HF datasets will try to read \
             them as Parquet shards (the glob {}/*.parquet is unaffected)",
            args.out.display(),
            strays.join(", "),
            args.out.display()
        );
    }
    if sink.is_complete() {
        eprintln!("{}: already complete ({} shards); nothing to do", args.out.display(), sink.shards().len());
        return Ok(());
    }
    let resume = sink.resume_step();
    let kept = sink.shards().len();
    if resume > 0 {
        eprintln!("{}: resuming at step {resume} ({kept} complete shards kept)", args.out.display());
    }
    let set = settings.open_source()?;
    let stages = settings.stages(&set)?;
    let mut builder = settings.builder(set)?.start_step(resume);
    for s in stages {
        builder = builder.stage_arc(s);
    }
    let mut pipeline = builder.build()?;
    super::report_unread(&pipeline);
    let bar = super::progress::bar(Some(total.saturating_sub(resume)), "steps", quiet);
    let started = Instant::now();
    let mut rows = 0u64;
    for batch in pipeline.by_ref() {
        let batch = batch?;
        rows += batch.rows() as u64;
        sink.write(&batch)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let manifest = sink.finish(total)?;
    let secs = started.elapsed().as_secs_f64();
    let rate = rows as f64 / secs.max(1e-9);
    let written = manifest.shards.len().saturating_sub(kept);
    if kept > 0 {
        eprintln!(
            "this run wrote {rows} rows in {written} new shard(s) in {secs:.2} s ({rate:.0} rows/s); {} now holds \
             {} rows in {} shard(s), {kept} of them kept from the interrupted run",
            args.out.display(),
            manifest.rows,
            manifest.shards.len(),
        );
    } else {
        eprintln!(
            "wrote {rows} rows in {written} shard(s) to {} in {secs:.2} s ({rate:.0} rows/s)",
            args.out.display()
        );
    }
    super::report_skips(&pipeline.stats());
    Ok(())
}

/// Refuse an `--out` that is, contains or lies inside a `--data` directory, contains a
/// `--data` file, or would be matched by a `--data` pattern.
fn check_out_apart(out: &Path, data: &[PathBuf]) -> Result<()> {
    let out_abs = resolve(out);
    for d in data {
        let pattern = d.to_str().filter(|s| s.contains(['*', '?', '[']) && !d.exists());
        let (root, is_dir) = match pattern {
            Some(p) => (resolve(&glob_base(Path::new(p))), true),
            None => (resolve(d), d.is_dir()),
        };
        let why = if out_abs == root {
            Some("is the input itself: its files would be read and replaced at once (with --overwrite, deleted)")
        } else if root.starts_with(&out_abs) {
            Some("contains the input: --overwrite could delete it, and the output would mix with it")
        } else if is_dir && pattern.is_none() && out_abs.starts_with(&root) {
            Some(
                "lies inside the input directory: readers of that directory as a dataset (pyarrow.dataset, HF \
                 datasets) also read its subdirectories, so the augmented shards would become input",
            )
        } else if pattern.is_some_and(|p| glob_matches(p, &out_abs)) {
            Some("is matched by the input pattern: the next run would read its shards as input")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::config(
                "out",
                format!(
                    "--out {} {why} (--data {}); nothing was read or written: choose an --out outside the input",
                    out.display(),
                    d.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Visible files of `out` other than shards: readers of the directory as a dataset would
/// take them for shards.
fn visible_strays(out: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(out) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            let shard = n.starts_with("part-") && n.ends_with(".parquet");
            !n.starts_with('.') && !shard
        })
        .collect();
    names.sort();
    names
}

/// `path` made absolute with symbolic links resolved as far as it exists (the rest is
/// appended as written, `..` applied lexically).
fn resolve(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    let base = loop {
        if let Ok(c) = existing.canonicalize() {
            break c;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break existing.to_path_buf(),
        }
    };
    let mut out = base;
    for name in rest.into_iter().rev() {
        for c in Path::new(&name).components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
    }
    out
}

/// The directory a glob starts from: its components before the first one with a wildcard.
fn glob_base(pattern: &Path) -> PathBuf {
    let mut base = PathBuf::new();
    for c in pattern.components() {
        if c.as_os_str().to_str().is_some_and(|s| s.contains(['*', '?', '['])) {
            break;
        }
        base.push(c);
    }
    if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    }
}

/// Whether the pattern `p` would match a shard of the output directory `out` (absolute).
fn glob_matches(p: &str, out: &Path) -> bool {
    let Ok(pattern) = glob::Pattern::new(&resolve(Path::new(p)).to_string_lossy()) else {
        return false;
    };
    let opts = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
    pattern.matches_path_with(&out.join("part-00000.parquet"), opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(out: &Path, data: &Path) -> Option<String> {
        check_out_apart(out, &[data.to_path_buf()]).err().map(|e| e.to_string())
    }

    #[test]
    fn out_must_stay_apart_from_the_input() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("data");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a.parquet"), b"x").unwrap();
        assert!(refused(&d, &d).unwrap().contains("is the input itself"));
        assert!(refused(&d.join("sub/.."), &d).unwrap().contains("is the input itself"));
        assert!(refused(tmp.path(), &d).unwrap().contains("contains the input"));
        assert!(refused(&d, &d.join("a.parquet")).unwrap().contains("contains the input"));
        assert!(refused(&d.join("aug"), &d).unwrap().contains("inside the input directory"));
        assert!(refused(&d.join("sub/new/deeper"), &d).unwrap().contains("inside the input directory"));
        // A pattern: its base directory counts as the input; out is refused if it matches.
        let star = d.join("*.parquet");
        assert!(refused(&d, &star).unwrap().contains("is the input itself"));
        assert!(refused(&d.join("aug"), &star).is_none(), "'*' does not reach into subdirectories");
        assert!(refused(&d.join("aug"), &d.join("*/*.parquet")).unwrap().contains("matched by the input pattern"));
        // Siblings and a file's directory are fine.
        assert!(refused(&tmp.path().join("out"), &d).is_none());
        assert!(refused(&d.join("aug"), &d.join("a.parquet")).is_none());
        // Through a symbolic link.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&d, &link).unwrap();
        assert!(refused(&link, &d).unwrap().contains("is the input itself"));
        assert!(refused(&link.join("aug"), &d).unwrap().contains("inside the input directory"));
    }
}
