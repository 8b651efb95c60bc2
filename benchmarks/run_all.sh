#!/usr/bin/env bash
# Run both benchmarks, one after the other (never in parallel: the machine has 2 cores).
#   bash benchmarks/run_all.sh       uses python on PATH, or $PYTHON if set
# Exit status: non-zero if either benchmark fails (e.g. the estimator's extremes disagree).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
status=0
echo "== bench_estimator.py =="
"$PY" benchmarks/bench_estimator.py "$@" || status=$?
echo
echo "== bench_weights.py =="
"$PY" benchmarks/bench_weights.py || status=$?
exit "$status"
