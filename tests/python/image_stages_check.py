#!/usr/bin/env python3
"""Checks for tests/library/image_stages.rs, run with the test venv's Python.

    image_stages_check.py resize IN.f32 H W OUT_H OUT_W EXPECTED.f32
        IN.f32: H x W float32 (one channel). Writes Pillow's bilinear resize of it (mode "F",
        Image.BILINEAR, which antialiases when it shrinks) to EXPECTED.f32, and, when torch
        imports, checks that torch's interpolate(bilinear, antialias=True) — what torchvision's
        RandomResizedCrop runs on tensors — agrees with Pillow within 1e-5.

    image_stages_check.py png-out DIR PIXELS.u8 ROWS H W C
        DIR is `augment --image-out png` output. Reads it with pyarrow + Pillow and checks that
        every image decodes to the expected uint8 pixels (PIXELS.u8, ROWS x H x W x C in output
        order); then with `datasets.load_dataset("parquet", ...)`, checks that the column is an
        `Image` feature and that the images equal the same pixels.
"""

import glob
import io
import os
import sys

import numpy as np


def resize(args):
    src, h, w, oh, ow, dst = args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4]), args[5]
    from PIL import Image

    x = np.fromfile(src, dtype=np.float32).reshape(h, w)
    out = np.asarray(Image.fromarray(x, mode="F").resize((ow, oh), Image.BILINEAR), dtype=np.float32)
    out.tofile(dst)
    try:
        import torch
    except ImportError:
        print("torch not installed: Pillow only")
        return
    t = torch.nn.functional.interpolate(
        torch.from_numpy(x)[None, None], size=(oh, ow), mode="bilinear", antialias=True, align_corners=False
    )[0, 0].numpy()
    diff = float(np.abs(t - out).max())
    assert diff < 1e-5, f"torch and Pillow differ by {diff}"
    print(f"torch agrees with Pillow (max diff {diff:.2e})")


def png_out(args):
    d, pixels, rows, h, w, c = args[0], args[1], int(args[2]), int(args[3]), int(args[4]), int(args[5])
    import pyarrow.parquet as pq
    from PIL import Image

    want = np.fromfile(pixels, dtype=np.uint8).reshape(rows, h, w, c)
    files = sorted(glob.glob(os.path.join(d, "part-*.parquet")))
    assert files, f"no shards in {d}"
    got = []
    for f in files:
        t = pq.read_table(f)
        for cell in t.column("image").to_pylist():
            assert cell["path"] is None
            img = Image.open(io.BytesIO(cell["bytes"]))
            assert img.format == "PNG", img.format
            a = np.asarray(img)
            got.append(a.reshape(h, w, c))
    got = np.stack(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert (got == want).all(), f"{int((got != want).sum())} values differ"
    print(f"pyarrow + Pillow: {rows} images equal")

    try:
        import datasets
    except ImportError:
        print("datasets not installed: skipped")
        return
    ds = datasets.load_dataset("parquet", data_files=files, split="train")
    assert isinstance(ds.features["image"], datasets.Image), ds.features
    assert len(ds) == rows
    for i in range(rows):
        a = np.asarray(ds[i]["image"]).reshape(h, w, c)
        assert (a == want[i]).all(), f"datasets: row {i} differs"
    print(f"datasets {datasets.__version__}: Image feature, {rows} images equal")


if __name__ == "__main__":
    {"resize": resize, "png-out": png_out}[sys.argv[1]](sys.argv[2:])
