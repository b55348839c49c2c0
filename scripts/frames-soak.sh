#!/usr/bin/env bash
# Does the release server's RSS level off under fuzzed frames, or leak? (issue 14;
# docs/reliability.md, "RSS under fuzzed frames"). A documented long run, not in
# scripts/test.sh.
#
# One release cacheserverd, memory only (64 MiB, no disk tier), on CPU 1; on CPU 0,
# scripts/frames-replay.py replays every input of the frames fuzz corpus (copied at start
# from FRAMES_CORPUS, else build-fuzz/corpus/frames, /work/main/build-fuzz/corpus/frames or
# the seeds in tests/fuzz/corpus/frames, the first that exists) over a fresh connection each,
# in a loop, at most FRAMES_RATE inputs/s (default 2000), for SECONDS (default 3600). Every
# 30 s: elapsed time, inputs sent, VmRSS (anonymous and file-backed apart), threads, fds,
# items. Then SIGTERM (the server must exit 0) and the verdict: the RSS levels off when every
# sample of the second half stays within 5% of that half's first one; otherwise it prints the
# growth per million inputs (it needs 4 samples: a run of 90 s or more). Exit 1 on a crash,
# a non-zero exit or growth.
# BUILD (default build-release) is set up and built when needed. MALLOC_* variables (glibc's
# tunables, to compare) reach the server.
#   [BUILD=build-release] [FRAMES_RATE=2000] [FRAMES_CORPUS=DIR] scripts/frames-soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN="${1:-3600}"
RATE="${FRAMES_RATE:-2000}"
B="${BUILD:-build-release}"
# the corpus scripts/fuzz.sh grew here, else the main checkout's, else the seeds
CORPUS="${FRAMES_CORPUS:-}"
for c in build-fuzz/corpus/frames /work/main/build-fuzz/corpus/frames tests/fuzz/corpus/frames; do
  [ -n "$CORPUS" ] || { [ -d "$c" ] && CORPUS=$c; }
done
[ -d "$CORPUS" ] || { echo "frames-soak: no corpus at '$CORPUS'" >&2; exit 2; }

[ -d "$B" ] || meson setup "$B" --buildtype=release -Dtests=false
ninja -C "$B" -j2 cacheserverd/cacheserverd >/dev/null # a no-op when it is up to date
if [ "$(meson introspect "$B" --buildoptions 2>/dev/null |
        python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"][0])' 2>/dev/null)" != release ]; then
  echo "frames-soak: warning: $B is not a release build" >&2
fi

tmp=$(mktemp -d /tmp/frames-soak.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
sock="$tmp/cache.sock"
# running, not a zombie waiting for its status (kill -0 succeeds on those)
running() { [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"; }
mkdir "$tmp/corpus"
cp "$CORPUS"/. "$tmp/corpus/" -r
echo "frames-soak: $(find "$tmp/corpus" -type f | wc -l) inputs from $CORPUS, $SECONDS_RUN s, at most $RATE/s, in $tmp"

taskset -c 1 "$B/cacheserverd/cacheserverd" --socket "$sock" --data-dir "$tmp/data" \
  --threads 2 --memory 64MiB --log-file "$tmp/server.log" >/dev/null 2>"$tmp/server.err" &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "frames-soak: the server did not start" >&2; cat "$tmp/server.err" >&2; exit 1; }
echo "frames-soak: server pid $pid (CPU 1), replay on CPU 0"

rc=0
taskset -c 0 python3 scripts/frames-replay.py --socket "$sock" --pid "$pid" \
  --corpus "$tmp/corpus" --seconds "$SECONDS_RUN" --rate "$RATE" --interval 30 \
  --samples "$tmp/samples" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "frames-soak: FAIL: the replay stopped (exit $rc)"
  if ! running; then
    st=0; wait "$pid" || st=$?; pid=
    echo "frames-soak: FAIL: the server exited with status $st"
  fi
  tail -20 "$tmp/server.log" "$tmp/server.err" 2>/dev/null
  exit 1
fi

kill -TERM "$pid"
st=0
for _ in $(seq 300); do running || break; sleep 0.1; done
if running; then
  echo "frames-soak: FAIL: the server did not exit 30 s after SIGTERM"
  kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; pid=
  exit 1
fi
wait "$pid" || st=$?
pid=
if [ "$st" -ne 0 ]; then
  echo "frames-soak: FAIL: the server exited with status $st after SIGTERM"
  tail -20 "$tmp/server.log" "$tmp/server.err" 2>/dev/null
  exit 1
fi
echo "frames-soak: the server exited 0 after SIGTERM"
python3 scripts/frames-replay.py --verdict "$tmp/samples" --base-s 600
