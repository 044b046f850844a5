#!/usr/bin/env bash
# Object storage bench: dataset (a) (benches/peers/README.md) read by `shardmix stream --to -`
# from local files and from S3 — the s3s-fs server (Rust, files on disk) on loopback, behind
# examples/latency_proxy.rs, which delays every request by LATENCY_MS — in alternation, RUNS
# times each.
#
#   bash benches/peers/object_store.sh            # 5 runs, 20 ms per request
#   RUNS=3 LATENCY_MS=50 bash benches/peers/object_store.sh
#
# s3s-fs is installed once with `cargo install --locked` into ~/.cache/shardmix/tools (outside
# the clone; version S3S_FS_VERSION, the newest whose rust-version our toolchain meets). moto
# (Python) stays the server of the tests: it serves about 40 MB/s, far below dataset (a)'s rate.
#
# Reports rows/s (median, min–max) for: local; s3 +LATENCY_MS with the block read-ahead (the
# default); s3 +LATENCY_MS without it (`--cache-mib 64`: a cache smaller than the read-ahead's
# working set turns it off); local without it (the same flag); s3 straight to the server, no
# proxy (the server's own ceiling on this machine). Ratios to local and to that ceiling. Only
# loopback addresses are used.
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
log "building the CLI, peer_data and latency_proxy (release)"
cargo build --release --quiet --bin shardmix --example peer_data --example latency_proxy >&2
data_a="$("$target/release/examples/peer_data" --tabular-only | sed -n 's/^a=//p')"
[[ -d "$data_a" ]] || { log "peer_data did not report dataset (a)"; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/shardmix-s3bench.XXXXXX")"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$tmp/root"
"$s3s" --host 127.0.0.1 --port "$port" --access-key testing --secret-key testing "$tmp/root" >"$tmp/s3s.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
mkfifo "$tmp/proxy-in"
"$target/release/examples/latency_proxy" "$port" "$latency" <"$tmp/proxy-in" >"$tmp/proxy-ready" &
pids+=($!)
exec 3>"$tmp/proxy-in" # the proxy serves until this closes
for _ in $(seq 1 100); do grep -q READY "$tmp/proxy-ready" 2>/dev/null && break; sleep 0.1; done
read -r _ proxy_port <"$tmp/proxy-ready"
log "s3s-fs on 127.0.0.1:$port, proxy (+$latency ms per request) on 127.0.0.1:$proxy_port"

pairs=()
for f in "$data_a"/*.parquet; do pairs+=("a/$(basename "$f")" "$f"); done
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    "$py" tests/python/moto_server.py put "http://127.0.0.1:$port" bench "${pairs[@]}"
log "uploaded $(( ${#pairs[@]} / 2 )) shards of $data_a"

s3_env() {
    echo -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
        AWS_REGION=us-east-1 "AWS_ENDPOINT_URL=http://127.0.0.1:$1" AWS_ALLOW_HTTP=true
}
args=(--batch-size 256 --epochs 1 --order sequential --workers 2 --to - --quiet)

# One run of `stream` on DATA with the extra flags/environment: prints its rows/s (from the
# CLI's "sent N rows in M batches (X rows/s)" line).
bin="$target/release/shardmix"
one() {
    local data="$1" flags="$2"
    shift 2
    # shellcheck disable=SC2086 # $flags is a list of flags
    env "$@" "$bin" stream --data "$data" "${args[@]}" $flags >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    sed -nE 's/^sent [0-9]+ rows in [0-9]+ batches \(([0-9.]+) rows\/s\).*/\1/p' "$tmp/err"
}
# shellcheck disable=SC2046 # s3_env prints env arguments
{
    one "$data_a" "" >/dev/null # warm-up (page cache)
    one s3://bench/a/ "" $(s3_env "$port") >/dev/null
    : >"$tmp/results"
    for i in $(seq 1 "$runs"); do
        echo "local $(one "$data_a" "")" >>"$tmp/results"
        echo "s3+${latency}ms $(one s3://bench/a/ "" $(s3_env "$proxy_port"))" >>"$tmp/results"
        echo "s3+${latency}ms-no-read-ahead $(one s3://bench/a/ "--cache-mib 64" $(s3_env "$proxy_port"))" >>"$tmp/results"
        echo "local-no-read-ahead $(one "$data_a" "--cache-mib 64")" >>"$tmp/results"
        echo "s3-direct $(one s3://bench/a/ "" $(s3_env "$port"))" >>"$tmp/results"
        log "run $i: $(tail -n5 "$tmp/results" | tr '\n' ' ')"
    done
}
"$py" - "$tmp/results" "$latency" "$runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for k, v in rows:
    by.setdefault(k, []).append(float(v))
local = statistics.median(by["local"])
ceiling = statistics.median(by["s3-direct"])
print(f"dataset (a), stream --workers 2, {sys.argv[3]} runs, +{sys.argv[2]} ms per S3 request, s3s-fs on loopback")
print("| source | rows/s median | min–max | ÷ local | ÷ s3-direct |")
print("|---|---|---|---|---|")
for k in by:
    m = statistics.median(by[k])
    print(f"| {k} | {m:,.0f} | {min(by[k]):,.0f}–{max(by[k]):,.0f} | {m / local:.2f} | {m / ceiling:.2f} |")
PY
