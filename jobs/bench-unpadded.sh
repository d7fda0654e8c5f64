#!/usr/bin/env bash
# Unpadded against padded against PyTorch, on real shard rows, side by side in one run:
#   unpadded  `bert-pretrain bench --data DATA`            real tokens only (encoder.packsSequences, the default)
#   padded    `bert-pretrain bench --data DATA --padded`   the rectangular path over all B·T positions
#   torch     jobs/bench/torch_shard_bench.py --data DATA  transformers' BertForPreTraining, gathered MLM head,
#                                                          the rows padded as HF runs them (attention_mask = input_mask)
# All three time the same batches: consecutive instances of the shards in file order, step s computing batch
# s mod K (see `bert-pretrain bench --help`). Rounds interleave the runs (A B C A B C …) so that a slow spell of
# the machine hits all of them; the table shows medians over the rounds: seq/s of each, the ratios
# unpadded ÷ padded and unpadded ÷ torch, the padding share of the timed batches, and peak RSS.
#
#   bash jobs/bench-unpadded.sh                       # bert-small and bert-base, 1 and 2 threads, 3 rounds
#   CONFIGS=bert-tiny THREADS=1 ROUNDS=1 STEPS=2 WARMUP=1 bash jobs/bench-unpadded.sh   # a quick check
#
# Parameters (environment variables):
#   CONFIGS  presets                                                    default "bert-small bert-base"
#   THREADS  thread counts                                              default "1 2"
#   ROUNDS   rounds of the runs per config and thread count; medians    default 3
#   DATA     a folder of shards (its *training* shards) or one shard    default work-data/shards-128,
#            the example corpus's shards, which jobs/local-example.sh builds
#   BATCH    sequences per step (B)                                     default 32
#   STEPS    timed steps of every run          default per config: bert-base 3, bert-small 5, others 10
#   WARMUP   untimed steps before them         default per config: bert-base 1, others 2
#   ENGINES  the runs of a round, in this order                         default "unpadded padded torch"
#   OUT      results (JSON lines) and logs                              default .build/bench-unpadded
# Needs a Swift toolchain and, for the torch runs only, Python 3 with torch, transformers, h5py and numpy
# (pip install "torch==2.13.0+cpu" transformers h5py numpy --extra-index-url https://download.pytorch.org/whl/cpu).
# Each run is its own process, so each peak RSS is that run's own. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=${CONFIGS:-"bert-small bert-base"}
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-3}
DATA=${DATA:-work-data/shards-128}
BATCH=${BATCH:-32}
ENGINES=${ENGINES:-"unpadded padded torch"}
OUT=${OUT:-.build/bench-unpadded}
PYTHON=${PYTHON:-python3}
PEER=jobs/bench/torch_shard_bench.py
die() { echo "bench-unpadded.sh: error: $*" >&2; exit 1; }
for v in ROUNDS BATCH ${STEPS:+STEPS} ${WARMUP:+WARMUP}; do [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v=${!v}: not a number"; done
for e in $ENGINES; do case $e in unpadded|padded|torch) ;; *) die "ENGINES: unknown run '$e' (unpadded, padded, torch)";; esac; done

if [ ! -e "$DATA" ]; then
  die "DATA=$DATA: no shards there. The example corpus's shards are built by the first stages of
  bash jobs/local-example.sh
(seconds after the release build; it then pretrains for about 13 minutes, which this bench does not need:
stop it with Ctrl-C once it prints '== … pretraining'), or by hand:
  bash corpus-tools/prepare-web-bible.sh work-data/corpus     # needs the Debian packages diatheke and sword-text-web
  .build/release/bert-corpus vocab --input work-data/corpus --vocab-size 8000 --output work-data/vocab.txt
  mpirun -np 2 .build/release/bert-corpus build --input work-data/corpus --format google --vocab work-data/vocab.txt \\
      --output work-data/shards-128 --max-seq-length 128 --max-predictions-per-seq 20 --holdout-fraction 0.1
Or set DATA= to any folder of shards in NVIDIA's layout."
fi
if [[ " $ENGINES " == *" torch "* ]]; then
  "$PYTHON" -c "import torch, transformers, h5py, numpy" 2>/dev/null \
    || die "the torch runs need torch, transformers, h5py and numpy in $PYTHON (see the top of this script), or ENGINES=\"unpadded padded\""
fi

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
  if [ "$engine" = torch ]; then
    rm -f "$OUT/peer.jsonl"
    "$PYTHON" "$PEER" --data "$DATA" --size "$cfg" --threads "$t" --batch "$BATCH" --mlm gathered \
      --steps "$steps" --warmup "$warm" --min-seconds 0 --json "$OUT/peer.jsonl" > "$log" 2>&1 \
      || { cat "$log" >&2; die "$PEER failed"; }
    line=$(tail -1 "$OUT/peer.jsonl")
  else
    local padded=()
    [ "$engine" = padded ] && padded=(--padded)
    line=$(OPENBLAS_NUM_THREADS=$t "$BIN" bench --config "$cfg" --data "$DATA" --batch-size "$BATCH" --threads "$t" \
             --steps "$steps" --warmup "$warm" "${padded[@]}" --json 2> "$log") || { cat "$log" >&2; die "bench failed"; }
  fi
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
"$PYTHON" - "$results" "$DATA" "$BATCH" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
data, batch = sys.argv[2], sys.argv[3]
config = lambda r: r.get("config") or r.get("size")
def pick(cfg, t, engine):
    rs = [r for r in rows if config(r) == cfg and r["threads"] == t and r["engine"] == engine]
    if not rs: return None
    return {"seq_per_s": statistics.median(r["seq_per_s"] for r in rs),
            "rss": max(r.get("peak_rss_mb", r.get("max_rss_mib")) for r in rs),
            "padding": {round(r["padding_share"], 12) for r in rs},
            "steps": f'{rs[0]["warmup"]} + {rs[0]["steps"]} of {rs[0]["distinct_batches"]}'}
peer = next((r for r in rows if r["engine"] == "torch"), None)
if peer: print(f'peer: torch {peer["torch"]}, transformers {peer["transformers"]}, attention {peer["attn"]}, MLM head {peer["mlm"]}')
first = rows[0]
print(f'data: {data}, batch {batch} × T {first.get("seq_length") or first.get("seq")}; medians of {max(r["round"] for r in rows)} round(s)')
print()
print("| config | threads | padding | warm-up + timed steps of K batches | ours unpadded seq/s | ours padded seq/s | PyTorch seq/s "
      "| unpadded ÷ padded | unpadded ÷ PyTorch | ours unpadded peak RSS MB | PyTorch peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for cfg, t in dict.fromkeys((config(r), r["threads"]) for r in rows):
    runs = {e: pick(cfg, t, e) for e in ("unpadded", "padded", "torch")}
    u, p, torch = runs["unpadded"], runs["padded"], runs["torch"]
    shares = set().union(*(x["padding"] for x in runs.values() if x))
    if len(shares) > 1:   # same rows, same share: anything else means the runs did not time the same batches
        print(f"warning: {cfg}, {t} thread(s): the runs report padding shares {sorted(shares)}: not the same rows", file=sys.stderr)
    steps = next(x["steps"] for x in runs.values() if x)
    sps = lambda x: f'{x["seq_per_s"]:.2f}' if x else "–"
    ratio = lambda a, b: f'{a["seq_per_s"] / b["seq_per_s"]:.2f}x' if a and b else "–"
    rss = lambda x: f'{x["rss"]:.0f}' if x else "–"
    print(f'| {cfg} | {t} | {100 * min(shares):.1f}% | {steps} | {sps(u)} | {sps(p)} | {sps(torch)} | {ratio(u, p)} | {ratio(u, torch)} '
          f'| {rss(u)} | {rss(torch)} |')
PY
