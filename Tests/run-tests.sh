#!/usr/bin/env bash
# The test command of the README: installs missing system packages, builds, runs every test
# (Swift unit and MPI tests, then the corpus tools' shell tests). No Python, no network (once
# SwiftPM has fetched the two Swift packages). Exits non-zero if anything fails.
# The Slurm job scripts have their own tests (they start daemons): bash jobs/tests/test-slurm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobs/install-deps.sh diatheke sword-text-web
# Tests start real mpirun jobs: Open MPI refuses root without these; one BLAS thread per rank keeps
# 2-rank tests on 2 cores from oversubscribing them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
swift build --build-tests
status=0
swift test 2>&1 | tee .build/swift-test.log || status=1
bash jobs/tests/test-corpus-tools.sh || status=1
echo
echo "== summary"
grep -E "Executed [0-9]+ tests?, with .*failures?" .build/swift-test.log | tail -1 || echo "swift test: no summary line (build or crash failure)"
grep -E "Test run with [0-9]+ tests? .*(passed|failed)" .build/swift-test.log | tail -1 || true
exit $status
