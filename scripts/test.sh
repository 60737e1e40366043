#!/usr/bin/env bash
# `make test`: every check of the project, in order. It keeps going after a failed step, so one
# run reports everything, then prints a table of steps and "make test: N passed, M failed" and
# exits non-zero if any step failed.
#
# Steps (ids for TEST_ONLY="id ..." to run a subset; a subset run says so loudly):
#   deps        install what the steps need (scripts/ensure-deps.sh)
#   fmt         cargo fmt --check; the architecture rules (scripts/arch-check.py)
#   clippy      cargo clippy --all-targets -D warnings, minimal and --features full
#   features    each optional feature alone: clippy --all-targets --no-default-features -D warnings
#   pairs       every pair of optional features: clippy -D warnings on the binary, pairs with
#               equal resolved feature sets once (scripts/feature-pairs.sh)
#   cargo-test  cargo test (minimal) and cargo test --features full: unit + integration tests
#   fuzz        every fuzz target built with cargo-fuzz and run for a few seconds (smoke)
#   release     make build-minimal, make build (static musl release binaries)
#   size        size gate on those two binaries (size-report/budgets.env)
#   size-report every feature set built alone, size-report/REPORT.md rewritten, budgets checked
#   panic       a panic under the release profile still prints its message (size-report/panic-check.sh)
#   tiny        make build-tiny (nightly, build-std): sizes, the SIGILL last line, PID 1, docker stop
#   arm64       make build-all, then the arm64 binaries under qemu-aarch64-static
#   docker      FROM scratch image under the Docker engine (tests/container/docker.sh), and
#               auto-tuning + framework detection with php-fpm in one (tests/container/autotune.sh)
#   locked      the full binary in a read-only, non-root, capability-less container, API on a
#               Unix socket in /tmp (tests/container/locked.sh)
#   swarm       a single-node Docker Swarm: health-gated start-first rolling update with 0 failed
#               requests, a critical failure rescheduled (tests/container/swarm.sh)
#   k8s         the Kubernetes manifests of docs/kubernetes/ parse and validate (kubectl
#               --dry-run=client), and their probes are the tested ones (tests/container/k8s.sh)
#   chroot      the same image filesystem in unshare --pid + chroot (tests/container/chroot.sh)
#   bare        a root holding only the binary, its config and busybox (tests/container/bare.sh)
#   e2e         the Laravel stack end to end with real php-fpm, nginx and Prometheus, as PID 1 of
#               a namespace and in a Docker image built from a debootstrap rootfs
#               (tests/e2e/run.py, every check required: --require-all)
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
CARGO=${CARGO:-cargo}
mkdir -p build

passed=0
failed=0
skipped=0
table=()
t_start=$(date +%s)

want() { [ -z "${TEST_ONLY:-}" ] || [[ " $TEST_ONLY " == *" $1 "* ]]; }

# step ID TIMEOUT_S DESCRIPTION COMMAND...
step() {
    local id=$1 limit=$2 desc=$3 t0 rc dt result
    shift 3
    want "$id" || return 0
    printf '\n==== [%s] %s\n' "$id" "$desc"
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@"
    rc=$?
    dt=$(($(date +%s) - t0))
    if [ "$rc" = 0 ]; then
        result=ok
        passed=$((passed + 1))
    elif [ "$rc" = 77 ]; then
        result="SKIPPED (see the message above)"
        skipped=$((skipped + 1))
    else
        result="FAILED (exit $rc$([ "$rc" = 124 ] && echo ", timed out after ${limit} s"))"
        failed=$((failed + 1))
    fi
    printf '==== [%s] %s: %s in %d s\n' "$id" "$desc" "$result" "$dt"
    table+=("$(printf '%-11s %5ss  %-8s %s' "$id" "$dt" "${result%% *}" "$desc")")
}

if [ -n "${TEST_ONLY:-}" ]; then
    echo "######## PARTIAL RUN: TEST_ONLY=\"$TEST_ONLY\" — the other steps are NOT run ########"
fi

step deps 900 "install build and test dependencies" \
    bash scripts/ensure-deps.sh lint musl arm64 test observability php e2e bloat fuzz k8s

step fmt 120 "cargo fmt --check" $CARGO fmt --check
step fmt 60 "architecture rules: fn length, allow(dead_code), stubs, reactor/, config/ (scripts/arch-check.py)" \
    python3 scripts/arch-check.py
step clippy 1200 "clippy --all-targets -D warnings (minimal)" \
    $CARGO clippy --all-targets -- -D warnings
step clippy 1200 "clippy --all-targets -D warnings (--features full)" \
    $CARGO clippy --all-targets --features full -- -D warnings
mapfile -t optional < <(awk '
    /^\[features\]/ { on = 1; next }
    /^\[/ { on = 0 }
    on && /^[A-Za-z0-9_-]+[ \t]*=/ { sub(/[ \t]*=.*/, ""); print }' Cargo.toml |
    grep -vx -e default -e full)
for f in "${optional[@]}"; do
    step features 600 "feature \"$f\" alone builds warning-free (clippy -D warnings)" \
        $CARGO clippy --all-targets --no-default-features --features "$f" -- -D warnings
done

step pairs 3600 "every pair of features builds warning-free (clippy -D warnings)" \
    bash scripts/feature-pairs.sh

step cargo-test 1800 "cargo test (minimal)" $CARGO test --no-fail-fast
step cargo-test 1800 "cargo test --features full" $CARGO test --no-fail-fast --features full

step fuzz 1500 "fuzz smoke: every cargo-fuzz target builds and runs 5 s (scripts/fuzz.sh)" \
    env FUZZ_SECONDS=5 bash scripts/fuzz.sh

step release 1200 "make build-minimal (static musl, default features)" $MAKE --no-print-directory build-minimal
step release 1200 "make build (static musl, --features full)" $MAKE --no-print-directory build
step size 60 "size gate: minimal < 1 MiB, full within budget" \
    bash size-report/gate.sh build/phpeek-pm-minimal build/phpeek-pm
# Before the size report, which lists the tiny binaries as last built (on a clean checkout
# they exist only once this step has run).
step tiny 2400 "make build-tiny: tiny binaries' sizes, SIGILL last line, PID 1 (chroot) and docker stop" bash tests/container/tiny.sh
step size-report 2400 "size report: every feature set, REPORT.md, budgets" bash size-report/run.sh
step panic 600 "a panic in the release profile prints a readable message (also as PID 1)" \
    bash size-report/panic-check.sh

step arm64 1800 "make build-all (linux/amd64 + linux/arm64)" $MAKE --no-print-directory build-all
step arm64 300 "arm64 binaries under qemu-aarch64-static" bash tests/container/arm64-smoke.sh

step docker 600 "FROM scratch image under Docker (run, PID 1, HUP, stop, limits, --read-only, --user)" \
    bash tests/container/docker.sh build/phpeek-pm-minimal
step docker 600 "PHP-FPM auto-tuning + detection in a FROM scratch container (--memory, --cpus, --cpu-quota, --read-only, php-fpm -tt)" \
    bash tests/container/autotune.sh build/phpeek-pm
step docker 300 "tini drop-in: FROM scratch, ENTRYPOINT [\"/phpeek-pm\", \"--\"], docker stop (tests/container/tini.sh)" \
    bash tests/container/tini.sh build/phpeek-pm-minimal
step locked 600 "locked-down container (--read-only --user 1000 --cap-drop ALL): API on a Unix socket in /tmp" \
    bash tests/container/locked.sh build/phpeek-pm
step swarm 300 "Docker Swarm: start-first rolling update gated by HEALTHCHECK phpeek-pm health, 0 failed requests; critical failure rescheduled" \
    bash tests/container/swarm.sh build/phpeek-pm
step k8s 120 "Kubernetes manifests (docs/kubernetes/) parse, validate offline, and use the tested probe commands" \
    bash tests/container/k8s.sh
step chroot 600 "same image filesystem in unshare --pid + chroot" \
    bash tests/container/chroot.sh build/phpeek-pm-minimal
step bare 300 "bare root (binary + config + busybox: no /dev, /proc, /etc/passwd) as PID 1" \
    bash tests/container/bare.sh build/phpeek-pm-minimal

step e2e 1500 "Laravel stack end to end (php-fpm, nginx, Prometheus; namespace and Docker)" \
    python3 tests/e2e/run.py --binary build/phpeek-pm --require-all

total=$(($(date +%s) - t_start))
echo
echo "==== make test summary ($total s)"
for row in "${table[@]}"; do echo "  $row"; done
[ -n "${TEST_ONLY:-}" ] && echo "  (partial run: TEST_ONLY=\"$TEST_ONLY\")"
if [ "$skipped" -gt 0 ]; then
    echo "make test: $passed passed, $failed failed, $skipped skipped"
else
    echo "make test: $passed passed, $failed failed"
fi
[ "$failed" = 0 ]
