#!/usr/bin/env bash
# The long crash-consistency run (docs/reliability.md, "Crash consistency"): the crash loop
# (tests/crash/crashloop.c) for CYCLES kills per persistence mode, printing a line per cycle
# and a final line per mode. The test suite runs 10 cycles per mode; this runs 100 by default.
#
#   scripts/crash-loop.sh [CYCLES] [MODE]     MODE: sync, async or both (default both)
#
# Env: BUILD (default build) is the meson build directory, SEED fixes the seed (default: a new
# one per mode, printed), KEYS the keys per writer (default 128), WINDOW_MS the async bound
# on the age of a lost acknowledged change (default 1000, persist-sync-ms; 0 = only measure).
# Builds what is missing.
# Exits non-zero when a mode found a violation (its message names the key, what was expected
# and what was found; the server's log and data directories are kept and named).
set -uo pipefail
cd "$(dirname "$0")/.."

cycles="${1:-100}"
mode="${2:-both}"
build="${BUILD:-build}"
case "$cycles" in '' | *[!0-9]*) echo "usage: $0 [CYCLES] [sync|async|both]" >&2; exit 2 ;; esac
case "$mode" in
  both) modes=(sync async) ;;
  sync | async) modes=("$mode") ;;
  *) echo "usage: $0 [CYCLES] [sync|async|both]" >&2; exit 2 ;;
esac

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" >/dev/null || { echo "meson setup $build failed" >&2; exit 1; }
fi
nice -n 10 ninja -C "$build" cacheserverd/cacheserverd tests/crash/crashloop >/dev/null ||
  { echo "build failed (ninja -C $build)" >&2; exit 1; }

export CACHESERVERD="$PWD/$build/cacheserverd/cacheserverd"
rc=0
finals=()
for m in "${modes[@]}"; do
  args=(--cycles "$cycles" --persist "$m")
  [ -n "${SEED:-}" ] && args+=(--seed "$SEED")
  [ -n "${KEYS:-}" ] && args+=(--keys "$KEYS")
  [ -n "${WINDOW_MS:-}" ] && args+=(--window-ms "$WINDOW_MS")
  echo "== crash loop: persist=$m, $cycles cycles"
  start=$(date +%s)
  out=$(mktemp)
  nice -n 10 "$build/tests/crash/crashloop" "${args[@]}" 2>&1 | tee "$out" |
    grep -E '^(crashloop|cycle|#)|VIOLATION|kept the'
  code=${PIPESTATUS[0]}
  secs=$(($(date +%s) - start))
  final=$(grep -E '^crashloop (sync|async) seed [0-9]+: (OK|FAILED)' "$out" || true)
  if [ "$code" -ne 0 ] || [ -z "$final" ] || [[ "$final" != *": OK:"* ]]; then
    grep -E '^ERROR' "$out" | head -3
    finals+=("${final:-persist=$m: FAILED} (exit $code, ${secs} s)")
    rc=1
  else
    finals+=("$final (${secs} s)")
  fi
  rm -f "$out"
done
echo "== summary"
printf '%s\n' "${finals[@]}"
exit "$rc"
