#!/usr/bin/env bash
# Object storage bench: dataset (a) (benches/peers/README.md) read by `shardmix stream --to -`
# from local files and from S3 — moto's server on loopback behind a proxy that adds a latency
# to every request (tests/python/moto_server.py) — in alternation, RUNS times each.
#
#   bash benches/peers/object_store.sh            # 3 runs, 20 ms per request
#   RUNS=5 LATENCY_MS=50 bash benches/peers/object_store.sh
#
# Reports rows/s (median, min–max) for: local; s3 with the default requests in flight; s3 with
# one request at a time (SHARDMIX_STORE_REQUESTS=1: no read-ahead inside a block's reads); s3
# with no added latency (the ceiling of moto and the proxy, both Python), and the ratios to
# local and to that ceiling. Only loopback addresses are used.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
runs="${RUNS:-3}"
latency="${LATENCY_MS:-20}"
log() { echo "object_store bench: $*" >&2; }

py="$(bash scripts/python-env.sh | tail -n1)"
target="${CARGO_TARGET_DIR:-$repo/target}"
log "building the CLI and peer_data (release)"
cargo build --release --quiet --bin shardmix --example peer_data >&2
data_a="$("$target/release/examples/peer_data" --tabular-only | sed -n 's/^a=//p')"
[[ -d "$data_a" ]] || { log "peer_data did not report dataset (a)"; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/shardmix-s3bench.XXXXXX")"
mkfifo "$tmp/in"
"$py" tests/python/moto_server.py serve --latency-ms "$latency" <"$tmp/in" >"$tmp/ready" &
server=$!
exec 3>"$tmp/in"
cleanup() { exec 3>&- || true; kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 1 100); do grep -q READY "$tmp/ready" 2>/dev/null && break; sleep 0.2; done
read -r _ proxy_port moto_port <"$tmp/ready"
log "moto on 127.0.0.1:$moto_port, proxy (+$latency ms per request) on 127.0.0.1:$proxy_port"

pairs=()
for f in "$data_a"/*.parquet; do pairs+=("a/$(basename "$f")" "$f"); done
"$py" tests/python/moto_server.py put "http://127.0.0.1:$moto_port" bench "${pairs[@]}"
log "uploaded $(( ${#pairs[@]} / 2 )) shards of $data_a"

s3_env=(-u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$proxy_port" AWS_ALLOW_HTTP=true)
args=(--batch-size 256 --epochs 1 --order sequential --workers 2 --to - --quiet)

# One run of `stream` on DATA with the environment changes ENV...: prints its rows/s (from the
# CLI's "sent N rows in M batches (X rows/s)" line).
bin="$target/release/shardmix"
one() {
    local data="$1"
    shift
    env "$@" "$bin" stream --data "$data" "${args[@]}" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    sed -nE 's/^sent [0-9]+ rows in [0-9]+ batches \(([0-9.]+) rows\/s\).*/\1/p' "$tmp/err"
}
one "$data_a" >/dev/null # warm-up (page cache)
one s3://bench/a/ "${s3_env[@]}" >/dev/null
: >"$tmp/results"
for i in $(seq 1 "$runs"); do
    echo "local $(one "$data_a")" >>"$tmp/results"
    echo "s3 $(one s3://bench/a/ "${s3_env[@]}")" >>"$tmp/results"
    echo "s3-1req $(one s3://bench/a/ "${s3_env[@]}" SHARDMIX_STORE_REQUESTS=1)" >>"$tmp/results"
    # The same store without the added latency: what moto and the proxy (Python) can serve.
    curl -fsS "http://127.0.0.1:$proxy_port/__proxy/latency/0" >/dev/null
    echo "s3-0ms $(one s3://bench/a/ "${s3_env[@]}")" >>"$tmp/results"
    curl -fsS "http://127.0.0.1:$proxy_port/__proxy/latency/$latency" >/dev/null
    log "run $i: $(tail -n4 "$tmp/results" | tr '\n' ' ')"
done
"$py" - "$tmp/results" "$latency" "$runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for k, v in rows:
    by.setdefault(k, []).append(float(v))
local = statistics.median(by["local"])
print(f"dataset (a), stream --workers 2, {sys.argv[3]} runs, +{sys.argv[2]} ms per S3 request")
s3_0 = statistics.median(by["s3-0ms"])
print("| source | rows/s median | min–max | ÷ local | ÷ s3 without latency |")
print("|---|---|---|---|---|")
for k in ("local", "s3", "s3-1req", "s3-0ms"):
    m = statistics.median(by[k])
    print(f"| {k} | {m:,.0f} | {min(by[k]):,.0f}–{max(by[k]):,.0f} | {m / local:.2f} | {m / s3_0:.2f} |")
PY
