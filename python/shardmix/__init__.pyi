"""Type stubs of the shardmix Python package."""

import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._errors import (
    ArrowError as ArrowError,
    BadValueError as BadValueError,
    ColumnTypeError as ColumnTypeError,
    ConfigError as ConfigError,
    DecodeError as DecodeError,
    DecodePanicError as DecodePanicError,
    EmptyError as EmptyError,
    Error as Error,
    FooterError as FooterError,
    IoError as IoError,
    LabelError as LabelError,
    MissingColumnError as MissingColumnError,
    ModelError as ModelError,
    ModelInputError as ModelInputError,
    DivergedError as DivergedError,
    NoShardsError as NoShardsError,
    OutputError as OutputError,
    OutputLockedError as OutputLockedError,
    BadStreamError as BadStreamError,
    NotOursError as NotOursError,
    OtherRunError as OtherRunError,
    IncompleteError as IncompleteError,
    DisconnectedError as DisconnectedError,
    SendTimeoutError as SendTimeoutError,
    AcceptTimeoutError as AcceptTimeoutError,
    MisuseError as MisuseError,
    PanicError as PanicError,
    RaggedError as RaggedError,
    ImageError as ImageError,
    ReadError as ReadError,
    SchemaMismatchError as SchemaMismatchError,
    ShapeError as ShapeError,
    ShardChangedError as ShardChangedError,
    StageError as StageError,
    TimeoutError as TimeoutError,
    TooLargeError as TooLargeError,
    WriteError as WriteError,
)

__version__: str
ORIGINS: Tuple[str, str, str]
OPTIONS: Tuple[str, ...]

PathLike = Union[str, "os.PathLike[str]"]
Data = Union[PathLike, Sequence[PathLike]]
F32 = npt.NDArray[np.float32]
Stage = Callable[[F32, Optional[F32], int], Tuple[F32, Optional[F32]]]

class Batch:
    """One batch; the arrays are views of Rust-owned buffers that they keep alive."""

    @property
    def step(self) -> int: ...
    @property
    def features(self) -> F32:
        """float32 (uint8 with pixels="uint8"): (B, H, W, C) when the batches have an image
        shape (an image column's, feature_shape, or after a crop the cropped one), else (B, F)."""
    @property
    def targets(self) -> Optional[F32]:
        """float32, (B, C), or None without a target column."""
    @property
    def origin(self) -> Optional[npt.NDArray[np.uint8]]:
        """With provenance=True: 0 real, 1 VAE, 2 GAN per row (see ORIGINS)."""
    @property
    def row_a(self) -> Optional[npt.NDArray[np.uint64]]:
        """With provenance=True: each row's global row id."""
    @property
    def row_b(self) -> Optional[npt.NDArray[np.int64]]:
        """With provenance=True: the mix partner's global row id, -1 when not mixed."""
    @property
    def lambda_(self) -> Optional[F32]:
        """With provenance=True: the weight of the row's own sample, NaN when not mixed."""
    def __len__(self) -> int: ...

class Pipeline:
    """The CLI's pipeline, iterated from Python: options are the CLI's pipeline flags."""

    def __init__(
        self,
        data: Optional[Data] = None,
        *,
        config: Optional[PathLike] = None,
        stages: Optional[Sequence[Stage]] = None,
        features: Optional[str] = None,
        label: Optional[str] = None,
        num_classes: Optional[int] = None,
        no_label: Optional[bool] = None,
        batch_size: Optional[int] = None,
        order: Optional[str] = None,
        steps: Optional[int] = None,
        epochs: Optional[int] = None,
        start_step: Optional[int] = None,
        workers: Optional[int] = None,
        prefetch: Optional[int] = None,
        seed: Optional[int] = None,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        null_policy: Optional[str] = None,
        on_bad_shard: Optional[str] = None,
        mixup_alpha: Optional[float] = None,
        mixup_mode: Optional[str] = None,
        mixup_prob: Optional[float] = None,
        label_smoothing: Optional[float] = None,
        cutmix_alpha: Optional[float] = None,
        cutmix_switch_prob: Optional[float] = None,
        feature_shape: Optional[Union[str, Sequence[int]]] = None,
        provenance: Optional[bool] = None,
        vae: Optional[PathLike] = None,
        vae_fraction: Optional[float] = None,
        gan: Optional[PathLike] = None,
        gan_fraction: Optional[float] = None,
        cache_mib: Optional[int] = None,
        cache_dir: Optional[PathLike] = None,
        cache_max_bytes: Optional[int] = None,
        normalize: Optional[str] = None,
        random_resized_crop: Optional[Union[int, str, Sequence[int]]] = None,
        crop_scale: Optional[Union[str, Sequence[float]]] = None,
        crop_ratio: Optional[Union[str, Sequence[float]]] = None,
        hflip: Optional[float] = None,
        pixels: Optional[str] = None,
    ) -> None: ...
    def __iter__(self) -> Iterator[Batch]: ...
    def __next__(self) -> Batch:
        """The next batch (the GIL is released while waiting). Ctrl-C raises
        KeyboardInterrupt within about 50 ms even while a stage is slow or the source
        stalls; the step waited for is then returned by the next call (none is skipped or
        run twice)."""
    def __len__(self) -> int:
        """Batches this pipeline yields in all (on this rank, from start_step)."""
    @property
    def position(self) -> int:
        """The local step of the next batch (resume with start_step=)."""
    @property
    def steps_per_epoch(self) -> int: ...
    @property
    def num_features(self) -> int: ...
    @property
    def num_targets(self) -> int: ...
    def settings(self) -> Dict[str, Any]: ...
    def stats(self) -> Dict[str, Any]: ...
    def close(self) -> None:
        """Stop the workers and free the buffers; iterating afterwards yields nothing."""

def inspect(data: Data, **options: Any) -> Dict[str, Any]:
    """What `shardmix inspect --json` prints, as a dict."""

def augment(
    data: Data,
    out: PathLike,
    *,
    config: Optional[PathLike] = None,
    quiet: bool = False,
    rows_per_shard: Optional[int] = None,
    row_group_size: Optional[int] = None,
    compression: Optional[str] = None,
    overwrite: bool = False,
    image_out: Optional[str] = None,
    **options: Any,
) -> Dict[str, Any]:
    """`shardmix augment`: write the augmented stream to `out` as Parquet shards (resumable,
    the CLI's files byte for byte). `options` are `Pipeline`'s. Returns a summary dict:
    path, rows, shards, steps, rows_written, shards_written, shards_kept, already_complete,
    seconds, warnings, fingerprint.

    Ctrl-C raises KeyboardInterrupt within about 50 ms of the current step: the complete
    shards are kept and the shard being written is discarded, so calling `augment` again
    resumes and writes the bytes of an uninterrupted run."""
    ...

def augment_plan(
    data: Data,
    out: PathLike,
    *,
    config: Optional[PathLike] = None,
    rows_per_shard: Optional[int] = None,
    row_group_size: Optional[int] = None,
    compression: Optional[str] = None,
    overwrite: bool = False,
    image_out: Optional[str] = None,
    **options: Any,
) -> "AugmentPlan":
    """For integrations writing one `augment` output from several processes: the plan, with
    `prepare()`, `write_shards(range)` and `finish()`."""
    ...

class AugmentPlan:
    """The plan of an `augment` run. Pickles as its options (the receiving process makes it
    again and validates everything; relative paths need the same working directory)."""

    def __init__(self, data: Data, out: PathLike, *, config: Optional[PathLike] = None, **options: Any) -> None: ...
    @property
    def total_steps(self) -> int: ...
    @property
    def steps_per_shard(self) -> int: ...
    @property
    def num_shards(self) -> int: ...
    @property
    def out(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    def shard_steps(self, k: int) -> range:
        """The steps shard `k` holds."""
        ...
    def prepare(self) -> Dict[str, Any]:
        """Once, first: create/lock/resume (or overwrite) `out` and write the run file.
        Returns complete, kept_shards, resume_step, locked, strays."""
        ...
    def write_shards(self, shards: Union[range, Tuple[int, int], int]) -> Dict[str, Any]:
        """Write the whole shards of `shards` not written yet (any ranges, any processes, at
        once). Returns written (per shard: file, rows, first_step, end_step, bytes, crc32),
        skipped (indices already there), rows. Ctrl-C stops it at the next step (the shard
        being written is discarded) and raises KeyboardInterrupt."""
        ...
    def finish(self) -> Dict[str, Any]:
        """Once, last: check every shard and write the manifest; returns it as a dict."""
        ...
    def run(self, *, quiet: bool = False) -> Dict[str, Any]:
        """The single-process run (what `augment()` does; Ctrl-C as there)."""
        ...

def train(
    kind: str,
    data: Data,
    out: PathLike,
    *,
    config: Optional[PathLike] = None,
    quiet: bool = False,
    latent: Optional[int] = None,
    hidden: Optional[Union[str, Sequence[int]]] = None,
    lr: Optional[float] = None,
    scale: Optional[str] = None,
    holdout: Optional[float] = None,
    **options: Any,
) -> Dict[str, Any]:
    """`shardmix train vae|gan`: train a (conditional) VAE or GAN on `data` and save it to
    `out` (safetensors, atomically after every epoch). `options` are `Pipeline`'s
    (augmentation off unless `mixup_alpha` is given). Returns a dict: kind, path, rows,
    steps, seconds, last_epoch, held_out_before, held_out_after.

    Ctrl-C raises KeyboardInterrupt within about 50 ms of the current step, without saving:
    `out` is left as the last complete epoch saved it (or absent)."""
    ...
