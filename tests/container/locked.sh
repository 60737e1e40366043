#!/usr/bin/env bash
# Locked-down container (issue 13): the full static binary in a `FROM scratch` image, run as
#   docker run --read-only --tmpfs /tmp --user 1000:1000 --cap-drop ALL \
#       --security-opt no-new-privileges
# Only /tmp is writable, no capability, not root. Checks: it starts and supervises (a crash
# loop restarts), serves the management API on a Unix socket in /tmp (0600, owned by uid 1000)
# to the CLI client inside the container, refuses it without the token, restarts a process on
# request, and `docker stop` ends it cleanly (exit 0 inside Docker's 10 s).
#
#   tests/container/locked.sh [BINARY]      (default build/phpeek-pm: needs feature api)
set -uo pipefail
T_NAME=locked
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

bin=${1:-build/phpeek-pm}
tag="phpeek-pm-locked-$$-$RANDOM"
image="$tag:latest"
name="$tag-run"
stage=""

cleanup() {
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker rmi -f "$image" >/dev/null 2>&1 || true
    [ -n "$stage" ] && rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! docker info >/dev/null 2>&1; then
    echo "## locked: the Docker engine does not answer 'docker info': this test CANNOT RUN."
    if [ "${CI:-}" = true ]; then
        fail "Docker engine available (required under CI)"
        finish
        exit
    fi
    skip "Docker engine not available (not under CI: reported, not failed)"
    finish
    exit 77
fi
[ -x "$bin" ] || { fail "binary $bin exists (run make build)"; finish; exit; }
if ! "$bin" version | grep -q '^features: .*api'; then
    fail "$bin has feature api ($("$bin" version | grep features))"
    finish
    exit
fi

stage=$(mktemp -d "$ROOT/build/container-locked.XXXXXX")
cat >"$stage/locked.yaml" <<'EOF'
global:
  api_enabled: true
  api_socket: /tmp/phpeek-pm.sock
  api_auth: locked-down-token
  restart_backoff_initial: 200ms
  restart_backoff_max: 400ms
  shutdown_timeout: 8
processes:
  web:
    command: ["/bin/sh", "-c", "trap 'echo web: got TERM; exit 0' TERM; echo web: up uid=$(id -u); while :; do sleep 1; done"]
  crasher:
    command: ["/bin/sh", "-c", "echo crasher: run; sleep 0.3; exit 1"]
EOF
if docker/rootfs.sh "$bin" "$stage" "$stage/locked.yaml" &&
    docker build -q -t "$image" "$stage" >"$stage/build.log" 2>&1; then
    pass "docker build FROM scratch with the full binary"
else
    fail "docker build FROM scratch with the full binary"
    show_log "$stage/build.log"
    finish
    exit
fi

log="$stage/run.log"
logs() { docker logs "$name" >"$log" 2>&1; }
log_has() { logs && grep -Eq -- "$1" "$log"; }
runs() { logs && grep -c '"msg":"crasher: run"' "$log"; }
more_runs() { [ "$(runs)" -ge "$1" ]; }
# The CLI client inside the container, with or without the token.
client() { docker exec -e PHPEEK_PM_API_TOKEN="$1" "$name" /usr/local/bin/phpeek-pm "${@:2}"; }

if ! docker run -d --name "$name" --read-only --tmpfs /tmp --user 1000:1000 --cap-drop ALL \
    --security-opt no-new-privileges "$image" >/dev/null 2>"$stage/run.err"; then
    fail "docker run --read-only --tmpfs /tmp --user 1000:1000 --cap-drop ALL"
    show_log "$stage/run.err"
    finish
    exit
fi
if wait_for 15 log_has '"msg":"web: up uid=1000"' && wait_for 15 log_has '"event":"listening".*/tmp/phpeek-pm.sock'; then
    pass "started as uid 1000 with no capability; API listening on /tmp/phpeek-pm.sock"
else
    fail "started and listening within 15 s"
    show_log "$log"
    finish
    exit
fi
hostpid=$(docker inspect -f '{{.State.Pid}}' "$name")
check "the manager has no capability (CapEff and CapBnd 0) and no_new_privs" \
    contains_all "/proc/$hostpid/status" "CapEff:	0000000000000000" "CapBnd:	0000000000000000" "NoNewPrivs:	1"
check "the root filesystem is read-only" bash -c "! docker exec '$name' /bin/touch /probe 2>/dev/null"
check "the socket is 0600 and owned by uid 1000" \
    [ "$(docker exec "$name" /bin/stat -c '%a %u' /tmp/phpeek-pm.sock)" = "600 1000" ]
n=$(runs)
check "supervising: the crash loop keeps restarting" wait_for 10 more_runs $((n + 3))

out=$(client locked-down-token status 2>&1)
if grep -q 'web' <<<"$out" && grep -q 'crasher' <<<"$out"; then
    pass "phpeek-pm status over the Unix socket lists the processes"
else
    fail "phpeek-pm status over the Unix socket lists the processes"
    printf '%s\n' "$out" | sed 's/^/  | /'
fi
if client wrong-token status >"$stage/wrong.out" 2>&1; then
    fail "a wrong token is refused"
    show_log "$stage/wrong.out"
else
    check "a wrong token is refused, without echoing the token" \
        bash -c "! grep -q 'locked-down-token\|wrong-token' '$stage/wrong.out'"
fi
if client locked-down-token restart web >"$stage/restart.out" 2>&1 &&
    wait_for 10 log_has '"msg":"web: got TERM"'; then
    pass "phpeek-pm restart web: web got TERM and started again"
else
    fail "phpeek-pm restart web"
    show_log "$stage/restart.out"
fi
check "web runs again" wait_for 10 bash -c "[ \$(docker logs '$name' 2>&1 | grep -c '\"msg\":\"web: up uid=1000\"') -ge 2 ]"

t0=$(now_ms)
docker stop "$name" >/dev/null 2>&1
ms=$(($(now_ms) - t0))
code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
logs
check "docker stop: exit code 0 (got $code) in ${ms} ms (< 9000)" bash -c "[ '$code' = 0 ] && [ $ms -lt 9000 ]"
check "the manager logged a clean exit" has "$log" '"event":"exit".*"exit_code":0'
check "no token in the container's log" bash -c "! grep -q 'locked-down-token' '$log'"
[ "$T_FAIL" -eq 0 ] || show_log "$log"
finish
