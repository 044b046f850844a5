"""Train a softmax-regression classifier in plain numpy on shardmix batches.

    pip install .                        # the shardmix package, from the repository root
    python examples/python/train_numpy.py [--data examples/data/digits.parquet] [--epochs 5]

`shardmix.Pipeline` takes the CLI's pipeline flags as keyword options and yields `Batch`
objects whose `features` (float32, B × F) and `targets` (float32, B × C, Mixup soft labels)
are numpy views of the Rust buffers. A Python stage (`stages=[...]`) runs after Mixup on the
pipeline's worker threads: here, a per-batch standardisation.
"""

import argparse
import os

import numpy as np

import shardmix


def standardize(x, y, step):
    """A Python stage: zero mean, unit variance per batch (deterministic: no randomness)."""
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6), y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "digits.parquet"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.5)
    args = ap.parse_args()

    pipeline = shardmix.Pipeline(
        args.data, features="p*", batch_size=128, order="shuffled", mixup_alpha=0.2, epochs=args.epochs,
        seed=1, stages=[standardize],
    )
    w = np.zeros((pipeline.num_features, pipeline.num_targets), np.float32)
    b = np.zeros(pipeline.num_targets, np.float32)
    for batch in pipeline:
        x, y = batch.features, batch.targets
        logits = x @ w + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (p - y) / len(x)
        w -= args.lr * x.T @ g
        b -= args.lr * g.sum(axis=0)
        if batch.step % 20 == 0:
            loss = -(y * np.log(p + 1e-12)).sum(axis=1).mean()
            print(f"step {batch.step}: loss {loss:.4f}, accuracy {(p.argmax(1) == y.argmax(1)).mean():.3f}")
    print("stats:", {k: v for k, v in pipeline.stats().items() if k in ("rows", "batches", "rows_per_sec")})


if __name__ == "__main__":
    main()
