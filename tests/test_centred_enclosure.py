"""The centred (mean-value) form of the Jacobian over boxes (sgn/_interval/_centred.py).

Every enclosure must contain the dense Jacobian (numpy of jax's J) at random points of random
boxes: on a tanh game, an exp/log game, a piecewise game (abs, max, where: no mean-value form
there, the natural extension alone), and through the chunked slopes used above d = 16. The form
must also be what it is for: tighter than the natural extension on small boxes, with an
over-estimation (against the exact first-order range sum_k |dJ/dx_k(c)| r_k) that shrinks
quadratically with the box.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn._interval import _enclose
from sgn._interval._enclose import jacobian_enclosure


def tanh_game(d1=2, d2=2, seed=0):
    """Own quadratics plus tanh couplings and a tanh own term: every block varies."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(d1, d2)), rng.normal(size=(d2, d1))

    def f1(x, y):
        return 0.5 * x @ x + jnp.sum(jnp.tanh(A @ y + x)) + 0.3 * jnp.sum(jnp.tanh(x) ** 2)

    def f2(x, y):
        return 0.5 * y @ y + jnp.sum(jnp.tanh(B @ x - y) * y)

    return sgn.Game(costs=[f1, f2], dims=[d1, d2], region=sgn.Box(-1.0, 1.0), name="tanh")


def exp_log_game():
    """exp and log (log1p of a square, log of a positive sum): smooth on the whole box."""
    def f1(x, y):
        return jnp.sum(jnp.exp(0.5 * x * y[0])) + jnp.log(2.0 + jnp.sum(x ** 2) + y[1])

    def f2(x, y):
        return jnp.sum(jnp.log1p(y ** 2 + x[0] ** 2)) + 0.5 * jnp.exp(0.3 * y @ x)

    return sgn.Game(costs=[f1, f2], dims=[2, 2], region=sgn.Box(-1.0, 1.0), name="explog")


def piecewise_game():
    """abs, max and where of the point: J jumps across the kinks."""
    def f1(x, y):
        return (0.5 * x @ x + jnp.sum(jnp.abs(x - 0.1) * y[0])
                + jnp.maximum(x[0] * y[1], 0.0) ** 2)

    def f2(x, y):
        return 0.5 * y @ y + jnp.sum(jnp.where(x > 0.0, jnp.tanh(y), 0.5 * y) * x)

    return sgn.Game(costs=[f1, f2], dims=[2, 2], region=sgn.Box(-1.0, 1.0), name="pw")


def random_boxes(d, count, seed, radius=(0.01, 0.6)):
    rng = np.random.default_rng(seed)
    r = rng.uniform(*radius, size=(count, 1)) * rng.uniform(0.2, 1.0, size=(count, d))
    c = rng.uniform(-1.0, 1.0, size=(count, d))
    return np.clip(c - r, -1.0, 1.0), np.clip(c + r, -1.0, 1.0)


def dense_jacobians(game, points):
    return np.asarray(jax.vmap(game.jacobian)(jnp.asarray(points)))


def assert_contains(game, enclosure, low, high, seed, per_box=60):
    Jlo, Jhi = enclosure(low, high)
    rng = np.random.default_rng(seed)
    for b in range(low.shape[0]):
        points = rng.uniform(low[b], high[b], size=(per_box, low.shape[1]))
        corners = np.where(rng.random((8, low.shape[1])) < 0.5, low[b], high[b])
        J = dense_jacobians(game, np.concatenate([points, corners]))
        assert np.all(Jlo[b] <= J) and np.all(J <= Jhi[b]), f"box {b} misses a point"
    return Jlo, Jhi


@pytest.fixture
def fresh_programs(monkeypatch):
    """Compile programs anew under patched limits, and leave the cache as it was."""
    monkeypatch.setattr(_enclose, "_PROGRAMS", type(_enclose._PROGRAMS)())


@pytest.mark.parametrize("make", [tanh_game, exp_log_game])
def test_centred_form_contains_the_dense_jacobian(make):
    game = make()
    enclosure = jacobian_enclosure(game)
    assert enclosure.derivative is not None and enclosure.chunk == 0
    low, high = random_boxes(game.dim, 12, seed=1)
    assert_contains(game, enclosure, low, high, seed=2)


def test_piecewise_game_falls_back_to_the_natural_extension_and_stays_valid():
    game = piecewise_game()
    enclosure = jacobian_enclosure(game)
    assert enclosure.derivative is None     # the smoothness check: no mean-value theorem
    low, high = random_boxes(game.dim, 12, seed=3)
    # boxes that straddle the kinks at x = 0.1 and x = 0, and where x[0] y[1] changes sign
    low = np.concatenate([low, np.full((2, 4), -0.3)])
    high = np.concatenate([high, np.array([[0.4, 0.4, 0.4, 0.4], [0.05, 0.2, 0.3, 0.3]])])
    assert_contains(game, enclosure, low, high, seed=4)
    _, _, smear, _ = enclosure.with_centre(low, high)
    assert smear is None                    # (the split side falls back to the widest)


def test_centred_form_is_tighter_than_the_natural_extension_on_small_boxes():
    game = tanh_game(seed=5)
    enclosure = jacobian_enclosure(game)
    low, high = random_boxes(game.dim, 10, seed=6, radius=(0.01, 0.05))
    Jlo, Jhi = enclosure(low, high)
    natural = _enclose.JacobianEnclosure(enclosure.program, enclosure.dims)
    Nlo, Nhi = natural(low, high)
    assert np.all(Jlo >= Nlo) and np.all(Jhi <= Nhi)     # the intersection never loosens
    assert (Jhi - Jlo).sum() < 0.8 * (Nhi - Nlo).sum()


def test_over_estimation_shrinks_quadratically_with_the_box():
    """Width of the form minus the exact first-order width 2 sum_k |dJ/dx_k(c)| r_k: O(r^2)."""
    game = tanh_game(seed=7)
    enclosure = jacobian_enclosure(game)
    mean_value = _enclose.JacobianEnclosure(enclosure.program, enclosure.dims,
                                            enclosure.derivative)
    c = np.array([0.2, -0.3, 0.1, 0.4])
    slopes = np.abs(np.asarray(jax.jacfwd(game.jacobian)(jnp.asarray(c))))   # (d, d, d): a,b,k
    excess = []
    for r in (0.04, 0.02, 0.01):
        low, high = (c - r)[None], (c + r)[None]
        Jlo, Jhi, _, at_centre = mean_value.with_centre(low, high)
        first_order = 2.0 * (slopes * r).sum(axis=2)
        excess.append(((Jhi - Jlo)[0] - first_order).max())
    assert excess[0] > 0 and excess[1] > 0
    assert excess[0] / excess[1] > 3.0 and excess[1] / excess[2] > 3.0   # ~4: quadratic


def test_chunked_slopes_match_the_single_pass_and_stay_valid(monkeypatch, fresh_programs):
    game = tanh_game(3, 2, seed=8)
    low, high = random_boxes(game.dim, 8, seed=9, radius=(0.02, 0.4))
    whole = jacobian_enclosure(game)
    lo1, hi1, smear1, _ = whole.with_centre(low, high)
    monkeypatch.setattr(_enclose, "SLOPE_CHUNK_DIM", 3)          # chunks of 3^3 // 25 = 1
    monkeypatch.setattr(_enclose, "_PROGRAMS", type(_enclose._PROGRAMS)())
    chunked = jacobian_enclosure(game)
    assert chunked.chunk == 1 and chunked.key != whole.key
    lo2, hi2, smear2, _ = chunked.with_centre(low, high)
    scale = np.abs(hi1).max() + np.abs(lo1).max()
    assert np.allclose(lo1, lo2, rtol=0, atol=1e-12 * scale)
    assert np.allclose(hi1, hi2, rtol=0, atol=1e-12 * scale)
    assert np.allclose(smear1, smear2, rtol=1e-12, atol=0)
    assert_contains(game, chunked, low, high, seed=10)


def test_chunk_padding_when_the_chunk_does_not_divide_d(monkeypatch, fresh_programs):
    game = tanh_game(3, 2, seed=11)
    monkeypatch.setattr(_enclose, "SLOPE_CHUNK_DIM", 4)          # 4^3 // 25 = 2, d = 5
    chunked = jacobian_enclosure(game)
    assert chunked.chunk == 2
    low, high = random_boxes(game.dim, 6, seed=12, radius=(0.01, 0.3))
    Jlo, Jhi = assert_contains(game, chunked, low, high, seed=13)
    natural = _enclose.JacobianEnclosure(chunked.program, chunked.dims)
    Nlo, Nhi = natural(low, high)
    assert np.all(Jlo >= Nlo) and np.all(Jhi <= Nhi)
    assert (Jhi - Jlo).sum() < (Nhi - Nlo).sum()


def test_above_sixteen_dimensions_the_chunked_form_is_used_and_sound(monkeypatch,
                                                                      fresh_programs):
    """d = 18 with the dimension limit raised: slopes by chunks of 16^3 // 18^2 = 12."""
    monkeypatch.setattr(_enclose, "MEAN_VALUE_MAX_DIM", 32)
    game = tanh_game(10, 8, seed=14)
    enclosure = jacobian_enclosure(game)
    assert enclosure.chunk == 12
    low, high = random_boxes(game.dim, 3, seed=15, radius=(0.005, 0.02))
    Jlo, Jhi = assert_contains(game, enclosure, low, high, seed=16, per_box=30)
    natural = _enclose.JacobianEnclosure(enclosure.program, enclosure.dims)
    Nlo, Nhi = natural(low, high)
    assert (Jhi - Jlo).sum() < 0.8 * (Nhi - Nlo).sum()


def test_default_limit_leaves_large_games_to_the_natural_extension():
    game = tanh_game(10, 8, seed=14)
    assert game.dim > _enclose.MEAN_VALUE_MAX_DIM
    assert jacobian_enclosure(game).derivative is None
