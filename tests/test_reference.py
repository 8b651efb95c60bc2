"""The reference games of docs/method.md: the scalar toy and its 64-dimensional lift."""

import math

import numpy as np
import pytest

import sgn
from sgn._load import load_game

SQRT2 = math.sqrt(2.0)


@pytest.fixture(scope="module")
def toy_cert():
    return sgn.certify(load_game("examples/scalar_toy.py"))


def test_scalar_toy_reference_values(toy_cert):
    c = toy_cert
    assert c.status is sgn.Status.CERTIFIED
    assert c.verified  # constant Jacobian: exact bounds
    assert c.bounds["euclidean_margin"] == pytest.approx(-4.025, abs=1e-9)
    assert c.bounds["curvature"] == pytest.approx([1.0, 1.0], abs=1e-12)
    assert c.bounds["coupling"][0][1] == pytest.approx(10.0, abs=1e-12)
    assert c.bounds["coupling"][1][0] == pytest.approx(0.05, abs=1e-12)
    assert c.weights[0] == 1.0
    assert c.weights[1] == pytest.approx(200.0, rel=1e-8)
    assert c.margin == pytest.approx(1.0 - math.sqrt(0.5), abs=1e-9)
    assert c.bounds["lipschitz"] == pytest.approx(1.0 + math.sqrt(0.5), abs=1e-9)
    # SGN's own step 2 alpha / beta^2 (the paper's), kept beside the direct one (issue 13)
    assert c.step_sizes["alpha_beta"]["euler_max"] == pytest.approx(0.201010, abs=5e-7)
    assert c.band["low"] == pytest.approx(34.3146, abs=1e-4)
    assert c.band["high"] == pytest.approx(1165.6854, abs=1e-4)
    assert c.band["best_ratio"] == pytest.approx(200.0, rel=1e-9)


def test_scalar_toy_against_dense_eigen_solves(toy_cert):
    """The margin and beta in the chosen metric, recomputed from J with numpy alone."""
    J = np.array([[1.0, 10.0], [0.05, 1.0]])
    s = np.sqrt(np.array(toy_cert.weights))
    A = s[:, None] * J / s[None, :]
    assert np.linalg.eigvalsh(0.5 * (A + A.T))[0] == pytest.approx(toy_cert.margin, abs=1e-9)
    assert np.linalg.norm(A, 2) == pytest.approx(toy_cert.bounds["lipschitz"], abs=1e-9)
    assert toy_cert.diagnostics["metric_margin"] == pytest.approx(toy_cert.margin, abs=1e-9)
    assert np.linalg.eigvalsh(0.5 * (J + J.T))[0] == pytest.approx(
        toy_cert.bounds["euclidean_margin"], abs=1e-9)


def test_certificate_json_round_trip(toy_cert):
    again = sgn.Certificate.from_json(toy_cert.to_json())
    assert again == toy_cert
    assert again.to_json() == toy_cert.to_json()


def lift(lam):
    return load_game("examples/lifted_toy.py", {"lam": lam})


@pytest.mark.parametrize("lam", [0.1, 0.5, 1.0, 1.3])
def test_lift_margin_is_one_minus_lam_over_sqrt2(lam):
    c = sgn.certify(lift(lam))
    assert c.status is sgn.Status.CERTIFIED and c.verified
    assert c.margin == pytest.approx(1.0 - lam / SQRT2, abs=1e-9)
    assert c.weights[1] == pytest.approx(200.0, rel=1e-6)
    assert c.bounds["euclidean_margin"] == pytest.approx(1.0 - 5.025 * lam, abs=1e-9)
    assert c.diagnostics["euclidean_monotone"] == (lam < 1 / 5.025)


def test_lift_bounds_against_dense_jacobian():
    game = lift(0.7)
    J = np.asarray(game.jacobian_fn(np.zeros(64)))
    b = sgn.estimate_bounds(game)
    assert b.exact
    J11, J12, J21 = J[:32, :32], J[:32, 32:], J[32:, :32]
    # Exact up to a rounding allowance, which only ever widens the bounds.
    mu, l12, l21 = np.linalg.eigvalsh(J11)[0], np.linalg.norm(J12, 2), np.linalg.norm(J21, 2)
    assert mu - 1e-10 < b.curvature[0] <= mu
    assert l12 <= b.coupling[0, 1] < l12 + 1e-10
    assert l21 <= b.coupling[1, 0] < l21 + 1e-10
    assert b.coupling[0, 1] == pytest.approx(7.0, abs=1e-10)


def test_lift_certified_just_below_sqrt2_not_just_above():
    below = sgn.certify(lift(SQRT2 - 1e-6))
    above = sgn.certify(lift(SQRT2 + 1e-6))
    assert below.status is sgn.Status.CERTIFIED
    assert below.margin == pytest.approx(1e-6 / SQRT2, rel=1e-4)
    assert above.status is sgn.Status.NOT_CERTIFIED
    assert any("rho" in r for r in above.reasons)
    assert above.step_sizes is None and above.rates is None


def test_euclidean_boundary_near_0_199():
    assert sgn.certify(lift(0.198)).diagnostics["euclidean_monotone"]
    assert not sgn.certify(lift(0.200)).diagnostics["euclidean_monotone"]


@pytest.mark.parametrize("lam", [0.25, 1.0, 1.375])
def test_lift_steps_are_the_true_thresholds(lam):
    """Direct step certificates (issue 13): on the lift, whose scaled Jacobian in M(1, 200) is
    symmetric with eigenvalues 1 +- lam/sqrt 2, the largest certified Euler step is the true
    stability threshold 2 / (1 + lam/sqrt 2) to 1e-9 below it, and the proven RK4 step is the
    true RK4 threshold (the first h with ||R(-hA)||_2 = 1, here from the eigenvalues), where
    2 alpha / beta^2 is 0.17x (lam = 1) and 0.014x (lam = 1.375) of it."""
    c = sgn.certify(lift(lam))
    steps = c.step_sizes
    top = 1.0 + lam / SQRT2                              # the largest eigenvalue
    euler_true = 2.0 / top
    assert steps["euler_bound"] == "direct"
    assert euler_true * (1 - 1e-9) <= steps["euler_max"] < euler_true
    assert steps["euler_recommended"] == pytest.approx(2.0 / (2.0 + 0.0), rel=1e-6)  # 2/(l1+l2)
    assert steps["euler_factor"] == pytest.approx(lam / SQRT2, rel=1e-6)
    # RK4 on a symmetric linear field: R(-h l) = 1 first at the real root of
    # x^3 - 4 x^2 + 12 x - 24 = 0 (R(-x) - 1 = x (x^3 - 4x^2 + 12x - 24) / 24), x = 2.7853
    roots = np.roots([1.0, -4.0, 12.0, -24.0])
    rk4_edge = float(roots[np.abs(roots.imag) < 1e-12].real[0]) / top
    assert steps["rk4_proven"] < rk4_edge and steps["rk4_proven"] == pytest.approx(
        rk4_edge, rel=1e-8)
    assert steps["rk4_bound"].startswith("direct")
    ab = steps["alpha_beta"]
    assert ab["euler_max"] == pytest.approx(2 * c.margin / c.bounds["lipschitz"] ** 2,
                                            rel=1e-12)
    assert steps["euler_max"] / ab["euler_max"] > (5.0 if lam >= 1 else 1.0)
