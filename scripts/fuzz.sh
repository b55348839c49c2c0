#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz/ for SECONDS each (default 60) and prints, per
# target, the executions, the edges covered (libFuzzer's cov:) and the findings.
#   scripts/fuzz.sh [SECONDS-PER-TARGET]
# Configures build-fuzz (clang, -Dfuzz=true) when it is missing, then builds the targets.
# Each target's corpus grows in build-fuzz/corpus/<target>/, seeded from tests/fuzz/corpus/
# and tests/fuzz/regress/; crashers go to build-fuzz/artifacts/<target>/ and are copied to
# tests/fuzz/regress/<target>/, which the unit suite replays: commit one with its fix.
# Exit status: 0 when no target found anything, 1 when one did, 2 on a setup error.
# FUZZ_JOBS=N runs N campaigns at once (default: one per CPU). See docs/reliability.md.
set -uo pipefail

SECS="${1:-60}"
case "$SECS" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS-PER-TARGET]" >&2; exit 2 ;;
esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 2
BUILD=build-fuzz
# FUZZ_TARGETS="a b" runs only those (two campaigns at once on two cores, say)
read -r -a TARGETS <<<"${FUZZ_TARGETS:-mpread diskval fingerprint option frames repl_wire shm_region vlog_segment}"

if [ ! -f "$BUILD/build.ninja" ]; then
  # b_lundef=false: libcacheclient.so links with ASan's symbols left to the executable
  CC=clang meson setup "$BUILD" -Dfuzz=true -Db_lundef=false >/dev/null || {
    echo "fuzz: meson setup $BUILD failed (clang and libclang-rt-14-dev: scripts/deps.sh)" >&2
    exit 2
  }
fi
ninja -C "$BUILD" "${TARGETS[@]/#/tests/fuzz/fuzz_}" >/dev/null || {
  echo "fuzz: building the targets failed: ninja -C $BUILD" >&2
  exit 2
}

# A finding is a crash, a sanitizer report, a leak, a timeout or an out-of-memory input.
_findings() { find "$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o \
  -name 'timeout-*' -o -name 'oom-*' \) | sort; }

status=0
# One target's campaign; its row of the table in $BUILD/fuzz-$t.row, and 1 in
# $BUILD/fuzz-$t.bad when it found something.
_run() {
  local t="$1"
  local corpus="$BUILD/corpus/$t" artifacts="$BUILD/artifacts/$t" log="$BUILD/fuzz-$t.log"
  rm -f "$BUILD/fuzz-$t.row" "$BUILD/fuzz-$t.bad"
  mkdir -p "$corpus" "$artifacts" "tests/fuzz/regress/$t"
  for seed in tests/fuzz/corpus/"$t"/* tests/fuzz/regress/"$t"/*; do
    [ -f "$seed" ] && cp -n "$seed" "$corpus/" 2>/dev/null
  done
  local before
  before="$(_findings "$artifacts")"
  local args=(-max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$artifacts/"
        -timeout=10 -rss_limit_mb=2048)
  [ -f "tests/fuzz/dict/$t.dict" ] && args+=(-dict="tests/fuzz/dict/$t.dict")
  # the config reader prints a line per bad file: keep the target's stderr out of the log
  # (libFuzzer's own output and sanitizer reports still show)
  [ "$t" = option ] && args+=(-close_fd_mask=2)
  echo "fuzz: $t for ${SECS}s (log: $log)" >&2
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
    "$BUILD/tests/fuzz/fuzz_$t" "${args[@]}" "$corpus" >"$log" 2>&1
  local rc=$?
  local execs edges
  execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
  [ -n "$execs" ] || execs="$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')"
  edges="$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')"
  local new=() f
  while IFS= read -r f; do
    [ -n "$f" ] && ! grep -qxF "$f" <<<"$before" && new+=("$f")
  done < <(_findings "$artifacts")
  for f in "${new[@]}"; do
    cp "$f" "tests/fuzz/regress/$t/"
    echo "fuzz: $t: finding $f, kept as tests/fuzz/regress/$t/$(basename "$f")" >&2
  done
  if [ ${#new[@]} -eq 0 ] && [ $rc -ne 0 ]; then
    echo "fuzz: $t exited $rc without an artifact: see $log" >&2
    new=("exit $rc")
  fi
  [ ${#new[@]} -gt 0 ] && echo 1 >"$BUILD/fuzz-$t.bad"
  printf '%-12s %12s %8s %9s\n' "$t" "${execs:-?}" "${edges:-?}" "${#new[@]}" >"$BUILD/fuzz-$t.row"
}

# FUZZ_JOBS campaigns at once (default: one per CPU; each target is single-threaded)
jobs=${FUZZ_JOBS:-$(nproc)}
running=0
for t in "${TARGETS[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  _run "$t" &
  running=$((running + 1))
done
wait
rows=()
for t in "${TARGETS[@]}"; do
  rows+=("$(cat "$BUILD/fuzz-$t.row" 2>/dev/null || printf '%-12s %12s %8s %9s' "$t" '?' '?' 'no result')")
  [ -f "$BUILD/fuzz-$t.bad" ] || [ ! -f "$BUILD/fuzz-$t.row" ] && status=1
done

printf '\n%-12s %12s %8s %9s   (%ss each)\n' target execs edges findings "$SECS"
printf '%s\n' "${rows[@]}"
exit $status
