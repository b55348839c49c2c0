#!/usr/bin/env bash
# `cacheserverd --gen-identity DIR` as an operator runs it: the files and their modes, the
# fingerprint as the last line (the same openssl computes), a second run refused, a bad call.
set -u
bin="${CACHESERVERD:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # name, condition...
  local name="$1"; shift
  if "$@"; then echo "ok - $name"; else echo "FAIL - $name"; fails=$((fails + 1)); fi
}

out=$("$bin" --gen-identity "$tmp/id" 2>&1); rc=$?
check "exit 0" test "$rc" -eq 0
fp=$(printf '%s\n' "$out" | tail -n 1)
check "last line is 64 lowercase hex ($fp)" grep -Eqx '[0-9a-f]{64}' <<<"$fp"
check "key.pem is 0600" test "$(stat -c %a "$tmp/id/key.pem")" = 600
check "cert.pem is 0644" test "$(stat -c %a "$tmp/id/cert.pem")" = 644
if command -v openssl >/dev/null; then
  want=$(openssl x509 -in "$tmp/id/cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
         tr 'A-F' 'a-f')
  check "fingerprint is openssl's ($want)" test "$fp" = "$want"
fi
before=$(sha256sum "$tmp/id/key.pem")
err=$("$bin" --gen-identity "$tmp/id" 2>&1); rc=$?
check "a second run exits 1 (got $rc)" test "$rc" -eq 1
check "and says why: $err" grep -q 'key.pem' <<<"$err"
check "and leaves the key alone" test "$before" = "$(sha256sum "$tmp/id/key.pem")"
"$bin" --gen-identity >/dev/null 2>&1; rc=$?
check "no DIR is a usage error (exit 2, got $rc)" test "$rc" -eq 2

echo "$fails failed"
[ "$fails" -eq 0 ]
