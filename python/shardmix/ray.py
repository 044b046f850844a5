"""shardmix on Ray: Ray Data stages and a distributed ``augment``.

Ray Data stages — shardmix's own Mixup/CutMix and VAE/GAN injection (the Rust code of the
pipeline's stages, not a re-implementation) applied to numpy batches::

    import ray, shardmix.ray
    ds = ray.data.read_parquet("data/")
    ds = ds.map_batches(shardmix.ray.VaeInject(model="vae.safetensors", fraction=0.25, num_classes=10),
                        batch_format="numpy", batch_size=256)
    ds = ds.map_batches(shardmix.ray.Mixup(alpha=0.2, seed=7, num_classes=10),
                        batch_format="numpy", batch_size=256)

* Columns in: the features are the ``features`` option — a list of scalar columns, or the
  name of one tensor column (``(B, F)`` or ``(B, H, W, C)``) — by default every numeric
  column but the label, ``target`` and the provenance columns (``step``, ``origin``,
  ``row_a``, ``row_b``, ``lambda``). The targets are the ``target`` column (``(B, C)`` float
  soft labels, as ``shardmix augment`` writes them and as these stages emit) when present,
  else the integer ``label`` column made one-hot over ``num_classes``.
* Columns out: the same feature columns with the new values (float32); the targets as the
  ``target`` column, ``(B, C)`` float32 — the label column is dropped, since a mixed row has
  no single class. Other columns pass through unchanged (these stages keep the rows and
  their order; the provenance columns, if any, are not updated).
* Determinism. A stage draws from the generator the pipeline would give it,
  ``(seed, stage_index, step)``. Ray does not tell a batch its index, and its batch
  boundaries follow the block layout, which can change with the cluster; so the step is
  either:

  - ``step_column="…"``: the value of that column, which must be the same on every row of
    the batch (e.g. the ``step`` provenance column of ``shardmix augment``'s output read
    with ``batch_size`` equal to its batch size) — then the output equals the
    ``shardmix.Pipeline``'s at that step, bit for bit;
  - otherwise (the default) a 64-bit hash of the batch's content (its feature and target
    values): the same batch gets the same draws on any worker, in any order, after any
    retry, whatever the cluster. Two batches holding the same values get the same draws.

  ``stage_index`` is the stage's position in a shardmix pipeline (0 by default): the
  pipeline runs VAE then GAN injection then Mixup, so Mixup after a VAE is stage 1 there.
* Copies: the batch is read in place and copied once into the stage's buffers (stacking the
  feature columns); the result goes back to numpy without a copy.

``augment(data, out, **options)`` runs ``shardmix augment`` as Ray tasks; see its docstring.
"""

import numpy as np

from . import _errors
from ._shardmix import ArrayStage as _ArrayStage

__all__ = ["Mixup", "VaeInject", "GanInject", "augment", "PROVENANCE_COLUMNS", "TARGET_COLUMN"]

#: The provenance columns of ``shardmix augment``'s output (never features).
PROVENANCE_COLUMNS = ("step", "origin", "row_a", "row_b", "lambda")
#: The soft-label column these stages read and write (``shardmix augment``'s name for it).
TARGET_COLUMN = "target"


class _Stage:
    """A built-in shardmix stage as a Ray Data ``map_batches`` function (picklable: the
    native stage is built on first use in each worker process)."""

    _kind = None

    def __init__(self, *, seed=0, label="label", num_classes=None, features=None, step_column=None,
                 stage_index=0, **options):
        if features is not None and not isinstance(features, (str, list, tuple)):
            raise _errors.ConfigError(f"invalid value for features: expected a column name or a list of them, "
                                      f"got {type(features).__name__}")
        self.seed = int(seed)
        self.label = label
        self.num_classes = num_classes
        self.features = list(features) if isinstance(features, (list, tuple)) else features
        self.step_column = step_column
        self.stage_index = int(stage_index)
        self.options = options
        self._native = None
        # Build once now so that a bad option fails in the driver, not in a Ray worker.
        self._stage()

    def _stage(self):
        if self._native is None:
            self._native = _ArrayStage(self._kind, seed=self.seed, stage_index=self.stage_index, **self.options)
        return self._native

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_native"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"shardmix.ray.{type(self).__name__}({opts}, seed={self.seed}, stage_index={self.stage_index})"

    def _feature_columns(self, batch):
        if isinstance(self.features, str):
            return self.features
        if self.features is not None:
            return self.features
        skip = {self.label, TARGET_COLUMN, self.step_column, *PROVENANCE_COLUMNS}
        names = [k for k, v in batch.items()
                 if k not in skip and getattr(v, "dtype", None) is not None and v.dtype.kind in "fiub"]
        if not names:
            raise _errors.ConfigError(f"invalid value for features: the batch has no numeric feature column "
                                      f"(columns: {sorted(batch)})")
        return names

    def _step(self, batch):
        if self.step_column is None:
            return None
        if self.step_column not in batch:
            raise _errors.MissingColumnError(f"step_column '{self.step_column}' is not in the batch "
                                             f"(columns: {sorted(batch)})")
        col = np.asarray(batch[self.step_column])
        if len(col) == 0:
            return 0
        first = int(col[0])
        if not (col == col[0]).all():
            raise _errors.ConfigError(
                f"invalid value for step_column: column '{self.step_column}' holds several steps in one batch "
                f"({first} and {int(col[(col != col[0]).argmax()])}); give map_batches the batch size the steps "
                f"were made with, or leave step_column out to derive the step from the content")
        return first

    def __call__(self, batch):
        """Apply the stage to one numpy batch (a dict of column → array) and return the new one."""
        cols = self._feature_columns(batch)
        for c in [cols] if isinstance(cols, str) else cols:
            if c not in batch:
                raise _errors.MissingColumnError(f"feature column '{c}' is not in the batch (columns: {sorted(batch)})")
        if isinstance(cols, str):
            raw = _dense(batch[cols])
            rows = raw.shape[0]
            x = np.ascontiguousarray(raw, dtype=np.float32).reshape(rows, -1) if raw.ndim != 2 else \
                np.asarray(raw, dtype=np.float32)
            names = (cols, x.shape[1])
        else:
            x = [np.asarray(batch[c], dtype=np.float32) for c in cols]
            names = list(cols)
        if TARGET_COLUMN in batch:
            target, target_column = np.asarray(_dense(batch[TARGET_COLUMN]), dtype=np.float32), TARGET_COLUMN
        elif self.label is not None and self.label in batch:
            target, target_column = np.asarray(batch[self.label], dtype=np.int64), self.label
        else:
            target, target_column = None, self.label or "label"
        fx, fy, _step = self._stage().apply(x, names, target, target_column=target_column,
                                            num_classes=self.num_classes, step=self._step(batch))
        out = {k: v for k, v in batch.items() if k != self.label and k != TARGET_COLUMN and k not in names}
        if isinstance(cols, str):
            out[cols] = fx.reshape(raw.shape) if raw.ndim != 2 else fx
        else:
            for i, c in enumerate(cols):
                out[c] = fx[:, i]
        if fy is not None:
            out[TARGET_COLUMN] = fy
        return out


def _dense(a):
    """A column as one ndarray: Ray hands list columns over as object arrays of arrays."""
    a = np.asarray(a)
    if a.dtype == object:
        return np.stack(a) if len(a) else np.zeros((0, 0), dtype=np.float32)
    return a


class Mixup(_Stage):
    """Mixup (and CutMix) of numpy batches, for ``map_batches(..., batch_format="numpy")``.

    ``alpha`` is ``mixup_alpha``; ``mode`` (``elem``, ``batch``, ``pair``), ``prob``,
    ``label_smoothing``, ``cutmix_alpha``, ``cutmix_switch_prob`` and ``feature_shape`` are the
    pipeline's ``mixup_mode``, ``mixup_prob``, ... — same defaults and checks. See the module
    docstring for the columns and how the step is chosen."""

    _kind = "mixup"

    def __init__(self, alpha=0.2, *, mode=None, prob=None, label_smoothing=None, cutmix_alpha=None,
                 cutmix_switch_prob=None, feature_shape=None, **kwargs):
        opts = {"mixup_alpha": alpha, "mixup_mode": mode, "mixup_prob": prob, "label_smoothing": label_smoothing,
                "cutmix_alpha": cutmix_alpha, "cutmix_switch_prob": cutmix_switch_prob,
                "feature_shape": feature_shape}
        super().__init__(**kwargs, **{k: v for k, v in opts.items() if v is not None})


class VaeInject(_Stage):
    """Replace ``fraction`` of each batch's rows with samples of the VAE in ``model`` (a
    ``shardmix train-vae`` safetensors file), in the class of the row replaced."""

    _kind = "vae"

    def __init__(self, model, fraction=0.25, **kwargs):
        super().__init__(vae=model, vae_fraction=fraction, **kwargs)


class GanInject(_Stage):
    """Replace ``fraction`` of each batch's rows with samples of the GAN in ``model``."""

    _kind = "gan"

    def __init__(self, model, fraction=0.25, **kwargs):
        super().__init__(gan=model, gan_fraction=fraction, **kwargs)


def _write_shards(plan_state, cwd, first, stop, on_shard):
    """A Ray task: write shards ``first..stop`` of the plan (those not written yet), in the
    driver's working directory ``cwd`` when this node has it (the plan's relative paths are
    relative to it), then back to where the worker was."""
    import os
    import pickle

    here = os.getcwd()
    moved = cwd != here and os.path.isdir(cwd)
    if moved:
        os.chdir(cwd)
    try:
        # Made again here from its options, validating everything (a relative path with no
        # driver directory to resolve it in is refused, naming it).
        plan = pickle.loads(plan_state)
        if on_shard is None:
            return [plan.write_shards((first, stop))]
        done = []
        for k in range(first, stop):
            done.append(plan.write_shards(k))
            on_shard(k, done[-1])
        return done
    finally:
        if moved:
            os.chdir(here)


def _ranges(shards, tasks):
    """``shards`` (a range) cut into ``tasks`` contiguous ranges of nearly equal length."""
    n = len(shards)
    tasks = max(1, min(tasks, n))
    bounds = [shards.start + n * i // tasks for i in range(tasks + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def augment(data, out, *, ray_workers=None, tasks=None, max_retries=3, num_cpus=1, on_shard=None, quiet=False,
            config=None, **options):
    """``shardmix augment`` as Ray tasks on the current Ray cluster (``ray.init()`` first when
    none is connected): the output directory is byte-identical to the one-process run's
    (``shardmix augment`` / ``shardmix.augment`` with the same options), whatever the number
    of tasks and workers, after retries and after a rerun.

    ``data``, ``options`` and ``config``: as ``shardmix.augment`` — the pipeline's options
    plus ``rows_per_shard``, ``row_group_size``, ``compression``, ``overwrite``. Paths are
    kept as given (they are part of the run's fingerprint, as on the command line): the
    tasks run in the driver's working directory, which must exist on every node, as must
    every path (a shared filesystem).

    * The driver makes the plan (validating everything, reading the data's footers and any
      model), makes ``out`` ready (``prepare``: keeps the complete shards of an interrupted
      run of the same configuration, or with ``overwrite`` replaces another's), then sends
      the shards not written yet to ``tasks`` Ray tasks (default ``ray_workers``), each a
      contiguous range of whole shards written by one pipeline
      (``AugmentPlan.write_shards``), at most ``ray_workers`` of them at once (default the
      cluster's CPU count), and last writes the manifest (``finish``).
    * Each shard is written to a temporary file and renamed into place, and a task skips the
      shards already written: Ray retries a task whose worker died (``max_retries`` times),
      and the retry writes only what is missing, with no shard duplicated or lost. A rerun
      after the driver died resumes the same way.
    * ``num_cpus``: the Ray CPUs each task reserves (its pipeline runs ``workers`` threads,
      the option, default all cores of its node). ``on_shard(index, written)``, if given,
      runs in the task after each shard (a picklable function; the shards are then written
      one pipeline each).

    Returns a dict: ``path``, ``rows``, ``shards``, ``steps``, ``shards_written``,
    ``shards_kept``, ``rows_written``, ``tasks``, ``seconds``, ``fingerprint`` and
    ``already_complete``.
    """
    import os
    import pickle
    import sys
    import time

    import ray

    from . import augment_plan

    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init()
    plan = augment_plan(data, out, config=config, **options)
    prepared = plan.prepare()
    summary = {"path": os.fspath(out), "fingerprint": plan.fingerprint, "steps": plan.total_steps, "shards": plan.num_shards,
               "shards_kept": prepared["kept_shards"], "already_complete": prepared["complete"], "tasks": 0,
               "shards_written": 0, "rows_written": 0}
    if not quiet:
        for name in prepared["strays"]:
            print(f"warning: {out} holds {name}, which shardmix did not write; dataset readers will take it for a "
                  f"shard", file=sys.stderr)
    if not prepared["complete"]:
        remaining = range(prepared["kept_shards"], plan.num_shards)
        workers = ray_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ranges = _ranges(remaining, tasks or workers)
        task = ray.remote(_write_shards).options(max_retries=max_retries, num_cpus=num_cpus)
        state, cwd = pickle.dumps(plan), os.getcwd()
        # At most `workers` tasks in flight: the next range is sent when one finishes.
        pending, running = list(ranges), []
        while pending or running:
            while pending and len(running) < workers:
                a, b = pending.pop(0)
                running.append(task.remote(state, cwd, a, b, on_shard))
            done, running = ray.wait(running, num_returns=1)
            for r in ray.get(done[0]):
                summary["shards_written"] += len(r["written"])
                summary["rows_written"] += r["rows"]
        summary["tasks"] = len(ranges)
    manifest = plan.finish()
    summary["rows"] = manifest["rows"]
    summary["seconds"] = time.perf_counter() - started
    if not quiet and not prepared["complete"]:
        print(f"wrote {summary['rows_written']} rows in {summary['shards_written']} shard(s) to {out} with "
              f"{summary['tasks']} Ray task(s) in {summary['seconds']:.2f} s", file=sys.stderr)
    return summary

