#!/bin/sh
# PHP client benchmark: this extension (reading the shared-memory region, and through the socket
# only) vs APCu, php-memcached (memcached) and phpredis (Redis), all servers on Unix sockets in
# a temporary directory.
#
#   [PIN="0 1"] bench/php/run.sh BUILD_DIR [bench.php options, e.g. --iterations=50000 --markdown]
#
# BUILD_DIR is a meson build of this project where php-ext/build-and-test.sh has built the
# extension (BUILD_DIR/php-ext/modules/cacheclient.so) and BUILD_DIR/cacheserverd/cacheserverd.
# Needs (Debian): php-cli php-apcu php-memcached php-redis memcached redis-server; the ones
# missing are left out of the comparison.
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [bench.php options]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
ext="$build/php-ext/modules/cacheclient.so"
server="$build/cacheserverd/cacheserverd"
for f in "$ext" "$server"; do
    [ -e "$f" ] || { echo "$0: $f missing (ninja -C BUILD_DIR && php-ext/build-and-test.sh BUILD_DIR)" >&2; exit 1; }
done

# PIN="C S": the PHP process on CPU C, every server on CPU S (taskset); unset: not pinned
srv_pin="" php_pin=""
if [ -n "${PIN:-}" ]; then
    php_pin="taskset -c ${PIN%% *}"
    srv_pin="taskset -c ${PIN##* }"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ccbench.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

$srv_pin "$server" --socket "$tmp/cc.sock" --data-dir "$tmp/data" --log-file "$tmp/cc.log" >/dev/null 2>&1 &
pids="$pids $!"
# the same server with shm-reads off: every read through the socket
$srv_pin "$server" --socket "$tmp/ccs.sock" --data-dir "$tmp/data-s" --log-file "$tmp/ccs.log" \
    --shm-reads false >/dev/null 2>&1 &
pids="$pids $!"
args="--cacheclient=$tmp/cc.sock --cacheclient-socket=$tmp/ccs.sock"

extdir=$(php -r 'echo ini_get("extension_dir");')
ini="-n -d extension=$ext"
# APCu in the CLI (its real home is PHP-FPM: the numbers are the same per call)
if [ -f "$extdir/apcu.so" ]; then
    ini="$ini -d extension=$extdir/apcu.so -d apc.enable_cli=1 -d apc.shm_size=64M"
fi
if command -v memcached >/dev/null 2>&1 && [ -f "$extdir/memcached.so" ]; then
    $srv_pin memcached -s "$tmp/mc.sock" -a 0700 -m 64 -U 0 -u "$(id -un)" >/dev/null 2>&1 &
    pids="$pids $!"
    for e in igbinary msgpack memcached; do
        [ -f "$extdir/$e.so" ] && ini="$ini -d extension=$extdir/$e.so"
    done
    args="$args --memcached=$tmp/mc.sock"
fi
if command -v redis-server >/dev/null 2>&1 && [ -f "$extdir/redis.so" ]; then
    $srv_pin redis-server --port 0 --unixsocket "$tmp/redis.sock" --save '' --appendonly no \
        --dir "$tmp" >/dev/null 2>&1 &
    pids="$pids $!"
    case "$ini" in *igbinary.so*) ;; *) [ -f "$extdir/igbinary.so" ] && ini="$ini -d extension=$extdir/igbinary.so" ;; esac
    ini="$ini -d extension=$extdir/redis.so"
    args="$args --redis=$tmp/redis.sock"
fi

# wait for the sockets
for s in cc ccs mc redis; do
    case "$args" in *"$tmp/$s.sock"*) ;; *) continue ;; esac
    i=0
    until [ -S "$tmp/$s.sock" ]; do
        i=$((i + 1)); [ $i -gt 200 ] && { echo "$0: $s did not start" >&2; exit 1; }
        sleep 0.05
    done
done
sleep 0.2

# shellcheck disable=SC2086
$php_pin php $ini "$here/bench.php" $args "$@"
