//! Offline augmentation: the augmented stream written as a directory of Parquet shards
//! ([`ParquetSink`]), what `shardmix augment` does, for any front end (the command line,
//! Rust code, the Python package, a distributed runner).
//!
//! An [`AugmentPlan`] is made once from the settings, the output directory and the
//! [`AugmentOptions`]: it validates them (the output must stay apart from the input, see
//! below), builds the pipeline once to learn the output spec and the step count, and fixes
//! the shard boundaries: shard `k` holds the steps [`AugmentPlan::shard_steps`]`(k)`, a pure
//! function of the configuration and `k`. Then either
//!
//! * [`AugmentPlan::run`]: the single-process run — lock the directory, resume after the
//!   complete shards, write the rest, write the manifest; or
//! * the same output in pieces, for a distributed runner: [`AugmentPlan::prepare`] once
//!   (lock, resume or `overwrite`, the run file), [`AugmentPlan::write_shards`] for ranges
//!   of shards in any order, in any number of processes at once (each writes exactly those
//!   whole shards, by temporary file and rename, skipping those already written, touching
//!   only files it can prove shardmix wrote), then [`AugmentPlan::finish`] once (checks that
//!   every shard is there, writes the manifest). The directory is byte for byte the one
//!   [`AugmentPlan::run`] writes.
//!
//! [`AugmentPlan::run_with_stop`] and [`AugmentPlan::write_shards_with_stop`] take a
//! [`StopToken`], checked before every step: once it is stopped they return
//! [`ErrorKind::Interrupted`] and leave the directory as an interrupted run does — the
//! complete shards kept, the shard being written discarded (its temporary file removed), so a
//! later run resumes after the complete shards and writes the same bytes.
//!
//! The output directory may not be an input path, contain one, lie inside an input
//! directory (pyarrow.dataset and HF `datasets` read a directory's subdirectories too, so
//! the augmented shards would join the input dataset), or be matched by an input pattern
//! (the next run would read its shards as input).
//!
//! # Example
//! ```
//! use shardmix::augment::{AugmentOptions, AugmentPlan};
//! use shardmix::PipelineConfig;
//! let settings = PipelineConfig {
//!     data: Some(vec!["examples/data/digits.parquet".into()]),
//!     batch_size: Some(64),
//!     steps: Some(5),
//!     ..Default::default()
//! }
//! .settings(None)?;
//! let dir = tempfile::tempdir().unwrap();
//! let opts = AugmentOptions { rows_per_shard: Some(128), ..Default::default() };
//! let plan = AugmentPlan::new(settings, &dir.path().join("out"), &opts)?;
//! assert_eq!((plan.total_steps(), plan.steps_per_shard(), plan.num_shards()), (5, 2, 3));
//! // In pieces (each call could run in another process), in any order:
//! plan.prepare()?;
//! plan.write_shards(1..3, &mut |_| {})?;
//! plan.write_shards(0..1, &mut |_| {})?;
//! let manifest = plan.finish()?;
//! assert_eq!(manifest.rows, 5 * 64);
//! # Ok::<(), shardmix::Error>(())
//! ```

use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::Pipeline;
use crate::settings::Settings;
use crate::sink::{
    fnv1a64, shard_file_name, shard_state, Compression, ImageOut, Manifest, ManifestShard, OutputSchema, ParquetSink,
    ParquetSinkOptions, ShardState,
};
use crate::spec::DataSpec;
use crate::stop::StopToken;

/// Rows per output shard when not given (rounded down to whole batches).
pub const DEFAULT_ROWS_PER_SHARD: u64 = 262_144;
/// Rows per row group of the output when not given.
pub const DEFAULT_ROW_GROUP_SIZE: usize = 65_536;

/// The options of `augment` besides the pipeline's: its flags `--rows-per-shard`,
/// `--row-group-size`, `--compression`, `--overwrite`, `--image-out`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentOptions {
    /// Rows per output shard, rounded down to whole batches (default [`DEFAULT_ROWS_PER_SHARD`]).
    pub rows_per_shard: Option<u64>,
    /// Rows per row group in the output (default [`DEFAULT_ROW_GROUP_SIZE`]).
    pub row_group_size: Option<usize>,
    /// Output compression: `snappy`, `zstd` or `none` (default `snappy`).
    pub compression: Option<String>,
    /// Replace the output of another configuration: deletes only the files shardmix wrote
    /// there, and refuses if other files sit at the names it writes.
    pub overwrite: bool,
    /// How image features are written: `tensor` (the default, float lists) or `png`
    /// (re-encoded 8-bit PNG files in Hugging Face's `Image` layout, see
    /// [`OutputSchema::with_image_out`](crate::OutputSchema::with_image_out)); `--image-out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_out: Option<String>,
}

/// What happens during [`AugmentPlan::run`] and [`AugmentPlan::write_shards`], for a front
/// end to show.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A line for the user (warnings start with `warning:`, notes with `note:`); the
    /// command line prints it on stderr.
    Note(String),
    /// The run starts writing this many steps.
    Start(u64),
    /// One more step written.
    Step,
}

/// What [`AugmentPlan::prepare`] found in the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prepared {
    /// The directory already holds the complete run (its manifest).
    pub complete: bool,
    /// Shards `0..kept_shards` are complete and kept (from an interrupted run).
    pub kept_shards: u64,
    /// The step the run resumes at.
    pub resume_step: u64,
    /// False when the filesystem does not support locks.
    pub locked: bool,
    /// Visible files of the directory that are not shards (see [`AugmentPlan::run`]).
    pub strays: Vec<String>,
}

/// What [`AugmentPlan::write_shards`] did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ShardsWritten {
    /// The shards written by this call, in order.
    pub written: Vec<ManifestShard>,
    /// Shards of the range already written (by an earlier call or another process): left as
    /// they are.
    pub skipped: Vec<u64>,
    /// Rows written by this call.
    pub rows: u64,
}

/// What [`AugmentPlan::run`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AugmentSummary {
    /// The output directory.
    pub out: PathBuf,
    /// The directory already held the complete run; nothing was written.
    pub already_complete: bool,
    /// Rows written by this run.
    pub rows_written: u64,
    /// Shards written by this run.
    pub shards_written: u64,
    /// Shards kept from an interrupted run.
    pub shards_kept: u64,
    /// Rows in the whole output.
    pub rows: u64,
    /// Shards in the whole output.
    pub shards: u64,
    /// Pipeline steps of the whole output.
    pub steps: u64,
    /// Seconds spent writing.
    pub seconds: f64,
    /// Rows and blocks the run skipped (null policy, unreadable shards), one warning each;
    /// the command line prints them after [`message`](Self::message).
    pub warnings: Vec<String>,
}

/// The plan of an augmentation run; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct AugmentPlan {
    settings: Settings,
    out: PathBuf,
    overwrite: bool,
    sink_options: ParquetSinkOptions,
    spec: DataSpec,
    total_steps: u64,
    steps_per_shard: u64,
    fingerprint: String,
}

impl AugmentPlan {
    /// Validate the settings and options for writing to `out` and fix the plan: builds the
    /// pipeline once (opening the data and any models) to learn the output spec and the step
    /// count. Reads nothing in `out` and changes nothing anywhere.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Config`] naming the parameter: a `world_size` over 1 or a
    /// `start_step` (augment writes one dataset and resumes by itself), an `out` that does
    /// not stay apart from the input, a bad `compression`; then any error of building the
    /// pipeline.
    pub fn new(settings: Settings, out: &Path, options: &AugmentOptions) -> Result<AugmentPlan> {
        if settings.world_size > 1 {
            return Err(Error::config("world_size", "augment writes one dataset: run it without --rank/--world-size (each rank of a training job reads the output)"));
        }
        if settings.start_step != 0 {
            return Err(Error::config(
                "start_step",
                "augment resumes by itself from the shards already in --out; do not give --start-step",
            ));
        }
        check_out_apart(out, &settings.data)?;
        let rows_per_shard = options.rows_per_shard.unwrap_or(DEFAULT_ROWS_PER_SHARD);
        let steps_per_shard = (rows_per_shard / settings.batch_size as u64).max(1);
        let compression = match options.compression.as_deref().unwrap_or("snappy") {
            "snappy" => Compression::Snappy,
            "zstd" => Compression::Zstd,
            "none" | "uncompressed" => Compression::None,
            other => return Err(Error::config("compression", format!("'{other}' is not one of snappy, zstd, none"))),
        };
        let image_out = ImageOut::parse(options.image_out.as_deref().unwrap_or("tensor"))?;
        let config = serde_json::to_value(&settings).unwrap_or_default();
        let sink_options = ParquetSinkOptions::new(steps_per_shard)
            .row_group_size(options.row_group_size.unwrap_or(DEFAULT_ROW_GROUP_SIZE))
            .compression(compression)
            .provenance(settings.provenance)
            .seed(settings.seed)
            .config(config)
            .image_out(image_out);
        // Build once to learn the output spec and the length.
        let probe = pipeline_at(&settings, 0)?;
        let spec = probe.spec().clone();
        let total_steps = probe.total_steps().unwrap_or(0);
        drop(probe);
        // The output's form is part of its identity: PNG output is another run's output.
        OutputSchema::with_image_out(&spec, settings.provenance, image_out)?;
        let fingerprint = match image_out {
            ImageOut::Tensor => settings.fingerprint(),
            ImageOut::Png => {
                format!("{:016x}", fnv1a64(format!("{}:image_out=png", settings.fingerprint()).as_bytes()))
            }
        };
        Ok(AugmentPlan {
            settings,
            out: out.to_path_buf(),
            overwrite: options.overwrite,
            sink_options,
            spec,
            total_steps,
            steps_per_shard,
            fingerprint,
        })
    }

    /// The pipeline settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The output directory.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The output's data spec.
    pub fn spec(&self) -> &DataSpec {
        &self.spec
    }

    /// Pipeline steps of the whole run.
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// Pipeline steps per shard (the last shard may hold fewer).
    pub fn steps_per_shard(&self) -> u64 {
        self.steps_per_shard
    }

    /// Shards of the whole run.
    pub fn num_shards(&self) -> u64 {
        self.total_steps.div_ceil(self.steps_per_shard)
    }

    /// The steps shard `k` holds: `[k·S, min((k+1)·S, total))`, empty past the last shard.
    pub fn shard_steps(&self, k: u64) -> Range<u64> {
        let start = k.saturating_mul(self.steps_per_shard).min(self.total_steps);
        start..start.saturating_add(self.steps_per_shard).min(self.total_steps)
    }

    /// The run's fingerprint (see [`Settings::fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Open the output directory as [`ParquetSink::open`] does, locked until the sink is
    /// dropped.
    fn open(&self, overwrite: bool) -> Result<ParquetSink> {
        ParquetSink::open(&self.out, &self.spec, self.sink_options.clone(), &self.fingerprint, overwrite)
    }

    /// Make the output directory ready (the first piece of a distributed run): create it,
    /// lock it while working, keep the complete shards of an interrupted run of the same
    /// configuration, or with `overwrite` delete the files shardmix wrote for another one,
    /// and write the run file. The lock is released on return.
    ///
    /// # Errors
    /// As [`ParquetSink::open`].
    pub fn prepare(&self) -> Result<Prepared> {
        let sink = self.open(self.overwrite)?;
        Ok(Prepared {
            complete: sink.is_complete(),
            kept_shards: sink.shards().len() as u64,
            resume_step: sink.resume_step(),
            locked: sink.is_locked(),
            strays: visible_strays(&self.out),
        })
    }

    /// Write the whole shards `shards` (indices, clamped to the run's shards) that are not
    /// written yet, each by temporary file and rename, from pipelines that start at their
    /// first steps; shards already written (by an earlier call or another process) are left
    /// as they are. Any number of calls may run at once on disjoint ranges, in this process
    /// or others; the directory must have been made ready by [`prepare`](Self::prepare).
    /// `on_event` hears [`Event::Start`] with the steps to write and [`Event::Step`] per step.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Output`] when the directory was not made ready for this run,
    /// [`crate::ErrorKind::NotOurs`] when a file shardmix did not write sits at a shard's
    /// name (nothing is written then);
    /// [`crate::ErrorKind::OutputLocked`] while a single-process run or
    /// [`prepare`](Self::prepare)/[`finish`](Self::finish) holds the directory, or another
    /// task writes the same shard; any pipeline or write error (the shard being written is
    /// discarded; shards closed before stay).
    pub fn write_shards(&self, shards: Range<u64>, on_event: &mut dyn FnMut(Event)) -> Result<ShardsWritten> {
        self.write_shards_with_stop(shards, &StopToken::new(), on_event)
    }

    /// [`write_shards`](Self::write_shards), checking `stop` before every step.
    ///
    /// # Errors
    /// As [`write_shards`](Self::write_shards), and [`ErrorKind::Interrupted`] once `stop`
    /// is stopped: the shards closed before stay, the one being written is discarded.
    pub fn write_shards_with_stop(
        &self,
        shards: Range<u64>,
        stop: &StopToken,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<ShardsWritten> {
        let n = self.num_shards();
        let shards = shards.start.min(n)..shards.end.min(n);
        let mut report = ShardsWritten::default();
        let mut todo = Vec::new();
        let mut foreign = Vec::new();
        for k in shards {
            match shard_state(&self.out, k, &self.fingerprint, self.shard_steps(k)) {
                ShardState::Written => report.skipped.push(k),
                ShardState::Missing | ShardState::Stale => todo.push(k),
                ShardState::Foreign(why) => foreign.push((shard_file_name(k), why)),
            }
        }
        if !foreign.is_empty() {
            return Err(ErrorKind::NotOurs { path: self.out.clone(), action: "replace".into(), files: foreign }.into());
        }
        let steps: u64 = todo.iter().map(|&k| self.shard_steps(k).end - self.shard_steps(k).start).sum();
        on_event(Event::Start(steps));
        // Contiguous runs of shards to write, each from one pipeline.
        let mut i = 0;
        while i < todo.len() {
            let mut j = i + 1;
            while j < todo.len() && todo[j] == todo[j - 1] + 1 {
                j += 1;
            }
            let (first, last) = (todo[i], todo[j - 1]);
            let steps = self.shard_steps(first).start..self.shard_steps(last).end;
            stop.check(|| self.interrupted(steps.start))?;
            let mut sink =
                ParquetSink::open_shards(&self.out, &self.spec, self.sink_options.clone(), &self.fingerprint, first)?;
            let mut pipeline = pipeline_at(&self.settings, steps.start)?;
            let mut next = steps.start;
            while next < steps.end {
                stop.check(|| self.interrupted(next))?;
                let batch = match pipeline.next() {
                    Some(b) => b?,
                    None => break,
                };
                report.rows += batch.rows() as u64;
                sink.write(&batch)?;
                next += 1;
                on_event(Event::Step);
            }
            if next != steps.end {
                return Err(output_error(
                    &self.out,
                    format!("the pipeline ended at step {next}, before the end of shard {last} (step {})", steps.end),
                ));
            }
            drop(pipeline);
            report.written.extend(sink.close_shards()?);
            i = j;
        }
        Ok(report)
    }

    /// Write the manifest once every shard is written (the last piece of a distributed
    /// run): lock the directory, check each shard (footer, identity, CRC-32) and write
    /// `.shardmix-manifest.json` exactly as [`run`](Self::run) does. For a run found
    /// complete, returns its manifest.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Incomplete`] naming the shards not written yet (nothing is changed
    /// then); [`crate::ErrorKind::OutputLocked`] while tasks still write shards; as
    /// [`ParquetSink::open`] and [`ParquetSink::finish`].
    pub fn finish(&self) -> Result<Manifest> {
        let missing: Vec<String> = (0..self.num_shards())
            .filter(|&k| shard_state(&self.out, k, &self.fingerprint, self.shard_steps(k)) != ShardState::Written)
            .map(shard_file_name)
            .collect();
        if !missing.is_empty() && !self.out.join(crate::sink::MANIFEST_FILE).exists() {
            return Err(ErrorKind::Incomplete { path: self.out.clone(), missing, total: self.num_shards() }.into());
        }
        let sink = self.open(false)?;
        if !sink.is_complete() && sink.resume_step() != self.total_steps {
            return Err(output_error(
                &self.out,
                format!(
                    "holds the steps 0..{} of {}; write the missing shards (write_shards) before finish",
                    sink.resume_step(),
                    self.total_steps
                ),
            ));
        }
        sink.finish(self.total_steps)
    }

    /// The single-process run (`shardmix augment`): lock the directory (until the end),
    /// resume after the complete shards of an interrupted run (or with `overwrite` replace
    /// the files shardmix wrote for another configuration), write the remaining steps and
    /// the manifest. `on_event` hears the notes the command line prints, [`Event::Start`]
    /// and one [`Event::Step`] per step.
    ///
    /// # Errors
    /// As [`ParquetSink::open`], [`ParquetSink::write`] and [`ParquetSink::finish`], and any
    /// pipeline error.
    pub fn run(&self, on_event: &mut dyn FnMut(Event)) -> Result<AugmentSummary> {
        self.run_with_stop(&StopToken::new(), on_event)
    }

    /// [`run`](Self::run), checking `stop` before every step (see the [module docs](self)).
    ///
    /// # Errors
    /// As [`run`](Self::run), and [`ErrorKind::Interrupted`] once `stop` is stopped: the
    /// complete shards stay, the one being written is discarded, no manifest is written.
    pub fn run_with_stop(&self, stop: &StopToken, on_event: &mut dyn FnMut(Event)) -> Result<AugmentSummary> {
        let out = self.out.display();
        // Locks the directory (a concurrent run into it fails here at once) until the sink
        // is dropped.
        let mut sink = self.open(self.overwrite)?;
        if !sink.is_locked() {
            on_event(Event::Note(format!(
                "warning: {out}: the filesystem does not support locks; make sure no other run writes there"
            )));
        }
        let strays = visible_strays(&self.out);
        if !strays.is_empty() {
            on_event(Event::Note(format!(
                "warning: {out} holds file(s) shardmix did not write: {}; pyarrow.dataset and HF datasets will try to \
                 read them as Parquet shards (the glob {out}/*.parquet is unaffected)",
                strays.join(", "),
            )));
        }
        let mut summary = AugmentSummary {
            out: self.out.clone(),
            already_complete: false,
            rows_written: 0,
            shards_written: 0,
            shards_kept: sink.shards().len() as u64,
            rows: sink.shards().iter().map(|s| s.rows).sum(),
            shards: sink.shards().len() as u64,
            steps: self.total_steps,
            seconds: 0.0,
            warnings: Vec::new(),
        };
        if sink.is_complete() {
            on_event(Event::Note(format!("{out}: already complete ({} shards); nothing to do", sink.shards().len())));
            summary.already_complete = true;
            return Ok(summary);
        }
        let resume = sink.resume_step();
        let kept = sink.shards().len();
        if resume > 0 {
            on_event(Event::Note(format!("{out}: resuming at step {resume} ({kept} complete shards kept)")));
        }
        stop.check(|| self.interrupted(resume))?;
        let mut pipeline = pipeline_at(&self.settings, resume)?;
        if let Some(note) = crate::report::unread_note(&pipeline) {
            on_event(Event::Note(note));
        }
        on_event(Event::Start(self.total_steps.saturating_sub(resume)));
        let started = Instant::now();
        let mut rows = 0u64;
        let mut next = resume;
        loop {
            stop.check(|| self.interrupted(next))?;
            let Some(batch) = pipeline.next() else { break };
            let batch = batch?;
            next += 1;
            rows += batch.rows() as u64;
            sink.write(&batch)?;
            on_event(Event::Step);
        }
        let manifest = sink.finish(self.total_steps)?;
        summary.seconds = started.elapsed().as_secs_f64();
        summary.rows_written = rows;
        summary.shards_written = manifest.shards.len().saturating_sub(kept) as u64;
        summary.rows = manifest.rows;
        summary.shards = manifest.shards.len() as u64;
        summary.steps = manifest.steps;
        summary.warnings = crate::report::skip_notes(&pipeline.stats());
        Ok(summary)
    }
}

impl AugmentSummary {
    /// The line the command line prints at the end of a run that wrote something.
    pub fn message(&self) -> String {
        let secs = self.seconds;
        let rows = self.rows_written;
        let rate = rows as f64 / secs.max(1e-9);
        let out = self.out.display();
        if self.shards_kept > 0 {
            format!(
                "this run wrote {rows} rows in {} new shard(s) in {secs:.2} s ({rate:.0} rows/s); {out} now holds {} \
                 rows in {} shard(s), {} of them kept from the interrupted run",
                self.shards_written, self.rows, self.shards, self.shards_kept,
            )
        } else {
            format!("wrote {rows} rows in {} shard(s) to {out} in {secs:.2} s ({rate:.0} rows/s)", self.shards_written)
        }
    }
}

impl AugmentPlan {
    /// What an interruption before global step `step` leaves in the directory.
    fn interrupted(&self, step: u64) -> (String, u64, String) {
        let out = self.out.display();
        (
            format!("augment into {out}"),
            step,
            format!(
                "the complete shards are kept and the shard being written was discarded: run the same command again \
                 to resume (fingerprint {})",
                self.fingerprint
            ),
        )
    }
}

/// An [`ErrorKind::Output`] on `path`.
fn output_error(path: &Path, message: String) -> Error {
    ErrorKind::Output { path: path.to_path_buf(), message }.into()
}

/// The pipeline of `settings` starting at `start` (augment's: built-in stages only).
fn pipeline_at(settings: &Settings, start: u64) -> Result<Pipeline> {
    let set = settings.open_source()?;
    let stages = settings.stages(&set)?;
    let mut builder = settings.builder(set)?.start_step(start);
    for s in stages {
        builder = builder.stage_arc(s);
    }
    builder.build()
}

/// Refuse an `out` that is, contains or lies inside a `data` directory, contains a `data`
/// file, or would be matched by a `data` pattern.
///
/// # Errors
/// [`crate::ErrorKind::Config`] on `out`, saying why.
pub fn check_out_apart(out: &Path, data: &[PathBuf]) -> Result<()> {
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
