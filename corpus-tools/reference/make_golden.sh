#!/usr/bin/env bash
# Makes the golden fixture of `--reference-rng`: runs google-research/bert's create_pretraining_data.py
# (fetched separately, never committed here) on Tests/CorpusTests/Fixtures/reference/corpus.txt with the
# stand-in tensorflow module of this folder. Usage: corpus-tools/reference/make_golden.sh /path/to/google-research/bert
set -euo pipefail
bert=${1:?path to a checkout of google-research/bert}
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../../Tests/CorpusTests/Fixtures/reference
# documents.json: the tokenized documents as the script read them (the same for every run: one text, one vocab).
run() {  # name, then the script's flags
    local name=$1; shift
    python3 "$here/record_documents.py" "$bert" "$fixtures/documents.json" -- \
        --input_file="$fixtures/corpus.txt" --vocab_file="$fixtures/vocab.txt" \
        --output_file="$fixtures/$name-instances.jsonl" "$@" 
}
run plain --max_seq_length=128 --max_predictions_per_seq=20 --masked_lm_prob=0.15 --dupe_factor=3 \
    --short_seq_prob=0.3 --random_seed=12345 --do_lower_case=True
run wwm --max_seq_length=96 --max_predictions_per_seq=12 --masked_lm_prob=0.2 --dupe_factor=2 \
    --short_seq_prob=0.1 --random_seed=7 --do_lower_case=True --do_whole_word_mask=True
# Two output files: the script deals instances round-robin over them (our --shards 2).
python3 "$here/record_documents.py" "$bert" "$fixtures/documents.json" -- \
    --input_file="$fixtures/corpus.txt" --vocab_file="$fixtures/vocab.txt" \
    --output_file="$fixtures/shards2-part0.jsonl,$fixtures/shards2-part1.jsonl" \
    --max_seq_length=64 --max_predictions_per_seq=10 --dupe_factor=1 --random_seed=99 
