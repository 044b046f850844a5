"""shardmix.torch.Dataset through a real torch DataLoader (skipped when torch does not import)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

import shardmix  # noqa: E402
import shardmix.torch  # noqa: E402

OPTS = dict(batch_size=64, order="shuffled", seed=4, steps=10)


def reference(digits, **extra):
    return [(b.features.copy(), b.targets.copy()) for b in shardmix.Pipeline(digits, **{**OPTS, **extra})]


def assert_same(got, ref):
    assert len(got) == len(ref)
    for (x, y), (rx, ry) in zip(got, ref):
        assert x.numpy().tobytes() == rx.tobytes()
        assert y.numpy().tobytes() == ry.tobytes()


def test_dataloader_yields_the_pipeline_batches_as_tensors_without_copy(digits):
    ds = shardmix.torch.Dataset(digits, **OPTS)
    assert isinstance(ds, torch.utils.data.IterableDataset)
    assert len(ds) == 10
    got = []
    for x, y in DataLoader(ds, batch_size=None):
        assert x.dtype == torch.float32 and x.shape == (64, 64) and y.shape == (64, 10)
        got.append((x, y))
    assert_same(got, reference(digits))


def test_tensors_share_the_batch_buffer(digits):
    p = shardmix.Pipeline(digits, steps=1)
    b = next(iter(p))
    x = torch.from_numpy(b.features)
    assert x.data_ptr() == b.features.__array_interface__["data"][0]
    (x, y), = list(shardmix.torch.Dataset(digits, steps=1))
    assert x.shape == (256, 64) and y.shape == (256, 10)


def test_state_dict_resumes_with_exactly_the_batches_not_seen(digits):
    ref = reference(digits)
    ds = shardmix.torch.Dataset(digits, **OPTS)
    seen = []
    for i, (x, y) in enumerate(DataLoader(ds, batch_size=None)):
        seen.append((x.clone(), y.clone()))
        if i == 3:
            state = ds.state_dict()
            break
    assert state == {"start_step": 4}
    # A new job: a fresh dataset restored from the checkpoint.
    ds2 = shardmix.torch.Dataset(digits, **OPTS)
    ds2.load_state_dict(state)
    assert len(ds2) == 6
    rest = [(x, y) for x, y in DataLoader(ds2, batch_size=None)]
    assert_same(seen + rest, ref)
    assert ds2.state_dict() == {"start_step": 10}


@pytest.mark.parametrize("start", [0, 3])
def test_workers_split_the_steps_in_order(digits, start):
    ref = reference(digits)
    ds = shardmix.torch.Dataset(digits, **OPTS)
    ds.load_state_dict({"start_step": start})
    dl = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="spawn")
    assert_same(list(dl), ref[start:])


def test_forked_workers_after_use_refuse_clearly(digits):
    ds = shardmix.torch.Dataset(digits, **OPTS)
    list(ds)  # this process ran a pipeline: its thread pools do not survive a fork
    dl = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork")
    with pytest.raises(RuntimeError, match="spawn"):
        list(dl)


def test_rank_and_world_come_from_torch_distributed(digits, tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        ds = shardmix.torch.Dataset(digits, **OPTS)
        assert len(ds) == 10
        assert_same(list(DataLoader(ds, batch_size=None)), reference(digits))
        # Explicit options win over torch.distributed.
        ds = shardmix.torch.Dataset(digits, rank=1, world_size=2, **OPTS)
        assert_same(list(ds), reference(digits)[1::2])
    finally:
        dist.destroy_process_group()
