#!/usr/bin/env bash
# gcc's static analyzer (-fanalyzer) over the tree, against the reports already explained.
# Builds build-analyzer (tests off) from clean with -fanalyzer, collects every -Wanalyzer-*
# warning and compares it with scripts/analyzer-known.txt, the reports read and found to be
# false positives. Prints every report, then the new (unexplained) ones; exits 1 when there
# is any, 2 when the build itself fails, 0 otherwise. Not part of scripts/test.sh: a run
# compiles everything with the analyzer (docs/reliability.md, "Static analysis").
#
#   scripts/analyze.sh            the whole tree
#   NINJA_JOBS=1 scripts/analyze.sh
#   scripts/analyze.sh --again    no build: the last run's reports against the list as it is
#                                 now (after adding a line to it)
#
#   ANALYZE_DIR=DIR               another build dir than build-analyzer
#
# The known list: one line a report, "FILE FUNCTION WARNING SUBJECT REASON...", fields split
# by white space up to the reason. FILE is relative to the top of the tree, FUNCTION the one
# gcc names in "In function", WARNING the option (-Wanalyzer-malloc-leak), SUBJECT the first
# quoted name in the message ('np' in "leak of 'np'", without its spaces; - when there is
# none). No line numbers, so a line survives edits around it; a line covers every report with
# its four fields (four callocs checked on one line leak alike). '#' starts a comment.
set -uo pipefail
cd "$(dirname "$0")/.."

DIR=${ANALYZE_DIR:-build-analyzer}
KNOWN=scripts/analyzer-known.txt
LOG=$DIR/analyzer.log
JOBS=${NINJA_JOBS:-2}

start=$(date +%s)
if [ "${1:-}" = "--again" ]; then
  [ -f "$LOG" ] || { echo "analyze: no $LOG yet: run scripts/analyze.sh first"; exit 2; }
else
  if [ ! -f "$DIR/build.ninja" ]; then
    meson setup "$DIR" -Dtests=false -Dfuzz=false -Dc_args=-fanalyzer >/dev/null ||
      { echo "analyze: meson setup $DIR failed"; exit 2; }
  elif ! grep -q -- -fanalyzer "$DIR/build.ninja"; then
    # a build dir of that name without the analyzer would pass with no reports
    meson configure "$DIR" -Dc_args=-fanalyzer >/dev/null ||
      { echo "analyze: meson configure $DIR failed"; exit 2; }
  fi
  # every file compiled again: ninja prints a file's warnings only when it compiles it
  ninja -C "$DIR" -t clean >/dev/null
  # LC_ALL=C: plain quotes in gcc's messages, which the known list spells
  if ! LC_ALL=C nice -n 10 ninja -C "$DIR" -j "$JOBS" >"$LOG" 2>&1; then
    tail -n 40 "$LOG"; echo "analyze: build $DIR failed (log: $LOG)"; exit 2
  fi
fi
took="in $(($(date +%s) - start))s"
[ "${1:-}" = "--again" ] && took="(the last run's)"

# "file line warning function subject" a report, once each (a header's report comes once per
# file that includes it)
reports=$(awk '
  /: In function \x27/ {
    fn = $0; sub(/.*: In function \x27/, "", fn); sub(/\x27.*/, "", fn); next
  }
  /^\[[0-9]+\/[0-9]+\] / || /: At top level:/ { fn = "-"; next } # a new file; outside functions
  /: warning: .*\[-Wanalyzer-[a-z-]+\]$/ {
    split($0, loc, ":"); file = loc[1]; sub(/^(\.\.\/)+/, "", file)
    w = $0; sub(/.*\[-Wanalyzer-/, "-Wanalyzer-", w); sub(/\]$/, "", w)
    msg = $0; sub(/^[^ ]*: warning: /, "", msg)
    subj = "-"
    if (match(msg, /\x27[^\x27]*\x27/)) subj = substr(msg, RSTART + 1, RLENGTH - 2)
    gsub(/[ \t]/, "", subj) # one field: "ser + i" is "ser+i"
    key = file ":" loc[2] ":" loc[3] ":" msg
    if (!(key in seen)) { seen[key] = 1; print file, loc[2], w, fn, subj }
  }' "$LOG")

known=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$KNOWN" 2>/dev/null | awk '{print $1, $2, $3, $4}')

total=0
new=0
newlist=""
declare -A used=()
while read -r file line w fn subj; do
  [ -n "$file" ] || continue
  total=$((total + 1))
  k="$file $fn $w $subj"
  if grep -qxF -- "$k" <<<"$known"; then
    used[$k]=1
    echo "  known  $file:$line: $w in $fn ('$subj')"
  else
    new=$((new + 1))
    newlist+="$file:$line: $w in $fn ('$subj')"$'\n'
    echo "  NEW    $file:$line: $w in $fn ('$subj')"
  fi
done <<<"$reports"

# lines of the list that nothing matched: fixed, or the code moved (not a failure)
while read -r k; do
  [ -n "$k" ] && [ -z "${used[$k]:-}" ] && echo "  stale  $k (no report matches this line of $KNOWN)"
done <<<"$known"

echo "analyze: $total reports $took, $((total - new)) explained in $KNOWN, $new new (log: $LOG)"
if [ "$new" -gt 0 ]; then
  echo "new reports (the analyzer's path for each is in $LOG):"
  printf '%s' "$newlist"
  exit 1
fi
exit 0
