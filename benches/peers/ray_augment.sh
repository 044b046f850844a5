#!/usr/bin/env bash
# Bench of issue 19: shardmix.ray.augment on 1 and 2 Ray workers vs the CLI `augment`, on
# dataset (a) of benches/peers (see ray_augment.py for what is timed):
#
#   bash benches/peers/ray_augment.sh [--repeats N]
#
# Sets up the venv (scripts/python-env.sh, which installs Ray), installs the package
# (`pip install .`, release build), builds the CLI and the data generator in release mode and
# generates dataset (a) once (cached under target/bench-data/).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
py="$(bash scripts/python-env.sh | tail -n1)"
PATH="$(dirname "$py"):$PATH" "$py" -m pip install --quiet --no-build-isolation . >&2
target="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --release --quiet --bin shardmix --example peer_data >&2
data="$("$target/release/examples/peer_data" --tabular-only | sed -n 's/^a=//p')"
echo "data (a): $data" >&2
"$py" benches/peers/ray_augment.py --cli "$target/release/shardmix" --data "$data" "$@"
