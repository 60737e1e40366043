#!/usr/bin/env bash
# Build one static release binary and copy it to OUT.
#
#   scripts/build-static.sh amd64|arm64 minimal|full OUT
#
# amd64 builds x86_64-unknown-linux-musl (or, when that target cannot be installed,
# x86_64-unknown-linux-gnu with +crt-static); arm64 builds aarch64-unknown-linux-musl with
# Debian's aarch64-linux-gnu-gcc as linker (.cargo/config.toml). The release profile
# (Cargo.toml) does the size work: opt-level z, fat LTO, one codegen unit, panic=abort, strip.
# The result is checked to be static (no ELF interpreter, no shared libraries).
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:?usage: $0 amd64|arm64 minimal|full OUT}
variant=${2:?usage: $0 amd64|arm64 minimal|full OUT}
out=${3:?usage: $0 amd64|arm64 minimal|full OUT}

case "$variant" in
    minimal) features=() ;;
    full) features=(--features full) ;;
    *) echo "build-static: unknown variant $variant (minimal|full)" >&2; exit 2 ;;
esac

case "$arch" in
    amd64)
        target=$(scripts/ensure-deps.sh static-target)
        if [ "$target" = x86_64-unknown-linux-gnu ]; then
            export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
        fi
        # C code in dependencies (ring, for heartbeat's TLS) builds with the host gcc for musl.
        export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-gcc}"
        ;;
    arm64)
        scripts/ensure-deps.sh arm64
        target=aarch64-unknown-linux-musl
        export CC_aarch64_unknown_linux_musl="${CC_aarch64_unknown_linux_musl:-aarch64-linux-gnu-gcc}"
        export AR_aarch64_unknown_linux_musl="${AR_aarch64_unknown_linux_musl:-aarch64-linux-gnu-ar}"
        ;;
    *) echo "build-static: unknown arch $arch (amd64|arm64)" >&2; exit 2 ;;
esac

echo "build-static: $variant for $arch ($target) -> $out" >&2
cargo build --release --target "$target" ${features[@]+"${features[@]}"}

bin="target/$target/release/phpeek-pm"
mkdir -p "$(dirname "$out")"
# Copy (not hard-link): the next build of another feature set replaces $bin.
cp -f "$bin" "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"

if readelf -lW "$out" | grep -q 'Requesting program interpreter'; then
    echo "build-static: ERROR: $out has an ELF interpreter (dynamically linked)" >&2
    exit 1
fi
if readelf -dW "$out" 2>/dev/null | grep -q '(NEEDED)'; then
    echo "build-static: ERROR: $out needs shared libraries:" >&2
    readelf -dW "$out" | grep '(NEEDED)' >&2
    exit 1
fi
# The copy must be the feature set asked for (target/<triple>/release/phpeek-pm is shared by
# every feature set); native binaries can say so themselves.
if [ "$arch" = amd64 ]; then
    feats=$("$out" version | sed -n 's/^features: //p')
    case "$variant:$feats" in
        "minimal:none (minimal build)") ;;
        minimal:* | "full:none (minimal build)" | full:)
            echo "build-static: ERROR: $out reports features '$feats', expected $variant" >&2
            exit 1
            ;;
    esac
fi
printf 'build-static: %s %d bytes (%s KiB)\n' "$out" "$(stat -c %s "$out")" \
    "$(awk -v b="$(stat -c %s "$out")" 'BEGIN { printf "%.1f", b / 1024 }')" >&2
