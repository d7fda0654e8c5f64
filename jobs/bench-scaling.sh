#!/usr/bin/env bash
# Data-parallel scaling of `bert-pretrain` on one machine: 1 rank × 1 BLAS thread against
# 2 ranks × 1 thread, batch 32 × T per rank, plus `bert-pretrain bench` (no MPI, no data) for the
# same config. Prints, per config, the median seq/s of each (metrics.csv rows after the first two),
# the scaling efficiency (2-rank seq/s ÷ twice the 1-rank seq/s), the median time per step waiting
# in the gradient all-reduce, and the data-wait share rank 0 logs.
#
#   DATA=work-data/shards VOCAB=work-data/shards/vocab.txt CONFIGS="bert-tiny bert-small bert-base" \
#       bash jobs/bench-scaling.sh
# DATA: a folder of training shards (e.g. the one `bash jobs/local-example.sh` builds).
# STEPS: optimizer steps per run (default 40 for small configs, 5 for bert-base; short runs of a
# small config are dominated by warm-up).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-work-data/shards}
VOCAB=${VOCAB:-$DATA/vocab.txt}
CONFIGS=${CONFIGS:-"bert-tiny bert-small bert-base"}
OUT=${OUT:-/tmp/bert-scaling}
BIN=.build/release/bert-pretrain
[ -x "$BIN" ] || swift build -c release --product bert-pretrain
[ -d "$DATA" ] || { echo "error: DATA=$DATA is not a folder of shards (run jobs/local-example.sh first)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"

median_column() {   # file column-name: median of a metrics.csv column over train rows after the first two
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
       $1 == "train" { n++; if (n > 2) print $c }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

echo "| config | 1 rank seq/s | 2 ranks seq/s | scaling | all-reduce wait per step (2 ranks) | data wait (2 ranks) | bench seq/s | 1 rank ÷ bench |"
echo "|---|---|---|---|---|---|---|---|"
for cfg in $CONFIGS; do
  steps=${STEPS:-$([ "$cfg" = bert-base ] && echo 5 || echo 40)}
  declare -A sps=()
  for np in 1 2; do
    run="$OUT/$cfg-np$np"; rm -rf "$run"
    mpirun --oversubscribe --bind-to none -np $np -x OPENBLAS_NUM_THREADS=1 \
      "$BIN" --config "$cfg" --data "$DATA" --vocab "$VOCAB" --output "$run" --batch-size 32 --threads 1 \
      --skip-eval --log-every-steps 1 --stop-after-steps "$steps" --warmup-steps 0 > "$run.log" 2>&1 \
      || { echo "error: $cfg -np $np failed, see $run.log" >&2; exit 1; }
    sps[$np]=$(median_column "$run/metrics.csv" seq_per_s)
    [ $np = 2 ] && allreduce=$(median_column "$run/metrics.csv" allreduce_ms) \
                && datawait=$(grep -ho "([0-9.]*%)" "$run.log" | tail -1 | tr -d '()' || true)
  done
  bench=$("$BIN" bench --config "$cfg" --batch-size 32 --seq-length 128 --threads 1 --steps "$([ "$cfg" = bert-base ] && echo 3 || echo 8)" --warmup 1 --json \
          | sed -E 's/.*"seq_per_s": *([0-9.e+-]+).*/\1/')
  awk -v c="$cfg" -v a="${sps[1]}" -v b="${sps[2]}" -v r="$allreduce" -v d="${datawait:-?}" -v x="$bench" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.0f%% | %.0f ms | %s | %.2f | %.0f%% |\n", c, a, b, 100 * b / (2 * a), r, d, x, 100 * a / x }'
done
