#!/usr/bin/env bash
# Fuzz shardmix with cargo-fuzz (libFuzzer) on a stable toolchain.
#
#   bash scripts/fuzz.sh [target] [seconds] [libFuzzer flags...]
#
# target: read_shard | pages | differential | parse_config | snappy | all (default: all, one
# after the other). pages and differential build valid files around fuzzer-chosen pages;
# snappy checks the direct path's Snappy decompressor against the snap crate.
# seconds: libFuzzer -max_total_time per target (default 600)
# further arguments go to libFuzzer, e.g. -max_len=65536 to favour small shards
#
# Needs `cargo install cargo-fuzz`. Stable rustc accepts the nightly -Z flags cargo-fuzz passes
# because of RUSTC_BOOTSTRAP=1. Environment knobs:
#   FUZZ_SANITIZER  address (default) | none   (none: faster, but misses memory errors in C code)
#   FUZZ_JOBS       parallel libFuzzer processes per target (default 1; the machine is shared)
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (default 20)
#   FUZZ_RSS_MB     memory limit per process in MiB (default 2048)
#   FUZZ_MALLOC_MB  largest single allocation in MiB (default 1024): an input that makes
#                   shardmix reserve more is a finding (sizes from a file must be checked)
# Corpora grow in fuzz/corpus/<target>, crashes land in fuzz/artifacts/<target> (both ignored
# by git). Replay one artifact with:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>
# then copy it to tests/data/fuzz-regressions/<target>-<hash> and add a test to
# tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-all}
seconds=${2:-600}
extra=("${@:3}")
sanitizer=${FUZZ_SANITIZER:-address}
jobs=${FUZZ_JOBS:-1}
timeout=${FUZZ_TIMEOUT:-20}
rss=${FUZZ_RSS_MB:-2048}
malloc=${FUZZ_MALLOC_MB:-1024}
export RUSTC_BOOTSTRAP=1

case "$target" in
    all) targets=(read_shard pages differential parse_config snappy) ;;
    read_shard | pages | differential | parse_config | snappy) targets=("$target") ;;
    *) echo "error: unknown target '$target' (read_shard, pages, differential, parse_config, snappy, all)" >&2; exit 2 ;;
esac

command -v cargo-fuzz >/dev/null || { echo "error: cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }

seed_read_shard() {
    local dir=fuzz/corpus/read_shard
    mkdir -p "$dir"
    # Every Parquet fixture (valid, odd and corrupt), under 1 MiB like the target's own cap,
    # and the apache/parquet-testing files when the shared checkout is there.
    local roots=(tests/data)
    local d
    for d in ../shared/parquet-testing ../../shared/parquet-testing; do
        if [ -d "$d" ]; then
            roots+=("$d")
            break
        fi
    done
    find "${roots[@]}" -name '*.parquet' -size -1024k -print0 |
        while IFS= read -r -d '' f; do
            cp -n "$f" "$dir/seed-$(printf '%s' "$f" | cksum | cut -d' ' -f1)-$(basename "$f")"
        done
    cp -n tests/data/fuzz-regressions/read_shard-* "$dir/"
}

# The structured targets read their choices from bytes: a few seeds of each shape.
seed_structured() {
    local dir=fuzz/corpus/$1 i
    mkdir -p "$dir"
    for i in 0 1 2 3 4 5 6 7; do
        head -c 512 /dev/urandom >"$dir/seed-random-$i"
    done
    printf '\x00\x00\x00\x00\x01\x10\x00\x00' >"$dir/seed-plain"
    printf '\x02\x00\x00\x04\x02\x00\x03\x05\x01\x02\x03\x04\x01\x08\x03' >"$dir/seed-dictionary"
    # Both structured targets read the same choices: each one's findings seed the other.
    cp -n tests/data/fuzz-regressions/pages-* tests/data/fuzz-regressions/differential-* "$dir/"
}
seed_pages() { seed_structured pages; }
seed_differential() { seed_structured differential; }

seed_parse_config() {
    local dir=fuzz/corpus/parse_config
    mkdir -p "$dir"
    cat >"$dir/seed-full.toml" <<'TOML'
data = ["shards/*.parquet", "more/"]
features = "p*"
label = "label"
num_classes = 10
no_label = false
batch_size = 64
order = "shuffled"
steps = 1000
epochs = 2
start_step = 0
workers = 2
prefetch = 4
seed = 42
rank = 0
world_size = 1
null_policy = "error"
on_bad_shard = "skip"
mixup_alpha = 0.4
mixup_mode = "batch"
mixup_prob = 1.0
label_smoothing = 0.1
cutmix_alpha = 1.0
cutmix_switch_prob = 0.5
feature_shape = "8x8x1"
provenance = true
vae = "models/vae.safetensors"
vae_fraction = 0.25
gan = "models/gan.safetensors"
gan_fraction = 0.125
cache_mib = 512
TOML
    printf 'batch_size = 32\norder = "sequential"\n' >"$dir/seed-small.toml"
    printf '# comment\nseed = 0xdead_beef\nmixup_alpha = inf\nlabel_smoothing = -0.0\n' >"$dir/seed-numbers.toml"
    printf 'data = ["a", "b\\u00e9", '"'"'c:\\\\x'"'"']\nfeatures = """\nf0,\nf1"""\n' >"$dir/seed-strings.toml"
    printf 'batch_sise = 64\n[table]\nx = 1\n' >"$dir/seed-bad.toml"
}

# The snappy target's first byte picks a Snappy block (even) or data to compress (odd).
seed_snappy() {
    local dir=fuzz/corpus/snappy i
    mkdir -p "$dir"
    for i in 0 1 2 3; do
        head -c 256 /dev/urandom >"$dir/seed-random-$i"
    done
    # "hello hello hello": a literal, then a copy at offset 6 of 11 bytes.
    printf '\x00\x11\x14hello \x1d\x06' >"$dir/seed-block"
    # Zero runs between small values, like a page of uint8 pixels as INT32, repeated.
    printf '\x11\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x00' >"$dir/seed-pixels"
    printf '\x0b\x00abcabcabcxyzxyzxyzxyz' >"$dir/seed-pattern"
}

# Remove scratch files of fuzz processes that are gone (read_shard writes one per process).
clean_scratch() {
    local f pid
    for f in /dev/shm/shardmix-fuzz-*.parquet "${TMPDIR:-/tmp}"/shardmix-fuzz-*.parquet; do
        [ -e "$f" ] || continue
        pid=${f##*-}
        pid=${pid%.parquet}
        [ -d "/proc/$pid" ] || rm -f "$f"
    done
}
trap clean_scratch EXIT

for t in "${targets[@]}"; do
    "seed_$t"
    args=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" -malloc_limit_mb="$malloc" -print_final_stats=1)
    [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
    [ "$jobs" -gt 1 ] && args+=(-jobs="$jobs" -workers="$jobs")
    args+=("${extra[@]}")
    echo "== fuzzing $t for ${seconds}s (sanitizer $sanitizer, jobs $jobs)" >&2
    # Keep going to the next target after a crash; the exit status reports it at the end.
    nice -n 19 cargo fuzz run --sanitizer "$sanitizer" "$t" "fuzz/corpus/$t" -- "${args[@]}" || status=$?
    echo "== $t: corpus $(find "fuzz/corpus/$t" -type f | wc -l) files," \
        "artifacts $(find "fuzz/artifacts/$t" -type f 2>/dev/null | wc -l)" >&2
done
exit "${status:-0}"
