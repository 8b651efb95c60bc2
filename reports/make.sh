#!/usr/bin/env bash
# Regenerate every example's certificate (JSON) and report (PDF) in reports/, and the sweep of
# the lifted toy. Run from anywhere: bash reports/make.sh
set -uo pipefail
cd "$(dirname "$0")/.."
run() {  # sgn exits 1 for "not certified": that is a result here, not a failure
    "$@" --quiet > /dev/null
    code=$?
    if [ "$code" -gt 1 ]; then echo "failed ($code): $*" >&2; exit "$code"; fi
}
for name in scalar_toy cascade too_coupled zero_sum_bilinear; do
    run sgn certify "examples/$name.py" --out "reports/$name.json" --report "reports/$name.pdf"
done
run sgn certify examples/lifted_toy.py --param lam=1.0 \
    --out reports/lifted_toy.json --report reports/lifted_toy.pdf
run sgn sweep examples/lifted_toy.py --param lam=0:2.5:26 \
    --out reports/lifted_toy_sweep.json --report reports/lifted_toy_sweep.pdf
echo "reports written to reports/"
