#!/usr/bin/env bash
# The soak (issue 14, docs/reliability.md "Soak"): one cacheserverd with an SSD tier and
# async persistence under a mixed load of clients that connect and leave, a SIGHUP every
# minute and a clean restart every SOAK_RESTART_S seconds (default 300; 0: never), for
# DURATION seconds (default 1800). Every value read is checked by cache-bench against what was
# written. After each process's warm-up (SOAK_WARMUP_S, default 180: the 64 MiB of items,
# RocksDB's memtables and block cache and malloc's arenas fill in two to nine minutes,
# slower on a loaded machine) or halfway through its life, whichever is later, its RSS must
# stay within 10% of the level it reached then, and its threads and open file descriptors
# must not grow (counted once the round's clients are gone; RocksDB's files, which come and
# go with flushes and compactions, are counted apart and not checked). Prints one line per round and a summary; exits 1 on any failure. Server
# on CPU 1, load on CPU 0. Needs a built tree.
#   [SOAK_RESTART_S=0] [SOAK_WARMUP_S=180] scripts/soak.sh [DURATION-SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-1800}"
RESTART_S="${SOAK_RESTART_S:-300}"
WARMUP_S="${SOAK_WARMUP_S:-180}"
# The level each process is held to: its RSS at the warm-up's end or halfway through its life,
# whichever comes later (a loaded machine warms up slower: ~9 minutes at ~10k ops/s).
LIFE_S=$DURATION
[ "$RESTART_S" -gt 0 ] && [ "$RESTART_S" -lt "$DURATION" ] && LIFE_S=$RESTART_S
BASE_S=$(( LIFE_S / 2 > WARMUP_S ? LIFE_S / 2 : WARMUP_S ))
B="${BUILD:-build}"
[ -x "$B/bench/cache-bench" ] || { echo "soak: build first (ninja -C $B)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/soak.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
sock="$tmp/cache.sock"

start() {
  rm -f "$sock"
  taskset -c 1 "$B/cacheserverd/cacheserverd" --socket "$sock" --data-dir "$tmp/data" \
    --threads 2 --memory 64MiB --ssd-path "$tmp/ssd" --persist async \
    --log-file "$tmp/server.log" >/dev/null &
  pid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.1; done
  echo "soak: the server did not start" >&2
  tail -5 "$tmp/server.log" >&2
  exit 1
}
stop() { kill "$pid"; wait "$pid" || { echo "soak: the server exited with $?" >&2; exit 1; }; pid=; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
threads() { awk '/^Threads/ { print $2 }' "/proc/$pid/status"; }
# Wait (up to 3 s) until the round's clients are gone: only the asking connection is open,
# so the fds counted below are the server's own.
idle() {
  local n
  for _ in $(seq 30); do
    n=$("$B/cli/cache-cli" -s "$sock" stats --json 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"])' 2>/dev/null || echo 99)
    [ "$n" -le 1 ] && return 0
    sleep 0.1
  done
}
# open fds but RocksDB's files (its tables, logs, manifest and directories come and go with
# flushes and compactions), and those apart
fds() { find "/proc/$pid/fd" -mindepth 1 -printf '%l\n' | grep -cv "^$tmp/\(ssd\|data\)" || true; }
dbfds() { find "/proc/$pid/fd" -mindepth 1 -printf '%l\n' | grep -c "^$tmp/\(ssd\|data\)" || true; }

failed=0
fail() { echo "soak: FAIL: $*"; failed=1; }

start
t0=$(date +%s)
life_t0=$t0
last_hup=$t0
base_rss= base_fds= base_threads=
rounds=0 reads_checked=0
echo "soak: $DURATION s, server pid $pid (CPU 1), load on CPU 0, data in $tmp"
while [ $(( $(date +%s) - t0 )) -lt "$DURATION" ]; do
  rounds=$((rounds + 1))
  # 1..16 connections, a new set every round (clients connect and leave)
  conns=$(( (rounds * 7) % 16 + 1 ))
  out=$(taskset -c 0 "$B/bench/cache-bench" --socket "$sock" --connections "$conns" \
          --threads 1 --keys 200000 --value-size 16..4096 --mix get=70,set=20,del=5,incr=5 \
          --duration 10 --warmup 0 --json) || fail "round $rounds: cache-bench reported errors or mismatches"
  ops=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["ops"]))' 2>/dev/null || echo 0)
  reads_checked=$((reads_checked + ops))
  idle
  now=$(date +%s)
  r=$(rss_kb) f=$(fds) th=$(threads) db=$(dbfds)
  rdb=$("$B/cli/cache-cli" -s "$sock" stats --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("tier_rocksdb_bytes", 0) // 1024)' \
    2>/dev/null || echo 0)
  printf 'round %4d  t=%5ds  conns %2d  ops %8s  rss %6d KiB (RocksDB %6d)  fds %3d (+%d RocksDB)  threads %2d\n' \
    "$rounds" $((now - t0)) "$conns" "$ops" "$r" "$rdb" "$f" "$db" "$th"
  if [ $((now - life_t0)) -ge "$BASE_S" ]; then
    if [ -z "$base_rss" ]; then
      base_rss=$r base_fds=$f base_threads=$th # the level after warm-up
    else
      [ "$r" -gt $((base_rss * 110 / 100)) ] && fail "rss $r KiB is over 10% above $base_rss KiB"
      [ "$f" -gt "$base_fds" ] && fail "open fds grew from $base_fds to $f"
      [ "$th" -gt "$base_threads" ] && fail "threads grew from $base_threads to $th"
    fi
  fi
  if [ $((now - last_hup)) -ge 60 ]; then
    kill -HUP "$pid"
    last_hup=$now
  fi
  if [ "$RESTART_S" -gt 0 ] && [ $((now - life_t0)) -ge "$RESTART_S" ] &&
     [ $((now - t0)) -lt "$DURATION" ]; then
    stop
    start
    echo "restarted (clean), new pid $pid"
    life_t0=$(date +%s)
    base_rss= base_fds= base_threads=
  fi
done
grep -q "SIGHUP: log file reopened" "$tmp/server.log" || [ "$DURATION" -lt 60 ] ||
  fail "no SIGHUP was logged"
stop
echo "soak: $rounds rounds, $reads_checked operations (every read checked), $((failed == 0 ? 0 : 1)) failure(s)"
exit "$failed"
