#!/usr/bin/env bash
# Build the Docker image of the end-to-end test: a Debian 12 root filesystem made with
# debootstrap (no registry is reachable here), imported with `docker import`, then
# docker/laravel-debian.Dockerfile on top of it with the phpeek-pm binary, the stack's
# configuration (docker/laravel/) and the test's Laravel stand-in (tests/e2e/app/).
#
#   tests/e2e/image.sh BINARY TAG [CONFIG]
#
# BINARY   the phpeek-pm to put in the image (the static full build, build/phpeek-pm)
# TAG      the image tag to build (e.g. phpeek-pm-e2e:test)
# CONFIG   the phpeek-pm.yaml to use (default docker/laravel/phpeek-pm.yaml)
#
# The root filesystem is the slow part (a few minutes: debootstrap downloads about 60 MB of
# packages), so it is cached as a tarball under $PHPEEK_E2E_CACHE (default
# /var/cache/phpeek-pm-e2e), keyed by a hash of the suite, the mirror and the package list: a
# second run only imports it (when the base image is missing) and runs `docker build`.
# Prints timings of each stage on stderr and the image tag on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

bin=${1:?usage: $0 BINARY TAG [CONFIG]}
tag=${2:?usage: $0 BINARY TAG [CONFIG]}
config=${3:-$root/docker/laravel/phpeek-pm.yaml}

SUITE=bookworm
MIRROR=${PHPEEK_E2E_MIRROR:-http://deb.debian.org/debian}
# What the image needs besides minbase: PHP-FPM and the CLI (artisan), nginx, curl for
# in-container checks. php8.2-fpm's postinst would start the service: policy-rc.d forbids it.
PACKAGES=(php8.2-fpm php8.2-cli nginx-light curl ca-certificates)
CACHE=${PHPEEK_E2E_CACHE:-/var/cache/phpeek-pm-e2e}
# Bump when the way the rootfs is made changes, so stale caches are not reused.
RECIPE=2

log() { printf 'e2e-image: %s\n' "$*" >&2; }
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

key=$(printf '%s\n' "$RECIPE" "$SUITE" "$MIRROR" "${PACKAGES[@]}" | sha256sum | cut -c1-16)
tarball="$CACHE/rootfs-$SUITE-$key.tar"
base="phpeek-pm-e2e-base:$key"

if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { log "debootstrap is missing (scripts/ensure-deps.sh e2e)"; exit 1; }
    mkdir -p "$CACHE"
    work=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    t0=$(now)
    log "debootstrap --variant=minbase $SUITE + ${PACKAGES[*]} (first run: a few minutes; cached in $CACHE)"
    include=$(IFS=,; echo "${PACKAGES[*]}")
    if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$work/rootfs" "$MIRROR" \
        >"$work/debootstrap.log" 2>&1; then
        log "debootstrap failed; its log:"
        tail -n 30 "$work/debootstrap.log" >&2
        exit 1
    fi
    # Keep the image small: no package cache, no apt lists, no docs.
    rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
        "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/*
    tar --numeric-owner -C "$work/rootfs" -cf "$tarball.tmp" .
    mv -f "$tarball.tmp" "$tarball"
    log "rootfs built in $(secs "$t0" "$(now)") s: $(du -h "$tarball" | cut -f1) $tarball"
else
    log "rootfs cached: $tarball"
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
    t0=$(now)
    docker import "$tarball" "$base" >/dev/null
    log "docker import $base in $(secs "$t0" "$(now)") s"
fi

# The build context: what docker/laravel-debian.Dockerfile copies.
ctx=$(mktemp -d "${TMPDIR:-/tmp}/phpeek-e2e-ctx.XXXXXX")
trap 'rm -rf "$ctx" ${work:+"$work"}' EXIT
mkdir -p "$ctx/deploy" "$ctx/app"
install -m 0755 "$bin" "$ctx/phpeek-pm"
cp "$root"/docker/laravel/php-fpm.conf "$root"/docker/laravel/nginx.conf "$ctx/deploy/"
install -m 0644 "$config" "$ctx/deploy/phpeek-pm.yaml"
cp -a "$root/tests/e2e/app/." "$ctx/app/"
t0=$(now)
if ! docker build -q --force-rm --build-arg "BASE=$base" -f "$root/docker/laravel-debian.Dockerfile" \
    -t "$tag" "$ctx" >"$ctx/build.log" 2>&1; then
    log "docker build failed:"
    tail -n 30 "$ctx/build.log" >&2
    exit 1
fi
log "docker build $tag in $(secs "$t0" "$(now)") s"
echo "$tag"
