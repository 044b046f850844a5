"""shardmix.Pipeline: batches, options, zero-copy arrays, the GIL, and sameness with the CLI."""

import gc
import threading
import time

import numpy as np
import pytest

import shardmix
from conftest import cli_error, flags, run_cli

from shardmix_client import open_stream


def collect(pipeline):
    return [(b.step, b.features.copy(), None if b.targets is None else b.targets.copy()) for b in pipeline]


def assert_same(a, b):
    assert len(a) == len(b)
    for (sa, xa, ya), (sb, xb, yb) in zip(a, b):
        assert sa == sb
        assert xa.tobytes() == xb.tobytes(), f"step {sa}: features differ"
        assert (ya is None) == (yb is None)
        if ya is not None:
            assert ya.tobytes() == yb.tobytes(), f"step {sa}: targets differ"


def test_batches_have_the_documented_types_and_shapes(digits):
    p = shardmix.Pipeline(digits, batch_size=64, steps=5, seed=1)
    assert len(p) == 5
    batches = list(p)
    assert [b.step for b in batches] == [0, 1, 2, 3, 4]
    for b in batches:
        assert isinstance(b, shardmix.Batch)
        assert b.features.dtype == np.float32 and b.features.shape == (64, 64)
        assert b.targets.dtype == np.float32 and b.targets.shape == (64, 10)
        np.testing.assert_allclose(b.targets.sum(axis=1), 1.0, rtol=1e-5)
        assert b.origin is None and b.row_a is None  # no provenance asked for
    s = p.stats()
    assert (s["rows"], s["batches"]) == (320, 5)
    assert "mixup" in s["stage_times"]


def test_data_may_be_a_list_or_a_pathlike(digits):
    import pathlib

    a = collect(shardmix.Pipeline([digits], steps=2, batch_size=32))
    b = collect(shardmix.Pipeline(pathlib.Path(digits), steps=2, batch_size=32))
    assert_same(a, b)


CASES = {
    "defaults": dict(steps=6),
    "shuffled-provenance-workers": dict(
        batch_size=100, order="shuffled", seed=5, workers=2, provenance=True, mixup_mode="pair", steps=9
    ),
    "cutmix-image": dict(
        batch_size=50, feature_shape="8x8x1", cutmix_alpha=1.0, mixup_alpha=0.4, epochs=1, order="sequential"
    ),
    "no-mixup-no-label-rank": dict(batch_size=128, mixup_alpha=0, no_label=True, rank=1, world_size=3),
    "smoothing-prob": dict(batch_size=64, label_smoothing=0.1, mixup_prob=0.5, seed=11, start_step=3, steps=12),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_batches_as_the_cli_stream_bit_for_bit(cli, digits, tmp_path, name):
    options = CASES[name]
    out = tmp_path / "stream.arrows"
    r = run_cli(cli, "stream", "--to", "-", "--data", digits, *flags(options))
    out.write_bytes(r.stdout)
    with open_stream(str(out)) as stream:
        expected = [(b.features, b.targets, b.record_batch) for b in stream]
    got = list(shardmix.Pipeline(digits, **options))
    assert len(got) == len(expected) > 0
    for b, (x, y, rb) in zip(got, expected):
        assert b.features.reshape(len(b), -1).tobytes() == np.ascontiguousarray(x).reshape(len(b), -1).tobytes()
        if y is None:
            assert b.targets is None
        else:
            assert b.targets.tobytes() == np.ascontiguousarray(y).reshape(b.targets.shape).tobytes()
        if options.get("provenance"):
            names = rb.schema.names
            assert rb.column(names.index("step")).to_pylist() == [b.step] * len(b)
            origin = [shardmix.ORIGINS[o] for o in b.origin]
            assert [str(v) for v in rb.column(names.index("origin")).to_pylist()] == origin
            assert rb.column(names.index("row_a")).to_pylist() == b.row_a.tolist()
            assert rb.column(names.index("row_b")).to_pylist() == [None if v < 0 else v for v in b.row_b.tolist()]
            lam = rb.column(names.index("lambda")).to_pylist()
            assert [None if np.isnan(v) else np.float32(v) for v in b.lambda_] == [
                None if v is None else np.float32(v) for v in lam
            ]


def test_feature_shape_gives_image_batches(digits):
    b = next(iter(shardmix.Pipeline(digits, batch_size=16, feature_shape=(8, 8, 1), steps=1)))
    assert b.features.shape == (16, 8, 8, 1)
    assert b.features.flags["C_CONTIGUOUS"]


def test_same_batches_for_any_worker_count_and_resume_point(digits):
    opts = dict(batch_size=100, order="shuffled", seed=3, steps=12)
    ref = collect(shardmix.Pipeline(digits, workers=0, **opts))
    assert_same(ref, collect(shardmix.Pipeline(digits, workers=3, prefetch=2, **opts)))
    assert_same(ref[5:], collect(shardmix.Pipeline(digits, start_step=5, **opts)))
    r0 = collect(shardmix.Pipeline(digits, rank=0, world_size=2, **opts))
    r1 = collect(shardmix.Pipeline(digits, rank=1, world_size=2, **opts))
    assert_same(ref[0::2], r0)
    assert_same(ref[1::2], r1)


def test_arrays_are_zero_copy_views_that_keep_the_rust_buffer_alive(digits):
    p = shardmix.Pipeline(digits, batch_size=64, steps=2, provenance=True)
    b = next(iter(p))
    x, y = b.features, b.targets
    for a in (x, y, b.row_a):
        # Not a numpy-owned copy: a view of a buffer owned by a Rust object.
        assert not a.flags["OWNDATA"]
        assert a.base is not None and not isinstance(a.base, np.ndarray)
    address = x.__array_interface__["data"][0]
    assert b.features.__array_interface__["data"][0] == address  # the same buffer each time
    snapshot = x.copy()
    del b, p
    gc.collect()
    junk = [np.full((64, 64), 7.0, np.float32) for _ in range(50)]  # reuse of freed memory
    assert x.__array_interface__["data"][0] == address
    assert np.array_equal(x, snapshot) and y.shape == (64, 10)
    del junk


def test_the_gil_is_released_while_waiting_for_a_batch(big_dataset):
    # One batch of 400,000 rows, read and mixed inline (workers=0) inside one __next__ call:
    # if the GIL were held, the other thread could not run during the call.
    p = shardmix.Pipeline(big_dataset, batch_size=400_000, order="sequential", workers=0, steps=1, cache_mib=512)
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    it = iter(p)
    t0 = time.perf_counter()
    b = next(it)
    t1 = time.perf_counter()
    stop.set()
    t.join()
    assert b.features.shape == (400_000, 64)
    inside = [x for x in ticks if t0 < x < t1]
    assert t1 - t0 > 0.02, "the batch was too quick to tell"
    assert len(inside) >= 5, f"{len(inside)} ticks during a {t1 - t0:.3f} s __next__"


def test_settings_show_the_cli_defaults(digits):
    s = shardmix.Pipeline(digits, steps=1).settings()
    assert (s["batch_size"], s["order"], s["mixup_alpha"], s["epochs"], s["null_policy"]) == (
        256,
        "offset",
        0.2,
        1,
        "error",
    )
    assert set(shardmix.OPTIONS) <= set(s) | {"config"}


def test_config_file_and_options_override_it(digits, tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('batch_size = 32\nseed = 9\norder = "sequential"\nsteps = 3\n')
    p = shardmix.Pipeline(digits, config=str(cfg), batch_size=16)
    s = p.settings()
    assert (s["batch_size"], s["seed"], s["order"], s["steps"]) == (16, 9, "sequential", 3)
    assert [b.features.shape[0] for b in p] == [16, 16, 16]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,cli_flags,cls",
    [
        (dict(batch_size=0), ["--batch-size", "0"], shardmix.ConfigError),
        (dict(mixup_mode="zigzag"), ["--mixup-mode", "zigzag"], shardmix.ConfigError),
        (dict(order="random"), ["--order", "random"], shardmix.ConfigError),
        (dict(mixup_alpha=-1.0), ["--mixup-alpha=-1"], shardmix.ConfigError),
        (dict(label="nope"), ["--label", "nope"], shardmix.MissingColumnError),
        (dict(rank=2, world_size=2), ["--rank", "2", "--world-size", "2"], shardmix.ConfigError),
        (dict(feature_shape="3x0"), ["--feature-shape", "3x0"], shardmix.ConfigError),
        (dict(null_policy="ignore"), ["--null-policy", "ignore"], shardmix.ConfigError),
    ],
)
def test_errors_have_the_cli_message_and_a_class_per_kind(cli, digits, tmp_path, options, cli_flags, cls):
    with pytest.raises(cls) as e:
        list(shardmix.Pipeline(digits, steps=1, **options))
    assert isinstance(e.value, shardmix.Error)
    expected = cli_error(cli, "stream", "--to", "-", "--data", digits, "--steps", "1", *cli_flags)
    assert str(e.value) == expected


def test_missing_data_is_a_no_shards_error(tmp_path):
    with pytest.raises(shardmix.NoShardsError) as e:
        shardmix.Pipeline(str(tmp_path / "nothing-*.parquet"))
    assert "nothing-" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_unknown_and_mistyped_options_are_named(digits):
    with pytest.raises(shardmix.ConfigError, match="batch_sise"):
        shardmix.Pipeline(digits, batch_sise=3)
    with pytest.raises(shardmix.ConfigError, match="batch_size") as e:
        shardmix.Pipeline(digits, batch_size="big")
    assert isinstance(e.value, ValueError)
    with pytest.raises(shardmix.ConfigError, match="config"):
        shardmix.Pipeline(digits, config=__file__)  # not TOML
    with pytest.raises(shardmix.IoError, match="nonexistent"):
        shardmix.Pipeline(digits, config="/nonexistent/p.toml")


# --- Python stages ------------------------------------------------------------------------


def add_step(x, y, step):
    return x + np.float32(step), y


def test_a_python_stage_runs_after_the_builtin_ones_deterministically(digits):
    opts = dict(batch_size=64, steps=6, seed=2)
    plain = collect(shardmix.Pipeline(digits, workers=0, **opts))
    a = collect(shardmix.Pipeline(digits, workers=0, stages=[add_step], **opts))
    b = collect(shardmix.Pipeline(digits, workers=3, stages=[add_step], **opts))
    assert_same(a, b)
    for (s, x, y), (_, xp, yp) in zip(a, plain):
        np.testing.assert_array_equal(x, xp + np.float32(s))  # after Mixup: mixed, then shifted
        np.testing.assert_array_equal(y, yp)


def test_python_stages_run_in_order(digits):
    def double(x, y, step):
        return x * 2, y

    a = collect(shardmix.Pipeline(digits, steps=2, stages=[add_step, double]))
    b = collect(shardmix.Pipeline(digits, steps=2, stages=[double, add_step]))
    assert not np.array_equal(a[1][1], b[1][1])
    p = collect(shardmix.Pipeline(digits, steps=2))
    np.testing.assert_array_equal(a[1][1], (p[1][1] + 1) * 2)


def test_an_exception_in_a_python_stage_is_a_stage_error_with_its_cause(digits):
    def boom(x, y, step):
        if step == 2:
            raise KeyError("no such thing")
        return x, y

    p = shardmix.Pipeline(digits, batch_size=64, steps=5, stages=[boom])
    with pytest.raises(shardmix.StageError) as e:
        list(p)
    assert "step 2" in str(e.value) and "boom" in str(e.value)
    assert str(e.value).endswith("failed: KeyError: 'no such thing'"), str(e.value)
    assert isinstance(e.value.__cause__, KeyError)


def test_a_python_stage_returning_a_wrong_shape_is_named(digits):
    def bad(x, y, step):
        return x[:, :3], y

    with pytest.raises(shardmix.StageError, match="64 rows of 64 values"):
        list(shardmix.Pipeline(digits, batch_size=64, steps=1, stages=[bad]))
    with pytest.raises(shardmix.ConfigError, match="not callable"):
        shardmix.Pipeline(digits, stages=[3])
