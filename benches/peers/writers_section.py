"""The writers section of the peer benchmarks (`run.sh --writers`; called by harness.py).

Dataset (a)'s rows as other writers write them by default (benches/peers/writers.py), and per
writer: rows/s of the bare arrow-rs decode (examples/peer_arrow_decode.rs) at 1 and 2 threads,
of the shardmix library (examples/peer_shardmix.rs) at 1 and 2 workers, of
`shardmix stream --to - > /dev/null` (whole processes of repeats + 1 epochs, 2 workers), the
ratio library ÷ arrow-rs at equal threads, and the ratio stream ÷ library running the same
pipeline of as many epochs, both timed as whole processes. Then a diagnostic per writer: what the column chunks hold (pyarrow's
metadata; the page census of examples/peer_probe.rs) and which blocks shardmix's direct decode
path takes — observed by running peer_probe under gdb (see that file), predicted from the
direct path's rules when gdb is missing.

Only the standard library is used.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Only arrow-rs's record-batch reader — shardmix's fallback — calls this while a block decodes.
ARROW_READER_SYMBOL = "parquet::arrow::array_reader::builder::ArrayReaderBuilder::build_array_reader"

GDB_SCRIPT = f"""set pagination off
set confirm off
set breakpoint pending off
break {ARROW_READER_SYMBOL}
commands
silent
printf "GDB arrow-rs\\n"
continue
end
printf "GDB armed\\n"
run
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_writers(specs):
    """`NAME=DIR` strings → [(name, dir)]."""
    out = []
    for s in specs:
        name, _, directory = s.partition("=")
        if not name or not directory:
            raise SystemExit(f"harness: --writer wants NAME=DIR, got {s!r}")
        out.append((name, directory))
    return out


def stream_ratio(stream):
    """The stream's median rows/s ÷ the library's running the same pipeline, both whole processes."""
    lib = getattr(stream, "lib_rate", None)
    return stream.median / lib if stream.median and lib else None


def measure_writers(writers, arrow_peer, shardmix_lib, stream_cli):
    """Time every writer's dataset; returns {name: {key: Run}}."""
    out = {}
    for name, directory in writers:
        log(f"== writer {name}: {directory}")
        runs = {}
        for t in (1, 2):
            runs[f"arrow{t}"] = arrow_peer(f"w.{name}.arrow{t}", "arrow-rs decode", t, directory)
        for w in (1, 2):
            runs[f"sm{w}"] = shardmix_lib(f"w.{name}.sm{w}", f"shardmix library ({name})", w, directory)
        runs["stream"] = stream_cli(f"w.{name}.stream", directory, runs["sm2"].rows)
        out[name] = runs
    return out


def describe(python, writers_py, directory):
    """pyarrow's metadata of `directory`'s files (writers.py --describe)."""
    p = subprocess.run([python, writers_py, "--describe", directory], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


PASSES = 3


def probe(probe_bin, directories, tmp):
    """Run peer_probe over `directories` (under gdb when it works).

    Returns (files, how): files = [{"file", "features", "label", "blocks": [(rows, secs, arrow)]}]
    with arrow = True/False (observed) or None (not observed); how says which.
    """
    gdb = shutil.which("gdb")
    cmd = [probe_bin, "--passes", str(PASSES), *directories]
    how = "predicted only: gdb is not installed"
    if gdb:
        script = os.path.join(tmp or tempfile.gettempdir(), "peer_probe.gdb")
        with open(script, "w") as f:
            f.write(GDB_SCRIPT)
        log("  $ gdb -batch -x " + script + " --args " + " ".join(cmd))
        p = subprocess.run([gdb, "-q", "-nx", "-batch", "-x", script, "--args", *cmd], capture_output=True, text=True)
        if "GDB armed" in p.stdout and p.returncode == 0 and "PROBE " in p.stdout:
            return parse_probe(p.stdout, observed=True), f"observed: gdb breakpoint on `{ARROW_READER_SYMBOL}`"
        why = (p.stderr.strip().splitlines() or ["no output"])[-1]
        how = f"predicted only: gdb could not observe ({why[:200]})"
        log(f"  gdb: {how}")
    log("  $ " + " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return parse_probe(p.stdout, observed=False), how


def parse_probe(stdout, observed):
    files, current, in_block = [], None, False
    for line in stdout.splitlines():
        if line.startswith("PROBE "):
            current = json.loads(line[len("PROBE "):])
            current["blocks"] = []
            files.append(current)
        elif line.startswith("BLOCK ") and current is not None:
            _, _, b, rows = line.split()
            if not current["blocks"] or current["blocks"][-1][3] != b:  # the first pass over block b
                current["blocks"].append([int(rows), [], False if observed else None, b])
            in_block = True
        elif line.startswith("BLOCKEND ") and current is not None and current["blocks"]:
            current["blocks"][-1][1].append(float(line.split()[3]))
            in_block = False
        elif line.startswith("GDB arrow-rs") and in_block and current is not None and current["blocks"]:
            current["blocks"][-1][2] = True
    return files


def _fmt_pages(pages):
    return ", ".join(f"{k} ×{v}" for k, v in sorted(pages.items(), key=lambda kv: -kv[1]))


def report(writers, runs, python, writers_py, probe_bin, tmp, fmt_cell, fmt_ratio, ratio, fmt_rate, stats_lines,
           repeats):
    """The markdown lines of the writers section."""
    lines = [""]
    w = lines.append
    w("### Dataset (a) as other writers write it (`run.sh --writers`)")
    w("")
    first = runs[writers[0][0]]["sm1"] if writers else None
    rows = f"{first.rows:,}" if first and first.rows else "?"
    w(f"The rows of dataset (a) (here {rows} rows × 64 `float32` + `int64` label, in shards of (a)'s, read with "
      "pyarrow and written again by each writer: `benches/peers/writers.py`; nullable columns except "
      "`pyarrow-required`). "
      f"rows/s median (min–max) of {repeats} timed passes after a warm-up; shardmix: sequential order, B = 256, "
      "Mixup α = 0.2; `stream`: the whole `shardmix stream --to - > /dev/null` process "
      f"(2 workers, same flags, `--epochs {repeats + 1}`), median of 3 processes. Ratios: library ÷ arrow-rs at "
      "equal threads, medians; stream ÷ library: the stream's rows/s ÷ the library's running the same "
      f"pipeline of {repeats + 1} epochs (`peer_shardmix --epochs {repeats + 1} --repeats 0`), both timed as "
      "whole processes, alternating, medians of 3 (startup, footers, cold buffers and the block cache across "
      "epochs alike), and ÷ the library's median warm pass above (which leaves the library's startup out and "
      "keeps the stream's in). "
      "Rows per CPU-second: the rows of the warm-up and the timed passes ÷ the process's user + system time "
      "(`/usr/bin/time -v`, all threads, setup included) — less moved by other processes' load than rows/s.")
    w("")
    w("| writer | arrow-rs 1 thread | arrow-rs 2 threads | shardmix lib 1 worker | shardmix lib 2 workers | "
      "lib ÷ arrow-rs, 1 | lib ÷ arrow-rs, 2 | `stream --to -` (2 workers) | stream ÷ lib: same pipeline, whole processes / lib's warm passes |")
    w("|---|---|---|---|---|---|---|---|---|")
    for name, _ in writers:
        r = runs[name]
        w(f"| {name} | {fmt_cell(r['arrow1'])} | {fmt_cell(r['arrow2'])} | {fmt_cell(r['sm1'])} | "
          f"{fmt_cell(r['sm2'])} | {fmt_ratio(ratio(r['sm1'], r['arrow1']))} | "
          f"{fmt_ratio(ratio(r['sm2'], r['arrow2']))} | {fmt_cell(r['stream'])} | "
          f"{fmt_ratio(stream_ratio(r['stream']))} / {fmt_ratio(ratio(r['stream'], r['sm2']))} |")
    w("")
    w("Rows per CPU-second (same processes):")
    w("")
    w("| writer | arrow-rs 1 thread | arrow-rs 2 threads | shardmix lib 1 worker | shardmix lib 2 workers | "
      "lib ÷ arrow-rs, 1 | lib ÷ arrow-rs, 2 | `stream --to -` | stream ÷ lib, same pipeline |")
    w("|---|---|---|---|---|---|---|---|---|")

    def cpu_ratio(x, y):
        return fmt_ratio(x.cpu_rate / y.cpu_rate if x.cpu_rate and y.cpu_rate else None)

    for name, _ in writers:
        r = runs[name]
        w(f"| {name} | {fmt_rate(r['arrow1'].cpu_rate)} | {fmt_rate(r['arrow2'].cpu_rate)} | "
          f"{fmt_rate(r['sm1'].cpu_rate)} | {fmt_rate(r['sm2'].cpu_rate)} | {cpu_ratio(r['sm1'], r['arrow1'])} | "
          f"{cpu_ratio(r['sm2'], r['arrow2'])} | {fmt_rate(r['stream'].cpu_rate)} | "
          f"{fmt_ratio(r['stream'].cpu_rate / r['stream'].lib_cpu_rate if r['stream'].cpu_rate and getattr(r['stream'], 'lib_cpu_rate', None) else None)} |")
    w("")

    log("== writers: diagnostic")
    files, how = probe(probe_bin, [d for _, d in writers], tmp)
    by_dir = {}
    for f in files:
        by_dir.setdefault(os.path.dirname(f["file"]), []).append(f)
    w("#### What the files hold, and which blocks shardmix's direct decode path takes")
    w("")
    w(f"Blocks: the blocks of `ShardSet::row_groups()` (row groups cut at 65,536 rows), each decoded once by "
      f"`ShardSet::read_rows` in `examples/peer_probe.rs`. Fallback to arrow-rs: {how}. \"predicted\": the "
      "direct path's rules (`src/source/pages/plain.rs` at this commit) applied to every page. Codecs and encodings: "
      "pyarrow's `ColumnChunkMetaData` (`compression`, `encodings`); pages: arrow-rs's page reader, as "
      "`kind:ENCODING ×count` over all files (v1 pages of nullable columns name their level encoding). "
      f"ms per block: medians over the blocks of one decode of the block on one thread — its first pass "
      f"(a fresh `ShardSet` per file, cold buffer pools) / the best of {PASSES - 1} more passes; under gdb, indicative "
      "only.")
    w("")
    w("| writer | row groups per file | codec | encodings, features / label (pyarrow) | pages, features | "
      "pages, label | max def | predicted | blocks decoded by arrow-rs (observed) | ms per block: first pass / best later |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for name, directory in writers:
        meta = describe(python, writers_py, directory) or []
        probed = by_dir.get(os.path.normpath(directory), []) or by_dir.get(directory, [])
        rg = sorted({tuple(m["row_groups"]) for m in meta})
        rg_text = "; ".join("+".join(f"{n:,}" for n in g) for g in rg) or "—"
        codecs = sorted({c for m in meta for g in m["columns"].values() for c in g["codecs"]})
        enc = []
        for group in ("features", "label"):
            e = sorted({x for m in meta for x in m["columns"].get(group, {}).get("encodings", [])})
            enc.append(" ".join(e) or "—")
        pages = {"features": {}, "label": {}}
        predicted, max_def = set(), set()
        blocks = []
        for f in probed:
            for group in ("features", "label"):
                for k, v in f[group]["pages"].items():
                    pages[group][k] = pages[group].get(k, 0) + v
                predicted.add(f[group]["predicted"])
                max_def.add(f[group]["max_def"])
            blocks.extend(f["blocks"])
        pred = [p for p in sorted(predicted) if p != "direct"]
        pred_text = "; ".join(pred) if pred else "direct"
        observed = [b[2] for b in blocks]
        if not blocks:
            obs_text = "—"
        elif any(o is None for o in observed):
            obs_text = f"not observed ({len(blocks)} blocks)"
        else:
            obs_text = f"{sum(observed)} / {len(blocks)}"
        cold = [1e3 * b[1][0] for b in blocks if b[1]]
        warm = [1e3 * min(b[1][1:]) for b in blocks if len(b[1]) > 1]
        ms_text = (f"{statistics.median(cold):.0f} / {statistics.median(warm):.0f}" if cold and warm
                   else f"{statistics.median(cold):.0f} / —" if cold else "—")
        w(f"| {name} | {rg_text} | {', '.join(codecs) or '—'} | {enc[0]} / {enc[1]} | "
          f"{_fmt_pages(pages['features'])} | {_fmt_pages(pages['label'])} | "
          f"{'/'.join(str(d) for d in sorted(max_def)) or '—'} | {pred_text} | {obs_text} | {ms_text} |")
    w("")
    w("shardmix phase times per writer (`Pipeline::stats()` of the last pass, 1 and 2 workers; read: the "
      "workers' time in the reader, decoding a block themselves, waiting for the read-ahead's decode and "
      "copying rows; decode: block decoding on every thread, the rayon read-ahead included):")
    w("")
    for name, _ in writers:
        for workers in (1, 2):
            line = stats_lines.get(f"shardmix library ({name})#{workers}")
            if line:
                w(f"- {name}, {workers} worker{'s' if workers > 1 else ''}: {re.sub(r'^stats ', '', line)}")
    w("")
    return lines
