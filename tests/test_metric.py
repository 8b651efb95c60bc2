"""The metric and estimator objects (issue 13, part 1): one metric object says how distances are
measured, and every estimator answers the same two questions.

Each metric operation is checked against the dense matrix M it stands for (scipy's sqrtm, plain
quadratic forms); the Fisher metric against the game's own Fisher matrix. The estimators are
checked to be interchangeable: `certify(estimator=...)` gives the certificate `method=` gives,
and the interval enclosure reads the same hook (`bound_jacobians`) the sampled estimator reads.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import sgn
from sgn._load import load_game
from sgn._npg import PolicySimulation

DIMS = (1, 2, 3)


def dense_metric(weights, dims) -> np.ndarray:
    return np.diag(np.concatenate([np.full(d, w) for w, d in zip(weights, dims)]))


@pytest.fixture
def metric():
    rng = np.random.default_rng(3)
    return sgn.BlockScalar.from_weights(rng.uniform(0.1, 10.0, len(DIMS)), DIMS)


def test_scale_is_the_jacobian_in_the_metric_up_to_a_factor(metric):
    """lambda_min(sym A) and ||A||_2 of A = metric.scale(J) equal those of M^1/2 J M^-1/2 with
    M the dense matrix (the dropped factor cancels), for random J."""
    rng = np.random.default_rng(0)
    root = scipy.linalg.sqrtm(dense_metric(metric.weights, DIMS)).real
    for _ in range(20):
        J = rng.standard_normal((6, 6))
        dense = root @ J @ np.linalg.inv(root)
        A = metric.scale(J)
        assert np.linalg.norm(A, 2) == pytest.approx(np.linalg.norm(dense, 2), rel=1e-12)
        assert np.linalg.eigvalsh(0.5 * (A + A.T))[0] == pytest.approx(
            np.linalg.eigvalsh(0.5 * (dense + dense.T))[0], rel=1e-12, abs=1e-12)
    batch = rng.standard_normal((4, 6, 6))           # batched like the estimator's rounds
    np.testing.assert_allclose(metric.scale(batch)[2], metric.scale(batch[2]), rtol=0, atol=0)


def test_norm_and_offset_agree_with_the_quadratic_form(metric):
    rng = np.random.default_rng(1)
    M = dense_metric(metric.weights, DIMS)
    v = rng.standard_normal((5, 6))
    np.testing.assert_allclose(metric.norm(v), np.sqrt(np.einsum("ki,ij,kj->k", v, M, v)),
                               rtol=1e-13)
    e = metric.offset(v)              # ||e||_M = ||u||_2: starts on M-spheres
    np.testing.assert_allclose(metric.norm(e), np.linalg.norm(v, axis=1), rtol=1e-13)
    np.testing.assert_array_equal(metric.inverse_diagonal(np.zeros(6)), np.ones(6))


def test_a_metric_is_a_pytree_compiled_routines_take():
    """Passed to a jitted function as an argument, the metric gives the numbers numpy gives, and
    a second metric of the same layout reuses the compiled code (no retrace)."""
    traces = []

    @jax.jit
    def norm(metric, v):
        traces.append(1)
        return metric.norm(v, jnp)

    v = np.arange(6.0)
    for w in ([1.0, 2.0, 3.0], [0.5, 4.0, 9.0]):
        m = sgn.BlockScalar.from_weights(w, DIMS)
        assert float(norm(m, v)) == pytest.approx(float(m.norm(v)), rel=1e-15)
    assert len(traces) == 1


def test_games_build_their_metric():
    game = load_game("examples/scalar_toy.py")
    m = game.metric([1.0, 0.25])
    assert type(m) is sgn.BlockScalar and m.to_dict() == {"kind": "block_scalar",
                                                           "weights": [1.0, 0.25]}


@pytest.fixture(scope="module")
def markov():
    return load_game("examples/markov_coordination.py")


def test_the_fisher_metric_reads_distances_with_the_fisher_matrix(markov):
    """Fisher.offset(u, at=x) has ||e||^2 = e^T blockdiag(w_i F_i(x)) e = |u|^2 with F the
    game's dense Fisher matrix, and inverse_diagonal is diag of that matrix's inverse."""
    w = np.array([1.0, 2.5])
    metric = markov.metric(w)
    assert type(metric) is sgn.Fisher and metric.to_dict()["kind"] == "fisher"
    x = markov.region.centre + 0.1
    F = np.asarray(markov.fisher(jnp.asarray(x)))
    M = np.repeat(w, markov.dims)[:, None] * F
    u = np.random.default_rng(2).standard_normal((3, markov.dim))
    e = metric.offset(u, at=jnp.asarray(x))
    np.testing.assert_allclose(np.einsum("ki,ij,kj->k", e, M, e), np.sum(u * u, axis=1),
                               rtol=1e-10)
    np.testing.assert_allclose(metric.inverse_diagonal(x), np.diag(np.linalg.inv(F)),
                               rtol=1e-10)


def test_simulate_on_a_markov_game_measures_the_fisher_metric(markov):
    """sgn.simulate of a Markov game runs its policy simulation (NPG in the Fisher metric the
    certificate is about), not Euclidean distances in blockdiag(w_i I)."""
    cert = sgn.certify(markov, samples=256)
    sim = sgn.simulate(markov, cert, starts=2, steps=5)
    assert isinstance(sim, PolicySimulation)
    assert [run.method for run in sim.runs] == ["npg", "pg"]
    with pytest.raises(sgn.SGNError, match="natural policy gradient"):
        sgn.simulate(markov, cert, methods=["euler"])


def test_estimators_are_interchangeable_strategies():
    """Both estimators answer bounds() and in_metric() with the same result types, and
    certify(estimator=...) gives exactly the certificate certify(method=...) gives."""
    game = load_game("examples/cascade.py")
    for estimator, method in ((sgn.Sampled(samples=500), "sampled"),
                              (sgn.Verified(), "interval")):
        bounds = estimator.bounds(game)
        assert isinstance(bounds, sgn.Bounds)
        w = sgn.optimize_weights(bounds.curvature, bounds.coupling).weights
        assert isinstance(estimator.in_metric(game, game.metric(w), bounds), sgn.MetricBounds)
        options = {"samples": 500} if method == "sampled" else {}
        a = sgn.certify(game, estimator=estimator).to_dict()
        b = sgn.certify(game, method=method, **options).to_dict()
        for cert in (a, b):
            cert["estimator"].pop("seconds", None)
            cert["estimator"].pop("budget", None)
            cert["estimator"].pop("passes", None)
        assert a == b
        assert a["status"] == "certified" and a["verified"] is (method == "interval")


class StepDiffers(sgn.Game):
    """A game whose step Jacobian is not J (as in the Fisher geometry) but whose metric is
    block-scalar: only the shared hook can tell the interval path."""

    def bound_jacobians(self, x):
        J = self.jacobian(x)
        return J, 2.0 * J


def quartic(cls=sgn.Game):
    """A smooth game with a varying Jacobian (so bounds are sampled, not exact)."""
    return cls([lambda x1, x2: 0.5 * x1[0] ** 2 + 0.1 * x1[0] ** 4 + 0.3 * x1[0] * x2[0],
                lambda x1, x2: 0.5 * x2[0] ** 2 - 0.3 * x1[0] * x2[0]],
               [1, 1], sgn.Box(-1.0, 1.0))


def test_the_interval_path_reads_the_hook_the_sampled_path_reads():
    """A step Jacobian other than J is seen by both estimators: the sampled one measures beta
    on it, and the interval enclosure refuses it (the fallback note says so) instead of
    enclosing J alone."""
    game, plain = quartic(StepDiffers), quartic()
    assert sgn.certify(plain, method="interval").verified is True
    cert = sgn.certify(game, method="interval", samples=500)
    assert cert.verified is False and cert.estimator["method"] == "sampled"
    assert "step Jacobian differs from J" in cert.notes[0]
    assert "fell back to sampled bounds, so nothing is verified" in cert.notes[0]
    twice = sgn.certify(plain, samples=500).diagnostics["euclidean_lipschitz"]
    assert cert.diagnostics["euclidean_lipschitz"] == pytest.approx(2.0 * twice, rel=1e-9)


def test_constant_jacobians_read_the_hook_too():
    """The exact path (constant Jacobian) reads bound_jacobians as well: beta is ||2 J||."""
    toy = load_game("examples/scalar_toy.py")
    game = StepDiffers(toy.costs, toy.dims, sgn.Box(toy.region.low, toy.region.high))
    cert = sgn.certify(game, method="interval")
    assert cert.verified is True and cert.estimator["method"] == "exact"
    assert "found the Jacobian constant: its bounds are exact" in cert.notes[0]
    J = np.asarray(toy.jacobian_fn(jnp.asarray(toy.region.centre)))
    assert cert.diagnostics["euclidean_lipschitz"] == pytest.approx(
        2.0 * np.linalg.norm(J, 2), rel=1e-12)
