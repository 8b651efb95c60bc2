"""In-process A/B measurements behind benchmarks/README.md, "Issue 15: Markov games".

    PYTHONPATH=. python benchmarks/ab_markov.py memo S A [repeats]
        warm certify of one random game with the Jacobian memo off (MEMO_BYTES = 0) and on,
        alternating, a fresh memo each time (the bounds pass computes, the metric pass reuses)
    PYTHONPATH=. python benchmarks/ab_markov.py closed-form S A [repeats]
        warm certify of the same random game built with solve_derivatives "elimination" (the
        default) and "closed-form", alternating
    PYTHONPATH=. python benchmarks/ab_markov.py jacobians S A [repeats]
        the bound Jacobians at 2 d + 1 points (one local-search step), one vmapped program per
        kind of solve derivative: compile and run time, and their largest relative difference

Medians of process CPU time (all threads) and wall time; the two variants alternate so that the
shared machine's load hits both alike. Random games as bench_markov.random_game.
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import sgn
from bench_markov import random_game
from sgn import _screening


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def alternate(variants: dict, repeats: int) -> None:
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            times[name].append(timed(run)[1:])
    for name, ts in times.items():
        print(f"  {name:<12} wall {statistics.median(w for w, _ in ts):7.2f} s   "
              f"cpu {statistics.median(c for _, c in ts):7.2f} s")
    (a, ta), (b, tb) = list(times.items())
    ratio = statistics.median(c for _, c in ta) / statistics.median(c for _, c in tb)
    print(f"  cpu ratio {a} / {b}: {ratio:.2f}x")


def main(argv) -> int:
    what, S, A = argv[0], int(argv[1]), int(argv[2])
    repeats = int(argv[3]) if len(argv) > 3 else 3
    print(f"{what}: random game S={S} A={A}, {repeats} repeats", flush=True)
    if what == "memo":
        game = random_game(S, A)
        sgn.certify(game)
        default = _screening.MEMO_BYTES

        def run(limit):
            def certify():
                _screening.MEMO_BYTES = limit
                _screening._memo.__init__()
                sgn.certify(game)
            return certify

        alternate({"memo off": run(0), "memo on": run(default)}, repeats)
    elif what == "closed-form":
        games = {"elimination": random_game(S, A),
                 "closed-form": random_game(S, A, solve_derivatives="closed-form")}

        def run(game):
            def certify():
                _screening._memo.__init__()
                sgn.certify(game)
            return certify

        for game in games.values():
            sgn.certify(game)
        alternate({name: run(game) for name, game in games.items()}, repeats)
    elif what == "jacobians":
        games = {"elimination": random_game(S, A),
                 "closed-form": random_game(S, A, solve_derivatives="closed-form")}
        ref = games["elimination"]
        rng = np.random.default_rng(1)
        X = jnp.asarray(ref.region.low + rng.random((2 * ref.dim + 1, ref.dim)) * ref.region.width)
        outs = {}
        for name, game in games.items():
            f = jax.jit(jax.vmap(game.bound_jacobians))
            outs[name], first, _ = timed(lambda: jax.block_until_ready(f(X)))
            runs = [timed(lambda: jax.block_until_ready(f(X)))[1] for _ in range(repeats)]
            print(f"  {name:<12} d = {game.dim}, {X.shape[0]} points: compile + run {first:.2f} s, "
                  f"run {statistics.median(runs) * 1e3:.1f} ms (median of {repeats})")
        for a, b in zip(outs["elimination"], outs["closed-form"]):
            a, b = np.asarray(a), np.asarray(b)
            print(f"  max relative difference {np.abs(a - b).max() / np.abs(a).max():.2e}")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
