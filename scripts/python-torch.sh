#!/usr/bin/env bash
# Install PyTorch (CPU use) into the test venv, for the tests of shardmix.torch:
#
#   bash scripts/python-torch.sh PYTHON
#
# PyTorch's CPU-only wheel index cannot be reached from the project's machines, only PyPI,
# whose Linux torch wheel is a CUDA build: it does not even import without its nvidia-* and
# triton packages (libtorch_cpu.so links libcudart), so they come too — about 3.0 GB of
# wheels, 5.4 GB installed (measured: 2.5 min to download and install). The wheels are kept in
# a cache outside the clone, ${SHARDMIX_WHEEL_CACHE:-~/.cache/shardmix/wheels}, so that a
# rerun on the same machine installs from it without downloading anything again.
#
# That is a lot of disk on a shared machine (one session here filled the disk with it), so it
# installs only when at least SHARDMIX_TORCH_MIN_FREE_GB (default 12) GB are free where the
# cache and the venv live; otherwise it says so and does nothing.
#
# Does nothing when `import torch` already works, or when SHARDMIX_TORCH=0. Exits non-zero
# when the install fails (the caller then runs the tests without torch: they skip).
set -euo pipefail

py="${1:?usage: python-torch.sh PYTHON}"
version="2.15.0"
cache="${SHARDMIX_WHEEL_CACHE:-$HOME/.cache/shardmix/wheels}"
log() { echo "python-torch: $*" >&2; }

if [[ "${SHARDMIX_TORCH:-1}" == 0 ]]; then
    log "SHARDMIX_TORCH=0: not installing torch"
    exit 0
fi
if "$py" -c 'import torch' >/dev/null 2>&1; then
    log "torch $("$py" -c 'import torch; print(torch.__version__)') already installed"
    exit 0
fi
mkdir -p "$cache"
min_free_gb="${SHARDMIX_TORCH_MIN_FREE_GB:-12}"
venv_dir="$(dirname "$(dirname "$py")")"
for dir in "$cache" "$venv_dir"; do
    free_gb=$(( $(df -Pk "$dir" | awk 'NR == 2 { print $4 }') / 1024 / 1024 ))
    if (( free_gb < min_free_gb )); then
        log "only $free_gb GB free on the disk of $dir (torch needs about 9 GB with its wheel cache;"
        log "the threshold is SHARDMIX_TORCH_MIN_FREE_GB=$min_free_gb): not installing torch, its tests skip"
        exit 0
    fi
done
pip_args=(--disable-pip-version-check --no-input --quiet)
[[ "${CI:-}" == "true" ]] && pip_args+=(--progress-bar off)
start=$SECONDS
# `pip download` skips the wheels already in the cache; then install from the cache alone.
log "fetching torch==$version and its dependencies into $cache (about 3 GB the first time)"
"$py" -m pip download "${pip_args[@]}" --dest "$cache" "torch==$version" >&2
log "installing torch==$version from $cache"
"$py" -m pip install "${pip_args[@]}" --no-index --find-links "$cache" "torch==$version" >&2
"$py" -c 'import torch; print("python-torch: torch", torch.__version__, "imports", file=__import__("sys").stderr)'
log "done in $((SECONDS - start)) s"
