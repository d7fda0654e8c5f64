#!/usr/bin/env bash
# jobs/tests/test-slurm.sh: runs the job scripts of jobs/ against a real, private Slurm that
# jobs/tests/slurm-harness.sh starts (and stops again on exit, whatever happens).
#
#   bash jobs/tests/test-slurm.sh            # as root on Debian 12; builds nothing itself
#
# Tests, in order (each prints "ok" or "FAILED" with the reason):
#   harness-refuses      a second start, a foreign SLURM_CONF and a busy port are all refused
#   harness-hostname     a one-line batch job completes and writes its output file
#   harness-mpi          a 2-rank MPI hello runs under `srun --mpi=pmix` and under `mpirun` in the job
#   harness-mpi-2nodes   the same across the harness's two nodes (two slurmd on this host)
#   typo-pretrain        pretrain.sbatch with a misspelt DATA path fails at once, message in its output
#   typo-build           build-corpus.sbatch with a misspelt INPUT path: the same
#   typo-finetune        finetune.sbatch with a misspelt INIT_FROM path: the same
#   requeue-srun/-mpirun pretrain.sbatch's USR1 -> requeue -> --resume path with a stand-in rank program
#   stall-requeue        a stand-in that exits 75 (the stall watchdog's code): requeued, resumed with --resume
#   build-corpus         build-corpus.sbatch on 2 tasks turns a tiny corpus into shards
#   pretrain             pretrain.sbatch on 2 tasks trains a tiny model; every epoch's checkpoint,
#                        metrics.csv, loss.svg; `bert-pretrain evaluate` reads the last checkpoint
#   finetune             finetune.sbatch on 2 tasks fine-tunes the pretrained checkpoint on a small
#                        task file: classifier checkpoints, metrics.csv, eval_results.json
#   pretrain-2nodes      the same run on 2 nodes x 1 task: same metrics as on 1 node x 2 tasks
#   preempt-resume       the same run, sent USR1 mid-run: checkpoints, requeues itself, resumes with
#                        --resume, completes; its metrics.csv equals the uninterrupted run's (timing
#                        columns aside)
#   pipeline             pipeline.sh chains build -> phase 1 -> phase 2 (--init-from) with afterok
# Tests that need bert-corpus / bert-pretrain are skipped when .build/release has no working binary
# (SLURM_TESTS_REQUIRE_BINARIES=1 turns a skip into a failure, as CI does).
# Environment: SLURM_HARNESS_DIR / _PORT / _CPUS (see slurm-harness.sh), SLURM_TEST_KEEP=1 keeps
# the work folder. The last line is "slurm tests: N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
harness=$here/slurm-harness.sh
work=$(mktemp -d /tmp/bert-pretrain-slurm-tests.XXXXXX)
bin=$repo/.build/release
passed=0; failed=0; skipped=0
started=0

cleanup() {
  [ "$started" -eq 1 ] && bash "$harness" stop
  if [ "${SLURM_TEST_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok()   { echo "ok       $1"; passed=$((passed + 1)); }
fail() { echo "FAILED   $1: $2"; failed=$((failed + 1)); }
skip() {
  if [ "${SLURM_TESTS_REQUIRE_BINARIES:-0}" = 1 ]; then fail "$1" "skipped: $2"; return; fi
  echo "skipped  $1: $2"; skipped=$((skipped + 1))
}

# ---- Job helpers: poll `scontrol show job -o` every 0.5 s (sbatch --wait polls at 2, 10, 42, 74 s …)
job_field() {   # id field
  scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}
wait_job() {    # id timeout-seconds -> prints the final state; 1 on timeout
  local id=$1 limit=$2 i state
  for ((i = 0; i < limit * 2; i++)); do
    state=$(job_field "$id" JobState)
    case "$state" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
        echo "$state"; return 0 ;;
    esac
    sleep 0.5
  done
  echo "TIMEOUT-IN-TEST($state)"; scancel "$id" 2>/dev/null; return 1
}
wait_until() {  # timeout-seconds command… : polls the command every 0.5 s
  local limit=$1 i; shift
  for ((i = 0; i < limit * 2; i++)); do "$@" && return 0; sleep 0.5; done
  return 1
}
# A requeued job waits ~120 s (BeginTime). Release it at once, but in the next second: slurmd
# rejects a launch whose credential is from the same second as the requeue's revocation
# ("Job credential revoked").
release() { sleep 1.5; scontrol update jobid="$1" StartTime=now; }
tail_of() { echo "--- last lines of $1:"; tail -n "${2:-15}" "$1" 2>/dev/null | sed 's/^/    /'; }

binary_works() {   # name subcommand: the binary exists and its subcommand is more than a placeholder
  [ -x "$bin/$1" ] || return 1
  ! "$bin/$1" $2 --help 2>&1 | grep -q "not built yet"
}

# ---- Start the private cluster: two nodes (two slurmd on this host), so jobs can span nodes.
export SLURM_HARNESS_NODES=${SLURM_HARNESS_NODES:-2}
if [ "$(id -u)" -ne 0 ]; then echo "test-slurm.sh needs root (it starts slurmctld, slurmd, munged)" >&2; exit 1; fi
bash "$harness" start || { echo "slurm tests: 0 passed, 1 failed"; exit 1; }
started=1
eval "$(bash "$harness" env)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
cd "$work" || exit 1

# ---- harness-refuses: never a second cluster, never someone else's
msg1=$(bash "$harness" start 2>&1); rc1=$?
msg2=$(SLURM_CONF=/etc/slurm/slurm.conf bash "$harness" start 2>&1); rc2=$?
msg3=$(env -u SLURM_CONF SLURM_HARNESS_DIR=/tmp/bert-pretrain-slurm-other.$$ bash "$harness" start 2>&1); rc3=$?
if [ $rc1 -ne 0 ] && [[ "$msg1" == *"already running"* ]] && [ $rc2 -ne 0 ] && [[ "$msg2" == *"points at another Slurm"* ]] \
   && [ $rc3 -ne 0 ] && [[ "$msg3" == *"is busy"* ]] && [ "$(sinfo -h -o %T)" = idle ]; then ok harness-refuses
else fail harness-refuses "second start: rc $rc1 '$msg1'; foreign SLURM_CONF: rc $rc2 '$msg2'; busy port: rc $rc3 '$msg3'"; fi

# ---- harness-hostname
cat > hostname.sbatch <<'EOF'
#!/bin/bash
#SBATCH --ntasks=1
#SBATCH --output=hostname-%j.out
echo "host $(hostname -s)"
EOF
id=$(sbatch --parsable hostname.sbatch)
state=$(wait_job "$id" 60)
if [ "$state" = COMPLETED ] && grep -qx "host $(hostname -s)" "hostname-$id.out"; then ok harness-hostname
else fail harness-hostname "state $state; $(tail_of "hostname-$id.out")"; fi

# ---- harness-mpi: a real 2-rank MPI program under both launchers
cat > hello.c <<'EOF'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
    int rank, size, sum = 0, one = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("hello from rank %d of %d, allreduce %d\n", rank, size, sum);
    MPI_Finalize();
    return 0;
}
EOF
# mpicc calls gcc; a machine with only the Swift toolchain's clang can use that instead.
command -v gcc >/dev/null || ! command -v clang >/dev/null || export OMPI_CC=clang
if mpicc -o hello hello.c 2>mpicc.err; then
  cat > hello.sbatch <<EOF
#!/bin/bash
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --output=hello-%j.out
set -e
srun --mpi=pmix --label $work/hello
mpirun --tag-output $work/hello
EOF
  id=$(sbatch --parsable hello.sbatch)
  state=$(wait_job "$id" 90)
  n_srun=$(grep -cE '^[01]: hello from rank [01] of 2, allreduce 2$' "hello-$id.out")
  n_mpirun=$(grep -cE '^\[1,[01]\]<stdout>:hello from rank [01] of 2, allreduce 2$' "hello-$id.out")
  if [ "$state" = COMPLETED ] && [ "$n_srun" = 2 ] && [ "$n_mpirun" = 2 ]; then ok harness-mpi
  else fail harness-mpi "state $state, srun ranks $n_srun/2, mpirun ranks $n_mpirun/2; $(tail_of "hello-$id.out")"; fi
  if [ "$SLURM_HARNESS_NODES" -ge 2 ]; then
    # Two "nodes" on one host: Open MPI's shared-memory transport between them fails; TCP works.
    id=$(OMPI_MCA_btl=self,tcp sbatch --parsable --nodes=2 --ntasks-per-node=1 --output="hello2-%j.out" \
         --wrap "srun --mpi=pmix --label $work/hello")
    state=$(wait_job "$id" 90)
    n=$(grep -cE '^[01]: hello from rank [01] of 2, allreduce 2$' "hello2-$id.out")
    if [ "$state" = COMPLETED ] && [ "$n" = 2 ]; then ok harness-mpi-2nodes
    else fail harness-mpi-2nodes "state $state, ranks $n/2; $(tail_of "hello2-$id.out")"; fi
  fi
else
  fail harness-mpi "mpicc failed: $(cat mpicc.err)"
fi

# ---- typo tests: the real scripts, a misspelt path; must fail fast with the path in the message.
typo_test() {   # name script var value expected-message
  local name=$1 script=$2 var=$3 value=$4 msg=$5 id state t0 t1
  t0=$(date +%s)
  id=$(env DATA=$work OUTPUT=$work/typo-out INPUT=$work VOCAB=$work/hello.c "$var=$value" \
       sbatch --parsable --output="$work/$name-%j.out" "$repo/jobs/$script")
  state=$(wait_job "$id" 60); t1=$(date +%s)
  if [ "$state" = FAILED ] && grep -qF "$msg" "$work/$name-$id.out" && [ $((t1 - t0)) -le 30 ]; then ok "$name"
  else fail "$name" "state $state after $((t1 - t0)) s, expected FAILED with '$msg'; $(tail_of "$work/$name-$id.out")"; fi
}
typo_test typo-pretrain pretrain.sbatch DATA "$work/shardz" "error: DATA=$work/shardz: no such directory"
typo_test typo-build build-corpus.sbatch INPUT "$work/corpsu" "error: INPUT=$work/corpsu: no such file or directory"
typo_test typo-finetune finetune.sbatch INIT_FROM "$work/runn" "error: INIT_FROM=$work/runn: no model.safetensors in it"

# ---- requeue-srun / requeue-mpirun: pretrain.sbatch's USR1 -> checkpoint -> requeue -> --resume path,
# with a stand-in for bert-pretrain that keeps its signal contract (on USR1: write a checkpoint with
# a trainer state, exit 0; with --resume: finish). This proves the script and both launchers forward
# the signal, independently of the trainer; preempt-resume below repeats it with the real one.
cat > standin.sh <<'EOF'
#!/bin/bash
out=""; resume=0; prev=""
for a in "$@"; do [ "$prev" = --output ] && out=$a; [ "$a" = --resume ] && resume=1; prev=$a; done
rank=${OMPI_COMM_WORLD_RANK:-${SLURM_PROCID:-x}}   # mpirun's first: the batch shell's SLURM_PROCID leaks into mpirun's ranks
trap 'echo "rank $rank: checkpoint and stop"; [ "$rank" = 0 ] && mkdir -p "$out/step-0000007" && touch "$out/step-0000007/trainer-state.json"; exit 0' USR1
echo "$*" > "$out/args-restart${SLURM_RESTART_COUNT:-0}-rank$rank"
if [ $resume = 1 ]; then [ "$rank" = 0 ] && mkdir -p "$out/epoch-0001" && touch "$out/epoch-0001/model.safetensors"; exit 0; fi
for _ in $(seq 1200); do sleep 0.1; done
exit 3
EOF
chmod +x standin.sh
mkdir -p fake-shards && : > fake-shards/part-00000-training.hdf5
requeue_test() {   # name launcher
  local name=$1 out=$work/$1 id why=""
  id=$(env DATA="$work/fake-shards" OUTPUT="$out" CONFIG=bert-tiny EPOCHS=1 BERT_PRETRAIN="$work/standin.sh" LAUNCHER=$2 \
       sbatch --parsable --nodes=1 --ntasks-per-node=2 --output="$out.out" "$repo/jobs/pretrain.sbatch")
  wait_until 60 test -e "$out/args-restart0-rank1" -a -e "$out/args-restart0-rank0" || why="ranks did not start"
  if [ -z "$why" ]; then
    scancel -s USR1 -b "$id"
    if wait_until 60 bash -c "scontrol show job -o $id | grep -q 'JobState=PENDING.*Restarts=1'"; then
      release "$id"
    else why="no requeue after USR1 (state $(job_field "$id" JobState))"; fi
  fi
  state=$(wait_job "$id" 120)
  if [ -n "$why" ]; then :
  elif [ "$state" != COMPLETED ]; then why="final state $state"
  elif grep -q -- --resume "$out/args-restart0-rank0"; then why="the first start already had --resume"
  elif ! grep -q -- --resume "$out/args-restart1-rank0" || ! grep -q -- --resume "$out/args-restart1-rank1"; then why="the restart lacks --resume on some rank"
  elif [ "$(grep -cE 'rank [01]: checkpoint and stop' "$out.out")" != 2 ]; then why="USR1 did not reach both ranks"
  elif ! grep -q "requeueing job $id" "$out.out"; then why="no requeue message"
  fi
  if [ -z "$why" ]; then ok "$name"; else fail "$name" "$why; $(tail_of "$out.out" 20)"; fi
}
requeue_test requeue-srun srun
requeue_test requeue-mpirun mpirun

# ---- stall-requeue: the ranks end with the stall watchdog's exit code 75 on the first start.
cat > stalling.sh <<'EOF'
#!/bin/bash
out=""; resume=0; prev=""
for a in "$@"; do [ "$prev" = --output ] && out=$a; [ "$a" = --resume ] && resume=1; prev=$a; done
rank=${SLURM_PROCID:-x}
echo "$*" > "$out/args-restart${SLURM_RESTART_COUNT:-0}-rank$rank"
if [ $resume = 1 ]; then [ "$rank" = 0 ] && mkdir -p "$out/epoch-0001" && touch "$out/epoch-0001/model.safetensors"; exit 0; fi
[ "$rank" = 0 ] && mkdir -p "$out/step-0000003" && touch "$out/step-0000003/trainer-state.json"
echo "error: [rank $rank/2] no progress for 300 s at step 4: waiting for rank(s) 1" >&2
exit 75
EOF
chmod +x stalling.sh
out=$work/stall
id=$(env DATA="$work/fake-shards" OUTPUT="$out" CONFIG=bert-tiny EPOCHS=1 BERT_PRETRAIN="$work/stalling.sh" \
     sbatch --parsable --nodes=1 --ntasks-per-node=2 --output="$out.out" "$repo/jobs/pretrain.sbatch")
why=""
# Slurm may start the requeued job at once or hold it (BeginTime): release it only if it is still
# pending after 3 s (an update while it is starting would abort its step), then wait for the second start.
if wait_until 60 bash -c "scontrol show job -o $id | grep -q 'Restarts=1'"; then
  sleep 3
  scontrol show job -o "$id" | grep -q 'JobState=PENDING' && scontrol update jobid="$id" StartTime=now
else why="no requeue after exit 75 (state $(job_field "$id" JobState))"; fi
[ -n "$why" ] || wait_until 150 test -e "$out/args-restart1-rank0" || why="the requeued job did not start again"
state=$(wait_job "$id" 120)
if [ -n "$why" ]; then :
elif [ "$state" != COMPLETED ]; then why="final state $state"
elif ! grep -q -- --resume "$out/args-restart1-rank0"; then why="the restart lacks --resume"
elif ! grep -q "stall watchdog" "$out.out"; then why="no requeue message"
fi
if [ -z "$why" ]; then ok stall-requeue; else fail stall-requeue "$why; $(tail_of "$out.out" 20)"; fi

# ---- The real pipeline on tiny data.
have_corpus=0; have_train=0
binary_works bert-corpus build && binary_works bert-corpus vocab && have_corpus=1
binary_works bert-pretrain train && binary_works bert-pretrain evaluate && have_train=1

if [ $have_corpus -eq 1 ]; then
  bash "$repo/corpus-tools/prepare-web-bible.sh" "$work/corpus" "Gen 1:1-Gen 12:20" 2>prepare.err \
    || fail prepare-corpus "$(cat prepare.err)"
  id=$(env INPUT="$work/corpus" VOCAB="$work/vocab.txt" VOCAB_SIZE=1000 OUTPUT="$work/shards" MAX_SEQ=64 HOLDOUT=0.2 \
        DUPE_FACTOR=2 BERT_CORPUS="$bin/bert-corpus" sbatch --parsable --ntasks=2 \
        --output="$work/build-%j.out" "$repo/jobs/build-corpus.sbatch")
  state=$(wait_job "$id" 300)
  if [ "$state" = COMPLETED ] && [ -s "$work/vocab.txt" ] && compgen -G "$work/shards/*training*.hdf5" >/dev/null \
     && grep -q '^[01]: ' "$work/build-$id.out"; then ok build-corpus
  else fail build-corpus "state $state; $(tail_of "$work/build-$id.out")"; have_corpus=0; fi
else
  skip build-corpus "bert-corpus build/vocab not built in $bin"
fi

EPOCHS=3
train_job() {   # output-dir [sbatch flags…] -> job id   (default: 1 node x 2 tasks)
  local out=$1; shift
  env DATA="$work/shards" OUTPUT="$out" CONFIG=bert-tiny EPOCHS=$EPOCHS BATCH_SIZE=8 LR=1e-3 \
      BERT_PRETRAIN="$bin/bert-pretrain" \
      sbatch --parsable --nodes=1 --ntasks-per-node=2 "$@" --output="$out.out" "$repo/jobs/pretrain.sbatch"
}
all_epochs() {  # run-dir
  local e
  for ((e = 1; e <= EPOCHS; e++)); do [ -f "$(printf '%s/epoch-%04d/model.safetensors' "$1" $e)" ] || return 1; done
}
# metrics.csv without its timing columns (headers naming time, seconds, milliseconds, throughput)
metrics_sans_timing() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if (tolower($i) !~ /time|second|per_s|_s$|_ms$|throughput|elapsed|wall/) keep[i] = 1 }
           { line = ""; for (i = 1; i <= NF; i++) if (i in keep) line = line $i ","; print line }' "$1"
}

if [ $have_corpus -eq 1 ] && [ $have_train -eq 1 ]; then
  id=$(train_job "$work/run-a")
  state=$(wait_job "$id" 600)
  last=$(printf '%s/epoch-%04d' "$work/run-a" $EPOCHS)
  if [ "$state" = COMPLETED ] && all_epochs "$work/run-a" && [ -s "$work/run-a/metrics.csv" ] \
     && [ -s "$work/run-a/loss.svg" ] && grep -q '^[01]: ' "$work/run-a.out" \
     && "$bin/bert-pretrain" evaluate --checkpoint "$last" --data "$work/shards" --json > eval.json 2>eval.err \
     && grep -q '"mlm_loss"' eval.json; then ok pretrain
  else fail pretrain "state $state; $(tail_of "$work/run-a.out") $(cat eval.err 2>/dev/null)"; fi

  # finetune: the pretrained checkpoint on a small two-class task made from the corpus's lines
  awk 'BEGIN { print "sentence\tlabel" } NF >= 3 && n < 80 { gsub(/\t/, " "); print $0 "\t" (n % 2 ? "odd" : "even"); n++ }' \
    "$work"/corpus/* > "$work/task.tsv"
  id=$(env INIT_FROM="$last" TRAIN_FILE="$work/task.tsv" VALIDATION_FILE="$work/task.tsv" OUTPUT="$work/ft" EPOCHS=2 \
       BATCH_SIZE=8 LR=1e-3 FINETUNE_ARGS="--max-seq-length 32" BERT_PRETRAIN="$bin/bert-pretrain" \
       sbatch --parsable --nodes=1 --ntasks-per-node=2 --output="$work/ft.out" "$repo/jobs/finetune.sbatch")
  state=$(wait_job "$id" 300)
  if [ "$state" = COMPLETED ] && [ -f "$work/ft/epoch-0002/model.safetensors" ] && grep -q BertForSequenceClassification "$work/ft/epoch-0002/config.json" \
     && grep -q '"eval_accuracy"' "$work/ft/eval_results.json" && grep -q '^eval,' "$work/ft/metrics.csv"; then ok finetune
  else fail finetune "state $state; $(tail_of "$work/ft.out")"; fi

  # pretrain-2nodes: the same run as 2 nodes x 1 task (TCP between them): the same 2-rank arithmetic
  if [ "$SLURM_HARNESS_NODES" -ge 2 ]; then
    id=$(OMPI_MCA_btl=self,tcp train_job "$work/run-n" --nodes=2 --ntasks-per-node=1)
    state=$(wait_job "$id" 600)
    if [ "$state" != COMPLETED ] || ! all_epochs "$work/run-n"; then
      fail pretrain-2nodes "state $state; $(tail_of "$work/run-n.out")"
    elif ! grep -q "on 2 node(s), 2 rank(s)" "$work/run-n.out"; then
      fail pretrain-2nodes "the job did not run on 2 nodes; $(tail_of "$work/run-n.out")"
    elif ! diff <(metrics_sans_timing "$work/run-a/metrics.csv") <(metrics_sans_timing "$work/run-n/metrics.csv") > metrics-n.diff; then
      fail pretrain-2nodes "metrics differ from the 1-node run: $(head -6 metrics-n.diff)"
    else ok pretrain-2nodes; fi
  fi

  # preempt-resume: USR1 to the batch shell once the first epoch's checkpoint exists
  id=$(train_job "$work/run-b")
  why=""
  wait_until 300 test -d "$work/run-b/epoch-0001" || why="no epoch-0001 after 300 s"
  if [ -z "$why" ]; then
    scancel -s USR1 -b "$id"
    # The script requeues itself; Slurm holds a requeued job ~120 s (BeginTime): release it now.
    if wait_until 120 bash -c "[ \"\$(scontrol show job -o $id | grep -o 'Restarts=[0-9]*')\" = Restarts=1 ] && scontrol show job -o $id | grep -q 'JobState=PENDING'"; then
      release "$id"
    else why="job did not requeue itself after USR1 (state $(job_field "$id" JobState))"; fi
  fi
  state=$(wait_job "$id" 600)
  if [ -z "$why" ] && [ "$state" = COMPLETED ] && [ "$(job_field "$id" Restarts)" = 1 ]; then
    if ! grep -q "requeueing job $id" "$work/run-b.out"; then why="no requeue message in the output"
    elif ! grep -q "(restart 1)" "$work/run-b.out"; then why="no second start in the output"
    elif ! grep -q -- "--resume" "$work/run-b.out"; then why="the second start did not pass --resume"
    elif ! all_epochs "$work/run-b"; then why="not every epoch's checkpoint exists"
    elif ! compgen -G "$work/run-b/step-*/trainer-state*" >/dev/null; then why="no mid-epoch checkpoint (step-*) from the USR1"
    elif [ -f "$work/run-a/metrics.csv" ] && ! diff <(metrics_sans_timing "$work/run-a/metrics.csv") \
            <(metrics_sans_timing "$work/run-b/metrics.csv") > metrics.diff; then
      why="metrics differ from the uninterrupted run: $(head -6 metrics.diff)"
    fi
  else
    why=${why:-"state $state, restarts $(job_field "$id" Restarts)"}
  fi
  if [ -z "$why" ]; then ok preempt-resume; else fail preempt-resume "$why; $(tail_of "$work/run-b.out" 25)"; fi

  # pipeline: build 64 -> phase 1 -> build 128 -> phase 2 from phase 1's last checkpoint
  ids=$(env INPUT="$work/corpus" WORK="$work/pipe" VOCAB="$work/vocab.txt" CONFIG=bert-tiny SEQ1=64 SEQ2=128 \
        EPOCHS1=1 EPOCHS2=1 BATCH1=8 BATCH2=4 DUPE_FACTOR=1 TASKS_PER_NODE=2 TIME1=00:30:00 TIME2=00:30:00 \
        bash "$repo/jobs/pipeline.sh" 2>pipeline.err)
  phase2=$(echo "$ids" | awk '$1 == "phase2" { print $2 }')
  if [ -z "$phase2" ]; then fail pipeline "pipeline.sh submitted no phase 2: $(cat pipeline.err)"
  else
    state=$(wait_job "$phase2" 900)
    if [ "$state" = COMPLETED ] && [ -f "$work/pipe/phase2/epoch-0001/model.safetensors" ] \
       && grep -q -- "--init-from $work/pipe/phase1/epoch-0001" "$work/pipe"/phase2-*.out; then ok pipeline
    else fail pipeline "phase 2 state $state; $(tail_of "$(ls "$work/pipe"/phase2-*.out 2>/dev/null | head -1)")"; fi
  fi
else
  skip pretrain "bert-pretrain train/evaluate or the shards are not available"
  [ "$SLURM_HARNESS_NODES" -ge 2 ] && skip pretrain-2nodes "bert-pretrain train/evaluate or the shards are not available"
  skip preempt-resume "bert-pretrain train/evaluate or the shards are not available"
  skip pipeline "bert-pretrain train/evaluate or the shards are not available"
fi

[ $skipped -gt 0 ] && echo "($skipped skipped: binaries not built yet)"
echo "slurm tests: $passed passed, $failed failed"
[ $failed -eq 0 ]
