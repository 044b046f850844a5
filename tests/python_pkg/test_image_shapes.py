"""`Pipeline` batches of an image column are (B, H, W, C) without a `feature_shape`: the shape
is the column's own (or after a crop the cropped one), as Python stages see it; the arrays are
still the Rust buffers, not copies. A tensor column stays (B, F) unless a shape is given."""

import io

import numpy as np
import pytest

import shardmix

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _png(pixels):
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels if pixels.shape[2] == 3 else pixels[:, :, 0]).save(out, format="PNG")
    return out.getvalue()


def _images(n, h, w, c):
    """n images h × w × c, every one different."""
    return ((np.arange(n)[:, None, None, None] * 7 + np.arange(h * w * c).reshape(1, h, w, c) * 3) % 256).astype(np.uint8)


def _hf_file(path, images):
    """An HF-layout file: `image {bytes, path}` of PNGs and a 3-class `label`."""
    cells = [{"bytes": _png(img), "path": f"{i}.png"} for i, img in enumerate(images)]
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array(cells, struct), "label": np.arange(len(images)) % 3})
    pq.write_table(table, path, row_group_size=16)
    return str(path)


@pytest.fixture(scope="module", params=[(6, 7, 3), (5, 4, 1)], ids=["rgb", "gray"])
def png_column(request, tmp_path_factory):
    h, w, c = request.param
    images = _images(40, h, w, c)
    path = _hf_file(tmp_path_factory.mktemp("png") / "png.parquet", images)
    return path, images


OPTS = dict(batch_size=8, order="sequential", epochs=1, mixup_alpha=0.0)


def _is_rust_buffer(array):
    """The array holds the Rust buffer (rust-numpy's container is its base), not a numpy copy."""
    return not array.flags["OWNDATA"] and not isinstance(array.base, np.ndarray)


def test_an_image_column_is_yielded_as_batches_of_images(png_column):
    path, images = png_column
    n, h, w, c = images.shape
    batches = list(shardmix.Pipeline(path, **OPTS))
    for b in batches:
        assert b.features.shape == (8, h, w, c) and b.features.dtype == np.float32
        assert b.features.flags["C_CONTIGUOUS"] and _is_rust_buffer(b.features)
    # ToTensor's scale, channels last: the images as written.
    got = np.concatenate([b.features for b in batches])
    np.testing.assert_array_equal(np.round(got * 255).astype(np.uint8), images)
    # As bytes.
    kept = list(shardmix.Pipeline(path, pixels="uint8", batch_size=8, order="sequential", epochs=1))
    assert all(b.features.shape == (8, h, w, c) and b.features.dtype == np.uint8 for b in kept)
    assert all(_is_rust_buffer(b.features) for b in kept)
    np.testing.assert_array_equal(np.concatenate([b.features for b in kept]), images)


def test_the_pipeline_and_its_python_stages_see_the_same_shapes(png_column):
    path, images = png_column
    _, h, w, c = images.shape
    seen = []

    def record(features, targets, step):
        seen.append(features.shape)
        return features, targets

    for crop, shape in ((None, (h, w, c)), ((3, 2), (3, 2, c))):
        seen.clear()
        opts = dict(OPTS, steps=2, stages=[record])
        if crop:
            opts["random_resized_crop"] = crop
        out = [b.features.shape for b in shardmix.Pipeline(path, **opts)]
        assert out == seen == [(8, *shape)] * 2, crop


def test_a_tensor_column_is_flat_unless_a_shape_is_given(tmp_path):
    n, h, w, c = 24, 4, 5, 3
    x = _images(n, h, w, c).reshape(n, -1)
    path = tmp_path / "t.parquet"
    pixels = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.uint8()), h * w * c)
    pq.write_table(pa.table({"pixels": pixels, "label": np.arange(n) % 3}), path)
    flat = next(iter(shardmix.Pipeline(str(path), **OPTS)))
    assert flat.features.shape == (8, h * w * c)
    shaped = next(iter(shardmix.Pipeline(str(path), feature_shape=(h, w, c), **OPTS)))
    assert shaped.features.shape == (8, h, w, c) and _is_rust_buffer(shaped.features)
    np.testing.assert_array_equal(shaped.features.reshape(8, -1), flat.features)


def test_torch_gets_the_image_shape(png_column):
    torch = pytest.importorskip("torch")
    import shardmix.torch

    path, images = png_column
    x, y = next(iter(shardmix.torch.Dataset(path, **OPTS)))
    assert tuple(x.shape) == (8, *images.shape[1:]) and x.dtype == torch.float32
