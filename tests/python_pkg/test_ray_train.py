"""examples/python/ray_train.py on a real local Ray cluster: two Ray Train workers, each
iterating its rank of one shardmix pipeline (skipped when torch does not import)."""

import itertools
import math
import os

import pytest

from ray_cluster import ray, ray_cluster  # noqa: F401  (the session's cluster fixture)

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/python-torch.sh installs it)")
pytest.importorskip("ray.train.torch")

import shardmix  # noqa: E402
import ray_train  # noqa: E402  (examples/python, on sys.path through conftest)


def test_two_ray_train_workers_each_train_on_their_rank(ray_cluster, digits, tmp_path):  # noqa: F811
    result = ray_train.fit(digits, workers=2, epochs=1, batch_size=64, reports=2, storage=str(tmp_path))
    m = result.metrics
    opts = dict(batch_size=64, order="shuffled", epochs=1, seed=7, workers=0)
    total = len(shardmix.Pipeline(digits, **opts))
    assert m["world_size"] == 2 and m["total_steps"] == total
    # Every rank took total // 2 steps: its own (s mod 2 == rank), as the pipeline of rank 0
    # of 2 makes them (rank 0's metrics are the ones reported).
    rank0 = itertools.islice(shardmix.Pipeline(digits, rank=0, world_size=2, **opts), total // 2)
    assert m["rank"] == 0 and m["position"] == total // 2
    assert m["rows"] == sum(len(b) for b in rank0)
    # It learnt: the mean loss of the last half is below the first batch's.
    assert math.isfinite(m["loss"]) and m["loss"] < m["first_loss"], m
    # The last checkpoint holds each rank's model and dataset position.
    with result.checkpoint.as_directory() as d:
        names = sorted(os.listdir(d))
        assert names == ["rank0.pt", "rank1.pt"], names
        states = [torch.load(os.path.join(d, n)) for n in names]
    assert [s["data"]["start_step"] for s in states] == [total // 2] * 2
    # DDP kept the replicas equal.
    w0, w1 = (s["model"]["module.weight"] if "module.weight" in s["model"] else s["model"]["weight"] for s in states)
    assert torch.equal(w0, w1)
