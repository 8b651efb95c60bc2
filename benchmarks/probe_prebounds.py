"""How much cheap exact pre-bounds could prune before the estimator's eigen-solves.

    python benchmarks/probe_prebounds.py [--samples 10000] [--keep 2]

The estimator keeps, per quantity, the `keep` worst points of a batch (keep = refine_starts).
A point needs its exact eigen-solve / SVD only if a cheap bound on it could still beat the
keep-th worst exact value. This prints, for the benchmark games of bench_estimator.py, the
fraction of points that remain candidates under O(k^2)-per-matrix bounds:

  lambda_min(sym A) >= Gershgorin lower bound          (curvature mu_i, Euclidean margin)
  ||A||_2 <= min(||A||_F, sqrt(||A||_1 ||A||_inf))     (Lipschitz, whole J)
  ||A||_2 <= sqrt(max row sum of |A^T A|)              (coupling blocks; one k^3 product)

A fraction near 1 means the pre-bound saves nothing (the expensive solve still runs on
almost every point).
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_estimator import games

from sgn._sampling import sample_points


def gershgorin_low(S):
    radius = np.abs(S).sum(-1) - np.abs(np.diagonal(S, axis1=-2, axis2=-1))
    return np.min(np.diagonal(S, axis1=-2, axis2=-1) - radius, axis=-1)


def fraction_min(S, keep):
    """Candidates for the `keep` smallest lambda_min(S) under the Gershgorin bound."""
    exact = np.linalg.eigvalsh(S)[:, 0]
    return np.mean(gershgorin_low(S) <= np.sort(exact)[keep - 1])


def fraction_norm(A, bound, keep):
    exact = np.linalg.svd(A, compute_uv=False)[:, 0]
    return np.mean(bound(A) >= np.sort(exact)[-keep])


def norm_bound(A):
    fro = np.sqrt(np.sum(A * A, axis=(-2, -1)))
    one_inf = np.sqrt(np.abs(A).sum(-2).max(-1) * np.abs(A).sum(-1).max(-1))
    return np.minimum(fro, one_inf)


def gram_bound(A):
    return np.sqrt(np.abs(np.swapaxes(A, -1, -2) @ A).sum(-1).max(-1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--keep", type=int, default=2)
    args = parser.parse_args()
    print(f"fraction of {args.samples} points still needing the exact solve (keep "
          f"{args.keep} worst per quantity)")
    print(f"{'game':<24} {'mu_i (own)':>10} {'L_ij (Gram)':>11} {'gamma (J)':>10} "
          f"{'beta (J)':>9}")
    for game, _ in games():
        X = jnp.asarray(sample_points(game.region, args.samples, 0))
        J = np.asarray(jax.jit(jax.vmap(game.jacobian))(X))
        n = game.n_players
        own = [fraction_min(0.5 * (B + np.swapaxes(B, -1, -2)), args.keep)
               for B in (J[:, game.block(i, i)[0], game.block(i, i)[1]] for i in range(n))]
        off = [fraction_norm(J[:, game.block(i, j)[0], game.block(i, j)[1]], gram_bound,
                             args.keep) for i in range(n) for j in range(n) if i != j]
        gamma = fraction_min(0.5 * (J + np.swapaxes(J, -1, -2)), args.keep)
        beta = fraction_norm(J, norm_bound, args.keep)
        print(f"{game.name:<24} {np.mean(own):>10.4f} {np.mean(off):>11.3f} {gamma:>10.3f} "
              f"{beta:>9.3f}")


if __name__ == "__main__":
    main()
