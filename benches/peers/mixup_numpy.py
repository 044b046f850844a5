#!/usr/bin/env python3
"""The seed's Mixup in numpy: a faithfulness oracle and a speed peer for shardmix's Mixup.

    mixup_numpy.py --check DIR   apply the seed's formula with the λ's and permutation that
                                 shardmix recorded (DIR written by tests/library/mixup_seed.rs) and
                                 compare with shardmix's output to 1e-6; exit 1 on mismatch.
    mixup_numpy.py --bench       time the seed's mixup_batch on a 1,048,576 x 64 float32 array
                                 with B = 256; print rows/s (median over the repeats).

`mixup_batch` below is the seed's function verbatim (/work/shared/seed/NOTES.md section 1);
`mixup_batch_given` is the same body with the two random draws (weight, index) passed in.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


# --- the seed, verbatim ------------------------------------------------------------------
def mixup_batch(x, y, step, batch_size, alpha=0.2):
    candidates_data, candidates_label = x, y
    offset = (step * batch_size) % (candidates_data.shape[0] - batch_size)
    train_features_batch = candidates_data[offset:(offset + batch_size)]
    train_labels_batch = candidates_label[offset:(offset + batch_size)]
    if alpha == 0:
        return train_features_batch, train_labels_batch
    if alpha > 0:
        weight = np.random.beta(alpha, alpha, batch_size)
        x_weight = weight.reshape(batch_size, 1)
        y_weight = weight.reshape(batch_size, 1)
        index = np.random.permutation(batch_size)
        x1, x2 = train_features_batch, train_features_batch[index]
        x = x1 * x_weight + x2 * (1 - x_weight)
        y1, y2 = train_labels_batch, train_labels_batch[index]
        y = y1 * y_weight + y2 * (1 - y_weight)
        return x, y
# ------------------------------------------------------------------------------------------


def mixup_batch_given(x, y, step, batch_size, weight, index):
    """The seed's mixup_batch with its draws given: `weight` (B λ's) and `index` (a permutation)."""
    candidates_data, candidates_label = x, y
    offset = (step * batch_size) % (candidates_data.shape[0] - batch_size)
    train_features_batch = candidates_data[offset:(offset + batch_size)]
    train_labels_batch = candidates_label[offset:(offset + batch_size)]
    x_weight = weight.reshape(batch_size, 1)
    y_weight = weight.reshape(batch_size, 1)
    x1, x2 = train_features_batch, train_features_batch[index]
    x = x1 * x_weight + x2 * (1 - x_weight)
    y1, y2 = train_labels_batch, train_labels_batch[index]
    y = y1 * y_weight + y2 * (1 - y_weight)
    return x, y, offset


def load(d, name, dtype, shape):
    a = np.fromfile(os.path.join(d, name), dtype=dtype)
    return a.reshape(shape)


def check(d):
    meta = json.load(open(os.path.join(d, "meta.json")))
    n, f, c, b, step = meta["n"], meta["f"], meta["c"], meta["batch_size"], meta["step"]
    x = load(d, "x.f32", "<f4", (n, f))
    y = load(d, "y.f32", "<f4", (n, c))
    out_x = load(d, "out_x.f32", "<f4", (b, f))
    out_y = load(d, "out_y.f32", "<f4", (b, c))
    lam = load(d, "lambda.f32", "<f4", (b,)).astype(np.float64)
    index = load(d, "index.i64", "<i8", (b,))
    row_a = load(d, "row_a.i64", "<i8", (b,))
    if sorted(index.tolist()) != list(range(b)):
        print("index is not a permutation of 0..B", file=sys.stderr)
        return 1
    want_x, want_y, offset = mixup_batch_given(x, y, step, b, lam, index)
    failures = []
    if not np.array_equal(row_a, offset + np.arange(b)):
        failures.append(f"rows: shardmix used rows {row_a[:4]}..., the seed's offset is {offset}")
    for name, got, want in (("features", out_x, want_x), ("targets", out_y, want_y)):
        err = np.abs(got.astype(np.float64) - want)
        if not np.all(err <= 1e-6 + 1e-6 * np.abs(want)):
            i, j = np.unravel_index(np.argmax(err), err.shape)
            failures.append(f"{name}: max error {err.max():.3g} at [{i}, {j}]: shardmix {got[i, j]}, seed {want[i, j]}")
    for msg in failures:
        print("MISMATCH " + msg, file=sys.stderr)
    if failures:
        return 1
    print(f"ok: step {step}, offset {offset}, {b} rows x {f} features + {c} targets match the seed to 1e-6")
    return 0


def bench(rows, features, batch, steps, repeats):
    rng = np.random.default_rng(0)
    x = rng.random((rows, features), dtype=np.float32)
    labels = rng.integers(0, 10, rows)
    y = np.eye(10, dtype=np.float32)[labels]
    np.random.seed(0)
    mixup_batch(x, y, 0, batch)  # warm-up
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for s in range(r * steps, (r + 1) * steps):
            mixup_batch(x, y, s, batch)
        dt = time.perf_counter() - t0
        rates.append(steps * batch / dt)
    med = statistics.median(rates)
    print(f"numpy seed mixup_batch: {rows} x {features} float32, B = {batch}, {steps} steps x {repeats} repeats")
    print(f"rows/s: median {med:,.0f} (min {min(rates):,.0f}, max {max(rates):,.0f}); "
          f"per batch {batch / med * 1e6:.1f} us; numpy {np.__version__}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", metavar="DIR")
    g.add_argument("--bench", action="store_true")
    ap.add_argument("--rows", type=int, default=1 << 20)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    if a.check:
        return check(a.check)
    return bench(a.rows, a.features, a.batch, a.steps, a.repeats)


if __name__ == "__main__":
    sys.exit(main())
