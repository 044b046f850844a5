"""Data-parallel training with Ray Train on shardmix batches: each Ray Train worker iterates
its own rank of one shardmix pipeline.

    pip install . 'ray[data,train]' torch      # shardmix, Ray, PyTorch
    python examples/python/ray_train.py [--data examples/data/digits.parquet] [--workers 2]
        [--epochs 3] [--address auto]

`TorchTrainer` starts `--workers` processes and a torch.distributed (gloo) group among them.
Each makes a `shardmix.torch.Dataset` with the rank and world size Ray Train gives it
(`ray.train.get_context()`): global step `s` goes to rank `s mod world_size`, so the ranks
read disjoint batches that together are exactly the batches of the one-process pipeline,
Mixup-augmented as it would augment them. The model is wrapped in DDP
(`ray.train.torch.prepare_model`), so the gradients are averaged across ranks. A few times
per run each rank calls `ray.train.report` with its loss, position and rows, and a
checkpoint holding the model and the dataset's `state_dict()`: a run restored from it
(`fit(resume=checkpoint)`) continues with exactly the batches not yet seen.

Without `--address`, the example starts a local Ray cluster (`ray.init()`); with
`--address auto` it joins the running one.
"""

import argparse
import itertools
import os
import sys
import tempfile

import ray
import ray.train
import ray.train.torch
import torch

import shardmix
import shardmix.torch

DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "digits.parquet")


def train_loop(config):
    """What each Ray Train worker runs."""
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    options = dict(batch_size=config["batch_size"], order="shuffled", mixup_alpha=0.2, epochs=config["epochs"],
                   seed=config["seed"])
    ds = shardmix.torch.Dataset(config["data"], rank=rank, world_size=world, workers=1, **options)
    # The whole run's steps (all ranks): rank r makes the steps s with s mod world == r.
    probe = shardmix.Pipeline(config["data"], rank=0, world_size=1, workers=0, **options)
    total, features, classes = len(probe), probe.num_features, probe.num_targets
    probe.close()
    torch.manual_seed(0)  # the same initial weights on every rank
    model = ray.train.torch.prepare_model(torch.nn.Linear(features, classes))
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"])
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = torch.load(os.path.join(d, f"rank{rank}.pt"))
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            ds.load_state_dict(state["data"])
    # DDP averages the gradients of every backward pass across the ranks, so all ranks take the
    # same number of steps: the last `total mod world` batches are left out (as
    # DistributedSampler(drop_last=True) does). Every rank reports at the same points too (a
    # report is a barrier): every `every` batches, and at the end.
    common = total // world
    every = max(1, common // config["reports"])
    seen = ds.state_dict()["start_step"]
    losses, rows, first_loss = [], 0, None

    def report():
        metrics = {"loss": sum(losses) / max(1, len(losses)), "first_loss": first_loss, "rank": rank,
                   "world_size": world, "position": ds.state_dict()["start_step"], "rows": rows, "total_steps": total}
        losses.clear()
        with tempfile.TemporaryDirectory() as d:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "data": ds.state_dict()},
                       os.path.join(d, f"rank{rank}.pt"))
            # Every rank writes its own file into the one checkpoint directory.
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))

    loader = torch.utils.data.DataLoader(ds, batch_size=None)
    for x, y in itertools.islice(loader, max(0, common - seen)):
        loss = torch.nn.functional.cross_entropy(model(x), y)  # soft (mixed) targets
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        first_loss = losses[0] if first_loss is None else first_loss
        rows += len(x)
        seen += 1
        if seen % every == 0 and seen < common:
            report()
    report()


def fit(data=DIGITS, workers=2, epochs=3, batch_size=64, seed=7, lr=0.1, reports=3, storage=None, resume=None):
    """Train on `workers` Ray Train workers; returns the `ray.train.Result`."""
    if __name__ != "__main__":
        # Imported (e.g. by a test): the workers cannot import this file, so send the training
        # function by value.
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    storage = storage or tempfile.mkdtemp(prefix="shardmix-ray-train-")
    trainer = ray.train.torch.TorchTrainer(
        train_loop,
        train_loop_config={"data": os.path.abspath(data), "epochs": epochs, "batch_size": batch_size,
                           "seed": seed, "lr": lr, "reports": reports},
        scaling_config=ray.train.ScalingConfig(num_workers=workers, use_gpu=False),
        run_config=ray.train.RunConfig(name="shardmix-ray-train", storage_path=storage),
        resume_from_checkpoint=resume,
    )
    return trainer.fit()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DIGITS)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--address", default=None, help="a running Ray cluster ('auto'); default: start one here")
    ap.add_argument("--storage", default=None, help="where Ray Train keeps results and checkpoints")
    args = ap.parse_args()
    ray.init(address=args.address)
    result = fit(args.data, workers=args.workers, epochs=args.epochs, storage=args.storage)
    print(f"rank 0's last report: {result.metrics}")
    print(f"checkpoint: {result.checkpoint}")


if __name__ == "__main__":
    main()
