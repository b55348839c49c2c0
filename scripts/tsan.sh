#!/usr/bin/env bash
# ThreadSanitizer: builds build-tsan (gcc, -Db_sanitize=thread) and runs the tests that
# exercise threads in it; prints meson's summary and exits non-zero when a test fails. A
# TSan report in a test or in the server it runs fails that test: TSAN_OPTIONS (test_env in
# tests/meson.build) has halt_on_error=1 and tests/tsan.supp, and a server that stops on a
# report exits 66, which the harness counts as a failure (docs/reliability.md).
#
#   scripts/tsan.sh                  every threaded test (what scripts/test.sh runs)
#   scripts/tsan.sh core_conns ...   only those (meson test names; --list shows them)
#   scripts/tsan.sh --list           the default selection, one name a line
#   scripts/tsan.sh --all            the default selection and the tests it leaves out for
#                                    the suite's time (SKIP_FOR_TIME below; about 4 minutes more)
#
# The default selection: the server, client and core suites (real cacheserverd processes:
# workers, the tiers' writer, reader and restore threads, the replication link thread, the
# sweeper), every tier_ and repl_ test, and the unit and script tests that start threads
# (store, store_shm, common_histogram, harness_faultproxy, cli, bench_verify). Left out: server_memory
# (it bounds the server's RSS, which TSan's shadow memory multiplies), crash_sync_vlog (the
# log's threads run here in tier_diskbound_vlog and tier_vlog_server), bench_compare_quick
# (mostly redis and memcached), the fuzz_ replays and the other single-threaded unit tests.
# Left out for the suite's 20 minutes (SKIP_FOR_TIME; --all runs them): crash_sync and
# crash_async (kill loops: a SIGKILLed server never writes its report, and the restarts'
# threads run in tier_persist), membership (the same link and sweep threads as repl_cluster,
# through four clusters and restarts) and integrity_checksums (FAULT flips value bytes that
# readers may be copying: a race by design).
# NINJA_JOBS=N limits the build's parallelism.
set -uo pipefail
cd "$(dirname "$0")/.."

DIR=build-tsan
EXTRA=(store store_shm common_histogram harness_faultproxy cli bench_verify)
SKIP=(server_memory crash_sync_vlog)
SKIP_FOR_TIME=(crash_sync crash_async membership integrity_checksums)
if [ "${1:-}" = "--all" ]; then
  shift
else
  SKIP+=("${SKIP_FOR_TIME[@]}")
fi

if [ ! -f "$DIR/build.ninja" ]; then
  # debugoptimized (-O2 -g), as TSan's authors advise: its tests took 372 s instead of 423
  meson setup "$DIR" -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized -Dfuzz=false \
    -Dfault_injection=true \
    >/dev/null || { echo "tsan: meson setup $DIR failed"; exit 2; }
else
  meson configure "$DIR" -Dfault_injection=true -Dbuildtype=debugoptimized >/dev/null
fi
# scripts/test.sh counts $DIR's testlog.json: never a stale one after a failed build
rm -f "$DIR/meson-logs/testlog.json"
if ! ninja -C "$DIR" ${NINJA_JOBS:+-j "$NINJA_JOBS"} >"$DIR.ninja.log" 2>&1; then
  cat "$DIR.ninja.log"; echo "tsan: build $DIR failed"; exit 2
fi

# gcc 12's TSan runtime maps its shadow at fixed addresses; with more mmap randomization
# than it expects (vm.mmap_rnd_bits 32 on newer kernels) a binary dies at start with
# "FATAL: ThreadSanitizer: unexpected memory mapping". Then run the tests with ASLR off
# (setarch -R, inherited by the servers they start).
RUN=()
if "$DIR/cacheserverd/cacheserverd" --version 2>&1 | grep -q "unexpected memory mapping"; then
  echo "tsan: TSan cannot start with this kernel's ASLR; running the tests under setarch -R"
  RUN=(setarch "$(uname -m)" -R)
fi

selection() {
  {
    meson test -C "$DIR" --list --no-rebuild --suite server --suite client --suite core \
      2>/dev/null | sed -n 's|.* / ||p'
    printf '%s\n' "${EXTRA[@]}"
    meson test -C "$DIR" --list --no-rebuild 2>/dev/null | sed -n 's|.* / \(tier_.*\)|\1|p;s|.* / \(repl_.*\)|\1|p'
  } | grep -vxF -f <(printf '%s\n' "${SKIP[@]}") | sort -u
}

if [ "${1:-}" = "--list" ]; then
  selection
  exit 0
fi
if [ $# -gt 0 ]; then
  TESTS=("$@")
else
  mapfile -t TESTS < <(selection)
fi
[ ${#TESTS[@]} -gt 0 ] || { echo "tsan: no tests selected"; exit 2; }

echo "== ThreadSanitizer: ${#TESTS[@]} tests in $DIR"
"${RUN[@]}" meson test -C "$DIR" --no-rebuild --print-errorlogs --num-processes 2 \
  --timeout-multiplier 3 "${TESTS[@]}"
