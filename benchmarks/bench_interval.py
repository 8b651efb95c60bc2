"""Verified (interval) bounds against sampled bounds on the examples, and executor speed-up.

    /work/venv/bin/python benchmarks/bench_interval.py [--repeats 3]

Per example: median wall time of interval_bounds and of estimate_bounds (4096 samples), the
verified mu_1 and L_12 against the brute-force extreme over 20000 random points (tightness),
and the time of interval_bounds on a 2-worker process pool and a 2-worker Dask local cluster
against in-process, all measured in the same run.
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
from sgn._interval import dask_executor, interval_bounds

EXAMPLES = ["examples/scalar_toy.py", "examples/cascade.py", "examples/lifted_toy.py"]


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
    return mu1, L12


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    dask = dask_executor(n_workers=2)
    try:
        for path in EXAMPLES:
            game = sgn.load_game(path)
            result = interval_bounds(game)
            t_int = median_time(lambda g=game: interval_bounds(g), args.repeats)
            t_smp = median_time(lambda g=game: sgn.estimate_bounds(g), args.repeats)
            interval_bounds(game, executor=pool)  # warm the workers
            t_pool = median_time(lambda g=game: interval_bounds(g, executor=pool), args.repeats)
            interval_bounds(game, executor=dask)
            t_dask = median_time(lambda g=game: interval_bounds(g, executor=dask), args.repeats)
            mu1, L12 = brute_force(game)
            rows.append((game.name, result.outcome, result.evaluated, t_int, t_smp,
                         result.bounds.curvature[0], mu1, result.bounds.coupling[0, 1], L12,
                         t_int / t_pool, t_int / t_dask))
    finally:
        pool.shutdown()
        dask.shutdown()
    head = ("game", "outcome", "boxes", "interval s", "sampled s", "mu1 verified", "mu1 brute",
            "L12 verified", "L12 brute", "x pool(2)", "x dask(2)")
    print(" | ".join(head))
    for row in rows:
        print(" | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))


if __name__ == "__main__":
    main()
