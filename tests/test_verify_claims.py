"""`sgn verify` checks every claim a certificate makes (issue 16).

Certificates of the bundled examples, tampered with one field at a time, each caught with the
failing check named: claims recomputed from the certificate's own numbers (the basin, sgn_gap),
re-measured on the game (the metric margin, the Euclidean margin, the residual at x*), decided
from the traced program (a constant Jacobian), or re-proved by branch and bound (the bounds of
an interval certificate). Also: the text output of a 20-player certificate stays short, and an
output folder that cannot hold files is bad input.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import assert_bad_input

import sgn
import sgn.cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCALAR_TOY = EXAMPLES / "scalar_toy.py"
CASCADE = EXAMPLES / "cascade.py"
COURNOT = EXAMPLES / "cournot.py"


def _cli(*args):
    return CliRunner().invoke(sgn.cli.main, [str(a) for a in args], catch_exceptions=True)


def _failed(result) -> set:
    return {c.name for c in result.failures}


def _verify(data, game, samples=64, **options):
    return sgn.verify(sgn.Certificate.from_dict(data), game, samples=samples, **options)


@pytest.fixture(scope="module")
def toy_game():
    return sgn.load_game(SCALAR_TOY)


@pytest.fixture(scope="module")
def toy_data(toy_game) -> dict:
    cert = sgn.certify(toy_game, samples=64)
    assert cert.certified and cert.equilibrium["basin"]["kind"] == "ball"
    return cert.to_dict()


@pytest.fixture(scope="module")
def cascade_game():
    return sgn.load_game(CASCADE)


@pytest.fixture(scope="module")
def cascade_data(cascade_game) -> dict:
    cert = sgn.certify(cascade_game, samples=256)
    assert cert.certified and cert.estimator["method"] == "sampled"
    assert cert.bounds["euclidean_margin"] < 0          # not Euclidean-monotone
    return cert.to_dict()


def test_honest_certificates_hold(toy_game, toy_data, cascade_game, cascade_data):
    for data, game in ((toy_data, toy_game), (cascade_data, cascade_game)):
        result = _verify(data, game, samples=256)
        assert result.ok, [c.message for c in result.failures]
        names = {c.name for c in result.checks}
        assert {"basin.kind", "basin.metric_radius", "diagnostics.metric_margin",
                "euclidean_margin", "equilibrium.residual", "equilibrium.found"} <= names
        assert {c.how for c in result.checks} >= {"recomputed", "re-measured"}


# --- the basin: recomputed from the region, x* and the weights -----------------------------------

def test_basin_radius_times_ten_is_caught(folder_cli, toy_game, toy_data):
    data = copy.deepcopy(toy_data)
    basin = data["equilibrium"]["basin"]
    basin["metric_radius"] *= 10
    basin["player_radii"] = [r * 10 for r in basin["player_radii"]]
    result = _verify(data, toy_game)
    assert not result.ok
    assert {"basin.metric_radius", "basin.player_radii[1]", "basin.player_radii[2]"} \
        <= _failed(result)
    # and through the CLI: exit 1, the failing check on its own line
    path = folder_cli / "basin.json"
    path.write_text(json.dumps(data))
    out = _cli("verify", path, SCALAR_TOY, "--samples", 64)
    assert out.exit_code == 1, out.stdout
    assert any(line.startswith("  [FAIL] basin metric radius") for line in out.stdout.splitlines())


@pytest.mark.parametrize("radii", ["kept", "null"])
def test_basin_kind_box_is_caught(toy_game, toy_data, radii):
    data = copy.deepcopy(toy_data)
    basin = data["equilibrium"]["basin"]
    basin["kind"] = "box"        # every start covered: false for an analysis region
    if radii == "null":
        basin["metric_radius"] = None
        basin["player_radii"] = [None, None]
    result = _verify(data, toy_game)
    assert not result.ok
    assert "basin.kind" in _failed(result)


# --- diagnostics and the Euclidean margin: re-measured --------------------------------------------

def test_metric_margin_times_ten_is_caught(toy_game, toy_data):
    data = copy.deepcopy(toy_data)
    data["diagnostics"]["metric_margin"] *= 10
    result = _verify(data, toy_game)
    assert not result.ok
    assert "diagnostics.metric_margin" in _failed(result)


def test_metric_margin_times_ten_is_caught_when_sgn_gap_agrees(cascade_game, cascade_data):
    # Tampered consistently: sgn_gap moved with it, so only the re-measurement catches it.
    data = copy.deepcopy(cascade_data)
    data["diagnostics"]["metric_margin"] *= 10
    data["diagnostics"]["sgn_gap"] = data["diagnostics"]["metric_margin"] - data["margin"]
    result = _verify(data, cascade_game, samples=256)
    assert _failed(result) == {"diagnostics.metric_margin"}
    (check,) = result.failures
    assert check.how == "sampled" and check.found < check.stored


def test_positive_euclidean_margin_is_caught(cascade_game, cascade_data):
    data = copy.deepcopy(cascade_data)
    data["bounds"]["euclidean_margin"] = 0.5          # the game is not Euclidean-monotone
    data["diagnostics"]["euclidean_monotone"] = True
    result = _verify(data, cascade_game, samples=256)
    assert not result.ok
    assert "euclidean_margin" in _failed(result)
    (check,) = [c for c in result.failures if c.name == "euclidean_margin"]
    assert check.found < 0 and check.point is not None


# --- a constant Jacobian: decided from the traced program -----------------------------------------

@pytest.mark.parametrize("verified", [False, True])
def test_exact_method_on_a_varying_jacobian_is_caught(cascade_game, cascade_data, verified):
    data = copy.deepcopy(cascade_data)
    data["estimator"]["method"] = "exact"
    data["estimator"]["constant_jacobian"] = True
    data["verified"] = verified
    result = _verify(data, cascade_game, samples=256)
    assert not result.ok
    assert "estimator.constant_jacobian" in _failed(result)
    (check,) = [c for c in result.failures if c.name == "estimator.constant_jacobian"]
    assert check.how == "traced"


# --- the equilibrium: re-measured at x* -----------------------------------------------------------

def test_residual_set_to_1e3_is_caught(toy_game, toy_data):
    data = copy.deepcopy(toy_data)
    data["equilibrium"]["residual"] = 1e3              # x* unchanged
    result = _verify(data, toy_game)
    assert not result.ok
    assert "equilibrium.residual" in _failed(result)


def test_found_false_is_caught(toy_game, toy_data):
    data = copy.deepcopy(toy_data)
    data["equilibrium"]["found"] = False
    result = _verify(data, toy_game)
    assert not result.ok
    assert "equilibrium.found" in _failed(result)


# --- interval bounds: re-proved -------------------------------------------------------------------

def _consistent(data):
    """Recompute everything derived from the bounds, as a careful forger would."""
    mu, L = data["bounds"]["curvature"], data["bounds"]["coupling"]
    alpha = sgn.sgn_margin(data["weights"], mu, L)
    data["margin"] = alpha
    steps = sgn.step_sizes(alpha, data["bounds"]["lipschitz"],
                           constrained=data["game"]["region"]["constrained"]).to_dict()
    data["step_sizes"] = steps
    data["rates"] = {"flow": alpha, "euler": steps["euler_factor"], "rk4": steps["rk4_factor"]}
    data["diagnostics"]["sgn_gap"] = data["diagnostics"]["metric_margin"] - alpha
    data["diagnostics"]["spectral_radius"] = sgn.spectral_radius(mu, L)
    data["diagnostics"]["best_possible_margin"] = sgn.best_possible_margin(mu, L)


def test_raised_interval_curvature_is_caught(cascade_game):
    cert = sgn.certify(cascade_game, method="interval")
    assert cert.certified and cert.verified and cert.estimator["method"] == "interval"
    assert _verify(cert.to_dict(), cascade_game, samples=256).ok
    data = copy.deepcopy(cert.to_dict())
    data["bounds"]["curvature"][1] *= 1.05
    _consistent(data)
    result = _verify(data, cascade_game, samples=256)
    assert not result.ok
    # fresh samples do not reach it: only the re-proof catches it
    assert _failed(result) == {"reproved.curvature[2]"}
    (check,) = result.failures
    assert check.how == "re-proved" and check.found < check.stored


# --- a 20-player certificate: a readable summary --------------------------------------------------

@pytest.fixture(scope="module")
def folder_cli(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("claims")


@pytest.fixture(scope="module")
def cournot20(folder_cli) -> Path:
    out = folder_cli / "cournot20.json"
    made = _cli("certify", COURNOT, "--param", "firms=20", "--samples", 128, "--out", out, "-q")
    assert made.exit_code == 0, (made.stdout, made.stderr)
    data = json.loads(out.read_text())
    assert data["game"]["region"]["constrained"] is True and len(data["weights"]) == 20
    return out


def test_twenty_players_summary_is_short(cournot20):
    out = _cli("verify", cournot20, COURNOT, "--param", "firms=20", "--samples", 128)
    assert out.exit_code == 0, out.stdout
    lines = out.stdout.strip().splitlines()
    assert len(lines) < 40, out.stdout
    assert any("couplings L_i,j: 380 of 380 hold" in line for line in lines), out.stdout
    # JSON keeps every check
    full = _cli("verify", cournot20, COURNOT, "--param", "firms=20", "--samples", 128,
                "--format", "json")
    checks = json.loads(full.stdout)["checks"]
    assert sum(c["name"].startswith("coupling[") for c in checks) == 380


def test_twenty_players_failures_each_on_a_line(folder_cli, cournot20):
    data = json.loads(cournot20.read_text())
    data["bounds"]["coupling"][0][10] *= 0.5
    data["bounds"]["coupling"][10][0] *= 0.5
    data["equilibrium"]["residual"] = 1e3
    path = folder_cli / "cournot20-tampered.json"
    path.write_text(json.dumps(data))
    out = _cli("verify", path, COURNOT, "--param", "firms=20", "--samples", 128)
    assert out.exit_code == 1, out.stdout
    lines = out.stdout.strip().splitlines()
    assert len(lines) < 40, out.stdout
    fails = [line for line in lines if "[FAIL]" in line]
    full = _cli("verify", path, COURNOT, "--param", "firms=20", "--samples", 128,
                "--format", "json")
    failed = [c for c in json.loads(full.stdout)["checks"] if not c["ok"]]
    assert len(fails) == len(failed) >= 3, out.stdout      # every failed check on its own line
    for check in failed:
        assert any(check["message"] in line for line in fails), check["message"]
    assert any("L_1,11" in line for line in fails) and any("L_11,1" in line for line in fails)
    assert any("residual" in line for line in fails)
    assert any("couplings L_i,j: 378 of 380 hold" in line for line in lines), out.stdout


# --- an output folder that cannot hold files ------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux") or not Path("/proc").is_dir(),
                    reason="needs /proc")
def test_out_into_proc_is_bad_input():
    assert_bad_input(_cli("certify", SCALAR_TOY, "--samples", 16, "-q", "--out",
                          "/proc/cert.json"), "cannot write", "/proc")


def test_write_atomic_into_proc_is_an_output_error():
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc")
    from sgn._io import write_atomic

    with pytest.raises(sgn.SGNError, match="cannot write"):
        write_atomic("/proc/cert.json", "{}")



def test_spectral_radius_and_tau_are_recomputed(cascade_game, cascade_data):
    data = copy.deepcopy(cascade_data)
    data["diagnostics"]["spectral_radius"] *= 0.5
    data["diagnostics"]["best_possible_margin"] *= 2
    result = _verify(data, cascade_game, samples=256)
    assert _failed(result) == {"diagnostics.spectral_radius",
                               "diagnostics.best_possible_margin"}


def test_text_says_what_was_only_sampled(folder_cli, cascade_data):
    path = folder_cli / "cascade.json"
    path.write_text(json.dumps(cascade_data))
    out = _cli("verify", path, CASCADE, "--samples", 256)
    assert out.exit_code == 0, out.stdout
    (line,) = [x for x in out.stdout.splitlines() if "tested by sampling only" in x]
    assert "curvatures mu_i" in line and "couplings L_i,j" in line and "metric margin" in line
