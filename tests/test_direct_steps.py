"""Direct step certificates and the metric search (issue 13, parts 2 and 3).

The direct steps rest on region-wide measurements of the Euler factor and of the Jacobians'
spread; these are checked against brute force over the same points, against simulation (the
promise is kept at the largest certified step), against tampering (verify catches a factor
that was lowered), and against the old schema (a version 1 certificate is still read and
verified). The metric search is checked on games whose answer is known in closed form.
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn._bounds import estimate_contraction
from sgn._load import load_game


@pytest.fixture(scope="module")
def cascade():
    game = load_game("examples/cascade.py")
    return game, sgn.certify(game, samples=1000)


def test_contraction_pass_is_at_least_the_brute_force_over_its_points(cascade):
    """The measured Euler factors and spread are no smaller than a dense numpy evaluation at
    the points the bounds sampled (the local search and the allowance only push them up)."""
    game, cert = cascade
    bounds = sgn.estimate_bounds(game, samples=1000)
    metric = game.metric(cert.weights)
    steps = [0.2, 0.6]
    found = estimate_contraction(game, metric, bounds, steps)
    J = np.stack([np.asarray(game.jacobian_fn(jnp.asarray(x))) for x in bounds.points[:1000]])
    A = metric.scale(J)
    A_c = metric.scale(np.asarray(game.jacobian_fn(jnp.asarray(game.region.centre))))
    eye = np.eye(game.dim)
    for h, q in zip(steps, found.euler_factors):
        assert q >= np.linalg.norm(eye - h * A, 2, axis=(1, 2)).max() - 1e-12
    assert found.spread >= np.linalg.norm(A - A_c, 2, axis=(1, 2)).max() - 1e-12


def test_largest_direct_step_keeps_its_promise_in_simulation(cascade):
    """Euler at the largest certified step (direct, 8x SGN's 2 alpha / beta^2 here) and at the
    recommended one: every start in the basin contracts by the promised factor."""
    game, cert = cascade
    steps = cert.step_sizes
    assert steps["euler_bound"] == "direct"
    assert steps["euler_max"] > 4 * steps["alpha_beta"]["euler_max"]
    for h in (steps["euler_max"], steps["euler_recommended"]):
        sim = sgn.simulate(game, cert, methods=("euler",), step=h, starts=24, steps=60)
        (run,) = sim.runs
        assert run.promise.applies and run.ok, (h, run.violations[:2])
        assert run.certified_factor < 1.0


def test_verify_catches_a_lowered_direct_factor(cascade):
    game, cert = cascade
    data = json.loads(cert.to_json())
    assert sgn.verify(sgn.Certificate.from_json(json.dumps(data)), game).ok
    data["step_sizes"]["direct"]["euler_factors"][1] *= 0.5
    failed = {c.name for c in sgn.verify(sgn.Certificate.from_json(json.dumps(data)),
                                         game).failures}
    assert "step_sizes.direct.euler_factors[2]" in failed


def test_verify_catches_a_table_that_does_not_follow_from_its_measurements(cascade):
    game, cert = cascade
    data = json.loads(cert.to_json())
    data["step_sizes"]["euler_max"] *= 1.5
    failed = {c.name for c in sgn.verify(sgn.Certificate.from_json(json.dumps(data)),
                                         game).failures}
    assert "step_sizes.euler_max" in failed


def test_a_version_1_certificate_is_still_read_and_verified(cascade):
    """Version 1 had SGN's seven steps alone: written that way, it reads and verifies."""
    game, cert = cascade
    data = json.loads(cert.to_json())
    data["schema_version"] = 1
    data["step_sizes"] = dict(data["step_sizes"]["alpha_beta"])
    data["rates"]["euler"] = data["step_sizes"]["euler_factor"]
    data["rates"]["rk4"] = data["step_sizes"]["rk4_factor"]
    old = sgn.Certificate.from_json(json.dumps(data))
    assert old.schema_version == 1
    result = sgn.verify(old, game)
    assert result.ok, [c.message for c in result.failures]
    data["step_sizes"]["euler_bound"] = "direct"     # a version 2 key in a version 1 file
    with pytest.raises(sgn.CertificateFormatError, match="schema version 1"):
        sgn.Certificate.from_json(json.dumps(data))


def _field_game(J, name):
    J = np.asarray(J, dtype=float)

    def field(x1, x2):
        x = jnp.concatenate([x1, x2])
        y = jnp.asarray(J) @ x
        return y[:1], y[1:]

    return sgn.Game.from_field(field, dims=[1, 1], region=sgn.Box(-1.0, 1.0), name=name)


def test_metric_search_certifies_the_skew_game_verified_too():
    """J = [[0.5, 1], [-4, 0.5]]: sym(W J) = diag(w1/2, w2/2) at w2/w1 = 1/4, margin 0.5, which
    no norm-bound test sees; the interval route proves it as well."""
    game = _field_game([[0.5, 1.0], [-4.0, 0.5]], "skew")
    cert = sgn.certify(game, method="interval")
    assert cert.status is sgn.Status.CERTIFIED and cert.verified
    assert cert.diagnostics["certified_by"] == "metric"
    assert 0.5 * (1 - 1e-6) < cert.margin <= 0.5
    assert cert.weights[1] == pytest.approx(0.25, rel=1e-3)


def test_metric_search_does_not_certify_an_unstable_game():
    """J with an eigenvalue of negative real part: no metric contracts; the search finds none
    and the game stays not certified."""
    J = np.array([[1.0, 3.0], [-0.1, -0.5]])
    assert np.linalg.eigvals(J).real.min() < 0
    cert = sgn.certify(_field_game(J, "unstable"))
    assert cert.status is not sgn.Status.CERTIFIED
    assert cert.diagnostics["certified_by"] is None
