#!/usr/bin/env bash
# Soak test (issue 13; for `make bench`, never CI): phpeek-pm as PID 1 under steady load for
# SOAK_SECONDS (default 1800 = 30 min); its RSS, open descriptors and threads must be flat.
#
#   bench/soak.sh [BINARY]     (default build/phpeek-pm, else build/phpeek-pm-minimal; root)
#   SOAK_SECONDS=1800          how long
#   SOAK_SAMPLE=10             seconds between samples
#   SOAK_WARMUP=300            the "start" sample is taken after this: allocator warm-up, and
#                              the API's recent-output buffers (4 MiB in all) filling up
#
# Load: 10 services — 6 writing a log line every 10 ms each (600 lines/s through the manager),
# 2 crash loops (exit 1 every ~2 s: spawn, reap, backoff), 2 idle services that receive the
# SIGHUP sent to the manager every second (signal forwarding). With a binary that has the
# features (the full build): an exec health probe every second on every service (10 aux
# children a second), a /metrics scrape and two API requests every second.
#
# Prints start / end / max of VmRSS (KiB), descriptors and threads, writes every sample to
# bench/results/soak-<time>.csv, and exits 1 if the end is not flat: RSS more than 10 % (and
# 256 KiB) above the start, or any change in descriptors or threads.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${SOAK_SECONDS:-1800}
every=${SOAK_SAMPLE:-10}
warmup=${SOAK_WARMUP:-300}
[ "$warmup" -lt "$secs" ] || warmup=$((secs / 4))
bin=${1:-}
if [ -z "$bin" ]; then
    for b in build/phpeek-pm build/phpeek-pm-minimal; do
        [ -x "$b" ] && { bin=$b; break; }
    done
fi
if [ -z "$bin" ]; then
    scripts/build-static.sh amd64 minimal build/phpeek-pm-minimal
    bin=build/phpeek-pm-minimal
fi
[ "$(id -u)" = 0 ] || { echo "soak: needs root (unshare --pid)" >&2; exit 1; }

work=$(mktemp -d /tmp/phpeek-soak.XXXXXX)
upid=""
cleanup() {
    [ -n "$upid" ] && kill -KILL "$upid" 2>/dev/null || true
    pkill -KILL -P "${upid:-0}" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

feats=$("$bin" version | sed -n 's/^features: //p')
has() { [[ ", $feats, " == *", $1, "* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_port="" metrics_port=""
has api && api_port=$(free_port)
has metrics && metrics_port=$(free_port)
probe() {
    if has health; then
        echo "    health_check:"
        echo "      type: exec"
        echo "      command: [\"/bin/true\"]"
        echo "      period: 1s"
        echo "      timeout: 1s"
    fi
}
{
    echo "global:"
    if [ -n "$api_port" ]; then
        echo "  api_enabled: true"
        echo "  api_host: 127.0.0.1"
        echo "  api_port: $api_port"
    fi
    if [ -n "$metrics_port" ]; then
        echo "  metrics_enabled: true"
        echo "  metrics_host: 127.0.0.1"
        echo "  metrics_port: $metrics_port"
    fi
    echo "  restart_backoff_initial: 1s"
    echo "  restart_backoff_max: 2s"
    echo "  restart_stable_after: 1h"
    echo "processes:"
    for i in 1 2 3 4 5 6; do
        echo "  chatty$i:"
        echo "    forward_signals: [SIGHUP]"
        echo "    command: [\"/bin/sh\", \"-c\", \"trap '' HUP; while :; do echo chatty$i line \$(date +%s%N); sleep 0.01; done\"]"
        probe
    done
    for i in 1 2; do
        echo "  crash$i:"
        echo "    forward_signals: [SIGHUP]"
        echo "    command: [\"/bin/sh\", \"-c\", \"trap '' HUP; sleep 1; exit 1\"]"
        probe
    done
    for i in 1 2; do
        echo "  idle$i:"
        echo "    forward_signals: [SIGHUP]"
        echo "    command: [\"/bin/sh\", \"-c\", \"trap 'echo idle$i hup' HUP; while :; do sleep 1; done\"]"
        probe
    done
} >"$work/soak.yaml"

unshare --pid --fork --mount-proc "$bin" -c "$work/soak.yaml" | cat >/dev/null &
sleep 0.5
upid=$(pgrep -f "^unshare --pid --fork --mount-proc $bin" | head -n 1)
mgr=$(pgrep -P "$upid" | head -n 1)
[ -n "$mgr" ] || { echo "soak: the manager did not start" >&2; exit 1; }

sample() {
    local rss fds thr
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$mgr/status")
    thr=$(awk '/^Threads:/ { print $2 }' "/proc/$mgr/status")
    # Exec probes and restarts hold 3 descriptors each while they run: the fewest of a few
    # quick looks is the manager's own count.
    fds=$(for _ in 1 2 3 4 5; do
        find "/proc/$mgr/fd" -mindepth 1 -maxdepth 1 | wc -l
        sleep 0.05
    done | sort -n | head -n 1)
    echo "$1,$rss,$fds,$thr"
}

mkdir -p bench/results
csv="bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).csv"
echo "t_s,rss_kib,fds,threads" >"$csv"
echo "soak: $bin as PID 1 (host pid $mgr), ${secs} s, sample every ${every} s -> $csv" >&2
echo "soak: features: ${feats}; probes: $(has health && echo 'exec, 1 s' || echo none); scrape: ${metrics_port:-none}; API: ${api_port:-none}" >&2
start="" t=0 next=0 scrape_fail=0 api_fail=0
t0=$(date +%s)
while [ "$t" -lt "$secs" ]; do
    kill -0 "$mgr" 2>/dev/null || { echo "soak: the manager died at ${t} s" >&2; exit 1; }
    kill -HUP "$mgr"
    if [ -n "$metrics_port" ]; then
        curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$metrics_port/metrics" || scrape_fail=$((scrape_fail + 1))
    fi
    if [ -n "$api_port" ]; then
        curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$api_port/api/v1/processes" || api_fail=$((api_fail + 1))
        curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$api_port/api/v1/processes/chatty1/logs?limit=50" || api_fail=$((api_fail + 1))
    fi
    if [ "$t" -ge "$next" ]; then
        s=$(sample "$t")
        echo "$s" >>"$csv"
        [ -z "$start" ] && [ "$t" -ge "$warmup" ] && start=$s
        next=$((next + every))
    fi
    sleep 1
    t=$(($(date +%s) - t0))
done
end=$(sample "$t")
echo "$end" >>"$csv"
kill -TERM "$mgr"
for _ in $(seq 100); do kill -0 "$mgr" 2>/dev/null || break; sleep 0.1; done
[ -n "$start" ] || start=$end

IFS=, read -r ts rs fs ths <<<"$start"
IFS=, read -r te re fe the <<<"$end"
maxrss=$(tail -n +2 "$csv" | cut -d, -f2 | sort -n | tail -n 1)
printf 'soak: %-10s %10s %10s\n' "" "start(${ts}s)" "end(${te}s)"
printf 'soak: %-10s %10s %10s   (max %s)\n' "RSS KiB" "$rs" "$re" "$maxrss"
printf 'soak: %-10s %10s %10s\n' "fds" "$fs" "$fe"
printf 'soak: %-10s %10s %10s\n' "threads" "$ths" "$the"
printf 'soak: failed scrapes %s, failed API requests %s\n' "$scrape_fail" "$api_fail"
ok=1
[ "$scrape_fail" = 0 ] && [ "$api_fail" = 0 ] || { echo "soak: some requests failed" >&2; ok=0; }
limit=$((rs + rs / 10 > rs + 256 ? rs + rs / 10 : rs + 256))
[ "$re" -le "$limit" ] || { echo "soak: RSS grew from $rs to $re KiB" >&2; ok=0; }
# A probe child in flight holds 3 descriptors even in the fewest of five looks: compare the
# fewest over the first and the last five samples after the warm-up instead of two samples.
fmin() { awk -F, -v w="$warmup" 'NR > 1 && $1 >= w { print $3 }' "$csv" | "$1" -n 5 | sort -n | head -n 1; }
fs=$(fmin head) fe=$(fmin tail)
[ "$fe" = "$fs" ] || { echo "soak: descriptors changed from $fs to $fe" >&2; ok=0; }
[ "$the" = "$ths" ] || { echo "soak: threads changed from $ths to $the" >&2; ok=0; }
[ "$ok" = 1 ] && echo "soak: flat" >&2
[ "$ok" = 1 ]
