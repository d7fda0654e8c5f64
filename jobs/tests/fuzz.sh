#!/usr/bin/env bash
# jobs/tests/fuzz.sh: many more mutation-fuzzing cases than `swift test` runs (issue 11, item 10b).
#   FUZZ_CASES=20000 bash jobs/tests/fuzz.sh      # cases per reader (default 20000)
# Every case of every reader (safetensors, Checkpoint.load, config.json, vocab.txt, the four corpus
# formats plain and gzip, the build's sentence-per-line byte readers) must end in a thrown error or a
# valid result. A signal or a hang (the watchdog ends a case after 20 s) fails the run; rerun with
# FUZZ_VERBOSE=1 to see the case it died in. Prints the counts per reader and outcome, then a summary.
set -uo pipefail
cd "$(dirname "$0")/../.."
export FUZZ_CASES=${FUZZ_CASES:-20000}
swift build --build-tests >/dev/null || { echo "build failed"; exit 1; }
log=$(mktemp /tmp/bert-pretrain-fuzz.XXXXXX)
trap 'rm -f "$log"' EXIT
started=$(date +%s)
swift test --skip-build --filter FuzzTests >"$log" 2>&1
status=$?
echo "== fuzz: $FUZZ_CASES cases per reader, $(( $(date +%s) - started )) s"
grep -E "^fuzz: " "$log" | sed 's/^fuzz: //' | sort
grep -E "error:|HANG|Fatal error|signal" "$log" | head -20
if [ $status -ne 0 ]; then
  echo "FAILED (exit $status): last lines of the log:"; tail -20 "$log"
  exit 1
fi
total=$(grep -E "^fuzz: " "$log" | awk -F'[:]' '{ split($3, a, " "); s += a[1] } END { print s }')
echo "all $total cases ended in a valid result or a thrown error"
