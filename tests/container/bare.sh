#!/usr/bin/env bash
# phpeek-pm in a bare root filesystem: nothing but the static binary, its config and a static
# busybox for the children. No /dev (so no /dev/null), no /proc, no /etc/passwd, no /tmp — what
# a `FROM scratch` image with a single COPY, or a minimal chroot, gives it. Entered with
# `unshare --pid --fork` + `chroot`, so phpeek-pm is PID 1 of a fresh PID namespace.
#
#   tests/container/bare.sh [BINARY]      (default build/phpeek-pm-minimal; needs root)
#
# Checks: children start (stdin reads as end-of-file without /dev/null, PATH lookup, a numeric
# user with no passwd entry), each spawn error names what failed (program not in PATH,
# missing program, missing interpreter, missing working_dir), orphans are reaped, SIGTERM
# stops everything and exits 0.
set -uo pipefail
T_NAME=bare
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

bin=${1:-build/phpeek-pm-minimal}
stage=""
upids=()

cleanup() {
    local p
    # SIGKILL to unshare's child (the namespace's PID 1) kills the whole namespace.
    for p in "${upids[@]}"; do
        pkill -KILL -P "$p" 2>/dev/null || true
        kill -KILL "$p" 2>/dev/null || true
    done
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
if readelf -lW "$bin" | grep -q 'Requesting program interpreter'; then
    fail "$bin is static (it has an ELF interpreter: a bare root has no loader)"
    finish
    exit
fi
if ! file -L /bin/busybox | grep -q 'statically linked'; then
    fail "/bin/busybox is static (scripts/ensure-deps.sh test installs busybox-static)"
    finish
    exit
fi

stage=$(mktemp -d "$ROOT/build/container-bare.XXXXXX")
R="$stage/rootfs"
mkdir -p "$R/bin" "$R/app"
install -m 0755 "$bin" "$R/phpeek-pm"
install -m 0755 /bin/busybox "$R/bin/busybox"
# A script whose interpreter does not exist in this root.
printf '#!/bin/bash\necho never\n' >"$R/app/run.sh"
chmod 0755 "$R/app/run.sh"
BB='"/bin/busybox", "sh", "-c"'
cat >"$R/phpeek-pm.yaml" <<EOF
global:
  log_level: debug
  shutdown_timeout: 10
processes:
  stdin:
    restart: never
    command: [$BB, "if read x; then echo 'stdin: got data'; else echo 'stdin: eof'; fi"]
  web:
    command: [$BB, "trap 'echo web: term; exit 0' TERM; echo web: up pid=\$\$ uid=\$(/bin/busybox id -u); while :; do /bin/busybox sleep 1; done"]
  pathsearch:
    restart: never
    env:
      PATH: /nonexistent:/bin
    command: ["busybox", "echo", "pathsearch: found busybox in PATH"]
  asuser:
    user: "1000"
    command: [$BB, "trap 'exit 0' TERM; echo asuser: uid=\$(/bin/busybox id -u) gid=\$(/bin/busybox id -g); while :; do /bin/busybox sleep 1; done"]
  orphans:
    restart: never
    command: [$BB, "for i in 1 2 3 4 5; do /bin/busybox sleep 0.2 & done; echo orphans: spawned"]
  notinpath:
    restart: never
    command: ["php-fpm", "-F"]
  missing:
    restart: never
    command: ["/usr/sbin/nginx"]
  nointerp:
    restart: never
    command: ["/app/run.sh"]
  nodir:
    restart: never
    working_dir: /srv/nope
    command: [$BB, "true"]
EOF
pass "bare rootfs: $(find "$R" -mindepth 1 | sed "s|$R||" | sort | tr '\n' ' ')"

UNSHARE=$(command -v unshare)
CHROOT=$(command -v chroot)

# run LOG [ENV...]: phpeek-pm as PID 1 of a new PID namespace, chrooted into $R, no /proc.
run_bare() {
    local log=$1 upid t0 ms code mgr=""
    shift
    # An empty environment (no PATH either: the children's PATH search uses the default).
    env -i "$@" "$UNSHARE" --pid --fork "$CHROOT" "$R" /phpeek-pm -c /phpeek-pm.yaml >"$log" 2>&1 &
    upid=$!
    upids+=("$upid")
    if ! wait_for 15 has "$log" '"asuser: uid=' || ! wait_for 15 has "$log" '"web: up' ||
        ! wait_for 15 has "$log" '"event":"spawn_failed".*"nodir-0"'; then
        fail "processes started within 15 s"
        return
    fi
    check "manager is PID 1 of the namespace" has "$log" '"event":"starting".*"pid":1[,}]'
    check "no /dev/null: children get an empty pipe as stdin" has "$log" '"event":"stdin_pipe"'
    check "stdin reads as end-of-file" has "$log" '"msg":"stdin: eof"'
    check "web runs as root" has "$log" '"msg":"web: up pid=[0-9]+ uid=0"'
    check "PATH search finds busybox in the child's PATH" has "$log" '"msg":"pathsearch: found busybox in PATH"'
    check "numeric user without /etc/passwd: uid 1000, gid 0" has "$log" '"msg":"asuser: uid=1000 gid=0"'
    check "no good process failed to spawn" bash -c "! grep -E '\"event\":\"spawn_failed\".*\"(web|stdin|pathsearch|asuser|orphans)-0\"' '$log'"
    check "spawn error: program not in PATH" has "$log" \
        '"msg":"failed to start notinpath: php-fpm: not found in PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin: No such file or directory \(os error 2\)'
    check "spawn error: missing program" has "$log" \
        '"msg":"failed to start missing: /usr/sbin/nginx: No such file or directory \(os error 2\)"'
    check "spawn error: missing interpreter" has "$log" \
        '"msg":"failed to start nointerp: /app/run.sh: No such file or directory \(os error 2\) \(the file exists, so its interpreter /bin/bash is missing\)'
    check "spawn error: missing working_dir" has "$log" \
        '"msg":"failed to start nodir: working_dir /srv/nope: No such file or directory \(os error 2\)'
    check "the orphans' parent exited 0" wait_for 5 has "$log" '"event":"exited".*"orphans-0".*"exit_code":0'
    mgr=$(pgrep -P "$upid" | head -n 1)
    if [ -n "$mgr" ]; then
        orphans_gone() { ! ps --ppid "$mgr" -o stat=,args= | grep -E '^Z|sleep 0.2' | grep -q .; }
        check "orphans re-parented to PID 1 were reaped (no zombie)" wait_for 5 orphans_gone
        t0=$(now_ms)
        kill -TERM "$mgr"
    else
        fail "found the manager under unshare"
    fi
    if wait_pid_exit 10 "$upid"; then
        ms=$(($(now_ms) - t0))
        wait "$upid"
        code=$?
        check "SIGTERM: exit code 0 (got $code) after ${ms} ms" [ "$code" = 0 ]
    else
        fail "SIGTERM: manager exited within 10 s"
    fi
    check "web ran its TERM handler" has "$log" '"msg":"web: term"'
    check "manager logged a clean exit" has "$log" '"event":"exit".*"exit_code":0'
    check "nothing but JSON on stdout/stderr" bash -c "! grep -v '^{\"time\":' '$log'"
}

say "bare root (binary + config + busybox), PID 1"
log1="$stage/bare.log"
before=$T_FAIL
run_bare "$log1"
[ "$T_FAIL" -eq "$before" ] || show_log "$log1"

finish
