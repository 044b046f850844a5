//! [`Pipeline`]: the builder, the worker pool, the re-order buffer and the iterator.
//!
//! Steps are dispatched to `workers` threads through a channel; each worker reads the step's
//! rows, runs every stage with the step's own RNG, and sends `(step, Result<Batch>)` back. The
//! consumer re-orders results by step, so the output is the same sequence for any worker
//! count. At most `prefetch` steps are dispatched beyond the one the consumer waits for, which
//! bounds memory to `prefetch` batches plus the row-group cache. A panic in a stage or in the
//! reader is caught and becomes an error naming the step; after an error the iterator ends.
//!
//! Stopping: dropping the pipeline, or its first error, raises a shared stop flag that every
//! worker checks before each job and between stages, so the steps still queued are never run;
//! then it closes the job channel and joins the workers that exit within [`STOP_GRACE`]. A
//! worker still inside a (slow) stage after that is detached: it finishes that one stage call
//! in the background and exits, so `drop` returns promptly whatever a stage costs. A pipeline
//! that runs to its end joins every worker (none is inside a step then), and
//! [`Pipeline::close`] stops one and joins every worker whatever it is doing, so that no
//! thread outlives it (what a leak checker needs).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::batch::Batch;
use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::order::{Order, Plan};
use crate::rng;
use crate::source::{BadShard, CacheStats, ObjectCacheStats, Reader, ShardSet, SkippedBlock, AUTO_CACHE_MIN_BYTES};
use crate::spec::DataSpec;
use crate::stage::Stage;

/// Blocks read ahead of the steps being run.
const READ_AHEAD: u64 = 2;

/// How long stopping (drop, first error) waits for the workers to exit before it detaches the
/// ones still inside a stage.
pub const STOP_GRACE: Duration = Duration::from_millis(20);

/// The most worker threads a pipeline starts ([`PipelineBuilder::workers`]): far more than
/// the cores of any machine it runs on, far fewer than would exhaust the thread limit.
pub const MAX_WORKERS: usize = 1024;

/// The deepest prefetch queue accepted ([`PipelineBuilder::prefetch`]): each step queued may
/// hold a finished batch in memory.
pub const MAX_PREFETCH: usize = 4096;

/// The largest batch accepted, in bytes of `f32` features and targets (16 GiB): a bound on
/// `batch_size × (features + targets) × 4` checked at build, so that a careless batch size or
/// class count is an error rather than an allocation failure in a worker.
pub const MAX_BATCH_BYTES: u64 = 16 << 30;

/// The memory that the default prefetch depth aims at: 32 MiB of batches.
pub const PREFETCH_BYTES: usize = 32 << 20;

/// The default prefetch depth (see [`PipelineBuilder::prefetch`]).
fn default_prefetch(set: &ShardSet, batch_size: usize, workers: usize) -> usize {
    let spec = set.spec();
    let batch_bytes =
        spec.num_features().saturating_add(spec.num_targets()).saturating_mul(4).saturating_mul(batch_size).max(1);
    (PREFETCH_BYTES / batch_bytes).min(32).max(2 * workers).clamp(2, MAX_PREFETCH)
}

/// The decoded bytes an order has in use at once with `in_flight` steps and a read-ahead of
/// `read_ahead` steps: the default cache capacity (see [`PipelineBuilder::cache_bytes`]),
/// before its floor of [`AUTO_CACHE_MIN_BYTES`].
fn working_set_bytes(set: &ShardSet, order: &Order, in_flight: usize, read_ahead: u64) -> usize {
    let spec = set.spec();
    // Decoded bytes per row: features, targets and the skip mask.
    let row_bytes = 4 * (spec.num_features() + spec.num_targets()) + 1;
    let block_rows = set.row_groups().iter().map(|b| b.num_rows as usize).max().unwrap_or(0);
    let rows = match order {
        Order::Shuffled { window, .. } => (2 * window + READ_AHEAD as usize) * block_rows,
        _ => (in_flight + read_ahead as usize).saturating_mul(order.batch_size()).saturating_add(2 * block_rows),
    };
    rows.saturating_mul(row_bytes)
}

/// How long the pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    Epochs(u64),
    Steps(u64),
    Unbounded,
}

/// Builds a [`Pipeline`]; every setter documents its default. [`PipelineBuilder::build`]
/// validates everything, so an invalid configuration never reaches a worker.
///
/// # Example
/// ```
/// use shardmix::{Order, Pipeline, ShardSet, Target};
/// let pipeline = Pipeline::builder()
///     .source(ShardSet::open("examples/data/digits.parquet")?.target(Target::class("label", 10))?)
///     .order(Order::sequential(256))
///     .workers(2)
///     .seed(7)
///     .epochs(1)
///     .build()?;
/// let rows: usize = pipeline.map(|b| b.map(|b| b.rows())).sum::<Result<usize, _>>()?;
/// assert_eq!(rows, 1797);
/// # Ok::<(), shardmix::Error>(())
/// ```
pub struct PipelineBuilder {
    source: Option<ShardSet>,
    order: Order,
    stages: Vec<Arc<dyn Stage>>,
    workers: Option<usize>,
    prefetch: Option<usize>,
    seed: u64,
    length: Length,
    start_step: u64,
    rank: usize,
    world: usize,
    cache_bytes: Option<usize>,
    step_timeout: Option<Duration>,
    on_bad_shard: BadShard,
}

impl Default for PipelineBuilder {
    fn default() -> Self {
        PipelineBuilder {
            source: None,
            order: Order::offset(256),
            stages: Vec::new(),
            workers: None,
            prefetch: None,
            seed: 0,
            length: Length::Epochs(1),
            start_step: 0,
            rank: 0,
            world: 1,
            cache_bytes: None,
            step_timeout: None,
            on_bad_shard: BadShard::Fail,
        }
    }
}

impl PipelineBuilder {
    /// The data (required).
    pub fn source(mut self, set: ShardSet) -> Self {
        self.source = Some(set);
        self
    }
    /// How steps map to rows. Default: `Order::offset(256)`, the seed's batching.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }
    /// Append a stage; stages run in the order added. Default: none.
    pub fn stage(mut self, stage: impl Stage + 'static) -> Self {
        self.stages.push(Arc::new(stage));
        self
    }
    /// Append a shared stage.
    pub fn stage_arc(mut self, stage: Arc<dyn Stage>) -> Self {
        self.stages.push(stage);
        self
    }
    /// Worker threads, at most [`MAX_WORKERS`]. Default: the available cores (capped alike).
    /// `0` runs every step inline on the consumer's thread — the reference every worker count
    /// must equal.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }
    /// Steps dispatched ahead of the consumer (finished or in progress), 1 to
    /// [`MAX_PREFETCH`]. Default: as many
    /// batches as fit in [`PREFETCH_BYTES`] (by the source's row size), at most 32, and at
    /// least 2 × workers: a deep enough queue that a worker rarely waits for the consumer to
    /// hand it the next step — on a busy machine each such hand-off can cost a scheduler
    /// time slice.
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = Some(n);
        self
    }
    /// The seed of every random draw. Default: 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Run `n` epochs (an epoch is `Order::steps_per_epoch` global steps). Default: 1 epoch.
    pub fn epochs(mut self, n: u64) -> Self {
        self.length = Length::Epochs(n);
        self
    }
    /// Run `n` global steps (split between ranks) instead of whole epochs.
    pub fn steps(mut self, n: u64) -> Self {
        self.length = Length::Steps(n);
        self
    }
    /// Run until the consumer stops.
    pub fn unbounded(mut self) -> Self {
        self.length = Length::Unbounded;
        self
    }
    /// Start at local step `k` (from [`Pipeline::position`] of a checkpoint), at most the
    /// run's length. Default: 0.
    pub fn start_step(mut self, k: u64) -> Self {
        self.start_step = k;
        self
    }
    /// Data-parallel rank and world size: this pipeline runs global steps `rank, rank + world, …`.
    /// Default: rank 0 of 1. See [`PipelineBuilder::rank_from_env`].
    pub fn rank(mut self, rank: usize, world: usize) -> Self {
        self.rank = rank;
        self.world = world;
        self
    }
    /// Take rank and world size from `RANK` and `WORLD_SIZE` (as torchrun sets them), if set.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when a variable is set but not a number.
    pub fn rank_from_env(mut self) -> Result<Self> {
        let get = |name: &str| -> Result<Option<usize>> {
            match std::env::var(name) {
                Ok(v) => {
                    v.trim().parse().map(Some).map_err(|_| Error::config(name, format!("'{v}' is not a whole number")))
                }
                Err(_) => Ok(None),
            }
        };
        if let (Some(r), Some(w)) = (get("RANK")?, get("WORLD_SIZE")?) {
            self.rank = r;
            self.world = w;
        }
        Ok(self)
    }
    /// Capacity of the shared cache of decoded blocks, in bytes.
    ///
    /// Default: what the order has in use at once, so that memory does not grow with the
    /// data: for the contiguous orders the rows of the batches in flight plus two blocks; for
    /// `Shuffled`, two shuffle windows of blocks (the current window and the next); at least
    /// [`AUTO_CACHE_MIN_BYTES`]. A smaller cache is still correct but decodes blocks again,
    /// and turns the read-ahead off (it would evict blocks before their use).
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = Some(bytes);
        self
    }
    /// Report a step that has produced nothing for this long as an error (a stuck stage).
    /// Default: none (wait forever).
    pub fn step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = Some(timeout);
        self
    }

    /// What to do when a shard becomes unreadable mid-run. Default: [`BadShard::Fail`].
    pub fn on_bad_shard(mut self, policy: BadShard) -> Self {
        self.on_bad_shard = policy;
        self
    }

    /// Validate the configuration, check every stage against the data, start the workers.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming the parameter and its valid range: no source; batch size
    /// (≥ 1, and a batch of at most [`MAX_BATCH_BYTES`]); rank/world; workers (≤
    /// [`MAX_WORKERS`]); prefetch (1 to [`MAX_PREFETCH`]); a class count above
    /// [`MAX_CLASSES`](crate::MAX_CLASSES); a feature shape whose product overflows or differs
    /// from the feature count; a start step past the run's end. Also any stage's `check` error.
    pub fn build(self) -> Result<Pipeline> {
        let set = self.source.ok_or_else(|| Error::config("source", "a pipeline needs a source (ShardSet)"))?;
        if self.world == 0 || self.rank >= self.world {
            return Err(Error::config(
                "rank",
                format!("rank {} is not below the world size {}", self.rank, self.world),
            ));
        }
        if let Some(p) = self.prefetch.filter(|p| !(1..=MAX_PREFETCH).contains(p)) {
            return Err(Error::config("prefetch", format!("must be in [1, {MAX_PREFETCH}], got {p}")));
        }
        if let Some(w) = self.workers.filter(|&w| w > MAX_WORKERS) {
            return Err(Error::config("workers", format!("must be in [0, {MAX_WORKERS}] (0 runs inline), got {w}")));
        }
        check_spec(set.spec(), self.order.batch_size(), set.num_rows())?;
        let plan = Plan::new(self.order.clone(), set.num_rows(), set.row_groups(), self.seed)?;
        let mut spec = set.spec().clone();
        for (i, stage) in self.stages.iter().enumerate() {
            stage.check(&spec).map_err(|e| {
                Error::from(ErrorKind::StageCheck { index: i, stage: stage.name().to_string(), source: e })
            })?;
            spec = stage.output_spec(&spec);
        }
        let spe = plan.steps_per_epoch();
        let total_global = match self.length {
            Length::Epochs(e) => Some(e.saturating_mul(spe)),
            Length::Steps(n) => Some(n),
            Length::Unbounded => None,
        };
        let (world, rank) = (self.world as u64, self.rank as u64);
        let end = total_global.map(|t| if t > rank { (t - rank).div_ceil(world) } else { 0 });
        if let Some(end) = end.filter(|&e| self.start_step > e) {
            return Err(Error::config(
                "start_step",
                format!("must be at most the run's {end} local steps, got {}", self.start_step),
            ));
        }
        if self.start_step.checked_mul(world).and_then(|s| s.checked_add(rank)).is_none() {
            return Err(Error::config(
                "start_step",
                format!("{} × world size {world} overflows the step counter", self.start_step),
            ));
        }
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WORKERS));
        let prefetch = self.prefetch.unwrap_or_else(|| default_prefetch(&set, self.order.batch_size(), workers));
        let stage_names: Vec<String> = self.stages.iter().map(|s| s.name().to_string()).collect();
        let rows_unread = self.order.rows_unread(set.num_rows(), total_global.unwrap_or(u64::MAX));
        // Read ahead by one and two blocks' worth of steps, so that the next blocks decode (on
        // the rayon pool, in parallel) while the workers still use this one.
        let max_block = set.row_groups().iter().map(|b| b.num_rows).max().unwrap_or(1);
        let block_steps = max_block.div_ceil(self.order.batch_size().max(1) as u64).max(1);
        let working_set = working_set_bytes(&set, &self.order, workers.max(1) + prefetch, READ_AHEAD * block_steps);
        let cache_bytes = self.cache_bytes.unwrap_or(working_set.max(AUTO_CACHE_MIN_BYTES));
        // A cache too small for the blocks read ahead would evict them before use: no read-ahead.
        let block_steps = if cache_bytes >= working_set { block_steps } else { 0 };
        let shared = Arc::new(Shared {
            reader: Arc::new(Reader::new(Arc::new(set), cache_bytes).on_bad_shard(self.on_bad_shard)),
            block_steps,
            last_global: total_global.map(|t| t.saturating_sub(1)),
            plan,
            stats: StatsInner::new(self.stages.len()),
            stop: AtomicBool::new(false),
            stages: self.stages,
            stage_names,
            seed: self.seed,
            rank,
            world,
            spec,
        });
        let exec = if workers == 0 {
            Exec::Inline
        } else {
            let (job_tx, job_rx) = crossbeam_channel::unbounded::<(u64, u64)>();
            let (res_tx, res_rx) = crossbeam_channel::unbounded();
            // Never carries a message: it disconnects when the last worker has exited.
            let (exit_tx, exit_rx) = crossbeam_channel::bounded::<()>(0);
            let handles = (0..workers)
                .map(|i| {
                    let shared = shared.clone();
                    let jobs = job_rx.clone();
                    let results = res_tx.clone();
                    let exit = exit_tx.clone();
                    std::thread::Builder::new()
                        .name(format!("shardmix-worker-{i}"))
                        .spawn(move || {
                            worker(&shared, &jobs, &results);
                            drop(exit);
                        })
                        .map_err(|e| Error::io("<worker thread>", e))
                })
                .collect::<Result<Vec<JoinHandle<()>>>>();
            let handles = match handles {
                Ok(h) => h,
                Err(e) => {
                    // Stop the workers already started (they hold no job yet).
                    shared.stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            };
            Exec::Threads { jobs: Some(job_tx), results: res_rx, handles, exited: exit_rx, reorder: BTreeMap::new() }
        };
        Ok(Pipeline {
            shared,
            exec,
            next: self.start_step,
            dispatched: self.start_step,
            end,
            prefetch: prefetch as u64,
            timeout: self.step_timeout,
            finished: false,
            timed_out: false,
            idle_since: None,
            started: Instant::now(),
            rows_unread,
        })
    }
}

/// The limits on the data's shape that a batch must respect (see [`PipelineBuilder::build`]).
fn check_spec(spec: &DataSpec, batch_size: usize, num_rows: u64) -> Result<()> {
    if let Some(c) = spec.num_classes() {
        if !(1..=crate::spec::MAX_CLASSES).contains(&c) {
            return Err(Error::config("num_classes", format!("must be in [1, {}], got {c}", crate::spec::MAX_CLASSES)));
        }
    }
    if let Some(shape) = &spec.feature_shape {
        let product = shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
        if product != Some(spec.num_features()) {
            return Err(Error::config(
                "feature_shape",
                format!(
                    "{shape:?} is not {} values per row ({})",
                    spec.num_features(),
                    product.map_or("its product overflows".to_string(), |p| format!("its product is {p}"))
                ),
            ));
        }
    }
    let rows = (batch_size as u64).min(num_rows);
    let row_bytes = (spec.num_features() as u64).saturating_add(spec.num_targets() as u64).saturating_mul(4);
    let bytes = rows.saturating_mul(row_bytes);
    if bytes > MAX_BATCH_BYTES {
        return Err(Error::config(
            "batch_size",
            format!(
                "a batch of {rows} rows × {row_bytes} bytes ({} features + {} targets, f32) is {bytes} bytes, over the {} GiB limit",
                spec.num_features(),
                spec.num_targets(),
                MAX_BATCH_BYTES >> 30
            ),
        ));
    }
    Ok(())
}

struct Shared {
    reader: Arc<Reader>,
    /// Steps per block (of the largest block): step `s` starts decoding the blocks of steps
    /// `s + k · block_steps` for `k` in `1..=READ_AHEAD` ([`Reader::read_ahead`]); 0 when
    /// the cache is too small to read ahead.
    block_steps: u64,
    /// The last global step of the run, when it is bounded.
    last_global: Option<u64>,
    plan: Plan,
    stages: Vec<Arc<dyn Stage>>,
    stage_names: Vec<String>,
    seed: u64,
    rank: u64,
    world: u64,
    spec: DataSpec,
    stats: StatsInner,
    /// Raised when the pipeline stops (dropped, or its first error): workers run no further
    /// job and no further stage.
    stop: AtomicBool,
}

impl Shared {
    fn global(&self, local: u64) -> u64 {
        local * self.world + self.rank
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Everything one step does: read, then each stage; panics contained.
    fn run_step(&self, step: u64) -> Result<Batch> {
        let t = Instant::now();
        let rows = self.plan.rows(step);
        for k in (1..=READ_AHEAD).filter(|_| self.block_steps > 0) {
            let ahead = step.saturating_add((k * self.block_steps).saturating_mul(self.world));
            if self.last_global.is_none_or(|last| ahead <= last) {
                self.reader.read_ahead(&self.plan.rows(ahead));
            }
        }
        let mut batch = match catch_unwind(AssertUnwindSafe(|| self.reader.read(step, &rows))) {
            Ok(r) => r.map_err(|e| Error::from(ErrorKind::Read { step, source: e }))?,
            Err(p) => {
                return Err(ErrorKind::Panic { step, stage: "the reader".into(), message: panic_message(&*p) }.into())
            }
        };
        self.stats.read_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        for (i, stage) in self.stages.iter().enumerate() {
            if self.stopped() {
                // Nobody reads this result: the pipeline has stopped.
                return Err(Error::config("pipeline", format!("step {step} abandoned: the pipeline stopped")));
            }
            let t = Instant::now();
            let mut rng = rng::for_stage(self.seed, i, step);
            let name = &self.stage_names[i];
            batch = match catch_unwind(AssertUnwindSafe(|| stage.apply(batch, &mut rng))) {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => return Err(ErrorKind::Stage { step, stage: name.clone(), source: e }.into()),
                Err(p) => {
                    return Err(ErrorKind::Panic {
                        step,
                        stage: format!("stage '{name}'"),
                        message: panic_message(&*p),
                    }
                    .into())
                }
            };
            if let Err(e) = batch.validate() {
                return Err(ErrorKind::Stage { step, stage: name.clone(), source: e }.into());
            }
            self.stats.stage_ns[i].fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        batch.step = step;
        Ok(batch)
    }
}

fn worker(shared: &Shared, jobs: &Receiver<(u64, u64)>, results: &Sender<(u64, Result<Batch>)>) {
    loop {
        let t = Instant::now();
        let Ok((local, global)) = jobs.recv() else {
            return;
        };
        shared.stats.idle_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if shared.stopped() {
            return;
        }
        let r = shared.run_step(global);
        if results.send((local, r)).is_err() {
            return;
        }
    }
}

enum Exec {
    Inline,
    Threads {
        jobs: Option<Sender<(u64, u64)>>,
        results: Receiver<(u64, Result<Batch>)>,
        handles: Vec<JoinHandle<()>>,
        /// Disconnects when every worker has exited.
        exited: Receiver<()>,
        reorder: BTreeMap<u64, Result<Batch>>,
    },
}

/// A running pipeline: an iterator of batches in step order.
///
/// See [`PipelineBuilder`] for an example.
pub struct Pipeline {
    shared: Arc<Shared>,
    exec: Exec,
    next: u64,
    dispatched: u64,
    end: Option<u64>,
    prefetch: u64,
    timeout: Option<Duration>,
    finished: bool,
    timed_out: bool,
    /// Since when [`Pipeline::next_within`] has waited without a result arriving (the step
    /// timeout counts from there across its calls).
    idle_since: Option<Instant>,
    started: Instant,
    rows_unread: Option<u64>,
}

impl Pipeline {
    /// A builder with the defaults.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// The local step the next batch will have: what a checkpoint saves, to resume with
    /// [`PipelineBuilder::start_step`].
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Local steps this pipeline yields in total (`None` when unbounded).
    pub fn total_steps(&self) -> Option<u64> {
        self.end
    }

    /// Rows of the source that no step of the whole run (every rank's steps from 0) reads —
    /// the offset order leaves the last rows out by design; see [`Order::rows_unread`].
    pub fn rows_unread(&self) -> Option<u64> {
        self.rows_unread
    }

    /// Global steps per epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        self.shared.plan.steps_per_epoch()
    }

    /// The spec of the batches produced (after every stage).
    pub fn spec(&self) -> &DataSpec {
        &self.shared.spec
    }

    /// The source.
    pub fn shard_set(&self) -> &ShardSet {
        self.shared.reader.shard_set()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let s = &self.shared.stats;
        let ns = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        let elapsed = self.started.elapsed();
        let rows = s.rows.load(Ordering::Relaxed);
        Stats {
            rows,
            batches: s.batches.load(Ordering::Relaxed),
            elapsed,
            rows_per_sec: rows as f64 / elapsed.as_secs_f64().max(1e-9),
            read_time: ns(&s.read_ns),
            decode_time: self.shared.reader.decode_time(),
            stage_times: self.shared.stage_names.iter().cloned().zip(s.stage_ns.iter().map(ns)).collect(),
            consumer_wait: ns(&s.wait_ns),
            worker_idle: ns(&s.idle_ns),
            skipped_rows: self.shared.reader.skipped_rows(),
            filled_values: self.shared.reader.filled_values(),
            cache: self.shared.reader.cache_stats(),
            object_cache: self.shared.reader.shard_set().object_cache_stats(),
            skipped_blocks: self.shared.reader.skipped_blocks(),
            rows_unread: self.rows_unread,
        }
    }

    /// Raise the stop flag, close the job channel, and join the workers that exit within
    /// [`STOP_GRACE`]; detach the others (inside a slow stage — or, after a timeout, maybe
    /// stuck there forever), which exit as soon as their current stage call returns. A second
    /// call (drop after the first error) does not wait again.
    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Exec::Threads { jobs, handles, exited, .. } = &mut self.exec {
            let first = jobs.take().is_some();
            if handles.is_empty() {
                return;
            }
            let grace = if self.timed_out || !first { Duration::ZERO } else { STOP_GRACE };
            // Err(Disconnected): every worker has exited; Err(Timeout): some are still busy.
            let all_exited = matches!(exited.recv_timeout(grace), Err(RecvTimeoutError::Disconnected));
            // The others are kept (for `close`) and detached when the pipeline is dropped.
            let (done, busy): (Vec<_>, Vec<_>) = handles.drain(..).partition(|h| all_exited || h.is_finished());
            *handles = busy;
            for h in done {
                let _ = h.join();
            }
        }
    }

    /// Stop as [`Pipeline::shutdown`] does, then join every worker, however long its current
    /// step takes.
    fn join_workers(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Exec::Threads { jobs, handles, .. } = &mut self.exec {
            jobs.take();
            for h in handles.drain(..) {
                let _ = h.join();
            }
        }
    }

    /// Stop the pipeline and wait until every worker thread has exited: as dropping it, except
    /// that a worker inside a step is waited for (its stages are not interrupted: a stage stuck
    /// forever, the case [`step_timeout`](PipelineBuilder::step_timeout) reports, blocks this
    /// call forever) rather than detached. For callers that must know no thread of the
    /// pipeline outlives it: a test harness or fuzz target under a leak checker (a detached
    /// worker's thread-local state is still allocated when the process checks for leaks), or
    /// code about to fork. A pipeline that ran to its end (every step's batch returned) has
    /// joined its workers already; dropping it waits for none.
    pub fn close(mut self) {
        self.join_workers();
    }
    fn finish_with(&mut self, r: Result<Batch>) -> Option<Result<Batch>> {
        match &r {
            Ok(b) => {
                self.shared.stats.rows.fetch_add(b.rows() as u64, Ordering::Relaxed);
                self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.finished = true;
                self.shutdown();
            }
        }
        Some(r)
    }
}

impl Pipeline {
    /// [`Iterator::next`] waiting at most about `wait` for the batch: `Poll::Pending` when it
    /// has not arrived by then (call again: the step is neither skipped nor run twice), so
    /// that the caller can attend to other things between waits — the Python package runs
    /// the signal handlers (Ctrl-C) without a thread hop per batch. A
    /// [`step_timeout`](PipelineBuilder::step_timeout) counts across the calls. Without
    /// worker threads (`workers(0)`) the step runs here and the result is always ready.
    pub fn next_within(&mut self, wait: Duration) -> Poll<Option<Result<Batch>>> {
        self.advance(Some(wait))
    }

    /// One step of the iterator; `wait: None` blocks until the batch (or the timeout).
    fn advance(&mut self, wait: Option<Duration>) -> Poll<Option<Result<Batch>>> {
        if self.finished || self.end.is_some_and(|e| self.next >= e) {
            if !self.finished {
                self.finished = true;
                // Every step's result has arrived: no worker is inside a step, and each exits
                // as soon as it sees the job channel closed. Joined, none outlives the pipeline.
                self.join_workers();
            }
            return Poll::Ready(None);
        }
        let local = self.next;
        let limit = self.end.unwrap_or(u64::MAX).min(local.saturating_add(self.prefetch));
        let shared = self.shared.clone();
        let r = match &mut self.exec {
            Exec::Inline => {
                self.next += 1;
                shared.run_step(shared.global(local))
            }
            Exec::Threads { jobs, results, reorder, .. } => {
                if let Some(tx) = jobs {
                    while self.dispatched < limit {
                        if tx.send((self.dispatched, shared.global(self.dispatched))).is_err() {
                            break;
                        }
                        self.dispatched += 1;
                    }
                }
                let wait_started = Instant::now();
                let give_up = wait.map(|w| wait_started + w);
                let r = loop {
                    if let Some(r) = reorder.remove(&local) {
                        self.idle_since = None;
                        break r;
                    }
                    let idle = *self.idle_since.get_or_insert_with(Instant::now);
                    let timeout_at = self.timeout.map(|t| idle + t);
                    let until = match (give_up, timeout_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let got = match until {
                        Some(at) => results.recv_deadline(at),
                        None => results.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    };
                    match got {
                        Ok((step, r)) => {
                            // Progress: the step timeout counts from the last result.
                            self.idle_since = None;
                            reorder.insert(step, r);
                        }
                        Err(RecvTimeoutError::Timeout) if timeout_at.is_some_and(|t| Instant::now() >= t) => {
                            self.timed_out = true;
                            self.idle_since = None;
                            break Err(ErrorKind::Timeout {
                                step: shared.global(local),
                                seconds: self.timeout.map_or(0, |t| t.as_secs()),
                            }
                            .into());
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            shared.stats.wait_ns.fetch_add(wait_started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                            return Poll::Pending;
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            break Err(ErrorKind::Panic {
                                step: shared.global(local),
                                stage: "a worker".into(),
                                message: "every worker exited".into(),
                            }
                            .into());
                        }
                    }
                };
                shared.stats.wait_ns.fetch_add(wait_started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                self.next += 1;
                r
            }
        };
        Poll::Ready(self.finish_with(r))
    }
}

impl Iterator for Pipeline {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        match self.advance(None) {
            Poll::Ready(r) => r,
            // `advance(None)` only returns when the batch (or an error) is there.
            Poll::Pending => None,
        }
    }

    /// At most the steps left ([`total_steps`](Self::total_steps) −
    /// [`position`](Self::position)), at least one while any is left. Not exact (so no
    /// `ExactSizeIterator`): the first error is the last item.
    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        match self.end {
            Some(end) => {
                let left = usize::try_from(end.saturating_sub(self.next)).unwrap_or(usize::MAX);
                (left.min(1), Some(left))
            }
            None => (1, None),
        }
    }
}

impl std::iter::FusedIterator for Pipeline {}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct StatsInner {
    rows: AtomicU64,
    batches: AtomicU64,
    read_ns: AtomicU64,
    stage_ns: Vec<AtomicU64>,
    wait_ns: AtomicU64,
    idle_ns: AtomicU64,
}

impl StatsInner {
    fn new(stages: usize) -> Self {
        StatsInner {
            rows: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            read_ns: AtomicU64::new(0),
            stage_ns: (0..stages).map(|_| AtomicU64::new(0)).collect(),
            wait_ns: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
        }
    }
}

/// Counters of a running pipeline. Times summed over workers are CPU-side busy times.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stats {
    /// Rows delivered to the consumer.
    pub rows: u64,
    /// Batches delivered.
    pub batches: u64,
    /// Time since the pipeline was built.
    pub elapsed: Duration,
    /// `rows / elapsed`.
    pub rows_per_sec: f64,
    /// Time the workers spent reading rows, summed over workers: decoding a block that no
    /// other thread had started, waiting for one that another thread decodes, and copying
    /// the rows into the batch.
    pub read_time: Duration,
    /// Time spent decoding blocks, summed over every thread that decoded one: the workers
    /// and the read-ahead on the rayon pool, which decodes the next blocks while the workers
    /// use this one. On few cores this is where most of the time goes: with one worker the
    /// pipeline already keeps two threads busy (the worker, and a rayon thread decoding), so
    /// a second worker only adds what is left of the cores.
    pub decode_time: Duration,
    /// Time per stage, summed over workers.
    pub stage_times: Vec<(String, Duration)>,
    /// Time the consumer waited for the next batch (starvation).
    pub consumer_wait: Duration,
    /// Time workers waited for work, summed (backpressure from a slow consumer, or the end).
    pub worker_idle: Duration,
    /// Rows dropped by the skip-row policy or skipped with an unreadable shard.
    pub skipped_rows: u64,
    /// Values replaced by the fill policy.
    pub filled_values: u64,
    /// Row-group cache counters.
    pub cache: CacheStats,
    /// What the local cache of object-store shards (`cache_dir`) did; `None` without one.
    pub object_cache: Option<ObjectCacheStats>,
    /// Blocks skipped because their shard became unreadable ([`BadShard::Skip`]).
    pub skipped_blocks: Vec<SkippedBlock>,
    /// Rows the order leaves out of the whole run ([`Pipeline::rows_unread`]).
    pub rows_unread: Option<u64>,
}
