#!/usr/bin/env bash
# Docker Swarm test (issue 22): the manager under a real orchestrator, on a single-node swarm of
# the machine's Docker engine.
#
#   tests/container/swarm.sh [BINARY]      (default build/phpeek-pm: the full build, for the API)
#
# Two images FROM scratch (v1 and v2): the binary at /phpeek-pm, Debian's busybox-static, and a
# stack of a slow "warmup" oneshot followed by busybox `httpd` serving "v1" or "v2", with
#   HEALTHCHECK CMD ["/phpeek-pm","health"]
# (the probe asks the manager's API on its Unix socket: ready = every longrun ready).
#
# 1. A service of 2 replicas of v1; a client container sends requests continuously.
# 2. `docker service update --image v2 --update-order start-first --update-parallelism 1
#    --stop-grace-period 10s`: Swarm starts a v2 task, waits for its HEALTHCHECK to pass, then
#    stops a v1 task, twice. Checked: 0 failed requests (v1 then v2 answered), every old task
#    exited 0 (graceful shutdown inside the grace period), and every v2 task was healthy
#    before the v1 task it replaced was stopped (from `docker events`); the timings are printed.
# 3. A critical process that fails for good: the manager exits 1, the task fails with
#    "non-zero exit (1)" and Swarm starts a replacement.
#
# The routing mesh (published ports through IPVS) does not work on this machine's kernel (no
# ip_vs module), nor does a service VIP; so the service uses `--endpoint-mode dnsrr` on an
# attachable overlay network, and the client runs in a container on that network, resolving
# the service name through Docker's DNS for every request (`nslookup`, then `nc` to a task's
# address: busybox's static `wget` crashes in its glibc resolver).
#
# Cleanup, also on failure or Ctrl-C: services, client, network and images are removed, and
# the swarm is left (when this script created it).
set -uo pipefail
T_NAME=swarm
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

bin=${1:-build/phpeek-pm}
id="phpeek-swarm-$$"
net="$id-net"
svc="$id-web"
crit="$id-crit"
client="$id-client"
stage=""
we_made_swarm=0
# `docker swarm init` creates the docker_gwbridge network and `leave` keeps it: remove it too
# when it was not there before.
gwbridge_before=$(docker network ls -q --filter name=^docker_gwbridge$ 2>/dev/null)

cleanup() {
    docker service rm "$svc" "$crit" >/dev/null 2>&1 || true
    docker rm -f "$client" >/dev/null 2>&1 || true
    # Task containers go away with their service, asynchronously; the network only after.
    wait_for 30 no_task_containers || true
    docker network rm "$net" >/dev/null 2>&1 || true
    if [ "$we_made_swarm" = 1 ]; then
        docker swarm leave --force >/dev/null 2>&1 || true
        [ -z "$gwbridge_before" ] && { docker network rm docker_gwbridge >/dev/null 2>&1 || true; }
    fi
    docker rmi -f "$id:v1" "$id:v2" >/dev/null 2>&1 || true
    [ -n "$stage" ] && rm -rf "$stage"
}
no_task_containers() {
    [ -z "$(docker ps -aq --filter "label=com.docker.swarm.service.name=$svc")" ] &&
        [ -z "$(docker ps -aq --filter "label=com.docker.swarm.service.name=$crit")" ]
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! docker info >/dev/null 2>&1; then
    echo "## swarm: the Docker engine does not answer 'docker info': the Swarm test CANNOT RUN."
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

# ---- images ---------------------------------------------------------------------------------
stage=$(mktemp -d "$ROOT/build/container-swarm.XXXXXX")
cat >"$stage/web.yaml" <<'EOF'
# The service's stack: a slow start (cache warm-up, migrations...) gates the web server, so
# the task is "starting" for a while and Swarm must wait for its health check.
global:
  log_format: text
  shutdown_timeout: 8          # inside the service's --stop-grace-period 10s
  api_enabled: true
  api_socket: /run/phpeek-pm.sock   # the probe's way in; no TCP port next to httpd's
processes:
  warmup:
    type: oneshot
    command: ["sleep", "2"]
  web:
    command: ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
    depends_on: [warmup]
    health_check:
      type: http
      url: http://127.0.0.1:8080/index.html
      initial_delay: 0
      period: 500ms
      timeout: 500ms
    shutdown:
      timeout: 5
EOF
cat >"$stage/critical.yaml" <<'EOF'
# A critical dependency that fails for good: after two restarts the manager gives up, stops
# the stack and exits 1, so the orchestrator reschedules the task.
global:
  log_format: text
  shutdown_timeout: 5
  max_restart_attempts: 2
  restart_backoff_initial: 200ms
  api_enabled: true
  api_socket: /run/phpeek-pm.sock
processes:
  web:
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
  db-link:
    command: ["sh", "-c", "echo cannot reach the database; exit 3"]
    restart: on-failure
    critical: true
EOF
build_image() {
    local v=$1 ctx="$stage/$1"
    docker/rootfs.sh "$bin" "$ctx" "$stage/web.yaml" "$stage/critical.yaml" &&
        ln -sf usr/local/bin/phpeek-pm "$ctx/rootfs/phpeek-pm" &&
        mkdir -p "$ctx/rootfs/www" && echo "$v" >"$ctx/rootfs/www/index.html" &&
        cat >"$ctx/Dockerfile" <<'EOF' &&
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
HEALTHCHECK --interval=1s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/phpeek-pm","health"]
ENTRYPOINT ["/phpeek-pm"]
CMD ["serve", "-c", "/etc/phpeek-pm/phpeek-pm.yaml"]
EOF
        docker build -q -t "$id:$v" "$ctx" >"$stage/build-$v.log" 2>&1
}
if build_image v1 && build_image v2; then
    pass "two images FROM scratch with HEALTHCHECK CMD [\"/phpeek-pm\",\"health\"]"
else
    fail "docker build"
    show_log "$stage/build-v1.log"
    finish
    exit
fi

# ---- swarm ----------------------------------------------------------------------------------
if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = active ]; then
    say "this engine is already in a swarm: using it (and leaving it as it is)"
else
    if docker swarm init --advertise-addr 127.0.0.1 >"$stage/init.log" 2>&1; then
        we_made_swarm=1
        pass "docker swarm init (single node)"
    else
        fail "docker swarm init"
        show_log "$stage/init.log"
        finish
        exit
    fi
fi
docker network create -d overlay --attachable "$net" >/dev/null ||
    { fail "overlay network"; finish; exit; }

# running_tasks SERVICE: how many of its tasks Swarm reports running (it counts a task with a
# health check as running only once the check passed).
running_tasks() {
    docker service ls --filter "name=$1" --format '{{.Name}} {{.Replicas}}' | awk -v s="$1" '$1 == s { print $2 }'
}
t0=$(now_ms)
docker service create -d -q --name "$svc" --replicas 2 --network "$net" --endpoint-mode dnsrr \
    --stop-grace-period 10s "$id:v1" >/dev/null 2>"$stage/create.err"
replicas_ready() { [ "$(running_tasks "$svc")" = 2/2 ]; }
if wait_for 60 replicas_ready; then
    pass "service of 2 replicas of v1 healthy in $(($(now_ms) - t0)) ms (warm-up 2 s + probes)"
else
    fail "service of 2 replicas of v1 healthy (60 s)"
    docker service ps --no-trunc "$svc"
    cat "$stage/create.err"
    finish
    exit
fi

# ---- client ---------------------------------------------------------------------------------
# One request after another until /tmp/stop exists: resolve the service (Docker's DNS answers
# with the healthy tasks), take the addresses in turn, GET / with HTTP/1.0. One line per
# request: "ok v1 10.0.1.3", or "FAIL <address> <reason>".
client_script=$(
    cat <<EOF
n=0
while [ ! -f /tmp/stop ]; do
  ips=\$(nslookup $svc 127.0.0.11 2>/dev/null | awk '/^Address: / && \$2 !~ /:53\$/ { print \$2 }')
  set -- \$ips
  if [ \$# = 0 ]; then echo "FAIL - no address"; continue; fi
  n=\$((n + 1)); i=\$((n % \$# + 1)); eval ip=\\\${\$i}
  r=\$(printf 'GET / HTTP/1.0\r\nHost: web\r\n\r\n' | nc -w 3 \$ip 8080 2>&1)
  case "\$r" in
    *"200 OK"*) echo "ok \$(printf '%s' "\$r" | tail -n 1) \$ip" ;;
    *) echo "FAIL \$ip \$(printf '%s' "\$r" | head -n 1)" ;;
  esac
done
echo done
EOF
)
docker run -d --name "$client" --network "$net" --entrypoint /bin/sh "$id:v1" -c "$client_script" >/dev/null ||
    { fail "client container"; finish; exit; }
client_count() { docker logs "$client" 2>/dev/null | grep -c "^ok v$1 " || true; }
client_has() { [ "$(client_count "$1")" -ge "$2" ]; }
if wait_for 20 client_has 1 20; then
    pass "client on the overlay network gets answers from v1"
else
    fail "client on the overlay network gets answers from v1"
    docker logs "$client" 2>&1 | tail -n 5
fi

# ---- rolling update -------------------------------------------------------------------------
since=$(date +%s)
u0=$(now_ms)
say "docker service update --image $id:v2 --update-order start-first --update-parallelism 1 --stop-grace-period 10s"
docker service update -d -q --image "$id:v2" --update-order start-first --update-parallelism 1 \
    --update-delay 0s --update-monitor 2s --update-failure-action pause --stop-grace-period 10s \
    "$svc" >/dev/null 2>"$stage/update.err"
update_state() { docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$svc"; }
update_done() { [ "$(update_state)" = completed ]; }
if wait_for 120 update_done; then
    u1=$(now_ms)
    pass "rolling update completed in $((u1 - u0)) ms"
else
    u1=$(now_ms)
    fail "rolling update completed (state: $(update_state))"
    docker service ps --no-trunc "$svc"
fi
# Swarm reports "completed" when the last v2 task is healthy; the last v1 task is stopped a
# little later (taken out of DNS first, then 2 s for the cluster to converge, then SIGTERM).
only_v2_left() {
    local images
    images=$(docker ps --filter "label=com.docker.swarm.service.name=$svc" --format '{{.Image}}')
    [ "$(printf '%s\n' "$images" | grep -c ":v2$")" = 2 ] && ! printf '%s\n' "$images" | grep -q ":v1$"
}
if wait_for 60 only_v2_left; then
    pass "every v1 container gone $(($(now_ms) - u0)) ms after the update command"
else
    fail "every v1 container gone (60 s)"
fi
# Keep the client going a little longer on v2 only, then stop it.
v2_before=$(client_count 2)
wait_for 20 client_has 2 $((v2_before + 20)) || true
docker exec "$client" touch /tmp/stop
wait_for 10 sh -c "docker logs $client 2>/dev/null | grep -qx done"
docker logs "$client" >"$stage/client.log" 2>&1
total=$(grep -c '^ok ' "$stage/client.log")
failed=$(grep -c '^FAIL' "$stage/client.log")
c1=$(grep -c '^ok v1 ' "$stage/client.log")
c2=$(grep -c '^ok v2 ' "$stage/client.log")
check "client: $((total + failed)) requests during the test, $failed failed (v1 answered $c1, v2 answered $c2)" \
    [ "$failed" = 0 ]
check "both versions answered, the last 20 answers all from v2" \
    sh -c "[ $c1 -gt 0 ] && [ $c2 -gt 0 ] && ! grep '^ok ' '$stage/client.log' | tail -n 20 | grep -q ' v1 '"
grep '^FAIL' "$stage/client.log" | head -n 5

# The timeline of the update from the engine's events: start, healthy, kill, die per container.
# Fields: time|container|image|task|exit code|action (last: "health_status: healthy" has a space).
docker events --since "$since" --until "$(($(date +%s) + 1))" --filter type=container \
    --filter "label=com.docker.swarm.service.name=$svc" \
    --format '{{.TimeNano}}|{{.Actor.ID}}|{{index .Actor.Attributes "image"}}|{{index .Actor.Attributes "com.docker.swarm.task.name"}}|{{index .Actor.Attributes "exitCode"}}|{{.Action}}' \
    2>&1 | grep -v '|exec_' | sort -n >"$stage/events.log"
say "rollout timeline (ms after the update command):"
awk -F'|' -v t0="$u0" '{
    n = split($3, img, ":"); v = img[n]; a = $6; sub(/health_status: /, "health ", a)
    printf "    %+7d ms  %s  %-12s %-36s %s%s\n", $1 / 1000000 - t0, v, substr($2, 1, 12), $4, a,
        (a == "die" ? " (exit " $5 ")" : "")
}' "$stage/events.log"
# At each v1 container's first kill, more v2 containers were healthy than v1 ones had been
# killed (start-first, one at a time, health-gated); every v1 container exited 0.
# The slot of a task is its name up to the task id (web.1, web.2): the v2 task of the same
# slot must have been healthy too.
order=$(awk -F'|' '
    { slot = $4; sub(/\.[^.]*$/, "", slot) }
    $3 ~ /:v2$/ && $6 == "health_status: healthy" && !(h[$2]++) { healthy++; slot_ok[slot] = 1 }
    $3 ~ /:v1$/ && $6 == "kill" && !(k[$2]++) {
        killed++; if (healthy < killed || !slot_ok[slot]) bad++; printf "%d/%d ", healthy, killed
    }
    $3 ~ /:v1$/ && $6 == "die" { dies++; if ($5 != 0) nonzero++ }
    END { printf "kills=%d dies=%d nonzero=%d bad=%d\n", killed, dies, nonzero + 0, bad + 0 }' "$stage/events.log")
say "healthy v2 / stopped v1 at each stop: $order"
check "every v2 task was healthy before the v1 task it replaced was stopped" \
    sh -c "echo '$order' | grep -q 'kills=2 .*bad=0'"
check "every old (v1) task exited 0" sh -c "echo '$order' | grep -q 'dies=2 nonzero=0'"
v2_running=$(docker service ps "$svc" --filter desired-state=running --format '{{.Image}} {{.CurrentState}}' | grep -c "$id:v2 Running")
check "2 v2 tasks running after the update (got $v2_running)" [ "$v2_running" = 2 ]

# ---- critical failure -----------------------------------------------------------------------
say "a critical process that fails for good"
c0=$(now_ms)
docker service create -d -q --name "$crit" --replicas 1 --network "$net" --endpoint-mode dnsrr \
    --restart-condition any --restart-delay 1s --restart-max-attempts 3 \
    "$id:v1" serve -c /etc/phpeek-pm/critical.yaml >/dev/null 2>"$stage/crit.err"
crit_tasks() {
    docker service ps --no-trunc "$crit" --format '{{.ID}} {{.Name}} {{.DesiredState}} {{.CurrentState}} {{.Error}}' 2>/dev/null
}
replaced() {
    crit_tasks | grep -q 'non-zero exit (1)' && [ "$(crit_tasks | wc -l)" -ge 2 ]
}
if wait_for 60 replaced; then
    pass "the task exited 1 (\"non-zero exit (1)\") and Swarm started a replacement, $(($(now_ms) - c0)) ms after create"
else
    fail "the task exited 1 and Swarm started a replacement (60 s)"
fi
crit_tasks | sed 's/^/    /'
first=$(crit_tasks | awk '/non-zero exit \(1\)/ { print $1; exit }')
if [ -n "$first" ]; then
    code=$(docker inspect -f '{{.Status.ContainerStatus.ExitCode}}' "$first")
    check "the failed task's container exit code is 1 (got $code)" [ "$code" = 1 ]
    cid=$(docker inspect -f '{{.Status.ContainerStatus.ContainerID}}' "$first")
    if docker logs "$cid" >"$stage/crit.log" 2>&1; then
        check "its log says the critical process failed" grep -q 'critical' "$stage/crit.log"
    fi
fi

finish
