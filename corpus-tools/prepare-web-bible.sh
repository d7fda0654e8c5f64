#!/usr/bin/env bash
# prepare-web-bible.sh OUT_DIR [RANGE]
#
# Writes the World English Bible (public domain; Debian packages `diatheke` + `sword-text-web`,
# SWORD module engWEB2015eb) as a pretraining corpus in Google's format: one sentence per line,
# a blank line between documents, one document per chapter, one file per book:
#   OUT_DIR/001-genesis.txt, OUT_DIR/002-exodus.txt, …
# plus OUT_DIR/.SOURCE.txt (origin and licence; hidden, because bert-corpus skips hidden files).
#
#   RANGE   a diatheke key, default "Gen 1:1-Rev 22:21" (all 80 books of the module, deuterocanon included);
#           e.g. "Gen 1:1-Gen 10:32" for a tiny corpus in tests.
#
# What diatheke's plain output looks like (SWORD 1.9.0, diatheke 4.8, module version 426.0), and what
# this script does about each quirk:
#   "  Genesis 1:1: In the beginning, God…"   a verse: the reference is stripped.
#   lines without a reference after a verse   poetry lines of that verse: joined into the verse.
#   "A Psalm by David, …" before a verse       a section/psalm title that diatheke repeats before EVERY
#                                              following verse until the next title (after Psalm 151 one
#                                              title is repeated 9,620 times, sometimes even glued into
#                                              the middle of a verse): titles are dropped everywhere. A
#                                              title is a line that stands directly before a reference
#                                              line at least twice.
#   "Christ,the son"                            a missing space after a comma (in the module's text):
#                                              added back.
#   "God [1:1 The Hebrew word …] created"      footnotes (with `-o f`). Without `-o f` diatheke removes
#                                              the note together with the space ("Godcreated"), so we
#                                              ask for the notes and strip "[C:V …]" and "[]" ourselves.
#   "<title …>…</title> <l …>Tobit 3:5: …"      raw OSIS markup before a few verses: stripped.
#   text after the last verse                  the module's glossary (back matter): dropped.
#   "(engWEB2015eb)"                           the module name trailer: dropped.
# Sentences: a verse's text is cut after . ? ! (and any closing quotes) when the next word starts
# with a capital or an opening quote. This is an approximation, good enough for BERT's
# sentence-pair task; `bert-corpus build` only needs sentence boundaries, not exact ones.
set -euo pipefail
# The sed and awk patterns below contain UTF-8 quotes (“ ‘ ’ ”): match them as characters, the same
# way on every machine.
export LC_ALL=C.UTF-8

usage() { echo "usage: $0 OUT_DIR [DIATHEKE_RANGE]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
out=$1
range=${2:-"Gen 1:1-Rev 22:21"}
module=engWEB2015eb

command -v diatheke >/dev/null || { echo "error: diatheke not found (apt-get install diatheke sword-text-web)" >&2; exit 1; }
if ! diatheke -b system -k modulelist 2>/dev/null | grep "^$module " >/dev/null; then
  echo "error: SWORD module $module not installed (apt-get install sword-text-web)" >&2; exit 1
fi

mkdir -p "$out"
tmp=$(mktemp -d "${out%/}/.prepare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A few verses come out with raw OSIS markup in front ("<title …>A praise psalm by David.<note …></note>
# </title> <lg …> <l …>Tobit 3:5: …"): drop titles and tags before parsing.
diatheke -b "$module" -f plain -o f -k "$range" \
  | sed -E -e 's/<title[^>]*>.*<\/title>//; s/<[^>]*>//g' \
      -e 's/ ?\[ ?[0-9]+:[0-9]+(-[0-9]+)? ([^][]|\[[^][]*\])*\]//g; s/ ?\[\]//g' \
      -e 's/,([A-Za-z“‘])/, \1/g' > "$tmp/raw.txt"
[ -s "$tmp/raw.txt" ] || { echo "error: diatheke printed nothing for range '$range'" >&2; exit 1; }

mkdir -p "$tmp/books"
# Pass 1 counts how often each non-reference line stands directly before a reference line (titles
# repeat); pass 2 assembles chapters. Written for POSIX awk (Debian's mawk): no gawk extensions.
awk -v dir="$tmp/books" -v module="($module)" '
function isref(s) { return s ~ /^ *[^ :][^:]* [0-9]+:[0-9]+: / }
function flushverse() {
    if (verse == "") return
    chapter = chapter (chapter == "" ? "" : " ") verse
    verse = ""
}
function flushchapter(   text) {
    flushverse()
    if (chapter == "") return
    text = chapter
    # a repeated title that diatheke glued into the middle of a verse
    for (t in title) while ((k = index(text, t)) > 0) text = substr(text, 1, k - 1) substr(text, k + length(t))
    gsub(/[ \t\r]+/, " ", text); sub(/^ /, "", text); sub(/ $/, "", text)
    if (text != "") { print text > file; print "" > file }
    chapter = ""
}
NR == FNR { line[NR] = $0; n = NR; next }
FNR == 1 {
    for (i = 1; i < n; i++) if (line[i] != "" && !isref(line[i]) && isref(line[i + 1])) before[line[i]]++
    for (t in before) if (before[t] >= 2) title[t] = 1
    for (i = n; i >= 1; i--) if (isref(line[i])) { lastref = i; break }
    books = 0
}
{
    s = $0
    if (s == module) next
    if (isref(s)) {
        sub(/^ +/, "", s)
        match(s, /[0-9]+:[0-9]+: ?/)
        ref = substr(s, RSTART, RLENGTH); book = substr(s, 1, RSTART - 2); text = substr(s, RSTART + RLENGTH)
        split(ref, cv, ":"); key = book ":" cv[1]
        if (book != curbook) {
            flushchapter(); if (file != "") close(file)
            books++; curbook = book
            name = tolower(book); gsub(/[^a-z0-9]+/, "-", name); sub(/-$/, "", name)
            file = sprintf("%s/%03d-%s.txt", dir, books, name)
        } else if (key != curkey) flushchapter()
        curkey = key
        flushverse(); verse = text
        next
    }
    if (FNR > lastref && s ~ /^ *$/) { stop = 1 }        # back matter after the last verse
    if (stop) next
    if (s ~ /^ *$/) next
    if (s in title) next                                 # a repeated title
    if (curbook == "") next                              # text before the first verse
    verse = verse " " s
}
END { flushchapter() }
' "$tmp/raw.txt" "$tmp/raw.txt" || { echo "error: could not parse diatheke output" >&2; exit 1; }

# One sentence per line: cut after . ? ! and closing quotes/brackets when a capital or an opening
# quote follows. Documents stay separated by the blank lines the awk pass wrote.
for f in "$tmp/books"/*.txt; do
  sed -E 's/([.?!](’|”|"|\))*) +(“|‘|"|[A-Z])/\1\n\3/g' "$f" > "$f.split"
  mv "$f.split" "$f"
done
n=$(ls "$tmp/books" | wc -l)
[ "$n" -gt 0 ] || { echo "error: no verses found in diatheke output for range '$range'" >&2; exit 1; }

cat > "$tmp/books/.SOURCE.txt" <<EOF
World English Bible (SWORD module $module, Debian package sword-text-web), range "$range".
Licence: public domain ("This work is not copyrighted. It is in the Public Domain.", module .conf
DistributionLicense=Public Domain). "World English Bible" is a trademark of eBible.org: this
corpus is derived (references, titles and footnotes stripped, split into sentences), so it is not
called the World English Bible itself.
Extracted with: diatheke -b $module -f plain -o f -k "$range" | corpus-tools/prepare-web-bible.sh
Format: one sentence per line, one chapter per document (blank line between), one file per book.
EOF

# Replace the output atomically enough for a rerun: old book files go, new ones arrive complete.
rm -f "$out"/[0-9][0-9][0-9]-*.txt "$out/.SOURCE.txt"
mv "$tmp/books"/[0-9][0-9][0-9]-*.txt "$tmp/books/.SOURCE.txt" "$out"/
echo "wrote $n book files, $(cat "$out"/[0-9]*.txt | grep -c '^$') chapters, $(cat "$out"/[0-9]*.txt | grep -vc '^$') sentences to $out" >&2
