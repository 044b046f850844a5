#!/usr/bin/env bash
# THE one command that runs every shardmix test:
#
#   bash scripts/test.sh [extra args for `cargo test`, e.g. --features ...]
#
# 1. sets up the Python venv (scripts/python-env.sh) and exports SHARDMIX_PYTHON=<venv python>,
#    which Rust tests use to cross-check against pyarrow / numpy / safetensors;
# 2. `cargo test --all-targets` (unit, integration, examples, and benches in criterion's quick
#    test mode), then `cargo test --doc`;
# 3. every standalone Python test: tests/python/test_*.py, each run as `python FILE` from the
#    repo root (exit code 0 = pass). Files not named test_*.py are helpers that the Rust tests
#    call with arguments; a test_*.py with the line `# shardmix: needs-args` is skipped too.
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

# 2. Rust tests.
run_cargo all-targets cargo test --all-targets "$@"
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

echo
if [[ ${#failed_steps[@]} -gt 0 ]]; then
    echo "failed steps: ${failed_steps[*]}"
fi
echo "summary: $passed passed, $failed failed, $ignored skipped"
[[ ${#failed_steps[@]} -eq 0 && $failed -eq 0 ]]
