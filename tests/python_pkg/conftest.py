"""Shared fixtures of the `shardmix` Python package's tests (run by scripts/test.sh)."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "data" / "digits.parquet"
sys.path.insert(0, str(REPO / "examples" / "python"))


def _cli():
    """The shardmix CLI: $SHARDMIX_BIN, or target/{debug,release}/shardmix (built if absent)."""
    env = os.environ.get("SHARDMIX_BIN")
    if env:
        return pathlib.Path(env)
    for profile in ("debug", "release"):
        p = REPO / "target" / profile / "shardmix"
        if p.exists():
            return p
    subprocess.run(["cargo", "build", "--quiet", "--bin", "shardmix"], cwd=REPO, check=True)
    return REPO / "target" / "debug" / "shardmix"


@pytest.fixture(scope="session")
def cli():
    return _cli()


@pytest.fixture(scope="session")
def digits():
    return str(DIGITS)


def flags(options):
    """Pipeline options as CLI flags (`batch_size=64` → `--batch-size 64`)."""
    out = []
    for k, v in options.items():
        name = "--" + k.replace("_", "-")
        if v is True:
            out.append(name)
        elif v is False or v is None:
            continue
        else:
            out += [name, str(v)]
    return out


def run_cli(cli, *args, check=True):
    return subprocess.run([str(cli), "--quiet", *map(str, args)], cwd=REPO, capture_output=True, check=check)


def cli_error(cli, *args):
    """The message the CLI prints after `error: ` for these arguments (it must fail)."""
    r = run_cli(cli, *args, check=False)
    assert r.returncode != 0, f"the CLI accepted {args}"
    lines = [line for line in r.stderr.decode().splitlines() if line.startswith("error: ")]
    assert lines, r.stderr.decode()
    return lines[-1][len("error: "):]


@pytest.fixture(scope="session")
def big_dataset(tmp_path_factory):
    """A 400,000-row, 64-feature, 10-class Parquet file (about 100 MB decoded)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(3)
    n, f = 400_000, 64
    x = rng.standard_normal((n, f), dtype=np.float32)
    cols = {f"f{i}": x[:, i] for i in range(f)}
    cols["label"] = rng.integers(0, 10, n).astype(np.int64)
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    pq.write_table(pa.table(cols), path, row_group_size=65536, compression="snappy")
    return str(path)
