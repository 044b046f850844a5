#!/usr/bin/env bash
# Azurite, Microsoft's Azure Blob Storage emulator (npm package `azurite`), for
# tests/object_store_azure.rs: installed once with npm into ~/.cache/shardmix/tools/azurite
# (outside the clone; SHARDMIX_TOOLS moves it), pinned to AZURITE_VERSION. Prints the path of
# its `azurite-blob` program on the last line. Exits 3, saying why, when node or npm is missing
# (the only test that needs it is then skipped by scripts/test.sh, and counted as skipped).
set -euo pipefail
version="${AZURITE_VERSION:-3.35.0}"
tools="${SHARDMIX_TOOLS:-$HOME/.cache/shardmix/tools}"
dir="$tools/azurite-$version"
bin="$dir/node_modules/.bin/azurite-blob"
log() { echo "azurite.sh: $*" >&2; }
if [[ ! -x "$bin" ]]; then
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        log "node and npm are needed for Azurite (Azure's emulator); not found"
        exit 3
    fi
    log "installing azurite $version into $dir (once)"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent "azurite@$version" >&2
fi
"$bin" --version >/dev/null
echo "$bin"
