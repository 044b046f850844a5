#!/usr/bin/env bash
# Image columns end to end: shardmix vs a Pillow-based loader, on 28 x 28 grayscale PNGs in
# Hugging Face's `Image` layout (generated once under target/bench-data/images-png28/).
#
#   bash benches/peers/images.sh [--rows N] [--repeats R]
#
# shardmix: examples/peer_images.rs (ShardSet::open → image column auto-detected → sequential
# batches of 256 → Mixup(0.2), 0 (inline), 1 and 2 workers). Peer: benches/peers/peer_pillow_images.py
# (torch DataLoader with 0 and 2 workers if torch is in the venv, else a Pillow + numpy loop in
# one process). Prints rows/s medians and the ratios shardmix / peer at 0 and at 2 workers (the
# issue's aim: ≥ 5× at 2 workers); the machine is shared, so compare ratios within one run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
rows=60000 repeats=3
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rows) rows="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
py="$(bash scripts/python-env.sh | tail -n1)"
data="target/bench-data/images-png28-$rows"
if [[ ! -d "$data" ]]; then
    echo "generating $rows PNGs into $data" >&2
    "$py" benches/peers/peer_pillow_images.py gen "$data.tmp" --rows "$rows"
    mv "$data.tmp" "$data"
fi
cargo build --release --quiet --example peer_images
median() { "$py" -c 'import json,sys,statistics as s; r=json.loads(sys.argv[1]); print(round(r["rows"] / s.median(r["secs"])))' "$1"; }
result() { grep '^RESULT ' | sed 's/^RESULT //'; }
echo "| loader | rows/s (median of $repeats) |"
echo "|---|---|"
declare -A ours peer
for w in 0 1 2; do
    r="$(target/release/examples/peer_images "$data" --workers "$w" --repeats "$repeats" | result)"
    ours[$w]="$(median "$r")"
    echo "| shardmix, $w worker(s) | ${ours[$w]} |"
done
for w in 0 2; do
    if r="$("$py" benches/peers/peer_pillow_images.py run "$data" --workers "$w" --repeats "$repeats" 2>/dev/null | result)"; then
        peer[$w]="$(median "$r")"
        echo "| $("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["peer"])' "$r") | ${peer[$w]} |"
    fi
done
echo
for w in 0 2; do
    if [[ -n "${peer[$w]:-}" ]]; then
        echo "ratio at $w workers: shardmix / peer = $(awk -v a="${ours[$w]}" -v b="${peer[$w]}" 'BEGIN { printf "%.1f", a / b }')x"
    fi
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
