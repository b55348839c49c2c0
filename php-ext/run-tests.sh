#!/bin/sh
# Run the extension's .phpt tests against a real cacheserverd.
#
#   php-ext/run-tests.sh CACHESERVERD [run-tests.php arguments...]
#
# Run from a phpize'd and built extension directory (where `make` left modules/cacheclient.so)
# or set EXT_BUILD_DIR to it. Starts CACHESERVERD on a socket in a temporary directory,
# runs `make test` with the socket in CACHECLIENT_TEST_SOCKET (and as cacheclient.socket),
# stops the server and exits with the tests' status. Environment:
#   CACHE_CLI      cache-cli binary, for the interop test (default: next to the server's build)
#   TEST_VALGRIND  1 = run every test under valgrind (run-tests.php -m)
#   TESTS          tests to run (default: all)
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 CACHESERVERD [run-tests.php args...]" >&2
    exit 2
fi
server=$(realpath "$1")
shift
if [ ! -x "$server" ]; then
    echo "$0: $server is not an executable cacheserverd" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=${EXT_BUILD_DIR:-$(pwd)}
if [ ! -f "$build/modules/cacheclient.so" ] || [ ! -f "$build/Makefile" ]; then
    echo "$0: no built extension in $build (phpize && ./configure && make first, or set EXT_BUILD_DIR)" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cacheclient-phpt.XXXXXX")
sock="$tmp/cache.sock"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    # private servers of tests that died before stopping them (tests/setup.inc CcServer)
    for f in "$tmp"/t/ccphp.*/server.pid; do
        [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# 512 MiB of memory: the stream test stores a 100 MiB value.
"$server" --socket "$sock" --data-dir "$tmp/data" --log-file "$tmp/server.log" \
    --memory 512MiB >"$tmp/server.out" 2>&1 &
pid=$!

php=${PHP_EXECUTABLE:-$(command -v php)}
i=0
until "$php" -n -d extension="$build/modules/cacheclient.so" -r '
        try { (new CacheClient($argv[1], ["connect_timeout" => 0.2]))->ping(); exit(0); }
        catch (Throwable $e) { exit(1); }' "$sock" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "$0: cacheserverd did not start; its output:" >&2
        cat "$tmp/server.out" "$tmp/server.log" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 0.05
done

if [ -z "${CACHE_CLI:-}" ]; then
    cli=$(dirname "$(dirname "$server")")/cli/cache-cli
    [ -x "$cli" ] && CACHE_CLI=$cli
fi
mkdir "$tmp/t"
export TMPDIR="$tmp/t"   # the tests' temporary files and private servers live here
export CACHECLIENT_TEST_SOCKET="$sock"
export CACHESERVERD="$server"
export CACHE_CLI="${CACHE_CLI:-}"
export NO_INTERACTION=1
export REPORT_EXIT_STATUS=1

args="-q --show-diff -d cacheclient.socket=$sock"
igb=$("$php" -r 'echo ini_get("extension_dir");')/igbinary.so
[ -f "$igb" ] && args="$args -d extension=$igb"
[ "${TEST_VALGRIND:-0}" = 1 ] && args="$args -m"
[ $# -gt 0 ] && args="$args $*"

status=0
# run-tests.php runs a failed test again when it calls usleep(), hrtime() and the like, and
# counts a pass on that retry as a warning only: here it is a failure (a stale read on the
# first attempt of 091_shm_fpm must not pass on the second).
{ TEST_PHP_ARGS="$args" make -C "$build" test TESTS="${TESTS:-$here/tests}"; echo $? >"$tmp/rc"; } 2>&1 |
    tee "$tmp/run.out"
status=$(cat "$tmp/rc")
if grep -q "passed on retry" "$tmp/run.out"; then
    echo "$0: a test failed and passed only when run-tests.php ran it again (above): failed" >&2
    grep "passed on retry" "$tmp/run.out" >&2
    status=1
fi
if ! kill -0 "$pid" 2>/dev/null; then
    echo "$0: cacheserverd died during the tests; its log:" >&2
    tail -50 "$tmp/server.log" >&2 || true
    status=1
fi
exit $status
