#!/usr/bin/env bash
# The aims of issue 17 (the Python package), on dataset (a) of benches/peers, one run:
#
#   bash benches/peers/python_aims.sh [--repeats N] [--quick]
#
# 1. shardmix.Pipeline in Python, every batch touched   vs  the Rust library (examples/peer_shardmix.rs):  aim ≥ 0.9×
# 2. shardmix.Pipeline in Python                        vs  the seed's numpy loop (peer_pyarrow.py mixup): aim ≥ 5×
# 3. shardmix.torch.Dataset + DataLoader(batch_size=None) vs the plain DataLoader + Mixup, 2 workers
#    (peer_torch_loader.py):                                                                             aim ≥ 20×
# All shardmix runs: sequential order, B = 256, Mixup α = 0.2, 2 pipeline workers. Needs the venv
# (scripts/python-env.sh) with the package installed (`pip install .`, done here) and, for 3,
# torch (scripts/python-torch.sh). Prints medians of rows/s and the ratios.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
repeats=5 quick=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --repeats) repeats="$2"; shift ;;
        --quick) quick=(--quick) ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
py="$(bash scripts/python-env.sh | tail -n1)"
"$py" -m pip install --quiet --no-build-isolation . >&2
target="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --release --quiet --example peer_data --example peer_shardmix >&2
data="$("$target/release/examples/peer_data" "${quick[@]}" | sed -n 's/^a=//p')"
echo "data (a): $data" >&2
run() { "$@" | sed -n 's/^RESULT //p' | tail -n1; }
here=benches/peers
rust=$(RAYON_NUM_THREADS=2 run "$target/release/examples/peer_shardmix" "$data" --workers 2 --repeats "$repeats")
pyp=$(RAYON_NUM_THREADS=2 run "$py" $here/peer_python.py pipeline "$data" --workers 2 --repeats "$repeats")
seed=$(run "$py" $here/peer_pyarrow.py mixup "$data" --repeats "$repeats")
if "$py" -c 'import torch' 2>/dev/null; then
    tl=$(run "$py" $here/peer_torch_loader.py "$data" --workers 2 --repeats "$repeats")
    smt=$(RAYON_NUM_THREADS=2 run "$py" $here/peer_python.py torch "$data" --workers 2 --repeats "$repeats")
else
    tl="" smt=""
    echo "torch does not import: aim 3 skipped (bash scripts/python-torch.sh $py)" >&2
fi
"$py" - "$rust" "$pyp" "$seed" "$tl" "$smt" <<'PY'
import json, os, statistics, sys
names = ["Rust library (peer_shardmix, 2 workers)", "shardmix.Pipeline in Python (2 workers)",
         "seed numpy loop (pyarrow + mixup_batch)", "plain DataLoader + torch Mixup (2 workers)",
         "shardmix.torch.Dataset + DataLoader(batch_size=None) (2 workers)"]
med = []
for name, text in zip(names, sys.argv[1:]):
    if not text:
        med.append(None); print(f"{name}: skipped"); continue
    r = json.loads(text)
    rates = [r["rows"] / s for s in r["secs"]]
    med.append(statistics.median(rates))
    print(f"{name}: {statistics.median(rates) / 1e6:.2f} M rows/s median ({min(rates) / 1e6:.2f}-{max(rates) / 1e6:.2f}, {len(rates)} passes)")
print(f"load average: {os.getloadavg()[0]:.1f}")
def aim(desc, a, b, target):
    if a is None or b is None:
        print(f"aim {desc}: not measured"); return
    x = a / b
    print(f"aim {desc}: {x:.2f}x (target >= {target}x) {'met' if x >= target else 'NOT met'}")
aim("Python Pipeline / Rust library", med[1], med[0], 0.9)
aim("Python Pipeline / seed numpy loop", med[1], med[2], 5)
aim("torch Dataset / plain DataLoader + Mixup", med[4], med[3], 20)
PY
