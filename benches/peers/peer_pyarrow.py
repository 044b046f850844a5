#!/usr/bin/env python3
"""Python peers of shardmix's end-to-end benchmark (driven by benches/peers/run.sh).

    peer_pyarrow.py read  DIR [--list COL] [--repeats R]
        pyarrow reads every *.parquet file of DIR and builds the whole dataset as one (N, F)
        float32 numpy array plus an int64 label vector: the scalar columns f0..f63 copied
        column by column into a preallocated row-major array, or a fixed_size_list column
        (--list pixels) flattened and reshaped. pyarrow's own threads are on (its default).

    peer_pyarrow.py mixup DIR [--list COL] [--repeats R] [--batch 256] [--alpha 0.2]
        the same read, one-hot float32 labels (the seed needs them), then the seed's
        `mixup_batch` (benches/peers/mixup_numpy.py, verbatim) for steps 0 .. N // B - 1,
        touching every batch: the seed's loop, end to end.

One untimed warm-up pass, then R timed passes; prints `RESULT {"rows": N, "secs": [...]}`.
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mixup_numpy import mixup_batch  # noqa: E402  the seed's function, verbatim


def shard_files(d):
    files = sorted(glob.glob(os.path.join(d, "*.parquet")))
    if not files:
        raise SystemExit(f"no *.parquet files in {d}")
    return files


def read_dataset(files, list_col=None):
    """Read `files` into (x: (N, F) float32 row-major, labels: (N,) int64)."""
    tables = [pq.read_table(f) for f in files]
    n = sum(t.num_rows for t in tables)
    labels = np.empty(n, dtype=np.int64)
    if list_col is None:
        names = [c for c in tables[0].column_names if c != "label"]
        x = np.empty((n, len(names)), dtype=np.float32)
    else:
        width = tables[0].schema.field(list_col).type.list_size
        x = np.empty((n, width), dtype=np.float32)
    r = 0
    for t in tables:
        m = t.num_rows
        labels[r:r + m] = t.column("label").to_numpy()
        if list_col is None:
            for j, name in enumerate(names):
                x[r:r + m, j] = t.column(name).to_numpy()
        else:
            width = x.shape[1]
            s = r
            for chunk in t.column(list_col).chunks:
                k = len(chunk)
                x[s:s + k] = chunk.flatten().to_numpy().reshape(k, width)
                s += k
        r += m
    return x, labels


def run_read(files, list_col):
    x, labels = read_dataset(files, list_col)
    return x.shape[0], float(x[0, 0]) + float(labels[-1])


def run_mixup(files, list_col, batch, alpha):
    x, labels = read_dataset(files, list_col)
    y = np.eye(10, dtype=np.float32)[labels]
    n = x.shape[0]
    steps = n // batch
    touched = 0.0
    for step in range(steps):
        bx, by = mixup_batch(x, y, step, batch, alpha)
        touched += float(bx[0, 0]) + float(by[0, 0])
    return steps * batch, touched


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["read", "mixup"])
    ap.add_argument("dir")
    ap.add_argument("--list", dest="list_col", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--alpha", type=float, default=0.2)
    a = ap.parse_args()
    files = shard_files(a.dir)
    np.random.seed(0)

    def once():
        if a.mode == "read":
            return run_read(files, a.list_col)
        return run_mixup(files, a.list_col, a.batch, a.alpha)

    rows, _ = once()  # warm-up
    secs = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        n, _ = once()
        secs.append(time.perf_counter() - t0)
        assert n == rows, (n, rows)
    print("RESULT " + json.dumps({"rows": rows, "secs": secs}))


if __name__ == "__main__":
    main()
