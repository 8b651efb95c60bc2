"""Krylov extremes (sgn/_krylov.py) against dense numpy eigen-solves and SVDs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn._config  # noqa: F401  (float64)
from sgn._krylov import (largest_eigenvalue, largest_singular_value, lanczos,
                         smallest_eigenvalue)

KEY = jax.random.key(0)


def _op(S):
    S = jnp.asarray(S)
    return lambda v: S @ v


def _spectra():
    """Symmetric test matrices: random, indefinite, the symmetric part of a non-symmetric one,
    clustered near the bottom, a repeated smallest eigenvalue, and a definite one."""
    rng = np.random.default_rng(1)
    n = 80
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = rng.standard_normal((n, n))
    out = {
        "random": (A + A.T) / 2,
        "nonsymmetric": 0.5 * (rng.standard_normal((n, n)) * 3 + rng.standard_normal((n, n)).T),
        "clustered": Q @ np.diag(np.r_[-1.0, -1.0 + 1e-6, -1.0 + 2e-6, np.linspace(0, 5, n - 3)]) @ Q.T,
        "repeated": Q @ np.diag(np.r_[[-2.0] * 5, np.linspace(1, 3, n - 5)]) @ Q.T,
        "definite": Q @ np.diag(np.linspace(0.5, 40.0, n)) @ Q.T,
    }
    return {k: (v + v.T) / 2 for k, v in out.items()}


@pytest.mark.parametrize("name", sorted(_spectra()))
def test_smallest_eigenvalue_matches_dense(name):
    S = _spectra()[name]
    exact = np.linalg.eigvalsh(S)
    found = smallest_eigenvalue(_op(S), jnp.ones(S.shape[0]), 30, KEY, restarts=20, rtol=1e-12)
    theta, r = float(found.value), float(found.residual)
    scale = np.abs(exact).max()
    # A Ritz value lies inside the spectrum (up to rounding) ...
    assert theta >= exact[0] - 1e-12 * scale
    # ... some eigenvalue lies within the residual of it ...
    assert np.min(np.abs(exact - theta)) <= r + 1e-12 * scale
    # ... and converged, it is the smallest one (clustered: within the cluster's width).
    assert theta - exact[0] <= 1e-5 if name == "clustered" else 1e-9 * scale
    # The vector is a unit vector with the stated residual.
    y = np.asarray(found.vector)
    assert abs(np.linalg.norm(y) - 1) < 1e-12
    assert abs(np.linalg.norm(S @ y - theta * y) - r) <= 1e-10 * scale


def test_few_iterations_stay_inside_with_an_honest_residual():
    """Unconverged: the value is above lambda_min (never past it) and the residual still bounds
    the distance to some eigenvalue."""
    S = _spectra()["random"]
    exact = np.linalg.eigvalsh(S)
    for k in (2, 5, 10):
        found = smallest_eigenvalue(_op(S), jnp.ones(S.shape[0]), k, KEY)
        theta, r = float(found.value), float(found.residual)
        assert theta >= exact[0] - 1e-12
        assert np.min(np.abs(exact - theta)) <= r + 1e-12


def test_lanczos_basis_is_orthonormal_and_T_is_its_compression():
    S = _spectra()["random"]
    Q, T = lanczos(_op(S), jnp.ones(S.shape[0]), 25, KEY)
    Q, T = np.asarray(Q), np.asarray(T)
    assert np.allclose(Q @ Q.T, np.eye(25), atol=1e-12)
    assert np.allclose(Q @ S @ Q.T, T, atol=1e-10)


def test_breakdown_on_an_invariant_subspace():
    """A start vector inside a 3-dimensional invariant subspace: the recurrence breaks down after
    3 steps, continues from a fresh vector, and still finds lambda_min outside that subspace."""
    d = np.r_[1.0, 2.0, 3.0, -4.0, 5.0, 6.0]
    v0 = np.r_[1.0, 1.0, 1.0, 0, 0, 0]
    found = smallest_eigenvalue(_op(np.diag(d)), jnp.asarray(v0), 6, KEY)
    assert abs(float(found.value) + 4.0) < 1e-12
    Q, T = lanczos(_op(np.diag(d)), jnp.asarray(v0), 6, KEY)
    assert np.allclose(np.asarray(Q) @ np.asarray(Q).T, np.eye(6), atol=1e-12)


def test_mask_keeps_the_run_in_a_block():
    """A block-diagonal S restricted by a mask to its first block of 4: iterations past the
    block's size, fresh vectors and padding never bring in the other block's eigenvalues."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))
    S1 = (A + A.T) / 2 + 5 * np.eye(4)            # definite: a stray zero would be the minimum
    S = np.zeros((10, 10))
    S[:4, :4] = S1
    S[4:, 4:] = -100 * np.eye(6)
    mask = jnp.asarray(np.r_[np.ones(4), np.zeros(6)])
    op = _op(S)
    found = smallest_eigenvalue(lambda v: mask * op(mask * v), mask * jnp.ones(10), 9, KEY,
                                mask=mask, restarts=2)
    assert abs(float(found.value) - np.linalg.eigvalsh(S1)[0]) < 1e-12
    assert np.all(np.asarray(found.vector)[4:] == 0)


def test_largest_eigenvalue_from_below():
    S = _spectra()["definite"]
    found = largest_eigenvalue(_op(S), jnp.ones(S.shape[0]), 30, KEY, restarts=10, rtol=1e-12)
    assert float(found.value) <= 40.0 + 1e-10
    assert abs(float(found.value) - 40.0) < 1e-8


@pytest.mark.parametrize("shape", [(60, 60), (30, 70), (70, 30), (1, 9), (9, 1)])
def test_largest_singular_value_matches_svd(shape):
    rng = np.random.default_rng(sum(shape))
    B = rng.standard_normal(shape)
    B[:, 0] *= 3    # a spread spectrum
    exact = np.linalg.svd(B, compute_uv=False)
    Bj = jnp.asarray(B)
    found = largest_singular_value(lambda v: Bj @ v, lambda u: Bj.T @ u, jnp.ones(shape[1]), 30,
                                   KEY, restarts=20, rtol=1e-13)
    sigma, r = float(found.value), float(found.residual)
    assert sigma <= exact[0] * (1 + 1e-12)                 # from below
    assert abs(sigma - exact[0]) <= 1e-9 * exact[0]
    # some singular value (or zero) lies within the residual
    assert np.min(np.abs(np.r_[exact, 0.0] - sigma)) <= r + 1e-12 * exact[0]
    u, v = np.asarray(found.left), np.asarray(found.right)
    assert abs(u @ B @ v - sigma) <= 1e-10 * exact[0]


def test_singular_value_few_iterations_residual_is_honest():
    rng = np.random.default_rng(5)
    B = rng.standard_normal((50, 40))
    exact = np.linalg.svd(B, compute_uv=False)
    Bj = jnp.asarray(B)
    for k in (2, 4, 8):
        found = largest_singular_value(lambda v: Bj @ v, lambda u: Bj.T @ u, jnp.ones(40), k, KEY)
        sigma, r = float(found.value), float(found.residual)
        assert sigma <= exact[0] * (1 + 1e-12)
        assert np.min(np.abs(np.r_[exact, 0.0] - sigma)) <= r + 1e-12


def test_zero_operator():
    found = largest_singular_value(lambda v: jnp.zeros(3), lambda u: jnp.zeros(4), jnp.ones(4), 4,
                                   KEY)
    assert float(found.value) == 0.0 and float(found.residual) == 0.0
    ritz = smallest_eigenvalue(lambda v: 0.0 * v, jnp.ones(4), 4, KEY)
    assert float(ritz.value) == 0.0


def test_runs_under_vmap():
    """A batch of operators (one per point) in one vmapped call gives each its own answer."""
    rng = np.random.default_rng(7)
    Ss = np.stack([(lambda A: (A + A.T) / 2)(rng.standard_normal((20, 20))) for _ in range(4)])

    def one(S):
        return smallest_eigenvalue(lambda v: S @ v, jnp.ones(20), 20, KEY).value

    got = np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(Ss)))
    assert np.allclose(got, [np.linalg.eigvalsh(S)[0] for S in Ss], atol=1e-10)
