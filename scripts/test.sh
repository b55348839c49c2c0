#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test twice: in a normal build and in an
# ASan+UBSan build (meson's b_sanitize); then the threaded tests under ThreadSanitizer
# (scripts/tsan.sh), the PHP extension's tests, and every fuzz target for 12 s (counted as
# one). Ends with one line "N passed, N failed" summing every test it ran; exits non-zero
# if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh || exit 1

passed=0
failed=0

# meson writes one JSON object per test to testlog.json; count OK vs the rest.
count_meson() {
  local log="$1/meson-logs/testlog.json"
  [ -f "$log" ] || { failed=$((failed + 1)); return; }
  local ok bad
  ok=$(grep -c '"result": "OK"' "$log" || true)
  bad=$(grep -vc '"result": "OK"' "$log" || true)
  passed=$((passed + ok))
  failed=$((failed + bad))
}

run_build() {
  local dir="$1"; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null || { echo "meson setup $dir failed"; failed=$((failed + 1)); return; }
  elif [ $# -gt 0 ]; then
    meson configure "$dir" "$@" >/dev/null || { echo "meson configure $dir failed"; failed=$((failed + 1)); return; }
  fi
  if ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
    cat "$dir.ninja.log"; echo "build $dir failed"; failed=$((failed + 1)); return
  fi
  echo "== tests in $dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${MESON_TEST_ARGS[@]}"
  count_meson "$dir"
}

MESON_TEST_ARGS=()
run_build build -Dtests=true # scripts/start.sh may have configured it without the tests
MESON_TEST_ARGS=(--timeout-multiplier 3)
run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug \
  -Dfault_injection=true

# ThreadSanitizer (scripts/tsan.sh, docs/reliability.md): every threaded test in build-tsan
# (about 2.5 minutes); a race report fails the test it happened in.
./scripts/tsan.sh
tsan_rc=$?
tsan_failed=$failed
count_meson build-tsan
if [ "$tsan_rc" -ne 0 ] && [ "$failed" -eq "$tsan_failed" ]; then failed=$((failed + 1)); fi

if [ -x php-ext/build-and-test.sh ]; then
  echo "== php-ext tests"
  php_out=$(mktemp)
  php-ext/build-and-test.sh "$PWD/build" 2>&1 | tee "$php_out"
  php_rc=${PIPESTATUS[0]}
  # run-tests.php prints "Tests passed : N (...)" and "Tests failed : N (...)"
  p=$(grep -Eo '^Tests passed *: *[0-9]+' "$php_out" | grep -Eo '[0-9]+$' || echo 0)
  f=$(grep -Eo '^Tests failed *: *[0-9]+' "$php_out" | grep -Eo '[0-9]+$' || echo 0)
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$php_rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
  rm -f "$php_out"
fi

if [ -x php-ext/test-installed.sh ]; then
  echo "== php-ext against an installed libcacheclient"
  inst_out=$(php-ext/test-installed.sh "$PWD/build" 2>&1)
  inst_rc=$?
  printf '%s\n' "$inst_out"
  line=$(printf '%s\n' "$inst_out" | tail -n 1)
  p=$(printf '%s' "$line" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p')
  f=$(printf '%s' "$line" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p')
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-1}))
  if [ "$inst_rc" -ne 0 ] && [ "${f:-1}" -eq 0 ]; then failed=$((failed + 1)); fi
fi

# Every libFuzzer target for 12 s (clang build in build-fuzz; docs/reliability.md): a crash
# or sanitizer report fails it, and the crasher is kept under tests/fuzz/regress/.
if [ -x scripts/fuzz.sh ]; then
  echo "== fuzz targets, 12 s each"
  if ./scripts/fuzz.sh 12; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
