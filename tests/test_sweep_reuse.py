"""Sweeps reuse compiled code across grid points, and reuse changes no result.

Compilations are counted with JAX's own event for an XLA backend compile, so the tests count
builds, not time.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import monitoring

import sgn
from sgn._shared import _structure, sharing
from sgn._sweep import sweep

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
GRID = {"lam": np.array([0.1, 0.3, 0.5])}
SAMPLES = 256
QUANTITIES = ("euclidean_margin", "margin", "metric_margin", "lipschitz", "euler_max",
              "euler_recommended", "rk4_proven")


@pytest.fixture(scope="module")
def compiles():
    """A live count of XLA compilations."""
    count = [0]

    def listen(event, _duration, **_kwargs):
        if event == COMPILE_EVENT:
            count[0] += 1

    monitoring.register_event_duration_secs_listener(listen)
    yield count
    monitoring.unregister_event_duration_listener(listen)


def nonlinear(lam):
    """Two players of dim 2, Jacobian depending on x (the sampled path and its local search
    run), certified on the grid."""
    A = jnp.array([[1.0, 0.3], [0.2, 0.5]])

    def f1(x1, x2):
        return 0.5 * x1 @ x1 + 0.1 * jnp.sum(jnp.cos(x1)) + lam * x1 @ jnp.tanh(A @ x2)

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + 0.25 * jnp.sum(x2**4) + lam * 0.5 * x2 @ jnp.sin(A.T @ x1)

    return sgn.Game(costs=[f1, f2], dims=[2, 2], region=sgn.Box(-1.0, 1.0),
                    name=f"nonlinear(lam={lam:g})")


def branching(lam):
    """Uses the parameter in Python control flow: must still work."""
    scale = 2.0 if lam > 0.2 else 1.0
    return nonlinear(lam * scale)


def as_float(lam):
    """Turns the parameter into a Python float: a literal in the program, so no sharing."""
    return nonlinear(float(lam))


def compiles_per_point(factory, compiles, grid=GRID):
    """Run the sweep; return (sweep, compilations during each grid point)."""
    seen = [compiles[0]]
    result = sweep(lambda p: factory(**p), grid, samples=SAMPLES, seed=0,
                   progress=lambda done, total, _: seen.append(compiles[0]))
    return result, np.diff(seen)


@pytest.fixture(scope="module")
def shared(compiles):
    return compiles_per_point(nonlinear, compiles)


@pytest.fixture(scope="module")
def fresh(compiles):
    """Certificates of fresh games, one per grid point, with sharing off, and the compilations
    each took."""
    certificates, per_point = [], []
    with sharing(False):
        for lam in GRID["lam"]:
            before = compiles[0]
            certificates.append(sgn.certify(nonlinear(float(lam)), samples=SAMPLES, seed=0))
            per_point.append(compiles[0] - before)
    return certificates, np.array(per_point)


def test_grid_points_after_the_first_compile_nothing(shared):
    result, per_point = shared
    assert [r["status"] for r in result.rows] == ["certified"] * 3
    assert per_point[1:].tolist() == [0, 0]


def test_without_sharing_every_point_compiles(fresh):
    # The counter sees the compilations sharing saves: fresh games compile at each point.
    assert (fresh[1] > 0).all()


def test_shared_results_equal_fresh_per_point_certification(shared, fresh):
    for row, cert in zip(shared[0].rows, fresh[0]):
        assert row["status"] == cert.status.value
        np.testing.assert_allclose(row["weights"], cert.weights, rtol=0, atol=1e-12)
        expected = {"euclidean_margin": cert.bounds["euclidean_margin"], "margin": cert.margin,
                    "metric_margin": cert.diagnostics["metric_margin"],
                    "lipschitz": cert.bounds["lipschitz"], **cert.step_sizes}
        for name in QUANTITIES:
            assert row[name] == pytest.approx(expected[name], abs=1e-12), name


def test_parameter_in_python_control_flow_still_works(compiles, shared):
    result, per_point = compiles_per_point(branching, compiles)
    direct = sweep(lambda p: nonlinear(**p), {"lam": np.array([0.1, 0.6, 1.0])},
                   samples=SAMPLES, seed=0)
    assert [r["margin"] for r in result.rows] == pytest.approx(
        [r["margin"] for r in direct.rows], abs=1e-12)
    assert per_point[1:].tolist() == [0, 0]


def test_a_parameter_made_a_literal_is_not_shared(compiles):
    # float(lam) bakes the value into the program: sharing it would be wrong, so each game
    # compiles its own field (built when the game is checked), and each field is its own.
    x = jnp.linspace(-1.0, 1.0, 4)
    for lam in (0.7, 0.9):
        before = compiles[0]
        game = as_float(jnp.asarray(lam))
        assert compiles[0] > before
        np.testing.assert_allclose(game.field_fn(x), game.pseudo_gradient(x), rtol=0, atol=1e-15)
        assert not np.allclose(game.field_fn(x), nonlinear(0.8).pseudo_gradient(x))


def test_structure_key_separates_literals_and_ignores_constant_values():
    x = jnp.ones(3)

    def program(f):
        return _structure(jax.make_jaxpr(f)(x))

    a, b = jnp.asarray(1.0), jnp.asarray(2.0)
    assert program(lambda y: a * y) == program(lambda y: b * y)
    assert program(lambda y: 1.0 * y) != program(lambda y: 2.0 * y)
    assert program(lambda y: a * y) != program(lambda y: a + y)
    assert program(lambda y: jnp.ones((3, 3)) @ y) != program(lambda y: jnp.ones((3, 2)) @ y[:2])
