#!/usr/bin/env python3
"""Run shardmix and its peers side by side and write the table (called by benches/peers/run.sh).

Every measurement is one process under `/usr/bin/time -v`: the process does an untimed warm-up
pass and then R timed passes and prints `RESULT {"rows": N, "secs": [...]}` (peer_nn and
nn_torch.py print one such line per benchmark, with a "name"); the harness turns that into
rows/s median (min-max) and reads the process's "Maximum resident set size". The CLI is timed
from here: one `shardmix augment` process per pass, each into a fresh output directory.

Only the standard library is used, so any python3 runs it.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import writers_section

TIME = "/usr/bin/time"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Run:
    """One measured configuration."""

    def __init__(self, key, label, threads, rates=None, rss_kib=None, skipped=None, note=None, rows=None):
        self.key, self.label, self.threads, self.rows = key, label, threads, rows
        self.rates = rates or []
        self.rss_kib = rss_kib
        self.skipped = skipped
        self.note = note
        self.cpu_rate = None  # rows per CPU-second of the whole process (all passes, all threads)

    @property
    def median(self):
        return statistics.median(self.rates) if self.rates else None


def cpu_seconds(stderr):
    """User + system CPU seconds of the process, from `/usr/bin/time -v`."""
    user = re.search(r"User time \(seconds\): ([\d.]+)", stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", stderr)
    return float(user.group(1)) + float(system.group(1)) if user and system else None


def cpu_rate(res, stderr):
    """Rows per CPU-second over the warm-up and the timed passes (setup included)."""
    cpu = cpu_seconds(stderr)
    return res["rows"] * (len(res["secs"]) + 1) / cpu if cpu else None


def parse_time_v(stderr):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return int(m.group(1)) if m else None


def results(stdout):
    out = []
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            out.append(json.loads(line[len("RESULT "):]))
    return out


def measure(cmd, env=None, cwd=None):
    """Run `cmd` under /usr/bin/time -v; returns (RESULT dicts, peak RSS KiB, stderr)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    log("  $ " + " ".join(cmd))
    p = subprocess.run([TIME, "-v"] + cmd, capture_output=True, text=True, env=full_env, cwd=cwd)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return results(p.stdout), parse_time_v(p.stderr), p.stderr


def rates_of(res):
    return [res["rows"] / s for s in res["secs"]]


def fmt_rate(r):
    if r is None:
        return "—"
    if r >= 1e6:
        return f"{r / 1e6:.2f} M"
    if r >= 1e3:
        return f"{r / 1e3:.1f} k"
    return f"{r:.0f}"


def fmt_cell(run):
    if run.skipped:
        return f"skipped: {run.skipped.split(' (')[0]}"
    return f"{fmt_rate(run.median)} ({fmt_rate(min(run.rates))}–{fmt_rate(max(run.rates))})"


def fmt_rss(run):
    return "—" if run.rss_kib is None else f"{run.rss_kib / 1024:.0f} MiB"


def ratio(a, b):
    if a is None or b is None or a.skipped or b.skipped or not a.rates or not b.rates:
        return None
    return a.median / b.median


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}×"


def machine_lines(a, elapsed, load_start, title):
    """The title and the machine / load / date / command lines of a report."""
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return [
        title,
        "",
        f"- Machine: {os.cpu_count()} cores (`nproc`), CPU `{cpu}`, {platform.system()} {platform.release()}; "
        f"load average (1 / 5 / 15 min) at the start {load_start[0]:.1f} / {load_start[1]:.1f} / {load_start[2]:.1f}, "
        f"at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine: read medians and ratios only).",
        f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}; harness time {elapsed / 60:.1f} min.",
        f"- Command: `{a.command}`{' (QUICK: reduced data and repeats — a smoke test, not a result)' if a.quick else ''}.",
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--examples", required=True, help="target/release/examples")
    ap.add_argument("--cli", required=True, help="target/release/shardmix")
    ap.add_argument("--data-a", required=True)
    ap.add_argument("--data-a4", default=None, help="needed unless --writers-only")
    ap.add_argument("--data-b", default=None, help="needed unless --writers-only")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--nn-iters", type=int, default=200)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--torch", default="", help="'' if torch imports in --python, else why not")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--writer", action="append", default=[], metavar="NAME=DIR",
                    help="a writer's rewrite of dataset (a) (benches/peers/writers.py); repeatable")
    ap.add_argument("--writers-only", action="store_true", help="run only the writers section")
    a = ap.parse_args()
    if not a.writers_only and not (a.data_a4 and a.data_b):
        ap.error("--data-a4 and --data-b are needed unless --writers-only")

    here = os.path.dirname(os.path.abspath(__file__))
    py, ex, R = a.python, a.examples, str(a.repeats)
    torch_skip = a.torch or None
    stats_lines = {}
    stats_by_workers = {}

    def py_peer(key, label, threads, mode, data, extra=()):
        res, rss, _ = measure([py, os.path.join(here, "peer_pyarrow.py"), mode, data, "--repeats", R, *extra])
        return Run(key, label, threads, rates_of(res[0]), rss)

    def torch_peer(key, label, workers, data, extra=()):
        if torch_skip:
            return Run(key, label, f"{workers} workers", skipped=torch_skip)
        res, rss, _ = measure([py, os.path.join(here, "peer_torch_loader.py"), data, "--workers", str(workers),
                               "--repeats", R, *extra])
        return Run(key, label, f"{workers} workers", rates_of(res[0]), rss)

    def arrow_peer(key, label, threads, data):
        res, rss, err = measure([os.path.join(ex, "peer_arrow_decode"), data, "--threads", str(threads), "--repeats", R])
        run = Run(key, label, str(threads), rates_of(res[0]), rss)
        run.cpu_rate = cpu_rate(res[0], err)
        return run

    def shardmix_lib(key, label, workers, data, extra=()):
        res, rss, err = measure([os.path.join(ex, "peer_shardmix"), data, "--workers", str(workers), "--repeats", R,
                                 "--stats", *extra], env={"RAYON_NUM_THREADS": str(workers)})
        for line in err.splitlines():
            if line.startswith("stats "):
                if not key.startswith("w."):  # the writers section reports its own
                    stats_lines[label] = line
                stats_by_workers[f"{label}#{workers}"] = line
        run = Run(key, label, f"{workers} worker{'s' if workers > 1 else ''}", rates_of(res[0]), rss,
                  rows=res[0]["rows"])
        run.cpu_rate = cpu_rate(res[0], err)
        return run

    def shardmix_cli(key, label, data, rows):
        tmp_root = a.tmp or tempfile.gettempdir()
        rates, rss = [], 0
        for i in range(a.repeats + 1):
            out = tempfile.mkdtemp(prefix="shardmix-peer-augment-", dir=tmp_root)
            try:
                cmd = [a.cli, "augment", "--data", data, "--num-classes", "10", "--batch-size", "256", "--epochs", "1",
                       "--order", "sequential", "--workers", "2", "--quiet", "--out", os.path.join(out, "aug")]
                t0 = time.perf_counter()
                _, r, _ = measure(cmd)
                dt = time.perf_counter() - t0
            finally:
                shutil.rmtree(out, ignore_errors=True)
            rss = max(rss, r or 0)
            if i > 0:  # the first pass warms the page cache
                rates.append(rows / dt)
        return Run(key, label, "2 workers", rates, rss, note="whole process: start, read, Mixup, write snappy Parquet")

    def stream_cli(key, data, rows):
        """`shardmix stream --to - > /dev/null`, 2 workers, `--epochs repeats + 1`, and the library running the
        same pipeline (`peer_shardmix --epochs repeats + 1 --repeats 0`: one pipeline of as many epochs), both
        timed as whole processes, alternating, 3 of each. Returns the stream's Run; `lib_rate` and
        `lib_cpu_rate` hold the library's medians."""
        rates, rss, cpu, lib_rates, lib_cpu = [], 0, [], [], []
        epochs = a.repeats + 1
        cmd = [a.cli, "stream", "--data", data, "--num-classes", "10", "--batch-size", "256", "--epochs", str(epochs),
               "--order", "sequential", "--workers", "2", "--quiet", "--to", "-"]
        lib_cmd = [os.path.join(ex, "peer_shardmix"), data, "--workers", "2", "--epochs", str(epochs), "--repeats", "0"]
        for _ in range(3):
            log("  $ " + " ".join(cmd) + " > /dev/null")
            t0 = time.perf_counter()
            p = subprocess.run([TIME, "-v"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
            rss = max(rss, parse_time_v(p.stderr) or 0)
            rates.append(rows * epochs / dt)
            secs = cpu_seconds(p.stderr)
            if secs:
                cpu.append(rows * epochs / secs)
            t0 = time.perf_counter()
            res, _, err = measure(lib_cmd, env={"RAYON_NUM_THREADS": "2"})
            dt = time.perf_counter() - t0
            lib_rates.append(res[0]["rows"] / dt)
            secs = cpu_seconds(err)
            if secs:
                lib_cpu.append(res[0]["rows"] / secs)
        run = Run(key, "shardmix stream --to -", "2 workers", rates, rss)
        run.cpu_rate = statistics.median(cpu) if cpu else None
        run.lib_rate = statistics.median(lib_rates)
        run.lib_cpu_rate = statistics.median(lib_cpu) if lib_cpu else None
        return run

    t_start = time.time()
    load_start = os.getloadavg()
    writers = writers_section.parse_writers(a.writer)
    writer_runs = writers_section.measure_writers(writers, arrow_peer, shardmix_lib, stream_cli) if writers else {}

    def writer_lines():
        return writers_section.report(writers, writer_runs, py, os.path.join(here, "writers.py"),
                                      os.path.join(ex, "peer_probe"), a.tmp, fmt_cell, fmt_ratio, ratio, fmt_rate,
                                      stats_by_workers, a.repeats)

    if a.writers_only:
        lines = writer_lines()
        head = machine_lines(a, time.time() - t_start, load_start,
                             "## Benchmarks: dataset (a) as pyarrow, polars, DuckDB and Spark write it")
        text = "\n".join(head + lines)
        with open(a.out, "w") as f:
            f.write(text + "\n")
        print(text)
        return

    sections = []

    # ---- (a) tabular ---------------------------------------------------------------------
    for tag, data, extra_py, extra_sm, title in (
        ("a", a.data_a, (), (), "(a) tabular: 64 float32 columns f0..f63 + int64 label"),
        ("b", a.data_b, ("--list", "pixels"), ("--list", "pixels"),
         "(b) image: fixed_size_list<float32>[784] pixels + int64 label"),
    ):
        log(f"== dataset {tag}: {data}")
        runs = []
        runs.append(py_peer(f"{tag}.pyarrow", "pyarrow read → numpy (N, F) float32", "pyarrow pool (2)", "read", data, extra_py))
        runs.append(py_peer(f"{tag}.numpy", "pyarrow read + seed numpy `mixup_batch` loop", "pyarrow pool (2) + 1", "mixup", data, extra_py))
        for w in (0, 2):
            runs.append(torch_peer(f"{tag}.torch{w}", f"PyTorch DataLoader + torch Mixup, {w} workers", w, data, extra_py))
        for t in (1, 2):
            runs.append(arrow_peer(f"{tag}.arrow{t}", "arrow-rs `ParquetRecordBatchReader`, decode only", t, data))
        for w in (1, 2):
            runs.append(shardmix_lib(f"{tag}.sm{w}", f"**shardmix** library: Parquet → Mixup batches ({tag})", w, data, extra_sm))
        if tag == "a":
            rows = runs[-1].rows  # what one epoch of shardmix delivers: the rows augment writes
            runs.append(shardmix_cli(f"{tag}.cli", "**shardmix** CLI `augment` → Parquet", data, rows))
        sections.append((tag, title, data, runs))

    # ---- issue 15's end-to-end aims: the seed's loop and the DataLoader on pyarrow's default file ----
    default_dir = dict(writers).get("pyarrow-default")
    default_runs = {}
    if default_dir:
        log(f"== pyarrow's default file: {default_dir}")
        default_runs["numpy"] = py_peer("d.numpy", "pyarrow read + seed numpy `mixup_batch` loop", "pyarrow pool (2) + 1",
                                        "mixup", default_dir)
        for w_ in (0, 2):
            default_runs[f"torch{w_}"] = torch_peer(f"d.torch{w_}", f"PyTorch DataLoader + torch Mixup, {w_} workers",
                                                    w_, default_dir)

    # ---- memory: 1x vs 4x ----------------------------------------------------------------
    log("== memory scaling")
    mem = []
    for cache in (None, 64):
        extra = () if cache is None else ("--cache-mib", str(cache))
        what = "default cache (sized by the order)" if cache is None else f"--cache-mib {cache}"
        one = shardmix_lib(f"mem1.{cache}", f"shardmix library, 1× data, {what}", 2, a.data_a, extra)
        four = shardmix_lib(f"mem4.{cache}", f"shardmix library, 4× data, {what}", 2, a.data_a4, extra)
        mem.append((what, one, four))

    # ---- nn --------------------------------------------------------------------------------
    log("== nn")
    nn_sm, rss_sm, _ = measure([os.path.join(ex, "peer_nn"), "--repeats", R, "--iters", str(a.nn_iters)],
                               env={"RAYON_NUM_THREADS": "1"})
    nn_rows = []
    torch_nn = {}
    torch_rss = None
    if not torch_skip:
        res, torch_rss, _ = measure([py, os.path.join(here, "nn_torch.py"), "--threads", "1", "--repeats", R,
                                     "--iters", str(a.nn_iters)])
        torch_nn = {r["name"]: r for r in res}
    for r in nn_sm:
        sm = Run(r["name"], r["name"], "1", rates_of(r), rss_sm)
        tr = (Run(r["name"], r["name"], "1", rates_of(torch_nn[r["name"]]), torch_rss) if r["name"] in torch_nn
              else Run(r["name"], r["name"], "1", skipped=torch_skip or "no result"))
        nn_rows.append((sm, tr))

    elapsed = time.time() - t_start

    # ---- report ----------------------------------------------------------------------------
    by = {r.key: r for _, _, _, runs in sections for r in runs}
    lines = machine_lines(a, elapsed, load_start, "## Benchmarks: shardmix side by side with what users would pick instead")
    w = lines.append
    w(f"- Each figure: one process, an untimed warm-up pass, then {a.repeats} timed passes over the whole dataset "
      "(files in the page cache); rows/s median (min–max over the passes); peak RSS = `/usr/bin/time -v` "
      "\"Maximum resident set size\" of that process. shardmix: sequential order, B = 256, Mixup α = 0.2, "
      "every batch touched; `RAYON_NUM_THREADS` = workers.")
    if torch_skip:
        w(f"- PyTorch peers: **{torch_skip}** — rows marked skipped.")
    w("")
    for tag, title, data, runs in sections:
        w(f"### {title}")
        w("")
        w(f"`{data}`")
        w("")
        w("| pipeline | threads | rows/s median (min–max) | peak RSS | shardmix 1 worker ÷ this | shardmix 2 workers ÷ this |")
        w("|---|---|---|---|---|---|")
        s1, s2 = by[f"{tag}.sm1"], by[f"{tag}.sm2"]
        for r in runs:
            w(f"| {r.label} | {r.threads} | {fmt_cell(r)} | {fmt_rss(r) if not r.skipped else '—'} | "
              f"{fmt_ratio(ratio(s1, r))} | {fmt_ratio(ratio(s2, r))} |")
        w("")
    w("### Peak memory from 1× to 4× the data (dataset (a); 4× = the 8 shards linked 4 times, 32 files)")
    w("")
    w("| configuration | 1× peak RSS | 4× peak RSS | 4× ÷ 1× | 1× rows/s | 4× rows/s |")
    w("|---|---|---|---|---|---|")
    for what, one, four in mem:
        g = four.rss_kib / one.rss_kib if one.rss_kib and four.rss_kib else None
        w(f"| shardmix library, 2 workers, {what} | {fmt_rss(one)} | {fmt_rss(four)} | {fmt_ratio(g)} | "
          f"{fmt_rate(one.median)} | {fmt_rate(four.median)} |")
    w("")
    w("### VAE / GAN (batch 128, 1 thread): samples/s")
    w("")
    w("| benchmark | shardmix median (min–max) | PyTorch CPU median (min–max) | shardmix ÷ PyTorch |")
    w("|---|---|---|---|")
    for sm, tr in nn_rows:
        w(f"| {sm.label} | {fmt_cell(sm)} | {fmt_cell(tr)} | {fmt_ratio(ratio(sm, tr))} |")
    w(f"\nPeak RSS: shardmix peer_nn {fmt_rss(Run('', '', '', rss_kib=rss_sm))}"
      + (f", nn_torch.py {torch_rss / 1024:.0f} MiB" if torch_rss else "") + ".")
    w("")

    # aims
    def aim(desc, value, target, lower_is_better=False):
        if value is None:
            return f"| {desc} | — | {target} | not measured |"
        ok = value <= target if lower_is_better else value >= target
        return f"| {desc} | {value:.2f}× | {'≤' if lower_is_better else '≥'} {target}× | {'**met**' if ok else '**not met**'} |"

    w("### The aims of issue 8")
    w("")
    w("| aim (dataset (a)) | measured | target | verdict |")
    w("|---|---|---|---|")
    w(aim("end to end vs pyarrow + numpy seed loop (shardmix 2 workers)", ratio(by["a.sm2"], by["a.numpy"]), 5))
    w(aim("end to end vs DataLoader, 0 workers (shardmix 2 workers)", ratio(by["a.sm2"], by["a.torch0"]), 8))
    w(aim("end to end vs DataLoader, 2 workers (shardmix 2 workers)", ratio(by["a.sm2"], by["a.torch2"]), 40))
    w(aim("end to end vs bare arrow-rs decode, 1 thread (shardmix 1 worker)", ratio(by["a.sm1"], by["a.arrow1"]), 0.8))
    w(aim("end to end vs bare arrow-rs decode, 2 threads (shardmix 2 workers)", ratio(by["a.sm2"], by["a.arrow2"]), 0.8))
    one, four = mem[0][1], mem[0][2]
    g = four.rss_kib / one.rss_kib if one.rss_kib and four.rss_kib else None
    w(aim("peak RSS, 4× data ÷ 1× data (default settings)", g, 1.1, lower_is_better=True))
    w("")
    if default_runs and "pyarrow-default" in writer_runs:
        d = writer_runs["pyarrow-default"]
        stream = d["stream"]
        w("### The aims of issue 15 (pyarrow's default file: `pq.write_table` defaults, "
          "the writers section's `pyarrow-default`)")
        w("")
        w(f"`{default_dir}`")
        w("")
        w("| peer on the same file | threads | rows/s median (min–max) | peak RSS |")
        w("|---|---|---|---|")
        for r in (stream, *default_runs.values()):
            w(f"| {r.label} | {r.threads} | {fmt_cell(r)} | {fmt_rss(r) if not r.skipped else '—'} |")
        w("")
        w("| aim | measured | target | verdict |")
        w("|---|---|---|---|")
        w(aim("`stream --to -` (2 workers) vs the seed's numpy loop", ratio(stream, default_runs["numpy"]), 5))
        w(aim("`stream --to -` vs DataLoader, 0 workers", ratio(stream, default_runs["torch0"]), 8))
        w(aim("`stream --to -` vs DataLoader, 2 workers", ratio(stream, default_runs["torch2"]), 40))
        w(aim("`stream` vs the library running the same pipeline (whole processes)",
              writers_section.stream_ratio(stream), 0.8))
        w(aim("library, 2 workers ÷ 1 worker", ratio(d["sm2"], d["sm1"]), 1.6))
        for t in (1, 2):
            measured = ((ratio(runs[f"sm{t}"], runs[f"arrow{t}"]), name) for name, runs in writer_runs.items()
                        if not name.startswith("control"))
            worst = min(((r, name) for r, name in measured if r is not None), default=(None, "none measured"))
            w(aim(f"library ÷ arrow-rs at {t} thread{'s' if t > 1 else ''}, the lowest of the writers ({worst[1]})",
                  worst[0], 0.8))
        w("")
    w("### shardmix phase times (`Pipeline::stats()` of the last pass)")
    w("")
    for label, line in stats_lines.items():
        w(f"- {label.replace('**', '')}: {line[len('stats '):]}")
    w("")
    if writers:
        lines += writer_lines()
    text = "\n".join(lines)
    with open(a.out, "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
