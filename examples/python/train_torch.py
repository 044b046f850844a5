"""Train a softmax-regression classifier with PyTorch on shardmix batches, with checkpoints.

    pip install .                        # the shardmix package, from the repository root
    python examples/python/train_torch.py [--data examples/data/digits.parquet] [--epochs 3]
        [--checkpoint ckpt.pt] [--stop-after N]

`shardmix.torch.Dataset` yields one whole Mixup-augmented batch per item as tensors that
share the Rust buffers (no copy), so the DataLoader gets `batch_size=None`. The checkpoint
holds the model, the optimiser and the dataset's `state_dict()`: run with `--stop-after 20`,
then again without it, and the second run continues with exactly the batches the first one
had not seen (the same batches, bit for bit, as one uninterrupted run).
"""

import argparse
import os

import torch
from torch.utils.data import DataLoader

import shardmix.torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "digits.parquet"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--checkpoint", default=None, help="save/resume from this file")
    ap.add_argument("--stop-after", type=int, default=None, help="stop (as if killed) after N batches")
    args = ap.parse_args()

    ds = shardmix.torch.Dataset(
        args.data, features="p*", batch_size=64, order="shuffled", mixup_alpha=0.2, epochs=args.epochs, seed=7
    )
    probe = shardmix.Pipeline(args.data, features="p*", steps=0)
    features, classes = probe.num_features, probe.num_targets
    model = torch.nn.Linear(features, classes)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    if args.checkpoint and os.path.exists(args.checkpoint):
        ckpt = torch.load(args.checkpoint)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        ds.load_state_dict(ckpt["data"])
        print(f"resumed at step {ckpt['data']['start_step']}")
    for i, (x, y) in enumerate(DataLoader(ds, batch_size=None)):
        loss = torch.nn.functional.cross_entropy(model(x.reshape(len(x), -1)), y)  # soft targets
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i % 20 == 0:
            print(f"batch {i}: loss {loss.item():.4f}")
        if args.stop_after is not None and i + 1 >= args.stop_after:
            break
    if args.checkpoint:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "data": ds.state_dict()}, args.checkpoint)
        print(f"checkpoint: {args.checkpoint} (next step {ds.state_dict()['start_step']})")


if __name__ == "__main__":
    main()
