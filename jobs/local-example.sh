#!/usr/bin/env bash
# jobs/local-example.sh: the whole pipeline, end to end, on one machine, on a small real corpus
# (the World English Bible, public domain, from Debian's own packages):
#
#   install packages → swift build -c release → corpus (corpus-tools/prepare-web-bible.sh)
#   → vocab (bert-corpus vocab) → shards (mpirun -np NP bert-corpus build)
#   → pretraining (mpirun -np NP bert-pretrain) → evaluation of the last checkpoint
#   → fine-tuning on a labelled task made from the same corpus (which book of the Torah a sentence
#     comes from; chapters split between training and validation), once from the pretrained
#     checkpoint and once from scratch with the same flags: what pretraining bought
#
#   bash jobs/local-example.sh                                   # defaults below
#   CONFIG=bert-mini EPOCHS=5 NP=4 bash jobs/local-example.sh    # any parameter as a variable
#
# Parameters (environment variables):
#   CONFIG       model preset: bert-tiny, bert-mini, bert-small, … bert-base          default bert-tiny
#   EPOCHS       training epochs                                                       default 8
#   VOCAB_SIZE   WordPiece vocabulary size to learn                                     default 8000
#   MAX_SEQ      sequence length of the shards                                          default 128
#   DUPE_FACTOR  times each document is turned into instances (different masks)         default 1
#   HOLDOUT      share of documents held out for the evaluation (test) shards          default 0.1
#   NP           MPI ranks for building and training                                    default 2
#   BATCH_SIZE   sequences per rank per step                                            default 32
#   LR           peak learning rate                                                     default 2e-3
#   WARMUP       share of the training steps in linear warm-up                          default 0.05
#   RANGE        the part of the Bible to use (a diatheke key)          default "Gen 1:1-Rev 22:21"
#   WORK         where everything goes                                 default ./work-data (in the repo)
#   FRESH=1      start a new training run instead of reusing/resuming the previous one
#   TRAIN_ARGS   further bert-pretrain flags
#   FT_EPOCHS    fine-tuning epochs (each of the two runs)                             default 3
#   FT_LR        fine-tuning peak learning rate                                         default 5e-4
#
# Running it again is cheap: every stage keeps a stamp of its inputs and is skipped when they are
# unchanged. Training: a finished run (its last epoch's checkpoint exists) is kept and only
# evaluated again; an interrupted run is resumed with --resume; a run made from other shards or
# parameters is moved aside (run.old-DATE) and a fresh one starts.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

CONFIG=${CONFIG:-bert-tiny}
EPOCHS=${EPOCHS:-8}
VOCAB_SIZE=${VOCAB_SIZE:-8000}
MAX_SEQ=${MAX_SEQ:-128}
DUPE_FACTOR=${DUPE_FACTOR:-1}
HOLDOUT=${HOLDOUT:-0.1}
NP=${NP:-2}
BATCH_SIZE=${BATCH_SIZE:-32}
LR=${LR:-2e-3}
WARMUP=${WARMUP:-0.05}
RANGE=${RANGE:-"Gen 1:1-Rev 22:21"}
WORK=${WORK:-$repo/work-data}
FRESH=${FRESH:-0}
TRAIN_ARGS=${TRAIN_ARGS:-}
FT_EPOCHS=${FT_EPOCHS:-3}
FT_LR=${FT_LR:-5e-4}
if [ "$MAX_SEQ" -ge 512 ]; then MAX_PRED=80; else MAX_PRED=20; fi

step() { echo; echo "== $(date -u +%H:%M:%S) $*"; }
die() { echo "local-example.sh: error: $*" >&2; exit 1; }
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }   # file, expected content

for v in EPOCHS VOCAB_SIZE MAX_SEQ DUPE_FACTOR NP BATCH_SIZE FT_EPOCHS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: not a positive integer"
done
t_start=$(date +%s)

step "system packages"
bash jobs/install-deps.sh diatheke sword-text-web

step "build (swift build -c release)"
if ! swift build -c release 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Write|Emitting)' || true; }; then
  die "swift build -c release failed (messages above)"
fi
bin=$(swift build -c release --show-bin-path)
bert_corpus=$bin/bert-corpus
bert_pretrain=$bin/bert-pretrain

# MPI: as root Open MPI needs an explicit yes; more ranks than cores needs --oversubscribe; each rank
# gets an equal share of the cores as BLAS threads, and no pinning (ranks would share one core).
cores=$(nproc)
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$(( cores / NP > 0 ? cores / NP : 1 ))}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np "$NP" --bind-to none -x OPENBLAS_NUM_THREADS)
[ "$NP" -gt "$cores" ] && mpi+=(--oversubscribe)

mkdir -p "$WORK"
corpus=$WORK/corpus
vocab=$WORK/vocab.txt
shards=$WORK/shards-$MAX_SEQ
run=$WORK/run-$CONFIG-seq$MAX_SEQ

step "corpus: World English Bible ($RANGE) → $corpus"
key_corpus="web-bible|$RANGE"
if stamp_ok "$corpus/.stamp" "$key_corpus"; then echo "up to date"
else
  rm -f "$corpus/.stamp"
  bash corpus-tools/prepare-web-bible.sh "$corpus" "$RANGE"
  echo "$key_corpus" > "$corpus/.stamp"
fi

step "vocabulary: $VOCAB_SIZE WordPiece tokens → $vocab"
key_vocab="$key_corpus|vocab $VOCAB_SIZE"
if stamp_ok "$WORK/vocab.stamp" "$key_vocab" && [ -s "$vocab" ]; then echo "up to date"
else
  rm -f "$WORK/vocab.stamp"
  "$bert_corpus" vocab --input "$corpus" --vocab-size "$VOCAB_SIZE" --output "$vocab" \
    || die "bert-corpus vocab failed (exit $?)"
  echo "$key_vocab" > "$WORK/vocab.stamp"
fi

step "shards: ${mpi[*]} bert-corpus build → $shards"
key_shards="$key_vocab|$(sha256sum "$vocab" | cut -c1-16)|seq $MAX_SEQ pred $MAX_PRED dupe $DUPE_FACTOR holdout $HOLDOUT"
if stamp_ok "$shards/.stamp" "$key_shards"; then echo "up to date"
else
  rm -rf "$shards"
  "${mpi[@]}" "$bert_corpus" build --input "$corpus" --format google --vocab "$vocab" --output "$shards" \
    --max-seq-length "$MAX_SEQ" --max-predictions-per-seq "$MAX_PRED" --dupe-factor "$DUPE_FACTOR" \
    --holdout-fraction "$HOLDOUT" || die "bert-corpus build failed (exit $?)"
  echo "$key_shards" > "$shards/.stamp"
fi

step "pretraining: ${mpi[*]} bert-pretrain --config $CONFIG --epochs $EPOCHS → $run"
key_run="$key_shards|$CONFIG|epochs $EPOCHS|batch $BATCH_SIZE|lr $LR|warmup $WARMUP|np $NP|$TRAIN_ARGS"
last=$(printf '%s/epoch-%04d' "$run" "$EPOCHS")
if [ -d "$run" ] && { [ "$FRESH" = 1 ] || ! stamp_ok "$run/.stamp" "$key_run"; }; then
  aside=$run.old-$(date -u +%Y%m%d-%H%M%S)
  echo "moving the previous run aside to $aside (FRESH=1 or other shards/parameters)"
  mv "$run" "$aside"
fi
train=(--config "$CONFIG" --data "$shards" --epochs "$EPOCHS" --batch-size "$BATCH_SIZE" --lr "$LR" --warmup-proportion "$WARMUP"
       --output "$run")
# shellcheck disable=SC2206
train+=($TRAIN_ARGS)
if [ -f "$last/model.safetensors" ]; then
  echo "already trained ($last exists); FRESH=1 starts a new run"
else
  if compgen -G "$run/*/trainer-state*" >/dev/null; then
    echo "resuming the interrupted run in $run"
    train+=(--resume)
  fi
  mkdir -p "$run"; echo "$key_run" > "$run/.stamp"
  "${mpi[@]}" "$bert_pretrain" "${train[@]}" \
    || die "training stopped (exit $?); run the same command again to resume from its last checkpoint"
fi
[ -f "$last/model.safetensors" ] || die "training ended without $last/model.safetensors"

step "evaluation of $last on the held-out shards"
"$bert_pretrain" evaluate --checkpoint "$last" --data "$shards" --json | tee "$run/evaluation.json"

# The task: sentences of Genesis…Deuteronomy (at least 6 words), labelled with their book; every 5th
# chapter of each book goes to validation, so no chapter is in both files. TSV: texts hold commas and quotes.
task=$WORK/task-torah
step "fine-tuning task: which book of the Torah a sentence comes from → $task"
key_task="$key_corpus|torah books by chapter"
if stamp_ok "$task/.stamp" "$key_task"; then echo "up to date"
else
  books=$(ls "$corpus"/00[1-5]-*.txt 2>/dev/null) || die "the corpus has no Genesis…Deuteronomy files (RANGE=$RANGE)"
  mkdir -p "$task"
  # shellcheck disable=SC2086
  awk -v train="$task/train.tsv" -v dev="$task/dev.tsv" '
    BEGIN { print "sentence\tlabel" > train; print "sentence\tlabel" > dev }
    FNR == 1 { book = FILENAME; sub(/.*\/[0-9]+-/, "", book); sub(/\.txt$/, "", book); chapter = 1; blank = 0 }
    /^[[:space:]]*$/ { if (!blank) chapter++; blank = 1; next }
    { blank = 0; if (NF < 6) next; gsub(/\t/, " "); print $0 "\t" book > (chapter % 5 == 0 ? dev : train) }
  ' $books
  echo "$key_task" > "$task/.stamp"
fi
echo "$(($(wc -l < "$task/train.tsv") - 1)) training and $(($(wc -l < "$task/dev.tsv") - 1)) validation sentences"

# Two runs with the same flags: from the pretrained checkpoint, and from scratch (same config, same vocabulary).
finetune() {   # name, flags…
  local name=$1; shift
  local out=$WORK/finetune-$name-$CONFIG key="$key_task|$key_run|ft epochs $FT_EPOCHS lr $FT_LR|$*"
  step "fine-tuning ($name): ${mpi[*]} bert-pretrain finetune → $out"
  if stamp_ok "$out/.stamp" "$key" && [ -f "$out/eval_results.json" ]; then echo "already fine-tuned"; return; fi
  rm -rf "$out"; mkdir -p "$out"
  "${mpi[@]}" "$bert_pretrain" finetune "$@" --train-file "$task/train.tsv" --validation-file "$task/dev.tsv" \
    --output "$out" --epochs "$FT_EPOCHS" --lr "$FT_LR" --batch-size 32 --max-seq-length 64 --log-every-steps 20 \
    || die "fine-tuning ($name) failed (exit $?)"
  echo "$key" > "$out/.stamp"
}
finetune pretrained --init-from "$last"
finetune scratch --config "$CONFIG" --vocab "$vocab"
accuracy() { sed -n 's/.*"eval_accuracy": *\([0-9.eE+-]*\).*/\1/p' "$WORK/finetune-$1-$CONFIG/eval_results.json"; }
ft_pretrained=$(accuracy pretrained); ft_scratch=$(accuracy scratch)

# What pretraining learned, with the inference commands: the masked-LM head's guesses on sentences written
# for this example (Bible-like, not verses of the corpus), and the verses nearest a query by mean-pooled
# embedding (cosine similarity, computed here with awk from embed's JSON lines).
probes=$WORK/fill-mask-probes.txt
cat > "$probes" <<'PROBES'
The LORD said to Moses, "Go down to [MASK], and tell Pharaoh to let my people go."
They went up to the house of the [MASK] with singing.
The king sent his [MASK] to the city to bring the prophet to him.
She gave birth to a [MASK], and she named him Samuel.
In the beginning God created the heavens and the [MASK].
PROBES
step "fill-mask: $last guesses the masked word"
"$bert_pretrain" fill-mask --checkpoint "$last" --input "$probes" --top-k 5 --output "$WORK/fill-mask.jsonl" \
  || die "fill-mask failed (exit $?)"
# One line per probe: "token (probability)" for the 5 best, read from fill-mask's JSON lines with sed.
json_string='"\(\([^"\\]\|\\.\)*\)"'
sed -e "s/\"sequence\":$json_string,//g" \
    -e "s/{\"score\":\([^,]*\),\"token\":[0-9]*,\"token_str\":$json_string}/\2 (\1)/g" \
    -e 's/(\([0-9]\.[0-9]\{3\}\)[0-9]*\(e-[0-9]*\)\{0,1\})/(\1\2)/g' -e 's/^\[//; s/\]$//; s/),/)  /g' \
    "$WORK/fill-mask.jsonl" | paste -d '\n' "$probes" - | sed '2~2s/^/    → /'

verses=$WORK/verses-torah.txt
cut -f1 "$task/dev.tsv" | tail -n +2 > "$verses"
query="The waters of the flood covered the whole earth."
step "embed: the $(wc -l < "$verses") validation verses of the Torah, and the 3 nearest to a query"
"$bert_pretrain" embed --checkpoint "$last" --input "$verses" --output "$WORK/verses-torah.jsonl" || die "embed failed (exit $?)"
"$bert_pretrain" embed --checkpoint "$last" --output "$WORK/query.jsonl" <<< "$query" 2>/dev/null || die "embed failed (exit $?)"
echo "query: $query"
awk -F'[][,]' '
  NR == FNR { for (i = 2; i < NF; i++) q[i] = $i; next }
  { dot = 0; n = 0; m = 0; for (i = 2; i < NF; i++) { dot += q[i] * $i; n += $i * $i; m += q[i] * q[i] }; print dot / sqrt(n * m) "\t" FNR }
' "$WORK/query.jsonl" "$WORK/verses-torah.jsonl" | sort -g -r | sed -n 1,3p | while IFS=$'\t' read -r score line; do
  printf '    %.3f  %s\n' "$score" "$(sed -n "${line}p" "$verses")"
done

baseline() { sed -n "s/.*\"$1\": *\([0-9.eE+-]*\).*/\1/p" "$run/evaluation.json"; }
t_end=$(date +%s)
cat <<EOF

Done in $((t_end - t_start)) s.
  checkpoint (Hugging Face BertForPreTraining):  $last
  metrics, one row per logging step and epoch:   $run/metrics.csv
  loss curves (open in a browser):               $run/loss.svg
  held-out evaluation:                           $run/evaluation.json
    masked-LM accuracy $(baseline mlm_accuracy), loss $(baseline mlm_loss)
    context-free baseline on the same tokens: accuracy $(baseline mlm_unigram_accuracy) (always the most frequent token), loss $(baseline mlm_unigram_loss) (unigram entropy)
Load it in Python with: transformers.BertForPreTraining.from_pretrained("$last")

Which book of the Torah (5 classes), validation accuracy after $FT_EPOCHS fine-tuning epochs:
  from the pretrained checkpoint:  $ft_pretrained   ($WORK/finetune-pretrained-$CONFIG)
  from scratch, same flags:        $ft_scratch   ($WORK/finetune-scratch-$CONFIG)
EOF
