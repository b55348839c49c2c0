#!/usr/bin/env bash
# Installs what building it needs (not the test and benchmark tools), builds, and runs cacheserverd in the foreground with the embedded
# default config (socket /run/cacheserverd/cacheserverd.sock, where cache-cli, libcacheclient
# and the PHP extension look by default; 256 MiB; data in ./run/data).
# Extra arguments go to cacheserverd, e.g. ./scripts/start.sh --memory 1GiB
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --build # only what the server needs; scripts/test.sh installs the rest
# without cmocka (not installed by --build) the tests are not configured here
tests=true
pkg-config --exists cmocka || tests=false
[ -f build/build.ninja ] || meson setup build -Dtests=$tests >/dev/null
ninja -C build >/dev/null
# Not root: the server cannot create /run/cacheserverd itself; make it (with sudo) owned by
# this user, unless the arguments choose another socket or a config file.
rundir=/run/cacheserverd
if [ "$(id -u)" -ne 0 ] && [ ! -w "$rundir" ] && [[ " $* " != *" --socket"* ]] &&
   [[ " $* " != *" --config"* ]]; then
  echo "start: creating $rundir for $(id -un) (sudo)" >&2
  sudo install -d -m 0755 -o "$(id -u)" -g "$(id -g)" "$rundir"
fi
exec ./build/cacheserverd/cacheserverd "$@"
