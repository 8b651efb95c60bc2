"""How often does `sgn verify` with a fresh seed beat a matrix-free certificate's sampled bounds?

    python benchmarks/verify_matrix_free_seeds.py                      # default sgn.MatrixFree()
    python benchmarks/verify_matrix_free_seeds.py --seeds 20 --options '{"refine_starts": 3}'
    python benchmarks/verify_matrix_free_seeds.py --cases '[([6, 10, 8], 5, 0.15)]'

Each case is a random smooth game (own quadratic plus cosine curvature, tanh couplings on
[-1, 1]^d; the generator of tests/test_matrix_free.py, copied here so the figures do not move
when the tests' games do): certified with sgn.MatrixFree(**options) at its default seed, then
verified with seeds 1..S. Printed per case: the seeds whose verify failed a sampled check, the
failed checks in all, the largest excess of a fresh value over a stored bound, the names, and
the certify and mean verify times (compile included in certify). Checks that fail without
sampling (recomputed numbers) are listed apart.
"""

from __future__ import annotations

import argparse
import json
import time

import sgn
from sgn._testing.games import quadratic_tanh_game

CASES = [([6, 10, 8], 5, 0.15), ([5, 9, 14], 2, 0.2), ([12, 12], 11, 0.3),
         ([40, 60], 4, 0.2), ([100, 100], 21, 0.25), ([30, 50, 40, 80], 8, 0.15)]


def random_game(dims, seed=0, coupling=0.2):
    return quadratic_tanh_game(dims, seed, coupling)


def run(dims, seed, coupling, seeds, options) -> dict:
    game = random_game(dims, seed, coupling)
    start = time.perf_counter()
    cert = sgn.certify(game, estimator=sgn.MatrixFree(**options))
    certify_s = time.perf_counter() - start
    failed, other = [], set()
    start = time.perf_counter()
    for s in seeds:
        check = sgn.verify(cert, game, seed=s)
        failed.append([(c.name, float(c.found) - float(c.stored))
                       for c in check.failures if c.how == "sampled"])
        other |= {c.name for c in check.failures if c.how != "sampled"}
    verify_s = (time.perf_counter() - start) / len(seeds)
    return {"dims": dims, "d": game.dim, "status": cert.status.value,
            "seeds_failing": sum(1 for f in failed if f), "of": len(seeds),
            "failed_checks": sum(len(f) for f in failed),
            "worst_excess": max([abs(e) for f in failed for _, e in f], default=0.0),
            "names": sorted({name for f in failed for name, _ in f}),
            "not_sampled": sorted(other), "certify_s": round(certify_s, 1),
            "verify_s": round(verify_s, 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--options", default="{}", help="sgn.MatrixFree options, JSON")
    parser.add_argument("--cases", default=None, help="[(dims, seed, coupling), ...]")
    args = parser.parse_args()
    cases = CASES if args.cases is None else eval(args.cases)   # noqa: S307 (a benchmark)
    for dims, seed, coupling in cases:
        print(json.dumps(run(dims, seed, coupling, range(1, args.seeds + 1),
                             json.loads(args.options))), flush=True)


if __name__ == "__main__":
    main()
