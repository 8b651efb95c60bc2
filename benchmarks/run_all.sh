#!/usr/bin/env bash
# Run both benchmarks, one after the other (never in parallel: the machine has 2 cores).
#   bash benchmarks/run_all.sh [estimator options]
# Python: $PYTHON if set, else python on PATH.
# Options given here go to bench_estimator.py (e.g. --no-profile, --samples 10000).
# Exit status: non-zero if either benchmark fails (e.g. the estimator's extremes disagree,
# or its watchdog fires on a hang).
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
