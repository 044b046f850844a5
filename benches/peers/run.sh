#!/usr/bin/env bash
# shardmix side by side with what users would pick instead — one command:
#
#   bash benches/peers/run.sh [--quick] [--with-torch] [--repeats N] [--writers] [--writer-shards N]
#
#   --quick        a smoke test: 1/8 of the data, 3 repeats, short VAE/GAN timings; writes
#                  target/peers/RESULTS-quick.md (never the committed RESULTS.md).
#   --with-torch   pip-install torch into .venv first (never system-wide): the CPU-only build
#                  from PyTorch's CPU wheel index (~200 MB), or, when that index cannot be
#                  reached, PyPI's torch (a ~540 MB wheel plus GBs of CUDA packages; CPU
#                  execution is the same). Without it the PyTorch peers run only if
#                  `import torch` already works in .venv; otherwise they are reported as
#                  "skipped: torch not installed". torch is never needed by scripts/test.sh.
#   --repeats N    timed passes per measurement (default 5; at least 5 for a real run).
#   --writers      only the writers section: dataset (a) rewritten by pyarrow (default, REQUIRED
#                  columns, no dictionary, zstd, v2 pages), polars, DuckDB and in Spark's layout
#                  (benches/peers/writers.py; polars and duckdb from requirements-writers.txt),
#                  arrow-rs vs the shardmix library vs `shardmix stream` per writer, and which
#                  blocks fall back from shardmix's direct decode path (examples/peer_probe.rs
#                  under gdb; apt-get install gdb if missing). Writes benches/peers/RESULTS-writers.md
#                  (with --quick: target/peers/RESULTS-writers-quick.md). A full run includes
#                  this section too.
#   --writer-shards N  the writers rewrite only the first N of (a)'s 8 shards (default: all 8,
#                  about 3 GB for the nine writers; N = 2 keeps each file's shape, 1/4 of the rows).
#
# Steps: /usr/bin/time and gdb (apt-get install if missing) → the Python venv (scripts/python-env.sh:
# numpy, pyarrow; polars, duckdb) → release builds of the shardmix CLI and the peer examples → the
# datasets, generated once under target/bench-data/ (examples/peer_data.rs, then writers.py) →
# benches/peers/harness.py,
# which runs every peer under /usr/bin/time -v and prints the markdown table, also written to
# benches/peers/RESULTS.md with the machine, the date and this command.
# A full run takes about 10 minutes on 2 cores.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
log() { echo "peers: $*" >&2; }

quick=0
with_torch=0
writers_only=0
writer_shards=""
repeats=5
args=("$@")
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --with-torch) with_torch=1 ;;
        --repeats) repeats="${2:?--repeats needs a number}"; shift ;;
        --writers) writers_only=1 ;;
        --writer-shards) writer_shards="${2:?--writer-shards needs a number}"; shift ;;
        -h|--help) sed -n '2,31p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) log "unknown argument: $1 (see --help)"; exit 2 ;;
    esac
    shift
done
command_line="bash benches/peers/run.sh${args[*]:+ ${args[*]}}"

# 1. /usr/bin/time -v measures peak memory.
if ! /usr/bin/time -v true >/dev/null 2>&1; then
    log "/usr/bin/time is missing: installing it with 'apt-get update && apt-get install -y time'"
    apt-get update -qq >&2 && apt-get install -y -qq time >&2
fi

# gdb observes which blocks fall back from shardmix's direct decode path (writers section).
if ! command -v gdb >/dev/null 2>&1; then
    log "gdb is missing: installing it with 'apt-get install -y gdb' (the writers diagnostic observes fallbacks with it)"
    { apt-get update -qq >&2 && apt-get install -y -qq gdb >&2; } || log "gdb could not be installed: the writers diagnostic only predicts fallbacks"
fi

# 2. Python: numpy + pyarrow (+ polars, duckdb for the writers section) in .venv; torch only if
#    present or asked for.
py="$(bash scripts/python-env.sh benches/peers/requirements-writers.txt | tail -n1)"
torch_cpu_index="https://download.pytorch.org/whl/cpu"
if [[ $with_torch == 1 ]] && ! "$py" -c 'import torch' >/dev/null 2>&1; then
    log "installing the CPU-only torch into the venv from $torch_cpu_index"
    if ! "$py" -m pip install --quiet --timeout 30 --retries 1 --index-url "$torch_cpu_index" torch >&2; then
        log "the CPU-only index is not reachable: installing PyPI's torch instead (~540 MB plus GBs of CUDA packages)"
        "$py" -m pip install --quiet torch >&2
    fi
fi
torch_skip=""
if "$py" -c 'import torch' >/dev/null 2>&1; then
    log "torch $("$py" -c 'import torch; print(torch.__version__)') found: the PyTorch peers run"
else
    torch_skip="torch not installed (run.sh --with-torch installs the CPU-only build into .venv)"
    log "skipped: torch not installed — the PyTorch peers are skipped (run with --with-torch to install it)"
fi

# 3. Release builds.
target="${CARGO_TARGET_DIR:-$repo/target}"
log "building the CLI and the peer examples (release)"
examples=(--example peer_data --example peer_arrow_decode --example peer_shardmix --example peer_probe)
[[ $writers_only == 1 ]] || examples+=(--example peer_nn)
cargo build --release --quiet --bin shardmix "${examples[@]}" >&2

# 4. Data, generated once (deterministic; cached with a DONE marker).
quick_flag=()
[[ $quick == 1 ]] && quick_flag=(--quick)
[[ $writers_only == 1 ]] && quick_flag+=(--tabular-only)
data_lines="$("$target/release/examples/peer_data" "${quick_flag[@]}")"
data_a="$(sed -n 's/^a=//p' <<<"$data_lines")"
data_b="$(sed -n 's/^b=//p' <<<"$data_lines")"
data_args=(--data-a "$data_a")
if [[ $writers_only == 1 ]]; then
    [[ -d "$data_a" ]] || { log "data generation did not report its directory"; exit 1; }
    log "data: (a) $data_a"
else
    [[ -d "$data_a" && -d "$data_b" ]] || { log "data generation did not report its directories"; exit 1; }
    # 4x: the same shards linked four times into one directory (32 files, 4x the rows).
    data_a4="$data_a-x4"
    if [[ ! -f "$data_a4/DONE" ]]; then
        rm -rf "$data_a4" && mkdir -p "$data_a4"
        for k in 0 1 2 3; do
            for f in "$data_a"/*.parquet; do ln -s "$f" "$data_a4/copy$k-$(basename "$f")"; done
        done
        touch "$data_a4/DONE"
    fi
    data_args+=(--data-a4 "$data_a4" --data-b "$data_b")
    log "data: (a) $data_a, (a 4x) $data_a4, (b) $data_b"
fi
# (a) as other writers write it: generated once next to (a), each with a DONE marker.
writer_args=()
while read -r _ name dir; do
    writer_args+=(--writer "$name=$dir")
done < <("$py" benches/peers/writers.py --source "$data_a" --root "$(dirname "$data_a")" \
    ${writer_shards:+--shards "$writer_shards"} | grep '^writer ')
[[ ${#writer_args[@]} -gt 0 ]] || { log "writers.py did not report its directories"; exit 1; }

# 5. Measure and report.
nn_iters=200
if [[ $writers_only == 1 && $quick == 1 ]]; then
    out="$target/peers/RESULTS-writers-quick.md"
    [[ $repeats == 5 ]] && repeats=3
elif [[ $writers_only == 1 ]]; then
    out="$repo/benches/peers/RESULTS-writers.md"
elif [[ $quick == 1 ]]; then
    out="$target/peers/RESULTS-quick.md"
    [[ $repeats == 5 ]] && repeats=3
    nn_iters=50
else
    out="$repo/benches/peers/RESULTS.md"
fi
mkdir -p "$(dirname "$out")" "$target/peers/tmp"
quick_arg=()
[[ $quick == 1 ]] && quick_arg=(--quick)
[[ $writers_only == 1 ]] && quick_arg+=(--writers-only)
"$py" benches/peers/harness.py \
    --python "$py" --examples "$target/release/examples" --cli "$target/release/shardmix" \
    "${data_args[@]}" \
    --repeats "$repeats" --nn-iters "$nn_iters" --torch "$torch_skip" \
    --out "$out" --command "$command_line" --tmp "$target/peers/tmp" "${writer_args[@]}" "${quick_arg[@]}"
log "written: $out"
