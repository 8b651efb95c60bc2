"""Where the certified dynamics go, and whether they keep the certificate's promises.

find_equilibrium, basin and simulate (docs/method.md, sections 6 and 7) are checked against
computations made here independently: numpy.linalg.solve and scipy.optimize.root on
pseudo-gradients written out by hand in numpy, a projected-Euler loop in numpy for the
box-constrained variational inequality, closed-form basins, and trajectories replayed in numpy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import sgn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _cert_dict(cert) -> dict:
    return json.loads(cert.to_json())


def _m_norm(w_flat, x):
    return float(np.sqrt(np.sum(w_flat * np.asarray(x) ** 2)))


# --- games ---------------------------------------------------------------------------------------

# Quadratic game with linear terms: F(x) = A x + b, two players of dimension 2.
QUAD_A = np.array([
    [1.0, 0.0, 2.0, 0.5],
    [0.0, 1.5, -1.0, 1.0],
    [0.1, 0.0, 1.2, 0.0],
    [0.0, -0.05, 0.0, 1.0],
])
QUAD_B = np.array([-0.3, 0.4, 0.05, -0.02])


def _quad_game() -> sgn.Game:
    A, b = jnp.asarray(QUAD_A), jnp.asarray(QUAD_B)

    def f1(x1, x2):
        return 0.5 * x1 @ (A[:2, :2] @ x1) + x1 @ (A[:2, 2:] @ x2) + b[:2] @ x1

    def f2(x1, x2):
        return 0.5 * x2 @ (A[2:, 2:] @ x2) + x2 @ (A[2:, :2] @ x1) + b[2:] @ x2

    return sgn.Game(costs=[f1, f2], dims=[2, 2], region=sgn.Box(-1.0, 1.0), name="quad-linear")


# Nonlinear game with tanh couplings and an interior, off-centre equilibrium.
TANH_C2 = np.array([0.3, -0.2])


def _tanh_game() -> sgn.Game:
    c2 = jnp.asarray(TANH_C2)

    def f1(x1, x2):
        return (0.5 * x1 @ x1 + 2.0 * x1 @ jnp.tanh(x2) - 0.4 * jnp.sum(x1)
                + 0.1 * jnp.sum(jnp.log(jnp.cosh(x1))))

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + 0.1 * x2 @ jnp.tanh(x1) + c2 @ x2

    return sgn.Game(costs=[f1, f2], dims=[2, 2], region=sgn.Box(-1.5, 1.5), name="tanh")


def _tanh_field_numpy(x):
    """The tanh game's pseudo-gradient, differentiated by hand."""
    x1, x2 = x[:2], x[2:]
    F1 = x1 + 2.0 * np.tanh(x2) - 0.4 + 0.1 * np.tanh(x1)
    F2 = x2 + 0.1 * np.tanh(x1) + TANH_C2
    return np.concatenate([F1, F2])


def _tanh_jacobian_numpy(x):
    x1, x2 = x[:2], x[2:]
    s1, s2 = 1.0 / np.cosh(x1) ** 2, 1.0 / np.cosh(x2) ** 2
    J = np.zeros((4, 4))
    J[:2, :2] = np.diag(1.0 + 0.1 * s1)
    J[:2, 2:] = np.diag(2.0 * s2)
    J[2:, :2] = np.diag(0.1 * s1)
    J[2:, 2:] = np.eye(2)
    return J


def _outside_costs():
    # Player 1 wants x1 = 3: outside the box [-1, 1]; weak couplings, so it is certifiable.
    def f1(x1, x2):
        return 0.5 * (x1[0] - 3.0) ** 2 + 0.2 * x1 @ x2

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + 0.2 * x1 @ x2

    return [f1, f2]


# Constrained nonlinear game whose equilibrium has two coordinates on the box's boundary.
CONS_LOW = np.array([-1.0, -1.0, -1.0, -0.5])
CONS_HIGH = np.array([1.0, 1.0, 1.0, 0.5])


def _constrained_game() -> sgn.Game:
    def f1(x1, x2):
        return 0.5 * x1 @ x1 + 0.5 * x1 @ jnp.tanh(x2) - jnp.array([2.0, 0.3]) @ x1

    def f2(x1, x2):
        return (0.5 * x2 @ x2 + x2 @ jnp.sin(x1) + jnp.array([0.0, -3.0]) @ x2
                + 0.1 * jnp.sum(x2**4))

    return sgn.Game(costs=[f1, f2], dims=[2, 2], region=sgn.Box(CONS_LOW, CONS_HIGH),
                    name="constrained-boundary", constrained=True)


def _constrained_field_numpy(x):
    x1, x2 = x[:2], x[2:]
    F1 = x1 + 0.5 * np.tanh(x2) - np.array([2.0, 0.3])
    F2 = x2 + np.sin(x1) + np.array([0.0, -3.0]) + 0.4 * x2**3
    return np.concatenate([F1, F2])


def _toy_field_numpy(x):
    return np.array([x[0] + 10.0 * x[1], x[1] + 0.05 * x[0]])


TOY_J = np.array([[1.0, 10.0], [0.05, 1.0]])


# --- module fixtures: each game is compiled once ---------------------------------------------------

@pytest.fixture(scope="module")
def cascade():
    game = sgn.load_game(EXAMPLES / "cascade.py")
    cert = sgn.certify(game, samples=1024)
    assert cert.certified, cert.reasons
    return game, cert


@pytest.fixture(scope="module")
def quad():
    game = _quad_game()
    return game, sgn.certify(game, samples=64)


@pytest.fixture(scope="module")
def tanh_game():
    game = _tanh_game()
    return game, sgn.certify(game, samples=64)


@pytest.fixture(scope="module")
def constrained():
    game = _constrained_game()
    return game, sgn.certify(game, samples=64)


# --- find_equilibrium: interior equilibria ---------------------------------------------------------

def test_quadratic_equilibrium_matches_linear_solve(quad):
    game, cert = quad
    assert cert.certified, cert.reasons
    x_true = np.linalg.solve(QUAD_A, -QUAD_B)
    assert np.abs(x_true - game.region.centre).max() > 0.3  # off-centre, so the search works
    assert (np.abs(x_true) < 1.0).all()  # interior
    eq = cert.equilibrium
    assert eq["found"] is True
    assert eq["source"] == "found"
    assert eq["iterations"] >= 1
    x = np.asarray(eq["x"])
    np.testing.assert_allclose(x, x_true, rtol=0, atol=1e-8)
    # The residual is reported for the point found, and is tiny computed independently too.
    assert eq["residual"] <= 1e-9
    assert np.linalg.norm(QUAD_A @ x + QUAD_B) <= 1e-9
    assert eq["residual"] == pytest.approx(np.linalg.norm(QUAD_A @ x + QUAD_B), abs=1e-12)
    # The a-posteriori error bound is honest: at least the true error in M(w).
    w = np.repeat(cert.weights, game.dims)
    assert _m_norm(w, x - x_true) <= eq["error_bound"] + 1e-12


def test_find_equilibrium_api_agrees_with_certificate(quad):
    game, cert = quad
    found = sgn.find_equilibrium(game, cert.weights, cert.margin, cert.bounds["lipschitz"])
    assert isinstance(found, sgn.Equilibrium)
    assert found.found and found.source == "found"
    np.testing.assert_allclose(found.x, np.linalg.solve(QUAD_A, -QUAD_B), atol=1e-8)
    assert "found inside the region" in found.message


def test_tanh_equilibrium_matches_scipy_root(tanh_game):
    _, cert = tanh_game
    assert cert.certified, cert.reasons
    sol = scipy.optimize.root(_tanh_field_numpy, np.zeros(4), jac=_tanh_jacobian_numpy,
                              method="hybr", tol=1e-12)
    assert np.linalg.norm(_tanh_field_numpy(sol.x)) < 1e-13, sol.message
    assert np.abs(sol.x).max() > 0.5 and np.abs(sol.x).max() < 1.5  # off-centre, interior
    eq = cert.equilibrium
    assert eq["found"] is True and eq["source"] == "found"
    x = np.asarray(eq["x"])
    np.testing.assert_allclose(x, sol.x, rtol=0, atol=1e-8)
    assert eq["residual"] <= 1e-9
    assert np.linalg.norm(_tanh_field_numpy(x)) <= 1e-9


def test_equilibrium_outside_region_is_inconclusive():
    game = sgn.Game(costs=_outside_costs(), dims=[1, 1], region=sgn.Box(-1.0, 1.0),
                    name="outside")
    cert = sgn.certify(game, samples=64)
    assert cert.status is sgn.Status.INCONCLUSIVE
    reason = " ".join(cert.reasons).lower()
    assert "no equilibrium in the region" in reason
    assert "enlarge the region" in reason
    eq = cert.equilibrium
    assert eq is not None and eq["found"] is False
    assert "basin" not in eq
    # The dynamics settle on the face x1 = 1, at the box's VI solution (1, -0.2), where F != 0.
    np.testing.assert_allclose(eq["x"], [1.0, -0.2], atol=1e-8)
    assert eq["residual"] == pytest.approx(np.hypot(1.0 - 3.0 + 0.2 * -0.2, 0.0), rel=1e-6)
    # Nothing to promise without an equilibrium.
    assert cert.step_sizes is None and cert.rates is None


def test_equilibrium_outside_region_cli_exit_1(game_file, run_cli):
    path = game_file("""
        def f1(x1, x2):
            return 0.5 * (x1[0] - 3.0) ** 2 + 0.2 * x1 @ x2

        def f2(x1, x2):
            return 0.5 * x2 @ x2 + 0.2 * x1 @ x2

        game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="outside")
        """)
    result = run_cli("certify", path, "--samples", 64, "--format", "json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["status"] == "inconclusive"
    assert any("enlarge the region" in r for r in data["reasons"])


# --- find_equilibrium: constrained games (equilibrium on the boundary) -----------------------------

def test_constrained_boundary_equilibrium_closed_form():
    """Same costs as the 'outside' game, but the box is the strategy set: x* = (1, -0.2)."""
    game = sgn.Game(costs=_outside_costs(), dims=[1, 1], region=sgn.Box(-1.0, 1.0),
                    name="outside-constrained", constrained=True)
    cert = sgn.certify(game, samples=64)
    assert cert.certified, cert.reasons
    eq = cert.equilibrium
    assert eq["found"] is True and eq["source"] == "found"
    x = np.asarray(eq["x"])
    np.testing.assert_allclose(x, [1.0, -0.2], atol=1e-9)
    F = np.array([x[0] - 3.0 + 0.2 * x[1], x[1] + 0.2 * x[0]])
    assert abs(F[0]) > 1.0  # not a zero of F: a boundary equilibrium
    assert eq["residual"] <= 1e-9
    assert eq["basin"]["kind"] == "box"


def _vi_solution_numpy(field, low, high, h=0.02, iterations=20000):
    x = 0.5 * (low + high)
    for _ in range(iterations):
        x = np.clip(x - h * field(x), low, high)
    return x


def test_constrained_equilibrium_solves_the_box_vi(constrained):
    game, cert = constrained
    assert cert.certified, cert.reasons
    eq = cert.equilibrium
    assert eq["found"] is True and eq["source"] == "found"
    x = np.asarray(eq["x"])
    # Independent: projected Euler in numpy with a small step, from the centre.
    x_ref = _vi_solution_numpy(_constrained_field_numpy, CONS_LOW, CONS_HIGH)
    np.testing.assert_allclose(x, x_ref, rtol=0, atol=1e-8)
    # Natural residual ~ 0, computed independently, while F itself is far from 0.
    F = _constrained_field_numpy(x)
    natural = np.linalg.norm(x - np.clip(x - F, CONS_LOW, CONS_HIGH))
    assert natural <= 1e-9
    assert eq["residual"] <= 1e-9
    assert np.linalg.norm(F) > 1.0
    # KKT of the box VI, coordinate by coordinate.
    at_high = np.isclose(x, CONS_HIGH, atol=1e-12)
    at_low = np.isclose(x, CONS_LOW, atol=1e-12)
    interior = ~(at_high | at_low)
    assert at_high.sum() == 2  # x1[0] and x2[1] on their upper faces
    assert (F[at_high] < 0).all() and (F[at_low] > 0).all()
    np.testing.assert_allclose(F[interior], 0.0, atol=1e-9)
    # The basin of a constrained game is the whole strategy set.
    assert eq["basin"]["kind"] == "box"
    assert eq["basin"]["metric_radius"] is None  # inf, written as null
    basin = sgn.basin(game, cert.weights, x)
    assert basin.kind == "box" and math.isinf(basin.metric_radius)
    # RK4 is not claimed for a constrained game.
    assert cert.step_sizes["rk4_recommended"] is None


# --- equilibrium given by the game file ------------------------------------------------------------

GIVEN_BODY = """
def f1(x1, x2):
    return 0.5 * x1 @ x1 + 2.0 * x1 @ x2 - 0.3 * jnp.sum(x1)

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x1 @ x2 + 0.2 * jnp.sum(x2)

game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="given",
                equilibrium={given})
"""
GIVEN_TRUE = np.linalg.solve(np.array([[1.0, 2.0], [0.1, 1.0]]), np.array([0.3, -0.2]))


def test_given_equilibrium_is_used(game_file):
    point = [float(v) for v in GIVEN_TRUE]
    game = sgn.load_game(game_file(GIVEN_BODY.format(given=point)))
    cert = sgn.certify(game, samples=64)
    assert cert.certified, cert.reasons
    eq = cert.equilibrium
    assert eq["source"] == "given"
    assert eq["found"] is True
    assert eq["iterations"] == 0
    np.testing.assert_array_equal(eq["x"], point)
    assert eq["residual"] <= 1e-12
    assert eq["basin"]["kind"] == "ball"
    # The basin is centred on the given point: 1 - 0.875 = 0.125 is the tightest room.
    assert eq["basin"]["metric_radius"] == pytest.approx(0.125, rel=1e-12)


@pytest.mark.parametrize("shift, words", [
    ([0.01, 0.0], ("residual",)),
    ([2.0, 0.0], ("outside the region",)),
], ids=["wrong-point", "outside-region"])
def test_wrong_given_equilibrium_is_not_found(game_file, run_cli, shift, words):
    point = [float(v) for v in GIVEN_TRUE + np.array(shift)]
    path = game_file(GIVEN_BODY.format(given=point))
    cert = sgn.certify(sgn.load_game(path), samples=64)
    assert cert.status is sgn.Status.INCONCLUSIVE
    eq = cert.equilibrium
    assert eq["found"] is False and eq["source"] == "given"
    for word in words:
        assert word in eq["message"]
        assert any(word in r for r in cert.reasons)
    assert cert.step_sizes is None
    result = run_cli("certify", path, "--samples", 64, "--format", "json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["status"] == "inconclusive"


def test_given_equilibrium_of_wrong_size_is_refused():
    with pytest.raises(sgn.GameDefinitionError, match="entries"):
        sgn.Game(costs=_outside_costs(), dims=[1, 1], region=sgn.Box(-1.0, 1.0),
                 equilibrium=[0.0])


# --- basin ----------------------------------------------------------------------------------------

def test_basin_scalar_toy_closed_form(toy):
    game, _ = toy
    w = np.array([1.0, 200.0])
    b = sgn.basin(game, w, np.zeros(2))
    assert b.kind == "ball"
    # min_i sqrt(w_i) * dist_i = min(1 * 1, sqrt(200) * 1) = 1
    assert b.metric_radius == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(b.player_radii, [1.0 / np.sqrt(2.0), 1.0 / np.sqrt(400.0)],
                               rtol=1e-14)
    assert np.sum(w * b.player_radii**2) == pytest.approx(b.metric_radius**2, rel=1e-14)


def test_basin_in_the_toy_certificate(toy):
    _, cert = toy
    basin = cert.equilibrium["basin"]
    w = np.asarray(cert.weights)
    assert w[1] == pytest.approx(200.0, rel=1e-9)
    assert basin["kind"] == "ball"
    assert basin["metric_radius"] == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(basin["player_radii"], 1.0 / np.sqrt(2.0 * w), rtol=1e-12)


def test_basin_ball_is_inside_the_box_and_tight(toy):
    game, _ = toy
    w = np.array([1.0, 200.0])
    b = sgn.basin(game, w, np.zeros(2))
    r = b.metric_radius
    rng = np.random.default_rng(7)
    # Random points of the M-ball (uniform in the ball, plus points on its sphere).
    z = rng.standard_normal((4000, 2))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    radii = np.concatenate([r * np.sqrt(rng.uniform(size=3000)), np.full(1000, r)])
    x = radii[:, None] * z / np.sqrt(w)
    assert np.allclose(np.sqrt(np.sum(w * x**2, axis=1)), radii)
    assert (x >= game.region.low - 1e-15).all() and (x <= game.region.high + 1e-15).all()
    # The corners of the per-player box reading lie in the ball, hence in the box.
    for signs in ([1, 1], [1, -1], [-1, 1], [-1, -1]):
        corner = np.asarray(signs) * b.player_radii
        assert np.sum(w * corner**2) <= r**2 * (1 + 1e-12)
    # The tight direction is player 1's axis: just outside the ball there, the box is left.
    tight = (1.0 + 1e-9) * r * np.array([1.0, 0.0]) / np.sqrt(w)
    assert tight[0] > game.region.high[0]
    # Player 2's axis is not tight: the ball ends far inside the box there.
    assert r / np.sqrt(w[1]) < 0.1


def test_basin_off_centre_is_the_largest_ball_inside(quad):
    game, cert = quad
    x_star = np.asarray(cert.equilibrium["x"])
    w = np.asarray(cert.weights)
    b = sgn.basin(game, w, x_star)
    r = b.metric_radius
    assert r == pytest.approx(cert.equilibrium["basin"]["metric_radius"], rel=1e-12)
    # The ball's extreme points are x* +- r / sqrt(w_i) e_k: all inside, and one on the boundary.
    w_flat = np.repeat(w, game.dims)
    reach = r / np.sqrt(w_flat)
    lo, hi = x_star - reach, x_star + reach
    assert (lo >= game.region.low - 1e-12).all() and (hi <= game.region.high + 1e-12).all()
    gaps = np.minimum(lo - game.region.low, game.region.high - hi)
    assert gaps.min() == pytest.approx(0.0, abs=1e-12)
    # A ball any larger sticks out of the box.
    reach_more = (1 + 1e-9) * reach
    assert ((x_star - reach_more < game.region.low) | (x_star + reach_more > game.region.high)).any()


# --- simulate --------------------------------------------------------------------------------------

def _assert_kept(sim):
    for run in sim.runs:
        assert run.ok, (run.method, run.violations[:3])
        assert run.certified_factor is not None and run.certified_factor < 1.0
        assert run.observed_factor <= run.certified_factor + 1e-9, run
        assert run.observed_pairwise_factor <= run.certified_factor + 1e-9, run
        assert 0.0 < run.final_ratio < 1.0, run
    assert sim.ok


def test_simulate_scalar_toy_keeps_the_certificate(toy):
    game, cert = toy
    sim = sgn.simulate(game, cert, starts=16, steps=100)
    assert [r.method for r in sim.runs] == ["euler", "rk4", "flow"]
    assert sim.basin == "ball"
    _assert_kept(sim)
    runs = {r.method: r for r in sim.runs}
    alpha, beta = cert.margin, cert.bounds["lipschitz"]
    # The steps used are the certified recommended ones, the factors those of the certificate.
    assert runs["euler"].step == cert.step_sizes["euler_recommended"]
    assert runs["rk4"].step == cert.step_sizes["rk4_recommended"]
    assert runs["euler"].certified_factor == pytest.approx(cert.rates["euler"], rel=1e-12)
    assert runs["rk4"].certified_factor == pytest.approx(cert.rates["rk4"], rel=1e-12)
    h = runs["flow"].step
    assert runs["flow"].certified_factor == pytest.approx(math.exp(-alpha * h), rel=1e-12)
    # The linear toy is M-normal (W^1/2 J W^-1/2 is symmetric): the flow bound is tight.
    assert abs(runs["flow"].observed_factor - math.exp(-alpha * h)) <= 1e-6
    # Independent: Euler's worst per-step ratio is at most ||I - h W^1/2 J W^-1/2||_2.
    root = np.sqrt(np.asarray(cert.weights))
    A = root[:, None] * TOY_J / root[None, :]
    hE = runs["euler"].step
    norm = np.linalg.norm(np.eye(2) - hE * A, 2)
    assert runs["euler"].observed_factor <= norm + 1e-12
    assert norm <= math.sqrt(1 - 2 * hE * alpha + (hE * beta) ** 2) + 1e-12


def test_simulate_cascade_keeps_the_certificate(cascade):
    game, cert = cascade
    sim = sgn.simulate(game, cert, starts=16, steps=100)
    assert [r.method for r in sim.runs] == ["euler", "rk4", "flow"]
    _assert_kept(sim)
    assert np.allclose(sim.equilibrium, 0.0)


def test_euler_just_below_euler_max_is_still_kept(toy):
    game, cert = toy
    h = cert.step_sizes["euler_max"] * (1 - 1e-6)
    sim = sgn.simulate(game, cert, methods=("euler",), step=h, starts=8, steps=50)
    (run,) = sim.runs
    assert run.method == "euler" and run.step == h
    assert run.certified_factor is not None and 0.999 < run.certified_factor < 1.0
    assert run.ok, run.violations[:3]
    assert run.final_ratio < 1.0


def test_step_far_above_stability_blows_up(toy):
    game, cert = toy
    lam_max = max(abs(np.linalg.eigvals(TOY_J)))
    h = 3.0
    assert h > 2.0 / lam_max
    sim = sgn.simulate(game, cert, methods=("euler", "rk4"), step=h, starts=8, steps=50)
    assert not sim.ok
    for run in sim.runs:
        assert run.certified_factor is None, run.method
        assert not run.ok
        kinds = {v["kind"] for v in run.violations}
        assert "left the region" in kinds or run.final_ratio > 1.0
        assert run.final_ratio > 1.0


def test_flow_has_no_step_limit(toy):
    game, cert = toy
    sim = sgn.simulate(game, cert, methods=("flow",), step=3.0, starts=8, steps=10)
    (run,) = sim.runs
    assert run.certified_factor == pytest.approx(math.exp(-3.0 * cert.margin), rel=1e-12)
    assert run.ok, run.violations[:3]
    assert abs(run.observed_factor - run.certified_factor) <= 1e-6


def test_wrong_certificate_is_caught_by_simulate(toy):
    game, cert = toy
    data = _cert_dict(cert)
    beta = data["bounds"]["lipschitz"]
    data["margin"] = 0.6  # the truth is 1 - 1/sqrt(2) = 0.2929
    steps = sgn.step_sizes(0.6, beta).to_dict()
    data["step_sizes"] = steps
    data["rates"] = {"flow": 0.6, "euler": steps["euler_factor"], "rk4": steps["rk4_factor"]}
    bad = sgn.Certificate.from_dict(data)
    sim = sgn.simulate(game, bad, starts=8, steps=50)
    assert not sim.ok
    runs = {r.method: r for r in sim.runs}
    for method in ("euler", "rk4", "flow"):
        assert not runs[method].ok, method
        assert runs[method].observed_factor > runs[method].certified_factor
    # The offending start is listed, and the violation replays in numpy.
    run = runs["euler"]
    v = next(v for v in run.violations if v["kind"] == "distance to x*")
    assert 0 <= v["start"] < 8
    x0 = np.asarray(v["x0"])
    w = np.repeat(np.asarray(bad.weights), game.dims)
    assert _m_norm(w, x0) <= bad.equilibrium["basin"]["metric_radius"] * (1 + 1e-9)
    assert v["certified"] == pytest.approx(steps["euler_factor"], rel=1e-12)
    xs = [x0]
    for _ in range(v["step"] + 1):
        xs.append(xs[-1] - run.step * _toy_field_numpy(xs[-1]))
    ratio = _m_norm(w, xs[-1]) / _m_norm(w, xs[-2])
    assert ratio == pytest.approx(v["observed"], rel=1e-9)
    assert ratio > v["certified"]


def test_simulate_without_equilibrium_runs_with_no_promise():
    """No equilibrium in the region: nothing is promised, and the run is judged by its
    residual. F is affine with symmetric J, so F(x_{k+1}) = (I - h J) F(x_k) and the residual
    falls by at most the spectral radius of I - h J per Euler step."""
    game = sgn.Game(costs=_outside_costs(), dims=[1, 1], region=sgn.Box(-1.0, 1.0),
                    name="outside")
    cert = sgn.certify(game, samples=64)
    sim = sgn.simulate(game, cert, starts=8, steps=50)
    assert (sim.measure, sim.basin, sim.equilibrium) == ("residual", "region", None)
    assert not sim.ok and sim.outcome.value == "no_promise"
    for run in sim.runs:
        assert run.promise.value == "not_certified" and not run.promise.applies
        assert run.certified_factor is None and run.violations == []
        assert run.verdict.value == "converged", run
    (euler,) = [r for r in sim.runs if r.method == "euler"]
    J = np.array([[1.0, 0.2], [0.2, 1.0]])
    assert euler.step == pytest.approx(1.0 / cert.bounds["lipschitz"])
    radius = max(abs(np.linalg.eigvals(np.eye(2) - euler.step * J)))
    assert euler.observed_factor <= radius + 1e-9


def test_simulate_constrained_euler_is_kept(constrained):
    game, cert = constrained
    sim = sgn.simulate(game, cert, methods=("euler",), starts=8, steps=100)
    assert sim.basin == "box"
    _assert_kept(sim)


def test_simulate_constrained_default_methods_are_kept(constrained):
    """Default methods on a constrained game: Euler and the flow (no RK4), both kept.

    The certificate promises ||x(t) - x*||_M <= exp(-alpha t) ||x(0) - x*||_M for the
    projected flow. The flow integrator must therefore converge to x*, also when x* is on the
    boundary of the box.
    """
    game, cert = constrained
    sim = sgn.simulate(game, cert, starts=8, steps=100)
    assert [r.method for r in sim.runs] == ["euler", "flow"]
    for run in sim.runs:
        assert run.ok, (run.method, run.observed_factor, run.certified_factor,
                        run.violations[:2])


# --- the `sgn simulate` command --------------------------------------------------------------------

def test_cli_simulate_scalar_toy_text(run_cli, scalar_toy):
    result = run_cli("simulate", scalar_toy, "--starts", 8, "--steps", 50, "-q")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    for method in ("euler", "rk4", "flow"):
        assert method in result.stdout
    assert "BROKEN" not in result.stdout


def test_cli_simulate_json(run_cli, scalar_toy):
    result = run_cli("simulate", scalar_toy, "--starts", 8, "--steps", 50, "--format", "json",
                     "-q")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["status"] == "certified"
    runs = data["simulation"]["runs"]
    assert [r["method"] for r in runs] == ["euler", "rk4", "flow"]
    for run in runs:
        assert run["violations"] == []
        assert run["starts"] == 8 and run["steps"] == 50
        assert run["observed_factor"] <= run["certified_factor"] + 1e-9
    assert data["certificate"]["status"] == "certified"


def test_cli_simulate_one_method(run_cli, scalar_toy):
    result = run_cli("simulate", scalar_toy, "--method", "euler", "--starts", 8, "--steps", 50,
                     "--format", "json", "-q")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    runs = json.loads(result.stdout)["simulation"]["runs"]
    assert [r["method"] for r in runs] == ["euler"]


@pytest.mark.parametrize("step", ["0", "abc", "-1", "inf"])
def test_cli_simulate_bad_step(run_cli, scalar_toy, step):
    result = run_cli("simulate", scalar_toy, "--step", step, "--starts", 8, "--steps", 5)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert "--step" in result.stderr


def test_cli_simulate_explicit_large_step_diverges_without_promise(run_cli, scalar_toy):
    """h = 3 is far above euler_max: no promise (exit 4, not 1: nothing promised was broken),
    and the iterates diverge, leaving the region."""
    result = run_cli("simulate", scalar_toy, "--method", "euler", "--step", "3.0",
                     "--starts", 8, "--steps", 20, "--format", "json", "-q")
    assert result.exit_code == 4, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["outcome"]["name"] == "no_promise" and data["outcome"]["exit_code"] == 4
    (run,) = data["simulation"]["runs"]
    assert run["certified_factor"] is None and run["violations"] == []
    assert run["promise"]["applies"] is False and run["promise"]["name"] == "step_above_bound"
    assert run["verdict"]["name"] == "diverged" and run["left_region"] == 8


def test_cli_simulate_not_certifiable_runs_with_no_promise(run_cli, game_file):
    path = game_file("""
        def f1(x1, x2):
            return 0.5 * x1 @ x1 + 3.0 * x1 @ x2

        def f2(x1, x2):
            return 0.5 * x2 @ x2 + 3.0 * x1 @ x2

        game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="too-coupled")
        """)
    result = run_cli("simulate", path, "--starts", 8, "--steps", 10, "-q")
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert "NOT CERTIFIED" in result.stdout and "no promise" in result.stdout
    assert "kept" not in result.stdout
    result = run_cli("simulate", path, "--starts", 8, "--steps", 10, "--format", "json", "-q")
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["outcome"]["name"] == "no_promise"
    assert [r["promise"]["name"] for r in data["simulation"]["runs"]] == ["not_certified"] * 3
    assert data["certificate"]["status"] == "not_certified"
