"""Bounds on the region: exact detection, sampled estimates against closed forms and grids."""

import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn import _config


def f1(x1, x2):
    return 0.5 * x1 @ x1 + 0.2 * jnp.sum(jnp.cos(2.0 * x1)) + 2.0 * x1 @ jnp.tanh(x2)


def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x2 @ jnp.sin(x1) + 0.3 * (x2 @ x2) * jnp.sum(x1)


WAVY = sgn.Game([f1, f2], [1, 1], sgn.Box(-1.0, 1.0), name="wavy")
# Closed forms on [-1, 1]^2, from J11 = 1 - 0.8 cos 2x1, J12 = 2 sech^2 x2,
# J21 = 0.1 cos x1 + 0.6 x2, J22 = 1 + 0.6 x1:
TRUE_MU = (0.2, 0.4)                 # at x1 = 0 (interior) and x1 = -1 (edge)
TRUE_L12, TRUE_L21 = 2.0, 0.7        # at x2 = 0 (interior) and (x1, x2) = (0, 1)


def wavy_jacobian(x1, x2):
    return np.array([
        [1 - 0.8 * np.cos(2 * x1), 2 / np.cosh(x2) ** 2],
        [0.1 * np.cos(x1) + 0.6 * x2, 1 + 0.6 * x1],
    ])


def test_constant_jacobian_is_detected_from_the_program():
    quad = sgn.Game([lambda a, b: 0.5 * a @ a + a @ b, lambda a, b: b @ b - 3 * a @ b],
                    [2, 2], sgn.Box(-1, 1))
    assert quad.has_constant_jacobian
    assert not WAVY.has_constant_jacobian
    b = sgn.estimate_bounds(quad)
    assert b.exact and b.method == "exact" and b.evaluated == 1


def test_sampled_bounds_reach_the_closed_forms_and_never_pass_them():
    b = sgn.estimate_bounds(WAVY, samples=512, seed=3)
    assert not b.exact and b.method == "sampled"
    # A sample minimum can never be below the true infimum, nor a maximum above the supremum.
    assert b.curvature[0] >= TRUE_MU[0] - 1e-12 and b.curvature[1] >= TRUE_MU[1] - 1e-12
    assert b.coupling[0, 1] <= TRUE_L12 + 1e-12 and b.coupling[1, 0] <= TRUE_L21 + 1e-12
    # ... and with local search they get there.
    assert b.curvature == pytest.approx(TRUE_MU, abs=1e-6)
    assert b.coupling[0, 1] == pytest.approx(TRUE_L12, abs=1e-6)
    assert b.coupling[1, 0] == pytest.approx(TRUE_L21, abs=1e-6)


def test_euclidean_margin_and_lipschitz_against_a_dense_grid():
    g = np.linspace(-1, 1, 401)
    gammas, norms = [], []
    for x1 in g:
        for x2 in g[::4]:
            J = wavy_jacobian(x1, x2)
            gammas.append(np.linalg.eigvalsh(0.5 * (J + J.T))[0])
            norms.append(np.linalg.norm(J, 2))
    b = sgn.estimate_bounds(WAVY, samples=512, seed=0)
    assert b.euclidean_margin == pytest.approx(min(gammas), abs=2e-3)
    assert b.lipschitz == pytest.approx(max(norms), abs=2e-3)


def test_local_search_improves_on_plain_sampling():
    # Off-centre box, so the interior extremes (x1 = 0, x2 = 0) are not sample points.
    game = sgn.Game([f1, f2], [1, 1], sgn.Box(-1.0, 0.7))

    def gap(b):
        return abs(b.curvature[0] - TRUE_MU[0]) + abs(b.coupling[0, 1] - TRUE_L12)

    plain = sgn.estimate_bounds(game, method=sgn.Sampled(samples=9, seed=1, refine_steps=0))
    refined = sgn.estimate_bounds(game, method=sgn.Sampled(samples=9, seed=1))
    assert gap(plain) > 1e-3
    assert gap(refined) < 1e-6


def test_same_seed_same_bounds_and_chunking_does_not_change_them(monkeypatch):
    method = sgn.Sampled(samples=300, seed=7, refine_steps=0)
    a = sgn.estimate_bounds(WAVY, method=method)
    b = sgn.estimate_bounds(WAVY, method=method)
    monkeypatch.setattr(_config, "CHUNK_BYTES", 16 * 8 * 8 * 4)  # 16 points per chunk
    c = sgn.estimate_bounds(WAVY, method=method)
    for x, y in [(a, b), (a, c)]:
        np.testing.assert_array_equal(x.curvature, y.curvature)
        np.testing.assert_array_equal(x.coupling, y.coupling)
        assert x.euclidean_margin == y.euclidean_margin


def test_unequal_dims_and_field_games_use_the_symmetric_part():
    A = np.array([[2.0, 3.0], [-3.0, 1.0]])        # own block of player 2: sym part diag(2, 1)
    B = np.array([[0.5, -0.5]])                    # 1 x 2 coupling of player 1 on player 2

    def field(x1, x2):
        return (1.5 * x1 + B @ x2, A @ x2 + 0.25 * B.T @ x1)

    game = sgn.Game.from_field(field, dims=[1, 2], region=sgn.Box(-1, 1))
    b = sgn.estimate_bounds(game)
    assert b.exact
    assert b.curvature == pytest.approx([1.5, 1.0], abs=1e-12)
    assert b.coupling[0, 1] == pytest.approx(np.linalg.norm(B, 2), abs=1e-12)
    assert b.coupling[1, 0] == pytest.approx(0.25 * np.linalg.norm(B, 2), abs=1e-12)


def test_metric_pass_matches_a_dense_computation_on_the_points():
    bounds = sgn.estimate_bounds(WAVY, method=sgn.Sampled(samples=256, seed=0, refine_steps=0))
    w = np.array([1.0, 3.0])
    metric = sgn.estimate_in_metric(WAVY, w, bounds,
                                    method=sgn.Sampled(samples=256, seed=0, refine_steps=0))
    s = np.sqrt(w)
    margins, norms = [], []
    for x in bounds.points:
        A = s[:, None] * wavy_jacobian(*x) / s[None, :]
        margins.append(np.linalg.eigvalsh(0.5 * (A + A.T))[0])
        norms.append(np.linalg.norm(A, 2))
    assert metric.margin == pytest.approx(min(margins), abs=1e-12)
    assert metric.lipschitz == pytest.approx(max(norms), abs=1e-12)


def test_sampling_covers_centre_and_vertices_deterministically():
    from sgn._sampling import sample_points

    box = sgn.Box([-1.0, 0.0, 2.0], [1.0, 1.0, 3.0]).resolve(3)
    p = sample_points(box, 100, seed=5)
    assert p.shape == (100, 3)
    np.testing.assert_array_equal(p[0], box.centre)
    corners = {tuple(v) for v in p[1:9]}
    assert len(corners) == 8 and all(set(c) <= {-1.0, 1.0, 0.0, 2.0, 3.0} for c in corners)
    assert (p >= box.low).all() and (p <= box.high).all()
    np.testing.assert_array_equal(p, sample_points(box, 100, seed=5))
    assert not np.array_equal(p, sample_points(box, 100, seed=6))


def test_closed_forms_for_small_blocks_match_lapack():
    """The 1 x 1 and 2 x 2 shortcuts agree with numpy's eigen-solver and SVD, including the
    degenerate cases (equal eigenvalues, equal singular values, zero blocks)."""
    from sgn._bounds import _Sequential

    rng = np.random.default_rng(0)
    A = rng.standard_normal((500, 2, 2)) * rng.uniform(1e-3, 1e3, (500, 1, 1))
    A[0] = 0.0
    A[1] = [[2.0, 0.0], [0.0, 2.0]]                 # equal eigenvalues and singular values
    A[2] = [[0.6, -0.8], [0.8, 0.6]]                # a rotation: both singular values 1
    S = 0.5 * (A + np.swapaxes(A, 1, 2))
    linalg = _Sequential()
    lam = np.asarray(linalg.eigvalsh_min(jnp.asarray(S)))
    sig = np.asarray(linalg.norm2(jnp.asarray(A)))
    scale = np.abs(A).max(axis=(1, 2)) + 1e-300
    np.testing.assert_array_less(np.abs(lam - np.linalg.eigvalsh(S)[:, 0]) / scale, 1e-14)
    np.testing.assert_array_less(np.abs(sig - np.linalg.norm(A, 2, axis=(1, 2))) / scale, 1e-14)
    one = rng.standard_normal((10, 1, 1))
    np.testing.assert_array_equal(np.asarray(linalg.eigvalsh_min(jnp.asarray(one))), one[:, 0, 0])
