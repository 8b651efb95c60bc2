"""Every bundled example does what its docstring says, checked by independent computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn._load import load_game


@pytest.fixture(scope="module")
def cascade():
    game = load_game("examples/cascade.py")
    return game, sgn.certify(game, samples=1024)


def test_cascade_is_certified_by_sgn_but_not_euclidean_monotone(cascade):
    game, cert = cascade
    assert not game.has_constant_jacobian
    assert cert.status is sgn.Status.CERTIFIED and not cert.verified
    assert cert.diagnostics["certified_by"] == "sgn"
    assert cert.bounds["euclidean_margin"] < 0
    assert cert.diagnostics["spectral_radius"] < 1
    # the metric margin seen by the Jacobians is at least the SGN bound
    assert cert.diagnostics["metric_margin"] >= cert.margin


def test_cascade_euler_contracts_at_the_certified_rate(cascade):
    """Simulate projected-free Euler at the recommended step from starts in the M-ball that
    fits in the box (the certificate covers it: distances to x* = 0 shrink in M-norm), and
    compare every observed one-step contraction with the certified factor."""
    game, cert = cascade
    w = np.repeat(np.array(cert.weights), game.dims)
    h = cert.step_sizes["euler_recommended"]
    q = cert.step_sizes["euler_factor"]
    radius = 2.0 * np.sqrt(w.min())  # ||x||_M <= radius keeps every |x_k| <= 2
    rng = np.random.default_rng(0)
    u = rng.standard_normal((64, game.dim))
    starts = radius * rng.uniform(0.2, 1.0, (64, 1)) * u / np.linalg.norm(u, axis=1,
                                                                            keepdims=True)
    x = jnp.asarray(starts / np.sqrt(w))
    field = jax.jit(jax.vmap(game.pseudo_gradient))
    assert np.abs(np.asarray(field(jnp.zeros((1, game.dim))))).max() < 1e-12  # x* = 0

    def m_norm(v):
        return np.sqrt(np.sum(w * np.asarray(v) ** 2, axis=-1))

    worst = 0.0
    for _ in range(100):
        x_next = x - h * field(x)
        dist, dist_next = m_norm(x), m_norm(x_next)
        assert (np.abs(np.asarray(x_next)) <= 2.0).all()
        pair, pair_next = m_norm(x[::2] - x[1::2]), m_norm(x_next[::2] - x_next[1::2])
        # (the direct step converges in a few dozen steps: then nothing is left to compare)
        keep, both = dist > 1e-9, pair > 1e-9
        if keep.any():
            worst = max(worst, (dist_next[keep] / dist[keep]).max())
        if both.any():
            worst = max(worst, (pair_next[both] / pair[both]).max())
        x = x_next
    assert worst <= q + 1e-12


def test_lift_euler_factor_is_the_exact_matrix_norm_bound():
    game = load_game("examples/lifted_toy.py", {"lam": 1.0})
    cert = sgn.certify(game)
    J = np.asarray(game.jacobian_fn(np.zeros(game.dim)))
    s = np.sqrt(np.repeat(np.array(cert.weights), game.dims))
    for key, factor in [("euler_recommended", "euler_factor")]:
        h = cert.step_sizes[key]
        step = np.eye(game.dim) - h * J
        observed = np.linalg.norm(s[:, None] * step / s[None, :], 2)
        assert observed <= cert.step_sizes[factor] + 1e-12
    # just above the Euler limit, the bound itself no longer contracts
    h_bad = cert.step_sizes["euler_max"] * 1.001
    assert sgn.euler_factor(h_bad, cert.margin, cert.bounds["lipschitz"]) > 1.0


def test_too_coupled_is_not_certified_and_really_diverges():
    game = load_game("examples/too_coupled.py")
    cert = sgn.certify(game)
    assert cert.status is sgn.Status.NOT_CERTIFIED
    assert cert.diagnostics["spectral_radius"] == pytest.approx(3.0, abs=1e-9)
    assert any("rho = 3" in r for r in cert.reasons)
    J = np.asarray(game.jacobian_fn(np.zeros(2)))
    assert np.linalg.eigvals(J).real.min() == pytest.approx(-2.0)  # the flow x' = -Jx blows up


def test_zero_sum_falls_back_to_the_euclidean_test():
    cert = sgn.certify(load_game("examples/zero_sum_bilinear.py", {"eps": 0.1}))
    assert cert.status is sgn.Status.CERTIFIED
    assert cert.diagnostics["certified_by"] == "euclidean"
    assert cert.weights == [1.0, 1.0]
    assert cert.margin == pytest.approx(0.1, abs=1e-12)
    assert cert.diagnostics["spectral_radius"] == pytest.approx(10.0)
    assert any("Euclidean test" in r for r in cert.reasons)
