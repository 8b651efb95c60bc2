"""Rates and step sizes (docs/method.md, section 7; docs/rk4.md): closed forms, and honesty of
the Euler / RK4 bounds checked against explicit one-step maps of random linear and nonlinear
fields."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize

from sgn._steps import euler_factor, rk4_factor, step_sizes

ALPHA_REF = 1.0 - math.sqrt(0.5)
BETA_REF = 1.707107


def random_field(rng, d):
    """A = a0 I + S + K (S psd, K skew); returns A, alpha = lambda_min(sym A), beta = ||A||_2."""
    a0 = rng.uniform(0.05, 2.0)
    B = rng.normal(size=(d, d)) * rng.uniform(0.0, 1.0)
    S = B @ B.T
    C = rng.normal(size=(d, d)) * rng.uniform(0.0, 2.0)
    K = C - C.T
    A = a0 * np.eye(d) + S + K
    alpha = float(np.linalg.eigvalsh(0.5 * (A + A.T))[0])
    beta = float(np.linalg.norm(A, 2))
    assert alpha >= a0 - 1e-12 and beta >= alpha
    return A, alpha, beta


def q_ref(h, alpha, beta):
    return math.sqrt(1.0 - 2.0 * h * alpha + (h * beta) ** 2)


def q4_ref(h, alpha, beta):
    z = h * beta
    return q_ref(h, alpha, beta) + z**2 / 2 + z**3 / 6 + z**4 / 24


def rk4_matrix(hA):
    I = np.eye(hA.shape[0])
    hA2 = hA @ hA
    hA3 = hA2 @ hA
    return I - hA + hA2 / 2 - hA3 / 6 + hA3 @ hA / 24


# --- the reference game (docs/method.md, docs/rk4.md) -----------------------------------------


def test_reference_step_sizes():
    s = step_sizes(ALPHA_REF, BETA_REF)
    assert s.euler_max == pytest.approx(0.201010, abs=1e-6)
    assert s.euler_max == pytest.approx(2 * ALPHA_REF / BETA_REF**2, rel=1e-14)
    assert s.euler_recommended == pytest.approx(ALPHA_REF / BETA_REF**2, rel=1e-14)
    assert s.euler_factor == pytest.approx(math.sqrt(1 - ALPHA_REF**2 / BETA_REF**2), rel=1e-14)
    assert s.rk4_guideline == pytest.approx(2.5 / BETA_REF, rel=1e-14)
    assert 0 < s.rk4_recommended < s.rk4_proven <= s.euler_max
    assert s.rk4_factor < 1.0


def test_euler_factor_closed_form():
    rng = np.random.default_rng(20)
    for _ in range(200):
        alpha = rng.uniform(0.01, 3.0)
        beta = alpha * rng.uniform(1.0, 10.0)
        h = rng.uniform(0.0, 2 * alpha / beta**2)
        assert euler_factor(h, alpha, beta) == pytest.approx(q_ref(h, alpha, beta), rel=1e-13)
        assert euler_factor(h, alpha, beta) < 1.0
        # minimum at alpha / beta^2
        assert euler_factor(alpha / beta**2, alpha, beta) <= euler_factor(h, alpha, beta) + 1e-15


# --- Euler: an honest per-step bound ----------------------------------------------------------


def test_euler_bound_is_honest():
    rng = np.random.default_rng(21)
    for _ in range(60):
        d = int(rng.integers(2, 7))
        A, alpha, beta = random_field(rng, d)
        hmax = 2 * alpha / beta**2
        for h in np.concatenate([rng.uniform(0, hmax, 8), [alpha / beta**2, hmax * (1 - 1e-9)]]):
            q = euler_factor(h, alpha, beta)
            assert q < 1.0
            M = np.eye(d) - h * A
            E = rng.normal(size=(d, 50))
            ratios = np.linalg.norm(M @ E, axis=0) / np.linalg.norm(E, axis=0)
            assert ratios.max() <= q + 1e-12
            assert np.linalg.norm(M, 2) <= q + 1e-12  # the worst direction as well
        # past 2 alpha / beta^2 Euler gives no contraction guarantee
        assert euler_factor(hmax * (1 + 1e-6), alpha, beta) >= 1.0
        assert euler_factor(2 * hmax, alpha, beta) >= 1.0


def test_euler_bound_is_tight_for_scalar_field():
    # A = alpha I: beta = alpha and ||I - hA|| = |1 - h alpha| is exactly the bound
    for alpha in (0.1, 1.0, 7.0):
        for h in np.linspace(0.0, 2.0 / alpha, 11):
            assert euler_factor(h, alpha, alpha) == pytest.approx(abs(1 - h * alpha), abs=1e-12)


# --- RK4: an honest per-step bound ------------------------------------------------------------


def test_rk4_factor_closed_form():
    rng = np.random.default_rng(22)
    for _ in range(100):
        alpha = rng.uniform(0.01, 3.0)
        beta = alpha * rng.uniform(1.0, 10.0)
        h = rng.uniform(0.0, 2 * alpha / beta**2)
        assert rk4_factor(h, alpha, beta) == pytest.approx(q4_ref(h, alpha, beta), rel=1e-13)


def test_rk4_bound_is_honest():
    rng = np.random.default_rng(23)
    for _ in range(40):
        d = int(rng.integers(2, 7))
        A, alpha, beta = random_field(rng, d)
        s = step_sizes(alpha, beta)
        assert s.rk4_proven <= s.euler_max
        assert rk4_factor(s.rk4_proven, alpha, beta) == pytest.approx(1.0, abs=1e-9)
        # independent end of the interval {h : q4(h) < 1}
        h_end = scipy.optimize.brentq(lambda h: q4_ref(h, alpha, beta) - 1.0,
                                      1e-6 * s.euler_max, s.euler_max, xtol=1e-15, rtol=1e-15)
        assert s.rk4_proven == pytest.approx(h_end, rel=1e-8)
        grid = np.linspace(0.0, s.rk4_proven, 2001)[1:]
        q4 = np.array([rk4_factor(h, alpha, beta) for h in grid])
        assert (q4[:-1] < 1.0).all()  # strictly inside
        for h, f in zip(grid[::100], q4[::100]):
            assert np.linalg.norm(rk4_matrix(h * A), 2) <= f + 1e-12
        assert np.linalg.norm(rk4_matrix(s.rk4_proven * A), 2) <= 1.0 + 1e-9
        # the recommended step minimises q4
        assert s.rk4_factor == pytest.approx(rk4_factor(s.rk4_recommended, alpha, beta), rel=1e-14)
        assert s.rk4_factor <= q4.min() + 1e-12
        k = int(np.argmin(q4))
        assert abs(grid[k] - s.rk4_recommended) <= 2 * (grid[1] - grid[0])
        opt = scipy.optimize.minimize_scalar(lambda h: q4_ref(h, alpha, beta),
                                             bounds=(0.0, s.rk4_proven), method="bounded",
                                             options={"xatol": 1e-14})
        assert s.rk4_factor <= opt.fun + 1e-12


def test_rk4_nonlinear_field_contracts():
    """F(x) = A x + 0.1 tanh(x): sym DF >= lambda_min(sym A), ||DF|| <= ||A|| + 0.1.
    Two RK4 trajectories of x' = -F(x) must contract each step by at least rk4_factor."""
    rng = np.random.default_rng(24)
    for _ in range(6):
        A, alpha, normA = random_field(rng, 2)
        beta = normA + 0.1

        def F(x, A=A):
            return A @ x + 0.1 * np.tanh(x)

        def rk4_step(x, h, F=F):
            k1 = -F(x)
            k2 = -F(x + 0.5 * h * k1)
            k3 = -F(x + 0.5 * h * k2)
            k4 = -F(x + h * k3)
            return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

        s = step_sizes(alpha, beta)
        for h in (s.rk4_proven, s.rk4_recommended, 0.5 * s.rk4_proven):
            q4 = rk4_factor(h, alpha, beta)
            for _ in range(5):
                x = rng.normal(size=2) * 3
                y = x + rng.normal(size=2) * rng.uniform(1e-3, 3)
                for _ in range(30):
                    before = np.linalg.norm(x - y)
                    if before < 1e-9:
                        break
                    x, y = rk4_step(x, h), rk4_step(y, h)
                    assert np.linalg.norm(x - y) <= q4 * before * (1 + 1e-9)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha, beta", [(0.0, 1.0), (-0.5, 1.0), (-1e-300, 1.0),
                                         (float("nan"), 1.0), (1.0, 0.0), (1.0, float("inf"))])
def test_step_sizes_rejects_bad_input(alpha, beta):
    with pytest.raises(ValueError):
        step_sizes(alpha, beta)
