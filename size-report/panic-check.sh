#!/usr/bin/env bash
# A panic in a release build must still print a readable message, also as PID 1.
#
#   size-report/panic-check.sh
#
# Builds a tiny program with exactly the [profile.release] of Cargo.toml (copied from it) for
# the static musl target, which blocks every signal like phpeek-pm does and then panics; runs it
# normally and as PID 1 of a new PID namespace; checks stderr has the panic message with its
# location, and that the process died of a signal (abort: 134; as PID 1, where SIGABRT is not
# delivered to a namespace's init, musl's abort() ends in SIGSEGV: 139).
set -euo pipefail
cd "$(dirname "$0")/.."

target=$(scripts/ensure-deps.sh static-target)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"

{
    cat <<'EOF'
[package]
name = "panic-check"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
libc = { version = "0.2", default-features = false }

[workspace]

EOF
    # The release profile of the real project, verbatim.
    awk '/^\[profile\.release\]/ { on = 1; print; next } /^\[/ { on = 0 } on' Cargo.toml
} >"$work/Cargo.toml"
cat >"$work/src/main.rs" <<'EOF'
fn main() {
    // SAFETY: plain libc calls on a zeroed, then filled, local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let v: Vec<u32> = std::env::args().skip(1).map(|a| a.parse().unwrap_or(0)).collect();
    println!("{}", v[v.len() + 3]);
}
EOF
# Copy the lock file so libc resolves to the version the project uses (no registry query).
cp Cargo.lock "$work/Cargo.lock" 2>/dev/null || true
export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-gcc}"
[ "$target" = x86_64-unknown-linux-gnu ] &&
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
# Run from the repository root, so .cargo/config.toml (static linking flags) applies as it does
# to the real build.
cargo build -q --release --manifest-path "$work/Cargo.toml" --target "$target" \
    --target-dir "$work/target"
bin="$work/target/$target/release/panic-check"

rc=0
run() { # LABEL EXPECTED_CODES COMMAND...
    local label=$1 codes=$2 code
    shift 2
    set +e
    # An inner shell reports the fatal signal into the captured stderr, not on our terminal.
    RUST_BACKTRACE=0 bash -c '"$@" 1; exit $?' _ "$@" 2>"$work/err" >/dev/null
    code=$?
    set -e
    if grep -q "panicked at src/main.rs:[0-9]*:[0-9]*:" "$work/err" &&
        grep -q "index out of bounds: the len is 1 but the index is 4" "$work/err" &&
        [[ " $codes " == *" $code "* ]]; then
        echo "panic-check: ok   $label: exit $code, stderr: $(grep -v '^bash: line' "$work/err" | tr '\n' ' ')"
    else
        echo "panic-check: FAIL $label: exit $code (expected one of: $codes), stderr:"
        sed 's/^/    /' "$work/err"
        rc=1
    fi
}
run "plain process" "134" "$bin"
run "PID 1 of a PID namespace" "139 134" unshare --pid --fork --mount-proc "$bin"
exit "$rc"
