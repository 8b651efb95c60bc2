"""Verified certificates end to end: certify(method="interval") and `sgn certify --verify`.

The interval machinery itself is tested in test_interval.py; here: what a user sees. Statuses
and flags, the fallback for unsupported operations, refutation of a game sampling wrongly
certifies, the budget, the report, and the CLI's option checks.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pypdf
import pytest
from conftest import assert_usage_error

import sgn

DIP_AT, DIP_WIDTH = 0.3137, 0.004


def dip_field(x1, x2):
    """dF_1/dx_1 = 1 - 1.5 exp(-((x_1 - DIP_AT) / DIP_WIDTH)^2): negative on a sliver only."""
    bump = DIP_WIDTH * jnp.sqrt(jnp.pi) / 2 * jax.scipy.special.erf((x1 - DIP_AT) / DIP_WIDTH)
    return x1 - 1.5 * bump + 0.1 * x2, x2 + 0.1 * x1


@pytest.fixture(scope="module")
def toy_verified():
    game = sgn.load_game("examples/scalar_toy.py")
    return sgn.certify(game, method="interval")


def test_quadratic_game_is_verified_with_the_exact_bounds(toy_verified):
    cert = toy_verified
    assert cert.status is sgn.Status.CERTIFIED and cert.verified
    assert cert.estimator["method"] == "interval" and cert.estimator["outcome"] == "certified"
    # Reference values (docs/method.md): the enclosures of a constant Jacobian are the point
    # itself, widened only by rounding, and never optimistic.
    mu, L = np.array(cert.bounds["curvature"]), np.array(cert.bounds["coupling"])
    assert np.all(mu <= 1.0) and np.allclose(mu, 1.0, atol=1e-12)
    assert L[0, 1] >= 10.0 and L[0, 1] == pytest.approx(10.0, abs=1e-12)
    assert L[1, 0] >= 0.05 and L[1, 0] == pytest.approx(0.05, abs=1e-12)
    assert cert.margin <= 1 - np.sqrt(0.5) and cert.margin == pytest.approx(1 - np.sqrt(0.5),
                                                                           abs=1e-9)
    assert "interval arithmetic" in cert.notes[0]


def test_sampling_certifies_the_dip_but_the_verified_mode_refutes_it():
    game = sgn.Game.from_field(dip_field, dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="dip")
    sampled = sgn.certify(game, samples=64, seed=0)
    assert sampled.status is sgn.Status.CERTIFIED and not sampled.verified
    proved = sgn.certify(game, method="interval")
    assert proved.status is sgn.Status.NOT_CERTIFIED
    assert proved.estimator["outcome"] == "refuted"
    assert proved.bounds["curvature"][0] <= -0.5          # the true minimum is -0.5
    assert proved.step_sizes is None


def test_an_unsupported_operation_falls_back_to_sampled_bounds():
    """cumsum is smooth (so the non-smooth guard lets it through) but has no interval rule."""
    def f1(x1, x2):
        return 0.5 * jnp.sum(jnp.cumsum(x1) ** 2) + 0.1 * jnp.sum(x1) * x2[0]

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + 0.1 * jnp.sum(x1) * x2[0]

    game = sgn.Game(costs=[f1, f2], dims=[2, 1], region=sgn.Box(-1.0, 1.0), name="cumsum")
    assert game.non_smooth is None
    cert = sgn.certify(game, method="interval", samples=128)
    assert not cert.verified and cert.estimator["method"] != "interval"
    assert "cumsum" in cert.notes[0] and "fell back to sampled bounds" in cert.notes[0]
    assert cert.status is sgn.Status.CERTIFIED


def test_a_spent_budget_is_inconclusive_and_says_how_far_it_got():
    cert = sgn.certify(sgn.load_game("examples/cascade.py"), method="interval", max_boxes=41)
    assert cert.status is sgn.Status.INCONCLUSIVE and cert.verified
    assert cert.estimator["outcome"] == "inconclusive"
    assert 0.0 <= cert.estimator["proved_fraction"] < 1.0
    assert "budget" in cert.reasons[0]


def test_unknown_method_is_a_clear_error():
    with pytest.raises(sgn.SGNError, match="method"):
        sgn.certify(sgn.load_game("examples/scalar_toy.py"), method="guess")


def test_report_of_a_verified_certificate_says_so(toy_verified, tmp_path):
    from sgn._report import render_report

    out = render_report(toy_verified, tmp_path / "v.pdf")
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(out).pages)
    assert "interval arithmetic" in text and "verified" in text


def test_cli_verify_prints_a_verified_certificate(run_cli, scalar_toy):
    result = run_cli("certify", scalar_toy, "--verify", "--format", "json", "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verified"] is True and data["estimator"]["method"] == "interval"


@pytest.mark.parametrize("args, words", [
    (("--executor", "dask"), ("--verify",)),
    (("--verify", "--scheduler", "tcp://127.0.0.1:1"), ("--executor dask",)),
    (("--verify", "--max-boxes", "0"), ("max-boxes",)),
])
def test_cli_option_mistakes_exit_2(run_cli, scalar_toy, args, words):
    assert_usage_error(run_cli("certify", scalar_toy, *args), *words)
