#!/usr/bin/env bash
# A disk-bound load with promotion and demotion at once returns every value byte for byte
# (issue 16): a tiered server with 8 MiB of memory and 32 MiB of values, then 8 connections
# x pipeline 16 of 80% GET / 20% SET over all of them; cache-bench checks every value it
# reads against what it wrote for its key (a mismatch is exit 1). Twice: values that
# compress (zstd on disk) and random bytes that do not. The STATS deltas must show that the
# run did what it is for: disk hits, promotions and demotions. HARNESS_SERVER_ARGS (as for
# the C tests' harness) go to the server too: meson runs it again with the SSD tier on a
# value log small enough that its reclaim runs all along (tier_diskbound_vlog).
set -uo pipefail
: "${CACHESERVERD:?}" "${CACHE_BENCH:?}" "${CACHE_CLI:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/diskbound.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
# a counter from STATS (Prometheus names: counters end in _total); exits when it is not there
stat() {
  local v
  v=$("$CACHE_CLI" -s "$tmp/s.sock" stats --prometheus | awk -v k="cacheserverd_$1" '$1 == k { print $2 }')
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "FAIL: no stat $1 in STATS" >&2; exit 1; }
  echo "$v"
}
failed=0
for values in letters random; do
  rm -rf "$tmp/data" "$tmp/ssd"
  "$CACHESERVERD" --socket "$tmp/s.sock" --data-dir "$tmp/data" --memory 8MiB --threads 2 \
    --ssd-path "$tmp/ssd" --demote-unread true --tier-queue 100000 --log-file "$tmp/log" \
    ${HARNESS_SERVER_ARGS:-} &
  pid=$!
  for _ in $(seq 100); do [ -S "$tmp/s.sock" ] && break; sleep 0.1; done
  B=("$CACHE_BENCH" --socket "$tmp/s.sock" --keys 32768 --value-size 1024 --values "$values")
  if ! out=$("${B[@]}" --populate --mix get=0,set=100 --duration 0.2 --warmup 0 2>&1); then
    echo "FAIL $values: populate: $out"; failed=$((failed + 1))
  fi
  declare -A before
  watch=(ssd_hits_total promotions_total demotions_total)
  # on a value log, random bytes (32 MiB of them, more than its 16 MiB) make the reclaim
  # run during the load: segments emptied and removed (letters compress to ~4 MiB: it may not)
  [[ "${HARNESS_SERVER_ARGS:-}" == *vlog* && $values == random ]] && watch+=(vlog_segments_dropped_total)
  # and with reads on the workers, some were answered there
  [[ "${HARNESS_SERVER_ARGS:-}" == *"--vlog-inline-reads true"* ]] && watch+=(vlog_inline_reads_total)
  for s in "${watch[@]}"; do
    before[$s]=$(stat $s) || exit 1
  done
  if ! out=$("${B[@]}" --connections 8 --pipeline 16 --dist uniform --mix get=80,set=20 \
      --duration 4 --warmup 0 --json 2>&1); then
    echo "FAIL $values: cache-bench: $out"; failed=$((failed + 1))
  elif ! grep -q '"errors": 0, "mismatches": 0' <<<"$out"; then
    echo "FAIL $values: errors or mismatches: $out"; failed=$((failed + 1))
  fi
  for s in "${watch[@]}"; do
    now=$(stat $s) || exit 1
    d=$((now - before[$s]))
    echo "# $values: $s +$d"
    if [ "$d" -le 0 ]; then echo "FAIL $values: no $s during the run"; failed=$((failed + 1)); fi
  done
  [ "$(stat checksum_errors_total)" = 0 ] || { echo "FAIL $values: checksum errors"; failed=$((failed + 1)); }
  kill $pid; wait $pid; pid=
done
echo "$failed failed"
[ "$failed" -eq 0 ]
