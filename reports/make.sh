#!/usr/bin/env bash
# Regenerate every example's certificate (JSON) and report (PDF) in reports/, a verified
# certificate, and the sweeps of the lifted toy and the zero-sum Markov game.
# Run from anywhere: bash reports/make.sh
set -uo pipefail
cd "$(dirname "$0")/.."
run() {  # sgn exits 1 for "not certified": that is a result here, not a failure
    "$@" --quiet > /dev/null
    code=$?
    if [ "$code" -gt 1 ]; then echo "failed ($code): $*" >&2; exit "$code"; fi
}
for name in scalar_toy cascade too_coupled zero_sum_bilinear \
            markov_coordination markov_matching_pennies markov_three_players cournot tanh_gan \
            gan_mixture; do
    run sgn certify "examples/$name.py" --out "reports/$name.json" --report "reports/$name.pdf"
done
run sgn certify examples/lifted_toy.py --param lam=1.0 \
    --out reports/lifted_toy.json --report reports/lifted_toy.pdf
run sgn sweep examples/lifted_toy.py --param lam=0:2.5:26 \
    --out reports/lifted_toy_sweep.json --report reports/lifted_toy_sweep.pdf
run sgn certify examples/cascade.py --verify \
    --out reports/cascade_verified.json --report reports/cascade_verified.pdf
# The zero-sum Markov game over the entropy weight: where SGN alone certifies (wide grid), and
# the smallest weight that certifies at all (fine grid near zero).
run sgn sweep examples/markov_matching_pennies.py --param entropy=0.02:1.5:38 --samples 1024 \
    --out reports/markov_matching_pennies_sweep.json \
    --report reports/markov_matching_pennies_sweep.pdf
run sgn sweep examples/markov_matching_pennies.py --param entropy=0.001:0.013:13 --samples 1024 \
    --out reports/markov_matching_pennies_small_entropy.json \
    --report reports/markov_matching_pennies_small_entropy.pdf
echo "reports written to reports/"
