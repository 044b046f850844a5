"""The image stages and PNG output from Python: options as the CLI's flags."""

import io

import numpy as np
import pyarrow.parquet as pq
import pytest

import shardmix


def test_crop_and_flip_options_take_numbers_and_tuples(digits):
    base = dict(feature_shape=(8, 8, 1), batch_size=32, steps=3, seed=4, order="sequential", mixup_alpha=0.0)
    a = shardmix.Pipeline(digits, random_resized_crop=(6, 5), crop_scale=(0.5, 1.0), crop_ratio="3/4,4/3", hflip=0.5, **base)
    b = shardmix.Pipeline(digits, random_resized_crop="6x5", crop_scale="0.5,1", crop_ratio=(0.75, 4 / 3), hflip=0.5, **base)
    xa = [batch.features.copy() for batch in a]
    xb = [batch.features.copy() for batch in b]
    assert xa[0].shape == (32, 6, 5, 1), "handed out in the cropped shape"
    for u, v in zip(xa, xb):
        np.testing.assert_array_equal(u, v)
    s = shardmix.Pipeline(digits, random_resized_crop=6, hflip=0.5, **base).settings()
    assert (s["random_resized_crop"], s["hflip"]) == ("6", 0.5)
    # Any worker count gives the same batches.
    c = shardmix.Pipeline(digits, random_resized_crop=(6, 5), crop_scale=(0.5, 1.0), crop_ratio="3/4,4/3", hflip=0.5, workers=2, **base)
    for u, batch in zip(xa, c):
        np.testing.assert_array_equal(u, batch.features)


@pytest.mark.parametrize(
    "options,name",
    [
        (dict(hflip=1.5), "hflip"),
        (dict(random_resized_crop=0), "random_resized_crop"),
        (dict(random_resized_crop=4, crop_scale=(0.9, 0.1)), "crop_scale"),
        (dict(crop_ratio=(0.5, 2.0)), "crop_ratio"),
        (dict(random_resized_crop="big"), "random_resized_crop"),
    ],
)
def test_bad_image_stage_values_are_named(digits, options, name):
    with pytest.raises(shardmix.ConfigError, match=name):
        shardmix.Pipeline(digits, feature_shape="8x8x1", steps=1, **options)


def test_augment_writes_png_images(digits, tmp_path):
    from PIL import Image

    out = tmp_path / "out"
    opts = dict(feature_shape="8x8x1", batch_size=16, steps=2, order="sequential", mixup_alpha=0.0)
    shardmix.augment(digits, out, quiet=True, image_out="png", **opts)
    t = pq.read_table(out / "part-00000.parquet")
    cells = t.column("image").to_pylist()
    assert len(cells) == 32
    tensors = [b.features for b in shardmix.Pipeline(digits, **opts)]
    want = np.clip(np.round(np.concatenate([t.reshape(len(t), -1) for t in tensors]) * 255), 0, 255).astype(np.uint8)
    for i, cell in enumerate(cells):
        img = np.asarray(Image.open(io.BytesIO(cell["bytes"])))
        np.testing.assert_array_equal(img.reshape(-1), want[i].reshape(-1))
    with pytest.raises(shardmix.ConfigError, match="image_out"):
        shardmix.augment(digits, tmp_path / "bad", quiet=True, image_out="gif", **opts)
