"""`pixels="uint8"` from Python, and Python stages handed (B, H, W, C) arrays when the data
at their place in the pipeline has an image shape (after a crop, the cropped one)."""

import numpy as np
import pytest

import shardmix

H, W, C = 4, 5, 3


@pytest.fixture(scope="module")
def tensor_u8(tmp_path_factory):
    """60 rows of fixed_size_list<uint8>[4·5·3] pixels and a 3-class label."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n = 60
    x = ((np.arange(n)[:, None] * 37 + np.arange(H * W * C)[None, :] * 11) % 256).astype(np.uint8)
    pixels = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.uint8()), H * W * C)
    path = tmp_path_factory.mktemp("u8") / "u8.parquet"
    pq.write_table(pa.table({"pixels": pixels, "label": np.arange(n) % 3}), path, row_group_size=25)
    return str(path), x


def test_uint8_batches_hold_the_stored_bytes(tensor_u8):
    path, x = tensor_u8
    opts = dict(feature_shape=(H, W, C), batch_size=20, order="sequential", epochs=1)
    kept = [b.features for b in shardmix.Pipeline(path, pixels="uint8", **opts)]
    assert kept[0].dtype == np.uint8 and kept[0].shape == (20, H, W, C)
    np.testing.assert_array_equal(np.concatenate(kept).reshape(60, -1), x)
    wide = [b.features for b in shardmix.Pipeline(path, mixup_alpha=0.0, **opts)]
    assert wide[0].dtype == np.float32
    np.testing.assert_array_equal(np.concatenate(wide).reshape(60, -1), x.astype(np.float32))
    assert shardmix.Pipeline(path, pixels="uint8", **opts).settings()["pixels"] == "uint8"


def test_float_stages_refuse_uint8(tensor_u8):
    path, _ = tensor_u8
    for options, stage in ((dict(mixup_alpha=0.2), "mixup"), (dict(normalize="0.5/0.25"), "normalize"), (dict(mixup_alpha=0.0, cutmix_alpha=1.0), "cutmix")):
        # Refused at build: the stage's check error (a StageError "at build") names `pixels`.
        with pytest.raises(shardmix.StageError, match=f"`{stage}`.*pixels|pixels.*`{stage}`"):
            shardmix.Pipeline(path, pixels="uint8", feature_shape=(H, W, C), batch_size=20, steps=1, **options)
    with pytest.raises(shardmix.ConfigError, match="pixels"):
        shardmix.Pipeline(path, pixels="int8", batch_size=20, steps=1)


def test_python_stages_get_uint8_images_and_return_them(tensor_u8):
    path, x = tensor_u8
    seen = []

    def mirror(features, targets, step):
        seen.append((features.dtype, features.shape))
        return np.ascontiguousarray(features[:, :, ::-1, :]), targets

    opts = dict(pixels="uint8", feature_shape=(H, W, C), batch_size=20, order="sequential", epochs=1)
    out = np.concatenate([b.features for b in shardmix.Pipeline(path, stages=[mirror], **opts)])
    assert seen[0] == (np.uint8, (20, H, W, C))
    np.testing.assert_array_equal(out.reshape(60, H, W, C), x.reshape(60, H, W, C)[:, :, ::-1, :])

    def to_float(features, targets, step):
        return features.astype(np.float32), targets

    with pytest.raises(shardmix.StageError):
        list(shardmix.Pipeline(path, stages=[to_float], **opts))


def test_python_stages_see_the_cropped_image_shape(digits):
    shapes = []

    def record(features, targets, step):
        shapes.append(features.shape)
        return features, targets

    opts = dict(feature_shape=(8, 8, 1), batch_size=16, steps=2, mixup_alpha=0.0)
    list(shardmix.Pipeline(digits, random_resized_crop=(6, 5), stages=[record], **opts))
    assert shapes == [(16, 6, 5, 1)] * 2
    shapes.clear()
    list(shardmix.Pipeline(digits, stages=[record], **opts))
    assert shapes == [(16, 8, 8, 1)] * 2
