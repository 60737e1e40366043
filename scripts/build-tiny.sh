#!/usr/bin/env bash
# Build one opt-in "tiny" static binary: nightly, the standard library rebuilt with our profile
# (-Z build-std=std,panic_abort) and panics that abort at once (-C panic=immediate-abort: no
# panic message formatting, no location strings, no unwinding tables linked in).
#
#   scripts/build-tiny.sh minimal|full OUT
#
# Same target and linker flags as the release build (.cargo/config.toml: lld, identical code
# folding, RELR-packed relocations). Stable `make build` stays the release default; this path
# needs the nightly toolchain with rust-src and its musl target (installed here when missing:
# scripts/ensure-deps.sh tiny). Its own target directory (target/tiny) leaves the stable
# builds' artefacts alone.
#
# A panic in a tiny binary prints no message of its own; src/sys/fault.rs writes one fixed
# last line on the illegal instruction an immediate abort executes (docs/design-decisions.md).
set -euo pipefail
cd "$(dirname "$0")/.."

variant=${1:?usage: $0 minimal|full OUT}
out=${2:?usage: $0 minimal|full OUT}
case "$variant" in
    minimal) features=() ;;
    full) features=(--features full) ;;
    *) echo "build-tiny: unknown variant $variant (minimal|full)" >&2; exit 2 ;;
esac

scripts/ensure-deps.sh tiny
target=x86_64-unknown-linux-musl
export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-gcc}"
# RUSTFLAGS replaces the target's rustflags of .cargo/config.toml, so those are repeated here
# (read from the file, so the two builds cannot drift apart), then the tiny-only ones.
mapfile -t linkflags < <(sed -n '/^\[target.x86_64-unknown-linux-musl\]/,/^\[/ {
        s/^rustflags = \[\(.*\)\]$/\1/p }' .cargo/config.toml | grep -o '"[^"]*"' | tr -d '"')
flags=("${linkflags[@]}" -C panic=immediate-abort -C force-unwind-tables=no -Z unstable-options
    -Z location-detail=none)
RUSTFLAGS=$(printf '%s\x1f' "${flags[@]}")
export CARGO_ENCODED_RUSTFLAGS=${RUSTFLAGS%$'\x1f'}

echo "build-tiny: $variant ($target, nightly, build-std, immediate-abort) -> $out" >&2
cargo +nightly build --release --target "$target" --target-dir target/tiny \
    -Z build-std=std,panic_abort -Z build-std-features=optimize_for_size -Z panic-immediate-abort \
    --config 'profile.release.panic="immediate-abort"' \
    ${features[@]+"${features[@]}"}

bin="target/tiny/$target/release/phpeek-pm"
mkdir -p "$(dirname "$out")"
cp -f "$bin" "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"
if readelf -lW "$out" | grep -q 'Requesting program interpreter'; then
    echo "build-tiny: ERROR: $out has an ELF interpreter (dynamically linked)" >&2
    exit 1
fi
feats=$("$out" version | sed -n 's/^features: //p')
case "$variant:$feats" in
    "minimal:none (minimal build)") ;;
    minimal:* | "full:none (minimal build)" | full:)
        echo "build-tiny: ERROR: $out reports features '$feats', expected $variant" >&2
        exit 1
        ;;
esac
printf 'build-tiny: %s %d bytes (%s KiB)\n' "$out" "$(stat -c %s "$out")" \
    "$(awk -v b="$(stat -c %s "$out")" 'BEGIN { printf "%.1f", b / 1024 }')" >&2
