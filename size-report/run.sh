#!/usr/bin/env bash
# Build every feature set as a static musl release binary and write size-report/REPORT.md.
#
#   size-report/run.sh            # minimal, each feature alone, full
#   SETS="minimal full" size-report/run.sh   # a subset (the report says so)
#   REPORT=/tmp/r.md SIZE_REPORT_NO_BLOAT=1 size-report/run.sh   # elsewhere; nm attribution
#
# Each set is built once with the profile `size-report` (= the release profile with
# strip = false, defined on the command line so Cargo.toml stays the single source of the
# release settings). The unstripped binary feeds the per-crate attribution (cargo-bloat, or
# `nm` when cargo-bloat is unavailable); `strip --strip-all` of it gives the shipped size,
# byte-identical to what `cargo build --release` (strip = true) produces.
#
# Exit status: 0, or 1 when a build fails or a budget of size-report/budgets.env is broken.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=budgets.env
. size-report/budgets.env

report=${REPORT:-size-report/REPORT.md}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

target=$(scripts/ensure-deps.sh static-target)
scripts/ensure-deps.sh bloat || true
export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-gcc}"
if [ "$target" = x86_64-unknown-linux-gnu ]; then
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
fi

# Optional features, in Cargo.toml order (everything in [features] but `default` and `full`).
mapfile -t optional < <(awk '
    /^\[features\]/ { on = 1; next }
    /^\[/ { on = 0 }
    on && /^[A-Za-z0-9_-]+[ \t]*=/ { sub(/[ \t]*=.*/, ""); print }' Cargo.toml |
    grep -vx -e default -e full)
if [ -n "${SETS:-}" ]; then
    read -r -a sets <<<"$SETS"
else
    sets=(minimal "${optional[@]}" full)
fi

profile=(--config 'profile.size-report.inherits="release"'
    --config 'profile.size-report.strip=false' --profile size-report --target "$target")
bin="target/$target/size-report/phpeek-pm"
use_bloat=0
command -v cargo-bloat >/dev/null 2>&1 && [ -z "${SIZE_REPORT_NO_BLOAT:-}" ] && use_bloat=1

kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }

# Per-crate .text bytes, "crate<TAB>bytes" sorted by size, from cargo-bloat's JSON or from nm.
crates_from_json() {
    grep -o '"name":"[^"]*","size":[0-9]*' "$1" |
        sed 's/"name":"\([^"]*\)","size":\([0-9]*\)/\1\t\2/'
}
crates_from_nm() {
    # Demangled text symbols; the crate is the first path segment of the symbol (for trait
    # impls `<a::T as b::Tr>::f`, the implementing type's crate). C symbols go to [Unknown].
    nm -C -S --size-sort --radix=d "$1" 2>/dev/null | awk '
        $3 ~ /^[tTwW]$/ {
            name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
            sub(/^(<|&mut |&|dyn )+/, "", name)
            c = (index(name, "::") > 0) ? substr(name, 1, index(name, "::") - 1) : "[Unknown]"
            sub(/.* /, "", c) # C++: "bool libunwind::..." -> libunwind
            sz[c] += $2 + 0
        }
        END { for (c in sz) printf "%s\t%d\n", c, sz[c] }' | sort -t$'\t' -k2,2nr
}

build_set() {
    local set=$1 args=()
    case "$set" in
        minimal) args=() ;;
        full) args=(--features full) ;;
        *) args=(--no-default-features --features "$set") ;;
    esac
    echo "size-report: building $set" >&2
    if [ "$use_bloat" = 1 ]; then
        if ! cargo bloat "${profile[@]}" ${args[@]+"${args[@]}"} --crates -n 0 \
            --message-format json >"$work/$set.json" 2>"$work/$set.log"; then
            tail -n 30 "$work/$set.log" >&2
            return 1
        fi
        crates_from_json "$work/$set.json" >"$work/$set.crates"
        if [ "$set" = minimal ]; then
            # Fresh build, analysis only: std split into core, alloc, gimli, addr2line, ...
            cargo bloat "${profile[@]}" --crates --split-std -n 0 --message-format json \
                >"$work/split.json" 2>>"$work/$set.log" &&
                crates_from_json "$work/split.json" >"$work/split.crates"
        fi
    else
        if ! cargo build "${profile[@]}" ${args[@]+"${args[@]}"} 2>"$work/$set.log"; then
            tail -n 30 "$work/$set.log" >&2
            return 1
        fi
        crates_from_nm "$bin" >"$work/$set.crates"
    fi
    strip --strip-all -o "$work/$set.bin" "$bin"
    stat -c %s "$work/$set.bin" >"$work/$set.bytes"
    size -A "$work/$set.bin" >"$work/$set.sections"
}

failed=0
for set in "${sets[@]}"; do
    build_set "$set" || { echo "size-report: ERROR: build of $set failed" >&2; failed=1; }
done
[ "$failed" = 0 ] || exit 1

top_crates() { # FILE N -> "std 288.4, yaml_serde 98.9, ..."
    head -n "$2" "$1" | awk -F'\t' '{ printf "%s%s %.1f", (NR > 1 ? ", " : ""), $1, $2 / 1024 }'
}
section() { # FILE NAME -> bytes
    awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print 0 }' "$1"
}

base=""
[ -f "$work/minimal.bytes" ] && base=$(cat "$work/minimal.bytes")
status=()
gate_fail=0
if [ -n "$base" ]; then
    if [ "$base" -ge "$MINIMAL_BUDGET" ]; then
        status+=("FAIL: minimal is $base bytes, budget < $MINIMAL_BUDGET")
        gate_fail=1
    else
        status+=("ok: minimal $base bytes < $MINIMAL_BUDGET")
    fi
fi
if [ -f "$work/full.bytes" ]; then
    full=$(cat "$work/full.bytes")
    if [ "$full" -gt "$FULL_BUDGET" ]; then
        status+=("FAIL: full is $full bytes, budget <= $FULL_BUDGET")
        gate_fail=1
    else
        status+=("ok: full $full bytes <= $FULL_BUDGET")
    fi
    if [ "$full" -gt "$FULL_AIM" ]; then
        status+=("warning: full is above the design's aim of $FULL_AIM bytes")
    fi
fi

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock build.rs 2>/dev/null || commit="$commit + uncommitted changes"
{
    echo "# Size report"
    echo
    echo "Generated by \`size-report/run.sh\` (\`make size-report\`, also run by \`make test\`)."
    echo "Do not edit by hand."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- commit: $commit"
    echo "- toolchain: $(rustc -V)"
    echo "- target: \`$target\`, release profile (opt-level z, fat LTO, 1 codegen unit, panic=abort), stripped"
    echo "- crate attribution: $([ "$use_bloat" = 1 ] && echo "cargo-bloat $(cargo bloat --version 2>/dev/null | awk '{print $NF}')" || echo "nm symbol prefixes (cargo-bloat unavailable)") on the unstripped build; \`.text\` only, approximate after LTO inlining"
    [ -n "${SETS:-}" ] && echo "- partial run: SETS=\"$SETS\""
    echo
    echo "| build | bytes | KiB | Δ over minimal | biggest crates in .text (KiB) |"
    echo "|---|---:|---:|---:|---|"
    for set in "${sets[@]}"; do
        b=$(cat "$work/$set.bytes")
        if [ -n "$base" ] && [ "$set" != minimal ]; then
            d=$((b - base))
            delta=$(printf '%+d B (%+.1f KiB)' "$d" "$(awk -v d="$d" 'BEGIN { print d / 1024 }')")
        else
            delta="—"
        fi
        label=$set
        case "$set" in
            minimal) label="**minimal** (default)" ;;
            full) label="**full**" ;;
        esac
        echo "| $label | $b | $(kib "$b") | $delta | $(top_crates "$work/$set.crates" 5) |"
    done
    echo
    echo "## Budgets (size-report/budgets.env)"
    echo
    echo "| build | budget | aim |"
    echo "|---|---|---|"
    echo "| minimal | < $MINIMAL_BUDGET bytes ($(kib "$MINIMAL_BUDGET") KiB), hard | ≤ 600 KiB |"
    echo "| full | ≤ $FULL_BUDGET bytes ($(kib "$FULL_BUDGET") KiB), hard | ≤ $FULL_AIM bytes ($(kib "$FULL_AIM") KiB) |"
    echo
    for s in "${status[@]}"; do echo "- $s"; done
    # The opt-in nightly binaries of `make build-tiny` (scripts/build-tiny.sh), as last built.
    tiny_rows=()
    for t in phpeek-pm-tiny:minimal:460800 phpeek-pm-tiny-full:full:1992294; do
        f=build/${t%%:*} rest=${t#*:}
        [ -f "$f" ] && tiny_rows+=("| ${rest%%:*} (\`$f\`) | $(stat -c %s "$f") | $(kib "$(stat -c %s "$f")") | ≤ $(kib "${rest#*:}") KiB |")
    done
    if [ ${#tiny_rows[@]} -gt 0 ]; then
        echo
        echo "## make build-tiny (nightly build-std, immediate-abort panics; as last built in build/)"
        echo
        echo "| build | bytes | KiB | target |"
        echo "|---|---:|---:|---|"
        printf '%s\n' "${tiny_rows[@]}"
    fi
    if [ -f "$work/split.crates" ]; then
        echo
        echo "## minimal: the standard library split into its crates"
        echo
        echo "gimli, addr2line, rustc_demangle, miniz_oxide and object are std's backtrace"
        echo "symbolizer, linked by the default panic hook even though panic=abort and a stripped"
        echo "binary leave it nothing to print; stable Rust cannot drop it (see README.md)."
        echo
        echo "| crate | .text bytes | KiB |"
        echo "|---|---:|---:|"
        head -n 15 "$work/split.crates" | while IFS=$'\t' read -r c s; do
            echo "| $c | $s | $(kib "$s") |"
        done
        bt=$(awk -F'\t' '$1 ~ /^(gimli|addr2line|rustc_demangle|miniz_oxide|object)$/ { t += $2 } END { print t + 0 }' "$work/split.crates")
        echo
        echo "Backtrace symbolizer total: $bt bytes ($(kib "$bt") KiB) of .text."
    fi
    for set in minimal full; do
        [ -f "$work/$set.crates" ] || continue
        echo
        echo "## $set: crates by .text size"
        echo
        echo "| crate | .text bytes | KiB |"
        echo "|---|---:|---:|"
        head -n 15 "$work/$set.crates" | while IFS=$'\t' read -r c s; do
            echo "| $c | $s | $(kib "$s") |"
        done
        echo
        echo "Sections of the stripped $set binary:"
        echo
        echo "| section | bytes |"
        echo "|---|---:|"
        for sec in .text .rodata .eh_frame .eh_frame_hdr .gcc_except_table .data.rel.ro .rela.dyn .data .bss; do
            echo "| $sec | $(section "$work/$set.sections" "$sec") |"
        done
    done
} >"$report.tmp"
mv "$report.tmp" "$report"
echo "size-report: wrote $report" >&2
for s in "${status[@]}"; do echo "size-report: $s" >&2; done
exit "$gate_fail"
