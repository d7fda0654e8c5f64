#!/usr/bin/env bash
# Before/after check of a change that must not make anything slower: release builds of REV and of
# the working tree, run alternately (ROUNDS rounds) on the same inputs in one run:
#   - bert-corpus build -np 1 on the World English Bible ×8 (39 MB, Google's format, a 20,000-token
#     vocabulary, T 128, P 20, dupe factor 5): wall, CPU seconds, peak RSS; then the shards compared byte for byte;
#   - bert-pretrain bench --threads 1, batch 32 × 128, for each of CONFIGS.
#
#   bash jobs/bench/ab-revisions.sh 20876c7
#   ROUNDS=5 CONFIGS="bert-mini" bash jobs/bench/ab-revisions.sh HEAD~3
#
# REV is built in a git worktree at OUT/rev (reused when it is already at REV). Needs the example's
# packages (diatheke, sword-text-web) for the corpus; python3 only to print the bench's JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=${1:?usage: ab-revisions.sh REV}
ROUNDS=${ROUNDS:-3}
CONFIGS=${CONFIGS:-"bert-tiny bert-mini"}
OUT=${OUT:-$PWD/.build/ab-revisions}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$OUT"

sha=$(git rev-parse --verify "$REV^{commit}")
if [ "$(git -C "$OUT/rev" rev-parse HEAD 2>/dev/null || true)" != "$sha" ]; then
  git worktree remove --force "$OUT/rev" 2>/dev/null || rm -rf "$OUT/rev"
  git worktree add --detach "$OUT/rev" "$sha" >&2
fi
(cd "$OUT/rev" && swift build -c release >&2)
swift build -c release >&2
declare -A BIN=([before]=$OUT/rev/.build/release [after]=$PWD/.build/release)

if [ ! -s "$OUT/web8.txt" ]; then
  bash corpus-tools/prepare-web-bible.sh "$OUT/web" >&2
  for i in 1 2 3 4 5 6 7 8; do cat "$OUT"/web/*.txt; done > "$OUT/web8.txt"
  "${BIN[after]}/bert-corpus" vocab --input "$OUT/web" --vocab-size 20000 --output "$OUT/vocab.txt" >&2
fi

echo "before = $REV ($sha), after = the working tree; $(uptime | sed 's/.*load/load/')"
for round in $(seq "$ROUNDS"); do
  for v in before after; do
    rm -rf "$OUT/shards-$v"
    /usr/bin/time -f "%e %U %S %M" -o "$OUT/time" mpirun --bind-to none -np 1 "${BIN[$v]}/bert-corpus" build --format google \
      --input "$OUT/web8.txt" --vocab "$OUT/vocab.txt" --output "$OUT/shards-$v" --max-seq-length 128 \
      --max-predictions-per-seq 20 --dupe-factor 5 > "$OUT/build-$v.log" 2>&1 || { cat "$OUT/build-$v.log" >&2; exit 1; }
    read -r wall user sys kb < "$OUT/time"
    echo "round $round $v: build wall $wall s, CPU $(awk "BEGIN { print $user + $sys }") s, peak RSS $((kb / 1024)) MB"
    for cfg in $CONFIGS; do
      "${BIN[$v]}/bert-pretrain" bench --config "$cfg" --batch-size 32 --seq-length 128 --threads 1 --steps 5 --warmup 2 --json \
        | python3 -c "import json, sys; d = json.loads(sys.stdin.read()); print(f'round $round $v: bench $cfg {d[\"seq_per_s\"]:.2f} seq/s')"
    done
  done
done
same=0 differ=0
for f in "$OUT"/shards-after/*.hdf5; do
  if cmp -s "$f" "$OUT/shards-before/$(basename "$f")"; then same=$((same + 1)); else differ=$((differ + 1)); fi
done
echo "shards: $same byte-identical, $differ different"
