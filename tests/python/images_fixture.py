#!/usr/bin/env python3
"""Image fixtures for tests/library/images.rs (a helper, not a test: the Rust tests call it).

    images_fixture.py OUT_DIR

Writes into OUT_DIR, with Pillow and pyarrow, Parquet files in the layout the Hugging Face Hub
uses for image datasets (`datasets.Image`): a struct column `image {bytes: binary, path: string}`
holding encoded PNG/JPEG files, and an int64 `label`; and, next to each file, Pillow's decoded
pixels as raw little-endian uint8 (`NAME.u8`, rows × H × W × C, channels last, exactly what
`np.asarray(PIL.Image.open(...))` gives), which the Rust tests compare with shardmix's output.

Files (every image is H × W = 7 × 5, deliberately not square, with pseudo-random content drawn
from a fixed seed so that the bytes are reproducible):

* `gray.parquet`  — 37 PNG `L` images (C = 1), row groups of 16 rows;
* `rgb.parquet`   — 21 PNG `RGB` images (C = 3);
* `rgba.parquet`  — 21 PNG `RGBA` images (C = 4);
* `jpeg.parquet`  — 21 JPEG `RGB` images (quality 90, 4:2:0) and `jpeg_gray.parquet`, 21 `L`;
* `binary.parquet` — 21 PNG `RGB` images in a plain `binary` column `png` (not a struct);
* `truncated.parquet` — 12 gray PNGs, row 9's bytes cut in half;
* `shape.parquet` — 12 gray PNGs, row 7 is 5 × 7 instead of 7 × 5.
"""

import io
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

H, W = 7, 5


def encode(arr, mode, fmt, **kw):
    buf = io.BytesIO()
    Image.fromarray(arr, mode=None).convert(mode).save(buf, format=fmt, **kw)
    return buf.getvalue()


def images(rng, n, channels):
    shape = (n, H, W) if channels == 1 else (n, H, W, channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def decoded(blob):
    return np.asarray(Image.open(io.BytesIO(blob)))


def write(out, name, blobs, labels, struct=True, row_group=16):
    if struct:
        paths = [f"{name}_{i}.png" for i in range(len(blobs))]
        col = pa.StructArray.from_arrays(
            [pa.array(blobs, type=pa.binary()), pa.array(paths, type=pa.string())], names=["bytes", "path"]
        )
        table = pa.table({"image": col, "label": pa.array(labels, type=pa.int64())})
    else:
        table = pa.table({"png": pa.array(blobs, type=pa.binary()), "label": pa.array(labels, type=pa.int64())})
    pq.write_table(table, os.path.join(out, f"{name}.parquet"), row_group_size=row_group)


def dump(out, name, blobs):
    pixels = np.stack([decoded(b) for b in blobs])
    with open(os.path.join(out, f"{name}.u8"), "wb") as f:
        f.write(np.ascontiguousarray(pixels).tobytes())


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(16)
    sets = {
        "gray": ([encode(a, "L", "PNG") for a in images(rng, 37, 1)], True),
        "rgb": ([encode(a, "RGB", "PNG") for a in images(rng, 21, 3)], True),
        "rgba": ([encode(a, "RGBA", "PNG") for a in images(rng, 21, 4)], True),
        # Smooth content (a gradient plus a little noise): JPEG's errors stay small and comparable.
        "jpeg": (
            [
                encode(
                    np.clip(
                        np.linspace(0, 255, H * W * 3).reshape(H, W, 3) + rng.normal(0, 8, (H, W, 3)), 0, 255
                    ).astype(np.uint8),
                    "RGB",
                    "JPEG",
                    quality=90,
                )
                for _ in range(21)
            ],
            True,
        ),
        "jpeg_gray": (
            [
                encode(
                    np.clip(np.linspace(0, 255, H * W).reshape(H, W) + rng.normal(0, 8, (H, W)), 0, 255).astype(
                        np.uint8
                    ),
                    "L",
                    "JPEG",
                    quality=90,
                )
                for _ in range(21)
            ],
            True,
        ),
    }
    for name, (blobs, struct) in sets.items():
        labels = [(i * 7 + 3) % 10 for i in range(len(blobs))]
        write(out, name, blobs, labels, struct)
        dump(out, name, blobs)
    # The RGB PNGs again, as a plain binary column.
    rgb = sets["rgb"][0]
    write(out, "binary", rgb, [i % 10 for i in range(len(rgb))], struct=False)
    dump(out, "binary", rgb)
    # Bad images.
    gray = [encode(a, "L", "PNG") for a in images(rng, 12, 1)]
    truncated = list(gray)
    truncated[9] = truncated[9][: len(truncated[9]) // 2]
    write(out, "truncated", truncated, [0] * 12, row_group=4)
    shape = list(gray)
    shape[7] = encode(rng.integers(0, 256, size=(W, H), dtype=np.uint8), "L", "PNG")
    write(out, "shape", shape, [0] * 12, row_group=4)


if __name__ == "__main__":
    main()
