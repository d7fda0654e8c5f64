#!/usr/bin/env bash
# `bert-corpus build` against NVIDIA's create_pretraining_data.py, side by side in one run.
#
#   corpus-tools/bench/build-bench.sh [NVIDIA_BERT_DIR]
#
# Input: the World English Bible (public domain; Debian's diatheke + sword-text-web) in Google's
# format (corpus-tools/prepare-web-bible.sh: one sentence per line, a blank line between chapters),
# at 1x (4.3 MB), 8x and 16x (34 and 68 MB, the text repeated). Vocabulary: 20,000 WordPiece tokens learned
# from it (bert-corpus vocab). Flags of both tools: max_seq_length 128, max_predictions_per_seq 20,
# masked_lm_prob 0.15, short_seq_prob 0.1, dupe_factor 5, lower case, one output/8 shards.
#
# Measured with GNU time over the whole command (mpirun and all its ranks included): CPU seconds =
# user + system; peak memory = the largest process's maximum resident set. Ours: the fastest of
# REPEATS runs (default 3) of each line; NVIDIA's: one run per input size.
#
# NVIDIA_BERT_DIR: a folder with NVIDIA's create_pretraining_data.py and tokenization.py
# (DeepLearningExamples/PyTorch/LanguageModeling/BERT); cloned from GitHub when not given. It needs
# python3 with h5py, numpy and tqdm; it imports boto3/botocore without using them here, so small
# stand-ins are put on its PYTHONPATH. NVIDIA_8X=0 skips its 8x run (about 2 minutes, 4.5 GB).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
REPEATS=${REPEATS:-3}
NVIDIA_8X=${NVIDIA_8X:-1}
work=$(mktemp -d /tmp/build-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

bash jobs/install-deps.sh diatheke sword-text-web time
swift build -c release --product bert-corpus >&2
bin=$(swift build -c release --show-bin-path)/bert-corpus

# The corpus and its vocabulary.
bash corpus-tools/prepare-web-bible.sh "$work/books" 2>/dev/null
for f in "$work"/books/*.txt; do cat "$f"; echo; done > "$work/web1.txt"
for _ in 1 2 3 4 5 6 7 8; do cat "$work/web1.txt"; done > "$work/web8.txt"
cat "$work/web8.txt" "$work/web8.txt" > "$work/web16.txt"
"$bin" vocab --input "$work/web1.txt" --vocab-size 20000 --output "$work/vocab.txt" 2>/dev/null

# NVIDIA's script.
nvidia=${1:-}
if [ -z "$nvidia" ]; then
    if git clone -q --depth 1 --filter=blob:none --sparse https://github.com/NVIDIA/DeepLearningExamples "$work/dle" 2>/dev/null &&
       git -C "$work/dle" sparse-checkout set PyTorch/LanguageModeling/BERT 2>/dev/null; then
        nvidia=$work/dle/PyTorch/LanguageModeling/BERT
    else
        echo "note: NVIDIA's script not found (no NVIDIA_BERT_DIR argument, no network): only our figures" >&2
    fi
fi
mkdir -p "$work/stubs/boto3" "$work/stubs/botocore"
: > "$work/stubs/boto3/__init__.py"
: > "$work/stubs/botocore/__init__.py"
echo "class ClientError(Exception): pass" > "$work/stubs/botocore/exceptions.py"

flags="--max_seq_length 128 --max_predictions_per_seq 20 --dupe_factor 5"
results=$work/results.txt
: > "$results"
measure() {   # label input ranks command...: appends "label input ranks wall cpu peakMB" (best of the runs)
    local label=$1 input=$2 ranks=$3 runs=$4; shift 4
    local best=""
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
        read -r wall user sys kb < "$work/time"
        local line
        line="$label $input $ranks $wall $(python3 -c "print(f'{$user + $sys:.2f}')" 2>/dev/null || echo "$user+$sys") $((kb / 1024))"
        if [ -z "$best" ] || awk -v a="$wall" -v b="$(echo "$best" | cut -d' ' -f4)" 'BEGIN{exit !(a < b)}'; then best=$line; fi
    done
    echo "$best" | tee -a "$results" >&2
}
ours() {   # input ranks
    measure ours "$1" "$2" "$REPEATS" mpirun --bind-to none -np "$2" "$bin" build --format google \
        --input "$work/web$1.txt" --vocab "$work/vocab.txt" --output "$work/out" --max-seq-length 128 \
        --max-predictions-per-seq 20 --dupe-factor 5
}
theirs() {   # input
    (cd "$nvidia" && export PYTHONPATH="$work/stubs" && measure nvidia "$1" 1 1 python3 create_pretraining_data.py \
        --input_file "$work/web$1.txt" --vocab_file "$work/vocab.txt" --output_file "$work/nvidia.hdf5" \
        --do_lower_case --random_seed 12345 $flags)
}

# What any MPI job pays here to start and end (an empty C program), in wall time.
printf '#include <mpi.h>\nint main(int c, char **v) { MPI_Init(&c, &v); MPI_Finalize(); return 0; }\n' > "$work/empty.c"
mpicc -O2 -o "$work/empty" "$work/empty.c"
measure mpi-empty 1 1 "$REPEATS" mpirun --bind-to none -np 1 "$work/empty"
measure mpi-empty 1 2 "$REPEATS" mpirun --bind-to none -np 2 "$work/empty"

[ -n "$nvidia" ] && theirs 1
ours 1 1
ours 8 1
ours 8 2
ours 16 1
ours 16 2
[ -n "$nvidia" ] && [ "$NVIDIA_8X" = 1 ] && theirs 8

python3 - "$results" "$(stat -c %s "$work/web1.txt")" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
size = {k: int(k) * int(sys.argv[2]) / 1e6 for k in ("1", "8", "16")}
print(f"\n{'tool':8} {'input':>12} {'ranks':>5} {'wall s':>7} {'CPU s':>7} {'MB/CPU-s':>9} {'peak MB':>8}")
by = {}
for tool, inp, ranks, wall, cpu, peak in rows:
    if tool == "mpi-empty":
        by[(tool, inp, ranks)] = (float(wall), float(cpu), 0, int(peak))
        print(f"{'empty MPI program':21} {ranks:>5} {float(wall):7.2f} {float(cpu):7.2f}")
        continue
    rate = size[inp] / float(cpu)
    by[(tool, inp, ranks)] = (float(wall), float(cpu), rate, int(peak))
    print(f"{tool:8} {inp + 'x ' + format(size[inp], '.1f') + ' MB':>12} {ranks:>5} {float(wall):7.2f} {float(cpu):7.2f} {rate:9.2f} {int(peak):8d}")
print()
for inp in "18":
    if ("nvidia", inp, "1") in by:
        print(f"speed, {inp}x input: ours {by[('ours', inp, '1')][2] / by[('nvidia', inp, '1')][2]:.1f}x NVIDIA's MB per CPU-second (target 20x)")
for inp in ("8", "16"):
    one, two = by[('ours', inp, '1')][0], by[('ours', inp, '2')][0]
    e1, e2 = by[('mpi-empty', '1', '1')][0], by[('mpi-empty', '1', '2')][0]
    print(f"mpirun -np 2 vs -np 1, {inp}x input: {one / two:.2f}x faster (target 1.8x); "
          f"{(one - e1) / (two - e2):.2f}x without the launch and end of an empty MPI program ({e1:.2f} / {e2:.2f} s)")
g = by[('ours', '8', '1')][3] / by[('ours', '1', '1')][3] - 1
print(f"peak memory, 1x -> 8x input: ours {by[('ours', '1', '1')][3]} -> {by[('ours', '8', '1')][3]} MB ({100 * g:+.0f}%, target < 20%)")
if ("nvidia", "8", "1") in by:
    print(f"                             NVIDIA {by[('nvidia', '1', '1')][3]} -> {by[('nvidia', '8', '1')][3]} MB")
EOF
