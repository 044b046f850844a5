"""shardmix: a streaming, deterministic data loader for ML training — Parquet shards in,
Mixup / CutMix / VAE / GAN-augmented batches out, as numpy arrays.

    import shardmix

    pipeline = shardmix.Pipeline("data/*.parquet", batch_size=256, order="shuffled",
                                 mixup_alpha=0.2, epochs=3, seed=7)
    for batch in pipeline:              # shardmix.Batch
        x, y = batch.features, batch.targets   # float32 (B, F) or (B, H, W, C) for images, (B, C): views of Rust buffers
        ...

``Pipeline`` takes the CLI's pipeline flags as keyword options (``--batch-size`` →
``batch_size``), with the same defaults, validation and messages, and yields the same batches
as ``shardmix stream`` given the same flags, bit for bit. Errors are ``shardmix.Error`` and
its subclasses (``ConfigError``, ``MissingColumnError``, ...). PyTorch users: see
``shardmix.torch``.
"""

import atexit as _atexit
import json as _json

from . import _errors, _shardmix
from ._errors import *  # noqa: F401,F403  (Error and one subclass per error kind)
from ._shardmix import AugmentPlan, Batch, Pipeline, __version__
from ._shardmix import inspect_json as _inspect_json
from ._shardmix import option_names as _option_names
from ._shardmix import train_model as _train_model

# Pipelines still running at exit are stopped while the interpreter still works: their
# workers may be waiting for the GIL to run a Python stage (see _close_all).
_atexit.register(_shardmix._close_all)

#: What the codes of ``Batch.origin`` stand for.
ORIGINS = ("real", "vae", "gan")

#: The keyword options of ``Pipeline`` (the CLI's pipeline flags, with ``_`` for ``-``),
#: besides ``config`` (a TOML file of the same options) and ``stages``.
OPTIONS = tuple(_option_names())


def inspect(data, **options):
    """What ``shardmix inspect --json DATA`` prints, as a dict: the shards, rows, row groups,
    schema (with each column's role), the feature names, the label column, the class count
    and the class histogram. ``options`` are ``Pipeline``'s (``features``, ``label``,
    ``num_classes``, ``no_label``, ``config``, ...)."""
    return _json.loads(_inspect_json(data, **options))


def augment(data, out, *, config=None, quiet=False, **options):
    """Write the augmented stream to the directory ``out`` as Parquet shards: what
    ``shardmix augment --data DATA --out OUT`` does, resumably, with the same options
    (the pipeline's, plus ``rows_per_shard``, ``row_group_size``, ``compression``,
    ``overwrite`` and ``image_out``), defaults, validation and messages, and the same files byte for byte.
    Notes and warnings go to ``sys.stderr`` unless ``quiet``; no progress bar.

    Returns a dict: ``path``, ``rows``, ``shards``, ``steps`` (of the whole output),
    ``rows_written``, ``shards_written``, ``shards_kept`` (of this call; a rerun after an
    interruption keeps the complete shards), ``already_complete``, ``seconds``,
    ``warnings``, ``fingerprint``."""
    return AugmentPlan(data, out, config=config, **options).run(quiet=quiet)


def train(kind, data, out, *, config=None, quiet=False, **options):
    """Train a (conditional) VAE or GAN on ``data`` and save it to ``out`` (safetensors,
    rewritten atomically after every epoch): what ``shardmix train KIND --data DATA --out
    OUT`` does, with the same options (the pipeline's — augmentation off unless
    ``mixup_alpha`` is given — plus ``latent``, ``hidden`` (``"128,64"`` or ``[128, 64]``),
    ``lr``, ``scale``, ``holdout``), defaults, validation and messages; the same seed gives
    the same weights. ``kind`` is ``"vae"`` or ``"gan"``. Progress lines go to
    ``sys.stderr`` unless ``quiet``; no progress bar. The model feeds ``Pipeline(...,
    vae=out)`` / ``gan=out``.

    Returns a dict: ``kind``, ``path``, ``rows``, ``steps``, ``seconds``, ``last_epoch``
    (mean training losses by name), ``held_out_before`` / ``held_out_after`` (with
    ``holdout``, else None)."""
    return _train_model(kind, data, out, config=config, quiet=quiet, **options)


def augment_plan(data, out, *, config=None, **options):
    """For integrations that write one ``augment`` output from several processes (e.g.
    ``shardmix.ray``): the plan of ``augment(data, out, **options)``, with its pieces
    ``prepare()`` (once, first), ``write_shards(range(a, b))`` (any ranges, in any
    processes, at once) and ``finish()`` (once, last; writes the manifest). The directory
    they make is byte for byte the one ``augment`` writes. The plan pickles (as its
    options: give absolute paths when the other processes run elsewhere)."""
    return AugmentPlan(data, out, config=config, **options)


__all__ = ["Pipeline", "Batch", "inspect", "augment", "augment_plan", "train", "AugmentPlan", "ORIGINS", "OPTIONS", "__version__"] + list(_errors.__all__)
