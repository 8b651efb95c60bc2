"""The local search behind sampled bounds and its safety allowance (docs/method.md, "Sampled
bounds"): the search reaches extremes that sampling misses, the allowance is the spread the
search saw, and the tool's own `verify` with a new seed holds on a 59-parameter GAN."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn._bounds import search_allowance
from sgn._load import load_game

from conftest import EXAMPLES


# --- the allowance rule -------------------------------------------------------------------------

def test_allowance_is_zero_when_every_search_ends_at_the_same_extreme():
    ends = np.array([[3.0, 3.0, 3.0, 3.0]])
    assert search_allowance(ends, np.array([2.5])).tolist() == [0.0]


def test_allowance_is_best_minus_second_lowest_end():
    ends = np.array([[5.0, 4.0, 4.5, -100.0], [1.0, 2.0, 3.0, 4.0]])
    # the lowest end (a search stranded far below) is left out of the spread
    assert search_allowance(ends, np.array([0.0, 0.0])).tolist() == [1.0, 2.0]


def test_allowance_ignores_searches_that_met_non_finite_values():
    ends = np.array([[np.nan, 2.0, 1.5, 1.0, -np.inf]])    # finite ends 2, 1.5, 1
    assert search_allowance(ends, np.array([0.0])).tolist() == [0.5]


def test_one_start_uses_what_the_search_gained_over_the_samples():
    assert search_allowance(np.array([[3.0]]), np.array([2.25])).tolist() == [0.75]
    assert search_allowance(np.array([[3.0]]), np.array([3.5])).tolist() == [0.0]


# --- the search finds interior extremes sampling misses ------------------------------------------

def _wavy_game():
    """J_11 = 2 + cos(4 x_2) + 0.5 x_1: its minimum over [-1, 1]^2 is 2 - 1 - 0.5 = 0.5, at
    x_1 = -1 and x_2 = +-pi/4, points no sample hits exactly."""
    def f1(x1, x2):
        return 0.5 * (2.0 + jnp.cos(4.0 * x2[0])) * x1[0] ** 2 + x1[0] ** 3 / 12.0
    def f2(x1, x2):
        return 2.0 * x2[0] ** 2 + 0.1 * x1[0] * x2[0]
    return sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="wavy")


def test_search_reaches_the_closed_form_extreme_and_the_bound_is_on_its_safe_side():
    game = _wavy_game()
    sampled_only = sgn.estimate_bounds(game, method=sgn.Sampled(samples=64, refine_steps=0))
    searched = sgn.estimate_bounds(game, method=sgn.Sampled(samples=64))
    measured = searched.curvature[0] + searched.allowances["curvature"][0]
    assert sampled_only.curvature[0] > 0.5 + 1e-4              # 64 samples miss the minimum
    assert measured == pytest.approx(0.5, abs=1e-9)           # the search reaches it
    assert searched.curvature[0] <= 0.5 + 1e-12               # and the bound is not above it
    assert searched.search == {"starts": 16, "max_evaluations": 200}


def test_certificate_records_the_search_and_the_allowances(tmp_path):
    cert = sgn.certify(_wavy_game(), samples=64)
    record = cert.to_dict()["estimator"]
    assert record["search"] == {"starts": 16, "max_evaluations": 200}
    allow = record["allowances"]
    assert set(allow) == {"curvature", "coupling", "euclidean_margin", "lipschitz",
                          "metric_margin"}
    assert len(allow["curvature"]) == 2 and np.shape(allow["coupling"]) == (2, 2)
    assert all(a >= 0 for a in allow["curvature"])
    again = sgn.Certificate.from_json(cert.to_json())
    assert again.estimator == json.loads(cert.to_json())["estimator"]


# --- the tool's own verify holds on a game of the size -----------------------------------

@pytest.mark.slow
def test_verify_with_a_new_seed_holds_on_the_59_parameter_gan():
    game = load_game(EXAMPLES / "tanh_gan.py", {})
    assert game.dim == 59
    cert = sgn.certify(game)
    assert cert.certified and cert.margin <= cert.diagnostics["metric_margin"]
    result = sgn.verify(cert, game)                            # seed 0 + 1: fresh samples
    assert result.ok, [c.message for c in result.failures]
