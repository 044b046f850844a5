"""PyTorch adapter: ``shardmix.torch.Dataset``, an ``IterableDataset`` of ready batches.

    from torch.utils.data import DataLoader
    import shardmix.torch

    ds = shardmix.torch.Dataset("data/*.parquet", batch_size=256, mixup_alpha=0.2, epochs=3)
    for x, y in DataLoader(ds, batch_size=None):    # x: float32 (B, F) or (B, H, W, C), y: (B, C)
        ...

* Each item is one whole batch ``(features, targets)`` as tensors made by ``torch.from_numpy``
  (no copy): pass ``batch_size=None`` to the ``DataLoader`` so that it does not batch again.
  ``targets`` is ``None`` with ``no_label=True``.
* Options are ``shardmix.Pipeline``'s (the CLI's pipeline flags). ``rank`` and ``world_size``
  default to ``torch.distributed``'s when it is initialised (then to ``$RANK`` /
  ``$WORLD_SIZE``, then to 0 of 1).
* Checkpoints: ``state_dict()`` / ``load_state_dict()`` follow the protocol of torchdata's
  ``StatefulDataLoader`` (and can be called by hand): the state is the local step of the
  next batch not yet yielded, and a dataset restored from it continues with exactly the
  batches it had not yielded (the pipeline's ``start_step``), bit for bit.
* ``num_workers > 0``: the steps are split across the DataLoader's workers — worker ``w`` of
  ``W`` makes every ``W``-th batch — so that the DataLoader's round-robin yields the same
  batches in the same order as ``num_workers=0``. It rarely helps: the pipeline already
  decodes and augments on its own threads (``workers=``) without the GIL. A dataset
  iterated by DataLoader worker processes cannot report its position, so ``state_dict()``
  then raises ``RuntimeError``: checkpoint with ``num_workers=0``. Workers must be started
  with ``multiprocessing_context="spawn"`` (or ``"forkserver"``): the dataset opens the
  shards when it is made, which starts thread pools that do not survive a ``fork`` (Linux's
  default), so a forked worker raises ``RuntimeError`` saying so instead of hanging.
"""

import os

import torch
import torch.utils.data

from . import Pipeline

__all__ = ["Dataset"]

#: The process that last opened shards (a forked DataLoader worker inherits it).
_built_in_pid = None


def _distributed():
    """(rank, world_size) from torch.distributed when it is initialised, else None."""
    dist = getattr(torch, "distributed", None)
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


class Dataset(torch.utils.data.IterableDataset):
    """An ``IterableDataset`` yielding ``(features, targets)`` tensors, one whole shardmix
    batch per item. ``data`` and ``options`` are those of ``shardmix.Pipeline``."""

    def __init__(self, data, **options):
        super().__init__()
        self.data = data
        self.options = dict(options)
        self._start_step = int(self.options.pop("start_step", None) or 0)
        self._position = self._start_step
        self._in_worker = False
        # Validate now, in the caller's process, so that a bad option fails here and not in a
        # DataLoader worker; also gives len().
        probe = self._pipeline(start_step=self._start_step, rank_world=None, probe=True)
        self._len = len(probe)
        probe.close()

    def _rank_world(self):
        if "rank" in self.options or "world_size" in self.options:
            return None
        return _distributed()

    def _pipeline(self, start_step, rank_world, probe=False):
        global _built_in_pid
        options = dict(self.options)
        dist = self._rank_world()
        if dist is not None:
            options["rank"], options["world_size"] = dist
        if rank_world is not None:
            options["rank"], options["world_size"] = rank_world
        if probe:
            # Opening the footers and checking the options; no batch is produced.
            options["workers"] = 0
        _built_in_pid = os.getpid()
        return Pipeline(self.data, start_step=start_step, **options)

    def __len__(self):
        """Batches left to yield on this rank (from the current position)."""
        return max(0, self._len - (self._position - self._start_step))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        if info is None or info.num_workers == 1:
            yield from self._iterate_all()
        else:
            yield from self._iterate_worker(info.id, info.num_workers)

    def _iterate_all(self):
        pipeline = self._pipeline(self._position, None)
        try:
            for batch in pipeline:
                self._position = pipeline.position
                yield _tensors(batch)
        finally:
            pipeline.close()

    def _iterate_worker(self, w, n):
        self._in_worker = True
        if _built_in_pid is not None and _built_in_pid != os.getpid():
            raise RuntimeError(
                "shardmix.torch.Dataset: this DataLoader worker was forked from a process that "
                "already opened shards with shardmix, whose thread pools do not survive a fork; "
                "create the DataLoader with multiprocessing_context='spawn'"
            )
        # Local step k (of this rank) goes to worker (k - start) mod n, so that the DataLoader's
        # round-robin over its workers yields the steps in order. In the pipeline's terms the
        # worker is rank c * R + r of n * R, where c = (start + w) mod n is its residue.
        rank, world = _distributed() or (None, None)
        if "rank" in self.options or "world_size" in self.options or rank is None:
            settings = self._pipeline(0, None, probe=True)
            s = settings.settings()
            settings.close()
            rank, world = s["rank"], s["world_size"]
        k = self._position
        c = (k + w) % n
        start = -(-(k - c) // n) if k > c else 0
        pipeline = self._pipeline(start, (c * world + rank, n * world))
        try:
            for batch in pipeline:
                yield _tensors(batch)
        finally:
            pipeline.close()

    def state_dict(self):
        """``{"start_step": the local step of the next batch not yet yielded}``."""
        if self._in_worker:
            raise RuntimeError(
                "shardmix.torch.Dataset.state_dict(): a dataset iterated by DataLoader workers "
                "(num_workers > 0) cannot report its position; checkpoint with num_workers=0 "
                "(the pipeline runs its own worker threads)"
            )
        return {"start_step": self._position}

    def load_state_dict(self, state):
        """Continue from a ``state_dict()``: the next iteration starts at its step."""
        self._position = int(state["start_step"])


def _tensors(batch):
    x = torch.from_numpy(batch.features)
    y = None if batch.targets is None else torch.from_numpy(batch.targets)
    return x, y
