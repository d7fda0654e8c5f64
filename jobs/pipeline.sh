#!/usr/bin/env bash
# jobs/pipeline.sh: submits the whole two-phase recipe as Slurm jobs chained with afterok:
#
#   build-128 (learns the vocab if missing) ─┬─▶ phase 1 (seq 128, EPOCHS1) ─┐
#                                            └─▶ build-512 ───────────────────┴─▶ phase 2 (seq 512,
#                                                                                 --init-from phase 1)
#
#   INPUT=corpus/ WORK=/scratch/bert CONFIG=bert-base bash jobs/pipeline.sh
#
# Parameters (environment variables):
#   INPUT          corpus file or folder                                           required
#   WORK           folder for vocab.txt, shards-SEQ/, phase1/, phase2/             required
#   VOCAB          vocab.txt to use        default WORK/vocab.txt (learned with VOCAB_SIZE if missing)
#   VOCAB_SIZE     default 30522
#   CONFIG         model preset or config.json                                     default bert-base
#   SEQ1, SEQ2     sequence lengths of the phases                                  default 128, 512
#   EPOCHS1, EPOCHS2                                                               default 3, 1
#   BATCH1, BATCH2 per-rank batch sizes                                            default 32, 8
#   LR1, LR2                                                                       default 1e-4, 5e-5
#   NODES, TASKS_PER_NODE, CPUS_PER_TASK   allocation of the training jobs         default 1, 2, 1
#   BUILD_TASKS    tasks of each build job                                         default 2
#   TIME1, TIME2   --time of the training jobs (they checkpoint and requeue 120 s before it)
#                                                                                  default 24:00:00
#   A job whose dependency failed is cancelled (--kill-on-invalid-dep=yes), not left pending.
#   SBATCH_ARGS    extra sbatch flags for every job, e.g. "--partition=gpu --account=proj"
#   TRAIN_ARGS, CORPUS_ARGS, DUPE_FACTOR, SEED, HOLDOUT, SHARDS: passed to the job scripts.
# Prints the job ids, one per line as "name id", and nothing else on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "pipeline.sh: error: $*" >&2; exit 1; }

INPUT=${INPUT:-}; WORK=${WORK:-}
[ -n "$INPUT" ] || die "INPUT is not set (corpus file or folder)"
[ -e "$INPUT" ] || die "INPUT=$INPUT: no such file or directory"
[ -n "$WORK" ] || die "WORK is not set (the folder for vocab, shards and runs)"
mkdir -p "$WORK" || die "WORK=$WORK: cannot create it"
INPUT=$(cd "$(dirname "$INPUT")" && pwd)/$(basename "$INPUT")
WORK=$(cd "$WORK" && pwd)
VOCAB=${VOCAB:-$WORK/vocab.txt}
VOCAB_SIZE=${VOCAB_SIZE:-30522}
SEQ1=${SEQ1:-128}; SEQ2=${SEQ2:-512}
EPOCHS1=${EPOCHS1:-3}; EPOCHS2=${EPOCHS2:-1}
BATCH1=${BATCH1:-32}; BATCH2=${BATCH2:-8}
LR1=${LR1:-1e-4}; LR2=${LR2:-5e-5}
NODES=${NODES:-1}; TASKS_PER_NODE=${TASKS_PER_NODE:-2}; CPUS_PER_TASK=${CPUS_PER_TASK:-1}
BUILD_TASKS=${BUILD_TASKS:-2}
TIME1=${TIME1:-24:00:00}; TIME2=${TIME2:-24:00:00}
SBATCH_ARGS=${SBATCH_ARGS:-}
command -v sbatch >/dev/null || die "sbatch not found (is this a Slurm login node?)"

# shellcheck disable=SC2206
extra=($SBATCH_ARGS)
submit() {   # name, then env assignments, then -- , then sbatch args
  local name=$1; shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  local id
  id=$(env "${envs[@]}" sbatch --parsable --job-name="$name" --chdir="$WORK" --kill-on-invalid-dep=yes "${extra[@]}" "$@") \
    || die "sbatch of $name failed"
  echo "$name ${id%%;*}"
  last=${id%%;*}
}

repo=$(cd "$here/.." && pwd)
common=(INPUT="$INPUT" VOCAB="$VOCAB"
        BERT_CORPUS="${BERT_CORPUS:-$repo/.build/release/bert-corpus}"
        BERT_PRETRAIN="${BERT_PRETRAIN:-$repo/.build/release/bert-pretrain}")

submit build-$SEQ1 "${common[@]}" VOCAB_SIZE="$VOCAB_SIZE" OUTPUT="$WORK/shards-$SEQ1" MAX_SEQ="$SEQ1" -- \
  --ntasks="$BUILD_TASKS" "$here/build-corpus.sbatch"
build1=$last
submit build-$SEQ2 "${common[@]}" OUTPUT="$WORK/shards-$SEQ2" MAX_SEQ="$SEQ2" -- \
  --ntasks="$BUILD_TASKS" --dependency=afterok:"$build1" "$here/build-corpus.sbatch"
build2=$last
submit phase1 "${common[@]}" DATA="$WORK/shards-$SEQ1" OUTPUT="$WORK/phase1" CONFIG="${CONFIG:-bert-base}" \
  EPOCHS="$EPOCHS1" BATCH_SIZE="$BATCH1" LR="$LR1" -- \
  --nodes="$NODES" --ntasks-per-node="$TASKS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --time="$TIME1" \
  --dependency=afterok:"$build1" "$here/pretrain.sbatch"
phase1=$last
submit phase2 "${common[@]}" DATA="$WORK/shards-$SEQ2" OUTPUT="$WORK/phase2" CONFIG="${CONFIG:-bert-base}" \
  EPOCHS="$EPOCHS2" BATCH_SIZE="$BATCH2" LR="$LR2" INIT_FROM="$(printf '%s/phase1/epoch-%04d' "$WORK" "$EPOCHS1")" -- \
  --nodes="$NODES" --ntasks-per-node="$TASKS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --time="$TIME2" \
  --dependency=afterok:"$phase1":"$build2" "$here/pretrain.sbatch"
