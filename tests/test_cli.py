"""The `sgn certify` command line: exit codes, messages, JSON output and --out.

Contract: exit 0 certified, 1 not certified / inconclusive, 2 bad usage or bad input (one line on
stderr starting with "error:", never a traceback), 3 internal error. `--format json` prints the
certificate and nothing else; `--out` is written atomically.

Most tests run the CLI in-process with click's CliRunner (stdout and stderr kept apart); a few
run the installed `sgn` console script in a real subprocess.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time

import pytest

import sgn
from conftest import assert_bad_input, assert_usage_error
import sgn._certify
import sgn._io
from sgn import Certificate, CertificateFormatError

# --- helpers ------------------------------------------------------------------------------------

SAMPLES = "64"


def certify_json(run_cli, target, *extra):
    result = run_cli("certify", target, "--samples", SAMPLES, "--format", "json", *extra)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr, result.exception)
    return result, json.loads(result.stdout)


def tmp_leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- game file bodies ---------------------------------------------------------------------------

TWO_PLAYER_COSTS = """
def f1(x1, x2):
    return 0.5 * x1 @ x1 + 10.0 * x1 @ x2

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.05 * x1 @ x2
"""

NOT_CERTIFIABLE = """
def f1(x1, x2):
    return 0.5 * x1 @ x1 + 3.0 * x1 @ x2

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 3.0 * x1 @ x2

game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="too-coupled")
"""

ZERO_CURVATURE = """
def f1(x1, x2):
    return x1 @ x2

def f2(x1, x2):
    return -(x1 @ x2)

game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="bilinear")
"""

# Nonlinear (tanh couplings): the Jacobian is not constant, so bounds are sampled with a seed.
# mu = (1, 1), L_12 = 3, L_21 = 0.05: rho = sqrt(0.15) < 1, certifiable.
TANH_GAME = """
def f1(x1, x2):
    return 0.5 * x1 @ x1 + 3.0 * jnp.tanh(x2) @ x1

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.05 * jnp.tanh(x1) @ x2

game = sgn.Game(costs=[f1, f2], dims=[2, 2], region=sgn.Box(-1.0, 1.0), name="tanh-game")
"""

# make_game(lam): the scalar toy with coupling scale lam; alpha(lam) = 1 - lam / sqrt(2).
FACTORY = """
def make_game(lam=1.0, label="factory"):
    def f1(x1, x2):
        return 0.5 * x1 @ x1 + lam * 10.0 * x1 @ x2

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + lam * 0.05 * x1 @ x2

    name = f"{label}|{type(lam).__name__}|{lam!r}"
    return sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name=name)
"""

SEVERAL = TWO_PLAYER_COSTS + """
def g1(x1, x2):
    return 0.5 * x1 @ x1 + 3.0 * x1 @ x2

def g2(x1, x2):
    return 0.5 * x2 @ x2 + 3.0 * x1 @ x2

game_a = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="game-a")
game_b = sgn.Game(costs=[g1, g2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="game-b")
"""


def _game_with(costs="[f1, f2]", dims="[1, 1]", region="sgn.Box(-1.0, 1.0)", funcs=TWO_PLAYER_COSTS):
    return funcs + f"\ngame = sgn.Game(costs={costs}, dims={dims}, region={region}, name='bad')\n"


# Each case: (id, file body, extra CLI args, words the error line must contain).
BAD_FILES = [
    ("syntax-error", "def f1(x1, x2:\n    return 1\n", [], ["SyntaxError"]),
    ("raises-on-import", "raise RuntimeError('kaboom from the game file')\n", [],
     ["does not import", "kaboom"]),
    ("no-game", "x = 1\n\ndef helper():\n    return 2\n", [], ["defines no game"]),
    ("two-games", TWO_PLAYER_COSTS + """
game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0))
other = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-2.0, 2.0))
""", [], ["several", "game", "other"]),
    ("game-and-factory", TWO_PLAYER_COSTS + """
game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0))

def make_game():
    return game
""", [], ["several", "make_game"]),
    ("param-not-accepted", FACTORY, ["--param", "mu=2"], ["does not accept", "mu"]),
    ("param-malformed", FACTORY, ["--param", "lam"], ["KEY=VALUE", "lam"]),
    ("param-for-plain-game", _game_with(), ["--param", "lam=1"], ["factory"]),
    ("factory-returns-non-game", "def make_game():\n    return 42\n", [],
     ["not an sgn.Game", "int"]),
    ("factory-raises", "def make_game(lam=1.0):\n    raise ValueError('lam too big')\n",
     ["--param", "lam=3"], ["lam too big"]),
    ("cost-not-scalar", _game_with(funcs="""
def f1(x1, x2):
    return x1 * x2

def f2(x1, x2):
    return 0.5 * x2 @ x2
"""), [], ["cost 1", "scalar"]),
    ("dims-disagree-with-costs", _game_with(dims="[2, 1]"), [], ["cost 1", "dims", "[2, 1]"]),
    ("costs-count-vs-dims", _game_with(dims="[1, 1, 1]"), [], ["2 costs", "3 dims"]),
    ("region-length", _game_with(region="sgn.Box([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])"), [],
     ["region", "3 coordinates", "2"]),
    ("cost-nan-inside-region", _game_with(funcs="""
def f1(x1, x2):
    return 0.5 * x1 @ x1 + 0.1 * jnp.sum(jnp.log(x1 + 0.5)) + 0.1 * x1 @ x2

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x1 @ x2
"""), [], ["not finite"]),
    ("cost-nan-at-centre", _game_with(funcs="""
def f1(x1, x2):
    return 0.5 * x1 @ x1 + jnp.sum(jnp.log(x1))

def f2(x1, x2):
    return 0.5 * x2 @ x2
"""), [], ["not finite", "centre"]),
    # Infinite gradient on part of the region, nonlinear game (sampled bounds).
    ("gradient-inf-sampled", _game_with(funcs="""
def f1(x1, x2):
    return (0.5 * x1 @ x1 + 0.1 * jnp.sum(jnp.sin(x1)) + 0.1 * x1 @ x2
            + jnp.sum(jnp.where(x1 > 0.5, jnp.inf, 0.0) * x1))

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x1 @ x2
"""), [], ["not finite"]),
    # Infinite gradient (finite cost) on part of the region via a custom derivative; the
    # Jacobian as traced is constant, so only the exact path sees this game.
    ("gradient-inf-constant-jacobian", """
import jax

@jax.custom_jvp
def kink(x):
    return x

@kink.defjvp
def _kink_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return x, jnp.where(x > 0.5, jnp.inf, 1.0) * t

def f1(x1, x2):
    return 0.5 * x1 @ x1 + jnp.sum(kink(x1)) + 0.1 * x1 @ x2

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x1 @ x2

game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="inf-grad")
""", [], ["not finite"]),
    # The same as a vector field: F_1 = +inf wherever x_1 > 0.5.
    ("field-inf-constant-jacobian", """
def field(x1, x2):
    return (x1 + 0.1 * x2 + jnp.where(x1 > 0.5, jnp.inf, 0.0), x2 + 0.1 * x1)

game = sgn.Game.from_field(field, dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="inf-field")
""", [], ["not finite"]),
    ("box-inverted", _game_with(region="sgn.Box(1.0, -1.0)"), [], ["empty", "low > high"]),
    ("box-inverted-one-coordinate", _game_with(region="sgn.Box([-1.0, 2.0], [1.0, 1.0])"), [],
     ["empty", "coordinate 1"]),
    ("box-unbounded", _game_with(region="sgn.Box(-jnp.inf, 1.0)"), [], ["unbounded"]),
    ("box-nan", _game_with(region="sgn.Box(jnp.nan, 1.0)"), [], ["NaN"]),
    ("region-not-a-box", _game_with(region="(-1.0, 1.0)"), [], ["sgn.Box"]),
    ("dims-empty", _game_with(dims="[]"), [], ["dims"]),
]


# --- bad input: exit 2 and one clear line -------------------------------------------------------

def test_missing_file(run_cli, tmp_path):
    result = run_cli("certify", tmp_path / "no_such_game.py", "--samples", SAMPLES)
    assert_bad_input(result, "does not exist", "no_such_game.py")


def test_directory_as_game_file(run_cli, tmp_path):
    result = run_cli("certify", tmp_path, "--samples", SAMPLES)
    assert_bad_input(result, "does not exist")


@pytest.mark.parametrize("body, extra, words", [c[1:] for c in BAD_FILES],
                         ids=[c[0] for c in BAD_FILES])
def test_bad_game_file(run_cli, game_file, body, extra, words):
    path = game_file(body)
    result = run_cli("certify", path, "--samples", SAMPLES, *extra)
    assert_bad_input(result, *words)


def test_unknown_name(run_cli, game_file):
    path = game_file(SEVERAL)
    result = run_cli("certify", f"{path}:nope_not_here", "--samples", SAMPLES)
    assert_bad_input(result, "nope_not_here")


def test_name_that_is_not_a_game(run_cli, game_file):
    path = game_file(SEVERAL + "\nanswer = 42\n")
    result = run_cli("certify", f"{path}:answer", "--samples", SAMPLES)
    assert_bad_input(result, "answer", "sgn.Game")


def test_bad_game_with_out_writes_nothing(run_cli, game_file, tmp_path):
    path = game_file(_game_with(region="sgn.Box(1.0, -1.0)"))
    out = tmp_path / "cert.json"
    result = run_cli("certify", path, "--samples", SAMPLES, "--out", out)
    assert_bad_input(result, "empty")
    assert not out.exists()
    assert tmp_leftovers(tmp_path) == []


def test_bad_game_leaves_existing_out_untouched(run_cli, game_file, tmp_path):
    path = game_file("raise RuntimeError('nope')\n")
    out = tmp_path / "cert.json"
    out.write_text("previous certificate\n")
    result = run_cli("certify", path, "--samples", SAMPLES, "--out", out)
    assert_bad_input(result, "does not import")
    assert out.read_text() == "previous certificate\n"
    assert tmp_leftovers(tmp_path) == []


def test_out_into_missing_folder(run_cli, mini_toy, tmp_path):
    out = tmp_path / "no_such_folder" / "cert.json"
    result = run_cli("certify", mini_toy, "--samples", SAMPLES, "--out", out)
    assert_bad_input(result, "does not exist", "no_such_folder")
    assert not out.parent.exists()


def test_out_is_existing_directory(run_cli, mini_toy, tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    result = run_cli("certify", mini_toy, "--samples", SAMPLES, "--out", folder)
    assert result.exit_code == 2
    assert "Traceback" not in result.stdout + result.stderr
    # The contract: one clear 'error:' line naming the problem, like every other bad input.
    assert_bad_input(result, "a_folder")
    assert any(w in result.stderr.lower() for w in ("folder", "directory")), result.stderr
    assert list(folder.iterdir()) == []


def test_out_write_failure_is_atomic(run_cli, mini_toy, tmp_path, monkeypatch):
    """A failure while writing leaves the old file intact and no temporary file behind."""
    out = tmp_path / "cert.json"
    out.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sgn._io.os, "replace", broken_replace)
    result = run_cli("certify", mini_toy, "--samples", SAMPLES, "--out", out)
    monkeypatch.undo()
    assert_bad_input(result, "cannot write", "cert.json")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cert.json", mini_toy.name])


@pytest.mark.parametrize("args, words", [
    (["--samples", "0"], ["--samples"]),
    (["--samples", "-5"], ["--samples"]),
    (["--samples", "many"], ["--samples"]),
    (["--format", "xml"], ["--format", "xml"]),
    (["--seed", "abc"], ["--seed"]),
    (["--seed", "-1"], ["--seed"]),
    (["--no-such-option"], ["--no-such-option"]),
], ids=["samples-0", "samples-negative", "samples-text", "format-xml", "seed-text",
        "seed-negative", "unknown"])
def test_usage_errors(run_cli, mini_toy, args, words):
    result = run_cli("certify", mini_toy, *args)
    assert_usage_error(result, *words)
    assert result.stdout == ""


def test_missing_game_argument(run_cli):
    assert_usage_error(run_cli("certify"), "GAME_FILE")


def test_internal_error_is_exit_3_without_traceback(run_cli, mini_toy, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.delenv("SGN_DEBUG", raising=False)
    monkeypatch.setattr(sgn._certify, "certify", boom)
    result = run_cli("certify", mini_toy, "--samples", SAMPLES)
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    err = result.stderr.strip()
    assert err.startswith("internal error:") and "\n" not in err, err
    assert "RuntimeError" in err and "simulated bug" in err


# --- good paths: the scalar toy (docs/method.md, "Reference games") ------------------------------

def test_scalar_toy_json(run_cli, scalar_toy):
    result, data = certify_json(run_cli, scalar_toy)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert data["schema_version"] == 3
    assert data["status"] == "certified"
    assert data["reasons"] == []
    assert data["weights"][0] == 1
    assert data["weights"][1] == pytest.approx(200, rel=1e-6)
    assert data["margin"] == pytest.approx(1 - math.sqrt(0.5), abs=1e-5)
    assert data["margin"] == pytest.approx(0.292893, abs=1e-5)
    assert data["bounds"]["euclidean_margin"] == pytest.approx(-4.025, abs=1e-5)
    assert data["bounds"]["lipschitz"] == pytest.approx(1.707107, abs=1e-5)
    assert data["band"]["low"] == pytest.approx(34.3146, abs=1e-4)
    assert data["band"]["high"] == pytest.approx(1165.6854, abs=1e-4)
    # the direct step is the true threshold 2/(1 + sqrt 0.5); SGN's 2 alpha/beta^2 beside it
    assert data["step_sizes"]["euler_max"] == pytest.approx(2 / (1 + math.sqrt(0.5)), abs=1e-8)
    assert data["step_sizes"]["euler_bound"] == "direct"
    assert data["step_sizes"]["alpha_beta"]["euler_max"] == pytest.approx(0.201010, abs=1e-5)
    assert data["game"]["name"] == "scalar-toy"
    assert [p["dim"] for p in data["game"]["players"]] == [1, 1]


def test_scalar_toy_text(run_cli, scalar_toy):
    result = run_cli("certify", scalar_toy, "--samples", SAMPLES)
    assert result.exit_code == 0, result.stderr
    assert "CERTIFIED" in result.stdout
    assert "NOT CERTIFIED" not in result.stdout
    assert "scalar-toy" in result.stdout
    assert result.stderr == ""


def test_text_is_the_default_format(run_cli, mini_toy):
    default = run_cli("certify", mini_toy, "--samples", SAMPLES)
    text = run_cli("certify", mini_toy, "--samples", SAMPLES, "--format", "text")
    assert default.exit_code == text.exit_code == 0
    assert default.stdout == text.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(default.stdout)


def test_out_writes_same_json(run_cli, scalar_toy, tmp_path):
    out = tmp_path / "cert.json"
    result, data = certify_json(run_cli, scalar_toy, "--out", out)
    assert result.exit_code == 0
    assert out.is_file()
    assert json.loads(out.read_text()) == data
    assert out.read_text().strip() == result.stdout.strip()
    assert tmp_leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.json"]


def test_out_overwrites_existing_file(run_cli, mini_toy, tmp_path):
    out = tmp_path / "cert.json"
    out.write_text("stale\n")
    result = run_cli("certify", mini_toy, "--samples", SAMPLES, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["status"] == "certified"
    assert tmp_leftovers(tmp_path) == []


def test_out_relative_path_in_cwd(run_cli, mini_toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("certify", mini_toy, "--samples", SAMPLES, "--out", "here.json")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "here.json").read_text())["status"] == "certified"
    assert tmp_leftovers(tmp_path) == []


def test_out_with_text_format_still_writes_json(run_cli, mini_toy, tmp_path):
    out = tmp_path / "cert.json"
    result = run_cli("certify", mini_toy, "--samples", SAMPLES, "--out", out)
    assert result.exit_code == 0
    assert "CERTIFIED" in result.stdout
    assert json.loads(out.read_text())["game"]["name"] == "mini-toy"


# --- good paths: not certified ------------------------------------------------------------------

def test_not_certifiable_small_gain(run_cli, game_file, tmp_path):
    path = game_file(NOT_CERTIFIABLE)
    out = tmp_path / "cert.json"
    result, data = certify_json(run_cli, path, "--out", out)
    assert result.exit_code == 1, result.stderr
    assert data["status"] == "not_certified"
    assert data["reasons"], data
    assert any("rho" in r for r in data["reasons"]), data["reasons"]
    assert data["diagnostics"]["spectral_radius"] == pytest.approx(3.0, rel=1e-6)
    assert data["step_sizes"] is None
    # The certificate is still written on exit 1.
    assert json.loads(out.read_text()) == data
    assert tmp_leftovers(tmp_path) == []


def test_not_certifiable_text(run_cli, game_file):
    path = game_file(NOT_CERTIFIABLE)
    result = run_cli("certify", path, "--samples", SAMPLES)
    assert result.exit_code == 1
    assert "NOT CERTIFIED" in result.stdout
    assert "rho" in result.stdout
    assert result.stderr == ""


def test_zero_curvature_names_curvature(run_cli, game_file):
    path = game_file(ZERO_CURVATURE)
    result, data = certify_json(run_cli, path)
    assert result.exit_code == 1, result.stderr
    assert data["status"] == "not_certified"
    assert any("curvature" in r or "mu <= 0" in r for r in data["reasons"]), data["reasons"]


# --- make_game, --param and FILE:NAME -----------------------------------------------------------

def test_make_game_param_float(run_cli, game_file):
    path = game_file(FACTORY)
    result, data = certify_json(run_cli, path, "--param", "lam=0.5")
    assert result.exit_code == 0, result.stderr
    assert data["game"]["name"] == "factory|float|0.5"
    assert data["margin"] == pytest.approx(1 - 0.5 / math.sqrt(2), abs=1e-6)


def test_make_game_param_int_and_string(run_cli, game_file):
    path = game_file(FACTORY)
    result, data = certify_json(run_cli, path, "--param", "lam=1", "--param", "label=abc")
    assert result.exit_code == 0, result.stderr
    assert data["game"]["name"] == "abc|int|1"
    assert data["margin"] == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)


def test_make_game_defaults_without_param(run_cli, game_file):
    path = game_file(FACTORY)
    result, data = certify_json(run_cli, path)
    assert result.exit_code == 0, result.stderr
    assert data["game"]["name"] == "factory|float|1.0"


def test_make_game_param_beyond_sqrt2_not_certified(run_cli, game_file):
    path = game_file(FACTORY)
    result, data = certify_json(run_cli, path, "--param", "lam=1.5")
    assert result.exit_code == 1, result.stderr
    assert data["status"] == "not_certified"


def test_name_picks_among_several(run_cli, game_file):
    path = game_file(SEVERAL)
    result_a, data_a = certify_json(run_cli, f"{path}:game_a")
    result_b, data_b = certify_json(run_cli, f"{path}:game_b")
    assert (result_a.exit_code, data_a["game"]["name"], data_a["status"]) == (
        0, "game-a", "certified")
    assert (result_b.exit_code, data_b["game"]["name"], data_b["status"]) == (
        1, "game-b", "not_certified")


def test_name_picks_factory_among_several(run_cli, game_file):
    path = game_file(FACTORY + "\ngame = make_game(0.25, 'plain')\n")
    # Without NAME this file is ambiguous ...
    assert_bad_input(run_cli("certify", path, "--samples", SAMPLES), "several")
    # ... with NAME each one is reachable.
    result, data = certify_json(run_cli, f"{path}:make_game", "--param", "lam=0.5")
    assert data["game"]["name"] == "factory|float|0.5"
    result, data = certify_json(run_cli, f"{path}:game")
    assert data["game"]["name"] == "plain|float|0.25"


# --- sampling: seeds ----------------------------------------------------------------------------

def test_same_seed_same_certificate(run_cli, game_file):
    path = game_file(TANH_GAME)
    args = ("certify", path, "--samples", "128", "--seed", "7", "--format", "json")
    first, second = run_cli(*args), run_cli(*args)
    assert first.exit_code == second.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert data["estimator"]["method"] == "sampled"
    assert data["estimator"]["seed"] == 7
    assert data["estimator"]["samples"] == 128
    assert data["verified"] is False


def test_different_seed_valid_certificate(run_cli, game_file):
    path = game_file(TANH_GAME)
    result = run_cli("certify", path, "--samples", "128", "--seed", "8", "--format", "json")
    assert result.exit_code == 0, result.stderr
    cert = Certificate.from_json(result.stdout)
    assert cert.certified
    assert cert.estimator["seed"] == 8
    assert cert.weights[0] == 1
    assert cert.margin > 0
    assert cert.bounds["curvature"] == pytest.approx([1.0, 1.0], abs=1e-6)
    assert cert.bounds["coupling"][0][1] == pytest.approx(3.0, rel=1e-3)


# --- the certificate JSON round trip ------------------------------------------------------------

@pytest.fixture
def toy_json(mini_toy_json):
    return mini_toy_json


def test_round_trip(toy_json):
    cert = Certificate.from_json(toy_json)
    assert cert.to_json() == toy_json.strip()
    assert cert.to_dict() == json.loads(toy_json)
    assert Certificate.from_json(cert.to_json()) == cert
    assert cert.status is sgn.Status.CERTIFIED


def test_round_trip_not_certified(run_cli, game_file):
    path = game_file(NOT_CERTIFIABLE)
    result, data = certify_json(run_cli, path)
    cert = Certificate.from_json(result.stdout)
    assert cert.to_dict() == data
    assert not cert.certified


@pytest.mark.parametrize("mangle", [
    lambda text: text[: len(text) // 2],
    lambda text: "not json at all",
    lambda text: "[1, 2, 3]",
    lambda text: json.dumps({**json.loads(text), "schema_version": 4}),
    # version 1 has the seven step keys only: version 2's are refused there
    lambda text: json.dumps({**json.loads(text), "schema_version": 1}),
    lambda text: json.dumps({**json.loads(text), "schema_version": "1"}),
    lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "schema_version"}),
    lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "margin"}),
    lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "bounds"}),
    lambda text: json.dumps({**json.loads(text), "status": "maybe"}),
    lambda text: json.dumps({**json.loads(text), "weights": [1.0]}),
], ids=["truncated", "not-json", "not-object", "schema-4", "schema-1-v2-keys", "schema-string",
        "no-schema",
        "missing-margin", "missing-bounds", "bad-status", "wrong-weights-size"])
def test_from_json_refuses_bad_certificates(toy_json, mangle):
    with pytest.raises(CertificateFormatError):
        Certificate.from_json(mangle(toy_json))


# --- stderr is quiet ----------------------------------------------------------------------------

def test_quiet_and_non_tty_stderr_empty(run_cli, mini_toy):
    quiet = run_cli("certify", mini_toy, "--samples", SAMPLES, "--quiet")
    loud = run_cli("certify", mini_toy, "--samples", SAMPLES)  # CliRunner's stderr is no tty
    assert quiet.exit_code == loud.exit_code == 0
    assert quiet.stderr == "" and loud.stderr == ""
    assert quiet.stdout == loud.stdout


# --- the real console script in a subprocess ----------------------------------------------------

def _run_exe(sgn_exe, *args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "SGN_DEBUG"}
    return subprocess.run([sgn_exe, *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)


def test_subprocess_certified_json(sgn_exe, scalar_toy, tmp_path):
    out = tmp_path / "cert.json"
    proc = _run_exe(sgn_exe, "certify", scalar_toy, "--samples", SAMPLES, "--format", "json",
                    "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    data = json.loads(proc.stdout)
    assert data["status"] == "certified"
    assert json.loads(out.read_text()) == data
    assert tmp_leftovers(tmp_path) == []


def test_subprocess_bad_inputs_no_traceback(sgn_exe, tmp_path):
    """Several bad inputs through the real entry point: exit 2, one 'error:' line each."""
    cases = {
        "import_error.py": ("import no_such_module_for_sgn_tests\n", "no_such_module"),
        "nan_inside.py": (
            "import jax.numpy as jnp\nimport sgn\n" + _game_with(funcs="""
def f1(x1, x2):
    return 0.5 * x1 @ x1 + 0.1 * jnp.sum(jnp.log(x1 + 0.5)) + 0.1 * x1 @ x2

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x1 @ x2
"""), "not finite"),
    }
    for name, (body, _) in cases.items():
        (tmp_path / name).write_text(body)
    # Each process pays for importing JAX: keep this list short.
    targets = [(tmp_path / name, word) for name, (_, word) in cases.items()]
    for target, word in targets:
        proc = _run_exe(sgn_exe, "certify", target, "--samples", SAMPLES)
        assert "Traceback" not in proc.stdout + proc.stderr, (target, proc.stderr)
        assert proc.returncode == 2, (target, proc.returncode, proc.stderr)
        err = proc.stderr.strip()
        assert err.startswith("error:") and "\n" not in err, (target, err)
        assert word.lower() in err.lower(), (target, err)
        assert proc.stdout == ""


def test_subprocess_ctrl_c_exits_130_and_writes_nothing(sgn_exe, tmp_path):
    """Ctrl-C is neither "not certified" (1) nor a traceback: exit 130, no --out file."""
    marker = tmp_path / "tracing"
    game = tmp_path / "slow.py"
    game.write_text("import pathlib, time\nimport jax.numpy as jnp\nimport sgn\n" + _game_with(
        funcs=f"""
def f1(x1, x2):
    pathlib.Path({str(marker)!r}).touch()   # the run has started certifying
    time.sleep(60)                           # while JAX traces the cost
    return 0.5 * x1 @ x1 + 0.1 * x1 @ x2

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x1 @ x2
"""))
    out = tmp_path / "cert.json"
    env = {k: v for k, v in os.environ.items() if k != "SGN_DEBUG"}
    # A shell's background job (`pytest ... &`) inherits SIGINT ignored, which exec passes on,
    # and Python then never raises KeyboardInterrupt. A handled signal is reset to the default
    # by exec: handle it here while the child starts (no preexec_fn: forking JAX's threads).
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sgn_exe, "certify", str(game), "--out", str(out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, before)
    try:
        for _ in range(1200):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), "the run never reached the game's cost"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr
    assert "interrupted" in stderr
    assert stdout == ""
    assert not out.exists() and tmp_leftovers(tmp_path) == []
