#!/usr/bin/env bash
# Does bf16 train as well as fp32? The example's model trained twice on the example's shards from the same
# seed, once with `--precision fp32` and once with `--precision bf16`, then the held-out losses compared
# (the check: within MAX_GAP of each other, relative) and both curves drawn in one SVG
# (`bert-pretrain compare`). The defaults are jobs/local-example.sh's pretraining run (bert-tiny, 2 ranks
# × 32, lr 2e-3, 5 % warm-up) for 2 epochs: 354 steps on its World English Bible shards at length 128,
# a held-out row after each epoch.
#
#   bash jobs/local-example.sh && bash jobs/bf16-vs-fp32.sh
#
# Parameters (environment variables):
#   DATA     the shards (a folder with training and test shards)     default work-data/shards-128
#   CONFIG   model preset                                              default bert-tiny
#   EPOCHS   passes over the training shards                           default 2
#   NP       MPI ranks                                                 default 2
#   BATCH    sequences per rank per step                               default 32
#   LR, WARMUP  learning rate, warm-up share                           default 2e-3, 0.05
#   SEED     the runs' seed (the same for both)                        default 42
#   MAX_GAP  largest allowed |held-out bf16 − fp32| ÷ fp32              default 0.02
#   OUT      the two runs, the SVG (bf16-vs-fp32.svg) and the logs     default .build/bf16-vs-fp32
# On a CPU without bf16 instructions bf16 is emulated (the same numbers, fp32 speed): the comparison holds
# on any machine. Not part of the tests (minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-work-data/shards-128}
CONFIG=${CONFIG:-bert-tiny}
EPOCHS=${EPOCHS:-2}
NP=${NP:-2}
BATCH=${BATCH:-32}
LR=${LR:-2e-3}
WARMUP=${WARMUP:-0.05}
SEED=${SEED:-42}
MAX_GAP=${MAX_GAP:-0.02}
OUT=${OUT:-.build/bf16-vs-fp32}
die() { echo "bf16-vs-fp32.sh: error: $*" >&2; exit 1; }
[ -d "$DATA" ] || die "no shards at $DATA (run jobs/local-example.sh first, or give DATA=)"

swift build -c release 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Write|Emitting)' || true; }
bin=$(swift build -c release --show-bin-path)
cores=$(nproc)
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$(( cores / NP > 0 ? cores / NP : 1 ))}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np "$NP" --bind-to none -x OPENBLAS_NUM_THREADS)
[ "$NP" -gt "$cores" ] && mpi+=(--oversubscribe)

rm -rf "$OUT"; mkdir -p "$OUT"
for precision in fp32 bf16; do
  echo "== $(date -u +%H:%M:%S) $precision: ${mpi[*]} bert-pretrain --precision $precision → $OUT/$precision"
  start=$(date +%s)
  "${mpi[@]}" "$bin/bert-pretrain" --config "$CONFIG" --data "$DATA" --epochs "$EPOCHS" --batch-size "$BATCH" \
    --lr "$LR" --warmup-proportion "$WARMUP" --seed "$SEED" --precision "$precision" --output "$OUT/$precision" \
    > "$OUT/$precision.log" 2>&1 || { tail -20 "$OUT/$precision.log"; die "the $precision run failed (log: $OUT/$precision.log)"; }
  echo "   $(( $(date +%s) - start )) s"
done
"$bin/bert-pretrain" compare "$OUT/fp32=fp32" "$OUT/bf16=bf16 (--precision bf16)" --output "$OUT/bf16-vs-fp32.svg" \
  --title "$CONFIG on $(basename "$DATA"), fp32 and bf16 from seed $SEED" | tee "$OUT/compare.txt"
held_out() { awk -F, '$1 == "eval" { loss = $6 } END { print loss }' "$OUT/$1/metrics.csv"; }
fp32=$(held_out fp32); bf16=$(held_out bf16)
[ -n "$fp32" ] && [ -n "$bf16" ] || die "a run wrote no held-out row"
awk -v a="$fp32" -v b="$bf16" -v max="$MAX_GAP" -v svg="$OUT/bf16-vs-fp32.svg" 'BEGIN {
  gap = (b - a) / a; if (gap < 0) gap = -gap
  printf "held-out loss: fp32 %.4f, bf16 %.4f, relative gap %.2f%% (allowed %.0f%%); curves: %s\n", a, b, 100 * gap, 100 * max, svg
  exit gap <= max ? 0 : 1 }' || die "bf16 and fp32 held-out losses differ by more than $MAX_GAP"
