#!/usr/bin/env python3
"""Image-column peer of shardmix (driven by benches/peers/images.sh).

    peer_pillow_images.py gen DIR [--rows 60000] [--shards 4] [--row-group 1000]
    peer_pillow_images.py run DIR [--workers 0|2] [--repeats R] [--batch 256] [--alpha 0.2]

`gen` writes a digit-like dataset in Hugging Face's `Image` layout: a struct column
`image {bytes: binary, path: string}` of 28 x 28 grayscale PNGs (Pillow, default compression)
and an int64 `label` (10 classes), in DIR/*.parquet. Deterministic (numpy seed 0).

`run` is what a PyTorch user writes without shardmix: an IterableDataset over the row groups
(pyarrow), each image decoded with Pillow and scaled as torchvision's ToTensor (uint8 / 255,
float32), one sample per row, a DataLoader with batch_size B, then the seed's per-row-λ Mixup.
Without torch in the venv it runs the same decode + collate + Mixup as a plain numpy loop in
one process (the `0 workers` case). One untimed warm-up epoch, then R timed epochs; prints
`RESULT {"rows": N, "secs": [...], "peer": "..."}`.
"""

import argparse
import glob
import io
import json
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def gen(a):
    os.makedirs(a.dir, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28]
    per = a.rows // a.shards
    for s in range(a.shards):
        blobs, labels = [], []
        for i in range(per):
            label = int(rng.integers(0, 10))
            # A class-dependent blob of ink on a dark background, with noise.
            cy, cx = 8 + 12 * (label % 3) / 2, 6 + 16 * (label / 9)
            ink = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (18 + 4 * label))
            img = np.clip(255 * ink + rng.normal(0, 12, (28, 28)), 0, 255).astype(np.uint8)
            img[img < 40] = 0
            buf = io.BytesIO()
            Image.fromarray(img, mode="L").save(buf, format="PNG")
            blobs.append(buf.getvalue())
            labels.append(label)
        col = pa.StructArray.from_arrays(
            [pa.array(blobs, type=pa.binary()), pa.array([f"{s}_{i}.png" for i in range(per)])], names=["bytes", "path"]
        )
        table = pa.table({"image": col, "label": pa.array(labels, type=pa.int64())})
        pq.write_table(table, os.path.join(a.dir, f"digits-{s:02}.parquet"), row_group_size=a.row_group)


def row_groups(files):
    return [(f, rg) for f in files for rg in range(pq.ParquetFile(f).num_row_groups)]


def decode(blob):
    return np.asarray(Image.open(io.BytesIO(blob)), dtype=np.uint8).astype(np.float32) / 255.0


def samples(units):
    for f, rg in units:
        t = pq.ParquetFile(f).read_row_group(rg)
        blobs = t.column("image").combine_chunks().field("bytes").to_pylist()
        labels = t.column("label").to_numpy()
        for b, y in zip(blobs, labels):
            yield decode(b), int(y)


def run_numpy(files, a):
    units = row_groups(files)
    rng = np.random.default_rng(0)

    def epoch():
        rows, touched, xs, ys = 0, 0.0, [], []
        for x, y in samples(units):
            xs.append(x)
            ys.append(y)
            if len(xs) == a.batch:
                x = np.stack(xs)
                y = np.eye(10, dtype=np.float32)[ys]
                w = rng.beta(a.alpha, a.alpha, size=(a.batch, 1, 1)).astype(np.float32)
                idx = rng.permutation(a.batch)
                mx = x * w + x[idx] * (1 - w)
                my = y * w[:, :, 0] + y[idx] * (1 - w[:, :, 0])
                touched += float(mx[0, 0, 0]) + float(my[0, 0])
                rows += a.batch
                xs, ys = [], []
        return rows, touched

    return epoch, "pillow+numpy loop, 1 process"


def run_torch(files, a):
    import torch
    from torch.utils.data import DataLoader, IterableDataset, get_worker_info

    units = row_groups(files)

    class Images(IterableDataset):
        def __iter__(self):
            info = get_worker_info()
            k, w = (0, 1) if info is None else (info.id, info.num_workers)
            for x, y in samples(units[k::w]):
                yield torch.from_numpy(x), y

    loader = DataLoader(Images(), batch_size=a.batch, num_workers=a.workers, drop_last=True)
    torch.manual_seed(0)

    def epoch():
        rows, touched = 0, 0.0
        for x, labels in loader:
            b = x.shape[0]
            y = torch.nn.functional.one_hot(labels, 10).to(torch.float32)
            w = torch.distributions.Beta(a.alpha, a.alpha).sample((b,))
            idx = torch.randperm(b)
            mx = x * w.reshape(b, 1, 1) + x[idx] * (1 - w.reshape(b, 1, 1))
            my = y * w.reshape(b, 1) + y[idx] * (1 - w.reshape(b, 1))
            touched += float(mx[0, 0, 0]) + float(my[0, 0])
            rows += b
        return rows, touched

    return epoch, f"torch DataLoader, {a.workers} workers"


def run(a):
    files = sorted(glob.glob(os.path.join(a.dir, "*.parquet")))
    if not files:
        raise SystemExit(f"no *.parquet files in {a.dir}")
    try:
        import torch  # noqa: F401

        epoch, peer = run_torch(files, a)
    except ImportError:
        if a.workers:
            raise SystemExit("--workers needs torch in the venv")
        epoch, peer = run_numpy(files, a)
    rows, _ = epoch()  # warm-up
    secs = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        n, _ = epoch()
        secs.append(time.perf_counter() - t0)
        assert n == rows, (n, rows)
    print("RESULT " + json.dumps({"rows": rows, "secs": secs, "peer": peer}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("dir")
    g.add_argument("--rows", type=int, default=60000)
    g.add_argument("--shards", type=int, default=4)
    g.add_argument("--row-group", type=int, default=1000)
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("--workers", type=int, default=0)
    r.add_argument("--repeats", type=int, default=3)
    r.add_argument("--batch", type=int, default=256)
    r.add_argument("--alpha", type=float, default=0.2)
    a = ap.parse_args()
    gen(a) if a.cmd == "gen" else run(a)


if __name__ == "__main__":
    main()
