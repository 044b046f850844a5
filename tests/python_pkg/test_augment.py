"""shardmix.augment and shardmix.augment_plan: `shardmix augment` from Python, whole or in
pieces written by other processes."""

import multiprocessing
import os
import pathlib
import pickle

import pytest

import shardmix
from conftest import cli_error, flags, run_cli

OPTIONS = dict(batch_size=64, steps=11, order="shuffled", mixup_alpha=0.3, seed=9, provenance=True)


def files(d):
    """Every file of the directory `d` (hidden ones too), by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(pathlib.Path(d).iterdir())}


def test_augment_writes_the_clis_files_byte_for_byte(cli, digits, tmp_path):
    run_cli(cli, "augment", "--data", digits, "--out", tmp_path / "cli", "--rows-per-shard", 192, *flags(OPTIONS))
    summary = shardmix.augment(digits, tmp_path / "py", rows_per_shard=192, quiet=True, **OPTIONS)
    assert files(tmp_path / "cli") == files(tmp_path / "py")
    assert summary["path"] == str(tmp_path / "py")
    assert (summary["rows"], summary["shards"], summary["steps"]) == (11 * 64, 4, 11)
    assert (summary["rows_written"], summary["shards_written"], summary["already_complete"]) == (11 * 64, 4, False)
    assert sorted(os.listdir(tmp_path / "py"))[:2] == [".shardmix-manifest.json", ".shardmix-run.json"]


def test_a_second_run_finds_the_output_complete(digits, tmp_path, capsys):
    shardmix.augment(digits, tmp_path / "out", quiet=True, **OPTIONS)
    again = shardmix.augment(digits, tmp_path / "out", **OPTIONS)
    assert again["already_complete"] and again["rows_written"] == 0 and again["rows"] == 11 * 64
    assert "already complete" in capsys.readouterr().err


def test_augment_errors_are_the_clis(cli, digits, tmp_path):
    cases = [
        (dict(compression="lz9"), ["--compression", "lz9"]),
        (dict(start_step=3), ["--start-step", "3"]),
        (dict(world_size=2, rank=0), ["--world-size", "2", "--rank", "0"]),
        (dict(batch_size=0), ["--batch-size", "0"]),
    ]
    for options, args in cases:
        expected = cli_error(cli, "augment", "--data", digits, "--out", tmp_path / "o", *args)
        with pytest.raises(shardmix.ConfigError) as e:
            shardmix.augment(digits, tmp_path / "o", quiet=True, **options)
        assert str(e.value) == expected
    # The output may not lie inside the input directory.
    data_dir = pathlib.Path(digits).parent
    expected = cli_error(cli, "augment", "--data", data_dir, "--out", data_dir / "aug")
    with pytest.raises(shardmix.ConfigError) as e:
        shardmix.augment(str(data_dir), str(data_dir / "aug"), quiet=True)
    assert str(e.value) == expected
    assert not (data_dir / "aug").exists()
    with pytest.raises(shardmix.ConfigError, match="rows_per_shards.*unknown option"):
        shardmix.augment(digits, tmp_path / "o", rows_per_shards=10)


def test_a_foreign_directory_is_refused_naming_overwrite(digits, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(shardmix.OutputError, match="--overwrite"):
        shardmix.augment(digits, out, quiet=True, **OPTIONS)
    assert (out / "notes.txt").read_text() == "mine"


def _write(plan_bytes, start, stop):
    plan = pickle.loads(plan_bytes)
    return plan.write_shards(range(start, stop))


def test_pieces_from_other_processes_make_the_clis_directory(cli, digits, tmp_path):
    run_cli(cli, "augment", "--data", digits, "--out", tmp_path / "cli", "--rows-per-shard", 128, *flags(OPTIONS))
    plan = shardmix.augment_plan(digits, str(tmp_path / "pieces"), rows_per_shard=128, **OPTIONS)
    assert (plan.total_steps, plan.steps_per_shard, plan.num_shards) == (11, 2, 6)
    assert plan.shard_steps(5) == range(10, 11)
    state = plan.prepare()
    assert state["complete"] is False and state["resume_step"] == 0
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_write, [(pickle.dumps(plan), 3, 6), (pickle.dumps(plan), 0, 3)])
    assert [len(r["written"]) for r in results] == [3, 3]
    # A retried piece skips what is there.
    again = plan.write_shards((0, 2))
    assert again["written"] == [] and again["skipped"] == [0, 1]
    manifest = plan.finish()
    assert manifest["rows"] == 11 * 64 and len(manifest["shards"]) == 6
    assert files(tmp_path / "cli") == files(tmp_path / "pieces")


def test_finish_names_the_missing_shards(digits, tmp_path):
    plan = shardmix.augment_plan(digits, str(tmp_path / "out"), rows_per_shard=128, **OPTIONS)
    plan.prepare()
    plan.write_shards(range(0, 2))
    with pytest.raises(shardmix.OutputError, match="part-00002.parquet"):
        plan.finish()
    with pytest.raises(shardmix.ConfigError, match="range of step 1"):
        plan.write_shards(range(0, 6, 2))


def test_a_plan_with_relative_paths_refuses_another_working_directory(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = shardmix.augment_plan(digits, "rel-out", **OPTIONS)
    data = pickle.dumps(plan)
    pickle.loads(data)  # same directory: fine
    monkeypatch.chdir(pathlib.Path(digits).parent)
    with pytest.raises(shardmix.ConfigError, match="relative path rel-out"):
        pickle.loads(data)
