#!/usr/bin/env bash
# Side-by-side inference benchmark: `bert-pretrain embed` (mean pooling, --format npy) against
# transformers + torch and ONNX Runtime (jobs/bench/torch_embed_bench.py), same machine, same run,
# same bert-base checkpoint, same inputs, same threads, batch 32. Prints Markdown tables: throughput
# and peak RSS per engine and thread count, how far the three engines' vectors agree, and a memory
# run at batch 32 × 512 tokens.
#
#   bash jobs/bench-embed.sh                      # N=2000 sentences, THREADS="1 2"
#   N=500 THREADS=2 ROUNDS=2 bash jobs/bench-embed.sh
#
# Parameters (environment variables):
#   N            sentences to embed (evenly spaced over the corpus)             default 2000
#   THREADS      thread counts to measure                                       default "1 2"
#   ROUNDS       rounds of the engines per thread count; median shown           default 1
#   ENGINES      engines in each round, in this order                 default "ours torch onnx onnx-fused"
#                (an engine name + "-sorted", e.g. torch-sorted: that engine batching longest first,
#                as sentence-transformers' encode does; the default is input order, as HF pipelines)
#   LONG         lines of the memory run (each truncated to 512 tokens)         default 64 (0: skip it)
#   MEM_THREADS  threads of the memory run                                      default 2
#   MEM_ENGINES  engines of the memory run                                      default "ours torch"
#   CORPUS       a folder of text in Google's format; default: the World English Bible, made with
#                corpus-tools/prepare-web-bible.sh from Debian's packages (no network if installed)
#   OUT          where the model, inputs and outputs go (git-ignored)           default .build/bench-embed
#
# The checkpoint is a randomly initialised BertModel of bert-base shape (hidden 768, 12 layers, 12
# heads, intermediate 3072, 512 positions, vocab 30522; seed 0) saved by save_pretrained as
# safetensors, with a WordPiece vocab.txt learned from the corpus by `bert-corpus vocab` (padded with
# [unusedK] to 30522 if the corpus gives fewer). Random weights: the speeds are what counts, and the
# three engines must give the same vectors. Made once and reused (delete OUT to start over).
#
# Each measurement is its own process, so each peak RSS is that engine's own: ours from
# /usr/bin/time -v, the Python engines from getrusage(RUSAGE_SELF). Ours reports texts/s from its last
# stderr line (time after the model is loaded: tokenise + forward + pool + write); the Python engines
# time tokenise + forward + pool after one warm-up batch. ONNX, exported once and cached in OUT/onnx/,
# run on onnxruntime's CPU provider: `onnx` is torch.onnx.export's default (dynamo) export as is;
# `onnx-fused` is ORT's best case for BERT on CPU (TorchScript export + onnxruntime.transformers'
# BERT optimizer: fused attention, layer norms, GELU); see jobs/bench/torch_embed_bench.py.
# Needs a Swift toolchain, Python 3 with torch, transformers, numpy, onnxruntime, onnx, onnxscript.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-1}
ENGINES=${ENGINES:-"ours torch onnx onnx-fused"}
LONG=${LONG:-64}
MEM_THREADS=${MEM_THREADS:-2}
MEM_ENGINES=${MEM_ENGINES:-"ours torch"}
OUT=${OUT:-.build/bench-embed}
PYTHON=${PYTHON:-python3}
PEER=jobs/bench/torch_embed_bench.py
die() { echo "bench-embed.sh: error: $*" >&2; exit 1; }
for v in N ROUNDS LONG MEM_THREADS; do [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v=${!v}: not a number"; done

echo "== release build" >&2
swift build -c release --product bert-pretrain >&2 && swift build -c release --product bert-corpus >&2 \
  || die "swift build -c release failed"
BIN=$(swift build -c release --show-bin-path)
mkdir -p "$OUT"

if [ -z "${CORPUS:-}" ]; then
  CORPUS=$OUT/corpus
  if [ ! -f "$CORPUS/.stamp" ]; then
    echo "== corpus: World English Bible → $CORPUS" >&2
    bash jobs/install-deps.sh diatheke sword-text-web >&2
    bash corpus-tools/prepare-web-bible.sh "$CORPUS" >&2
    echo done > "$CORPUS/.stamp"
  fi
fi
[ -d "$CORPUS" ] || die "CORPUS=$CORPUS is not a folder"

model=$OUT/bert-base
if [ ! -f "$model/model.safetensors" ]; then
  echo "== vocabulary (bert-corpus vocab, 30522) and a random bert-base checkpoint → $model" >&2
  mkdir -p "$model"
  "$BIN/bert-corpus" vocab --input "$CORPUS" --vocab-size 30522 --output "$OUT/vocab.txt" >&2
  "$PYTHON" - "$OUT/vocab.txt" "$model" <<'PY'
import json, sys, torch
from transformers import BertConfig, BertModel
vocab_path, out = sys.argv[1:]
words = open(vocab_path, encoding="utf-8").read().split("\n")
words = [w for w in words if w]
have = set(words)
k = 0
while len(words) < 30522:                      # pad a small corpus's vocabulary with unused tokens
    if f"[unused{k}]" not in have: words.append(f"[unused{k}]")
    k += 1
print(f"vocab.txt: {len(words)} tokens ({len(words) - len(have)} [unusedK] added)", file=sys.stderr)
with open(f"{out}/vocab.txt", "w", encoding="utf-8") as f: f.write("\n".join(words) + "\n")
json.dump({"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "BertTokenizer"},
          open(f"{out}/tokenizer_config.json", "w"))
torch.manual_seed(0)
config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=512)
BertModel(config).eval().save_pretrained(out, safe_serialization=True)
PY
fi

short=$OUT/sentences-$N.txt
long=$OUT/long-$LONG.txt
echo "== inputs: $N sentences, $LONG long lines" >&2
"$PYTHON" - "$CORPUS" "$N" "$LONG" "$short" "$long" <<'PY'
import os, sys
corpus, n, n_long, short, long = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
lines = []
for root, dirs, files in sorted(os.walk(corpus)):
    dirs.sort()
    for name in sorted(files):
        if name.startswith("."): continue
        with open(os.path.join(root, name), encoding="utf-8") as f:
            lines += [l.strip() for l in f if l.strip()]
if len(lines) < n: sys.exit(f"{corpus}: only {len(lines)} sentences, N={n}")
with open(short, "w", encoding="utf-8") as f:          # evenly spaced: every book, every length
    f.write("".join(lines[i * len(lines) // n] + "\n" for i in range(n)))
with open(long, "w", encoding="utf-8") as f:           # consecutive sentences, > 600 words each
    at = 0
    for _ in range(n_long):
        words = []
        while len(words) < 600:
            words += lines[at % len(lines)].split(); at += 1
        f.write(" ".join(words) + "\n")
PY
"$PYTHON" - "$model" "$short" "$long" "$LONG" <<'PY'
import sys
import numpy as np
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
for path in sys.argv[2:3] + (sys.argv[3:4] if int(sys.argv[4]) else []):
    texts = open(path, encoding="utf-8").read().splitlines()
    full = np.array([len(ids) for ids in tok(texts)["input_ids"]])
    cut = np.minimum(full, 512)
    print(f"{path}: {len(texts)} lines, tokens per line ([CLS] and [SEP] included, after truncation to 512): "
          f"mean {cut.mean():.1f}, p50 {np.percentile(cut, 50):.0f}, p90 {np.percentile(cut, 90):.0f}, "
          f"max {cut.max()}, total {cut.sum()}; {int((full > 512).sum())} truncated")
PY

results=$OUT/results.jsonl
: > "$results"
# run ENGINE THREADS INPUT OUTPUT.npy KIND: one measurement, one JSON line appended to $results.
run() {
  local engine=$1 t=$2 input=$3 npy=$4 kind=$5 log=$OUT/log-$1-$2-$5.txt
  echo "== $kind: $engine, $t thread(s) ($(uptime | sed 's/.*load/load/'))" >&2
  if [ "$engine" = ours ]; then
    OPENBLAS_NUM_THREADS=$t /usr/bin/time -v "$BIN/bert-pretrain" embed --checkpoint "$model" --input "$input" \
      --output "$npy" --format npy --batch-size 32 --threads "$t" 2> "$log" || { cat "$log" >&2; die "embed failed"; }
    "$PYTHON" - "$log" "$t" "$kind" >> "$results" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
m = re.findall(r"embed: (\d+) texts \((\d+) tokens\) in ([0-9.]+) s: ([0-9.]+) texts/s", text)[-1]
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
print(json.dumps({"engine": "ours", "threads": int(sys.argv[2]), "batch": 32, "texts": int(m[0]), "tokens": int(m[1]),
                  "seconds": float(m[2]), "texts_per_s": float(m[3]), "peak_rss_mb": round(rss / 1024, 1), "kind": sys.argv[3]}))
PY
  else
    # ENGINE-sorted: the same engine batching longest first, as sentence-transformers' encode does.
    local sort=() peer_engine=${engine%-sorted}
    [ "$peer_engine" != "$engine" ] && sort=(--sort-by-length)
    "$PYTHON" "$PEER" --engine "$peer_engine" "${sort[@]}" --checkpoint "$model" --input "$input" --threads "$t" --batch 32 \
      --output "$npy" 2> "$log" \
      | sed -e "s/\"engine\": \"$peer_engine\"/\"engine\": \"$engine\"/" -e "s/}\$/, \"kind\": \"$kind\"}/" >> "$results" \
      || { cat "$log" >&2; die "$engine failed"; }
  fi
  tail -1 "$results" >&2
}

for t in $THREADS; do
  for r in $(seq "$ROUNDS"); do
    for e in $ENGINES; do run "$e" "$t" "$short" "$OUT/$e-$t.npy" speed; done
  done
done
if [ "$LONG" -gt 0 ]; then
  for e in $MEM_ENGINES; do run "$e" "$MEM_THREADS" "$long" "$OUT/$e-long.npy" memory; done
fi

echo
echo "load after the runs: $(uptime | sed 's/.*load/load/')"
"$PYTHON" - "$results" "$OUT" "$THREADS" "$MEM_THREADS" <<'PY'
import json, statistics, sys
import numpy as np
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out, threads, mem_t = sys.argv[2], [int(t) for t in sys.argv[3].split()], int(sys.argv[4])
for r in rows:
    if "versions" in r: print(f'{r["engine"]}: ' + ", ".join(f"{k} {v}" for k, v in r["versions"].items()))
def pick(engine, t, kind):
    rs = [r for r in rows if r["engine"] == engine and r["threads"] == t and r["kind"] == kind]
    if not rs: return None
    return {"texts_per_s": statistics.median(r["texts_per_s"] for r in rs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "tokens": rs[0]["tokens"], "n": len(rs)}
print()
names = {"ours": "bert-pretrain embed", "torch": "transformers + torch", "torch-sorted": "transformers + torch, sorted by length",
         "onnx": "ONNX Runtime (dynamo export)", "onnx-sorted": "ONNX Runtime (dynamo export), sorted by length",
         "onnx-fused": "ONNX Runtime (fused, ORT BERT optimizer)", "onnx-fused-sorted": "ONNX Runtime (fused), sorted by length"}
print("| engine | threads | texts/s | ours ÷ engine | peak RSS MB |")
print("|---|---|---|---|---|")
for t in threads:
    ours = pick("ours", t, "speed")
    for e, name in names.items():
        p = pick(e, t, "speed")
        if p is None: continue
        ratio = f'{ours["texts_per_s"] / p["texts_per_s"]:.2f}x' if ours and p is not ours else ""
        print(f'| {name} | {t} | {p["texts_per_s"]:.1f} | {ratio} | {p["peak_rss_mb"]:.0f} |')
mem = [(e, pick(e, mem_t, "memory")) for e in names]
if any(p for _, p in mem):
    print()
    print(f"| memory run, batch 32 × 512 tokens, {mem_t} threads | texts/s | peak RSS MB |")
    print("|---|---|---|")
    for e, p in mem:
        if p: print(f'| {e} | {p["texts_per_s"]:.2f} | {p["peak_rss_mb"]:.0f} |')
print()
def agree(a, b, label):
    try: x, y = np.load(f"{out}/{a}.npy"), np.load(f"{out}/{b}.npy")
    except FileNotFoundError: return
    if x.shape != y.shape: print(f"{label}: shapes differ {x.shape} vs {y.shape}"); return
    cos = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
    rel = np.abs(x - y).max() / np.abs(y).max()
    print(f"{label}: {x.shape[0]} rows × {x.shape[1]}: min cosine {cos.min():.7f} "
          f"({'all > 0.9999' if cos.min() > 0.9999 else 'NOT all > 0.9999'}), max |diff| {np.abs(x - y).max():.2e} "
          f"(relative to max |torch| {rel:.1e})")
for t in threads:
    agree(f"ours-{t}", f"torch-{t}", f"ours vs torch, {t} thread(s)")
    agree(f"torch-sorted-{t}", f"torch-{t}", f"torch sorted vs torch, {t} thread(s)")
    agree(f"onnx-{t}", f"torch-{t}", f"onnx vs torch, {t} thread(s)")
    agree(f"onnx-fused-{t}", f"torch-{t}", f"onnx-fused vs torch, {t} thread(s)")
agree("ours-long", "torch-long", "memory run: ours vs torch")
PY
