#!/bin/sh
# Build the PHP extension against a meson build of this project and run its tests.
#
#   php-ext/build-and-test.sh BUILD_DIR [run-tests.php arguments...]
#
# BUILD_DIR is a meson build directory (meson setup BUILD_DIR && ninja -C BUILD_DIR) holding
# libcacheclient/libcacheclient.a and cacheserverd/cacheserverd. The extension is built out of
# the source tree, in BUILD_DIR/php-ext (phpize, ./configure, make), and tested with
# run-tests.sh against BUILD_DIR/cacheserverd/cacheserverd. Nothing is installed.
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [run-tests.php args...]" >&2
    exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$src")
build=$(cd "$1" && pwd)
shift
for f in libcacheclient/libcacheclient.a cacheserverd/cacheserverd; do
    if [ ! -e "$build/$f" ]; then
        echo "$0: $build/$f is missing: build the project first (ninja -C $build)" >&2
        exit 1
    fi
done
for tool in phpize php-config php; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "$0: $tool not found: apt-get install php-dev php-cli" >&2
        exit 1
    fi
done

out="$build/php-ext"
mkdir -p "$out"
# Copy the sources (timestamps kept, so make rebuilds only what changed).
cp -p "$src"/config.m4 "$src"/*.c "$src"/*.h "$src"/*.stub.php "$src"/run-tests.sh "$out"/
rm -rf "$out/tests"
cp -Rp "$src/tests" "$out/tests"

cd "$out"
if [ ! -f configure ] || [ config.m4 -nt configure ]; then
    phpize >phpize.log 2>&1 || { cat phpize.log >&2; exit 1; }
    rm -f Makefile
fi
if [ ! -f Makefile ]; then
    ./configure --with-cacheclient="$build" --with-cacheclient-src="$root" >configure.log 2>&1 ||
        { tail -30 configure.log >&2; exit 1; }
fi
# libtool does not track the static library: relink when it changed.
if [ -f modules/cacheclient.so ] && [ "$build/libcacheclient/libcacheclient.a" -nt modules/cacheclient.so ]; then
    rm -f cacheclient.la modules/cacheclient.so
fi
make -j"$(nproc 2>/dev/null || echo 2)" >make.log 2>&1 || { grep -E 'error|Error' make.log >&2 || tail -30 make.log >&2; exit 1; }
grep -E 'warning:' make.log >&2 || true

EXT_BUILD_DIR="$out" exec ./run-tests.sh "$build/cacheserverd/cacheserverd" "$@"
