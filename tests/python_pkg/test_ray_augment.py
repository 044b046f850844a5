"""shardmix.ray.augment on a real local Ray cluster: the output directory is byte-identical to
the one-process `shardmix augment` with the same options, for 1 and 2 Ray workers, after a
task killed mid-run (retried by Ray), and after a rerun that follows a killed driver."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO, flags, run_cli
from ray_cluster import ray, ray_cluster  # noqa: F401  (the session's cluster fixture)

import shardmix  # noqa: E402
import shardmix.ray  # noqa: E402

# digits: 1797 rows in 29 shuffled batches of 64 (the last one of 5 rows); 512 rows per shard
# → 8 steps per shard → 4 shards of 8, 8, 8 and 5 steps.
OPTS = dict(batch_size=64, order="shuffled", seed=11, mixup_alpha=0.3, provenance=True, rows_per_shard=512,
            row_group_size=128, workers=1)


def files(d):
    """Every file of directory `d` (hidden ones too) as name → bytes."""
    d = pathlib.Path(d)
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def cli_out(cli, digits, tmp_path_factory):
    """What the CLI writes in one process."""
    out = tmp_path_factory.mktemp("cli") / "out"
    run_cli(cli, "augment", "--data", digits, "--out", out, *flags(OPTS))
    got = files(out)
    assert sum(n.startswith("part-") for n in got) == 4, sorted(got)
    return got


def assert_identical(out, want):
    got = files(out)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{name} differs from the CLI's"


@pytest.mark.parametrize("ray_workers", [1, 2])
def test_output_is_byte_identical_to_the_cli(ray_cluster, cli_out, digits, tmp_path, ray_workers):  # noqa: F811
    out = tmp_path / "out"
    s = shardmix.ray.augment(digits, out, ray_workers=ray_workers, quiet=True, **OPTS)
    assert s["tasks"] == ray_workers and s["shards_written"] == 4 and s["shards"] == 4
    assert s["rows"] == s["rows_written"] > 0
    assert_identical(out, cli_out)
    # Run again: nothing to do, nothing changed.
    again = shardmix.ray.augment(digits, out, ray_workers=ray_workers, quiet=True, **OPTS)
    assert again["already_complete"] and again["shards_written"] == 0
    assert_identical(out, cli_out)


@pytest.mark.parametrize("ray_workers,tasks", [(2, 4), (1, 3)])
def test_more_tasks_than_workers_is_identical_too(ray_cluster, cli_out, digits, tmp_path, ray_workers,  # noqa: F811
                                                  tasks):
    out = tmp_path / "out"
    s = shardmix.ray.augment(digits, out, ray_workers=ray_workers, tasks=tasks, quiet=True, **OPTS)
    assert s["tasks"] == tasks and s["shards_written"] == 4
    assert_identical(out, cli_out)


def test_relative_paths_resolve_in_the_drivers_directory(ray_cluster, cli, digits, tmp_path,  # noqa: F811
                                                          monkeypatch):
    """The data path is part of the run's fingerprint as given: a relative one stays relative,
    and the tasks, whose processes run in another directory (the repository), resolve it in
    the driver's."""
    (tmp_path / "in").mkdir()
    os.symlink(digits, tmp_path / "in" / "d.parquet")
    subprocess.run([str(cli), "--quiet", "augment", "--data", "in/d.parquet", "--out", "cli", *flags(OPTS)],
                   cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    shardmix.ray.augment("in/d.parquet", "ray", ray_workers=2, quiet=True, **OPTS)
    assert_identical(tmp_path / "ray", files(tmp_path / "cli"))


# Hooks defined outside any importable module, so that Ray sends them to its workers by value.
HOOKS = {"__name__": "shardmix_ray_test_hooks"}
exec(textwrap.dedent("""
    import os, time

    def die_once(marker):
        def on_shard(index, written):
            # The first task to finish a shard dies with it (its worker process is gone, as
            # after a crash or an OOM kill); Ray retries the task, which must skip that shard.
            if index == 1 and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)
        return on_shard

    def slow(seconds):
        def on_shard(index, written):
            time.sleep(seconds)
        return on_shard
"""), HOOKS)


def test_a_killed_task_is_retried_without_duplicated_or_missing_shards(ray_cluster, cli_out, digits,  # noqa: F811
                                                                        tmp_path):
    out = tmp_path / "out"
    marker = tmp_path / "died"
    s = shardmix.ray.augment(digits, out, ray_workers=2, on_shard=HOOKS["die_once"](str(marker)), quiet=True,
                             **OPTS)
    assert marker.exists(), "the task did not die"
    # The task of shards 0 and 1 died after writing them; its retry skipped both (what the dead
    # attempt wrote is not counted), the other task wrote 2 and 3.
    assert s["tasks"] == 2 and s["shards_written"] == 2
    assert_identical(out, cli_out)


def test_a_rerun_after_the_driver_died_resumes(ray_cluster, cli_out, digits, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    address = ray_cluster.address_info["address"]
    driver = textwrap.dedent(f"""
        import ray, shardmix.ray, time
        def on_shard(index, written):
            time.sleep(2.0)
        ray.init(address={address!r}, log_to_driver=False)
        shardmix.ray.augment({digits!r}, {str(out)!r}, ray_workers=2, tasks=4, on_shard=on_shard, quiet=True,
                             **{OPTS!r})
    """)
    p = subprocess.Popen([sys.executable, "-c", driver], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("part-*.parquet")):
            assert p.poll() is None, p.stderr.read().decode()
            assert time.monotonic() < deadline, "no shard written in 120 s"
            time.sleep(0.1)
        p.send_signal(signal.SIGKILL)
    finally:
        p.wait()
    # Ray ends the dead driver's tasks (they are sleeping after a shard): give it a moment.
    time.sleep(3)
    assert not (out / ".shardmix-manifest.json").exists()
    written = len(list(out.glob("part-*.parquet")))
    assert 1 <= written < 4
    s = shardmix.ray.augment(digits, out, ray_workers=2, quiet=True, **OPTS)
    assert not s["already_complete"]
    # The complete shards before the first missing one are kept (prepare); shards past a gap
    # are written again (the same bytes).
    assert s["shards_kept"] <= written and s["shards_kept"] + s["shards_written"] == 4
    assert_identical(out, cli_out)


def test_options_are_checked_in_the_driver(ray_cluster, digits, tmp_path):  # noqa: F811
    with pytest.raises(shardmix.ConfigError, match="rows_per_sharde|unknown option"):
        shardmix.ray.augment(digits, tmp_path / "out", rows_per_sharde=10)
    with pytest.raises(shardmix.ConfigError, match="world_size"):
        shardmix.ray.augment(digits, tmp_path / "out", world_size=2)
    assert not (tmp_path / "out").exists()
