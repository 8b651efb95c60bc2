"""Block weights, SGN margin and the two-player band (docs/method.md, sections 2 and 5).

Every expectation here comes from a closed form in docs/method.md or from an independent
brute-force / numpy computation written in this file, never from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize

from sgn._weights import (
    LPWeights,
    Perron,
    SDPBisection,
    WeightStatus,
    best_possible_margin,
    optimize_weights,
    sgn_margin,
    sgn_matrix,
    spectral_radius,
    two_player_band,
)
from sgn._weights._margin import as_bounds

# --- independent reference computations -------------------------------------------------------


def ref_C(w, mu, L):
    """C(w) straight from docs/method.md: C_ii = 2 w_i mu_i, C_ij = -(w_i L_ij + w_j L_ji)."""
    w, mu, L = (np.asarray(x, dtype=float) for x in (w, mu, L))
    n = mu.size
    C = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            C[i, j] = 2 * w[i] * mu[i] if i == j else -(w[i] * L[i, j] + w[j] * L[j, i])
    return C


def ref_alpha(w, mu, L):
    """alpha(w) = 1/2 lambda_min(W^-1/2 C(w) W^-1/2)."""
    w = np.asarray(w, dtype=float)
    s = np.diag(1.0 / np.sqrt(w))
    G = s @ ref_C(w, mu, L) @ s
    return 0.5 * float(np.linalg.eigvalsh(0.5 * (G + G.T))[0])


def alpha_2p(r, mu, L):
    """Closed-form alpha for two players as a function of the ratio r = w_2/w_1 (vectorised)."""
    r = np.asarray(r, dtype=float)
    m1, m2 = mu
    g = 0.5 * (L[0][1] / np.sqrt(r) + L[1][0] * np.sqrt(r))
    return 0.5 * (m1 + m2) - np.sqrt(0.25 * (m1 - m2) ** 2 + g**2)


def ref_rho(mu, L):
    mu = np.asarray(mu, dtype=float)
    L = np.array(L, dtype=float)
    np.fill_diagonal(L, 0.0)
    return float(max(abs(np.linalg.eigvals(L / mu[:, None]))))


def ref_tau(mu, L, iters=5000):
    """Smallest eigenvalue of the Z-matrix K by power iteration on the nonnegative matrix
    P = s I - K with positive diagonal (so P is primitive when irreducible): tau = s - rho(P)."""
    mu = np.asarray(mu, dtype=float)
    L = np.array(L, dtype=float)
    np.fill_diagonal(L, 0.0)
    s = float(mu.max()) + 1.0
    P = s * np.eye(mu.size) - (np.diag(mu) - L)
    x = np.ones(mu.size)
    lam = 0.0
    for _ in range(iters):
        y = P @ x
        lam = float(np.linalg.norm(y) / np.linalg.norm(x))
        x = y / np.linalg.norm(y)
    return s - lam


def brute_best_alpha(mu, L, rng, restarts=8):
    """max_w alpha(w) by Nelder-Mead on log-ratios from many random starts (N >= 2)."""
    n = len(mu)
    if n == 2:
        # dense grid in log r, then a bounded scalar refinement around the best grid point
        t = np.linspace(-14, 14, 40001)
        vals = alpha_2p(np.exp(t), mu, L)
        k = int(np.argmax(vals))
        lo, hi = t[max(k - 1, 0)], t[min(k + 1, t.size - 1)]
        res = scipy.optimize.minimize_scalar(
            lambda s: -alpha_2p(np.exp(s), mu, L), bounds=(lo, hi), method="bounded",
            options={"xatol": 1e-12},
        )
        return max(float(vals[k]), -float(res.fun))
    best = -np.inf
    f = lambda z: -ref_alpha(np.exp(np.concatenate([[0.0], z])), mu, L)  # noqa: E731
    for _ in range(restarts):
        z0 = rng.uniform(-4, 4, n - 1)
        res = scipy.optimize.minimize(
            f, z0, method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000, "maxfev": 40000},
        )
        best = max(best, -float(res.fun))
    return best


def random_instance(rng, n, rho_target, zero_frac=0.3):
    mu = rng.uniform(0.3, 3.0, n)
    L = rng.uniform(0.0, 1.0, (n, n)) * (rng.uniform(size=(n, n)) > zero_frac)
    np.fill_diagonal(L, 0.0)
    # players 1 and 2 always feel each other, so rho > 0 and can be scaled to the target;
    # the other players may still be decoupled (K reducible)
    L[0, 1], L[1, 0] = rng.uniform(0.2, 1.0, 2)
    L *= rho_target / ref_rho(mu, L)
    return mu, L


# --- the reference toy (docs/method.md): mu = (1, 1), L_12 = 10, L_21 = 0.05 -------------------

MU_REF = [1.0, 1.0]
L_REF = [[0.0, 10.0], [0.05, 0.0]]
ALPHA_REF = 1.0 - math.sqrt(0.5)


def test_reference_band():
    band = two_player_band(MU_REF, L_REF)
    assert band is not None
    assert band.low == pytest.approx(34.3146, abs=1e-4)
    assert band.high == pytest.approx(1165.6854, abs=1e-4)
    assert band.best_ratio == pytest.approx(200.0, rel=1e-12)
    assert band.best_margin == pytest.approx(ALPHA_REF, abs=1e-12)
    # independent: the ends are where the margin crosses zero, the best ratio is its maximum
    assert abs(ref_alpha([1.0, band.low], MU_REF, L_REF)) < 1e-9
    assert abs(ref_alpha([1.0, band.high], MU_REF, L_REF)) < 1e-9
    assert ref_alpha([1.0, 200.0], MU_REF, L_REF) == pytest.approx(ALPHA_REF, abs=1e-12)
    assert band.low * band.high == pytest.approx((10.0 / 0.05) ** 2, rel=1e-12)


@pytest.mark.parametrize("method", [Perron(), SDPBisection(), LPWeights()],
                         ids=["perron", "sdp", "lp"])
def test_reference_strategies(method):
    res = optimize_weights(MU_REF, L_REF, method=method)
    assert res.status.certifiable
    assert res.margin > 0
    assert res.weights[0] == 1.0
    # the reported margin is the true margin of the reported weights
    assert res.margin == pytest.approx(ref_alpha(res.weights, MU_REF, L_REF), abs=1e-12)
    assert res.margin <= ALPHA_REF + 1e-12
    assert res.best_possible == pytest.approx(ALPHA_REF, abs=1e-12)
    assert res.spectral_radius == pytest.approx(math.sqrt(0.5), abs=1e-12)
    if isinstance(method, LPWeights):
        K = np.diag(MU_REF) - np.array(L_REF)
        u = np.linalg.solve(K, np.ones(2))
        v = np.linalg.solve(K.T, np.ones(2))
        w = v / u
        assert res.weights[1] == pytest.approx(w[1] / w[0], rel=1e-9)
        assert 34.3146 < res.weights[1] < 1165.6854
    else:
        assert res.margin == pytest.approx(ALPHA_REF, abs=1e-6)
        assert res.status is WeightStatus.OPTIMAL
        tol = 1e-6 if isinstance(method, Perron) else 0.05
        assert res.weights[1] == pytest.approx(200.0, rel=tol)


# --- the two-player band against a dense grid -------------------------------------------------


def _check_band_on_grid(mu, L, a, band):
    """{r : alpha(r) >= a} computed with sgn_margin on a dense grid must equal [low, high]."""
    scale = max(max(abs(m) for m in mu), L[0][1], L[1][0])
    tol = 1e-9 * scale
    lo_exp = math.log10(band.low) - 3 if band.low > 0 else -12
    hi_exp = math.log10(band.high) + 3 if math.isfinite(band.high) else 12
    grid = np.logspace(lo_exp, hi_exp, 150)
    # also probe right next to each finite, nonzero end
    extra = []
    for end in (band.low, band.high):
        if 0 < end < math.inf:
            extra += [end * (1 + 1e-7), end * (1 - 1e-7), end * (1 + 1e-3), end * (1 - 1e-3)]
    grid = np.concatenate([grid, extra])
    for r in grid:
        alpha = sgn_margin([1.0, r], mu, L)
        assert alpha == pytest.approx(alpha_2p(r, mu, L), abs=1e-9 * scale)
        if band.low <= r <= band.high:
            assert alpha >= a - tol, (r, alpha, a, band)
        else:
            assert alpha < a + tol, (r, alpha, a, band)
    # the same membership test on a much denser grid, with the closed form (checked just above
    # to agree with sgn_margin)
    dense = np.logspace(lo_exp, hi_exp, 50001)
    vals = alpha_2p(dense, mu, L)
    inside = (dense >= band.low) & (dense <= band.high)
    assert (vals[inside] >= a - tol).all()
    assert (vals[~inside] < a + tol).all()
    # the ends are sharp: just outside by 0.1% the margin is strictly below a
    for r in (band.low * (1 - 1e-3), band.high * (1 + 1e-3)):
        if 0 < r < math.inf:
            assert sgn_margin([1.0, r], mu, L) < a


def test_band_matches_dense_grid():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(15):
        mu = list(rng.uniform(0.5, 3.0, 2))
        l12, l21 = np.exp(rng.uniform(np.log(1e-2), np.log(5.0), 2))
        L = [[0.0, l12], [l21, 0.0]]
        amax = 0.5 * (mu[0] + mu[1] - math.sqrt((mu[0] - mu[1]) ** 2 + 4 * l12 * l21))
        for a in (rng.uniform(-1.0, 0.0), rng.uniform(-1.0, 1.0) * abs(amax),
                  amax - 0.05 * abs(amax) - 1e-3, amax + 0.1 * abs(amax) + 1e-3):
            band = two_player_band(mu, L, a)
            P = (mu[0] - a) * (mu[1] - a)
            nonempty = mu[0] > a and mu[1] > a and P > l12 * l21
            if not nonempty:
                assert band is None
                grid = np.logspace(-12, 12, 4001)
                assert np.max(alpha_2p(grid, mu, L)) < a + 1e-9
                continue
            assert band is not None
            checked += 1
            assert band.low < band.high
            assert band.low * band.high == pytest.approx((l12 / l21) ** 2, rel=1e-9)
            assert band.best_ratio == pytest.approx(l12 / l21, rel=1e-12)
            assert band.best_margin == pytest.approx(amax, abs=1e-12)
            t = np.linspace(-14, 14, 100001)
            assert np.max(alpha_2p(np.exp(t), mu, L)) <= band.best_margin + 1e-12
            assert np.max(alpha_2p(np.exp(t), mu, L)) >= band.best_margin - 1e-6
            _check_band_on_grid(mu, L, a, band)
    assert checked >= 25


def test_band_edge_no_back_coupling():
    mu, L, a = [1.0, 2.0], [[0.0, 3.0], [0.0, 0.0]], 0.2
    band = two_player_band(mu, L, a)
    P = 0.8 * 1.8
    assert band.low == pytest.approx(9.0 / (4 * P), rel=1e-12)
    assert band.high == math.inf
    assert band.best_ratio == math.inf
    assert band.best_margin == pytest.approx(1.0, abs=1e-12)
    _check_band_on_grid(mu, L, a, band)


def test_band_edge_no_forward_coupling():
    mu, L, a = [2.0, 1.5], [[0.0, 0.0], [0.7, 0.0]], -0.3
    band = two_player_band(mu, L, a)
    P = 2.3 * 1.8
    assert band.low == 0.0
    assert band.high == pytest.approx(4 * P / 0.49, rel=1e-12)
    assert band.best_margin == pytest.approx(1.5, abs=1e-12)
    _check_band_on_grid(mu, L, a, band)


def test_band_edge_uncoupled():
    mu, L = [1.0, 0.4], [[0.0, 0.0], [0.0, 0.0]]
    band = two_player_band(mu, L, 0.3)
    assert band.low == 0.0 and band.high == math.inf
    assert band.best_margin == pytest.approx(0.4, abs=1e-15)
    _check_band_on_grid(mu, L, 0.3, band)
    assert two_player_band(mu, L, 0.4) is None  # mu_2 <= a


@pytest.mark.parametrize("l21", [1e-161, 1e-200, 5e-324])
def test_band_nearly_one_way_coupling(l21):
    # Interval bounds of a block that is exactly zero come out tiny, not zero. The ratio
    # L_12 / L_21 then squares past float range; the band must still be the limit of the
    # one-way band (high = inf, low = L_12^2 / (4 P)), not an OverflowError.
    mu, L = [1.0, 1.0], [[0.0, 0.3], [l21, 0.0]]
    band = two_player_band(mu, L)
    assert band.high == math.inf
    assert band.low == pytest.approx(0.09 / 4.0, rel=1e-12)
    assert band.low == pytest.approx(two_player_band(mu, [[0.0, 0.3], [0.0, 0.0]]).low,
                                     rel=1e-12)
    assert band.best_margin == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    "mu, L, a",
    [
        ([1.0, 1.0], [[0.0, 1.5], [1.5, 0.0]], 0.0),   # P = 1 <= L12 L21 = 2.25
        ([1.0, 1.0], [[0.0, 1.0], [1.0, 0.0]], 0.0),   # P = L12 L21 exactly
        ([0.5, 0.5], [[0.0, 0.0], [0.0, 0.0]], 1.0),   # P = 0.25 > 0 but mu_i <= a
        ([2.0, 0.5], [[0.0, 0.1], [0.1, 0.0]], 0.5),   # mu_2 == a
        ([1.0, 1.0], [[0.0, 10.0], [0.05, 0.0]], ALPHA_REF + 1e-6),
    ],
)
def test_band_empty(mu, L, a):
    assert two_player_band(mu, L, a) is None
    grid = np.logspace(-12, 12, 20001)
    assert np.max(alpha_2p(grid, mu, L)) <= a + 1e-12


def test_band_needs_two_players():
    with pytest.raises(ValueError):
        two_player_band([1.0, 1.0, 1.0], np.zeros((3, 3)))


# --- certifiable iff rho < 1 ------------------------------------------------------------------


def test_certifiable_iff_small_gain():
    rng = np.random.default_rng(2)
    counts = {True: 0, False: 0}
    for k in range(60):
        n = int(rng.integers(2, 9))
        target = rng.uniform(0.2, 2.0)
        while abs(target - 1.0) < 1e-3:
            target = rng.uniform(0.2, 2.0)
        mu, L = random_instance(rng, n, target)
        if k % 7 == 3:  # some players without curvature
            mu[int(rng.integers(n))] = -rng.uniform(0.0, 1.0) if k % 2 else 0.0
        positive = bool((mu > 0).all())
        rho = ref_rho(mu, L) if positive else math.inf
        expect = positive and rho < 1.0
        counts[expect] += 1
        assert spectral_radius(mu, L) == pytest.approx(rho, rel=1e-10)
        for method in (Perron(), LPWeights()):
            res = optimize_weights(mu, L, method=method)
            assert res.status.certifiable == expect, (n, mu, L, rho, res)
            if expect:
                assert res.margin > 0
                assert res.margin == pytest.approx(ref_alpha(res.weights, mu, L), abs=1e-10)
                assert res.margin <= np.min(np.linalg.eigvals(np.diag(mu) - L).real) + 1e-9
            else:
                assert res.status is WeightStatus.NOT_CERTIFIABLE
                assert "rho" in res.message or "mu" in res.message
    assert counts[True] >= 15 and counts[False] >= 15


# --- the margin: definition and scale invariance ----------------------------------------------


def test_margin_definition_and_scale_invariance():
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(2, 9))
        mu = rng.uniform(-1.0, 3.0, n)
        L = rng.uniform(0.0, 2.0, (n, n)) * (rng.uniform(size=(n, n)) > 0.3)
        np.fill_diagonal(L, 0.0)
        w = np.exp(rng.uniform(-3, 3, n))
        scale = max(np.abs(mu).max(), L.max())
        base = sgn_margin(w, mu, L)
        assert base == pytest.approx(ref_alpha(w, mu, L), abs=1e-10 * scale)
        np.testing.assert_allclose(sgn_matrix(w, mu, L), ref_C(w, mu, L), rtol=1e-14, atol=0)
        for c in np.exp(rng.uniform(-20, 20, 4)):
            assert sgn_margin(c * w, mu, L) == pytest.approx(base, abs=1e-12 * scale)


# --- optimal weights against brute force ------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
def test_optimum_against_brute_force(n):
    rng = np.random.default_rng(10 + n)
    for _ in range(4):
        mu, L = random_instance(rng, n, rng.uniform(0.2, 0.95), zero_frac=0.0)
        tau = ref_tau(mu, L)
        assert best_possible_margin(mu, L) == pytest.approx(tau, abs=1e-10)
        assert best_possible_margin(mu, L) == pytest.approx(
            float(np.min(np.linalg.eigvals(np.diag(mu) - L).real)), abs=1e-12)
        brute = brute_best_alpha(mu, L, rng)
        assert brute <= tau + 1e-9  # no weights beat tau(K)
        res = optimize_weights(mu, L)
        assert res.status is WeightStatus.OPTIMAL
        assert res.margin >= brute - 1e-6
        assert res.margin <= best_possible_margin(mu, L) + 1e-9
        assert res.margin == pytest.approx(ref_alpha(res.weights, mu, L), abs=1e-12)
    # tau(K) is also the supremum of alpha when not certifiable (irreducible K)
    mu, L = random_instance(rng, n, 1.5, zero_frac=0.0)
    assert brute_best_alpha(mu, L, rng) == pytest.approx(best_possible_margin(mu, L), abs=1e-6)
    assert best_possible_margin(mu, L) < 0


# --- reducible coupling -----------------------------------------------------------------------


REDUCIBLE = {
    # chain 1 <- 2 <- 3 (row = affected player)
    "chain3-distinct-mu": ([1.0, 2.0, 3.0], [[0, 10, 0], [0, 0, 10], [0, 0, 0]]),
    "chain3-equal-mu-weak": ([1.0, 1.0, 1.0], [[0, 1, 0], [0, 0, 1], [0, 0, 0]]),
    "chain3-equal-mu": ([1.0, 1.0, 1.0], [[0, 10, 0], [0, 0, 10], [0, 0, 0]]),
    "one-way-pair": ([1.0, 1.0], [[0, 10], [0, 0]]),
    "two-disjoint-pairs": ([1.0, 2.0, 1.5, 1.0],
                           [[0, 0.5, 0, 0], [0.8, 0, 0, 0], [0, 0, 0, 2.0], [0, 0, 0.3, 0]]),
    "diagonal": ([1.0, 0.5, 2.0], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]),
}


@pytest.mark.parametrize("name", list(REDUCIBLE))
def test_reducible_coupling(name):
    mu, L = REDUCIBLE[name]
    L = np.array(L, dtype=float)
    res = optimize_weights(mu, L, method=Perron())
    tau = best_possible_margin(mu, L)
    assert res.status.certifiable
    assert res.margin > 0
    assert res.margin == pytest.approx(ref_alpha(res.weights, mu, L), abs=1e-12)
    assert res.margin <= tau + 1e-9
    assert res.margin >= tau - 1e-4 * abs(tau), (
        f"Perron margin {res.margin!r} vs supremum tau {tau!r} "
        f"(relative gap {(tau - res.margin) / tau:.3g}), weights {res.weights}"
    )


def test_reducible_supremum_is_tau():
    """Independent witness for the reducible chain: geometric weights push alpha up to tau."""
    mu, L = REDUCIBLE["chain3-equal-mu"]
    tau = best_possible_margin(mu, L)
    assert tau == pytest.approx(1.0, abs=1e-12)  # K is triangular: tau = min mu
    R = 1e12
    assert ref_alpha([1.0, R, R * R], mu, L) >= tau - 1e-4


# --- players without curvature ----------------------------------------------------------------


@pytest.mark.parametrize("mu, named", [([1.0, -0.5, 2.0], "2"), ([0.0, 1.0, 1.0], "1"),
                                       ([-1.0, 1.0, 0.0], "1, 3")])
def test_nonpositive_curvature(mu, named):
    L = np.full((3, 3), 0.01)
    for method in (Perron(), LPWeights(), SDPBisection()):
        res = optimize_weights(mu, L, method=method)
        assert res.status is WeightStatus.NOT_CERTIFIABLE
        assert not res.status.certifiable
        assert f"player(s) {named} " in res.message
        assert "mu" in res.message
    assert spectral_radius(mu, L) == math.inf


# --- SDP bisection agrees with Perron ---------------------------------------------------------


def test_sdp_agrees_with_perron():
    rng = np.random.default_rng(5)
    for n in (5, 7, 10):
        mu, L = random_instance(rng, n, rng.uniform(0.3, 0.9), zero_frac=0.2)
        p = optimize_weights(mu, L, method=Perron())
        s = optimize_weights(mu, L, method=SDPBisection())
        assert p.status.certifiable and s.status.certifiable
        assert s.margin == pytest.approx(p.margin, abs=1e-5)
        assert s.margin == pytest.approx(ref_alpha(s.weights, mu, L), abs=1e-12)
        assert s.margin <= ref_tau(mu, L) + 1e-9


# --- input validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mu, L",
    [
        ([1.0, 1.0, 1.0], np.zeros((2, 2))),             # wrong size
        ([1.0, 1.0], np.zeros((2, 3))),                  # not square
        ([1.0, 1.0], np.zeros(4)),                       # flat
        ([1.0, 1.0], [[0.0, -0.1], [0.2, 0.0]]),         # negative coupling
        ([1.0, 1.0], [[0.0, np.nan], [0.2, 0.0]]),       # NaN coupling
        ([1.0, np.nan], [[0.0, 0.1], [0.2, 0.0]]),       # NaN curvature
        ([1.0, 1.0], [[0.0, np.inf], [0.2, 0.0]]),       # infinite coupling
    ],
)
def test_bad_bounds(mu, L):
    with pytest.raises(ValueError):
        as_bounds(mu, L)
    with pytest.raises(ValueError):
        optimize_weights(mu, L)
