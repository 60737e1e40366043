#!/usr/bin/env bash
# The same image filesystem as tests/container/docker.sh, run without Docker: the rootfs from
# docker/rootfs.sh, entered with `unshare --pid --fork --mount` + `chroot`, so phpeek-pm is PID 1
# of a fresh PID namespace with its own /proc — what `docker run` gives it, minus cgroups.
#
#   tests/container/chroot.sh [BINARY]      (default build/phpeek-pm-minimal; needs root)
#
# Checks: PID 1 and parentage, orphan reaping, SIGHUP forwarding, SIGTERM → exit 0 with every
# TERM handler run and the stubborn child killed after its timeout; the same with a read-only
# root and uid 1000 (chroot --userspec); a config of oneshots exits 0 by itself.
# Memory/CPU limits are not simulated here (that needs cgroups: the Docker test covers them).
set -uo pipefail
T_NAME=chroot
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

bin=${1:-build/phpeek-pm-minimal}
stage=""
upids=()
mgrs=()

cleanup() {
    local p
    # SIGKILL to a namespace's PID 1 kills everything in that namespace.
    for p in "${mgrs[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${upids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    [ -n "$stage" ] && rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
    fail "running as root (unshare --pid and chroot need it)"
    finish
    exit
fi
[ -x "$bin" ] || { fail "binary $bin exists (run make build-minimal)"; finish; exit; }

stage=$(mktemp -d "$ROOT/build/container-chroot.XXXXXX")
R="$stage/rootfs"
if docker/rootfs.sh "$bin" "$stage" tests/container/stack.yaml tests/container/oneshots.yaml; then
    touch "$R/dev/null" # mount point for a bind of the host's /dev/null
    pass "rootfs assembled ($(du -sh "$R" | cut -f1))"
else
    fail "rootfs assembled"
    finish
    exit
fi

# enter MODE CONFIG: the command line that runs phpeek-pm as PID 1 of a new PID + mount
# namespace, chrooted into $R. MODE restricted = read-only root and uid/gid 1000.
enter() {
    # shellcheck disable=SC2016
    exec unshare --pid --fork --mount --propagation private -- /bin/sh -c '
        set -e
        R=$1 mode=$2 cfg=$3
        if [ "$mode" = restricted ]; then
            mount --bind "$R" "$R"
            mount -o remount,bind,ro "$R"
        fi
        mount -t proc proc "$R/proc"
        mount --bind /dev/null "$R/dev/null"
        if [ "$mode" = restricted ]; then
            exec chroot --userspec=1000:1000 "$R" /usr/local/bin/phpeek-pm -c "$cfg"
        fi
        exec chroot "$R" /usr/local/bin/phpeek-pm -c "$cfg"' sh "$R" "$1" "$2"
}

MGR=""
log_has() { grep -Fq -- "$2" "$1"; }
find_mgr() {
    MGR=$(pgrep -P "$1" | head -n 1)
    [ -n "$MGR" ] && [ "$(cat /proc/"$MGR"/comm 2>/dev/null)" = phpeek-pm ]
}
orphans_reaped() {
    ! ps --ppid "$1" -o stat=,args= | awk '$1 ~ /^Z/ || ($2 == "sleep" && $3 == "0.2")' | grep -q .
}
all_got_hup() {
    contains_all "$1" "web: got HUP" "worker-0: got HUP" "worker-1: got HUP" "orphans: got HUP" \
        "stubborn: got HUP" >/dev/null
}

# run_stack MODE: start, check, signal, stop.
run_stack() {
    local mode=$1 log="$stage/$1.log" upid t0 ms code failed_before=$T_FAIL
    enter "$mode" /etc/phpeek-pm/phpeek-pm.yaml >"$log" 2>&1 &
    upid=$!
    upids+=("$upid")
    if ! wait_for 10 find_mgr "$upid"; then
        fail "[$mode] phpeek-pm started as the namespace's PID 1"
        show_log "$log"
        return
    fi
    mgrs+=("$MGR")
    if wait_for 15 log_has "$log" "stubborn: ready" && wait_for 15 log_has "$log" "worker-1: ready" &&
        wait_for 15 log_has "$log" "web: pid=" && wait_for 15 log_has "$log" "orphans: spawned 20" &&
        wait_for 15 log_has "$log" '"probe: uid='; then
        pass "[$mode] all processes started"
    else
        fail "[$mode] all processes started (15 s)"
        show_log "$log"
        return
    fi
    check "[$mode] manager logs pid 1 at start" has "$log" '"event":"starting".*"pid":1[,}]'
    check "[$mode] children's parent is PID 1" contains_all "$log" "init: ppid=1" "worker-0: ready ppid=1" "worker-1: ready ppid=1"
    if [ "$mode" = restricted ]; then
        check "[$mode] children run as uid 1000 on a read-only root" has "$log" 'probe: uid=1000 rootfs=ro'
        check "[$mode] web runs as uid 1000 under PID 1" has "$log" 'web: pid=[0-9]+ ppid=1 uid=1000'
    else
        check "[$mode] children run as root on a writable root" has "$log" 'probe: uid=0 rootfs=rw'
        check "[$mode] web reports ppid=1" has "$log" 'web: pid=[0-9]+ ppid=1 uid=0'
    fi
    check "[$mode] 20 orphans re-parented to PID 1 were reaped (no zombie within 5 s)" wait_for 5 orphans_reaped "$MGR"
    kill -HUP "$MGR"
    check "[$mode] SIGHUP is forwarded to every child that asks (forward_signals)" wait_for 5 all_got_hup "$log"

    t0=$(now_ms)
    kill -TERM "$MGR"
    if wait_pid_exit 10 "$upid"; then
        ms=$(($(now_ms) - t0))
        wait "$upid"
        code=$?
        check "[$mode] SIGTERM: exit code 0 (got $code)" [ "$code" = 0 ]
        check "[$mode] shutdown took ${ms} ms: ≥ 1900 (stubborn's timeout) and < 6000" in_range "$ms" 1900 6000
    else
        fail "[$mode] SIGTERM: manager exited within 10 s"
    fi
    check "[$mode] every child's TERM handler ran" contains_all "$log" \
        "web: got TERM, stopping" "worker-0: got TERM, stopping" "worker-1: got TERM, stopping" \
        "orphans: got TERM, stopping" "stubborn: got TERM, ignoring it"
    check "[$mode] stubborn was SIGKILLed after its timeout" has "$log" '"event":"kill".*"process":"stubborn"'
    check "[$mode] manager logged a clean exit (code 0)" has "$log" '"event":"exit".*"exit_code":0'
    [ "$T_FAIL" -eq "$failed_before" ] || show_log "$log"
}

say "1. unshare --pid --mount + chroot (root, writable rootfs)"
run_stack default
say "2. the same with a read-only root and --userspec=1000:1000"
run_stack restricted

say "3. oneshots only"
log="$stage/oneshots.log"
if timeout 30 bash -c "$(declare -f enter); R='$R'; enter default /etc/phpeek-pm/oneshots.yaml" >"$log" 2>&1; then
    pass "exited 0 by itself after its oneshots finished"
else
    fail "exited 0 by itself after its oneshots finished (exit $?)"
    show_log "$log"
fi
check "both oneshots ran under PID 1 in order" contains_all "$log" "first: done ppid=1" "second: done ppid=1"
check "version runs inside the chroot" has <(chroot "$R" /usr/local/bin/phpeek-pm version) '^phpeek-pm [0-9]'

finish
