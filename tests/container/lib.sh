# Shared helpers for the shell-level container tests. Source it; do not run it.
#
# Checks are counted (pass/fail/skip) and `finish` prints "NAME: N passed, M failed" and
# returns non-zero on any failure. Waits poll an observable condition with a deadline; no test
# synchronises on a bare sleep.

T_PASS=0
T_FAIL=0
T_SKIP=0
T_NAME=${T_NAME:-tests}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { printf '%s: %s\n' "$T_NAME" "$*"; }
pass() { T_PASS=$((T_PASS + 1)); printf '  ok    %s\n' "$*"; }
fail() { T_FAIL=$((T_FAIL + 1)); printf '  FAIL  %s\n' "$*"; }
skip() { T_SKIP=$((T_SKIP + 1)); printf '  SKIP  %s\n' "$*"; }

# check DESCRIPTION COMMAND... : run COMMAND, count the result.
check() {
    local desc=$1
    shift
    if "$@"; then
        pass "$desc"
    else
        fail "$desc"
        return 1
    fi
}

# wait_for SECONDS COMMAND... : poll COMMAND every 50 ms until it succeeds or the deadline passes.
wait_for() {
    local deadline=$(($(date +%s%N) + $1 * 1000000000))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# wait_pid_exit SECONDS PID : wait until PID is gone (it need not be our child).
wait_pid_exit() {
    local deadline=$(($(date +%s%N) + $1 * 1000000000))
    while kill -0 "$2" 2>/dev/null; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# has FILE REGEX : the file has a line matching the extended regex.
has() { grep -Eq -- "$2" "$1"; }

# contains_line FILE TEXT... : every TEXT occurs in FILE (fixed strings), else name the missing.
contains_all() {
    local file=$1 missing=0 t
    shift
    for t in "$@"; do
        if ! grep -Fq -- "$t" "$file"; then
            printf '        missing: %s\n' "$t"
            missing=1
        fi
    done
    return "$missing"
}

# show_log FILE : print the tail of a log for diagnosis after a failure.
show_log() {
    printf '  ---- %s (last 40 lines) ----\n' "$1"
    tail -n 40 "$1" | sed 's/^/  | /'
    printf '  ----\n'
}

finish() {
    local line="$T_NAME: $T_PASS passed, $T_FAIL failed"
    [ "$T_SKIP" -gt 0 ] && line="$line, $T_SKIP skipped"
    echo "$line"
    [ "$T_FAIL" -eq 0 ]
}

# in_range N LOW HIGH : LOW <= N < HIGH
in_range() { [ "$1" -ge "$2" ] && [ "$1" -lt "$3" ]; }
