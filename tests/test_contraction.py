"""Step sizes from direct contraction (sgn/_contraction.py; docs/rk4.md, section 9).

Checked against closed forms and dense computations written here independently: the lifted
reference toy (examples/lifted_toy.py), random normal matrices, brute-force scans of the RK4
factor; against explicit RK4 maps with chosen stage Jacobians (the spread majorant); and
against simulation of random nonlinear two-player games, whose Jacobians are enclosed exactly
(so a failure is a wrong bound, not an unlucky sample).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from sgn._contraction import (CONTRACTS, EXACT_LINEAR, NO_STEP, SPREAD, EulerSteps, RK4Steps,
                              _first_crossing, _RK4Bound, euler_factor, euler_steps,
                              rk4_factor_constant, rk4_factor_varying, rk4_steps)
from sgn._result import Result

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SQRT2 = math.sqrt(2.0)


# --- independent references -------------------------------------------------------------------


def lifted_toy(lam: float, w2: float = 200.0):
    """(J, A): the lift's Jacobian (examples/lifted_toy.py) and its scaled form in
    M = blockdiag(I, w2 I). At w2 = 200 = L_12 / L_21 the scaled form is symmetric."""
    spec = importlib.util.spec_from_file_location("lifted_toy", EXAMPLES / "lifted_toy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    n = module.DIM
    R = module.orthogonal(n)
    eye = np.eye(n)
    J = np.block([[eye, lam * 10.0 * R], [lam * 0.05 * R.T, eye]])
    s = np.sqrt(np.r_[np.ones(n), w2 * np.ones(n)])
    return J, J * s[:, None] / s[None, :]


def rk4_poly(z):
    return 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24


def rk4_matrix(hA):
    eye = np.eye(len(hA))
    hA2 = hA @ hA
    hA3 = hA2 @ hA
    return eye - hA + hA2 / 2 - hA3 / 6 + hA3 @ hA / 24


def spectral(B):
    return float(np.linalg.norm(B, 2))


def scan_first_crossing(fun, h_end, n=20000):
    """First h in (0, h_end] with fun(h) >= 1 by a dense grid, then 200 bisections.

    fun takes an array of steps and returns an array of values."""
    grid = np.linspace(0.0, h_end, n + 1)[1:]
    values = fun(grid)
    i = int(np.argmax(values >= 1.0))
    assert values[i] >= 1.0, "the scan must reach a crossing"
    lo, hi = (grid[i - 1] if i else 0.0), grid[i]
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if fun(np.array([mid]))[0] < 1.0 else (lo, mid)
    return hi


def rk4_factors(A, steps):
    """||R(-hA)||_2 for every h in steps, by batched matrix products (no shared code)."""
    hA = steps[:, None, None] * A
    hA2 = hA @ hA
    hA3 = hA2 @ hA
    R = np.eye(len(A)) - hA + hA2 / 2 - hA3 / 6 + hA3 @ hA / 24
    return np.linalg.norm(R, 2, axis=(1, 2))


def random_normal(rng, d):
    """A real normal matrix Q diag(blocks) Q^T with eigenvalues in the right half-plane, and
    its eigenvalues (a +- ib for 2x2 rotation blocks, a for 1x1)."""
    blocks, eigenvalues = [], []
    size = 0
    while size < d:
        a = rng.uniform(0.05, 3.0)
        if d - size >= 2 and rng.random() < 0.6:
            b = rng.uniform(0.0, 4.0)
            blocks.append(np.array([[a, -b], [b, a]]))
            eigenvalues += [a + 1j * b, a - 1j * b]
            size += 2
        else:
            blocks.append(np.array([[a]]))
            eigenvalues.append(a + 0j)
            size += 1
    D = np.zeros((d, d))
    at = 0
    for block in blocks:
        k = len(block)
        D[at:at + k, at:at + k] = block
        at += k
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return Q @ D @ Q.T, np.array(eigenvalues)


def random_monotone(rng, d, skew=2.0):
    """a0 I + S + K (S psd, K skew), non-normal in general, sym part >= a0 > 0."""
    B = rng.normal(size=(d, d)) * rng.uniform(0.0, 1.0)
    C = rng.normal(size=(d, d)) * rng.uniform(0.0, skew)
    return rng.uniform(0.05, 1.0) * np.eye(d) + B @ B.T + (C - C.T)


def euler_threshold(eigenvalues):
    """The true stability threshold of x+ = (I - hA) x for a normal A: min 2 Re / |lambda|^2."""
    return float(np.min(2.0 * eigenvalues.real / np.abs(eigenvalues) ** 2))


def rk4_crossing(eigenvalue):
    """First h > 0 with |R(-h lambda)| = 1, for one eigenvalue, by scan and bisection."""
    return scan_first_crossing(lambda h: np.abs(rk4_poly(-h * eigenvalue)),
                               4.0 / abs(eigenvalue), n=4000)


# --- 1. Euler: closed forms ---------------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.25, 1.0, 1.375, 1.41])
def test_euler_lifted_toy_is_the_true_threshold(lam):
    J, A = lifted_toy(lam)
    # The claimed threshold 2 / (1 + lam/sqrt 2), checked by a dense eigen-solve of J itself
    # (eigenvalues do not depend on the metric).
    threshold = euler_threshold(np.linalg.eigvals(J))
    assert threshold == pytest.approx(2.0 / (1.0 + lam / SQRT2), rel=1e-12)
    steps = euler_steps(A)
    assert steps.status == CONTRACTS
    assert steps.h_max < threshold
    assert (threshold - steps.h_max) / threshold <= 1e-9
    assert euler_factor(A, steps.h_max * (1 - 1e-6)) < 1.0 < euler_factor(A, threshold * (1 + 1e-6))
    # The fastest step: q(h) = max |1 - h (1 +- lam/sqrt 2)| is smallest at h = 1, where it is
    # lam / sqrt 2 (the kink; scipy's bounded search stops within about 1e-8 of it).
    assert steps.h_best == pytest.approx(1.0, rel=1e-7)
    assert steps.q_best == pytest.approx(lam / SQRT2, rel=1e-7)
    assert steps.q_best >= euler_factor(A, steps.h_best)
    # Against the alpha/beta step of sgn/_steps.py in the same metric:
    # alpha = lambda_min(sym A) = 1 - lam/sqrt 2, beta = ||A||_2 = 1 + lam/sqrt 2.
    alpha = np.linalg.eigvalsh(0.5 * (A + A.T))[0]
    beta = spectral(A)
    assert alpha == pytest.approx(1 - lam / SQRT2, abs=1e-12)
    assert beta == pytest.approx(1 + lam / SQRT2, rel=1e-12)
    assert steps.h_max / (2 * alpha / beta**2) == pytest.approx(beta / alpha, rel=1e-8)


def test_euler_random_normal_matrices():
    rng = np.random.default_rng(130)
    for _ in range(40):
        d = int(rng.integers(1, 9))
        A, eigenvalues = random_normal(rng, d)
        threshold = euler_threshold(eigenvalues)
        steps = euler_steps(A)
        assert steps.status == CONTRACTS
        assert steps.h_max < threshold
        assert (threshold - steps.h_max) / threshold <= 1e-9
        assert (euler_factor(A, steps.h_max * (1 - 1e-6)) < 1.0
                < euler_factor(A, threshold * (1 + 1e-6)))
        # q(h) = max |1 - h lambda| for a normal matrix, at every h
        for h in rng.uniform(0, 1.5 * threshold, 5):
            assert euler_factor(A, h) == pytest.approx(np.abs(1 - h * eigenvalues).max(), rel=1e-12)
        # h_best minimises q: no grid point does better
        grid = np.linspace(0, steps.h_max, 401)[1:]
        best_on_grid = min(np.abs(1 - h * eigenvalues).max() for h in grid)
        assert steps.q_best <= best_on_grid + 1e-9


def test_euler_stack_of_normal_matrices_takes_the_worst():
    # q is a max over the samples, so h_max is the smallest per-sample threshold.
    rng = np.random.default_rng(131)
    for _ in range(10):
        d = int(rng.integers(2, 7))
        pairs = [random_normal(rng, d) for _ in range(int(rng.integers(2, 30)))]
        A = np.stack([p[0] for p in pairs])
        threshold = min(euler_threshold(p[1]) for p in pairs)
        steps = euler_steps(A)
        assert steps.h_max < threshold
        assert (threshold - steps.h_max) / threshold <= 1e-9
        assert euler_factor(A, steps.h_best) <= steps.q_best < 1.0


def test_euler_many_samples_matches_per_sample_roots():
    # A larger stack of non-normal samples: h_max against each sample's own root (dense
    # bisection on ||I - h A_k||, convex in h), and q_best against a grid.
    rng = np.random.default_rng(132)
    d = 6
    base = random_monotone(rng, d)
    base += (0.5 - np.linalg.eigvalsh(0.5 * (base + base.T))[0]) * np.eye(d)   # margin 0.5
    A = base + 0.1 * rng.normal(size=(300, d, d))
    assert np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, 1, 2)))[:, 0].min() > 0
    roots = []
    for Ak in A:
        lo, hi = 0.0, 2.0 / np.linalg.eigvalsh(0.5 * (Ak + Ak.T))[-1]   # ||(I - hA)v|| >= 1 there
        assert spectral(np.eye(d) - hi * Ak) >= 1.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if spectral(np.eye(d) - mid * Ak) < 1.0 else (lo, mid)
        roots.append(hi)
    threshold = min(roots)
    steps = euler_steps(A)
    assert steps.h_max < threshold
    assert (threshold - steps.h_max) / threshold <= 1e-9
    q = [euler_factor(A, h) for h in np.linspace(0, steps.h_max, 201)[1:]]
    assert steps.q_best <= min(q) + 1e-9


# --- 2. RK4, constant Jacobian: the exact factor ----------------------------------------------


def test_rk4_constant_matches_a_dense_scan():
    rng = np.random.default_rng(133)
    for _ in range(12):
        d = int(rng.integers(2, 7))
        A = random_monotone(rng, d)
        steps = rk4_steps(A)
        assert steps.status == CONTRACTS and steps.bound == EXACT_LINEAR and steps.spread == 0
        assert rk4_factor_constant(A, 0.3) == pytest.approx(spectral(rk4_matrix(0.3 * A)),
                                                            rel=1e-12)
        first = scan_first_crossing(lambda h: rk4_factors(A, h),
                                    4.0 / np.abs(np.linalg.eigvals(A)).max())
        assert steps.h_max < first
        assert (first - steps.h_max) / first <= 1e-9
        assert spectral(rk4_matrix(steps.h_best * A)) == pytest.approx(steps.q_best, rel=1e-12)
        grid = np.linspace(0, steps.h_max, 501)[1:]
        assert steps.q_best <= rk4_factors(A, grid).min() + 1e-9


def test_rk4_normal_matrices_closed_form():
    # For a normal A, ||R(-hA)|| = max over eigenvalues |R(-h lambda)|: the first crossing is
    # the smallest of the eigenvalues' own crossings.
    rng = np.random.default_rng(134)
    for _ in range(15):
        d = int(rng.integers(1, 7))
        A, eigenvalues = random_normal(rng, d)
        first = min(rk4_crossing(lam) for lam in eigenvalues)
        steps = rk4_steps(A)
        assert steps.h_max < first
        assert (first - steps.h_max) / first <= 1e-9


@pytest.mark.parametrize("lam", [0.25, 1.0, 1.375])
def test_rk4_lifted_toy_closed_form(lam):
    # Real eigenvalues 1 +- lam/sqrt 2: R(-x) = 1 at x^3 - 4x^2 + 12x - 24 = 0 (x = 2.7853...),
    # and 0 < R(-x) < 1 before it, so the first crossing is x / (1 + lam/sqrt 2).
    J, A = lifted_toy(lam)
    roots = np.roots([1, -4, 12, -24])
    x = float(roots[np.abs(roots.imag) < 1e-12].real[0])
    assert abs(rk4_poly(-x) - 1) < 1e-12 and x == pytest.approx(2.785293563, abs=1e-8)
    first = x / (1 + lam / SQRT2)
    steps = rk4_steps(A)
    assert steps.bound == EXACT_LINEAR
    assert steps.h_max < first
    assert (first - steps.h_max) / first <= 1e-9
    assert rk4_factor_constant(A, steps.h_max * (1 - 1e-6)) < 1.0
    assert rk4_factor_constant(A, first * (1 + 1e-6)) > 1.0


def test_scan_interval_bound_holds():
    """The scan's proof of a gap (u, v]: q4(u + tau (v - u)) <= (1 - tau) q4(u) + tau E(u, v),
    checked densely in tau for random centres, spreads and intervals (docs/rk4.md, section 9)."""
    rng = np.random.default_rng(140)
    for _ in range(200):
        d = int(rng.integers(1, 6))
        A_c = random_monotone(rng, d, skew=rng.uniform(0, 3))
        b = spectral(A_c)
        bound = _RK4Bound(A_c, rng.choice([0.0, rng.uniform(0, 0.5 * b)]))
        u = rng.uniform(0, 3 / b, size=8)
        v = u + rng.uniform(0, 1.5 / b, size=8)
        E = bound.end_bound(u, v)
        for tau in np.linspace(0, 1, 41):
            inside = bound.value(u + tau * (v - u))
            assert np.all(inside <= (1 - tau) * bound.value(u) + tau * E + 1e-12)


def test_first_crossing_does_not_miss_a_narrow_spike():
    """The scan's gaps are proved, not assumed: a spike above 1 far narrower than the grid
    spacing, before the main crossing (at h = 2.11), is found. The end bound is a local
    Lipschitz one, valid for the chord argument: f(u + t) <= f(u) + L t <= (1 - tau) f(u) +
    tau E with E = f(u) + L (v - u); L = 0.9 away from the spike, 0.9 + 0.9 / half_width on
    intervals that touch it."""
    centre, half_width = 0.7, 1e-4

    class Spiked:
        def value(self, h):
            h = np.asarray(h, dtype=float)
            return 0.9 * np.abs(1 - h) + 0.9 * np.maximum(0.0, 1 - np.abs(h - centre) / half_width)

        def end_bound(self, u, v):
            touches = (v > centre - half_width) & (u < centre + half_width)
            lipschitz = 0.9 + np.where(touches, 0.9 / half_width, 0.0)
            return self.value(u) + lipschitz * (v - u)

    f = Spiked()
    assert np.all(f.value(np.linspace(0, 0.69, 1000)) < 1) and f.value(centre) > 1
    expected = scan_first_crossing(f.value, 1.0, n=400000)
    assert centre - half_width < expected < centre
    found = _first_crossing(f, 2.5)
    assert found < expected
    assert (expected - found) / expected <= 1e-9


# --- 3. the spread majorant for RK4 -------------------------------------------------------------


def rk4_difference_map(h, J1, J2, J3, J4):
    """T with x+ - y+ = T (x - y) for stage Jacobians J1..J4 (docs/rk4.md, section 3)."""
    Abar = (J1 + 2 * J2 + 2 * J3 + J4) / 6
    return (np.eye(len(J1)) - h * Abar + h**2 / 6 * (J2 @ J1 + J3 @ J2 + J4 @ J3)
            - h**3 / 12 * (J3 @ J2 @ J1 + J4 @ J3 @ J2) + h**4 / 24 * J4 @ J3 @ J2 @ J1)


def rk4_stage_map(h, J1, J2, J3, J4):
    """The same T, built by running the four stages on the basis vectors (no formula)."""
    e = np.eye(len(J1))
    d1 = J1 @ e
    d2 = J2 @ (e - h / 2 * d1)
    d3 = J3 @ (e - h / 2 * d2)
    d4 = J4 @ (e - h * d3)
    return e - h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)


def g(t):
    return t + t**2 / 2 + t**3 / 6 + t**4 / 24


def test_spread_majorant_holds_for_stage_jacobians():
    rng = np.random.default_rng(135)
    for _ in range(300):
        d = int(rng.integers(1, 6))
        A_c = rng.normal(size=(d, d)) * rng.uniform(0.1, 3)
        delta = rng.uniform(0.0, 2.0)
        stages = []
        for _ in range(4):
            E = rng.normal(size=(d, d))
            stages.append(A_c + E * (delta * rng.uniform(0.5, 1.0) / spectral(E)))
        h = rng.uniform(0.0, 2.0)
        T = rk4_difference_map(h, *stages)
        assert np.allclose(T, rk4_stage_map(h, *stages), atol=1e-12 * (1 + np.abs(T).max()))
        b = spectral(A_c)
        assert spectral(T - rk4_matrix(h * A_c)) <= g(h * (b + delta)) - g(h * b) + 1e-12
    # Sharp given only (h, b, delta): A_c = -b I and every stage -(b + delta) I attain it.
    for b, delta, h in [(1.0, 0.5, 0.7), (2.0, 0.1, 1.3)]:
        A_c = -b * np.eye(3)
        T = rk4_difference_map(h, *[-(b + delta) * np.eye(3)] * 4)
        assert spectral(T - rk4_matrix(h * A_c)) == pytest.approx(g(h * (b + delta)) - g(h * b),
                                                                   rel=1e-12)


def test_spread_bound_dominates_the_exact_factor_of_every_sample():
    rng = np.random.default_rng(136)
    for _ in range(20):
        d = int(rng.integers(2, 6))
        base = random_monotone(rng, d)
        A = base + rng.uniform(0.01, 0.3) * rng.normal(size=(int(rng.integers(2, 20)), d, d))
        A_c = A.mean(axis=0)
        for h in np.linspace(0, 3.0 / spectral(base), 25):
            bound = rk4_factor_varying(A, None, h)
            assert bound == rk4_factor_varying(A, A_c, h)
            for Ak in A:     # a linear field with Jacobian A_k is one the bound covers
                assert bound >= rk4_factor_constant(Ak, h) - 1e-12
        # delta = 0: the bound is the exact factor, and labelled so
        for h in (0.0, 0.1, 1.0):
            assert rk4_factor_varying(A[:1], A[0], h) == rk4_factor_constant(A[0], h)
        assert rk4_steps(A[:1]).bound == EXACT_LINEAR
        assert rk4_steps(A[:1], A_c=A[0]) == rk4_steps(A[0])
        varying = rk4_steps(A)
        assert varying.bound == SPREAD
        assert varying.spread == pytest.approx(max(spectral(Ak - A_c) for Ak in A), rel=1e-12)
        if varying.status == CONTRACTS:   # never longer than the exact step of any sample
            assert varying.h_max <= min(rk4_steps(Ak).h_max for Ak in A)
            assert rk4_factor_varying(A, None, varying.h_best) == pytest.approx(varying.q_best,
                                                                                rel=1e-12)


# --- 4. soundness against simulation: random nonlinear two-player games -----------------------


class NonlinearGame:
    """F(x) = A0 x + c P tanh(B x) on the box [-1, 1]^4, two players of dimension 2, metric
    M = blockdiag(I, w2 I). J(x) = A0 + c P diag(s) B is affine in s = sech^2(Bx), and s ranges
    over a box, so the Jacobians at the box's vertices in s enclose {J(x)} in their convex
    hull: the direct factors over those vertices are proofs, not samples."""

    def __init__(self, rng):
        d, m = 4, 3
        self.w = np.r_[1.0, 1.0, [10 ** rng.uniform(-1.5, 1.5)] * 2]
        root = np.sqrt(self.w)
        scaled = random_monotone(rng, d, skew=1.0)         # monotone in the metric
        scaled += (0.6 - np.linalg.eigvalsh(0.5 * (scaled + scaled.T))[0]) * np.eye(d)
        self.A0 = scaled * root[None, :] / root[:, None]   # J = M^-1/2 (scaled) M^1/2
        self.B = rng.normal(size=(m, d))
        self.P = rng.normal(size=(d, m))
        # the nonlinear part's size in the metric: ||M^1/2 P|| ||B M^-1/2|| >= its norm
        size = spectral(root[:, None] * self.P) * spectral(self.B / root[None, :])
        self.c = rng.uniform(0.05, 0.3) / size
        self.root = root

    def F(self, x):
        return self.A0 @ x + self.c * self.P @ np.tanh(self.B @ x)

    def jacobian(self, s):
        return self.A0 + self.c * self.P @ (s[:, None] * self.B)

    def scaled(self, J):
        return J * self.root[:, None] / self.root[None, :]

    def enclosure(self, rng, extra=200):
        """Scaled Jacobians at the vertices of the s-box, plus sampled points (inside it)."""
        reach = np.abs(self.B).sum(axis=1)                  # |(Bx)_i| <= reach_i on the box
        s_low = 1.0 / np.cosh(reach) ** 2
        vertices = [self.jacobian(np.array(s)) for s in itertools.product(*zip(s_low, [1.0] * 3))]
        points = rng.uniform(-1, 1, size=(extra, 4))
        sampled = [self.jacobian(1.0 / np.cosh(self.B @ x) ** 2) for x in points]
        return np.stack([self.scaled(J) for J in vertices + sampled])

    def norm(self, v):
        return float(np.linalg.norm(self.root * v))


def rk4_step(F, x, h):
    """One classic RK4 step on x' = -F(x), and its four stage points."""
    k1 = F(x)
    x2 = x - h / 2 * k1
    k2 = F(x2)
    x3 = x - h / 2 * k2
    k3 = F(x3)
    x4 = x - h * k3
    k4 = F(x4)
    return x - h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), (x, x2, x3, x4)


def test_euler_contraction_holds_in_simulation():
    rng = np.random.default_rng(137)
    for _ in range(8):
        game = NonlinearGame(rng)
        A = game.enclosure(rng)
        steps = euler_steps(A)
        assert steps.status == CONTRACTS
        for h in (steps.h_best, 0.99 * steps.h_max, steps.h_max):
            q = euler_factor(A, h)
            assert q < 1.0
            worst = 0.0
            for _ in range(300):
                x, y = rng.uniform(-1, 1, size=(2, 4))   # the segment [x, y] is in the box
                before = game.norm(x - y)
                after = game.norm(x - h * game.F(x) - (y - h * game.F(y)))
                worst = max(worst, after / before)
                assert after <= q * before * (1 + 1e-12) + 1e-15
            assert worst > 0.5 * q      # the bound is not vacuous on these games
        # iterated from starts near the centre, while the iterates stay in the box
        h = steps.h_best
        x, y = rng.uniform(-0.3, 0.3, size=(2, 4))
        for _ in range(50):
            x_next, y_next = x - h * game.F(x), y - h * game.F(y)
            if max(np.abs(x_next).max(), np.abs(y_next).max()) > 1:
                break
            assert game.norm(x_next - y_next) <= steps.q_best * game.norm(x - y) * (1 + 1e-12)
            x, y = x_next, y_next


def test_rk4_spread_contraction_holds_in_simulation():
    rng = np.random.default_rng(138)
    checked = 0
    for _ in range(8):
        game = NonlinearGame(rng)
        A = game.enclosure(rng)
        steps = rk4_steps(A)
        assert steps.status == CONTRACTS and steps.bound == SPREAD
        for h in (steps.h_best, 0.99 * steps.h_max, steps.h_max):
            q = rk4_factor_varying(A, None, h)
            assert q < 1.0
            for _ in range(300):
                x, y = rng.uniform(-0.25, 0.25, size=(2, 4))
                x_next, x_stages = rk4_step(game.F, x, h)
                y_next, y_stages = rk4_step(game.F, y, h)
                # the bound needs every stage point in the region the Jacobians describe
                if max(np.abs(p).max() for p in x_stages + y_stages) > 1:
                    continue
                checked += 1
                assert game.norm(x_next - y_next) <= q * game.norm(x - y) * (1 + 1e-12) + 1e-15
    assert checked > 3000


# --- 5. nothing contracts ---------------------------------------------------------------------


def test_no_step_when_a_direction_grows():
    # an eigenvalue with negative real part: no step of either method contracts
    rng = np.random.default_rng(139)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    A = Q @ np.diag([1.0, 2.0, -0.2]) @ Q.T
    for result in (euler_steps(A), rk4_steps(A), euler_steps(np.stack([np.eye(3), A]))):
        assert result.status == NO_STEP
        assert result.h_max is None and result.h_best is None and result.q_best is None
        assert "lambda_min(sym A)" in result.message and "metric" in result.message
    # positive eigenvalues, but not monotone in this metric (sym part indefinite): the
    # factor exceeds 1 for every small step, so nothing is certified here either
    shear = np.array([[1.0, 10.0], [0.0, 1.0]])
    assert euler_steps(shear).status == NO_STEP
    assert rk4_steps(shear).status == NO_STEP
    assert euler_factor(shear, 1e-3) > 1.0


def test_no_step_when_the_spread_exceeds_the_margin():
    # Euler sees the hull directly and contracts; the spread bound cannot, and says why.
    A_c = np.diag([1.0, 2.0])
    E = np.array([[0.0, 1.5], [-1.5, 0.0]])               # skew: every sample stays monotone
    A = np.stack([A_c + E, A_c - E])
    assert euler_steps(A).status == CONTRACTS
    result = rk4_steps(A)
    assert result.status == NO_STEP and result.bound == SPREAD
    assert result.spread == pytest.approx(1.5)
    assert "spread" in result.message and "smaller region" in result.message


# --- results and input ------------------------------------------------------------------------


def test_results_are_json_ready_mappings():
    J, A = lifted_toy(1.0)
    for result in (euler_steps(A), rk4_steps(A), euler_steps(-np.eye(2)), rk4_steps(-np.eye(2))):
        assert isinstance(result, (EulerSteps, RK4Steps)) and isinstance(result, Result)
        assert dict(result)["status"] == result.status
        json.dumps(result.to_dict())


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.zeros((0, 2, 2)), np.zeros(3),
                                 np.array([[1.0, np.nan], [0.0, 1.0]])])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        euler_steps(bad)
    with pytest.raises(ValueError):
        rk4_steps(bad)


def test_bad_step_or_centre_is_refused():
    with pytest.raises(ValueError):
        euler_factor(np.eye(2), -0.1)
    with pytest.raises(ValueError):
        rk4_factor_constant(np.stack([np.eye(2)] * 2), 0.1)
    with pytest.raises(ValueError):
        rk4_steps(np.eye(2), A_c=np.eye(3))
