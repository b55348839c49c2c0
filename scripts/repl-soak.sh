#!/usr/bin/env bash
# The long run of the replication tests (docs/replication.md, "Tests"): three nodes, three
# writers at ~2,000 changes/s, a link cut every 300 ms and a blackhole every 3.6 s, for
# SCALE x 3.6 s (default 20: 72 s, ~180,000 changes), then every node must agree within 5 s
# with no full sync. Then the rest of tests/repl/test_repl.c once. Needs a built tree
# (./scripts/test.sh or ninja -C build).
#   scripts/repl-soak.sh [SCALE]
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE="${1:-20}"
BUILD="${BUILD:-build}"
[ -x "$BUILD/tests/repl/test_repl" ] || { echo "repl-soak: build first (ninja -C $BUILD)" >&2; exit 2; }
export CACHESERVERD="$PWD/$BUILD/cacheserverd/cacheserverd" CACHE_CLI="$PWD/$BUILD/cli/cache-cli"
export REPL_SOAK_SCALE="$SCALE"
echo "repl-soak: scale $SCALE ($(python3 -c "print(round($SCALE * 3.6))") s of link cuts)"
time "$BUILD/tests/repl/test_repl"
