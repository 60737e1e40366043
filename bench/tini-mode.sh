#!/usr/bin/env bash
# `make bench`, single-command mode: phpeek-pm -- CMD beside tini on the single-child rows
# (bench/tini_mode.py). Called by bench/run.sh with the directory holding the binaries it
# built; runs when BENCH_ONLY is unset or lists "tini-mode". Needs root (unshare --pid).
#
#   bash bench/tini-mode.sh DIR     (DIR holds phpeek-pm-minimal and bench-drain)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${BENCH_ONLY:-}" ] && [[ ",$BENCH_ONLY," != *",tini-mode,"* ]]; then
    exit 0
fi
exec python3 bench/tini_mode.py --bindir "${1:?usage: $0 DIR-WITH-phpeek-pm-minimal}"
