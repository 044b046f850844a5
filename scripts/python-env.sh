#!/usr/bin/env bash
# Create or update the Python virtualenv used by shardmix's tests and benchmarks.
#
#   bash scripts/python-env.sh [EXTRA_REQUIREMENTS.txt ...]
#
# - The venv lives in <repo>/.venv (override with SHARDMIX_VENV=/some/dir).
# - Installs the pinned packages of scripts/requirements.txt plus any extra requirement files.
# - Idempotent and fast: a stamp file holds the hash of the requirement files (and of the Python
#   version); when it matches, nothing is installed and the script returns at once.
# - Prints the venv's python path as its LAST line of stdout (everything else goes to stderr),
#   so callers can do: PY="$(bash scripts/python-env.sh | tail -n1)".
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SHARDMIX_VENV:-$repo/.venv}"
base_python="${PYTHON:-python3}"
# Ray for tests/python_pkg/test_ray_*.py; moto's S3 server for tests/object_store.rs.
reqs=("$repo/scripts/requirements.txt" "$repo/scripts/requirements-ray.txt" "$repo/scripts/requirements-s3.txt" "$@")

log() { echo "python-env: $*" >&2; }

for r in "${reqs[@]}"; do
    [[ -f "$r" ]] || { log "no such requirements file: $r"; exit 2; }
done

command -v "$base_python" >/dev/null 2>&1 || { log "'$base_python' not found; install Python 3.9+"; exit 2; }

want="$( { "$base_python" -c 'import sys; print(sys.version)'; cat "${reqs[@]}"; } | sha256sum | cut -d' ' -f1)"
stamp="$venv/.shardmix-requirements.sha256"
py="$venv/bin/python"

if [[ -x "$py" && -f "$stamp" ]] && grep -qx "$want" "$stamp"; then
    log "up to date ($venv)"
    echo "$py"
    exit 0
fi

if [[ ! -x "$py" ]]; then
    log "creating $venv"
    "$base_python" -m venv "$venv"
fi

log "installing $(cat "${reqs[@]}" | grep -cvE '^\s*(#|$)') pinned packages into $venv"
pip_args=(--disable-pip-version-check --no-input)
[[ "${CI:-}" == "true" ]] && pip_args+=(--progress-bar off)
args=()
for r in "${reqs[@]}"; do args+=(-r "$r"); done
"$py" -m pip install "${pip_args[@]}" --quiet "${args[@]}" >&2
"$py" -c 'import numpy, pyarrow, safetensors' >&2
echo "$want" > "$stamp"
log "ready: $("$py" -c 'import numpy, pyarrow, safetensors as s; print(f"numpy {numpy.__version__}, pyarrow {pyarrow.__version__}, safetensors {s.__version__}")')"
echo "$py"
