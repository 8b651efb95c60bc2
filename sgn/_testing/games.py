"""Nonlinear test games whose every Jacobian block depends on x, so the sampled path runs.

Used by tests/test_screening.py (against brute force), tests/test_matrix_free.py (against
dense bounds) and by the estimator benchmarks (benchmarks/bench_estimator.py,
repro_refine_hang.py, probe_prebounds.py, verify_matrix_free_seeds.py).
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


def quadratic_tanh_game(dims, seed: int = 0, coupling: float = 0.2,
                        name: str = "random") -> sgn.Game:
    """A smooth nonlinear game on [-1, 1]^d: own quadratic (random SPD Hessian) plus cosine
    curvature, tanh couplings of strength `coupling`."""
    rng = np.random.default_rng(seed)
    n = len(dims)
    H = [jnp.asarray(np.eye(d) + 0.3 * (lambda A: A @ A.T)(rng.standard_normal((d, d))
                                                            / np.sqrt(d))) for d in dims]
    C = {(i, j): jnp.asarray(coupling * rng.standard_normal((dims[i], dims[j]))
                             / np.sqrt(dims[j]))
         for i in range(n) for j in range(n) if i != j}

    def cost(i):
        def f(*xs):
            x = xs[i]
            value = 0.5 * x @ H[i] @ x + 0.1 * jnp.sum(jnp.cos(x))
            for j in range(n):
                if j != i:
                    value = value + x @ jnp.tanh(C[i, j] @ xs[j] + 0.3)
            return value
        return f

    d = sum(dims)
    return sgn.Game([cost(i) for i in range(n)], dims, sgn.Box(-np.ones(d), np.ones(d)),
                    name=name)


def ring_game(n: int = 16, dim: int = 1, coupling: float = 0.03, wobble: float = 0.05,
              radius: float = 1.5, name: str | None = None) -> sgn.Game:
    """n players of dimension `dim` in a ring, every Jacobian block varying with x: a game
    that needs many boxes under --verify, each costly when d = n * dim is near 16.

    f_i = 1/2 ||x_i||^2 + sum log cosh(x_i + coupling sum_{j != i} x_j)
          + wobble ||x_i||^2 sum sin(x_{i+1} - x_{i+2})

    ring_game(16) has 256 bounds, each with its own partition, so the first round of branch and
    bound alone encloses 512 boxes; ring_game(4, 4, 0.15) needs thousands of boxes of d = 16.
    Used by tests/test_budget.py and benchmarks/bench_budget.py.
    """
    def make(i):
        def cost(*xs):
            x = xs[i]
            others = sum(xs[j] for j in range(n) if j != i)
            return (0.5 * x @ x + jnp.sum(jnp.log(jnp.cosh(x + coupling * others)))
                    + wobble * (x @ x) * jnp.sum(jnp.sin(xs[(i + 1) % n] - xs[(i + 2) % n])))
        return cost

    return sgn.Game([make(i) for i in range(n)], [dim] * n, sgn.Box(-radius, radius),
                    name=name or f"ring-{n}x{dim}")
