"""The Markov speed-ups of issue 15.

- The default path changes no number: the screen keeps a Markov game's Jacobians for the next
  pass (_screening._JacobianMemo), and the worst values and points equal, bit for bit, those
  of a screen that computes every Jacobian afresh; the kept Jacobians equal fresh ones.
- The optional closed-form solve derivatives (MarkovGame(solve_derivatives="closed-form"))
  agree with forward mode through the elimination and with inv(A) to 1e-12, not bit for bit.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn import _screening
from sgn._bounds import _bounds_families, _metric_families
from sgn._sampling import sample_points
from sgn._shared import compiled


def random_markov(states=3, actions=2, seed=0):
    rng = np.random.default_rng(seed)
    shape = (states, actions, actions)
    P = rng.dirichlet(np.ones(states), size=shape)
    rewards = [rng.uniform(-1.0, 1.0, size=shape) for _ in range(2)]
    return sgn.MarkovGame(transitions=P, rewards=rewards, discount=0.8, entropy=1.0,
                          entropy_weighting="occupancy", name="random markov")


@pytest.fixture(scope="module")
def game():
    return random_markov()


def test_memo_changes_no_screened_value(game, monkeypatch):
    points = sample_points(game.region, 300, 0)
    more = np.concatenate([points, game.region.low + 0.5 * game.region.width
                           * np.random.default_rng(1).random((7, game.dim))])
    metric = game.metric([1.0, 2.5])
    _screening._memo.__init__()
    first = _screening.worst_points(game, "bounds", _bounds_families, None, points, 4, 0)
    assert _screening._memo.game() is game
    kept = _screening.worst_points(game, "metric", _metric_families, metric, more, 4, 0)
    J, J_step = _screening._memo.values
    monkeypatch.setattr(_screening, "MEMO_BYTES", 0)      # every Jacobian computed afresh
    fresh_bounds = _screening.worst_points(game, "bounds", _bounds_families, None, points, 4, 0)
    fresh = _screening.worst_points(game, "metric", _metric_families, metric, more, 4, 0)
    for a, b in ((first, fresh_bounds), (kept, fresh)):
        assert a[0].tobytes() == b[0].tobytes() and np.array_equal(a[1], b[1])
    at = compiled(game, ("bound_jacobians",), "test-jacobians", lambda g: g.bound_jacobians)
    for k in (0, 150, 299, 300, 306):      # sampled points and the 7 added ones
        H, N = (np.asarray(m) for m in at(jnp.asarray(more[k])))
        np.testing.assert_allclose(J[k], H, rtol=0, atol=1e-12)
        np.testing.assert_allclose(J_step[k], N, rtol=0, atol=1e-12)


def test_memo_is_per_game_and_region(game):
    other = random_markov(seed=1)
    points = sample_points(game.region, 40, 0)
    _screening._memo.__init__()
    _screening.worst_points(game, "bounds", _bounds_families, None, points, 2, 0)
    program = compiled(other, ("checked_bound_jacobians",), ("jacobians", 40),
                       _screening._jacobian_program)
    state = _screening._memo.start(other, points, 40, program)
    assert state is not None and state[1] is False    # nothing of `game` is reused
    assert _screening._memo.game() is game


# --- the optional closed-form solve derivatives (off by default: they move the last bits) ----

def diagonally_dominant(n, seed):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(n), size=n)
    return np.eye(n) - 0.9 * P.T, rng.normal(size=n)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_closed_form_solve_derivative_equals_forward_mode_through_elimination(n):
    from sgn._markov import solve_diagonally_dominant, solve_shared_factorisation

    A, b = diagonally_dominant(n, n)
    x = np.asarray(solve_shared_factorisation(jnp.asarray(A), jnp.asarray(b)))
    assert x.tobytes() == np.asarray(solve_diagonally_dominant(jnp.asarray(A),
                                                               jnp.asarray(b))).tobytes()
    np.testing.assert_allclose(A @ x, b, rtol=0, atol=1e-13)
    import jax

    for argnum in (0, 1):
        ref = np.asarray(jax.jacfwd(solve_diagonally_dominant, argnums=argnum)(A, b))
        got = np.asarray(jax.jacfwd(solve_shared_factorisation, argnums=argnum)(A, b))
        assert np.abs(got - ref).max() <= 1e-12 * max(1.0, np.abs(ref).max())
    # the closed form itself: dx/db = A^-1, independent of the elimination
    np.testing.assert_allclose(
        np.asarray(jax.jacfwd(solve_shared_factorisation, argnums=1)(A, b)),
        np.linalg.inv(A), rtol=0, atol=1e-12 * np.abs(np.linalg.inv(A)).max())


def test_closed_form_game_agrees_with_default_to_rounding():
    import jax

    default = random_markov(states=4)
    fast = sgn.MarkovGame(transitions=default.transitions, rewards=list(default.rewards),
                          discount=0.8, entropy=1.0, entropy_weighting="occupancy",
                          solve_derivatives="closed-form")
    assert "solve_derivatives" not in default.describe()["markov"]
    assert fast.describe()["markov"]["solve_derivatives"] == "closed-form"
    assert np.abs(fast.equilibrium - default.equilibrium).max() < 1e-12
    x = default.region.low + 0.3 * default.region.width
    for a, b in zip(default.bound_jacobians(jnp.asarray(x)), fast.bound_jacobians(jnp.asarray(x))):
        a, b = np.asarray(a), np.asarray(b)
        assert np.abs(a - b).max() <= 1e-12 * np.abs(a).max()
        assert np.abs(a).max() > 0.1
    # reverse mode through the closed-form rule: the costs' autodiff gradient is the PG one
    xs = fast.split(jnp.asarray(x))
    grads = np.concatenate([np.asarray(jax.grad(f, argnums=i)(*xs))
                            for i, f in enumerate(fast.costs)])
    np.testing.assert_allclose(grads, np.asarray(fast.policy_gradient(jnp.asarray(x))),
                               rtol=0, atol=1e-12)


def test_solve_derivatives_must_be_named():
    P = np.full((1, 2, 2, 1), 1.0)
    with pytest.raises(sgn.GameDefinitionError, match="solve_derivatives must be one of"):
        sgn.MarkovGame(transitions=P, rewards=[np.zeros((1, 2, 2))] * 2, discount=0.5,
                       entropy=1.0, solve_derivatives="exact")
