#!/usr/bin/env bash
# Install what a build or test step needs, when it is missing.
#
#   scripts/ensure-deps.sh GROUP...
#
# Groups:
#   lint     rustfmt and clippy components
#   musl     the x86_64 musl target and its linker, lld (prints nothing; see `static-target`)
#   static-target
#            ensure the amd64 static target and print the triple to build with:
#            x86_64-unknown-linux-musl, or x86_64-unknown-linux-gnu when the musl target
#            cannot be installed (the caller then links glibc statically with +crt-static)
#   arm64    aarch64 musl target, the aarch64 cross linker, qemu-user-static
#   test     Debian packages the shell-level tests use (busybox-static, procps, curl,
#            python3, util-linux for unshare, binutils for readelf/strip, file, tzdata,
#            openssl)
#   observability
#            the API and metrics tests' real peers: prometheus (promtool and the server),
#            curl, and wrk for `make bench`'s api scenario
#   php      Debian's php-fpm, php-cli and nginx-light: the auto-tuning tests run a real php-fpm
#            on a pool file that uses the exported PHP_FPM_* variables; the end-to-end test
#            serves pages through nginx (shared by every PHP-stack test)
#   e2e      the Laravel end-to-end test (tests/e2e/): the php and observability groups,
#            debootstrap for the image's root filesystem, util-linux for unshare/nsenter,
#            busybox-static (`ip` for the namespace's loopback)
#   docker   the Docker engine must answer `docker info` (checked, never installed)
#   k8s      kubectl (Debian bookworm's package is kubernetes-client; an existing kubectl,
#            e.g. from Google's repository, is used as it is) and python3-yaml, for the
#            offline checks of docs/kubernetes/ (tests/container/k8s.sh)
#   bloat    cargo-bloat from crates.io (optional: failure is reported, not fatal)
#   fuzz     the nightly toolchain (libFuzzer's sanitizer flags need it) and cargo-fuzz from
#            crates.io; libFuzzer itself is C++ built by the libfuzzer-sys crate (g++)
#
# Every check is a quick no-op when the thing is already there. Packages come from Debian's
# archive with apt-get (one `apt-get update` per run, only when something is missing).
# Messages go to stderr so `static-target` can print just the triple on stdout.
set -euo pipefail

log() { printf 'ensure-deps: %s\n' "$*" >&2; }
die() { printf 'ensure-deps: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

APT_UPDATED=0
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages ${missing[*]} and no apt-get to install them"
    log "installing Debian packages: ${missing[*]}"
    if [ "$APT_UPDATED" = 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" </dev/null >&2
}

# Is the standard library for this target triple installed?
have_target() {
    local libdir
    libdir=$(rustc --print target-libdir --target "$1" 2>/dev/null) || return 1
    compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

rust_target() {
    have_target "$1" && return 0
    command -v rustup >/dev/null 2>&1 || return 1
    log "rustup target add $1"
    rustup target add "$1" >&2 || return 1
    have_target "$1"
}

rust_component() {
    local comp=$1 probe=$2
    # shellcheck disable=SC2086
    $probe >/dev/null 2>&1 && return 0
    command -v rustup >/dev/null 2>&1 || die "$comp is missing and rustup is not available"
    log "rustup component add $comp"
    rustup component add "$comp" >&2
}

ensure_lint() {
    rust_component rustfmt "cargo fmt --version"
    rust_component clippy "cargo clippy --version"
}

static_target() {
    # PHPEEK_STATIC_TARGET=x86_64-unknown-linux-gnu forces the glibc fallback (to test it).
    if [ "${PHPEEK_STATIC_TARGET:-}" = x86_64-unknown-linux-gnu ]; then
        log "PHPEEK_STATIC_TARGET: glibc linked statically (-C target-feature=+crt-static)"
        echo x86_64-unknown-linux-gnu
    elif rust_target x86_64-unknown-linux-musl; then
        # .cargo/config.toml links this target with lld (-fuse-ld=lld: ICF and RELR) and
        # compiles ring's C code with the host gcc.
        apt_install lld gcc
        echo x86_64-unknown-linux-musl
    else
        log "WARNING: the x86_64 musl target could not be installed;"
        log "WARNING: falling back to glibc linked statically (-C target-feature=+crt-static)"
        apt_install libc6-dev gcc
        echo x86_64-unknown-linux-gnu
    fi
}

ensure_arm64() {
    rust_target aarch64-unknown-linux-musl ||
        die "cannot install the aarch64-unknown-linux-musl target (rustup target add failed)"
    apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
}

ensure_test() {
    # readelf/strip/nm: binutils; unshare/mount: util-linux and mount; pgrep/ps: procps.
    # tzdata: zone files for scheduled tasks' schedule_timezone; openssl: the heartbeat
    # test's private CA and server certificate.
    apt_install busybox-static procps curl python3 util-linux mount binutils file ca-certificates \
        tzdata openssl
}

ensure_observability() {
    apt_install prometheus curl wrk
}

ensure_php() {
    apt_install php-fpm php-cli nginx-light
}

ensure_e2e() {
    ensure_php
    ensure_observability
    apt_install debootstrap python3 util-linux busybox-static ca-certificates
}

ensure_docker() {
    command -v docker >/dev/null 2>&1 || die "docker CLI not found: the container tests need a Docker engine"
    if ! docker info >/dev/null 2>&1; then
        die "the Docker engine does not answer 'docker info': the container tests cannot run"
    fi
}

ensure_k8s() {
    apt_install python3 python3-yaml
    command -v kubectl >/dev/null 2>&1 || apt_install kubernetes-client
}

ensure_bloat() {
    command -v cargo-bloat >/dev/null 2>&1 && return 0
    log "cargo install cargo-bloat (one-time, about a minute)"
    cargo install --locked cargo-bloat >&2 || log "WARNING: cargo-bloat could not be installed; size-report falls back to nm"
}

ensure_fuzz() {
    if ! cargo +nightly --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "no nightly toolchain and no rustup to add one"
        log "rustup toolchain install nightly (cargo-fuzz needs it)"
        rustup toolchain install nightly --profile minimal >&2 ||
            die "cannot install the nightly toolchain: cargo fuzz cannot run"
    fi
    apt_install g++
    command -v cargo-fuzz >/dev/null 2>&1 && return 0
    log "cargo install cargo-fuzz (one-time, a few minutes)"
    cargo install --locked cargo-fuzz >&2 || die "cargo-fuzz could not be installed"
}

[ $# -gt 0 ] || die "usage: $0 lint|musl|static-target|arm64|test|observability|php|e2e|docker|bloat|fuzz ..."
for group in "$@"; do
    case "$group" in
        lint) ensure_lint ;;
        musl) static_target >/dev/null ;;
        static-target) static_target ;;
        arm64) ensure_arm64 ;;
        test) ensure_test ;;
        observability) ensure_observability ;;
        php) ensure_php ;;
        e2e) ensure_e2e ;;
        docker) ensure_docker ;;
        k8s) ensure_k8s ;;
        bloat) ensure_bloat ;;
        fuzz) ensure_fuzz ;;
        *) die "unknown group: $group" ;;
    esac
done
