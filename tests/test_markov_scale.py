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

import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn import _config, _markov
from sgn._errors import GameDefinitionError
from sgn._markov import LARGE_GAME_SIZE, choose_plan
from sgn._summary import summarize

SAMPLES = 128
SEEDS = (0, 1)
#: The regularised equilibria of random_markov(seed) (NPG and Newton on the standard plan,
#: printed with float.hex): given, so the module compiles no Newton Jacobian (the game still
#: checks ||N(x*)|| <= 1e-10 when it is built). Finding equilibria is tested in test_markov.py.
EQUILIBRIA = {
    0: ["0x1.94d523d342e2dp-1", "-0x1.3c0c4bfe7e494p+0", "0x1.254e9138596f8p-2",
        "0x1.fce9e17c5a9afp-2"],
    1: ["-0x1.28eea495b2d1fp-1", "-0x1.eb9715270673dp-1", "0x1.50171dad4b309p-2",
        "-0x1.d13b679b9fff2p-2"],
}


def equilibrium(seed):
    return np.array([float.fromhex(v) for v in EQUILIBRIA[seed]])


def random_markov(states=2, actions=2, seed=0, **options):
    rng = np.random.default_rng(seed)
    shape = (states, actions, actions)
    P = rng.dirichlet(np.ones(states), size=shape)
    rewards = [rng.uniform(-1.0, 1.0, size=shape) for _ in range(2)]
    return sgn.MarkovGame(transitions=P, rewards=rewards, discount=0.8, entropy=1.0,
                          entropy_weighting="occupancy", name=f"random {seed}", **options)


@pytest.fixture(scope="module")
def pairs():
    """(standard game, large game, their certificates) per seed, certified once, without the
    local search: both plans then measure the same sample points, so their bounds differ only
    by the closed-form solve derivatives and the per-point Jacobians (rounding). The large
    search is tested on its own below (it alone compiles for ~15 s)."""
    out = []
    estimator = sgn.Sampled(samples=SAMPLES, refine_steps=0)
    for seed in SEEDS:
        standard = random_markov(seed=seed, plan="standard", equilibrium=equilibrium(seed))
        large = random_markov(seed=seed, plan="large", equilibrium=equilibrium(seed))
        out.append((standard, large, sgn.certify(standard, estimator=estimator),
                    sgn.certify(large, estimator=estimator)))
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


def test_auto_plan_of_built_games_and_what_each_plan_sets(pairs, monkeypatch):
    small, given_large = pairs[0][:2]
    assert small.plan == "standard" and small.solve_derivatives == "elimination"
    assert small.search_limits is None and small.default_samples is None
    assert small.jacobian_batching == "vmap" and small.estimator_notes == {}
    assert "plan" not in small.describe()["markov"]
    assert given_large.describe()["markov"]["plan"] == "large"
    # "auto" reads the threshold when the game is built: lowered, a 2-state game is large
    monkeypatch.setattr(_markov, "LARGE_GAME_SIZE", 7)
    large = random_markov(seed=0, equilibrium=small.equilibrium)
    assert large.plan == "large" and large.solve_derivatives == "closed-form"
    assert large.search_gradient == "autodiff" and large.jacobian_batching == "map"
    assert large.search_limits == (_markov.LARGE_SEARCH_STARTS, _markov.LARGE_SEARCH_STEPS)
    assert large.default_samples == _markov.LARGE_SAMPLES
    assert (large.estimator_notes["markov_plan"]["chosen"]
            == "automatically: S * prod(actions) = 8 > 7")
    # each part stays overridable: the solve derivatives of a large game
    mixed = random_markov(seed=0, solve_derivatives="elimination",
                          equilibrium=small.equilibrium)
    assert mixed.plan == "large" and mixed.solve_derivatives == "elimination"
    assert mixed.estimator_notes["markov_plan"]["solve_derivatives"] == "elimination"


@pytest.mark.parametrize("plan", ["big", "", None])
def test_bad_plan_is_a_game_definition_error(plan):
    with pytest.raises(GameDefinitionError, match="plan must be one of"):
        random_markov(plan=plan)


def test_both_plans_certify_the_same_games_with_the_same_bounds(pairs):
    for _, _, standard, large in pairs:
        assert standard.status == large.status == sgn.Status.CERTIFIED
        a, b = standard.to_dict()["bounds"], large.to_dict()["bounds"]
        for key in ("curvature", "coupling", "lipschitz", "euclidean_margin"):
            np.testing.assert_allclose(b[key], a[key], rtol=1e-12, atol=1e-14, err_msg=key)
        assert large.margin == pytest.approx(standard.margin, rel=1e-12)
        assert large.weights == pytest.approx(standard.weights, rel=1e-9)


def test_large_plan_is_recorded_and_the_standard_plan_adds_nothing(pairs):
    _, _, standard, large = pairs[0]
    standard, large = standard.to_dict()["estimator"], large.to_dict()["estimator"]
    assert "markov_plan" not in standard
    note = large["markov_plan"]
    assert note["plan"] == "large" and note["chosen"] == "given"
    assert note["solve_derivatives"] == "closed-form"
    assert note["search_gradient"] == "autodiff" and note["jacobian_batching"] == "map"
    assert large["samples"] == SAMPLES          # given samples win over the plan's default
    # the record survives the certificate's JSON and its reader, and the summary names the plan
    cert = pairs[0][3]
    again = sgn.Certificate.from_json(cert.to_json())
    assert again.to_dict()["estimator"]["markov_plan"] == note
    assert "large-game plan" in summarize(cert)
    assert "large-game plan" not in summarize(pairs[0][2])


def test_large_plan_search_is_capped_recorded_and_finds_real_extremes(pairs):
    """The large plan's search (autodiff gradient, capped) on the bounds pass: what ran is
    recorded, it pushes every bound at least as far as the samples did, and each extreme it
    reports is a value measured at its point (checked with the standard game's Jacobians,
    forward mode through the elimination, and numpy's eigvalsh / svd)."""
    from sgn._bounds import estimate_bounds

    standard_game, large_game, _, sampled = pairs[0]
    bounds = estimate_bounds(large_game, samples=SAMPLES)
    assert bounds.search == {"starts": _markov.LARGE_SEARCH_STARTS,
                             "max_evaluations": _markov.LARGE_SEARCH_STEPS}
    plain = sampled.to_dict()["bounds"]
    assert np.all(bounds.curvature <= np.asarray(plain["curvature"]) + 1e-14)
    assert np.all(bounds.coupling >= np.asarray(plain["coupling"]) - 1e-14)
    assert bounds.lipschitz >= plain["lipschitz"] - 1e-14
    def at(x):
        return standard_game.bound_jacobians_fn(jnp.asarray(x))
    for i in range(2):
        H = np.asarray(at(bounds.locations["curvature"][i])[0])
        block = H[standard_game.block(i, i)]
        measured = np.linalg.eigvalsh(0.5 * (block + block.T))[0]
        found = bounds.curvature[i] + bounds.allowances["curvature"][i]
        assert found == pytest.approx(measured, abs=1e-12)
        j = 1 - i
        H = np.asarray(at(bounds.locations["coupling"][i, j])[0])
        measured = np.linalg.svd(H[standard_game.block(i, j)], compute_uv=False)[0]
        found = bounds.coupling[i, j] - bounds.allowances["coupling"][i, j]
        assert found == pytest.approx(measured, abs=1e-12)
    assert np.all(np.asarray(bounds.allowances["curvature"]) >= 0.0)   # mu moved down by it


def test_large_plan_default_samples_apply_only_when_none_are_given(pairs, monkeypatch):
    from sgn import _certify

    standard = pairs[0][0]
    seen = []

    def fake_bounds(self, game, *, progress=None):
        seen.append(self.samples)
        raise RuntimeError("stop")

    monkeypatch.setattr(sgn.Sampled, "bounds", fake_bounds)
    game = pairs[0][1]                      # plan="large", given
    for kwargs in ({}, {"samples": 64}):
        with pytest.raises(RuntimeError, match="stop"):
            _certify.certify(game, **kwargs)
    with pytest.raises(RuntimeError, match="stop"):
        _certify.certify(standard)
    assert seen == [_markov.LARGE_SAMPLES, 64, _config.DEFAULT_SAMPLES]
