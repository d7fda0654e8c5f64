#!/usr/bin/env bash
# Mutation fuzzing of the HDF5 shard readers (inspect, the training dataset reader, evaluate), many
# more cases than `swift test` runs (Tests/TrainingTests/ShardFuzzTests.swift has the engine): each
# damaged shard goes through every reader in a child process with a time limit, verification off
# (HDF5 parses the damage: a clean error or a valid result is required) and, for inspect, on (the
# manifest check must refuse every mutation). Prints the counts per outcome and lists every hang,
# signal or unnamed error. Exits non-zero if a verification-on case was not refused.
#   FUZZ_SHARD_CASES=500 FUZZ_SHARD_SEED=2026 bash jobs/tests/fuzz-shards.sh
#   FUZZ_SHARD_VLEN=1 ...   the base shard also carries variable-length string attributes (as h5py writes)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export FUZZ_SHARD_CASES=${FUZZ_SHARD_CASES:-500}
export FUZZ_SHARD_SEED=${FUZZ_SHARD_SEED:-2026}
swift build --build-tests
summary=${TMPDIR:-/tmp}/shard-fuzz-summary.txt
rm -f "$summary"
status=0
swift test --skip-build --filter ShardFuzzTests > .build/shard-fuzz.log 2>&1 || status=$?
grep -E "error: .*ShardFuzzTests" .build/shard-fuzz.log | head -20 || true
cat "$summary" 2>/dev/null || { echo "no summary: see .build/shard-fuzz.log"; status=1; }
exit $status
