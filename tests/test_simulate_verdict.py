"""`sgn simulate`'s vocabulary (docs/simulate.md): a promise is kept or broken; a run outside
the certificate is only converged, diverged or undecided, never kept; exit codes 0 / 1 / 4.

Issue 12, item 5: a step the certificate does not cover used to be reported "kept" with exit 0
while the iterates diverged, and the Markov path said "no promise" for the same case. Observed
numbers are checked against dense eigen-solves of the linear maps done here in numpy: the Euler
map I - h J, and RK4's amplification R(-h lambda) on J's eigenvalues.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import sgn
import sgn._certify

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: the scalar toy's constant Jacobian (docs/method.md, reference games)
TOY_J = np.array([[1.0, 10.0], [0.05, 1.0]])

#: too_coupled.py's constant Jacobian: eigenvalues 4 and -2
COUPLED_J = np.array([[1.0, 3.0], [3.0, 1.0]])

OBSERVATIONS = {"converged", "diverged", "undecided"}


def cournot_jacobian(firms: int) -> np.ndarray:
    """examples/cournot.py with slope b = 1 and scale s = 1: own curvature 2b + s, every
    coupling b (its docstring), written out here."""
    return 2.0 * np.eye(firms) + np.ones((firms, firms))


def spectral_radius(A) -> float:
    return float(max(abs(np.linalg.eigvals(A))))


def rk4_amplification(z):
    """RK4's stability polynomial for y' = -lambda y at z = h lambda."""
    return 1.0 - z + z**2 / 2.0 - z**3 / 6.0 + z**4 / 24.0


def simulate_json(run_cli, *args):
    result = run_cli("simulate", *args, "--format", "json", "-q")
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result, json.loads(result.stdout)


def simulate_text(run_cli, *args):
    result = run_cli("simulate", *args, "-q")
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def coordination():
    game = sgn.load_game(EXAMPLES / "markov_coordination.py")
    cert = sgn.certify(game)
    assert cert.certified, cert.reasons
    return game, cert


# --- (a) a step above the certified bound whose iterates diverge ---------------------------------

def test_constrained_step_above_bound_diverges_and_is_never_kept(run_cli):
    """The issue's case: a constrained game (projected Euler cannot leave the box, so nothing
    was flagged) at a step far above euler_max. It used to say "kept" and exit 0."""
    firms, h = 3, 0.5
    result, data = simulate_json(run_cli, EXAMPLES / "cournot.py", "--param", f"firms={firms}",
                                 "--method", "euler", "--step", h, "--starts", 8,
                                 "--steps", 200)
    assert result.exit_code == 4, (result.exit_code, result.stderr)
    cert = data["certificate"]
    assert cert["status"] == "certified" and h > cert["step_sizes"]["euler_max"]
    # Independent: I - h J has an eigenvalue of modulus 1.5 > 1 and x* is interior, where the
    # projected map is that linear map: x* repels, projected Euler cannot converge to it.
    assert spectral_radius(np.eye(firms) - h * cournot_jacobian(firms)) == pytest.approx(1.5)
    x_star = np.asarray(cert["equilibrium"]["x"])
    assert ((x_star > 1e-6) & (x_star < 2.0 - 1e-6)).all()
    (run,) = data["simulation"]["runs"]
    assert run["verdict"]["name"] == "diverged", run["verdict"]
    assert run["promise"] == {**run["promise"], "applies": False, "name": "step_above_bound"}
    assert run["certified_factor"] is None and run["violations"] == []
    assert run["observed_factor"] > 1.0
    assert data["ok"] is False
    assert data["outcome"]["name"] == "no_promise" and data["outcome"]["exit_code"] == 4
    text = simulate_text(run_cli, EXAMPLES / "cournot.py", "--param", f"firms={firms}",
                         "--method", "euler", "--step", h, "--starts", 8)
    assert text.exit_code == 4
    assert "kept" not in text.stdout.lower()
    assert "diverged (no promise)" in text.stdout
    # the direct certificate's largest step is the true threshold 2/5 (issue 13; SGN's 0.16)
    assert "outside the certified euler range h <= 0.4" in text.stdout


def test_unconstrained_step_above_bound_matches_the_euler_maps_spectral_radius(toy):
    """Above euler_max the toy diverges at h = 1.5: only observed. At h = 1.0, once above
    SGN's 2 alpha / beta^2 = 0.201, the direct certificate now promises the factor the run
    shows (issue 13). The toy is M-normal, so each step's ratio in M(w) is at most the
    spectral radius of I - h J, and approaches it."""
    game, cert = toy
    assert cert.step_sizes["alpha_beta"]["euler_max"] < 1.0 < cert.step_sizes["euler_max"] < 1.5
    for h, expected in ((1.5, "diverged"), (1.0, "converged")):
        radius = spectral_radius(np.eye(2) - h * TOY_J)
        assert (radius > 1.0) == (expected == "diverged")
        sim = sgn.simulate(game, cert, methods=("euler",), step=h, starts=8, steps=60)
        (run,) = sim.runs
        assert run.observed.value == expected
        if expected == "diverged":
            assert run.verdict.value == expected
            assert run.promise.value == "step_above_bound" and not run.promise.applies
            assert not run.ok and not sim.ok and sim.outcome.value == "no_promise"
        else:
            assert run.promise.applies and run.ok and run.verdict.value == "kept"
            assert run.certified_factor == pytest.approx(radius, rel=1e-6)
        assert run.violations == []
        finite = run.distances[np.isfinite(run.distances).all(axis=1)]
        ratios = finite[1:] / finite[:-1]
        assert ratios.max() <= radius * (1 + 1e-9)
        assert ratios[-1].max() == pytest.approx(radius, rel=1e-6)
    assert run.final_ratio < 1e-3   # h = 1.0: 0.7071^60


# --- (b) a step within the certified bound -------------------------------------------------------

def test_steps_within_the_bound_are_kept(run_cli, toy):
    game, cert = toy
    steps = cert.step_sizes
    h_euler, h_rk4 = 0.5 * steps["euler_max"], 0.5 * steps["rk4_proven"]
    for method, h in (("euler", h_euler), ("rk4", h_rk4), ("flow", 1.0)):
        result, data = simulate_json(run_cli, EXAMPLES / "scalar_toy.py", "--method", method,
                                     "--step", h, "--starts", 8, "--steps", 50)
        assert result.exit_code == 0, (method, result.stdout[-2000:])
        assert data["ok"] is True and data["outcome"]["name"] == "kept"
        (run,) = data["simulation"]["runs"]
        assert run["verdict"]["name"] == "kept", (method, run["verdict"])
        assert run["promise"]["applies"] is True and run["promise"]["name"] == "contraction"
        assert run["observed_factor"] <= run["certified_factor"] + 1e-9
        assert run["observed"] in OBSERVATIONS
    # The promised Euler factor against an independent norm of the step map in M(w).
    root = np.sqrt(np.asarray(cert.weights))
    A = root[:, None] * TOY_J / root[None, :]
    (run,) = sgn.simulate(game, cert, methods=("euler",), step=h_euler, starts=8,
                          steps=50).runs
    assert run.observed_factor <= np.linalg.norm(np.eye(2) - h_euler * A, 2) + 1e-12
    assert run.ok and run.verdict is sgn.Verdict.KEPT


def test_default_run_on_a_constrained_game_is_kept(run_cli):
    result = simulate_text(run_cli, EXAMPLES / "cournot.py", "--param", "firms=3", "--starts", 8,
                           "--steps", 50)
    assert result.exit_code == 0, result.stdout
    assert "no promise" not in result.stdout and "BROKEN" not in result.stdout
    assert "outcome: KEPT" in result.stdout


# --- (c) a game that is not certified ------------------------------------------------------------

def test_not_certified_game_is_simulated_with_no_promise(run_cli):
    """too_coupled.py: J has the eigenvalue -2, so every method runs away along (1, -1): per
    step Euler by 1 + 2h, RK4 by R(-2h), the flow by exp(2h)."""
    result, data = simulate_json(run_cli, EXAMPLES / "too_coupled.py", "--starts", 8,
                                 "--steps", 40)
    assert result.exit_code == 4, (result.exit_code, result.stderr)
    assert data["status"] == "not_certified" and data["ok"] is False
    assert data["outcome"]["name"] == "no_promise"
    sim = data["simulation"]
    assert (sim["basin"], sim["measure"], sim["equilibrium"]) == ("region", "residual", None)
    beta = data["certificate"]["bounds"]["lipschitz"]
    lam = np.linalg.eigvalsh(COUPLED_J)
    runs = {run["method"]: run for run in sim["runs"]}
    assert sorted(runs) == ["euler", "flow", "rk4"]
    for method, run in runs.items():
        assert run["step"] == pytest.approx(1.0 / beta)
        assert run["promise"]["applies"] is False and run["promise"]["name"] == "not_certified"
        assert run["verdict"]["name"] == "diverged", (method, run["verdict"])
        assert run["certified_factor"] is None and run["violations"] == []
    h = runs["euler"]["step"]
    # F is linear with symmetric J: the residual grows by at most, and tends to, the largest
    # amplification over J's eigenvalues.
    assert runs["euler"]["observed_factor"] == pytest.approx(
        max(abs(1.0 - h * lam)), rel=1e-9)
    assert runs["rk4"]["observed_factor"] == pytest.approx(
        max(abs(rk4_amplification(h * lam))), rel=1e-9)
    assert runs["flow"]["observed_factor"] == pytest.approx(math.exp(2.0 * h), rel=1e-9)
    text = simulate_text(run_cli, EXAMPLES / "too_coupled.py", "--starts", 8, "--steps", 40)
    assert text.exit_code == 4
    assert "NOT CERTIFIED" in text.stdout
    assert "not certified: no basin, nothing promised" in text.stdout
    assert text.stdout.count("diverged (no promise)") == 3
    assert "kept" not in text.stdout.lower()


def test_not_certified_game_through_the_api():
    game = sgn.load_game(EXAMPLES / "too_coupled.py")
    cert = sgn.certify(game)
    sim = sgn.simulate(game, cert, methods=("euler",), step=0.1, starts=4, steps=30)
    (run,) = sim.runs
    assert run.verdict.value == "diverged" and run.promise.value == "not_certified"
    assert run.observed_factor == pytest.approx(1.2, rel=1e-9)     # 1 + 2h
    assert run.left_region == 4 and not sim.ok


# --- (d) the Markov path: the same vocabulary for the same cases ---------------------------------

def _linearised_npg_radius(game, x_star, h) -> float:
    """Spectral radius of x -> x - h N(x) linearised at x*, N's Jacobian by central differences
    (numpy, not sgn's simulation)."""
    field = lambda x: np.asarray(game.pseudo_gradient(jnp.asarray(x)))  # noqa: E731
    eps = 1e-6
    D = np.column_stack([(field(x_star + eps * e) - field(x_star - eps * e)) / (2 * eps)
                         for e in np.eye(x_star.size)])
    return spectral_radius(np.eye(x_star.size) - h * D)


def test_markov_npg_uses_the_same_vocabulary(coordination, toy):
    from sgn._npg import simulate_policies
    from sgn._summary import summarize_policy_simulation

    game, cert = coordination
    x_star = np.asarray(cert.equilibrium["x"])
    h_rec, h_max = cert.step_sizes["euler_recommended"], cert.step_sizes["euler_max"]
    # Inside the certificate: kept.
    sim = simulate_policies(game, cert, starts=4, steps=60)
    npg, pg = sim.runs
    assert (npg.method, pg.method) == ("npg", "pg")
    assert npg.verdict.value == "kept" and npg.promise.value == "contraction" and npg.ok
    assert pg.promise.value == "method_not_proved" and pg.verdict.value in OBSERVATIONS
    assert not pg.ok
    assert sim.ok and sim.outcome.value == "kept"   # PG is for comparison only
    assert _linearised_npg_radius(game, x_star, h_rec) < 1.0
    # Outside: 8 times the recommended step, above euler_max, where NPG diverges.
    h = 8.0 * h_rec
    assert h > h_max and _linearised_npg_radius(game, x_star, h) > 1.0
    sim = simulate_policies(game, cert, step=h, starts=4, steps=60)
    npg = sim.runs[0]
    assert npg.verdict.value == "diverged" and npg.promise.value == "step_above_bound"
    assert npg.certified_rate is None and not npg.ok
    assert sim.outcome.value == "no_promise" and not sim.ok
    text = summarize_policy_simulation(sim)
    assert "diverged (no promise)" in text and "kept" not in text.lower()
    # The same case on the Euclidean path speaks the same words, in the same JSON shape.
    (run,) = sgn.simulate(toy[0], toy[1], methods=("euler",), step=1.5, starts=4,
                          steps=30).runs
    markov, euclidean = npg.to_dict(), run.to_dict()
    assert markov["verdict"] == euclidean["verdict"] == {
        "name": "diverged", "message": sgn.Verdict.DIVERGED.message}
    assert markov["observed"] == euclidean["observed"] == "diverged"
    assert set(markov["promise"]) == set(euclidean["promise"]) == {
        "applies", "name", "message", "detail"}
    for key in ("applies", "name", "message"):
        assert markov["promise"][key] == euclidean["promise"][key], key


def test_markov_cli_exit_code_outside_the_certificate(coordination, run_cli, monkeypatch):
    game, cert = coordination
    monkeypatch.setattr(sgn._certify, "certify", lambda *args, **kwargs: cert)
    h = 8.0 * cert.step_sizes["euler_recommended"]
    result, data = simulate_json(run_cli, EXAMPLES / "markov_coordination.py", "--step", h,
                                 "--starts", 4, "--steps", 40)
    assert result.exit_code == 4, (result.exit_code, result.stderr)
    npg = data["simulation"]["runs"][0]
    assert npg["verdict"]["name"] == "diverged" and npg["promise"]["applies"] is False
    assert data["outcome"] == {**data["outcome"], "name": "no_promise", "exit_code": 4}
    assert data["step_sweep"] is not None


# --- a broken promise: its own exit code ---------------------------------------------------------

def test_broken_promise_exits_1(run_cli, toy, monkeypatch):
    """A certificate that claims too much (alpha 0.6 where the truth is 0.2929): the simulation
    breaks its promise, and only that exits 1."""
    game, cert = toy
    data = json.loads(cert.to_json())
    steps = sgn.step_sizes(0.6, data["bounds"]["lipschitz"]).to_dict()
    data.update(margin=0.6, step_sizes=steps,
                rates={"flow": 0.6, "euler": steps["euler_factor"], "rk4": steps["rk4_factor"]})
    bad = sgn.Certificate.from_dict(data)
    monkeypatch.setattr(sgn._certify, "certify", lambda *args, **kwargs: bad)
    result, out = simulate_json(run_cli, EXAMPLES / "scalar_toy.py", "--method", "euler",
                                "--starts", 8, "--steps", 50)
    assert result.exit_code == 1, result.stderr
    assert out["outcome"]["name"] == "broken" and out["ok"] is False
    (run,) = out["simulation"]["runs"]
    assert run["verdict"]["name"] == "broken" and run["promise"]["applies"] is True
    assert run["violations"]
    text = simulate_text(run_cli, EXAMPLES / "scalar_toy.py", "--method", "euler", "--starts", 8,
                         "--steps", 50)
    assert text.exit_code == 1 and "BROKEN" in text.stdout


# --- the vocabulary itself -----------------------------------------------------------------------

def test_observe_reads_a_measure_as_documented():
    from sgn._verdict import observe

    k = np.arange(101)[:, None]
    assert observe(0.9 ** k * np.ones((1, 3))).value == "converged"
    assert observe(0.99 ** k * np.ones((1, 3))).value == "undecided"     # 0.37: still falling
    assert observe(1.01 ** k * np.ones((1, 3))).value == "diverged"
    cycle = np.where(k % 2 == 0, 1.0, 0.5) * np.ones((1, 2))
    assert observe(cycle).value == "diverged"                          # stalled on a cycle
    mixed = np.hstack([0.9 ** k, np.ones_like(k, dtype=float)])
    assert observe(mixed).value == "diverged"                          # one start stalls
    assert observe(np.vstack([np.ones((50, 2)), np.full((51, 2), np.inf)])).value == "diverged"
    # a squared measure uses the squared factor: V fell 1e-5 < 1e-6 needed
    assert observe(np.linspace(1.0, 1e-5, 101)[:, None], 1e-6).value == "undecided"


def test_vocabulary_names_messages_and_help(run_cli):
    assert {v.value for v in sgn.Verdict} == {"kept", "broken"} | OBSERVATIONS
    assert {v.value for v in sgn.Verdict if v.promised} == {"kept", "broken"}
    assert [p.value for p in sgn.Promise if p.applies] == ["contraction"]
    assert {o.value for o in sgn.Outcome} == {"kept", "broken", "no_promise"}
    for member in (*sgn.Verdict, *sgn.Promise, *sgn.Outcome):
        assert member.message and member.to_dict() == {"name": member.value,
                                                       "message": member.message}
    for word in ("converged", "diverged", "undecided"):
        assert sgn.Verdict(word).message.startswith("no promise")
    help_text = run_cli("simulate", "--help").stdout
    for line in ("0    every run was inside the certificate and kept its promise",
                 "1    a promise was broken", "4    some run was outside the certificate"):
        assert line in help_text, line
