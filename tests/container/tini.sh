#!/usr/bin/env bash
# phpeek-pm as a drop-in for tini in a real container: a `FROM scratch` image holding only the
# static binary (at /phpeek-pm) and Debian's busybox-static, with
#   ENTRYPOINT ["/phpeek-pm", "--"]
# exactly where a Dockerfile would say ["tini", "--"]. Nothing is pulled.
#
#   tests/container/tini.sh [BINARY]      (default build/phpeek-pm-minimal)
#
# Checks: the command's exit code is the container's; phpeek-pm is PID 1 and the command's
# parent; output reaches `docker run`/`docker logs` byte for byte with nothing of ours added;
# `docker kill -s USR1` reaches the command; orphans are reaped; `docker stop` ends the command
# through its TERM handler (exit 0) or, without one, with 143, well inside Docker's 10 s.
#
# Without a Docker engine: fails under CI (CI=true), else exits 77 (skipped), like docker.sh.
set -uo pipefail
T_NAME=tini
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

bin=${1:-build/phpeek-pm-minimal}
tag="phpeek-pm-tini-$$-$RANDOM"
image="$tag:latest"
containers=()
stage=""

cleanup() {
    local c
    for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
    docker rmi -f "$image" >/dev/null 2>&1 || true
    [ -n "$stage" ] && rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! docker info >/dev/null 2>&1; then
    echo "## tini: the Docker engine does not answer 'docker info': the container test CANNOT RUN."
    if [ "${CI:-}" = true ]; then
        fail "Docker engine available (required under CI)"
        finish
        exit
    fi
    skip "Docker engine not available (not under CI: reported, not failed)"
    finish
    exit 77
fi
[ -x "$bin" ] || { fail "binary $bin exists (run make build-minimal)"; finish; exit; }
busybox=/bin/busybox
if ! [ -x "$busybox" ] || ! file -L "$busybox" | grep -q 'statically linked'; then
    fail "$busybox is static (install Debian's busybox-static: scripts/ensure-deps.sh test)"
    finish
    exit
fi

mkdir -p build
stage=$(mktemp -d "$ROOT/build/container-tini.XXXXXX")
r=$stage/rootfs
mkdir -p "$r"/{bin,tmp,proc,sys,dev}
chmod 1777 "$r/tmp"
install -m 0755 "$bin" "$r/phpeek-pm"
install -m 0755 "$busybox" "$r/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"
done
cat >"$stage/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
# Where a Dockerfile says ENTRYPOINT ["tini", "--"].
ENTRYPOINT ["/phpeek-pm", "--"]
CMD ["sh", "-c", "echo hello"]
EOF
say "building image $image from scratch with $bin"
if docker build -q -t "$image" "$stage" >"$stage/build.log" 2>&1; then
    pass "docker build FROM scratch, ENTRYPOINT [\"/phpeek-pm\", \"--\"]"
else
    fail "docker build FROM scratch"
    show_log "$stage/build.log"
    finish
    exit
fi

# run NAME CMD... : docker run --rm in the foreground (stdout to $stage/NAME.out, stderr to
# NAME.err); prints the container's exit code (docker run passes it on).
run() {
    local name=$1
    shift
    timeout 60 docker run --rm --name "$tag-$name" "$image" "$@" \
        >"$stage/$name.out" 2>"$stage/$name.err"
    echo $?
}

code=$(run exit3 sh -c 'exit 3')
check "the command's exit code is the container's (exit 3 → $code)" [ "$code" = 3 ]

code=$(run default)
check "the image's CMD runs after -- (exit $code, says hello)" \
    [ "$code" = 0 -a "$(cat "$stage/default.out")" = hello ]

code=$(run pid1 sh -c 'echo "ppid=$PPID"; tr "\0" " " </proc/1/cmdline')
check "phpeek-pm is PID 1 and the command's parent" \
    [ "$code" = 0 -a "$(head -n1 "$stage/pid1.out")" = ppid=1 ]
check "PID 1 is /phpeek-pm -- sh ..." grep -q '^/phpeek-pm -- sh -c ' "$stage/pid1.out"

# Bytes that a line-based log pipeline would change: CR, tab, NUL, a long line, invalid
# UTF-8, no final newline; and stderr kept apart.
printf 'a\tb\r\n\000x\377\376 %05000d no newline at the end' 0 >"$stage/expected.out"
code=$(run bytes sh -c "printf 'a\\tb\\r\\n\\000x\\377\\376 %05000d no newline at the end' 0; \
    printf 'to stderr' >&2")
check "stdout passes through byte for byte" cmp -s "$stage/expected.out" "$stage/bytes.out"
check "stderr has the command's bytes only, nothing of ours" \
    [ "$code" = 0 -a "$(cat "$stage/bytes.err")" = "to stderr" ]

# Long-running commands, detached: container NAME is "$tag-NAME", its log $stage/NAME.log.
logs() { docker logs "$tag-$1" >"$stage/$1.log" 2>&1; }
log_has() { logs "$1" && grep -Fq -- "$2" "$stage/$1.log"; }
start() {
    local name=$1
    shift
    containers+=("$tag-$name")
    docker run -d --name "$tag-$name" "$image" "$@" >/dev/null 2>"$stage/$name.run" ||
        { fail "docker run $name"; show_log "$stage/$name.run"; return 1; }
}
# No zombie and none of the 20 `sleep 0.2` orphans left.
orphans_reaped() {
    local ps
    ps=$(docker top "$tag-$1" -eo pid,stat,args 2>/dev/null) || return 1
    ! awk 'NR > 1 && ($2 ~ /^Z/ || ($3 == "sleep" && $4 == "0.2"))' <<<"$ps" | grep -q .
}

handler='trap "echo got USR1" USR1; trap "echo got TERM; exit 0" TERM
for i in $(seq 20); do (sleep 0.2 &); done; echo ready
while :; do sleep 1 & wait $!; done'
started_sleep() { docker top "$tag-$1" -eo pid,args 2>/dev/null | awk '$2 == "sleep" && $3 == "1000"' | grep -q .; }
# stop NAME: docker stop; prints "EXIT_CODE MILLISECONDS".
stop() {
    local t0 ms
    t0=$(now_ms)
    docker stop "$tag-$1" >/dev/null 2>&1
    ms=$(($(now_ms) - t0))
    echo "$(docker inspect -f '{{.State.ExitCode}}' "$tag-$1") $ms"
}

if start graceful sh -c "$handler" && check "a command with TERM/USR1 handlers started" \
    wait_for 15 log_has graceful ready; then
    check "20 orphans of the command are reaped" wait_for 15 orphans_reaped graceful
    docker kill -s USR1 "$tag-graceful" >/dev/null
    check "docker kill -s USR1 reaches the command" wait_for 10 log_has graceful "got USR1"
    read -r code ms < <(stop graceful)
    check "docker stop: the command's TERM handler ran" log_has graceful "got TERM"
    check "docker stop: exit 0 (got $code) in ${ms} ms, < 5000 (Docker's SIGKILL comes at 10 s)" \
        [ "$code" = 0 -a "$ms" -lt 5000 ]
fi

if start plain sleep 1000 && check "a command without handlers started (sleep 1000)" \
    wait_for 15 started_sleep plain; then
    read -r code ms < <(stop plain)
    check "docker stop of a command without a handler: 143 = 128+SIGTERM (got $code) in ${ms} ms" \
        [ "$code" = 143 -a "$ms" -lt 5000 ]
fi

finish
