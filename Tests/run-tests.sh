#!/usr/bin/env bash
# The test command of the README: installs missing system packages, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobs/install-deps.sh
# Tests start real mpirun jobs; OpenMPI refuses root without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
swift build --build-tests
swift test
