#!/usr/bin/env bash
# `make build-tiny` and its binaries (nightly, build-std, immediate-abort panics): they build,
# fit their size targets, and behave like the release binaries where it matters.
#
#   tests/container/tiny.sh            (needs root: PID 1 namespaces; Docker for `docker stop`)
#
# Checks: build/phpeek-pm-tiny (minimal) and build/phpeek-pm-tiny-full build and report their
# feature sets; the minimal one passes the PID 1 checks of chroot.sh and the `docker run` /
# `docker stop` checks of docker.sh; both leave the fixed last line on SIGILL (what a panic
# of a tiny build ends in) and die of that signal; size targets (minimal <= 450 KiB, full
# <= 1.9 MiB) are reported, a miss is a warning (the hard budgets are the release builds').
set -uo pipefail
T_NAME=tiny
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

fail=0
make --no-print-directory build-tiny || { echo "tiny: FAIL make build-tiny" >&2; exit 1; }

for pair in build/phpeek-pm-tiny:460800 build/phpeek-pm-tiny-full:1992294; do
    bin=${pair%%:*} target=${pair#*:}
    size=$(stat -c %s "$bin")
    if [ "$size" -le "$target" ]; then
        echo "tiny: ok   $bin $size bytes (target $target)"
    else
        echo "tiny: WARN $bin $size bytes, over the target $target" >&2
    fi
    # The fault line: a SIGILL (a tiny build's panic) leaves one readable line and kills.
    work=$(mktemp -d)
    printf 'processes:\n  idle:\n    command: [sleep, "1000"]\n' >"$work/c.yaml"
    "$bin" -c "$work/c.yaml" >"$work/out" 2>"$work/err" &
    pid=$!
    for _ in $(seq 100); do grep -q started "$work/out" && break; sleep 0.05; done
    kids=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
    kill -ILL "$pid"
    wait "$pid"
    rc=$?
    # The sleep outlives its killed manager; each child leads its own process group.
    for k in $kids; do kill -KILL -- "-$k" 2>/dev/null || true; done
    if [ "$rc" = 132 ] && tail -n1 "$work/err" | grep -q 'phpeek-pm: fatal internal error (SIGILL)'; then
        echo "tiny: ok   $bin SIGILL -> last line on stderr, exit 132"
    else
        echo "tiny: FAIL $bin SIGILL: exit $rc, stderr: $(tail -n2 "$work/err")" >&2
        fail=1
    fi
    rm -rf "$work"
done

bash tests/container/chroot.sh build/phpeek-pm-tiny || fail=1
if docker info >/dev/null 2>&1; then
    bash tests/container/docker.sh build/phpeek-pm-tiny || fail=1
else
    echo "tiny: FAIL no Docker engine for the docker stop check" >&2
    fail=1
fi
exit $fail
