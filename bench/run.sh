#!/usr/bin/env bash
# `make bench`: phpeek-pm side by side with the peers PHP teams use, in one run.
#
# Self-contained: installs the peers Debian packages (tini, dumb-init, s6, runit, supervisor),
# builds phpeek-pm minimal and full as static musl release binaries, compiles the orphan-storm
# workload and the log scenario's reader (bench/drain.c), then runs bench/bench.py, which
# prints one table (medians, ratios) and writes the raw runs to bench/results/ (latest.json,
# latest.csv, latest.md; raw/<timestamp>.json).
#
# Needs root (every manager runs as PID 1 of its own PID namespace, via unshare).
# Environment: BENCH_REF=<git ref> (benchmark that commit instead of the work tree),
# BENCH_QUICK=1 (smoke run: fewer runs, shorter windows), BENCH_RUNS,
# BENCH_RUNS_LONG, BENCH_ONLY=idle1,logs,... , BENCH_TOOLS=phpeek-min,tini,... ,
# BENCH_STREAMS_OFF=1 (phpeek-pm's processes with stdout/stderr off: no output pipes);
# extra arguments are passed to bench.py (e.g. --keep).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/bench
mkdir -p "$OUT"

say() { printf '[bench] %s\n' "$*" >&2; }
loud() { printf '\n[bench] !!! %s\n\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh needs root: each manager runs as PID 1 of a new PID namespace" >&2
    exit 1
fi

# ---- tools the harness itself needs, and the peers -------------------------------------
apt_updated=
apt_install() {
    # Installs the packages given, one at a time so one failure does not hide the others.
    local p
    for p in "$@"; do
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1; then
            say "installed $p"
            continue
        fi
        if [ -z "$apt_updated" ]; then
            say "apt-get update"
            apt-get update -qq >/dev/null 2>&1 || loud "apt-get update failed"
            apt_updated=1
            if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1; then
                say "installed $p"
                continue
            fi
        fi
        loud "could not install $p"
    done
}

need=()
command -v python3 >/dev/null || need+=(python3)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v file >/dev/null || need+=(file)
command -v setpriv >/dev/null || need+=(util-linux)
# The API and metrics scenarios' load generator.
command -v wrk >/dev/null || need+=(wrk)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

peers=()
for pair in tini:tini tini:tini-static dumb-init:dumb-init s6:s6-svscan runit:runsvdir \
            supervisor:supervisord; do
    command -v "${pair#*:}" >/dev/null || peers+=("${pair%%:*}")
done
if [ ${#peers[@]} -gt 0 ]; then
    mapfile -t peers < <(printf '%s\n' "${peers[@]}" | sort -u)
    say "installing peers: ${peers[*]}"
    apt_install "${peers[@]}"
fi
for pair in tini:tini dumb-init:dumb-init s6:s6-svscan runit:runsvdir supervisor:supervisord; do
    command -v "${pair#*:}" >/dev/null ||
        loud "peer ${pair%%:*} is not available: its column will read n/a (not installed)"
done

# ---- phpeek-pm: minimal and full, static musl release builds ---------------------------
# Built in a target directory of our own, so other builds of the tree are left alone.
# BENCH_REF=<git ref> builds that commit (exported with git archive) instead of the work tree.
export CARGO_TARGET_DIR="$OUT/cargo"
SRC=$ROOT
if [ -n "${BENCH_REF:-}" ]; then
    SRC=$OUT/tree
    rm -rf "$SRC"
    mkdir -p "$SRC"
    git archive "$BENCH_REF" | tar -x -C "$SRC"
    BENCH_SOURCE="$BENCH_REF ($(git rev-parse --short=12 "$BENCH_REF"))"
elif [ -n "$(git status --porcelain -- src Cargo.toml Cargo.lock build.rs 2>/dev/null)" ]; then
    BENCH_SOURCE="work tree with uncommitted changes on $(git rev-parse --short=12 HEAD)"
else
    BENCH_SOURCE="work tree, clean, $(git rev-parse --short=12 HEAD)"
fi
export BENCH_SOURCE
# The release target and its linker (.cargo/config.toml links with lld), installed when
# missing by the same script `make build` uses; a glibc +crt-static build when musl cannot be.
TARGET=$(bash scripts/ensure-deps.sh static-target)
export CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-gcc}
target_args=(--target "$TARGET")
bin_dir="$CARGO_TARGET_DIR/$TARGET/release"
case "$TARGET" in
    *-gnu) export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" ;;
esac
say "building phpeek-pm minimal from $BENCH_SOURCE (${target_args[*]:-host})"
(cd "$SRC" && cargo build --release "${target_args[@]}")
cp "$bin_dir/phpeek-pm" "$OUT/phpeek-pm-minimal"
say "building phpeek-pm full"
(cd "$SRC" && cargo build --release "${target_args[@]}" --features full)
cp "$bin_dir/phpeek-pm" "$OUT/phpeek-pm-full"

gcc -O2 -Wall -o "$OUT/bench-orphans" bench/orphans.c
gcc -O2 -Wall -o "$OUT/bench-drain" bench/drain.c

bash bench/tini-mode.sh "$OUT" || loud "single-command mode bench (bench/tini-mode.sh) failed"
exec python3 bench/bench.py --bindir "$OUT" --orphan-gen "$OUT/bench-orphans" \
    --drain "$OUT/bench-drain" "$@"
