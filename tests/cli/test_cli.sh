#!/usr/bin/env bash
# Drives cache-cli ($CACHE_CLI) against a real cacheserverd ($CACHESERVERD) started on a
# temporary socket: every command, what it prints, its exit code (0 ok, 1 miss, 2 error),
# the interactive mode fed from a pipe, and that the server still answers afterwards.
# Prints one line per failed check and ends with "N passed, N failed".
set -uo pipefail
: "${CACHESERVERD:?set CACHESERVERD to the server binary}"
: "${CACHE_CLI:?set CACHE_CLI to the cache-cli binary}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli-test.XXXXXX")
sock="$tmp/cache.sock"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$CACHESERVERD" --socket "$sock" --data-dir "$tmp/data" --memory 32MiB --threads 2 \
  --log-file "$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do
  "$CACHE_CLI" -s "$sock" ping >/dev/null 2>&1 && break
  sleep 0.1
done

passed=0
failed=0
cli() { "$CACHE_CLI" -s "$sock" "$@"; }

# check NAME EXPECTED_RC EXPECTED_STDOUT -- COMMAND...   (stdout compared exactly)
check() {
  local name="$1" want_rc="$2" want_out="$3"; shift 4
  local out rc
  out=$("$@" 2>"$tmp/stderr"); rc=$?
  if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: rc=$rc (want $want_rc)"
    echo "  stdout: $(printf '%q' "$out")"
    echo "  want:   $(printf '%q' "$want_out")"
    echo "  stderr: $(head -c 300 "$tmp/stderr")"
  fi
}
# check_err NAME EXPECTED_RC STDERR_REGEX -- COMMAND...
check_err() {
  local name="$1" want_rc="$2" pattern="$3"; shift 4
  local rc
  "$@" >/dev/null 2>"$tmp/stderr"; rc=$?
  if [ "$rc" = "$want_rc" ] && grep -Eq -- "$pattern" "$tmp/stderr"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: rc=$rc (want $want_rc), stderr: $(head -c 300 "$tmp/stderr")"
  fi
}

# --- basics
check "ping" 0 "PONG" -- cli ping
check "help lists commands" 0 "$("$CACHE_CLI" --help | grep -c getrange)" -- bash -c "\"$CACHE_CLI\" --help | grep -c getrange"
check_err "server down: connect error names the socket" 2 "E_CONNECT \(200\).*$tmp/none.sock" -- "$CACHE_CLI" -s "$tmp/none.sock" -t 200 ping

# --- set / get and types
check "set" 0 "OK" -- cli set greeting "hello world"
check "get" 0 "hello world" -- cli get greeting
check "get --raw has no newline" 0 "hello world" -- cli get --raw greeting
check "get --meta" 0 "$(printf 'type: bytes\nttl: -1\nversion: %s\nlength: 11\nvalue: hello world' \
  "$(cli get --meta greeting | sed -n 's/^version: //p')")" -- cli get --meta greeting
check "get miss" 1 "" -- cli get missing
check_err "get miss says so" 1 "not found" -- cli get missing
check "set from stdin keeps bytes" 0 "OK" -- bash -c "printf 'line1\nline2\n' | \"$CACHE_CLI\" -s \"$sock\" set multi"
check "stdin value read back" 0 "$(printf 'line1\nline2\n')" -- cli get multi
check "set int" 0 "OK" -- cli set i 42 --type int
check "int type" 0 "int" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" get --meta i | sed -n 's/^type: //p'"
check "set float" 0 "OK" -- cli set f 2.5 --type float
check "get float" 0 "2.5" -- cli get f
check "set bool" 0 "OK" -- cli set b true --type bool
check "get bool" 0 "true" -- cli get b
check "set null" 0 "OK" -- cli set z --type null
check "get null" 0 "null" -- cli get z
check "set json" 0 "OK" -- cli set doc '{"name":"ada","tags":["x","y"],"n":[1,-2,3.5],"ok":false,"nil":null,"esc":"a\"b\u00e9"}' --type json
check "get json" 0 '{"name": "ada", "tags": ["x", "y"], "n": [1, -2, 3.5], "ok": false, "nil": null, "esc": "a\"bé"}' -- cli get doc
check "json type is map" 0 "map" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" get --meta doc | sed -n 's/^type: //p'"
check_err "bad json" 2 "invalid JSON at byte 8: object key must be a string" -- cli set bad '{"a": 1,}' --type json
deep=$(printf '[%.0s' $(seq 40))$(printf ']%.0s' $(seq 40))
check_err "json deeper than 32 refused" 2 "nested deeper than 32" -- cli set deep "$deep" --type json
check_err "bad int" 2 "signed 64-bit integer" -- cli set i2 12x --type int
check_err "unknown type" 2 "unknown --type" -- cli set i2 1 --type blob
check_err "unknown option" 2 "unknown option --bogus" -- cli set k v --bogus
check_err "missing key" 2 "usage: cache-cli get" -- cli get
check_err "unknown command" 2 "unknown command 'frobnicate'" -- cli frobnicate
long_key=$(head -c 9000 /dev/zero | tr '\0' k)
check_err "key too long" 2 "E_KEY_TOO_LONG \(103\)" -- cli set "$long_key" v

# --- NX / XX / CAS
check "nx on existing" 1 "" -- cli set greeting other --nx
check "xx on missing" 1 "" -- cli set nothere v --xx
check "nx on new" 0 "OK" -- cli set fresh v --nx
ver=$(cli get --meta fresh | sed -n 's/^version: //p')
check "cas mismatch" 1 "" -- cli set fresh w --cas $((ver + 1000))
check "cas match" 0 "OK" -- cli set fresh w --cas "$ver"
check "cas wrote" 0 "w" -- cli get fresh

# --- ttl / touch
check "set with ttl" 0 "OK" -- cli set t v --ttl 100
check "ttl" 0 "1" -- bash -c "v=\$(\"$CACHE_CLI\" -s \"$sock\" ttl t); awk -v v=\"\$v\" 'BEGIN{print (v>99 && v<=100)}'"
check "ttl none" 0 "-1" -- cli ttl greeting
check "get --meta ttl as ttl prints it (seconds)" 0 "1" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" get --meta t | grep -Ec '^ttl: (99[.][0-9]{3}|100)\$'"
check "ttl miss" 1 "" -- cli ttl missing
check "touch" 0 "OK" -- cli touch greeting 2h
check "ttl after touch" 0 "1" -- bash -c "v=\$(\"$CACHE_CLI\" -s \"$sock\" ttl greeting); awk -v v=\"\$v\" 'BEGIN{print (v>7100 && v<=7200)}'"
check_err "bad ttl" 2 "ttl must be" -- cli touch greeting 5parsecs
check "short ttl" 0 "OK" -- cli set brief v --ttl 150ms
sleep 0.3
check "expired" 1 "" -- cli get brief
check_err "ttl above 100 years refused" 2 "E_BAD_ARGS \(102\).*maximum" -- cli set far v --ttl 40000d
check "nothing written" 1 "" -- cli get far
check_err "touch above 100 years refused" 2 "E_BAD_ARGS \(102\).*maximum" -- cli touch greeting 9000000000000000ms

# --- counters
check "incr missing starts at delta" 0 "1" -- cli incr visits
check "incr" 0 "11" -- cli incr visits 10
check "decr negative delta" 0 "16" -- cli decr visits -5
check "decr" 0 "15" -- cli decr visits
check "incr --initial" 0 "105" -- cli incr fromhundred 5 --initial 100
check "decr missing starts at -delta" 0 "-3" -- cli decr downward 3
check "decr --initial" 0 "7" -- cli decr fromten 3 --initial 10
check "incr bytes number" 0 "OK" -- cli set strnum 41
check "incr converts" 0 "42" -- cli incr strnum
check_err "incr on text" 2 "E_TYPE \(106\)" -- cli incr greeting
check "set max" 0 "OK" -- cli set big 9223372036854775807 --type int
check_err "overflow" 2 "E_OVERFLOW \(107\)" -- cli incr big
check "unchanged after overflow" 0 "9223372036854775807" -- cli get big

# --- streams
check "append creates" 0 "5" -- cli append log hello
check "append" 0 "11" -- cli append log " world"
check "getrange" 0 "lo wo" -- cli getrange log 3 5
check "getrange past end" 0 "" -- cli getrange log 100 5
check "strlen" 0 "11" -- cli strlen log
head -c 3000000 /dev/urandom >"$tmp/blob"
check "append from stdin in chunks" 0 "3000011" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" append log <\"$tmp/blob\""
check "stream content" 0 "ok" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" getrange --raw log 11 3000000 | cmp -s - \"$tmp/blob\" && echo ok"
check_err "getrange on int" 2 "E_TYPE" -- cli getrange i 0 1
check "strlen miss" 1 "" -- cli strlen missing

# --- multi-key
check "mget" 0 "$(printf 'OK\nhello world')" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" set m1 OK >/dev/null && \"$CACHE_CLI\" -s \"$sock\" mget m1 greeting"
check "mget with miss" 1 "$(printf 'OK\n(not found)')" -- cli mget m1 missing
check "mget --json" 1 "$(printf '{"key": "m1", "found": true, "value": "OK"}\n{"key": "missing", "found": false}\n{"key": "i", "found": true, "value": 42}')" -- cli mget --json m1 missing i
check "mget --json: a stored null is not a miss" 1 "$(printf '{"key": "z", "found": true, "value": null}\n{"key": "missing", "found": false}')" -- cli mget --json z missing
check "mget --json: all hits exit 0" 0 '{"key": "z", "found": true, "value": null}' -- cli mget --json z
check "exists all" 0 "2" -- cli exists m1 greeting
check "exists some" 1 "1" -- cli exists m1 missing
check "del" 0 "1" -- cli del m1 missing
check "del gone" 1 "" -- cli get m1

# --- scan and namespaces
for k in user:1 user:2 user:3 other:1; do cli -n app set "$k" v >/dev/null; done
check "scan prefix in namespace" 0 "$(printf 'user:1\nuser:2\nuser:3')" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" -n app scan user: | sort"
check "scan limit" 0 "2" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" -n app scan --limit 2 | wc -l"
check "namespaces are separate" 1 "" -- cli get user:1
check_err "scan bad count" 2 "--count is 1..1000" -- cli scan --count 0
# wait: a server without peers has none that acknowledge (exit 1 unless 0 are asked for)
check "wait without peers" 1 "0" -- cli wait 1 100ms
check "wait for 0 peers" 0 "0" -- cli wait 0 0
check_err "wait bounds" 2 "REPLICAS is 0..255" -- cli wait 256 1s
check "flush namespace" 0 "removed 4 items from namespace 'app'" -- cli flush app
check "other namespace kept" 0 "hello world" -- cli get greeting

# --- stats, info, config
check "stats table" 0 "1" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" stats | grep -c '^operation .*p99.9 us'"
check "stats shows get row" 0 "1" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" stats | grep -Ec '^get +[0-9]+'"
check "stats --json parses" 0 "ok" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" stats --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"memory_limit\"]==32*1024*1024; assert d[\"op.get.count\"]>0; print(\"ok\")'"
# Prometheus conventions (https://prometheus.io/docs/practices/naming/): HELP and TYPE for every
# family, counters end in _total, times in seconds and sizes in bytes (no _us/_ms/_s names),
# latencies a summary with quantile labels, one TYPE per family and its samples together.
cli get missing-for-prom >/dev/null 2>&1
cli set for-prom v >/dev/null; cli get for-prom >/dev/null; cli get for-prom >/dev/null
prom_check="$(dirname "$0")/prom_check.py"
check "stats --prometheus follows the Prometheus conventions" 0 "ok" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" stats --prometheus | python3 \"$prom_check\""
check "info" 0 "cacheserverd" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" info | sed -n 's/^server  *//p'"
check "info threads" 0 "2" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" info | sed -n 's/^threads  *//p'"
check "info --json: numbers are JSON numbers" 0 "ok" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" info --json | python3 -c '
import json,sys
d=json.load(sys.stdin)
for k in (\"threads\", \"max_connections\", \"memory\", \"max_key_size\", \"max_value_size\", \"max_frame_size\", \"pid\", \"uptime_s\", \"bytes_used\"):
    assert type(d[k]) is int, (k, d[k])
assert d[\"memory\"] == 32 << 20 and d[\"threads\"] == 2, d
for k in (\"server\", \"version\", \"socket\", \"data_dir\", \"persist\"):
    assert type(d[k]) is str, (k, d[k])
print(\"ok\")'"
# GETRANGE counts in hits and misses as GET does (docs/config.md)
check "getrange counts hits and misses" 0 "1 1" -- bash -c "
hm() { \"$CACHE_CLI\" -s \"$sock\" stats --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"hits\"], d[\"misses\"], d[\"ns.default.hits\"], d[\"ns.default.misses\"])'; }
\"$CACHE_CLI\" -s \"$sock\" append grk abcdef >/dev/null
read h0 m0 nh0 nm0 < <(hm)
\"$CACHE_CLI\" -s \"$sock\" getrange grk 1 2 >/dev/null
\"$CACHE_CLI\" -s \"$sock\" getrange grmissing 0 2 2>/dev/null
read h1 m1 nh1 nm1 < <(hm)
[ \$((nh1 - nh0)) = \$((h1 - h0)) ] && [ \$((nm1 - nm0)) = \$((m1 - m0)) ] && echo \$((h1 - h0)) \$((m1 - m0))"
# with the default --threads 0 (one per core), info shows the threads that run
"$CACHESERVERD" --socket "$tmp/t0.sock" --data-dir "$tmp/data0" --log-file "$tmp/server0.log" \
  >"$tmp/server0.out" 2>&1 &
t0_pid=$!
for _ in $(seq 100); do "$CACHE_CLI" -s "$tmp/t0.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
running=$(sed -n 's/.* \([0-9][0-9]*\) worker threads.*/\1/p' "$tmp/server0.out")
check "info threads with --threads 0 is the running count" 0 "$running" -- bash -c "\"$CACHE_CLI\" -s \"$tmp/t0.sock\" info | sed -n 's/^threads  *//p'"
check "config get threads stays as configured" 0 "threads = 0" -- "$CACHE_CLI" -s "$tmp/t0.sock" config get threads
kill "$t0_pid"; wait "$t0_pid" 2>/dev/null
check "config get" 0 "max_key_size = 8192" -- cli config get max_key_size
check_err "config set unknown" 2 "E_CONFIG \(110\).*bogus" -- cli config set bogus 1
check_err "config usage" 2 "usage: cache-cli config" -- cli config frob
# every numeric option has a range; CONFIG SET outside it is E_CONFIG naming the range
check_err "config set memory 1" 2 "E_CONFIG \(110\).*'memory'.*must be 1MiB\.\.1PiB" -- cli config set memory 1
check_err "config set memory 0" 2 "E_CONFIG \(110\).*must be 1MiB\.\.1PiB" -- cli config set memory 0
check_err "config set max-value-size 1KiB" 2 "E_CONFIG \(110\).*must be 1MiB\.\.4GiB - 1" -- cli config set max-value-size 1KiB
check_err "config set max-key-size 0" 2 "E_CONFIG \(110\).*must be 16\.\.64KiB - 1" -- cli config set max-key-size 0
check_err "config set max-output-buffer 0" 2 "E_CONFIG \(110\).*must be 64KiB\.\.64GiB" -- cli config set max-output-buffer 0
check_err "config set output-timeout-ms 0" 2 "E_CONFIG \(110\).*must be 100\.\.3600000" -- cli config set output-timeout-ms 0
check_err "config set sweep-buckets 0" 2 "E_CONFIG \(110\).*must be 1\.\.1048576" -- cli config set sweep-buckets 0
check_err "config set sweep-interval-ms 0" 2 "E_CONFIG \(110\).*must be 10\.\.60000" -- cli config set sweep-interval-ms 0
check "refused values left the options alone" 0 "$(printf 'memory = 33554432')" -- cli config get memory
check "config set in range" 0 "OK" -- cli config set sweep-interval-ms 200

# --- interactive mode, fed from a pipe
repl_out=$(printf 'set "two words" "a b"\nget "two words"\nget nothere\nincr rc 5\nbogus\nget \\x41key\nquit\nget greeting\n' | cli 2>"$tmp/repl.err")
check "repl output" 0 "$(printf 'OK\na b\n5')" -- printf '%s' "$repl_out"
check "repl reports errors and goes on" 0 "1" -- grep -c "unknown command 'bogus'" "$tmp/repl.err"
check "repl escapes" 0 "OK" -- bash -c "printf 'set Akey OK\n' | \"$CACHE_CLI\" -s \"$sock\" >/dev/null; printf 'get \\\\x41key\n' | \"$CACHE_CLI\" -s \"$sock\""
# a script's status is its worst command's, not only its last one's (issue 15)
check "script status: a miss then a success is 1" 1 "PONG" -- bash -c "printf 'get nothere\nping\n' | \"$CACHE_CLI\" -s \"$sock\" 2>/dev/null"
check "script status: an error anywhere is 2" 2 "PONG" -- bash -c "printf 'bogus\nping\n' | \"$CACHE_CLI\" -s \"$sock\" 2>/dev/null"
# use / namespace in the prompt or a script: the next commands work in that namespace
check "use NAME switches the namespace" 0 "$(printf 'OK\nin-app')" -- bash -c "printf 'use app\nset k1 in-app\nget k1\n' | \"$CACHE_CLI\" -s \"$sock\""
check "the key is in that namespace" 0 "in-app" -- "$CACHE_CLI" -s "$sock" -n app get k1
check "use with no name is the default namespace again" 1 "" -- bash -c "printf 'use app\nuse\nget k1\n' | \"$CACHE_CLI\" -s \"$sock\" 2>/dev/null"
# COMMAND --help describes the command; wrong arguments say what was wrong
check "get --help" 0 "$(printf 'usage: cache-cli get KEY [--meta] [--raw] [--json]\n    print a value (--meta: type, ttl in seconds or -1, version too)')" -- cli get --help
check_err "set with one argument too many says so" 2 "set: wrong arguments \(3 given\)" -- cli set k v w

# --- values other clients store as objects (php-ext/README.md "Values"): a string the PHP
# extension compressed (class "@zstd", serializer 0, one zstd frame) and an object stored with
# its msgpack serializer (serializer 3, data = the msgpack map of its properties). cache-cli
# cannot write them, so they are sent as raw SET frames.
raw_set() { # KEY HEX_VALUE: SET KEY to the msgpack value given in hex; prints the status
  python3 -c 'import socket, struct, sys
key = sys.argv[2].encode(); val = bytes.fromhex(sys.argv[3])
body = bytes([0x94, 4, 1, 0xa0 | len(key)]) + key + val
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(struct.pack(">I", len(body)) + body)
n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
r = s.recv(n, socket.MSG_WAITALL)
print("ok" if r[2] == 0 else "status %d" % r[2])' "$sock" "$1" "$2"
}
ext_object() { # CLASS SERIALIZER DATA_HEX: the hex of ext 1 [class, serializer, bin data]
  python3 -c 'import sys
cls = sys.argv[1].encode(); data = bytes.fromhex(sys.argv[3])
p = bytes([0x93, 0xa0 | len(cls)]) + cls + bytes([int(sys.argv[2]), 0xc4, len(data)]) + data
print((bytes([0xc7, len(p), 1]) + p).hex())' "$@"
}
# 1000 x "a": a zstd frame with its content size and one RLE block (11 bytes)
zframe=28b52ffd60e802431f0061
aaa=$(printf 'a%.0s' $(seq 1000))
check "raw set of a compressed string" 0 "ok" -- raw_set zs "$(ext_object @zstd 0 $zframe)"
check "get of a compressed string prints the string" 0 "$aaa" -- cli get zs
check "get --json of a compressed string is the JSON string" 0 "\"$aaa\"" -- cli get --json zs
check "get --meta of a compressed string" 0 "$(printf 'type: bytes (zstd-compressed by a client, 11 bytes stored)\nttl: -1\nversion: %s\nlength: 1000' \
  "$(cli get --meta zs | sed -n 's/^version: //p')")" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" get --meta zs | sed '/^value: /d'"
check "strlen of a compressed string is the string's length" 0 "1000" -- cli strlen zs
check "mget prints the compressed string too" 0 "$aaa" -- cli mget zs
check "... and in mget --json" 0 "{\"key\": \"zs\", \"found\": true, \"value\": \"$aaa\"}" -- cli mget --json zs
check "raw set of an array holding a compressed string" 0 "ok" -- raw_set zarr "92$(ext_object @zstd 0 $zframe)01"
check "a compressed string inside an array prints as the string" 0 "[\"$aaa\", 1]" -- cli get zarr
# corrupt frames: printed as the object they are, strlen stays E_TYPE
check "raw set of a corrupt compressed string" 0 "ok" -- raw_set zbad "$(ext_object @zstd 0 6e6f7065)"
check "get of a corrupt compressed string prints the object" 0 '{"@class": "@zstd", "@serializer": 0, "@data": "nope"}' -- cli get zbad
check_err "... and says why" 0 "cannot be decompressed" -- cli get zbad
check_err "strlen of a corrupt compressed string is E_TYPE" 2 "strlen: E_TYPE \(106\)" -- cli strlen zbad
check "strlen of an int is still E_TYPE" 2 "" -- cli strlen i
# {"x": 1, "name": "p"}, with a protected property "\0*\0p" = 2
check "raw set of a msgpack-serialized object" 0 "ok" -- raw_set obj "$(ext_object Point 3 83a17801a46e616d65a170a4002a007002)"
check "get --json of a msgpack-serialized object shows its properties" 0 \
  '{"@class": "Point", "@serializer": 3, "@data": {"x": 1, "name": "p", "\u0000*\u0000p": 2}}' -- cli get --json obj
check "raw set of an array holding one" 0 "ok" -- raw_set objs "92$(ext_object Point 3 81a17802)c0"
check "objects inside arrays too" 0 '[{"@class": "Point", "@serializer": 3, "@data": {"x": 2}}, null]' -- cli get objs
check "raw set of a PHP-serialized object" 0 "ok" -- raw_set phpobj "$(ext_object Foo 1 "$(printf 'O:3:"Foo":0:{}' | od -An -tx1 | tr -d ' \n')")"
check "other serializers: @data is the serialized string" 0 '{"@class": "Foo", "@serializer": 1, "@data": "O:3:\"Foo\":0:{}"}' -- cli get phpobj

# --- flush everything; the server is still healthy
check "flush --all" 0 "1" -- bash -c "\"$CACHE_CLI\" -s \"$sock\" flush --all | grep -c 'every namespace'"
check "empty after flush" 1 "" -- cli get greeting
check "server alive" 0 "PONG" -- cli ping

# --- metrics-listen: a second server serving GET /metrics over HTTP, fetched with curl
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mport=$(free_port)
msock="$tmp/metrics.sock"
"$CACHESERVERD" --socket "$msock" --data-dir "$tmp/mdata" --memory 32MiB --threads 1 \
  --metrics-listen "127.0.0.1:$mport" --log-file "$tmp/mserver.log" >"$tmp/mserver.out" &
mserver_pid=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$mport/metrics" && break
  sleep 0.1
done
mcli() { "$CACHE_CLI" -s "$msock" "$@"; }
mcli get nothing-here >/dev/null 2>&1; mcli set k v >/dev/null; mcli get k >/dev/null; mcli get k >/dev/null
check "GET /metrics: 200, Prometheus text" 0 "200 text/plain; version=0.0.4; charset=utf-8" -- \
  curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$mport/metrics"
check "GET /metrics follows the Prometheus conventions" 0 "ok" -- \
  bash -c "curl -sf \"http://127.0.0.1:$mport/metrics\" | python3 \"$prom_check\""
# the same families, types and labels as cache-cli stats --prometheus (values move on)
shape='s/ [^ ]*$//; /^# HELP/d; /connections/d; /op="\(stats\|hello\|ping\)"/d'
check "GET /metrics is cache-cli stats --prometheus" 0 "" -- bash -c "diff <(curl -sf \"http://127.0.0.1:$mport/metrics\" | sed '$shape') <(\"$CACHE_CLI\" -s \"$msock\" stats --prometheus | sed '$shape')"
check "other paths are 404" 0 "404" -- curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/"
check "other methods are refused" 0 "501" -- curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$mport/metrics"
check "server alive after scrapes" 0 "PONG" -- mcli ping
kill "$mserver_pid"; wait "$mserver_pid" 2>/dev/null
# with log-file, the start line goes to the log and once to stdout
check "start line once on stdout with --log-file" 0 "1" -- grep -c "listening on $msock" "$tmp/mserver.out"
check "start line once in the log file" 0 "1" -- grep -c "INFO cacheserverd .* listening on $msock" "$tmp/mserver.log"
check_err "metrics-listen: a malformed address stops the start" 1 "metrics-listen.*not HOST:PORT" -- \
  "$CACHESERVERD" --socket "$tmp/bad.sock" --data-dir "$tmp/bdata" --metrics-listen nonsense
check_err "metrics-listen: a port in use stops the start" 1 "metrics-listen.*cannot listen on 127.0.0.1:" -- \
  python3 -c "import socket, subprocess, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
sys.exit(subprocess.run([sys.argv[1], '--socket', sys.argv[2], '--data-dir', sys.argv[3],
  '--metrics-listen', '127.0.0.1:%d' % s.getsockname()[1]]).returncode)" "$CACHESERVERD" "$tmp/bad2.sock" "$tmp/bdata2"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
