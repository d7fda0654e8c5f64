#!/usr/bin/env bash
# Tokenizer throughput, ours vs Hugging Face's Rust tokenizer, side by side in one run, one core each.
#
#   corpus-tools/bench/tokenizer-bench.sh [TEXT [VOCAB]]
#
# Defaults: TEXT = the World English Bible (public domain, `diatheke`) repeated 8 times (~56 MB of English
# prose); VOCAB = an 8000-token vocabulary learned from it by `bert-corpus vocab`. Needs python3 with
# `tokenizers`. Ours is timed over the whole process (read, tokenize, write ids); HF over encode_batch only.
# Prints MB/s of both, the ratio, and whether the two outputs agree line for line.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

text=${1:-}
if [ -z "$text" ]; then
    diatheke -b engWEB2015eb -f plain -k "Gen 1:1-Rev 22:21" > "$work/web.txt"
    for _ in 1 2 3 4 5 6 7 8; do cat "$work/web.txt"; done > "$work/prose.txt"
    text=$work/prose.txt
fi
swift build -c release --product bert-corpus >&2
bin=$(swift build -c release --show-bin-path)/bert-corpus
vocab=${2:-}
if [ -z "$vocab" ]; then
    "$bin" vocab --input "${work}/web.txt" --vocab-size 8000 --output "$work/vocab.txt" 2>/dev/null
    vocab=$work/vocab.txt
fi
bytes=$(stat -c %s "$text")

start=$(date +%s.%N)
taskset -c 0 "$bin" tokenize --vocab "$vocab" --input "$text" > "$work/ours.txt"
end=$(date +%s.%N)
ours=$(python3 -c "print(f'{$bytes / 1e6 / ($end - $start):.2f}')")

read -r _ hf_seconds hf < <(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false taskset -c 0 \
    python3 corpus-tools/bench/hf_tokenize.py "$vocab" "$text" "$work/hf.txt")

lines=$(wc -l < "$text")
same=$(python3 -c "
a = open('$work/ours.txt').read().split('\n'); b = open('$work/hf.txt').read().split('\n')
print(sum(x == y for x, y in zip(a, b)) - (1 if a[-1] == b[-1] == '' else 0))")
printf '%-34s %10s\n' "text" "$(python3 -c "print(f'{$bytes/1e6:.1f} MB, $lines lines')")"
printf '%-34s %10s MB/s\n' "bert-corpus tokenize (1 core)" "$ours"
printf '%-34s %10s MB/s\n' "HF tokenizers encode_batch (1 thread)" "$hf"
printf '%-34s %10s x\n' "ratio" "$(python3 -c "print(f'{$ours / $hf:.1f}')")"
printf '%-34s %10s of %s lines\n' "identical output lines" "$same" "$lines"
