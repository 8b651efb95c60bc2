"""Nonlinear test games whose every Jacobian block depends on x, so the sampled path runs.

Used by tests/test_screening.py (against brute force) and by the estimator benchmarks
(benchmarks/bench_estimator.py, repro_refine_hang.py, probe_prebounds.py).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import sgn


def coupled_game(n: int, dims, seed: int = 0, name: str | None = None) -> sgn.Game:
    """N players with nonlinear own costs and tanh / sin couplings on the box [-1, 1]^d.

    f_i = 1/2 ||x_i||^2 + 0.1 sum cos(2 x_i) + 0.05 sum x_i^4
          + sum_{j != i} [ x_i . tanh(A_ij x_j) + 0.2 sum sin(x_i) * sin(B_ij x_j) ]
    """
    dims = [int(k) for k in (dims if np.ndim(dims) else [dims] * n)]
    rng = np.random.default_rng(seed)
    A = {(i, j): jnp.asarray(rng.normal(size=(dims[i], dims[j])) * 0.6 / np.sqrt(dims[j]))
         for i in range(n) for j in range(n) if i != j}
    B = {(i, j): jnp.asarray(rng.normal(size=(dims[i], dims[j])) / np.sqrt(dims[j]))
         for i in range(n) for j in range(n) if i != j}

    def cost(i):
        def f(*xs):
            xi = xs[i]
            c = 0.5 * jnp.sum(xi ** 2) + 0.1 * jnp.sum(jnp.cos(2.0 * xi)) + 0.05 * jnp.sum(xi ** 4)
            for j in range(n):
                if j != i:
                    c = c + xi @ jnp.tanh(A[i, j] @ xs[j])
                    c = c + 0.2 * jnp.sum(jnp.sin(xi) * jnp.sin(B[i, j] @ xs[j]))
            return c
        return f

    return sgn.Game([cost(i) for i in range(n)], dims, sgn.Box(-1.0, 1.0),
                    name=name or f"tanh dims {dims}")
