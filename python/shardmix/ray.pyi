from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import Data

PROVENANCE_COLUMNS: Tuple[str, ...]
TARGET_COLUMN: str

NumpyBatch = Dict[str, npt.NDArray[Any]]

class _Stage:
    seed: int
    label: Optional[str]
    num_classes: Optional[int]
    features: Union[None, str, List[str]]
    step_column: Optional[str]
    stage_index: int
    options: Dict[str, Any]
    def __call__(self, batch: NumpyBatch) -> NumpyBatch: ...

class Mixup(_Stage):
    def __init__(
        self,
        alpha: float = 0.2,
        *,
        mode: Optional[str] = None,
        prob: Optional[float] = None,
        label_smoothing: Optional[float] = None,
        cutmix_alpha: Optional[float] = None,
        cutmix_switch_prob: Optional[float] = None,
        feature_shape: Union[None, str, Sequence[int]] = None,
        seed: int = 0,
        label: Optional[str] = "label",
        num_classes: Optional[int] = None,
        features: Union[None, str, Sequence[str]] = None,
        step_column: Optional[str] = None,
        stage_index: int = 0,
    ) -> None: ...

class VaeInject(_Stage):
    def __init__(
        self,
        model: Any,
        fraction: float = 0.25,
        *,
        seed: int = 0,
        label: Optional[str] = "label",
        num_classes: Optional[int] = None,
        features: Union[None, str, Sequence[str]] = None,
        step_column: Optional[str] = None,
        stage_index: int = 0,
    ) -> None: ...

class GanInject(_Stage):
    def __init__(
        self,
        model: Any,
        fraction: float = 0.25,
        *,
        seed: int = 0,
        label: Optional[str] = "label",
        num_classes: Optional[int] = None,
        features: Union[None, str, Sequence[str]] = None,
        step_column: Optional[str] = None,
        stage_index: int = 0,
    ) -> None: ...

def augment(
    data: Data,
    out: Any,
    *,
    ray_workers: Optional[int] = None,
    tasks: Optional[int] = None,
    max_retries: int = 3,
    num_cpus: float = 1,
    on_shard: Optional[Callable[[int, Dict[str, Any]], None]] = None,
    quiet: bool = False,
    config: Any = None,
    **options: Any,
) -> Dict[str, Any]: ...
