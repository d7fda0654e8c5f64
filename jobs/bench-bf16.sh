#!/usr/bin/env bash
# bf16 against fp32, ours and PyTorch's, side by side in one run: the training step on B full-length
# synthetic sequences (`bert-pretrain bench`, the peer's batch: 128 tokens, 20 masked positions, AdamW,
# dropout 0.1) in four runs per round —
#   fp32        bert-pretrain bench --precision fp32   (OpenBLAS)
#   bf16        bert-pretrain bench --precision bf16   (oneDNN where the CPU has bf16 instructions, else emulated)
#   torch       ../shared/peer-bench/torch_bert_bench.py --mlm gathered
#   torch-bf16  the same under torch.autocast("cpu", dtype=torch.bfloat16)   (--bf16)
# Rounds interleave the runs so that a slow spell of the machine hits all of them; the table shows medians,
# the ratios bf16 ÷ fp32 and ours bf16 ÷ PyTorch bf16, which code ran our products and OpenBLAS's core
# (openblas_get_corename) and a 2048³ sgemm's GFLOP/s at that core.
#
#   bash jobs/bench-bf16.sh                                         # bert-small and bert-base, 1 and 2 threads
#   CONFIGS=bert-tiny THREADS=1 ROUNDS=1 bash jobs/bench-bf16.sh    # a quick check
#
# Parameters (environment variables):
#   CONFIGS  presets                                   default "bert-small bert-base"
#   THREADS  thread counts                             default "1 2"
#   ROUNDS   rounds; medians over them                 default 2
#   BATCH    sequences per step                        default 32
#   STEPS, WARMUP  timed and untimed steps   default per config: bert-base 3 + 1, bert-small 5 + 2, others 10 + 2
#   ENGINES  the runs of a round, in this order        default "fp32 bf16 torch torch-bf16"
#   PEER     the PyTorch benchmark                     default ../shared/peer-bench/torch_bert_bench.py
#   OUT      results (JSON lines) and logs             default .build/bench-bf16
# Needs, for the torch runs only, Python 3 with torch and transformers (see ../shared/peer-bench/README.md).
# Only a CPU with AVX512-BF16 or AMX makes bf16 fast (ours and PyTorch's); elsewhere the table shows what
# bf16 costs. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=${CONFIGS:-"bert-small bert-base"}
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-2}
BATCH=${BATCH:-32}
ENGINES=${ENGINES:-"fp32 bf16 torch torch-bf16"}
PEER=${PEER:-../shared/peer-bench/torch_bert_bench.py}
OUT=${OUT:-.build/bench-bf16}
PYTHON=${PYTHON:-python3}
die() { echo "bench-bf16.sh: error: $*" >&2; exit 1; }
for v in ROUNDS BATCH ${STEPS:+STEPS} ${WARMUP:+WARMUP}; do [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v=${!v}: not a number"; done
for e in $ENGINES; do case $e in fp32|bf16|torch|torch-bf16) ;; *) die "ENGINES: unknown run '$e' (fp32, bf16, torch, torch-bf16)";; esac; done
if [[ " $ENGINES " == *" torch"* ]]; then
  [ -f "$PEER" ] || die "the peer benchmark is not at $PEER (set PEER=, or ENGINES=\"fp32 bf16\")"
  "$PYTHON" -c "import torch, transformers" 2>/dev/null || die "the torch runs need torch and transformers in $PYTHON, or ENGINES=\"fp32 bf16\""
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-); bf16 instructions: $(grep -o -w -m1 'avx512_bf16\|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)" >&2

echo "== release build" >&2
swift build -c release --product bert-pretrain >&2 || die "swift build -c release failed"
BIN=$(swift build -c release --show-bin-path)/bert-pretrain
mkdir -p "$OUT"
results=$OUT/results.jsonl
: > "$results"

# run ENGINE CONFIG THREADS ROUND STEPS WARMUP: one measurement, one JSON line (engine and round added) in $results.
run() {
  local engine=$1 cfg=$2 t=$3 round=$4 steps=$5 warm=$6 log=$OUT/log-$1-$2-$3-$4.txt line
  echo "== $cfg, $t thread(s), round $round: $engine ($(uptime | sed 's/.*load/load/'))" >&2
  case $engine in
    torch|torch-bf16)
      local bf16=()
      [ "$engine" = torch-bf16 ] && bf16=(--bf16)
      rm -f "$OUT/peer.jsonl"
      "$PYTHON" "$PEER" --size "$cfg" --threads "$t" --batch "$BATCH" --seq 128 --masked 20 --mlm gathered \
        --steps "$steps" --warmup "$warm" --min-seconds 0 "${bf16[@]}" --json "$OUT/peer.jsonl" > "$log" 2>&1 \
        || { cat "$log" >&2; die "$PEER failed"; }
      line=$(tail -1 "$OUT/peer.jsonl");;
    *)
      line=$(OPENBLAS_NUM_THREADS=$t "$BIN" bench --config "$cfg" --batch-size "$BATCH" --seq-length 128 --predictions 20 \
               --threads "$t" --steps "$steps" --warmup "$warm" --precision "$engine" --json 2> "$log") \
        || { cat "$log" >&2; die "bench failed"; };;
  esac
  echo "${line%\}}, \"engine\": \"$engine\", \"round\": $round}" >> "$results"
}

for cfg in $CONFIGS; do
  case $cfg in bert-base) steps=3; warm=1;; bert-small) steps=5; warm=2;; *) steps=10; warm=2;; esac
  steps=${STEPS:-$steps}; warm=${WARMUP:-$warm}
  for t in $THREADS; do
    for r in $(seq "$ROUNDS"); do
      for e in $ENGINES; do run "$e" "$cfg" "$t" "$r" "$steps" "$warm"; done
    done
  done
done

echo
echo "load after the runs: $(uptime | sed 's/.*load/load/')"
"$PYTHON" - "$results" "$BATCH" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
config = lambda r: r.get("config") or r.get("size")
def pick(cfg, t, engine):
    rs = [r for r in rows if config(r) == cfg and r["threads"] == t and r["engine"] == engine]
    if not rs: return None
    return dict(rs[0], seq_per_s=statistics.median(r["seq_per_s"] for r in rs))
peer = next((r for r in rows if r["engine"].startswith("torch")), None)
if peer: print(f'peer: torch {peer["torch"]}, transformers {peer["transformers"]}, attention {peer["attn"]}, MLM head {peer["mlm"]}')
print(f'batch {sys.argv[2]} × 128, medians of {max(r["round"] for r in rows)} round(s)')
print()
print("| config | threads | ours fp32 seq/s | ours bf16 seq/s | bf16 path | bf16 ÷ fp32 | PyTorch fp32 | PyTorch bf16 autocast "
      "| PyTorch bf16 ÷ fp32 | ours bf16 ÷ PyTorch bf16 | OpenBLAS core, 2048³ sgemm |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for cfg, t in dict.fromkeys((config(r), r["threads"]) for r in rows):
    f, b, p, pb = (pick(cfg, t, e) for e in ("fp32", "bf16", "torch", "torch-bf16"))
    sps = lambda x: f'{x["seq_per_s"]:.2f}' if x else "–"
    ratio = lambda a, c: f'{a["seq_per_s"] / c["seq_per_s"]:.2f}x' if a and c else "–"
    core = next((f'{x["openblas_core"]}, {x["sgemm_gflops"]:.0f} GFLOP/s' for x in (f, b) if x), "–")
    print(f'| {cfg} | {t} | {sps(f)} | {sps(b)} | {b["products"] if b else "–"} | {ratio(b, f)} | {sps(p)} | {sps(pb)} '
          f'| {ratio(pb, p)} | {ratio(b, pb)} | {core} |')
PY
