#!/usr/bin/env bash
# Side-by-side training-step benchmark: `bert-pretrain bench` against PyTorch + transformers'
# BertForPreTraining (the peer benchmark, ../shared/peer-bench/torch_bert_bench.py), same machine,
# same run, same work: batch 32 full-length sequences of 128, 20 masked positions each, AdamW,
# dropout 0.1. Prints a Markdown table (seq/s, ratios, peak RSS, % of sgemm peak).
#
# TASK=classification compares the fine-tuning step instead: `bert-pretrain bench --task
# classification` against transformers' BertForSequenceClassification as HF Trainer steps it
# (jobs/bench/torch_finetune_bench.py: batch 32 full-length pairs of 128, 2 labels, AdamW with HF's
# decay groups, clipping at 1.0, dropout 0.1). PRECISION=bf16 runs both sides in bf16: ours with
# `--precision bf16`, the peer under torch.autocast("cpu", dtype=torch.bfloat16) (HF Trainer's --bf16).
#
# Needs a release build and, for the peer only, Python with torch and transformers
# (see ../shared/peer-bench/README.md). Not part of the tests.
#
#   SIZES="bert-tiny bert-mini" THREADS="1 2" bash jobs/bench-vs-pytorch.sh
#   TASK=classification SIZES="bert-tiny bert-small bert-base" bash jobs/bench-vs-pytorch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PEER=${PEER:-../shared/peer-bench/torch_bert_bench.py}
SIZES=${SIZES:-"bert-tiny bert-mini bert-small bert-base"}
THREADS=${THREADS:-"1 2"}
TASK=${TASK:-pretraining}
PRECISION=${PRECISION:-fp32}
case $PRECISION in fp32) PEER_PRECISION=();; bf16) PEER_PRECISION=(--bf16);;
  *) echo "error: PRECISION=$PRECISION: fp32 or bf16" >&2; exit 1;; esac
[ "$PRECISION" = fp32 ] || [ "$TASK" = classification ] || { echo "error: PRECISION=bf16 is for TASK=classification (pretraining: jobs/bench-bf16.sh)" >&2; exit 1; }
OUT=${OUT:-bench-vs-pytorch.jsonl}
BIN=.build/release/bert-pretrain
[ -x "$BIN" ] || swift build -c release --product bert-pretrain
[ -f "$PEER" ] || { echo "error: peer benchmark not found at $PEER (set PEER=)" >&2; exit 1; }
: > "$OUT"
if [ "$TASK" = classification ]; then
  : > "$OUT.peer"
  for size in $SIZES; do
    case $size in bert-base) steps=5; warm=1;; bert-small) steps=5; warm=2;; *) steps=10; warm=2;; esac
    for t in $THREADS; do
      echo "== $size, $t thread(s), sequence classification, $PRECISION" >&2
      python3 jobs/bench/torch_finetune_bench.py --size "$size" --threads "$t" --batch 32 --seq-length 128 \
          --steps "$steps" --warmup "$warm" --min-seconds 0 "${PEER_PRECISION[@]}" --json "$OUT.peer" >&2
      OPENBLAS_NUM_THREADS=$t "$BIN" bench --task classification --config "$size" --batch-size 32 --seq-length 128 \
          --threads "$t" --steps "$steps" --warmup "$warm" --precision "$PRECISION" --json >> "$OUT"
    done
  done
  python3 - "$OUT" "$OUT.peer" <<'PY'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peer = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
print("| config | threads | precision | ours seq/s | PyTorch BertForSequenceClassification seq/s | ratio | ours peak RSS MB | PyTorch peak RSS MB |")
print("|---|---|---|---|---|---|---|---|")
for o in ours:
    p = next(r for r in peer if r["size"] == o["config"] and r["threads"] == o["threads"])
    print(f'| {o["config"]} | {o["threads"]} | {o.get("products", "?")} vs {p.get("precision", "fp32")} | {o["seq_per_s"]:.2f} | {p["seq_per_s"]:.2f} | {o["seq_per_s"]/p["seq_per_s"]:.2f}x | '
          f'{o["peak_rss_mb"]:.0f} | {p["max_rss_mib"]:.0f} |')
PY
  exit 0
fi
for size in $SIZES; do
  case $size in bert-base) steps=5; warm=1;; bert-small) steps=5; warm=2;; *) steps=10; warm=2;; esac
  for t in $THREADS; do
    echo "== $size, $t thread(s)" >&2
    # One process per measurement, so each peak RSS is that configuration's own.
    python3 "$PEER" --size "$size" --threads "$t" --batch 32 --mlm gathered --steps "$steps" --warmup "$warm" \
        --json "$OUT.peer" >&2
    if [ "$size" != bert-base ]; then
      python3 "$PEER" --size "$size" --threads "$t" --batch 32 --mlm hf --steps "$steps" --warmup "$warm" \
          --json "$OUT.peer" >&2
    fi
    OPENBLAS_NUM_THREADS=$t "$BIN" bench --config "$size" --batch-size 32 --seq-length 128 --predictions 20 \
        --threads "$t" --steps "$steps" --warmup "$warm" --json >> "$OUT"
  done
done
python3 - "$OUT" "$OUT.peer" <<'PY'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peer = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
def find(size, t, mlm):
    for r in peer:
        if r["size"] == size and r["threads"] == t and r["mlm"] == mlm: return r
print("| config | threads | ours seq/s | PyTorch gathered | ratio | PyTorch stock HF | ratio | ours % of sgemm peak | ours peak RSS MB | PyTorch gathered RSS MB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for o in ours:
    g, h = find(o["config"], o["threads"], "gathered"), find(o["config"], o["threads"], "hf")
    hs = f'{h["seq_per_s"]:.2f} | {o["seq_per_s"]/h["seq_per_s"]:.2f}x' if h else "– | –"
    print(f'| {o["config"]} | {o["threads"]} | {o["seq_per_s"]:.2f} | {g["seq_per_s"]:.2f} | {o["seq_per_s"]/g["seq_per_s"]:.2f}x | {hs} | '
          f'{100*o["gflops"]/o["sgemm_gflops"]:.0f}% ({o["gflops"]:.0f} of {o["sgemm_gflops"]:.0f} GFLOP/s) | {o["peak_rss_mb"]:.0f} | {g["max_rss_mib"]:.0f} |')
PY
