#!/usr/bin/env python3
"""The shardmix Python package as a peer (the aims of issue 17; run by python_aims.sh).

    peer_python.py pipeline DIR [--workers N] [--repeats R] [--batch 256] [--alpha 0.2] [--list COL]
    peer_python.py torch DIR [--workers N] [--repeats R] [--batch 256] [--alpha 0.2] [--list COL]

`pipeline`: `shardmix.Pipeline(DIR, order="sequential", batch_size=B, mixup_alpha=α,
workers=N, num_classes=10)`, one epoch, every batch touched (one feature and one target value
summed, as examples/peer_shardmix.rs does). `torch`: the same through
`shardmix.torch.Dataset` and `DataLoader(ds, batch_size=None)`, tensors touched the same way.
One untimed warm-up epoch, then R timed epochs (each opens the shards and builds the pipeline,
like peer_shardmix); prints `RESULT {"rows": N, "secs": [...]}`.
"""

import argparse
import json
import os
import time

import shardmix


def options(a):
    o = dict(order="sequential", batch_size=a.batch, mixup_alpha=a.alpha, workers=a.workers, num_classes=10,
             seed=1, epochs=1)
    if a.list:
        o["features"] = a.list
    else:
        o["features"] = "f*"
    return o


def epoch_pipeline(a):
    rows, check = 0, 0.0
    for b in shardmix.Pipeline(os.path.join(a.dir, "*.parquet"), **options(a)):
        x, y = b.features, b.targets
        check += float(x[0, 0]) + float(y[0, 0])
        rows += x.shape[0]
    return rows, check


def epoch_torch(a):
    import shardmix.torch
    from torch.utils.data import DataLoader

    rows, check = 0, 0.0
    ds = shardmix.torch.Dataset(os.path.join(a.dir, "*.parquet"), **options(a))
    for x, y in DataLoader(ds, batch_size=None):
        check += float(x[0, 0]) + float(y[0, 0])
        rows += x.shape[0]
    return rows, check


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pipeline", "torch"])
    ap.add_argument("dir")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--alpha", type=float, default=0.2)
    ap.add_argument("--list", default=None)
    a = ap.parse_args()
    run = epoch_pipeline if a.mode == "pipeline" else epoch_torch
    run(a)  # warm-up
    secs, rows = [], 0
    for _ in range(a.repeats):
        t = time.perf_counter()
        rows, _ = run(a)
        secs.append(time.perf_counter() - t)
    print("RESULT " + json.dumps({"rows": rows, "secs": secs}), flush=True)


if __name__ == "__main__":
    main()
