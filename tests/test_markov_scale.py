"""The large-game plan of Markov games (issue 15; docs/fisher.md, "Scale").

- The plan chosen: "standard" (today's path, bit for bit) up to LARGE_GAME_SIZE = S * prod(A),
  "large" above it, either one when asked for; a bad value is the user's error.
- The large plan against the standard one on small random games (2 states, 2 x 2 actions,
  forced with plan="large"): the same games certify, and every bound agrees to a small
  tolerance (the large plan's search is shorter and its allowance measures that).
- The estimator record says which plan ran and what it changed; the standard plan adds
  nothing (its certificates are the same bytes as before the plan existed).

The games share one program structure, so each plan compiles once for the whole module.
"""

from __future__ import annotations

import numpy as np
import pytest

import sgn
from sgn import _config, _markov
from sgn._errors import GameDefinitionError
from sgn._markov import LARGE_GAME_SIZE, choose_plan

SAMPLES = 128
SEEDS = (0, 1, 2)


def random_markov(states=2, actions=2, seed=0, **options):
    rng = np.random.default_rng(seed)
    shape = (states, actions, actions)
    P = rng.dirichlet(np.ones(states), size=shape)
    rewards = [rng.uniform(-1.0, 1.0, size=shape) for _ in range(2)]
    return sgn.MarkovGame(transitions=P, rewards=rewards, discount=0.8, entropy=1.0,
                          entropy_weighting="occupancy", name=f"random {seed}", **options)


@pytest.fixture(scope="module")
def pairs():
    """(standard certificate, large certificate) for each seed, certified once."""
    out = []
    for seed in SEEDS:
        standard = sgn.certify(random_markov(seed=seed, plan="standard"), samples=SAMPLES)
        large = sgn.certify(random_markov(seed=seed, plan="large"), samples=SAMPLES)
        out.append((standard, large))
    return out


def test_auto_plan_switches_just_above_the_threshold():
    assert LARGE_GAME_SIZE == 128
    # states x joint actions: 128 stays standard, 129 and more go large
    assert choose_plan(32, (2, 2)) == "standard"           # 128
    assert choose_plan(2, (8, 8)) == "standard"            # 128: the benchmark's largest
    assert choose_plan(16, (2, 2)) == "standard"
    assert choose_plan(3, (2, 3, 2)) == "standard"         # examples/markov_three_players.py
    assert choose_plan(33, (2, 2)) == "large"              # 132
    assert choose_plan(30, (3, 3)) == "large"              # issue 15's targets
    assert choose_plan(100, (4, 4)) == "large"
    # asked for: taken as given
    assert choose_plan(100, (4, 4), "standard") == "standard"
    assert choose_plan(2, (2, 2), "large") == "large"


def test_choose_plan_single_player_count():
    # a one-player game: S * A (43 * 3 = 129 > 128)
    assert choose_plan(43, (3,)) == "large"
    assert choose_plan(42, (3,)) == "standard"


def test_auto_plan_of_built_games_and_what_each_plan_sets(monkeypatch):
    small = random_markov(seed=0)
    assert small.plan == "standard" and small.solve_derivatives == "elimination"
    assert small.search_limits is None and small.default_samples is None
    assert small.jacobian_batching == "vmap" and small.estimator_notes == {}
    assert "plan" not in small.describe()["markov"]
    # the threshold is read when the game is built: lower it to make a 2-state game large
    monkeypatch.setattr(_markov, "LARGE_GAME_SIZE", 7)
    large = random_markov(seed=0)
    assert large.plan == "large" and large.solve_derivatives == "closed-form"
    assert large.search_gradient == "autodiff" and large.jacobian_batching == "map"
    assert large.search_limits == (_markov.LARGE_SEARCH_STARTS, _markov.LARGE_SEARCH_STEPS)
    assert large.default_samples == _markov.LARGE_SAMPLES
    note = large.estimator_notes["markov_plan"]
    assert note["chosen"] == "automatically: S * prod(actions) = 8 > 7"
    assert large.describe()["markov"]["plan"] == "large"
    # overridable both ways
    assert random_markov(seed=0, plan="standard").plan == "standard"
    mixed = random_markov(seed=0, solve_derivatives="elimination")
    assert mixed.plan == "large" and mixed.solve_derivatives == "elimination"
    assert mixed.estimator_notes["markov_plan"]["solve_derivatives"] == "elimination"


@pytest.mark.parametrize("plan", ["big", "", None])
def test_bad_plan_is_a_game_definition_error(plan):
    with pytest.raises(GameDefinitionError, match="plan must be one of"):
        random_markov(plan=plan)


def test_both_plans_certify_the_same_games(pairs):
    for standard, large in pairs:
        assert standard.status == large.status
        assert standard.status == sgn.Status.CERTIFIED


def test_large_plan_bounds_match_the_standard_plan(pairs):
    for standard, large in pairs:
        a, b = standard.to_dict()["bounds"], large.to_dict()["bounds"]
        scale = max(np.abs(a["curvature"]).max(), np.abs(a["coupling"]).max(), a["lipschitz"])
        for key in ("curvature", "coupling", "lipschitz", "euclidean_margin"):
            # both are sampled estimates of the same sup / inf: they differ by what each
            # search found, which on these smooth 4-dimensional games is little
            np.testing.assert_allclose(b[key], a[key], rtol=0, atol=2e-3 * scale, err_msg=key)
        assert large.margin == pytest.approx(standard.margin, rel=2e-2)


def test_large_plan_is_recorded_and_the_standard_plan_adds_nothing(pairs):
    standard, large = (c.to_dict()["estimator"] for c in pairs[0])
    assert "markov_plan" not in standard
    assert standard["search"] == {"starts": 16, "max_evaluations": 200}
    note = large["markov_plan"]
    assert note["plan"] == "large" and note["chosen"] == "given"
    assert note["solve_derivatives"] == "closed-form"
    assert note["search_gradient"] == "autodiff" and note["jacobian_batching"] == "map"
    # the search that ran is the one recorded, and the allowance rests on it
    assert large["search"] == {"starts": _markov.LARGE_SEARCH_STARTS,
                               "max_evaluations": _markov.LARGE_SEARCH_STEPS}
    assert large["samples"] == SAMPLES          # given samples win over the plan's default
    for allowance in large["allowances"]["curvature"]:
        assert allowance >= 0.0


def test_large_plan_default_samples_apply_only_when_none_are_given(monkeypatch):
    from sgn import _certify

    seen = []

    def fake_bounds(self, game, *, progress=None):
        seen.append(self.samples)
        raise RuntimeError("stop")

    monkeypatch.setattr(sgn.Sampled, "bounds", fake_bounds)
    game = random_markov(seed=0, plan="large")
    for kwargs in ({}, {"samples": 64}):
        with pytest.raises(RuntimeError, match="stop"):
            _certify.certify(game, **kwargs)
    with pytest.raises(RuntimeError, match="stop"):
        _certify.certify(random_markov(seed=0, plan="standard"))
    assert seen == [_markov.LARGE_SAMPLES, 64, _config.DEFAULT_SAMPLES]
