#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the benchmarks need, only those
# missing (so running it again is quick). Needs root or sudo when something is missing.
set -euo pipefail

# --build: only what building and running the server and cache-cli needs (scripts/start.sh);
# without it, everything the tests and the benchmarks need too (scripts/test.sh).
BUILD=(
  # build (gcc brings ThreadSanitizer's runtime, libtsan2, for scripts/tsan.sh)
  gcc meson ninja-build pkg-config python3
  libevent-dev libmsgpack-dev libzstd-dev librocksdb-dev libedit-dev
  libssl-dev openssl
)
PACKAGES=(
  "${BUILD[@]}"
  # the test suite's framework
  libcmocka-dev
  # tests (curl: the metrics-listen endpoint, tests/cli)
  curl
  # fuzzing (libFuzzer + sanitizer runtimes, scripts/fuzz.sh)
  clang libclang-rt-14-dev
  # php-ext (igbinary: the optional serializer; php-cgi + cgi-fcgi: the FastCGI tests;
  # php-fpm: a real FPM pool, tests/091_shm_fpm.phpt)
  php-dev php-cli php-igbinary php-cgi php-fpm libfcgi-bin
  # bench: the servers we compare with, and the PHP extensions bench/php compares with
  redis-server memcached php-apcu php-memcached php-redis
  # bench/checksum: XXH3, measured against CRC-32C for the values' checksums
  libxxhash-dev
)

if [ "${1:-}" = "--build" ]; then PACKAGES=("${BUILD[@]}"); fi
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts these services on install; the bench starts its own on temporary sockets.
for svc in redis-server memcached; do
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done
