"""The large Markov plan's fast paths (issue 15; docs/fisher.md, "Scale"), each against an
independent computation:

- the structured Jacobians (sgn/_markov_jacobian.py) against forward-mode autodiff through
  the policy-gradient formula's linear solves (the standard plan's path), for 1, 2 and 3
  players, unequal action counts and both entropy weightings;
- the Fisher factors applied block by block against the dense block-diagonal products;
- the screen's LAPACK test of large matrices (sgn/_definite.py) against the lane-wise
  elimination and against the true eigenvalues and singular values;
- the sizes past which the plan looks at fewer points, and what the certificate records.

The games are tiny (2 to 4 states): the formulas do not depend on size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn import _definite, _markov
from sgn._markov import _euclidean_gradient, _natural_gradient
from sgn._markov_jacobian import partial_jacobians


def random_game(states, actions, weighting, seed=0, **options):
    rng = np.random.default_rng(seed)
    shape = (states, *actions)
    P = rng.dirichlet(np.ones(states), size=shape)
    rewards = [rng.uniform(-1.0, 1.0, size=shape) for _ in actions]
    return sgn.MarkovGame(transitions=P, rewards=rewards, discount=0.8, entropy=0.7,
                          entropy_weighting=weighting, initial=rng.dirichlet(np.ones(states)),
                          **options)


def forward_mode(game, x):
    """(dg/dx, dN/dx) by jax.jacfwd through the elimination (the standard plan's route)."""
    def both(x):
        partials = game.policy_partials(x)
        return _euclidean_gradient(partials, game.policies(x)), _natural_gradient(partials)
    return jax.jacfwd(both)(x)


#: (states, actions, entropy weighting): 1, 2 and 3 players, unequal action counts, both
#: weightings. Built once each (the equilibrium solve compiles per structure).
GAMES = [(3, (3, 3), "uniform"), (3, (3, 3), "occupancy"), (2, (2, 3, 2), "occupancy"),
         (3, (4,), "uniform")]
_built: dict = {}


def built(states, actions, weighting):
    key = (states, actions, weighting)
    if key not in _built:
        _built[key] = random_game(states, actions, weighting, plan="standard")
    return _built[key]


@pytest.mark.parametrize("states, actions, weighting", GAMES)
def test_structured_jacobians_match_forward_mode(states, actions, weighting):
    game = built(states, actions, weighting)
    # away from the equilibrium, where the derivative of F^-1 matters
    x = jnp.asarray(game.region.centre + 0.3 * np.random.default_rng(1).normal(size=game.dim))
    H, dN = partial_jacobians(game, x)
    H_ref, dN_ref = forward_mode(game, x)
    assert H.shape == dN.shape == (game.dim, game.dim)
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-13 * np.abs(H_ref).max())
    np.testing.assert_allclose(dN, dN_ref, rtol=0, atol=1e-13 * np.abs(dN_ref).max())
    # the Euclidean Jacobian of a game given by costs is symmetric in each own block
    for i in range(game.n_players):
        block = np.asarray(H)[game.block(i, i)]
        np.testing.assert_allclose(block, block.T, atol=1e-13 * np.abs(block).max())


@pytest.mark.parametrize("states, actions, weighting", GAMES[1:3])
def test_large_plan_bound_jacobians_equal_the_dense_products(states, actions, weighting):
    """R^-T H R^-1 and R dN R^-1 with the factors applied block by block (the large plan)
    against the dense factors of `fisher_factors` and forward-mode H, dN."""
    standard = built(states, actions, weighting)
    large = random_game(states, actions, weighting, plan="large",
                        equilibrium=standard.equilibrium)
    x = jnp.asarray(large.region.centre + 0.2)
    R, R_inv = (np.asarray(M) for M in large.fisher_factors(x))
    H, dN = (np.asarray(M) for M in forward_mode(large, x))
    A, B = (np.asarray(M) for M in large.bound_jacobians(x))
    np.testing.assert_allclose(A, R_inv.T @ H @ R_inv, atol=1e-12 * np.abs(A).max())
    np.testing.assert_allclose(B, R @ dN @ R_inv, atol=1e-12 * np.abs(B).max())
    # F = R^T R is the Fisher matrix: per state diag(p) - p p^T over the reduced actions
    pi = np.asarray(large.policies(x)[0])[0]
    p = pi[:-1]
    np.testing.assert_allclose((R.T @ R)[:p.size, :p.size], np.diag(p) - np.outer(p, p),
                               atol=1e-15)


@pytest.mark.parametrize("kind", ["lambda_min", "norm"])
@pytest.mark.parametrize("side", [_definite.LAPACK_SIDE + 1, 120])
def test_lapack_screen_test_is_sound_and_agrees_with_the_lanes(kind, side):
    """Past LAPACK_SIDE the test factorises one matrix at a time with LAPACK; both tests say
    "below" only where the badness (numpy's eigvalsh / svd) is below t, and they agree on
    thresholds 1e-2 and 1e-6 relative either side of the value."""
    rng = np.random.default_rng(side)
    M = rng.normal(size=(16, side, side))
    if kind == "lambda_min":
        value = -np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, -1, -2)))[:, 0]
    else:
        value = np.linalg.svd(M, compute_uv=False)[:, 0]
    t = value * (1.0 + np.tile([-1e-2, -1e-6, 1e-6, 1e-2], 4))
    slack = 4.0 * side * side * np.finfo(float).eps
    lapack = _definite.proved_below(kind, M, t, slack, 1e-140)
    lanes = np.empty(16, dtype=bool)
    _definite._below(np.ascontiguousarray(M), kind == "norm", t, slack, 1e-140, lanes)
    assert np.array_equal(lapack, lanes)
    assert not np.any(lapack & (value >= t))          # sound
    assert lapack[t > value * (1.0 + 1e-3)].all()      # and proves the clear cases
    # a NaN entry fails, and so does a NaN threshold (a huge finite one passes)
    M2 = M[:3].copy()
    M2[0, 0, 0] = np.nan
    out = _definite.proved_below(kind, M2, np.array([1e6, np.nan, 1e6]), slack, 1e-140)
    assert out.tolist() == [False, False, True]


def test_huge_games_look_at_fewer_points_and_say_so():
    small = built(3, (3, 3), "occupancy")
    large = random_game(3, (3, 3), "occupancy", plan="large", equilibrium=small.equilibrium)
    assert large.search_limits == (_markov.LARGE_SEARCH_STARTS, _markov.LARGE_SEARCH_STEPS)
    assert large.default_samples == _markov.LARGE_SAMPLES and large.blas_threads == 1
    note = large.estimator_notes["markov_plan"]
    assert note["jacobians"] == "structured"
    assert note["search_limits"] == {"starts": _markov.LARGE_SEARCH_STARTS,
                                     "max_evaluations": _markov.LARGE_SEARCH_STEPS}
    assert small.blas_threads is None and small.estimator_notes == {}
    # past HUGE_GAME_SIZE (read when the game is built)
    try:
        _markov.HUGE_GAME_SIZE, before = 7, _markov.HUGE_GAME_SIZE
        huge = random_game(3, (3, 3), "occupancy", plan="large", equilibrium=small.equilibrium)
    finally:
        _markov.HUGE_GAME_SIZE = before
    assert huge.search_limits == (_markov.HUGE_SEARCH_STARTS, _markov.HUGE_SEARCH_STEPS)
    assert huge.default_samples == _markov.HUGE_SAMPLES
    note = huge.estimator_notes["markov_plan"]
    assert note["search_limits"] == {"starts": _markov.HUGE_SEARCH_STARTS,
                                     "max_evaluations": _markov.HUGE_SEARCH_STEPS}
    assert note["default_samples"] == _markov.HUGE_SAMPLES
    # three starts: the search allowance still reads a spread of three finite ends
    assert _markov.HUGE_SEARCH_STARTS >= 3


def test_use_compilation_cache_sets_the_folder_or_stays_off(tmp_path, monkeypatch):
    """sgn.use_compilation_cache: the folder given, else $SGN_CACHE_DIR, else the user cache;
    "" leaves JAX's configuration alone (recorded, not applied: the test process keeps its
    own configuration)."""
    from sgn import _config

    calls = []
    monkeypatch.setattr(_config.jax.config, "update", lambda *a: calls.append(a))
    assert sgn.use_compilation_cache is _config.use_compilation_cache
    assert _config.use_compilation_cache("") is None and calls == []
    monkeypatch.setenv("SGN_CACHE_DIR", "")
    assert _config.use_compilation_cache() is None and calls == []
    folder = tmp_path / "cache"
    monkeypatch.setenv("SGN_CACHE_DIR", str(folder))
    assert _config.use_compilation_cache() == str(folder) and folder.is_dir()
    assert ("jax_compilation_cache_dir", str(folder)) in calls
    assert ("jax_persistent_cache_min_compile_time_secs", 0.0) in calls
    monkeypatch.delenv("SGN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _config.use_compilation_cache() == str(tmp_path / "xdg" / "sgn" / "jax")
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert _config.use_compilation_cache(str(blocked / "sub")) is None   # cannot be made


def test_large_games_of_one_size_share_their_compiled_jacobians():
    """A sweep over large Markov games compiles once per program structure: two games of one
    size (different tables, discount and entropy) trace to the same structure key, and their
    compiled bound Jacobians are one jitted routine called with each game's constants."""
    from sgn import _shared

    first = built(3, (3, 3), "occupancy")
    first = random_game(3, (3, 3), "occupancy", plan="large", equilibrium=first.equilibrium)
    rng = np.random.default_rng(5)
    P = rng.dirichlet(np.ones(3), size=(3, 3, 3))
    other = sgn.MarkovGame(transitions=P, rewards=[rng.uniform(-1, 1, (3, 3, 3))] * 2,
                           discount=0.6, entropy=1.3, entropy_weighting="occupancy",
                           initial=rng.dirichlet(np.ones(3)), plan="large")
    keys = [_shared._trace(g, "bound_jacobians")[0] for g in (first, other)]
    assert keys[0] is not None and keys[0] == keys[1]
    assert first.bound_jacobians_fn.func is other.bound_jacobians_fn.func
    # and each gets its own values: the shared routine reads the game's own tables
    x = jnp.asarray(other.region.centre)
    H, dN = forward_mode(other, x)
    R, R_inv = (np.asarray(M) for M in other.fisher_factors(x))
    np.testing.assert_allclose(np.asarray(other.bound_jacobians_fn(x)[1]), R @ dN @ R_inv,
                               atol=1e-12 * np.abs(dN).max())
