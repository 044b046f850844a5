"""`pixels="uint8"` through shardmix.ray.augment on a real local Ray cluster: the output directory
(fixed_size_list<uint8> images, cropped and flipped) is byte-identical to the CLI's
`augment --pixels uint8` with the same options, for 1 and 2 Ray workers, and after a task
killed mid-run (retried by Ray)."""

import pathlib
import textwrap

import numpy as np
import pytest

from conftest import flags, run_cli
from ray_cluster import ray, ray_cluster  # noqa: F401  (the session's cluster fixture)

import shardmix  # noqa: E402
import shardmix.ray  # noqa: E402

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

H, W, C = 10, 8, 3
N = 900
# 900 rows in shuffled batches of 50 → 18 steps; 150 rows per shard → 6 shards.
OPTS = dict(pixels="uint8", feature_shape=f"{H}x{W}x{C}", random_resized_crop="6x5", hflip=0.5, batch_size=50,
            order="shuffled", seed=13, provenance=True, rows_per_shard=150, row_group_size=50, workers=1)


@pytest.fixture(scope="module")
def tensor_u8(tmp_path_factory):
    """N rows of fixed_size_list<uint8>[H·W·C] pixels (every byte value occurs) and a label."""
    x = ((np.arange(N)[:, None] * 37 + np.arange(H * W * C)[None, :] * 11) % 256).astype(np.uint8)
    pixels = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.uint8()), H * W * C)
    path = tmp_path_factory.mktemp("u8") / "u8.parquet"
    pq.write_table(pa.table({"pixels": pixels, "label": np.arange(N) % 4}), path, row_group_size=100)
    return str(path)


def files(d):
    """Every file of directory `d` (hidden ones too) as name → bytes."""
    d = pathlib.Path(d)
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def cli_out(cli, tensor_u8, tmp_path_factory):
    """What the CLI writes in one process."""
    out = tmp_path_factory.mktemp("cli") / "out"
    run_cli(cli, "augment", "--data", tensor_u8, "--out", out, *flags(OPTS))
    got = files(out)
    assert sum(n.startswith("part-") for n in got) == 6, sorted(got)
    # uint8 images of the cropped shape.
    field = pq.read_schema(out / "part-00000.parquet").field("pixels")
    assert field.type == pa.list_(pa.field("item", pa.uint8(), nullable=False), 6 * 5 * C), field.type
    return got


def assert_identical(out, want):
    got = files(out)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{name} differs from the CLI's"


@pytest.mark.parametrize("ray_workers", [1, 2])
def test_uint8_output_is_byte_identical_to_the_cli(ray_cluster, cli_out, tensor_u8, tmp_path,  # noqa: F811
                                                    ray_workers):
    out = tmp_path / "out"
    s = shardmix.ray.augment(tensor_u8, out, ray_workers=ray_workers, quiet=True, **OPTS)
    assert s["shards_written"] == 6 and s["rows_written"] == N
    assert_identical(out, cli_out)
    # The same as the package's one-process augment.
    one = tmp_path / "one"
    shardmix.augment(tensor_u8, one, quiet=True, **OPTS)
    assert_identical(one, cli_out)


HOOKS = {"__name__": "shardmix_ray_uint8_test_hooks"}
exec(textwrap.dedent("""
    import os

    def die_once(marker):
        def on_shard(index, written):
            # The first task to finish shard 1 dies with it; Ray retries the task.
            if index == 1 and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)
        return on_shard
"""), HOOKS)


def test_a_killed_uint8_task_is_retried_to_the_same_bytes(ray_cluster, cli_out, tensor_u8, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    marker = tmp_path / "died"
    s = shardmix.ray.augment(tensor_u8, out, ray_workers=2, on_shard=HOOKS["die_once"](str(marker)), quiet=True,
                             **OPTS)
    assert marker.exists(), "the task did not die"
    assert s["shards_written"] < 6
    assert_identical(out, cli_out)
