#!/usr/bin/env bash
# Run every fuzz target (fuzz/fuzz_targets/*) with cargo-fuzz (libFuzzer, nightly toolchain)
# for a bounded time each. A crash stops the run with the target's name, and libFuzzer leaves
# the input in fuzz/artifacts/<target>/: turn it into a regression unit test next to the code
# it broke, fix the code, and keep the input in fuzz/seeds/<target>/.
#
#   scripts/fuzz.sh [TARGET...]        (default: every target)
#   FUZZ_SECONDS=60                    time per target (make fuzz)
#   FUZZ_FEATURES=full                 the phpeek-pm features the targets are built with
#
# CI runs it as a smoke (scripts/test.sh step `fuzz`, a few seconds each) so every target keeps
# building and running. New corpus entries go to fuzz/corpus/<target>/ (not committed); the
# committed seeds are read from fuzz/seeds/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
features=${FUZZ_FEATURES:-full}

scripts/ensure-deps.sh fuzz
mapfile -t all < <(cargo +nightly fuzz list --fuzz-dir fuzz)
# `http` needs feature api, `cron` feature scheduler, `logproc` feature log-processing: left
# out of a build without them.
if [[ " $features " != *" full "* ]]; then
    [[ "$features" == *api* ]] || mapfile -t all < <(printf '%s\n' "${all[@]}" | grep -vx http)
    [[ "$features" == *scheduler* ]] || mapfile -t all < <(printf '%s\n' "${all[@]}" | grep -vx cron)
    [[ "$features" == *log-processing* ]] || mapfile -t all < <(printf '%s\n' "${all[@]}" | grep -vx logproc)
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# Per-target options: longer inputs where the format needs them.
opts_for() {
    case "$1" in
        config) echo "-max_len=16384 -dict=fuzz/dicts/config.dict" ;;
        env_overrides) echo "-max_len=2048 -dict=fuzz/dicts/config.dict" ;;
        lines) echo "-max_len=4096" ;;
        http) echo "-max_len=8192" ;;
        cron) echo "-max_len=256" ;;
        logproc) echo "-max_len=4096 -dict=fuzz/dicts/logproc.dict" ;;
        *) echo "-max_len=1024" ;;
    esac
}

cargo +nightly fuzz build --fuzz-dir fuzz -O --features "$features"
failed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
    echo "==== fuzz $t: ${secs} s" >&2
    # shellcheck disable=SC2046
    if ! cargo +nightly fuzz run --fuzz-dir fuzz -O --features "$features" "$t" \
        "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 \
        -print_final_stats=1 $(opts_for "$t") 2>"fuzz/$t.log"; then
        echo "fuzz: $t FAILED (see fuzz/$t.log and fuzz/artifacts/$t/)" >&2
        tail -n 40 "fuzz/$t.log" >&2
        failed=$((failed + 1))
    else
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "fuzz/$t.log" |
            tr '\n' ' ' | sed "s/^/fuzz: $t ok: /" >&2
        echo >&2
    fi
done
[ "$failed" = 0 ]
