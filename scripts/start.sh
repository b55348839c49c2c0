#!/usr/bin/env bash
# Installs what is missing, builds, and runs cacheserverd in the foreground with the embedded
# default config (socket ./run/cacheserverd.sock, 256 MiB, data in ./run/data).
# Extra arguments go to cacheserverd, e.g. ./scripts/start.sh --memory 1GiB
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec ./build/cacheserverd/cacheserverd "$@"
