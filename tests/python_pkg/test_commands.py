"""shardmix.inspect: what `shardmix inspect --json` prints."""

import json

import pytest

import shardmix
from conftest import run_cli


def test_inspect_matches_the_cli(cli, digits):
    expected = json.loads(run_cli(cli, "inspect", "--json", digits).stdout)
    got = shardmix.inspect(digits)
    assert got == expected
    assert got["rows"] == 1797 and got["num_classes"] == 10 and len(got["features"]) == 64


def test_inspect_takes_the_pipeline_options(cli, digits):
    expected = json.loads(run_cli(cli, "inspect", "--json", digits, "--features", "p1*", "--no-label").stdout)
    got = shardmix.inspect(digits, features="p1*", no_label=True)
    assert got == expected and got["label"] is None


def test_inspect_errors_are_typed(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really parquet PAR1")
    with pytest.raises(shardmix.FooterError, match="bad.parquet"):
        shardmix.inspect(str(bad))
