#!/usr/bin/env bash
# cache-bench checks every value it reads: a run that reads values of another size than it
# wrote must count mismatches and exit 1; a consistent run exits 0 with no errors; a server
# that is not there is an error (exit 1), bad options are exit 2.
set -uo pipefail
: "${CACHESERVERD:?}" "${CACHE_BENCH:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-verify.XXXXXX")
"$CACHESERVERD" --socket "$tmp/s.sock" --data-dir "$tmp/data" --memory 32MiB --threads 1 \
  --log-file "$tmp/log" & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -S "$tmp/s.sock" ] && break; sleep 0.1; done
passed=0 failed=0
expect() { # NAME WANT_RC GREP_PATTERN_IN_OUTPUT -- CMD...
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" = "$want" ] && grep -Eq -- "$pat" <<<"$out"; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL $name: rc=$rc want $want; output: $out"; fi
}
B=("$CACHE_BENCH" --socket "$tmp/s.sock" --keys 500 --duration 0.5 --warmup 0)
expect "consistent run" 0 '"errors": 0, "mismatches": 0' -- "${B[@]}" --value-size 100 --populate --json
expect "hits counted" 0 '"hits": [1-9]' -- "${B[@]}" --value-size 100 --mix get=100 --json
expect "other size is a mismatch" 1 'mismatches; first: value of key' -- "${B[@]}" --value-size 200 --mix get=100
expect "pipelined and multi-get checked too" 1 'mismatches' -- "${B[@]}" --value-size 200 --mix get=100 --pipeline 8 --mget 5
# cache-aside: every miss is filled, so a second pass over fresh keys only hits
expect "fill-misses fills" 0 '"misses": [1-9]' -- "${B[@]}" --keys 100 --prefix fm --value-size 100 --mix get=100 --fill-misses --json
expect "filled keys hit" 0 '"misses": 0,' -- "${B[@]}" --keys 100 --prefix fm --value-size 100 --mix get=100 --json
expect "fill-misses needs pipeline 1" 2 'fill-misses' -- "${B[@]}" --fill-misses --pipeline 4
expect "no server" 1 'no connection could be made' -- "$CACHE_BENCH" --socket "$tmp/none.sock" --duration 0.2
expect "bad option" 2 'value-size' -- "${B[@]}" --value-size 4
expect "plot" 0 '' -- bash -c "\"$CACHE_BENCH\" --socket \"$tmp/s.sock\" --keys 500 --duration 0.3 --value-size 100 --json > \"$tmp/a.json\" && \"$CACHE_BENCH\" plot \"$tmp/a.svg\" \"$tmp/a.json\" && grep -c polyline \"$tmp/a.svg\""
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
