"""A certificate cannot make `sgn verify` check it less, and malformed claims are bad input or
a broken certificate, never an internal error (issue 17, the verify-side overclaims)."""

from __future__ import annotations

import copy
import json

import jax.numpy as jnp
import pytest

import sgn
from sgn._config import DEFAULT_SAMPLES
from sgn._errors import CertificateFormatError, SGNError
from sgn._sampling import sample_points

from conftest import EXAMPLES


@pytest.fixture(scope="module")
def cascade():
    game = sgn.load_game(EXAMPLES / "cascade.py")
    cert = sgn.certify(game, samples=1024)
    assert cert.certified
    return game, json.loads(cert.to_json())


def test_a_certificate_cannot_lower_the_sample_count_verify_uses(cascade):
    game, data = cascade
    data = copy.deepcopy(data)
    data["estimator"]["samples"] = 1
    data["bounds"]["curvature"][1] *= 1.05          # a false curvature
    result = sgn.verify(sgn.Certificate.from_dict(data), game)
    assert result.samples >= DEFAULT_SAMPLES
    assert not result.ok and "curvature[2]" in [c.name for c in result.failures]


def test_a_widened_region_is_a_different_claim(cascade):
    game, data = cascade
    data = copy.deepcopy(data)
    data["game"]["region"]["high"] = [v * (1 + 1e-7) for v in data["game"]["region"]["high"]]
    with pytest.raises(CertificateFormatError, match="region differs"):
        sgn.verify(sgn.Certificate.from_dict(data), game)


@pytest.mark.parametrize("value", ["many", 1.5, True, -3, None])
def test_an_estimator_count_of_the_wrong_type_is_refused(cascade, value):
    data = copy.deepcopy(cascade[1])
    data["estimator"]["samples"] = value
    with pytest.raises(CertificateFormatError, match="estimator.samples"):
        sgn.Certificate.from_dict(data)


def test_certified_with_a_margin_at_or_below_zero_is_broken_not_a_crash(cascade):
    game, data = cascade
    data = copy.deepcopy(data)
    data["margin"] = -0.1
    result = sgn.verify(sgn.Certificate.from_dict(data), game)
    assert not result.ok and "status" in [c.name for c in result.failures]


def test_a_sample_count_that_cannot_fit_is_refused_before_allocating():
    box = sgn.Box(-1.0, 1.0).resolve(6)
    with pytest.raises(SGNError, match="use fewer --samples"):
        sample_points(box, 10**10, 0)
    assert sample_points(box, 64, 0).shape == (64, 6)     # ordinary sizes are untouched


def test_a_proved_small_gain_failure_with_a_loose_euclidean_margin_is_inconclusive(tmp_path):
    """SGN's test is refuted at points (couplings 2 against curvatures near 1), but the
    Euclidean margin's enclosure is merely loose: not proved, so never "not certified"."""
    def f1(x1, x2):
        return 0.5 * x1 @ x1 + 2.0 * x2[0] * jnp.sin(x1[0])

    def f2(x1, x2):
        return 0.5 * x2 @ x2 - 2.0 * jnp.sin(x1[0]) * x2[0]

    game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="zs-sin")
    cert = sgn.certify(game, method="interval", max_seconds=30)
    assert cert.status is sgn.Status.INCONCLUSIVE, cert.reasons
    assert "small-gain" in cert.reasons[0]
    assert "Euclidean test is neither proved nor refuted" in cert.reasons[1]
    from sgn._summary import summarize
    assert "the plain test fails" not in summarize(cert)


# --- non-smooth costs: never "verified" --------------------------------------------------------

def _kinked(kind):
    """Issue 17's reproducers: f1 = x1^2/2 - 0.3 |x1| + 0.1 x1 x2 (F has zeros near 0 and at
    -0.303 too), a floor staircase, a where-switch, and a custom_jvp that lies (L_12 = 0 where
    the truth is 3)."""
    import jax

    @jax.custom_jvp
    def lying(x):
        return 3.0 * x

    @lying.defjvp
    def _lying_jvp(primals, tangents):
        return lying(primals[0]), 0.0 * tangents[0]

    extra = {
        "abs": lambda x1, x2: -0.3 * jnp.abs(x1[0]),
        "floor": lambda x1, x2: 0.2 * jnp.floor(4.0 * x1[0]) * x1[0],
        "where": lambda x1, x2: jnp.where(x1[0] > 0.1, 0.4 * x1[0], -0.4 * x1[0]),
        "custom_jvp": lambda x1, x2: x1[0] * lying(x2[0]),
    }[kind]

    def f1(x1, x2):
        return 0.5 * x1 @ x1 + 0.1 * x1[0] * x2[0] + extra(x1, x2)

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + 0.1 * x1[0] * x2[0]

    return sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name=kind)


@pytest.mark.parametrize("kind, operation", [("abs", "abs"), ("floor", "floor"),
                                             ("where", "gt"), ("custom_jvp", "custom_jvp_call")])
def test_a_non_smooth_game_is_never_verified(kind, operation):
    game = _kinked(kind)
    assert game.non_smooth == operation
    cert = sgn.certify(game, method="interval", samples=256, max_seconds=30)
    assert not cert.verified and cert.estimator["method"] == "sampled"
    assert f"`{operation}`" in cert.notes[0] and "nothing is verified" in cert.notes[0]
    assert any("cannot confirm is smooth" in note for note in cert.notes[1:])   # sampled note


def test_smooth_games_keep_verified_mode():
    game = sgn.load_game(EXAMPLES / "cascade.py")
    assert game.non_smooth is None
    cert = sgn.certify(game, method="interval", max_seconds=60)
    assert cert.estimator["method"] == "interval"
    assert not any("cannot confirm is smooth" in note for note in cert.notes)


def test_verify_refuses_a_verified_claim_on_a_non_smooth_game():
    game = _kinked("abs")
    data = json.loads(sgn.certify(game, samples=256).to_json())
    data["verified"] = True                       # as the interval path wrote it before
    data["estimator"]["method"] = "interval"
    result = sgn.verify(sgn.Certificate.from_dict(data), game, samples=256)
    assert "verified.smooth" in [c.name for c in result.failures]


def test_index_arithmetic_is_not_taken_for_a_kink():
    """x[idx] with constant indices makes JAX emit integer comparisons and selects (negative
    index wrap-around) and a gather: smooth in x, so no note; indices computed from x, or a
    comparison of x, are still named."""
    import jax

    from sgn._jaxpr import non_smooth_operation

    idx = jnp.asarray([2, 0, 1, 1])

    def program(f):
        return non_smooth_operation(jax.make_jaxpr(f)(jnp.ones(3)))

    assert program(lambda x: jnp.zeros(3).at[idx[:3]].add(jnp.tanh(x[idx])[:3])) is None
    assert program(lambda x: x[jnp.floor(x).astype(int)]) == "floor"
    assert program(lambda x: x[x.astype(int)]).startswith("a cast to int")
    assert program(lambda x: jnp.where(x > 0, x, 0.0)) == "gt"
