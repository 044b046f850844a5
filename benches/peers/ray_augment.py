"""Bench: `shardmix.ray.augment` on 1 and 2 Ray workers against the CLI `shardmix augment`,
on dataset (a) of benches/peers (1,048,576 rows × 64 float32 + label, 8 shards). Run by
benches/peers/ray_augment.sh, which builds and generates everything first:

    python benches/peers/ray_augment.py --cli target/release/shardmix --data DIR [--repeats 3]

Every run: B = 256, sequential order, Mixup α = 0.2, 1 epoch, snappy, the default 262,144
rows per shard (4 shards), into a fresh directory. The CLI runs with `--workers 2`; Ray with
1 worker is one task whose pipeline has 2 threads, with 2 workers two tasks of 1 thread each,
so that every run has 2 pipeline threads on the 2 cores. Ray is started once (`ray.init`,
timed apart); each Ray pass is the whole `shardmix.ray.augment` call (plan, prepare, tasks,
finish). Every output is checked byte-identical to the CLI's. Prints the medians and Ray's
overhead over the CLI ((ray − cli) / cli; the aim is ≤ 20 %).
"""

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import tempfile
import time

OPTIONS = dict(batch_size=256, order="sequential", mixup_alpha=0.2, epochs=1, seed=0)


def cli_flags(options):
    out = []
    for k, v in options.items():
        out += ["--" + k.replace("_", "-"), str(v)]
    return out


def same_dir(a, b):
    names = sorted(os.listdir(a))
    if names != sorted(os.listdir(b)):
        return False
    return all(filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False) for n in names)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tmp", default=None, help="where the outputs go (default: a temp dir)")
    args = ap.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # A one-machine cluster on the loopback address (read by Ray at import).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    import shardmix.ray

    root = tempfile.mkdtemp(prefix="shardmix-ray-bench-", dir=args.tmp)
    reference = os.path.join(root, "reference")
    times = {"cli": [], "ray1": [], "ray2": []}

    def cli_pass(out):
        t = time.perf_counter()
        subprocess.run([args.cli, "--quiet", "augment", "--data", args.data, "--out", out, "--workers", "2",
                        *cli_flags(OPTIONS)], check=True)
        return time.perf_counter() - t

    def ray_pass(out, workers):
        t = time.perf_counter()
        shardmix.ray.augment(args.data, out, ray_workers=workers, workers=2 // workers, quiet=True, **OPTIONS)
        return time.perf_counter() - t

    cli_pass(reference)  # warm-up (page cache) and the reference output
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_secs = time.perf_counter() - t
    ray_pass(os.path.join(root, "warm"), 2)  # warm-up: worker processes start, import shardmix
    shutil.rmtree(os.path.join(root, "warm"))
    for i in range(args.repeats):
        for name, run in (("cli", cli_pass), ("ray1", lambda o: ray_pass(o, 1)), ("ray2", lambda o: ray_pass(o, 2))):
            out = os.path.join(root, f"{name}-{i}")
            times[name].append(run(out))
            if name != "cli" and not same_dir(out, reference):
                raise SystemExit(f"{out} is not byte-identical to the CLI's output {reference}")
            shutil.rmtree(out)
    ray.shutdown()
    shutil.rmtree(root)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = 1 << 20
    print(f"ray.init (once): {init_secs:.2f} s; load average {os.getloadavg()[0]:.1f}")
    for name, label in (("cli", "CLI augment, --workers 2"), ("ray1", "shardmix.ray.augment, 1 Ray worker"),
                        ("ray2", "shardmix.ray.augment, 2 Ray workers")):
        v = times[name]
        print(f"{label}: median {med[name]:.2f} s ({min(v):.2f}-{max(v):.2f}, {len(v)} passes), "
              f"{rows / med[name] / 1e6:.2f} M rows/s")
    for name in ("ray1", "ray2"):
        print(f"overhead {name} vs CLI: {(med[name] - med['cli']) / med['cli'] * 100:+.1f} % (aim ≤ 20 %)")
    print("outputs: byte-identical to the CLI's in every pass")


if __name__ == "__main__":
    main()
