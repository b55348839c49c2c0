#!/bin/sh
# Build the PHP extension as a user would against an INSTALLED libcacheclient, and use it.
#
#   php-ext/test-installed.sh BUILD_DIR
#
# Installs BUILD_DIR (meson install --destdir) into a temporary root, builds the extension
# with phpize and ./configure --with-cacheclient=<that prefix> (only what libcacheclient
# installs: cacheclient.h, its protocol header and the shared library), loads it in php and
# makes real round trips (scalars, an array, a map, a miss, a pipeline, a msgpack-serialized
# object, a compressed string) against BUILD_DIR's
# cacheserverd. Its last line is "N passed, N failed".
set -u
if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "installed-library test: $1" >&2
    echo "0 passed, 1 failed"
    exit 1
}

meson install -C "$build" --destdir "$tmp/root" --no-rebuild >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "meson install failed"; }
prefix="$tmp/root$(meson introspect "$build" --buildoptions |
    php -r '$o = json_decode(stream_get_contents(STDIN), true);
            foreach ($o as $e) if ($e["name"] === "prefix") echo $e["value"];')"
[ -f "$prefix/include/cacheclient.h" ] || fail "no cacheclient.h under $prefix/include"

mkdir "$tmp/ext"
cp "$src"/config.m4 "$src"/*.c "$src"/*.h "$src"/*.stub.php "$tmp/ext"/
cd "$tmp/ext"
phpize >phpize.log 2>&1 || { cat phpize.log >&2; fail "phpize failed"; }
# no source tree: --with-cacheclient-src points nowhere useful on purpose
./configure --with-cacheclient="$prefix" --with-cacheclient-src=/nonexistent \
    >configure.log 2>&1 || { tail -20 configure.log >&2; fail "configure failed"; }
grep -q 'installed, in' configure.log || fail "configure did not take the installed library"
make -j2 >make.log 2>&1 || { grep -E 'error' make.log >&2; fail "make failed"; }

libdir=$(dirname "$(find "$prefix" -name 'libcacheclient.so' | head -n 1)")
sock="$tmp/cache.sock"
"$build/cacheserverd/cacheserverd" --socket "$sock" --data-dir "$tmp/data" \
    --log-file "$tmp/server.log" &
pid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$sock" ] || fail "cacheserverd did not start"

LD_LIBRARY_PATH="$libdir" php -n -d extension="$tmp/ext/modules/cacheclient.so" -r '
    $c = new CacheClient($argv[1]);
    $want = ["s" => "hello", "i" => -42, "f" => 1.5, "b" => true, "n" => null,
             "a" => [1, "two", [3.0]], "m" => ["x" => 1, "y" => ["z" => false]]];
    foreach ($want as $k => $v) $c->set($k, $v);
    $bad = 0;
    foreach ($want as $k => $v) {
        $got = $c->get($k);
        if ($got !== $v) { fwrite(STDERR, "$k: expected " . var_export($v, true) .
                                          ", got " . var_export($got, true) . "\n"); $bad++; }
    }
    if ($c->get("missing", $found) !== null || $found !== false) {
        fwrite(STDERR, "a miss is not null with \$found false\n"); $bad++;
    }
    /* the batch calls of the shared library (pipeline, getAndTouch) */
    $r = $c->pipeline(function ($p) {
        $p->set("p", 1, 60)->add("p", 2)->decrement("p")->ttl("p")->exists("p")->get("nope");
    });
    if ($r[0] !== true || $r[1] !== false || $r[2] !== 0 || !($r[3] > 59) || $r[4] !== true ||
        $r[5] !== null || $c->getAndTouch("p", 0) !== 0 || $c->ttl("p") !== null) {
        fwrite(STDERR, "pipeline: " . var_export($r, true) . "\n"); $bad++;
    }
    /* an object with the msgpack serializer, a string compressed at level 19 */
    $m = new CacheClient($argv[1], ["serializer" => "msgpack", "compression_threshold" => 10,
                                    "compression_level" => 19]);
    $o = new stdClass; $o->a = [1, "x"]; $o->b = new stdClass;
    $big = str_repeat("abc", 1000);
    $m->set("o", $o); $m->set("z", $big);
    if ($m->get("o") != $o || $c->get("z") !== $big) {
        fwrite(STDERR, "msgpack serializer / compression level round trip failed\n"); $bad++;
    }
    exit($bad ? 1 : 0);' "$sock" || fail "round trips through the installed library failed"
echo "installed-library test: phpize against $prefix, round trips OK"
echo "1 passed, 0 failed"
