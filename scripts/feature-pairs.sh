#!/usr/bin/env bash
# Every pair of optional features builds clippy-clean: `cargo clippy --no-default-features
# --features a,b -- -D warnings` on the binary (not --all-targets: the pairs are about which code
# a build links, and tests are checked by the other steps). Pairs whose resolved feature sets
# are equal (tls implies heartbeat implies scheduler, so tls+heartbeat = tls alone) are built
# once. All builds share one target directory, so dependencies are compiled once per feature
# set they see.
#
# Usage: scripts/feature-pairs.sh [--list]   (--list: print the pairs, build nothing)
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}

# "name implied1 implied2 ..." per optional feature (Cargo.toml [features], without dep: and
# crate/feature entries).
mapfile -t table < <(awk '
    /^\[features\]/ { on = 1; next }
    /^\[/ { on = 0 }
    on && /^[A-Za-z0-9_-]+[ \t]*=/ {
        name = $1
        line = $0
        sub(/^[^=]*=[ \t]*\[/, "", line); sub(/\].*$/, "", line)
        n = split(line, parts, ",")
        out = name
        for (i = 1; i <= n; i++) {
            p = parts[i]; gsub(/[ \t"]/, "", p)
            if (p != "" && p !~ /^dep:/ && p !~ /\//) out = out " " p
        }
        print out
    }' Cargo.toml | grep -v -e '^default' -e '^full')

declare -A implies
names=()
for row in "${table[@]}"; do
    read -r name rest <<<"$row"
    names+=("$name")
    implies[$name]=$rest
done

# The feature set `a,b` resolves to, sorted, as one word.
resolve() {
    local -A seen=()
    local todo=("$@") f
    while [ ${#todo[@]} -gt 0 ]; do
        f=${todo[0]}
        todo=("${todo[@]:1}")
        [ -n "${seen[$f]:-}" ] && continue
        seen[$f]=1
        # shellcheck disable=SC2206
        todo+=(${implies[$f]:-})
    done
    printf '%s\n' "${!seen[@]}" | sort | paste -sd, -
}

declare -A done_sets
pairs=()
for ((i = 0; i < ${#names[@]}; i++)); do
    for ((j = i + 1; j < ${#names[@]}; j++)); do
        a=${names[i]} b=${names[j]}
        set_ab=$(resolve "$a" "$b")
        # A pair that is one feature alone (one implies the other) is the `features` step's.
        [ "$set_ab" = "$(resolve "$a")" ] || [ "$set_ab" = "$(resolve "$b")" ] && continue
        [ -n "${done_sets[$set_ab]:-}" ] && continue
        done_sets[$set_ab]=1
        pairs+=("$a,$b")
    done
done

if [ "${1:-}" = --list ]; then
    printf '%s\n' "${pairs[@]}"
    exit 0
fi

failed=()
t0=$(date +%s)
for p in "${pairs[@]}"; do
    printf -- '--- clippy --features %s\n' "$p"
    if ! $CARGO clippy --quiet --no-default-features --features "$p" -- -D warnings; then
        failed+=("$p")
    fi
done
echo "feature pairs: ${#pairs[@]} built in $(($(date +%s) - t0)) s, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ] || { printf 'failed: %s\n' "${failed[@]}"; exit 1; }
