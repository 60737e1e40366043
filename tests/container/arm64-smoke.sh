#!/usr/bin/env bash
# Smoke test of the linux/arm64 release binaries under Debian's qemu-user-static (called
# directly: no binfmt registration needed). The children are the host's /bin/sh: execve from
# the emulated manager runs them natively.
#
#   tests/container/arm64-smoke.sh [BINARY...]
#       (default build/phpeek-pm-linux-arm64 build/phpeek-pm-minimal-linux-arm64; make build-all)
#
# Per binary: it is a static aarch64 ELF; `version` prints version and target; two oneshots
# run and the manager exits 0 by itself; two longruns stop on SIGTERM with exit 0 and both
# TERM handlers run.
set -uo pipefail
T_NAME=arm64
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

qemu=$(command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then
    fail "qemu-aarch64-static installed (scripts/ensure-deps.sh arm64)"
    finish
    exit
fi
[ $# -gt 0 ] || set -- build/phpeek-pm-linux-arm64 build/phpeek-pm-minimal-linux-arm64

stage=$(mktemp -d "$ROOT/build/arm64-smoke.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$stage/longrun.yaml" <<'EOF'
version: "1.0"
global:
  shutdown_timeout: 10
  log_format: json
processes:
  alpha:
    command: ["/bin/sh", "-c", "trap 'echo alpha: got TERM; exit 0' TERM; echo alpha: ready; while :; do sleep 1 & wait $!; done"]
  beta:
    depends_on: [alpha]
    command: ["/bin/sh", "-c", "trap 'echo beta: got TERM; exit 0' TERM; echo beta: ready; while :; do sleep 1 & wait $!; done"]
EOF

log_has() { grep -Fq -- "$2" "$1"; }

for bin in "$@"; do
    name=$(basename "$bin")
    say "$bin"
    if ! [ -f "$bin" ]; then
        fail "[$name] exists (make build-all)"
        continue
    fi
    check "[$name] is a static aarch64 executable" \
        bash -c "file -b '$bin' | grep -q 'ARM aarch64' && ! readelf -lW '$bin' | grep -q 'program interpreter'"
    "$qemu" "$bin" version >"$stage/$name.version" 2>&1
    check "[$name] version prints 'phpeek-pm <ver>' and target aarch64 ($(head -n 1 "$stage/$name.version"))" \
        bash -c "grep -Eq '^phpeek-pm [0-9]+\.[0-9]+\.[0-9]+' '$stage/$name.version' &&
                 grep -q 'aarch64-unknown-linux-musl' '$stage/$name.version'"

    case "$name" in
        *minimal*) check "[$name] is the minimal build" grep -q '^features: none' "$stage/$name.version" ;;
        *) check "[$name] is the full build" grep -q '^features: .*scheduler' "$stage/$name.version" ;;
    esac

    if timeout 60 "$qemu" "$bin" -c tests/container/oneshots.yaml >"$stage/$name.oneshots" 2>&1; then
        pass "[$name] two oneshots: exited 0 by itself"
    else
        fail "[$name] two oneshots: exited 0 by itself (exit $?)"
        show_log "$stage/$name.oneshots"
    fi
    check "[$name] both oneshots ran" contains_all "$stage/$name.oneshots" "first: done" "second: done"

    log="$stage/$name.longrun"
    "$qemu" "$bin" -c "$stage/longrun.yaml" >"$log" 2>&1 &
    pid=$!
    pids+=("$pid")
    if wait_for 30 log_has "$log" "alpha: ready" && wait_for 30 log_has "$log" "beta: ready"; then
        pass "[$name] two longruns started"
        kill -TERM "$pid"
        if wait_pid_exit 15 "$pid"; then
            wait "$pid"
            code=$?
            check "[$name] SIGTERM: exit code 0 (got $code)" [ "$code" = 0 ]
        else
            fail "[$name] SIGTERM: exited within 15 s"
        fi
        check "[$name] both TERM handlers ran" contains_all "$log" "alpha: got TERM" "beta: got TERM"
    else
        fail "[$name] two longruns started (30 s)"
        show_log "$log"
    fi
done

finish
