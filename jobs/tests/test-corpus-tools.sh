#!/usr/bin/env bash
# jobs/tests/test-corpus-tools.sh: checks corpus-tools/prepare-web-bible.sh against the real
# diatheke output of known passages (expected lines typed from the printed World English Bible).
# Skipped (exit 0, says so) when diatheke or the sword-text-web module is not installed.
# Last line: "corpus tool tests: N passed, M failed".
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
prepare=$repo/corpus-tools/prepare-web-bible.sh
work=$(mktemp -d /tmp/bert-pretrain-corpus-tests.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
check() {   # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then echo "ok       $name"; passed=$((passed + 1)); else echo "FAILED   $name"; failed=$((failed + 1)); fi
}

if ! command -v diatheke >/dev/null || ! diatheke -b system -k modulelist 2>/dev/null | grep '^engWEB2015eb ' >/dev/null; then
  echo "skipped: diatheke / sword-text-web not installed"; echo "corpus tool tests: 0 passed, 0 failed"; exit 0
fi

# Genesis 1-3: three chapters -> three documents in one book file; first and poetry lines exact.
bash "$prepare" "$work/gen" "Gen 1:1-Gen 3:24" 2>/dev/null
g=$work/gen/001-genesis.txt
check "one file per book" test "$(cd "$work/gen" && ls)" = "001-genesis.txt"
check "provenance file, hidden" grep -q "Public Domain" "$work/gen/.SOURCE.txt"
check "chapters are documents" test "$(grep -c '^$' "$g")" = 3
check "first sentence (footnote stripped without gluing words)" \
  test "$(head -1 "$g")" = "In the beginning, God created the heavens and the earth."
check "no verse references left" bash -c "! grep -E '[0-9]+:[0-9]+' '$g'"
check "no footnote brackets left" bash -c "! grep -F '[' '$g'"
# Gen 3:14 is poetry over five lines in diatheke's output: joined, then cut into sentences.
check "poetry lines joined into sentences" grep -qx \
  "You shall go on your belly and you shall eat dust all the days of your life." "$g"
check "sentence split after closing quote" grep -qx \
  "He will bruise your head, and you will bruise his heel.”" "$g"

# Psalms 3-4: diatheke repeats each psalm title before every verse; titles must go.
bash "$prepare" "$work/ps" "Ps 3:1-Ps 4:8" 2>/dev/null
p=$work/ps/001-psalms.txt
check "repeated psalm titles dropped" bash -c "! grep -q 'A Psalm by David' '$p'"
check "psalm text kept" grep -qx "Answer me when I call, God of my righteousness." "$p"

# Matthew 11:4 comes after the deuterocanon, where diatheke glues Psalm 151's title into verses.
bash "$prepare" "$work/mt" "Additional Psalm 1:1-Matthew 11:6" 2>/dev/null
check "repeated title never in the text" bash -c "! cat '$work/mt'/*.txt | grep -q 'This Psalm is a genuine one'"
check "title glued into a verse removed" grep -q \
  "^Jesus answered them, “Go and tell John the things which you hear and see: the blind receive their sight" \
  "$work/mt/005-matthew.txt"

# Rerun into the same folder: identical bytes (idempotent).
sum1=$(cat "$work/gen"/*.txt | sha256sum)
bash "$prepare" "$work/gen" "Gen 1:1-Gen 3:24" 2>/dev/null
check "rerun gives identical output" test "$(cat "$work/gen"/*.txt | sha256sum)" = "$sum1"
check "bad range fails" bash -c "! bash '$prepare' '$work/bad' 'Nosuchbook 99:99' 2>/dev/null"

echo "corpus tool tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
