"""shardmix.Pipeline on `s3://` shards, against moto's server mode on loopback behind the fault
proxy of tests/python/moto_server.py (a real S3-compatible server in a child process, never a
mock): the same batches as on the local copies, and the `cache_dir` / `cache_max_bytes`
keywords (the second run reads no object body through the proxy)."""

import json
import os
import pathlib
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

import shardmix

REPO = pathlib.Path(__file__).resolve().parents[2]
MOTO = REPO / "tests" / "python" / "moto_server.py"
BUCKET = "pybucket"

pytest.importorskip("moto")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def store():
    """moto + proxy in a child process: (proxy endpoint, moto endpoint); killed at the end."""
    child = subprocess.Popen(
        [sys.executable, str(MOTO), "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline().split()
        assert line and line[0] == "READY", f"moto_server.py said {line!r}"
        yield f"http://127.0.0.1:{line[1]}", f"http://127.0.0.1:{line[2]}"
    finally:
        child.kill()
        child.wait()


@pytest.fixture(scope="module")
def shards(store, tmp_path_factory):
    """Three small shards, local and uploaded under s3://pybucket/data/."""
    rng = np.random.default_rng(11)
    local = tmp_path_factory.mktemp("local")
    pairs = []
    for i in range(3):
        n = 500 + 37 * i
        cols = {f"f{j}": rng.standard_normal(n, dtype=np.float32) for j in range(8)}
        cols["label"] = rng.integers(0, 4, n).astype(np.int64)
        path = local / f"part-{i}.parquet"
        pq.write_table(pa.table(cols), path, row_group_size=200, compression="snappy")
        pairs += [f"data/part-{i}.parquet", str(path)]
    subprocess.run([sys.executable, str(MOTO), "put", store[1], BUCKET, *pairs], check=True)
    return str(local)


@pytest.fixture
def s3_env(store, monkeypatch):
    """The process environment object_store reads: moto's dummy credentials, the proxy as
    endpoint, plain HTTP, a bounded wait. Every other AWS_* variable is removed."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", store[0])
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SHARDMIX_STORE_TIMEOUT", "20")


def data_reads(store):
    """Bounded range GETs (column chunks) the proxy has forwarded so far."""
    with urllib.request.urlopen(f"{store[0]}/__proxy/stats", timeout=10) as r:
        return json.load(r)["data_reads"]


def collect(pipeline):
    return [(b.step, b.features.tobytes(), b.targets.tobytes()) for b in pipeline]


OPTIONS = dict(batch_size=64, epochs=2, order="shuffled", seed=7, workers=2, features="f0,f1,f2,f3,f4,f5,f6,f7")


def test_s3_batches_equal_the_local_ones_bit_for_bit(store, shards, s3_env):
    local = collect(shardmix.Pipeline(shards, **OPTIONS))
    for data in (f"s3://{BUCKET}/data/", f"s3://{BUCKET}/data/*.parquet"):
        remote = collect(shardmix.Pipeline(data, **OPTIONS))
        assert len(remote) == len(local) > 0
        assert remote == local, f"{data}: batches differ from the local run"


def test_cache_dir_serves_the_second_run_without_reading_the_store(store, shards, s3_env, tmp_path):
    local = collect(shardmix.Pipeline(shards, **OPTIONS))
    cache = tmp_path / "cache"
    data = f"s3://{BUCKET}/data/"
    p = shardmix.Pipeline(data, cache_dir=cache, cache_max_bytes=1 << 30, **OPTIONS)
    first = collect(p)
    s = p.stats()["object_cache"]
    assert (s["fills"], s["hits"], s["bypassed"]) == (3, 0, 0), s
    assert s["filled_bytes"] == sum(f.stat().st_size for f in pathlib.Path(shards).iterdir())
    filled = data_reads(store)
    p = shardmix.Pipeline(data, cache_dir=str(cache), **OPTIONS)
    second = collect(p)
    s = p.stats()["object_cache"]
    assert (s["fills"], s["hits"], s["bypassed"], s["last_bypass"]) == (0, 3, 0, None), s
    assert first == local and second == local
    # The first run's fills are range reads too (parts of each object); the second run,
    # served by the copies, must make none.
    assert data_reads(store) == filled, "the second run read from the store"
    copies = sorted(p.name for p in (cache / "shardmix-cache-v1").iterdir())
    assert len(copies) == 3 and all(n.startswith("entry-") and n.endswith(".parquet") for n in copies), copies


def test_a_cache_too_small_for_any_object_is_bypassed_and_says_why(store, shards, s3_env, tmp_path):
    p = shardmix.Pipeline(f"s3://{BUCKET}/data/", cache_dir=tmp_path, cache_max_bytes=100, **OPTIONS)
    assert collect(p) == collect(shardmix.Pipeline(shards, **OPTIONS))
    s = p.stats()["object_cache"]
    assert (s["fills"], s["hits"], s["bypassed"]) == (0, 0, 3), s
    assert "larger than cache_max_bytes" in s["last_bypass"]
    assert shardmix.Pipeline(shards, **OPTIONS).stats().get("object_cache") is None


def test_cache_max_bytes_zero_is_a_config_error_naming_it(store, shards, s3_env, tmp_path):
    with pytest.raises(shardmix.ConfigError, match="cache_max_bytes"):
        collect(shardmix.Pipeline(f"s3://{BUCKET}/data/", cache_dir=tmp_path, cache_max_bytes=0, **OPTIONS))


def test_a_missing_bucket_is_an_error_naming_it(store, shards, s3_env):
    with pytest.raises(shardmix.Error, match="no-such-bucket"):
        collect(shardmix.Pipeline("s3://no-such-bucket/data/", **OPTIONS))
