"""shardmix.ray's Ray Data stages (Mixup, VaeInject, GanInject) on a real local Ray cluster:
the pipeline's own stage code applied to numpy batches, deterministic per batch."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ray_cluster import ray, ray_cluster  # noqa: F401  (the session's cluster fixture)

import shardmix  # noqa: E402
import shardmix.ray  # noqa: E402

B = 64
STEPS = 4
FEATURES = [f"p{i}" for i in range(64)]


def raw_batches(digits, **extra):
    """The pipeline's batches before any stage (Mixup off), as numpy batches with a step column."""
    names = [f"p{i}" for i in range(64)]
    out = []
    for b in shardmix.Pipeline(digits, batch_size=B, steps=STEPS, mixup_alpha=0, **extra):
        batch = {n: b.features[:, i].copy() for i, n in enumerate(names)}
        batch["label"] = b.targets.argmax(axis=1).astype(np.int64)
        batch["step"] = np.full(len(b), b.step, dtype=np.uint64)
        out.append(batch)
    return out


def as_matrix(batch):
    return np.stack([batch[f"p{i}"] for i in range(64)], axis=1)


def test_mixup_equals_the_pipeline_at_the_same_step(digits):
    mix = shardmix.ray.Mixup(alpha=0.4, seed=7, num_classes=10, step_column="step")
    ref = list(shardmix.Pipeline(digits, batch_size=B, steps=STEPS, mixup_alpha=0.4, seed=7))
    for batch, want in zip(raw_batches(digits), ref):
        got = mix(batch)
        assert "label" not in got and got["target"].shape == (B, 10)
        assert as_matrix(got).tobytes() == want.features.tobytes()
        assert got["target"].tobytes() == want.targets.tobytes()
        assert (got["step"] == want.step).all()
    # A different step (or seed) draws differently.
    batch = raw_batches(digits)[0]
    other = dict(batch, step=batch["step"] + 1)
    assert as_matrix(mix(other)).tobytes() != as_matrix(mix(batch)).tobytes()


def test_vae_then_mixup_equal_the_pipeline(digits, cli, tmp_path):
    from conftest import run_cli
    model = tmp_path / "vae.safetensors"
    run_cli(cli, "train", "vae", "--data", digits, "--num-classes", "10", "--steps", "3", "--batch-size", "64",
            "--out", model)
    ref = list(shardmix.Pipeline(digits, batch_size=B, steps=STEPS, vae=str(model), vae_fraction=0.5,
                                 mixup_alpha=0.3, seed=5))
    vae = shardmix.ray.VaeInject(model=model, fraction=0.5, seed=5, num_classes=10, step_column="step")
    # Mixup is the pipeline's second stage here (index 1).
    mix = shardmix.ray.Mixup(alpha=0.3, seed=5, num_classes=10, step_column="step", stage_index=1)
    for batch, want in zip(raw_batches(digits), ref):
        got = mix(vae(batch))
        assert as_matrix(got).tobytes() == want.features.tobytes()
        assert got["target"].tobytes() == want.targets.tobytes()
    # A GAN model given as a VAE is refused, naming the file.
    with pytest.raises(shardmix.ModelError, match="vae model"):
        shardmix.ray.GanInject(model=model)


def test_bad_options_fail_in_the_driver_with_the_pipeline_messages():
    with pytest.raises(shardmix.ConfigError, match="mixup_alpha"):
        shardmix.ray.Mixup(alpha=-1)
    with pytest.raises(shardmix.ConfigError, match="mixup_mode"):
        shardmix.ray.Mixup(alpha=0.2, mode="sideways")
    with pytest.raises(shardmix.Error):
        shardmix.ray.VaeInject(model="/nonexistent/vae.safetensors")
    mix = shardmix.ray.Mixup(alpha=0.2, num_classes=3)
    batch = {"a": np.zeros(4, np.float32), "label": np.array([0, 1, 2, 3])}
    with pytest.raises(shardmix.ConfigError, match="label column 'label' holds 3 at row 3"):
        mix(batch)
    mixed_steps = {"a": np.zeros(4, np.float32), "step": np.array([0, 0, 1, 1])}
    with pytest.raises(shardmix.ConfigError, match="several steps"):
        shardmix.ray.Mixup(alpha=0.2, step_column="step")(mixed_steps)


def digits_table(digits, n):
    t = pq.read_table(digits).slice(0, n)
    return t.append_column("row", pa.array(np.arange(n, dtype=np.int64)))


def run_ray(ds, stage):
    out = ds.map_batches(stage, batch_format="numpy", batch_size=B).to_pandas()
    return out.sort_values("row").reset_index(drop=True)


def test_stages_on_ray_data_are_deterministic_per_batch(ray_cluster, digits):  # noqa: F811
    n = 8 * B
    table = digits_table(digits, n)
    # The features named: by default every numeric column is one, `row` too.
    mix = shardmix.ray.Mixup(alpha=0.4, seed=3, num_classes=10, features=FEATURES)
    one_block = run_ray(ray.data.from_arrow(table), mix)
    # The same batches in other blocks, on other workers, in another order: the same rows out.
    blocks = ray.data.from_arrow([table.slice(i * 2 * B, 2 * B) for i in range(4)][::-1])
    other_layout = run_ray(blocks, mix)
    assert len(one_block) == n
    cols = [f"p{i}" for i in range(64)]
    a = one_block[cols].to_numpy(np.float32)
    assert a.tobytes() == other_layout[cols].to_numpy(np.float32).tobytes()
    ta = np.stack(one_block["target"].to_numpy())
    assert ta.tobytes() == np.stack(other_layout["target"].to_numpy()).tobytes()
    # ... and the same as the stage applied to those batches here, without Ray.
    local = table.to_pydict()
    for k in range(n // B):
        batch = {c: np.asarray(local[c][k * B:(k + 1) * B], dtype=np.float32) for c in cols}
        batch["label"] = np.asarray(local["label"][k * B:(k + 1) * B])
        want = mix(batch)
        assert a[k * B:(k + 1) * B].tobytes() == as_matrix(want).tobytes()
        assert ta[k * B:(k + 1) * B].tobytes() == want["target"].tobytes()
    # Mixup did mix, and another seed mixes differently.
    assert a.tobytes() != table.select(cols).to_pandas().to_numpy(np.float32).tobytes()
    reseeded = run_ray(ray.data.from_arrow(table), shardmix.ray.Mixup(alpha=0.4, seed=4, num_classes=10, features=FEATURES))
    assert reseeded[cols].to_numpy(np.float32).tobytes() != a.tobytes()


def test_step_column_on_ray_data_gives_the_pipeline_batches(ray_cluster, digits):  # noqa: F811
    batches = raw_batches(digits)
    table = pa.concat_tables(pa.table({**b, "row": np.arange(i * B, (i + 1) * B)}) for i, b in enumerate(batches))
    mix = shardmix.ray.Mixup(alpha=0.4, seed=7, num_classes=10, step_column="step", features=FEATURES)
    got = run_ray(ray.data.from_arrow(table).repartition(2), mix)
    ref = list(shardmix.Pipeline(digits, batch_size=B, steps=STEPS, mixup_alpha=0.4, seed=7))
    x = got[[f"p{i}" for i in range(64)]].to_numpy(np.float32)
    assert x.tobytes() == np.concatenate([r.features for r in ref]).tobytes()
    assert np.stack(got["target"].to_numpy()).tobytes() == np.concatenate([r.targets for r in ref]).tobytes()


def test_cutmix_on_a_tensor_column_equals_the_pipeline(digits):
    """One (B, 8, 8, 1) image column in, the same shape out; CutMix as the pipeline cuts."""
    opts = dict(mixup_alpha=0, cutmix_alpha=1.0, feature_shape=(8, 8, 1), seed=2)
    raw = raw_batches(digits)
    ref = list(shardmix.Pipeline(digits, batch_size=B, steps=STEPS, **opts))
    stage = shardmix.ray.Mixup(alpha=0, cutmix_alpha=1.0, feature_shape=(8, 8, 1), seed=2, num_classes=10,
                               features="image", step_column="step")
    for batch, want in zip(raw, ref):
        images = as_matrix(batch).reshape(B, 8, 8, 1)
        got = stage({"image": images, "label": batch["label"], "step": batch["step"]})
        assert got["image"].shape == (B, 8, 8, 1) and got["image"].dtype == np.float32
        assert got["image"].tobytes() == want.features.tobytes()
        assert got["target"].tobytes() == want.targets.tobytes()
        assert got["image"].tobytes() != images.tobytes()
