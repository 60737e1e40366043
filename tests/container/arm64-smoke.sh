#!/usr/bin/env bash
# Smoke test of the linux/arm64 release binaries under Debian's qemu-user-static (called
# directly: no binfmt registration needed). The children are the host's /bin/sh: execve from
# the emulated manager runs them natively.
#
#   tests/container/arm64-smoke.sh [BINARY...]
#       (default build/phpeek-pm-linux-arm64 build/phpeek-pm-minimal-linux-arm64; make build-all)
#
# Per binary: it is a static aarch64 ELF of the right feature set; `version` prints version and
# target; as PID 1 of a PID namespace (when root), two oneshots run and the manager exits 0 by
# itself; two longruns stop on SIGTERM within 5 s with exit 0 and both TERM handlers run.
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

# As root, the emulated manager runs as PID 1 of a new PID namespace, as in a container (and
# qemu-user cannot emulate PR_SET_CHILD_SUBREAPER, so outside a namespace orphans would escape).
ns=()
if [ "$(id -u)" = 0 ]; then
    ns=(unshare --pid --fork --mount-proc)
else
    say "not root: running the arm64 binaries without a PID namespace (not as PID 1)"
fi

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

    if timeout 60 "${ns[@]}" "$qemu" "$bin" -c tests/container/oneshots.yaml >"$stage/$name.oneshots" 2>&1; then
        pass "[$name] two oneshots: exited 0 by itself"
    else
        fail "[$name] two oneshots: exited 0 by itself (exit $?)"
        show_log "$stage/$name.oneshots"
    fi
    check "[$name] both oneshots ran" contains_all "$stage/$name.oneshots" "first: done" "second: done"

    log="$stage/$name.longrun"
    "${ns[@]}" "$qemu" "$bin" -c "$stage/longrun.yaml" >"$log" 2>&1 &
    pid=$!
    pids+=("$pid")
    if wait_for 30 log_has "$log" "alpha: ready" && wait_for 30 log_has "$log" "beta: ready"; then
        pass "[$name] two longruns started"
        mgr=$pid
        if [ ${#ns[@]} -gt 0 ]; then
            mgr=$(pgrep -P "$pid" | head -n 1)
            pids+=("$mgr")
            check "[$name] runs as PID 1 of the namespace" has "$log" '"event":"starting".*"pid":1[,}]'
        fi
        t0=$(now_ms)
        kill -TERM "$mgr"
        if wait_pid_exit 15 "$pid"; then
            ms=$(($(now_ms) - t0))
            wait "$pid"
            code=$?
            check "[$name] SIGTERM: exit code 0 (got $code)" [ "$code" = 0 ]
            check "[$name] SIGTERM: exit within 5 s (took $ms ms)" in_range "$ms" 0 5000
        else
            fail "[$name] SIGTERM: exited within 15 s"
        fi
        if ! check "[$name] both TERM handlers ran" contains_all "$log" "alpha: got TERM" "beta: got TERM"; then
            show_log "$log"
        fi
    else
        fail "[$name] two longruns started (30 s)"
        show_log "$log"
    fi
done

finish
