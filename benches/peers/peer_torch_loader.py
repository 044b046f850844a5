#!/usr/bin/env python3
"""PyTorch DataLoader peer of shardmix's end-to-end benchmark (driven by benches/peers/run.sh).

    peer_torch_loader.py DIR [--workers 0|2] [--list COL] [--repeats R] [--batch 256] [--alpha 0.2]

What a PyTorch user writes without shardmix: an IterableDataset over the row groups of the
*.parquet files of DIR (worker k of W takes row groups k, k + W, ...), each row group read
with pyarrow into numpy, yielding one (features, label) sample per row; a DataLoader with
batch_size B and the default collate; then the seed's Mixup on each batch in torch (λ per row
from Beta(α, α), partner from a random permutation, one-hot soft labels). Every batch is
touched. One untimed warm-up epoch, then R timed epochs; prints
`RESULT {"rows": N, "secs": [...]}`.
"""

import argparse
import glob
import json
import os
import time

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info


class RowGroups(IterableDataset):
    def __init__(self, files, list_col=None):
        self.units = []
        for f in files:
            for rg in range(pq.ParquetFile(f).num_row_groups):
                self.units.append((f, rg))
        self.list_col = list_col

    def _decode(self, f, rg):
        t = pq.ParquetFile(f).read_row_group(rg)
        labels = t.column("label").to_numpy()
        if self.list_col is None:
            names = [c for c in t.column_names if c != "label"]
            x = np.stack([t.column(c).to_numpy() for c in names], axis=1).astype(np.float32, copy=False)
        else:
            col = t.column(self.list_col).combine_chunks()
            x = col.flatten().to_numpy().reshape(len(col), -1)
        return x, labels

    def __iter__(self):
        info = get_worker_info()
        k, w = (0, 1) if info is None else (info.id, info.num_workers)
        for f, rg in self.units[k::w]:
            x, labels = self._decode(f, rg)
            for i in range(len(labels)):
                yield torch.from_numpy(x[i]), int(labels[i])


def mixup(x, labels, alpha, classes=10):
    """The seed's mixup_batch body in torch, on one collated batch."""
    b = x.shape[0]
    y = torch.nn.functional.one_hot(labels, classes).to(torch.float32)
    w = torch.distributions.Beta(alpha, alpha).sample((b,)).reshape(b, 1)
    index = torch.randperm(b)
    return x * w + x[index] * (1 - w), y * w + y[index] * (1 - w)


def epoch(loader, alpha):
    rows, touched = 0, 0.0
    for x, labels in loader:
        mx, my = mixup(x, labels, alpha)
        touched += float(mx[0, 0]) + float(my[0, 0])
        rows += x.shape[0]
    return rows, touched


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--list", dest="list_col", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--alpha", type=float, default=0.2)
    a = ap.parse_args()
    torch.manual_seed(0)
    files = sorted(glob.glob(os.path.join(a.dir, "*.parquet")))
    if not files:
        raise SystemExit(f"no *.parquet files in {a.dir}")
    ds = RowGroups(files, a.list_col)
    loader = DataLoader(ds, batch_size=a.batch, num_workers=a.workers, drop_last=True)
    rows, _ = epoch(loader, a.alpha)  # warm-up
    secs = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        n, _ = epoch(loader, a.alpha)
        secs.append(time.perf_counter() - t0)
        assert n == rows, (n, rows)
    print("RESULT " + json.dumps({"rows": rows, "secs": secs}))


if __name__ == "__main__":
    main()
