"""Offline augmentation from Python: train a conditional VAE, write the augmented stream
(VAE rows + Mixup) as Parquet shards with it, and read the output back with pyarrow.

    pip install .                        # the shardmix package, from the repository root
    python examples/python/augment_offline.py [--data examples/data/digits.parquet] [--out /tmp/digits-aug]

`shardmix.train` and `shardmix.augment` are `shardmix train` and `shardmix augment` with
their flags as keyword options. `augment` is resumable: run this script twice and the second
run finds the output complete (an interrupted run resumes after its complete shards).
"""

import argparse
import os

import shardmix


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "digits.parquet"))
    ap.add_argument("--out", default="/tmp/shardmix-digits-aug")
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    data = os.path.abspath(args.data)

    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    model = os.path.join(parent, "digits-cvae.safetensors")
    t = shardmix.train("vae", data, model, epochs=args.epochs, batch_size=128, holdout=0.1, seed=1, quiet=True)
    print(f"trained: {t['rows']} rows in {t['seconds']:.1f} s; held-out {t['held_out_after']}")

    s = shardmix.augment(data, args.out, vae=model, vae_fraction=0.25, mixup_alpha=0.2, epochs=3,
                         order="shuffled", seed=7, provenance=True, rows_per_shard=2048)
    done = "already complete" if s["already_complete"] else f"{s['rows_written']} rows written"
    print(f"{s['path']}: {s['rows']} rows in {s['shards']} shards ({done})")

    try:
        import pyarrow.dataset as ds
    except ImportError:
        return
    table = ds.dataset(args.out, format="parquet").to_table()
    origins = table.column("origin").to_pylist()
    print(f"pyarrow reads {table.num_rows} rows; {origins.count('vae')} of them from the VAE "
          f"({', '.join(table.column_names[:3])}, ..., {table.column_names[-1]})")


if __name__ == "__main__":
    main()
