"""sgn._small_eigen against numpy's LAPACK: lambda_min / lambda_max / ||A||_2 of small matrices.

Accuracy is measured relative to ||A||_2 (what a backward-stable solver promises), on random,
ill-conditioned, clustered and repeated spectra, zero, diagonal and huge / tiny scalings.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn import _small_eigen as se

TOL = 1e-13
SIZES = (3, 7, 16, 32)  # each size compiles anew: few sizes keep the test short

_lam_min = jax.jit(se.eigvalsh_min)
_lam_max = jax.jit(se.eigvalsh_max)
_norm2 = jax.jit(se.norm2)


def _with_spectrum(rng, eigenvalues):
    """Q diag(eigenvalues) Q^T for a random orthogonal Q, one matrix per row of eigenvalues."""
    n, d = eigenvalues.shape
    Q, _ = np.linalg.qr(rng.standard_normal((n, d, d)))
    S = np.einsum("nij,nj,nkj->nik", Q, eigenvalues, Q)
    return 0.5 * (S + np.swapaxes(S, 1, 2))


def _symmetric_cases(d: int, rng) -> np.ndarray:
    """A stack of awkward symmetric d x d matrices."""
    A = rng.standard_normal((40, d, d))
    random = 0.5 * (A + np.swapaxes(A, 1, 2))
    ill = _with_spectrum(rng, np.sort(np.logspace(-14, 0, d) * rng.choice([-1, 1], d))[None]
                         .repeat(10, 0))
    repeated = _with_spectrum(rng, np.repeat([[1.0] * (d // 2) + [-2.0] * (d - d // 2)], 10, 0))
    clustered = _with_spectrum(rng, -1.0 + 1e-12 * rng.standard_normal((10, d)))
    all_equal = np.repeat(3.5 * np.eye(d)[None], 2, 0)
    zero = np.zeros((2, d, d))
    diagonal = np.stack([np.diag(rng.standard_normal(d)) for _ in range(5)])
    semidefinite = np.einsum("nij,nkj->nik", A[:10, :, :2], A[:10, :, :2])  # rank 2, PSD
    scaled = np.concatenate([random[:10] * 1e150, random[10:20] * 1e-150,
                             random[20:25] * 2.0 ** 1000, random[25:30] * 1e-300])
    return np.concatenate([random, ill, repeated, clustered, all_equal, zero, diagonal,
                           semidefinite, scaled])


@pytest.mark.parametrize("d", SIZES)
def test_extreme_eigenvalues_match_numpy(d):
    rng = np.random.default_rng(d)
    S = _symmetric_cases(d, rng)
    ref = np.linalg.eigvalsh(S)
    scale = np.linalg.norm(S, 2, axis=(1, 2))
    scale = np.where(scale > 0, scale, 1.0)
    lo = np.asarray(_lam_min(jnp.asarray(S)))
    hi = np.asarray(_lam_max(jnp.asarray(S)))
    np.testing.assert_array_less(np.abs(lo - ref[:, 0]) / scale, TOL)
    np.testing.assert_array_less(np.abs(hi - ref[:, -1]) / scale, TOL)
    assert (lo[np.all(S == 0, axis=(1, 2))] == 0).all()


@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (3, 8), (2, 7), (1, 5), (24, 24)])
def test_norm2_matches_numpy(shape):
    rng = np.random.default_rng(sum(shape))
    k, m = shape
    A = rng.standard_normal((40, k, m))
    U, _ = np.linalg.qr(rng.standard_normal((10, k, k)))
    V, _ = np.linalg.qr(rng.standard_normal((10, m, m)))
    r = min(k, m)
    sv = np.zeros((10, k, m))
    sv[:, np.arange(r), np.arange(r)] = np.logspace(0, -15, r)                 # ill-conditioned
    ill = U @ sv @ V
    sv[:, np.arange(r), np.arange(r)] = 1.0 + 1e-13 * rng.standard_normal((10, r))  # clustered
    flat = U @ sv @ V
    cases = np.concatenate([A, ill, flat, np.zeros((2, k, m)), A[:5] * 1e150, A[5:10] * 1e-150,
                            A[10:12] * 1e-300])
    ref = np.linalg.norm(cases, 2, axis=(1, 2))
    got = np.asarray(_norm2(jnp.asarray(cases)))
    np.testing.assert_array_less(np.abs(got - ref) / np.where(ref > 0, ref, 1.0), TOL)
    assert (got[ref == 0] == 0).all()


def test_leading_axes_and_vmap_agree():
    """(..., d, d) stacks, vmap (the custom_vmap rule) and nested vmap give the same values."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 4, 5, 5))
    S = jnp.asarray(0.5 * (A + np.swapaxes(A, -1, -2)))
    direct = np.asarray(se.eigvalsh_min(S))
    assert direct.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(jax.vmap(se.eigvalsh_min)(S)), direct)
    np.testing.assert_array_equal(np.asarray(jax.vmap(jax.vmap(se.eigvalsh_min))(S)), direct)
    np.testing.assert_allclose(direct, np.linalg.eigvalsh(np.asarray(S))[..., 0], rtol=0,
                               atol=1e-14 * np.abs(A).max() * 5)
    one = np.asarray(se.norm2(jnp.asarray(A[0, 0])))
    assert one.shape == () and one == pytest.approx(np.linalg.norm(A[0, 0], 2), rel=1e-14)


def test_non_finite_input_gives_nan():
    S = np.eye(4)
    S[1, 2] = S[2, 1] = np.nan
    assert np.isnan(float(se.eigvalsh_min(jnp.asarray(S))))
    S[1, 2] = S[2, 1] = np.inf
    assert np.isnan(float(se.norm2(jnp.asarray(S))))


def test_gradients_are_the_eigenvector_forms():
    """d lambda_min / dS = v v^T and d sigma_max / dA = u v^T (simple extremes), so the local
    search gets the same ascent directions as with LAPACK; finite differences agree."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((6, 6))
    S = 0.5 * (A + A.T)
    g = np.asarray(jax.grad(se.eigvalsh_min)(jnp.asarray(S)))
    _, V = np.linalg.eigh(S)
    np.testing.assert_allclose(g, np.outer(V[:, 0], V[:, 0]), atol=1e-12)
    g = np.asarray(jax.grad(se.norm2)(jnp.asarray(A)))
    U, _, Vt = np.linalg.svd(A)
    np.testing.assert_allclose(g, np.outer(U[:, 0], Vt[0]), atol=1e-12)

    def f(x):  # a smooth path through matrices: x -> norm2 + lambda_min
        M = jnp.asarray(A) + x * jnp.sin(jnp.arange(36.0).reshape(6, 6))
        return se.norm2(M) + se.eigvalsh_min(0.5 * (M + M.T))

    h = 1e-6
    fd = (float(f(h)) - float(f(-h))) / (2 * h)
    assert float(jax.grad(f)(0.0)) == pytest.approx(fd, rel=1e-6, abs=1e-8)
    assert np.isfinite(np.asarray(jax.grad(lambda S: se.eigvalsh_min(S))(jnp.zeros((4, 4))))).all()


def test_padded_unequal_blocks_equal_the_per_block_solves():
    """_bounds pads unequal blocks to one size; the padding must not change any value, and the
    numpy formula (exact solves on the host) and the jnp one (the compiled screen) agree."""
    from sgn import _bounds

    dims = [1, 3, 5, 2]
    d = sum(dims)
    n = len(dims)
    rng = np.random.default_rng(4)
    J = rng.standard_normal((d, d))
    game = sgn.Game.from_field(lambda *xs: list(xs), dims=dims, region=sgn.Box(-1.0, 1.0))
    badness = np.asarray(_bounds._badness_for(_bounds._bounds_families)(game)(
        (jnp.asarray(J), jnp.asarray(J)), None))
    mu, L, gamma, beta = _bounds._unpack_bounds(badness, n)
    for i in range(n):
        own = J[game.block(i, i)]
        assert mu[i] == pytest.approx(np.linalg.eigvalsh(0.5 * (own + own.T))[0], abs=1e-14)
        for j in range(n):
            want = 0.0 if i == j else np.linalg.norm(J[game.block(i, j)], 2)
            assert L[i, j] == pytest.approx(want, rel=1e-14, abs=1e-15)
    assert gamma == pytest.approx(np.linalg.eigvalsh(0.5 * (J + J.T))[0], abs=1e-13)
    assert beta == pytest.approx(np.linalg.norm(J, 2), rel=1e-14)
    for family in _bounds._bounds_families(game):
        on_host = family.matrices(np, J[None], J[None], None)
        compiled = np.asarray(jax.jit(lambda J, f=family: f.matrices(jnp, J, J, None))(J[None]))
        np.testing.assert_array_equal(on_host, compiled)
