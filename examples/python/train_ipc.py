"""Train a softmax-regression classifier on a shardmix IPC stream.

(For a trainer written in Python, the `shardmix` package is simpler and faster: see
train_torch.py and train_numpy.py beside this file. This one shows the Arrow IPC stream, which
any language can read.)

    shardmix stream --to tcp:127.0.0.1:7000 ... &        # the producer (see the CLI docs)
    python examples/python/train_ipc.py tcp:127.0.0.1:7000 [--lr 0.1] [--numpy]

Reads batches through shardmix_client (zero-copy numpy views of the Arrow buffers), trains
with PyTorch when `import torch` works (or with --numpy), and fails loudly when the stream
is cut short: the trailer check happens when the iteration ends, before the model is
declared trained. Soft labels (Mixup, soft targets) are used as they are: the loss is the
cross-entropy against the target distribution.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shardmix_client import TrailerError, open_stream  # noqa: E402


class NumpySoftmax:
    """Softmax regression with plain SGD, in numpy."""

    def __init__(self, features, classes, lr):
        self.w = np.zeros((features, classes), dtype=np.float32)
        self.b = np.zeros(classes, dtype=np.float32)
        self.lr = lr

    def step(self, x, y):
        logits = x @ self.w + self.b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        loss = float(-(y * np.log(p + 1e-12)).sum(axis=1).mean())
        g = (p - y) / x.shape[0]
        self.w -= self.lr * (x.T @ g)
        self.b -= self.lr * g.sum(axis=0)
        return loss

    def accuracy(self, x, y):
        return float(((x @ self.w + self.b).argmax(1) == y.argmax(1)).mean())


class TorchSoftmax:
    """The same model in PyTorch (a Linear layer, SGD, soft-target cross-entropy)."""

    def __init__(self, features, classes, lr):
        import torch

        self.torch = torch
        self.model = torch.nn.Linear(features, classes)
        torch.nn.init.zeros_(self.model.weight)
        torch.nn.init.zeros_(self.model.bias)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)

    def step(self, x, y):
        torch = self.torch
        # from_numpy shares memory with the Arrow buffer (read-only: torch warns, never writes).
        xt = torch.from_numpy(np.ascontiguousarray(x))
        yt = torch.from_numpy(np.ascontiguousarray(y))
        loss = torch.nn.functional.cross_entropy(self.model(xt), yt)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss)

    def accuracy(self, x, y):
        with self.torch.no_grad():
            pred = self.model(self.torch.from_numpy(np.ascontiguousarray(x))).argmax(1).numpy()
        return float((pred == y.argmax(1)).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="-, unix:PATH, tcp:HOST:PORT or a stream file")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--numpy", action="store_true", help="use numpy even if torch is installed")
    args = ap.parse_args()

    model = None
    seen = 0
    try:
        with open_stream(args.url) as stream:
            for i, batch in enumerate(stream):
                if batch.targets is None:
                    sys.exit("error: the stream has no targets to train on")
                x, y = batch.features, batch.targets
                if x.shape[0] == 0:
                    continue
                if model is None:
                    f, c = x.shape[1], y.shape[1]
                    if not args.numpy:
                        try:
                            model = TorchSoftmax(f, c, args.lr)
                        except ImportError:
                            pass
                    model = model or NumpySoftmax(f, c, args.lr)
                    print(f"training {type(model).__name__}: {f} features, {c} classes",
                          file=sys.stderr)
                loss = model.step(x, y)
                seen += x.shape[0]
                if i % 50 == 0:
                    print(f"batch {i}: loss {loss:.4f}, accuracy {model.accuracy(x, y):.3f}",
                          file=sys.stderr)
    except TrailerError as e:
        sys.exit(f"error: incomplete stream, not training on it: {e}")
    print(f"done: {seen} rows in {stream.batches} batches, trailer verified", file=sys.stderr)


if __name__ == "__main__":
    main()
