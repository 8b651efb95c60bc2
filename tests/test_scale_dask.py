"""The scale estimators through executors (issue 14): sgn.MatrixFree's screen batches and local
searches, and sgn.SparseSampled's batches of points, give the same numbers here, on a thread
pool and on Dask (a threads-only local cluster: Dask still serializes every task, so this
exercises the shipped programs of sgn/_matrix_free_ship.py)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn._load import load_game
from sgn._sparse_bounds import SparseSampled

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Small enough to compile quickly; every part of the run still happens (screen in several
#: batches, searches from several starts per quantity).
QUICK = sgn.MatrixFree(samples=9, screen_iterations=4, iterations=8, refine_starts=2,
                       refine_steps=12, batch_bytes=4 * 8 * 5 * 30)


def small_game():
    """Two players (dims 3 and 4), tanh couplings both ways, own curvature plus a cosine."""
    rng = np.random.default_rng(3)
    C = jnp.asarray(0.4 * rng.standard_normal((3, 4)))
    D = jnp.asarray(0.3 * rng.standard_normal((4, 3)))

    def f1(x, y):
        return 0.5 * x @ x + 0.1 * jnp.sum(jnp.cos(x)) + x @ jnp.tanh(C @ y + 0.2)

    def f2(x, y):
        return 0.75 * y @ y + 0.1 * jnp.sum(jnp.cos(2 * y)) - y @ jnp.tanh(D @ x)

    return sgn.Game([f1, f2], [3, 4], sgn.Box(-np.ones(7), np.ones(7)), name="small")


def _same_bounds(a, b):
    np.testing.assert_array_equal(a.curvature, b.curvature)
    np.testing.assert_array_equal(a.coupling, b.coupling)
    assert (a.euclidean_margin, a.lipschitz, a.evaluated) == (b.euclidean_margin, b.lipschitz,
                                                            b.evaluated)
    for key in a.allowances:
        np.testing.assert_array_equal(a.allowances[key], b.allowances[key])
    for key in a.locations:
        np.testing.assert_array_equal(a.locations[key], b.locations[key])
    np.testing.assert_array_equal(a.points, b.points)


@pytest.fixture(scope="module")
def here():
    game = small_game()
    bounds = QUICK.bounds(game)
    return game, bounds, QUICK.in_metric(game, game.metric([1.0, 1.7]), bounds)


def test_matrix_free_screen_is_batched(here):
    """The screen really runs in several batches (so an executor gets several tasks)."""
    from sgn._matrix_free import _batch_size, bounds_quantities

    game, bounds, _ = here
    assert _batch_size(game, QUICK, len(bounds_quantities(2))) < QUICK.samples


def test_matrix_free_on_threads_is_identical(here):
    game, bounds, metric = here
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        threaded = dataclasses.replace(QUICK, executor=pool)
        there = threaded.bounds(game)
        metric_there = threaded.in_metric(game, game.metric([1.0, 1.7]), there)
    _same_bounds(bounds, there)
    assert (metric.lipschitz, metric.margin) == (metric_there.lipschitz, metric_there.margin)
    # and the numbers are real: the curvature is lambda_min of the dense own block where it
    # was found (the Krylov space of a 3- or 4-dimensional block is the whole block)
    J = np.asarray(game.jacobian_fn(jnp.asarray(there.locations["curvature"][1])))
    own = J[game.block(1, 1)]
    assert abs(there.curvature[1] + there.allowances["curvature"][1]
               - np.linalg.eigvalsh((own + own.T) / 2)[0]) <= 1e-10


def test_matrix_free_certificate_through_dask_is_identical(here):
    from sgn._interval import dask_executor

    game, bounds, _ = here
    cert_here = sgn.certify(game, estimator=QUICK)
    with dask_executor(n_workers=2, processes=False) as cluster:   # tasks are serialized
        there = dataclasses.replace(QUICK, executor=cluster).bounds(game)
        cert_there = sgn.certify(game, estimator=QUICK, executor=cluster)
    _same_bounds(bounds, there)
    assert cert_here.estimator["operator"] == "matrix-free"
    assert cert_here.to_dict() == cert_there.to_dict()


def test_sparse_certificate_through_dask_is_identical():
    from sgn._interval import dask_executor

    game = load_game(ROOT / "examples" / "network_game.py", {"n_players": 60})
    base = SparseSampled(samples=12, batch_bytes=100_000)
    cert_here = sgn.certify(game, estimator=base)
    with dask_executor(n_workers=2, processes=False) as cluster:
        cert_there = sgn.certify(game, estimator=base, executor=cluster)
    assert cert_here.estimator["search"]["estimator"] == "sparse"
    assert cert_here.to_dict() == cert_there.to_dict()


def test_cli_dask_needs_work_it_can_spread(run_cli):
    """Without --verify, --executor dask is refused for a small dense game (nothing to
    spread), with the options that would use it named."""
    result = run_cli("certify", ROOT / "examples" / "tanh_gan.py", "--executor", "dask")
    assert result.exit_code == 2
    assert "--verify" in result.stderr and "--jacobian matrix-free" in result.stderr
