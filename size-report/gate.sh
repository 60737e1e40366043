#!/usr/bin/env bash
# The size gate on the release artefacts themselves (not on size-report's rebuilds):
#
#   size-report/gate.sh MINIMAL_BINARY FULL_BINARY
#
# Fails when minimal >= MINIMAL_BUDGET or full > FULL_BUDGET (size-report/budgets.env);
# warns when full is above FULL_AIM.
set -euo pipefail
cd "$(dirname "$0")/.."
. size-report/budgets.env
min=${1:?usage: $0 MINIMAL_BINARY FULL_BINARY}
full=${2:?usage: $0 MINIMAL_BINARY FULL_BINARY}
rc=0
m=$(stat -c %s "$min")
f=$(stat -c %s "$full")
if [ "$m" -lt "$MINIMAL_BUDGET" ]; then
    echo "size gate: ok   minimal $min = $m bytes < $MINIMAL_BUDGET"
else
    echo "size gate: FAIL minimal $min = $m bytes, must be < $MINIMAL_BUDGET (size-report/README.md)"
    rc=1
fi
if [ "$f" -le "$FULL_BUDGET" ]; then
    echo "size gate: ok   full $full = $f bytes <= $FULL_BUDGET"
else
    echo "size gate: FAIL full $full = $f bytes, must be <= $FULL_BUDGET (size-report/README.md)"
    rc=1
fi
if [ "$f" -gt "$FULL_AIM" ]; then
    echo "size gate: warning: full is above the design's aim of $FULL_AIM bytes"
fi
exit "$rc"
