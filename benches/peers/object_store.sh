#!/usr/bin/env bash
# Object storage bench: dataset (a) (benches/peers/README.md) read by `shardmix stream --to -`
# from local files and from S3 on loopback, served two ways, each straight and behind
# examples/latency_proxy.rs (which delays every request by LATENCY_MS), in alternation, RUNS
# times each:
#
# * s3s-fs (a third-party Rust S3 server over a directory; it reads files in 4 KiB chunks);
# * examples/range_server.rs ("lean": std only, the S3 subset object_store reads with, file
#   bytes sent with sendfile).
#
#   bash benches/peers/object_store.sh            # 5 runs, 20 ms per request
#   RUNS=3 LATENCY_MS=50 bash benches/peers/object_store.sh
#
# s3s-fs is installed once with `cargo install --locked` into ~/.cache/shardmix/tools (outside
# the clone; version S3S_FS_VERSION, the newest whose rust-version our toolchain meets). moto
# (Python) stays the server of tests/object_store.rs: it serves about 40 MB/s, far below
# dataset (a)'s rate.
#
# Reports, per case, rows/s (median, min–max; the CLI's own figure, from the first batch asked
# for to the last sent: opening the shards, and so a cache's fill, comes before it), the ratio
# to local, rows/s over the whole process (start to exit), and the median CPU-seconds
# of the client (`stream`), of the server and of the proxy per run (from /proc). Cases: local; each server
# straight (its ceiling on this machine) and +LATENCY_MS with the block read-ahead (the
# default) and without it (`--cache-mib 64`: a cache smaller than the read-ahead's working set
# turns it off); local without it (the same flag); the lean server +LATENCY_MS with
# `--cache-dir` (a run filling an empty cache, then a run served by it). Ratios to local: of
# the medians, and the median of each round's ratio. Only loopback addresses are used.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
runs="${RUNS:-5}"
latency="${LATENCY_MS:-20}"
s3s_version="${S3S_FS_VERSION:-0.14.0}"
tools="${SHARDMIX_TOOLS:-$HOME/.cache/shardmix/tools}"
log() { echo "object_store bench: $*" >&2; }

s3s="$tools/bin/s3s-fs"
if [[ ! -x "$s3s" ]] || ! "$s3s" --version 2>/dev/null | grep -q "$s3s_version"; then
    log "installing s3s-fs $s3s_version into $tools (once; a few minutes)"
    cargo install --locked --quiet --root "$tools" "s3s-fs@$s3s_version" --features binary >&2
fi
py="$(bash scripts/python-env.sh | tail -n1)" # boto3 (with moto) uploads the shards
target="${CARGO_TARGET_DIR:-$repo/target}"
log "building the CLI, peer_data, latency_proxy and range_server (release)"
cargo build --release --quiet --bin shardmix --example peer_data --example latency_proxy --example range_server >&2
data_a="$("$target/release/examples/peer_data" --tabular-only | sed -n 's/^a=//p')"
[[ -d "$data_a" ]] || { log "peer_data did not report dataset (a)"; exit 1; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/shardmix-s3bench.XXXXXX")"
pids=()
cleanup() {
    exec 3>&- 4>&- 5>&- 6>&- 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
wait_port() { for _ in $(seq 1 100); do (exec 7<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; }
# Start a program that prints `READY <port>` and serves until its stdin closes, its stdin on fd
# $1 (kept open by this shell): sets started_pid and started_port.
start_ready() {
    local fd="$1" name="$2"
    shift 2
    mkfifo "$tmp/$name-in"
    "$@" <"$tmp/$name-in" >"$tmp/$name-ready" 2>"$tmp/$name.log" &
    started_pid=$!
    pids+=("$started_pid")
    eval "exec $fd>\"$tmp/$name-in\""
    for _ in $(seq 1 100); do grep -q READY "$tmp/$name-ready" 2>/dev/null && break; sleep 0.1; done
    read -r _ started_port <"$tmp/$name-ready"
}

# s3s-fs over its own directory, the shards uploaded with boto3.
s3s_port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$tmp/s3s-root" "$tmp/lean-root/bench/a"
"$s3s" --host 127.0.0.1 --port "$s3s_port" --access-key testing --secret-key testing "$tmp/s3s-root" >"$tmp/s3s.log" 2>&1 &
s3s_pid=$!
pids+=("$s3s_pid")
wait_port "$s3s_port"
pairs=()
for f in "$data_a"/*.parquet; do pairs+=("a/$(basename "$f")" "$f"); done
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    "$py" tests/python/moto_server.py put "http://127.0.0.1:$s3s_port" bench "${pairs[@]}"
# The lean server over links to the same files (bucket `bench` = its directory `bench`).
for f in "$data_a"/*.parquet; do ln -s "$f" "$tmp/lean-root/bench/a/"; done
start_ready 4 lean "$target/release/examples/range_server" "$tmp/lean-root"
lean_pid="$started_pid" lean_port="$started_port"
start_ready 5 s3s-proxy "$target/release/examples/latency_proxy" "$s3s_port" "$latency"
s3s_proxy="$started_port" s3s_proxy_pid="$started_pid"
start_ready 6 lean-proxy "$target/release/examples/latency_proxy" "$lean_port" "$latency"
lean_proxy="$started_port" lean_proxy_pid="$started_pid"
log "uploaded $(( ${#pairs[@]} / 2 )) shards of $data_a"
log "s3s-fs on 127.0.0.1:$s3s_port (+$latency ms: $s3s_proxy), range_server on 127.0.0.1:$lean_port (+$latency ms: $lean_proxy)"

s3_env() {
    echo -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
        AWS_REGION=us-east-1 "AWS_ENDPOINT_URL=http://127.0.0.1:$1" AWS_ALLOW_HTTP=true
}
args=(--batch-size 256 --epochs 1 --order sequential --workers 2 --to - --quiet)
tck="$(getconf CLK_TCK)"
# CPU-seconds used so far by process $1 (user + system).
cpu_of() { awk -v t="$tck" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }

# One run of `stream` on DATA with the extra flags/environment, the PIDs of the server and of
# the proxy (or -) first: prints "rows/s client-CPU-s server-CPU-s proxy-CPU-s" (rows/s from the
# CLI's "sent N rows in M batches (X rows/s)" line).
bin="$target/release/shardmix"
one() {
    local server="$1" proxy="$2" data="$3" flags="$4" before=0 after=0 pbefore=0 pafter=0
    shift 4
    [[ "$server" == - ]] || before="$(cpu_of "$server")"
    [[ "$proxy" == - ]] || pbefore="$(cpu_of "$proxy")"
    # shellcheck disable=SC2086 # $flags is a list of flags
    env "$@" /usr/bin/time -f "%U %S %e" -o "$tmp/time" "$bin" stream --data "$data" "${args[@]}" $flags >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    [[ "$server" == - ]] || after="$(cpu_of "$server")"
    [[ "$proxy" == - ]] || pafter="$(cpu_of "$proxy")"
    local rate client rows whole
    rate="$(sed -nE 's/^sent [0-9]+ rows in [0-9]+ batches \(([0-9.]+) rows\/s\).*/\1/p' "$tmp/err")"
    rows="$(sed -nE 's/^sent ([0-9]+) rows in .*/\1/p' "$tmp/err")"
    client="$(awk '{ printf "%.3f", $1 + $2 }' "$tmp/time")"
    whole="$(awk -v n="$rows" '{ printf "%.0f", n / ($3 > 0 ? $3 : 0.01) }' "$tmp/time")"
    echo "$rate $client $(awk -v a="$after" -v b="$before" -v c="$pafter" -v d="$pbefore" 'BEGIN { printf "%.3f %.3f", a - b, c - d }') $whole"
}
# shellcheck disable=SC2046 # s3_env prints env arguments
{
    one - - "$data_a" "" >/dev/null # warm-up (page cache, connections)
    one "$s3s_pid" - s3://bench/a/ "" $(s3_env "$s3s_port") >/dev/null
    one "$lean_pid" - s3://bench/a/ "" $(s3_env "$lean_port") >/dev/null
    : >"$tmp/results"
    for i in $(seq 1 "$runs"); do
        echo "local $(one - - "$data_a" "")" >>"$tmp/results"
        echo "s3s-fs+${latency}ms $(one "$s3s_pid" "$s3s_proxy_pid" s3://bench/a/ "" $(s3_env "$s3s_proxy"))" >>"$tmp/results"
        echo "lean+${latency}ms $(one "$lean_pid" "$lean_proxy_pid" s3://bench/a/ "" $(s3_env "$lean_proxy"))" >>"$tmp/results"
        echo "s3s-fs-direct $(one "$s3s_pid" - s3://bench/a/ "" $(s3_env "$s3s_port"))" >>"$tmp/results"
        echo "lean-direct $(one "$lean_pid" - s3://bench/a/ "" $(s3_env "$lean_port"))" >>"$tmp/results"
        echo "s3s-fs+${latency}ms-no-read-ahead $(one "$s3s_pid" "$s3s_proxy_pid" s3://bench/a/ "--cache-mib 64" $(s3_env "$s3s_proxy"))" >>"$tmp/results"
        echo "lean+${latency}ms-no-read-ahead $(one "$lean_pid" "$lean_proxy_pid" s3://bench/a/ "--cache-mib 64" $(s3_env "$lean_proxy"))" >>"$tmp/results"
        echo "local-no-read-ahead $(one - - "$data_a" "--cache-mib 64")" >>"$tmp/results"
        # The local cache of objects: a run that fills an empty one, then a run served by it.
        rm -rf "$tmp/object-cache"
        echo "lean+${latency}ms-cache-fill $(one "$lean_pid" "$lean_proxy_pid" s3://bench/a/ "--cache-dir $tmp/object-cache" $(s3_env "$lean_proxy"))" >>"$tmp/results"
        echo "lean+${latency}ms-cache-hit $(one "$lean_pid" "$lean_proxy_pid" s3://bench/a/ "--cache-dir $tmp/object-cache" $(s3_env "$lean_proxy"))" >>"$tmp/results"
        log "run $i: $(tail -n10 "$tmp/results" | awk '{ printf "%s %s; ", $1, $2 }')"
    done
}
"$py" - "$tmp/results" "$latency" "$runs" "$(uptime)" <<'PY'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    if line.strip():
        k, *v = line.split()
        by.setdefault(k, []).append(tuple(map(float, v)))
med = lambda k, i: statistics.median(x[i] for x in by[k])
local = med("local", 0)
print(f"dataset (a), stream --workers 2, {sys.argv[3]} runs, +{sys.argv[2]} ms per S3 request via latency_proxy; load: {sys.argv[4].split('load average:')[-1].strip()}")
# Paired: each run's rate ÷ the local rate of the same round (the rounds alternate the cases, so
# a pair saw about the same load), then the median of those ratios.
paired = lambda k: statistics.median(a[0] / b[0] for a, b in zip(by[k], by["local"]))
print("| source | rows/s median | min–max | ÷ local (medians) | ÷ local (median of paired rounds) | whole process rows/s (÷ local) | stream CPU-s | server CPU-s | proxy CPU-s |")
print("|---|---|---|---|---|---|---|---|---|")
for k in by:
    m = med(k, 0)
    rates = [x[0] for x in by[k]]
    server = f"{med(k, 2):.2f}" if not k.startswith("local") else "–"
    proxy = f"{med(k, 3):.2f}" if "ms" in k else "–"
    whole = f"{med(k, 4):,.0f} ({med(k, 4) / med('local', 4):.2f})"
    print(f"| {k} | {m:,.0f} | {min(rates):,.0f}–{max(rates):,.0f} | {m / local:.2f} | {paired(k):.2f} | {whole} | {med(k, 1):.2f} | {server} | {proxy} |")
PY
