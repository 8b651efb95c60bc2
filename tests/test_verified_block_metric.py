"""Verified (interval) proofs in block-matrix metrics for a varying Jacobian (issue 13, part 4):
the enclosure of A = S J S^-1 (sgn/_interval/_congruence.py), the block-matrix metric pass
(sgn/_interval/_matrix_pass.py), the metric ladder's matrix rungs under --verify, and `verify`
re-proving the margin and the steps in the certificate's metric.

Every number is checked against an independent dense computation: scipy's sqrtm of the
recorded blocks, numpy eigen-solves and norms at many points, exact rational products.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg as sla

import sgn
from sgn._interval._congruence import (
    Congruence,
    congruence_bounds,
    congruence_contraction,
    congruence_witnesses,
)
from sgn._interval._enclose import jacobian_enclosure
from sgn._interval._matrix_pass import interval_matrix_pass
from sgn._metric import BlockMatrix, certificate_metric
from test_block_metric import linear_game, matrix_only_game, random_spd

#: The nonlinear game: J(x) = J0 + NONLINEAR diag(cos x) on [-1, 1]^5, J0 = P^-1 (S + K) with
#: no block-scalar metric certifying it (matrix_only_game; skew 1, where the margin is large
#: enough against J's variation for tight proofs within the default budget; the stronger
#: skew-5 game of tests/test_block_metric.py is certified too, more loosely).
NONLINEAR = 0.02


def nonlinear_game():
    J0, dims, _ = matrix_only_game(1, skew=1.0)
    return linear_game(J0, dims, "matrix-sin-verified", nonlinear=NONLINEAR), J0, dims


def jacobian_at(J0, x):
    return J0 + NONLINEAR * np.diag(np.cos(x))


def dense_scaled(blocks, Js):
    """P^1/2 J P^-1/2 for a stack of J, P = blockdiag(blocks), by scipy's sqrtm (not sgn's
    eigen-solve)."""
    root = np.real(sla.sqrtm(sla.block_diag(*[np.asarray(b, float) for b in blocks])))
    return root @ Js @ np.linalg.inv(root)


def lowest_symmetric(A):
    return np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, -1, -2)))[..., 0]


def grid_points(d: int, seed: int = 5) -> np.ndarray:
    """A dense sample of [-1, 1]^d: the 3^d grid (corners, edges, centre) and 3000 random
    points."""
    axes = np.meshgrid(*[np.array([-1.0, 0.0, 1.0])] * d, indexing="ij")
    grid = np.stack([a.ravel() for a in axes], axis=1)
    return np.vstack([grid, np.random.default_rng(seed).uniform(-1.0, 1.0, (3000, d))])


@pytest.fixture(scope="module")
def verified():
    game, J0, dims = nonlinear_game()
    cert = sgn.certify(game, method="interval", max_boxes=64, max_seconds=120)
    return game, J0, dims, cert


# --- the ladder under --verify ---------------------------------------------------------------

def test_nonlinear_game_is_certified_in_a_block_metric_under_verify(verified):
    game, J0, dims, cert = verified
    assert cert.certified and cert.verified and cert.estimator["method"] == "interval"
    assert cert.diagnostics["certified_by"] == "metric"
    assert cert.metric["rung"] in ("eigenbasis", "block", "joint")
    assert not any("skipped" in n for n in cert.notes)
    assert cert.metric["sgn_margin"] <= 0                       # SGN alone does not certify
    blocks = cert.metric["blocks"]
    xs = grid_points(game.dim)
    A = dense_scaled(blocks, np.stack([jacobian_at(J0, x) for x in xs]))
    lowest = float(lowest_symmetric(A).min())
    # (a) a proof: at most the dense minimum over every point of the grid
    assert 0 < cert.margin <= lowest
    # and tight: within 10% of it (1.2% measured)
    assert cert.margin >= 0.9 * lowest
    # beta bounds every point's ||P^1/2 J P^-1/2||_2
    assert cert.bounds["lipschitz"] >= float(np.linalg.norm(A, 2, axis=(1, 2)).max())
    # the direct steps are proved in the same metric: each stored Euler factor bounds the
    # dense ||I - h A(x)||_2 at every point, and is below 1
    steps = cert.step_sizes
    assert steps["euler_bound"] == "direct"
    eye = np.eye(game.dim)
    for h, q in zip(steps["direct"]["euler_steps"], steps["direct"]["euler_factors"]):
        assert float(np.linalg.norm(eye - h * A, 2, axis=(1, 2)).max()) <= q < 1.0
    A_c = dense_scaled(blocks, jacobian_at(J0, np.zeros(game.dim))[None])[0]
    assert float(np.linalg.norm(A - A_c, 2, axis=(1, 2)).max()) <= steps["direct"]["rk4_spread"]
    # the metric pass's record: a box budget ended it (reproducible), or it converged
    assert cert.estimator["passes"]["metric"]["stopped"] in ("boxes", "converged")


def test_verify_reproves_the_margin_in_the_recorded_metric(verified):
    game, _, _, cert = verified
    result = sgn.verify(sgn.Certificate.from_json(cert.to_json()), game, samples=256)
    assert result.ok, [c.message for c in result.failures]
    reproved = {c.name: c for c in result.checks if c.how == "re-proved"}
    for name in ("reproved.metric_margin", "reproved.lipschitz",
                 "reproved.step_sizes.direct.euler_factors[1]"):
        assert reproved[name].ok
    # the same budget gives the same partition, so the very same numbers
    assert reproved["reproved.metric_margin"].found == cert.margin
    assert reproved["reproved.lipschitz"].found == cert.bounds["lipschitz"]


def test_verify_refuses_a_tampered_metric(verified):
    """Another metric (player 2's block stretched) is refused, by the re-proof itself."""
    game, _, _, cert = verified
    data = json.loads(cert.to_json())
    data["metric"]["blocks"][1] = (3.0 * np.asarray(data["metric"]["blocks"][1])).tolist()
    result = sgn.verify(sgn.Certificate.from_json(json.dumps(data)), game, samples=256)
    failed = {c.name for c in result.failures}
    assert not result.ok and "reproved.metric_margin" in failed


# --- the enclosure of S J S^-1: soundness against dense numpy and exact products ---------------

def _metrics(dims, seed):
    """A metric of each kind the ladder builds: full blocks, eigenbasis, joint."""
    rng = np.random.default_rng(seed)
    d = sum(dims)
    blocks = [random_spd(rng, m, 30.0) for m in dims]
    rotations = [np.linalg.qr(rng.standard_normal((m, m)))[0] for m in dims]
    return {"block": BlockMatrix.from_blocks(blocks),
            "eigenbasis": BlockMatrix.from_eigenbasis(rotations, rng.uniform(0.1, 3.0, d)),
            "joint": BlockMatrix.from_blocks([random_spd(rng, d, 30.0)], rung="joint",
                                             players=dims)}


def _random_boxes(rng, count, d):
    centre = rng.uniform(-1.0, 1.0, (count, d))
    half = rng.uniform(0.0, 0.4, (count, d))
    return np.clip(centre - half, -1.0, 1.0), np.clip(centre + half, -1.0, 1.0)


def _exact(M):
    return [[Fraction(float(v)) for v in row] for row in M]


def _exact_product(A, B):
    return [[sum(a * b for a, b in zip(row, col)) for col in zip(*B)] for row in A]


@pytest.mark.parametrize("kind", ["block", "eigenbasis", "joint"])
def test_enclosure_contains_the_scaled_jacobian_at_random_points(kind):
    game, J0, dims = nonlinear_game()
    metric = _metrics(dims, seed=11)[kind]
    congruence = Congruence.of(metric)
    rng = np.random.default_rng(4)
    low, high = _random_boxes(rng, 12, game.dim)
    Jlo, Jhi = jacobian_enclosure(game)(low, high)
    A = congruence.enclose(Jlo, Jhi)
    S, T = _exact(metric.root), _exact(metric.inverse_root)
    for k in range(len(low)):
        for x in rng.uniform(low[k], high[k], (3, game.dim)):
            # the exact product of the float S, J(x) and T, in rational arithmetic
            exact = _exact_product(_exact_product(S, _exact(jacobian_at(J0, x))), T)
            for i in range(game.dim):
                for j in range(game.dim):
                    assert Fraction(float(A.lo[k, i, j])) <= exact[i][j] \
                        <= Fraction(float(A.hi[k, i, j]))


@pytest.mark.parametrize("kind", ["block", "eigenbasis", "joint"])
def test_box_bounds_hold_at_every_point_in_the_metric(kind):
    """Per box: the margin bound <= lambda_min(sym A_P(x)), beta, ||I - h A_P(x)|| and
    ||A_P(x) - A_c|| bounds >= their dense values, A_P = P^1/2 J P^-1/2 by scipy; the values
    proved at a box centre bound the dense ones there from the other side."""
    game, J0, dims = nonlinear_game()
    metric = _metrics(dims, seed=12)[kind]
    congruence = Congruence.of(metric)
    rng = np.random.default_rng(6)
    low, high = _random_boxes(rng, 20, game.dim)
    Jlo, Jhi = jacobian_enclosure(game)(low, high)
    steps = np.array([0.05, 0.2])
    A_c = metric.scale(jacobian_at(J0, np.zeros(game.dim)))
    bounds = congruence_bounds(congruence, Jlo, Jhi)
    factors = congruence_contraction(congruence, Jlo, Jhi, steps, A_c)
    eye = np.eye(game.dim)
    for k in range(len(low)):
        xs = rng.uniform(low[k], high[k], (40, game.dim))
        A = dense_scaled(metric.blocks, np.stack([jacobian_at(J0, x) for x in xs]))
        assert bounds["margin"][k] <= lowest_symmetric(A).min()
        assert bounds["lipschitz"][k] >= np.linalg.norm(A, 2, axis=(1, 2)).max()
        for s, h in enumerate(steps):
            assert factors["euler_factors"][k, s] >= np.linalg.norm(eye - h * A, 2,
                                                                    axis=(1, 2)).max()
        assert factors["spread"][k] >= np.linalg.norm(A - A_c, 2, axis=(1, 2)).max()
    centres = 0.5 * (low + high)
    Jc = jacobian_enclosure(game)(centres, centres)
    seen = congruence_witnesses(congruence, *Jc)
    A = dense_scaled(metric.blocks, np.stack([jacobian_at(J0, x) for x in centres]))
    assert np.all(seen["margin_at"] >= lowest_symmetric(A))
    assert np.all(seen["lipschitz_at"] <= np.linalg.norm(A, 2, axis=(1, 2)))


def test_the_eigenbasis_bound_is_sharper_than_weyl_and_still_valid(verified):
    """On the whole region as one box, in the certificate's metric (whose lowest eigenvalue
    the LMI made nearly double): the bound from V^T S J T V in the midpoint's eigenbasis sits
    above Weyl's on the hull of S J T, and below the dense minimum."""
    from sgn._interval._congruence import eigenbasis_margin
    from sgn._interval._rigorous import lambda_min_lower, symmetric_part

    game, J0, _, cert = verified
    congruence = Congruence.of(certificate_metric(game, cert))
    Jlo, Jhi = jacobian_enclosure(game)(game.region.low[None], game.region.high[None])
    A = congruence.enclose(Jlo, Jhi)
    weyl = float(lambda_min_lower(*symmetric_part(A.lo, A.hi))[0])
    sharp = float(eigenbasis_margin(congruence, Jlo, Jhi, A)[0])
    xs = grid_points(game.dim)
    S, T = congruence.root, congruence.inverse_root
    lowest = float(lowest_symmetric(S @ np.stack([jacobian_at(J0, x) for x in xs]) @ T).min())
    assert weyl < sharp <= lowest
    assert lowest - sharp < 0.25 * (lowest - weyl)      # 0.07 of Weyl's gap measured


# --- the pass: a finer partition, tighter bounds, all valid -------------------------------------

def test_a_finer_partition_gives_tighter_still_valid_bounds(verified):
    game, J0, _, cert = verified
    metric = certificate_metric(game, cert)
    xs = grid_points(game.dim)
    A = dense_scaled(cert.metric["blocks"], np.stack([jacobian_at(J0, x) for x in xs]))
    lowest = float(lowest_symmetric(A).min())
    largest = float(np.linalg.norm(A, 2, axis=(1, 2)).max())
    margins, betas = [], []
    for budget in (1, 16, 256, 2048):
        found, record, (low, high) = interval_matrix_pass(game, metric, max_boxes=budget)
        assert record.boxes_enclosed <= budget and record.boxes == len(low)
        # the partition covers the region: its volume is the region's
        assert np.prod(high - low, axis=1).sum() == pytest.approx(2.0 ** game.dim, rel=1e-12)
        assert found.margin <= lowest and found.lipschitz >= largest
        margins.append(found.margin)
        betas.append(found.lipschitz)
    assert margins == sorted(margins) and margins[0] < margins[-1]
    assert betas == sorted(betas, reverse=True) and betas[-1] < betas[0]
    # and tight: within 5% of the dense minimum (1.1% measured at 2048 boxes)
    assert margins[-1] >= 0.95 * lowest


def test_the_pass_stops_at_a_point_where_the_metric_does_not_contract():
    """A metric that fails at the region's centre: refuted at once, and that point is the
    margin's point (where the ladder's cutting plane looks next)."""
    game, J0, dims = nonlinear_game()
    metric = BlockMatrix.from_blocks([np.eye(m) for m in dims])     # Euclidean: gamma < 0
    assert lowest_symmetric(jacobian_at(J0, np.zeros(game.dim))) < 0
    found, record, _ = interval_matrix_pass(game, metric, max_boxes=512)
    assert record.stopped == "refuted" and record.boxes_enclosed < 512
    assert found.margin < 0
    at = found.margin_point
    assert lowest_symmetric(jacobian_at(J0, at)) < 0


def test_a_constant_jacobian_keeps_its_exact_block_metric_proof():
    """A constant Jacobian under --verify: measured exactly in the block metric (tighter than
    boxes), with its direct steps enclosed on the region as one box, re-proved by verify."""
    J0, dims, t = matrix_only_game(1, skew=1.0)
    game = linear_game(J0, dims, "constant-verified")
    cert = sgn.certify(game, method="interval")
    assert cert.certified and cert.metric is not None and cert.margin >= t * (1 - 1e-6)
    A = dense_scaled(cert.metric["blocks"], J0[None])[0]
    assert cert.margin <= lowest_symmetric(A) <= cert.margin + 1e-9
    direct = cert.step_sizes["direct"]
    eye = np.eye(game.dim)
    for h, q in zip(direct["euler_steps"], direct["euler_factors"]):
        assert np.linalg.norm(eye - h * A, 2) <= q < 1.0
    result = sgn.verify(sgn.Certificate.from_json(cert.to_json()), game)
    assert result.ok, [c.message for c in result.failures]
    assert any(c.name.startswith("reproved.step_sizes") for c in result.checks)


def test_the_allowance_for_forming_s_and_its_inverse_is_counted():
    """c = slack (E + eta) from BlockMatrix.root_error: zero-free, tiny for a well-conditioned
    metric, and it grows with the metric's condition number."""
    rng = np.random.default_rng(2)
    small = Congruence.of(BlockMatrix.from_blocks([random_spd(rng, 3, 10.0)]))
    large = Congruence.of(BlockMatrix.from_blocks([random_spd(rng, 3, 1e8)]))
    assert 0 < small.relative_error < 1e-12
    assert large.relative_error > 100 * small.relative_error
    # and it moves the bounds: a thin enclosure's margin sits below the float value
    J = rng.standard_normal((3, 3))[None]
    out = congruence_bounds(large, J, J)
    A = large.root @ J[0] @ large.inverse_root
    assert out["margin"][0] < lowest_symmetric(A)
    assert out["lipschitz"][0] > np.linalg.norm(A, 2)


def _exact_frobenius(X) -> float:
    """||X||_F of a matrix of Fractions, as a float rounded up by a hair."""
    return float(sum(x * x for row in X for x in row)) ** 0.5 * (1 + 1e-15)


def _exact_residual(A, B, C):
    """A B - C in exact rational arithmetic, for float matrices."""
    AB = _exact_product(_exact(A), _exact(B))
    return [[ab - c for ab, c in zip(row, crow)] for row, crow in zip(AB, _exact(C))]


@pytest.mark.parametrize("blocks", [
    [np.array([[1.0]]), np.array([[9.0]])],                 # S = diag(1, 3), fl(3 fl(1/3)) = 1
    [random_spd(np.random.default_rng(5), 2, 1e3), random_spd(np.random.default_rng(6), 2, 10.0)],
])
def test_the_root_allowance_covers_the_exact_errors_of_s_and_its_inverse(blocks):
    """root_error bounds ||S T - I|| and ||S^2 - P|| ||P^-1|| as they are in exact arithmetic,
    where the float products may show nothing (3 * fl(1/3) rounds to exactly 1)."""
    metric = BlockMatrix.from_blocks(blocks)
    S, T = metric.root, metric.inverse_root
    d = S.shape[0]
    P = sla.block_diag(*metric.blocks)          # (the blocks as normalised by from_blocks)
    E = _exact_frobenius(_exact_residual(S, T, np.eye(d)))
    D = _exact_frobenius(_exact_residual(S, S, P))
    eta = D * np.linalg.norm(np.linalg.inv(P), 2)
    assert metric.root_error() >= E / (1 - E) + eta
    if len(blocks[0]) == 1:
        assert S[1, 1] == 3.0 and (S @ T)[1, 1] == 1.0 and E > 0   # the float product hides E
