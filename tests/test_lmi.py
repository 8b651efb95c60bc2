"""Block-diagonal metrics from the LMI (sgn/_weights/_lmi.py): closed forms, games built to need
a matrix-valued metric, and every metric found checked by an independent dense eigen-solve."""

import json

import numpy as np
import pytest
import scipy.linalg as sla
from scipy.optimize import minimize_scalar

from sgn._weights._lmi import (
    MetricStatus,
    eigenbasis_blocks,
    metric_margin,
    scenario_margins,
    search_metric,
)

SKEW_GAME = np.array([[0.5, 1.0], [-4.0, 0.5]])


def generalized_margin(Js, blocks) -> float:
    """The margin by another formula than metric_margin's: the smallest eigenvalue of the
    pencil (sym(P J_k), P), i.e. min over x of x^T sym(P J) x / x^T P x (scipy, no square
    roots of P)."""
    P = sla.block_diag(*blocks)
    return min(float(sla.eigh(0.5 * (P @ J + J.T @ P), P, eigvals_only=True)[0])
               for J in np.reshape(Js, (-1,) + P.shape))


def random_spd(rng, n: int, condition: float) -> np.ndarray:
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    return (Q * np.geomspace(1.0, condition, n)) @ Q.T


def block_metric_game(rng, dims, skew: float = 5.0):
    """J = P0^-1 (S + K): P0 block-diagonal SPD (condition numbers 10 to 100), S SPD, K skew.

    In the metric P0 the margin is exactly t = lambda_min(P0^-1/2 S P0^-1/2):
        P0^1/2 J P0^-1/2 = P0^-1/2 (S + K) P0^-1/2,
    and the congruence P0^-1/2 K P0^-1/2 of a skew K is skew, so its symmetric part is
    P0^-1/2 S P0^-1/2. Hence the best block metric has margin >= t. Returns (J, t, P0 blocks).
    """
    d = sum(dims)
    blocks = [random_spd(rng, m, 10 ** rng.uniform(1, 2)) for m in dims]
    P0 = sla.block_diag(*blocks)
    A = rng.standard_normal((d, d))
    S = A @ A.T / d + 0.5 * np.eye(d)
    B = rng.standard_normal((d, d))
    J = np.linalg.solve(P0, S + skew * (B - B.T))
    root = sla.sqrtm(P0).real
    t = float(np.linalg.eigvalsh(np.linalg.solve(root, np.linalg.solve(root, S).T))[0])
    return J, t, blocks


def scale_of(Js) -> float:
    return float(np.max(np.linalg.norm(np.reshape(Js, (-1,) + np.shape(Js)[-2:]), 2, axis=(1, 2))))


# --- 1. the skew game: a weighted metric sees a cancellation the Euclidean test cannot --------

def test_scalar_weights_find_the_skew_games_margin():
    # With w = (1, r), sym(W^1/2 J W^-1/2) = [[0.5, c], [c, 0.5]], c = (r^-1/2 - 4 r^1/2) / 2,
    # which vanishes at r = 1/4: margin 0.5, also the real part of J's eigenvalues 0.5 +- 2i,
    # so no metric at all does better.
    res = search_metric(SKEW_GAME, (1, 1), "scalar")
    assert res.status is MetricStatus.FOUND
    assert res.margin == pytest.approx(0.5, rel=1e-6)
    assert res.margin <= 0.5 + 1e-12
    assert res.weights[0] == 1.0
    assert res.weights[1] / res.weights[0] == pytest.approx(0.25, rel=1e-6)
    assert res.margin == metric_margin(SKEW_GAME, res.blocks)
    assert res.margin == pytest.approx(generalized_margin(SKEW_GAME, res.blocks), abs=1e-12)
    # Equal weights: sym J = [[0.5, -1.5], [-1.5, 0.5]], margin 0.5 - 1.5 = -1.
    assert metric_margin(SKEW_GAME, [1.0, 1.0]) == pytest.approx(-1.0, abs=1e-14)
    json.dumps(res.to_dict())  # plain data


def test_block_structure_on_scalar_players_agrees_with_scalar_weights():
    res = search_metric(SKEW_GAME, (1, 1), "block")
    assert res.status is MetricStatus.FOUND and res.weights is None
    assert res.margin == pytest.approx(0.5, rel=1e-6)
    assert res.blocks[1][0, 0] / res.blocks[0][0, 0] == pytest.approx(0.25, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_player_scalar_weights_match_a_one_dimensional_search(seed):
    # With two players only r = w_2 / w_1 matters: a grid in log r, then a bounded 1-D
    # minimiser, gives the best margin independently of any LMI.
    rng = np.random.default_rng(seed)
    d = 5
    A, B = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    J = A @ A.T / d + 0.5 * np.eye(d) + 2.0 * (B - B.T)
    J[:2, 2:] *= 4.0  # lopsided coupling: the best ratio is far from 1
    J[2:, :2] /= 4.0
    Js = J[None] + 0.05 * rng.standard_normal((3, d, d))

    def minus_margin(log_r):
        return -metric_margin(Js, [np.eye(2), np.exp(log_r) * np.eye(3)])

    grid = np.linspace(-10.0, 10.0, 4001)
    start = grid[int(np.argmin([minus_margin(x) for x in grid]))]
    best = minimize_scalar(minus_margin, bounds=(start - 0.01, start + 0.01), method="bounded",
                           options={"xatol": 1e-12})
    res = search_metric(Js, (2, 3), "scalar")
    assert res.status is MetricStatus.FOUND
    assert res.margin == pytest.approx(-best.fun, abs=1e-7 * scale_of(Js))
    assert res.weights[1] == pytest.approx(np.exp(best.x), rel=1e-2)


# --- 2. games only a matrix-valued block metric certifies -------------------------------------

@pytest.mark.parametrize("dims", [(2, 3), (3, 3, 2)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_search_reaches_the_planted_metrics_margin(dims, seed):
    rng = np.random.default_rng(seed)
    J, t, planted = block_metric_game(rng, dims)
    assert metric_margin(J, planted) == pytest.approx(t, rel=1e-8)  # the comment's claim
    assert metric_margin(J, [np.eye(m) for m in dims]) < 0  # Euclidean test fails

    res = search_metric(J, dims, "block")
    assert res.status is MetricStatus.FOUND
    assert res.margin >= t - 1e-7 * scale_of(J)
    assert res.margin == pytest.approx(generalized_margin(J, res.blocks),
                                       abs=1e-9 * scale_of(J))
    for block, m in zip(res.blocks, dims):
        assert block.shape == (m, m)
        assert np.array_equal(block, block.T) and np.linalg.eigvalsh(block)[0] > 0
    assert np.trace(res.blocks[0]) / dims[0] == pytest.approx(1.0)
    # Block-scalar weights cannot: their best margin is far below (here: not even positive).
    scalar = search_metric(J, dims, "scalar")
    assert scalar.margin < 0 < t <= res.margin + 1e-7 * scale_of(J)


# --- 3. a Euclidean-monotone game keeps at least its Euclidean margin -------------------------

@pytest.mark.parametrize("structure", ["scalar", "block"])
def test_euclidean_margin_is_a_floor(structure):
    rng = np.random.default_rng(7)
    dims, d = (2, 1, 2), 5
    Js = []
    for _ in range(6):
        A = rng.standard_normal((d, d))
        B = rng.standard_normal((d, d))
        Js.append(A @ A.T / d + 0.3 * np.eye(d) + 0.5 * (B - B.T))
    Js = np.array(Js)
    euclidean = metric_margin(Js, [np.eye(m) for m in dims])
    assert euclidean > 0
    res = search_metric(Js, dims, structure)
    assert res.status is MetricStatus.FOUND
    assert res.margin >= euclidean
    assert res.margin == pytest.approx(generalized_margin(Js, res.blocks), abs=1e-9 * scale_of(Js))


# --- 4. scenario sets ---------------------------------------------------------------------------

def scenario_set(seed: int, count: int, dims=(2, 3)):
    """Jacobians scattered around a block-metric game's, small enough to keep it certifiable."""
    rng = np.random.default_rng(seed)
    J, t, _ = block_metric_game(rng, dims, skew=2.0)
    d = sum(dims)
    noise = rng.standard_normal((count, d, d))
    return J[None] + 0.2 * t * noise / np.linalg.norm(noise, 2, axis=(1, 2))[:, None, None]


@pytest.mark.parametrize("structure", ["scalar", "block"])
def test_scenario_margin_is_the_minimum_over_all_jacobians(structure):
    Js = scenario_set(3, 120)
    with_duplicates = np.concatenate([Js, Js[:20]])
    res = search_metric(with_duplicates, (2, 3), structure)
    assert res.distinct == 120
    assert res.scenarios < res.distinct  # the LMI saw only some; the margin is over all
    per_jacobian = [metric_margin(J, res.blocks) for J in Js]
    assert res.margin == min(per_jacobian)
    assert res.margin == metric_margin(with_duplicates, res.blocks)
    assert res.margin == pytest.approx(generalized_margin(Js, res.blocks), abs=1e-9 * scale_of(Js))
    # Never above what any single Jacobian allows.
    assert res.margin <= min(search_metric(J, (2, 3), structure).margin for J in Js[:3]) + 1e-12


def test_active_scenarios_reach_the_margin_of_the_full_lmi(monkeypatch):
    import sgn._weights._lmi as lmi

    Js = scenario_set(6, 40)
    res = search_metric(Js, (2, 3), "block")
    monkeypatch.setattr(lmi, "INITIAL_SCENARIOS", 40)  # every Jacobian in every LMI
    full = search_metric(Js, (2, 3), "block")
    assert full.scenarios == 40 and res.scenarios < 40
    assert res.margin == pytest.approx(full.margin, abs=1e-7 * scale_of(Js))


def test_adding_a_jacobian_never_raises_the_margin():
    Js = scenario_set(4, 30)
    tol = 1e-7 * scale_of(Js)  # each search is within tol / 2 of its optimum
    margins = [search_metric(Js[:k], (2, 3), "block").margin for k in (5, 15, 30)]
    assert margins[0] > 0
    assert margins[1] <= margins[0] + tol and margins[2] <= margins[1] + tol
    assert margins[2] < margins[0]  # and the extra Jacobians do bind


# --- 5. the eigenbasis partition ----------------------------------------------------------------

def fine_metric_game(rng, dims):
    """A game certified by a metric that is diagonal in each player's own eigenbasis.

    In coordinates y = Q^T x (Q block-diagonal orthogonal, random), J0 = D^-1 (diag(s) + K):
    D, s > 0 diagonal (D's spread within a player 10 to 100), K skew with zero own blocks.
    Then J0's own blocks diag(s_i / D_i) are diagonal, so the eigenbasis of sym(J_ii) is Q_i's
    columns, and in the metric D the margin is lambda_min(D^-1/2 diag(s) D^-1/2) = min s/D
    (the argument of block_metric_game with P0 = D, S = diag(s)).
    Returns (J = Q J0 Q^T, t = min s / D).
    """
    d = sum(dims)
    D = np.concatenate([rng.permutation(np.geomspace(1.0, 10 ** rng.uniform(1, 2), m))
                        for m in dims])
    s = rng.uniform(0.5, 1.5, d)
    B = rng.standard_normal((d, d))
    K = 3.0 * (B - B.T)
    starts = np.cumsum((0,) + tuple(dims))
    for a, b in zip(starts[:-1], starts[1:]):
        K[a:b, a:b] = 0.0
    J0 = (np.diag(s) + K) / D[:, None]
    Q = sla.block_diag(*[np.linalg.qr(rng.standard_normal((m, m)))[0] for m in dims])
    return Q @ J0 @ Q.T, float(np.min(s / D))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eigenbasis_partition_finds_the_planted_fine_metric(seed):
    dims = (3, 2, 3)
    J, t = fine_metric_game(np.random.default_rng(seed), dims)
    fine = eigenbasis_blocks(J, dims)
    assert fine.dims == (1,) * 8
    Q = fine.rotation
    np.testing.assert_allclose(Q.T @ Q, np.eye(8), atol=1e-12)
    rotated = fine.rotate(J)[0]
    for a, b in [(0, 3), (3, 5), (5, 8)]:  # each own block is diagonal in its eigenbasis
        own = rotated[a:b, a:b]
        np.testing.assert_allclose(0.5 * (own + own.T), np.diag(np.diag(own)), atol=1e-12)

    res = search_metric(fine.rotate(J), fine.dims, "scalar")
    assert res.status is MetricStatus.FOUND
    assert res.margin >= t - 1e-7 * scale_of(J)
    blocks = fine.player_blocks(res.weights)
    for block, m in zip(blocks, dims):
        assert block.shape == (m, m)
        assert np.array_equal(block, block.T) and np.linalg.eigvalsh(block)[0] > 0
    assert metric_margin(J, blocks) == pytest.approx(res.margin, rel=1e-9)
    assert generalized_margin(J, blocks) == pytest.approx(res.margin, abs=1e-9 * scale_of(J))
    # The cheaper route is what it takes: block-scalar weights cannot certify this game.
    assert search_metric(J, dims, "scalar").margin < 0


def test_eigenbasis_weights_map_back_on_a_scenario_set():
    rng = np.random.default_rng(5)
    dims = (3, 2, 3)
    J, t = fine_metric_game(rng, dims)
    Js = J[None] + 0.05 * t * rng.standard_normal((12,) + J.shape)
    fine = eigenbasis_blocks(J, dims)
    res = search_metric(fine.rotate(Js), fine.dims, "scalar")
    assert res.status is MetricStatus.FOUND
    assert metric_margin(Js, fine.player_blocks(res.weights)) == pytest.approx(res.margin,
                                                                                rel=1e-9)
    # The fine partition contains the block-scalar metrics (w constant within a player), so
    # its best margin is at least theirs.
    assert res.margin >= search_metric(Js, dims, "scalar").margin - 1e-7 * scale_of(Js)


# --- 6. no positive margin ----------------------------------------------------------------------

@pytest.mark.parametrize("structure", ["scalar", "block"])
def test_a_player_with_negative_own_curvature_is_not_found(structure):
    # Player 1's own block is -I. For P = blockdiag(P_1, P_2) and y = (v, 0):
    #     y^T sym(P J) y / y^T P y = v^T P_1 (-I) v / v^T P_1 v = -1,
    # so every block-diagonal metric has margin <= -1 (and P = I attains it: the coupling
    # [[0, 3], [-3, 0]] is skew). J's eigenvalues 0.5 +- i sqrt(6.75) have positive real
    # part, so only the LMI, not the eigenvalue bound, can decide this.
    rng = np.random.default_rng(11)
    base = np.kron(np.array([[-1.0, 3.0], [-3.0, 2.0]]), np.eye(2))
    Q = sla.block_diag(np.linalg.qr(rng.standard_normal((2, 2)))[0],
                       np.linalg.qr(rng.standard_normal((2, 2)))[0])
    J = Q.T @ base @ Q
    assert np.min(np.linalg.eigvals(J).real) > 0
    res = search_metric(J, (2, 2), structure)
    assert res.status is MetricStatus.NOT_FOUND
    assert res.margin <= 0 and res.upper <= 0
    assert res.margin == pytest.approx(-1.0, abs=1e-6)
    assert res.margin <= -1.0 + 1e-12


def test_an_eigenvalue_in_the_left_half_plane_rules_out_every_metric_without_a_solve():
    J = np.array([[1.0, 5.0], [0.0, -0.1]])
    res = search_metric(J, (1, 1), "block")
    assert res.status is MetricStatus.NOT_FOUND and res.iterations == 0
    assert res.upper == pytest.approx(-0.1) and "no metric of any kind" in res.message


# --- the judge itself ---------------------------------------------------------------------------

def test_metric_margin_matches_the_generalized_eigenvalue_and_ignores_scale():
    rng = np.random.default_rng(13)
    dims = (3, 1, 2)
    Js = rng.standard_normal((4, 6, 6))
    blocks = [random_spd(rng, m, 50.0) for m in dims]
    m = metric_margin(Js, blocks)
    assert m == pytest.approx(generalized_margin(Js, blocks), abs=1e-10)
    assert metric_margin(Js, [7.5 * b for b in blocks]) == pytest.approx(m, abs=1e-12)
    assert scenario_margins(Js, blocks).shape == (4,)
    with pytest.raises(ValueError):
        metric_margin(Js, [np.eye(3), -np.eye(1), np.eye(2)])
    with pytest.raises(ValueError):
        metric_margin(Js, [np.eye(3), np.eye(2)])  # sizes add up to 5, not 6


def test_a_search_that_stops_undecided_is_inconclusive_or_failed_never_not_found(monkeypatch):
    import sgn._weights._lmi as lmi

    J, t, _ = block_metric_game(np.random.default_rng(0), (2, 3))
    monkeypatch.setattr(lmi, "MAX_ITERATIONS", 1)  # one level problem: not enough here
    res = search_metric(J, (2, 3), "block")
    assert res.margin < 0 < t and res.upper > 0
    assert res.status is MetricStatus.INCONCLUSIVE and "stopped after 1" in res.message
    monkeypatch.setattr(lmi._LevelProblem, "solve", lambda *args: "Clarabel failed: test")
    res = search_metric(J, (2, 3), "block")
    assert res.status is MetricStatus.SOLVER_FAILED and "Clarabel failed: test" in res.message
    assert res.margin == metric_margin(J, [np.eye(2), np.eye(3)])  # P = I, re-measured
