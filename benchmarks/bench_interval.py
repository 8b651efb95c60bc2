"""Verified (interval) bounds against sampled bounds on the examples, and executor speed-up.

    /work/venv/bin/python benchmarks/bench_interval.py [--repeats 3]

Per game: median wall time of interval_bounds and of estimate_bounds (4096 samples), the
verified mu_1 and L_12 against the brute-force extreme over 20000 random points (tightness),
the verified beta(w) at the certified weights without (max_boxes=0) and with the metric pass's
refinement against the brute-force extreme, and the time of interval_bounds on a 2-worker
process pool and a 2-worker Dask local cluster against in-process, all measured in the same
run. "mix-3" is a three-player game whose quantities depend on every coordinate, so branch and
bound needs ~10k boxes: the case scale-out is for.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

import sgn
from sgn._interval import dask_executor, interval_bounds, interval_in_metric

EXAMPLES = ["examples/scalar_toy.py", "examples/cascade.py", "examples/lifted_toy.py", "mix-3"]


def mix_game(n=3, a=1.0, b=0.2, wobble=0.1, radius=1.5) -> sgn.Game:
    """f_i = x_i^2/2 + a log cosh(x_i + b sum_{j != i} x_j)
    + wobble x_i^2/2 sin(x_{i+1} - x_{i+2}): curvature and couplings vary with every
    coordinate and the small-gain margin is thin, so certifying takes ~10k boxes."""
    def make(i):
        def cost(*xs):
            x = xs[i]
            others = sum(xs[j] for j in range(n) if j != i)
            return (0.5 * x @ x + a * jnp.sum(jnp.log(jnp.cosh(x + b * others)))
                    + wobble * 0.5 * (x @ x) * jnp.sum(jnp.sin(xs[(i + 1) % n]
                                                               - xs[(i + 2) % n])))
        return cost
    return sgn.Game([make(i) for i in range(n)], [1] * n, sgn.Box(-radius, radius),
                    name=f"mix-{n}")


def load(path):
    return mix_game() if path == "mix-3" else sgn.load_game(path)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def brute_force(game, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    x = game.region.low + game.region.width * rng.random((n, game.dim))
    J = np.asarray(jax.vmap(game.jacobian_fn)(jnp.asarray(x)))
    r, c = game.block(0, 0), game.block(0, 1)
    own = J[:, r[0], r[1]]
    mu1 = np.linalg.eigvalsh(0.5 * (own + np.swapaxes(own, 1, 2)))[:, 0].min()
    L12 = np.linalg.norm(J[:, c[0], c[1]], 2, axis=(1, 2)).max()
    return mu1, L12, J


def brute_beta(game, J, weights):
    s = np.sqrt(np.repeat(np.asarray(weights) / weights[0], game.dims))
    return np.linalg.norm(J * s[:, None] / s[None, :], 2, axis=(1, 2)).max()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    dask = dask_executor(n_workers=2)
    try:
        for path in EXAMPLES:
            game = load(path)
            result = interval_bounds(game)
            weights = sgn.optimize_weights(result.bounds.curvature,
                                           result.bounds.coupling).weights
            beta_plain = interval_in_metric(game, weights, result, max_boxes=0).lipschitz
            beta_refined = interval_in_metric(game, weights, result).lipschitz
            t_int = median_time(lambda g=game: interval_bounds(g), args.repeats)
            t_smp = median_time(lambda g=game: sgn.estimate_bounds(g), args.repeats)
            interval_bounds(game, executor=pool)  # warm the workers
            t_pool = median_time(lambda g=game: interval_bounds(g, executor=pool), args.repeats)
            interval_bounds(game, executor=dask)
            t_dask = median_time(lambda g=game: interval_bounds(g, executor=dask), args.repeats)
            mu1, L12, J = brute_force(game)
            rows.append((game.name, result.outcome, result.evaluated, t_int, t_smp,
                         result.bounds.curvature[0], mu1, result.bounds.coupling[0, 1], L12,
                         beta_plain, beta_refined, brute_beta(game, J, weights),
                         t_int / t_pool, t_int / t_dask))
    finally:
        pool.shutdown()
        dask.shutdown()
    head = ("game", "outcome", "boxes", "interval s", "sampled s", "mu1 verified", "mu1 brute",
            "L12 verified", "L12 brute", "beta(w) unrefined", "beta(w) refined",
            "beta(w) brute", "x pool(2)", "x dask(2)")
    print(" | ".join(head))
    for row in rows:
        print(" | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))


if __name__ == "__main__":
    main()
