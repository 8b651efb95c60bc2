"""Block weights from the Jacobians themselves, when SGN's norm bounds cannot find them.

    found = search_weights(game, estimator, bounds)    # None, or (Weights, MetricBounds)

SGN's small-gain test sees each coupling block only through its norm L_ij, so a coupling that
cancels in a weighted metric (J = [[0.5, 1], [-4, 0.5]]: skew in M = diag(1, 1/4), margin 0.5)
is refused, and the equal-weights (Euclidean) test only tries w = 1. This stage maximises the
metric margin

    alpha(w) = min_x lambda_min(sym(W^1/2 J(x) W^-1/2))

over block-scalar weights w directly: on the Jacobians at a few scenario points (the centre and
the points where the bounds found their extremes) it is a linear matrix inequality in w, solved
by bisection on alpha (sgn/_weights/_lmi.py). The LMI's value speaks only about the scenario
points; the certificate's margin is what the estimator then measures (sampled) or proves
(verified) in the metric found, on the whole region. When that pass finds a point where the
metric does not contract, the point joins the scenarios and the LMI is solved again (a cutting
plane), a few times at most.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from ._bounds import Bounds, MetricBounds
from ._game import Game
from ._weights import Weights, WeightStatus

#: Weights.method of weights found by this search.
SEARCHED_WEIGHTS = "metric search"

#: Cutting-plane rounds: each adds the point where the measured margin was smallest.
MAX_ROUNDS = 4

#: Scenario points besides the centre and the extremes' locations: the first few samples
#: (a Sobol set, so spread over the region).
SPREAD_POINTS = 16

#: Most scenario points in one solve.
MAX_SCENARIOS = 48


def search_weights(game: Game, estimator, bounds: Bounds, sgn_weights: Weights, *,
                   progress=None, tol: float = 0.0) -> tuple[Weights, MetricBounds] | None:
    """Weights whose measured (or proved) metric margin exceeds `tol`, as SGN's result with
    those weights and that margin (method SEARCHED_WEIGHTS), and the estimator's pass in their
    metric; None when none are found."""
    from ._weights._lmi import search_metric

    run = bounds.proof
    if run is not None and run.deadline.expired():
        return None     # a verified run out of time: nothing left to prove a margin with
    if not game.metric(np.ones(game.n_players)).fixed:
        # A metric that changes from point to point (Fisher): its certificate rests on SGN's
        # bounds (docs/fisher.md), and a margin of the step Jacobians alone does not make one.
        return None
    if getattr(estimator, "matrix_free", False):
        # The LMI needs the dense Jacobians at the scenario points (d x d each), which a
        # matrix-free run exists to avoid: SGN's and the Euclidean test stand alone.
        return None
    points = scenario_points(game, bounds)
    for _ in range(MAX_ROUNDS):
        Js = np.stack([np.asarray(game.bound_jacobians_fn(jnp.asarray(x))[1]) for x in points])
        if not np.isfinite(Js).all():
            return None
        found = search_metric(Js, game.dims, "scalar")
        if found.weights is None or not found.margin > tol:
            return None          # not even the scenario points contract in a scalar metric
        w = np.asarray(found.weights, dtype=np.float64)
        w = w / w[0]
        metric = estimator.in_metric(game, game.metric(w), bounds, progress=progress)
        if metric.margin > tol:
            return dataclasses.replace(
                sgn_weights, status=WeightStatus.CERTIFIABLE, weights=w,
                margin=float(metric.margin), method=SEARCHED_WEIGHTS), metric
        points = np.vstack([points, metric.margin_point[None, :]])
    return None


def scenario_points(game: Game, bounds: Bounds) -> np.ndarray:
    """The centre, where each bound found its extreme, and a few spread samples: distinct, in
    that order of importance, at most MAX_SCENARIOS (every scenario is one more matrix
    inequality in each LMI solve)."""
    where = bounds.locations
    parts = [game.region.centre[None, :]]
    for key in ("euclidean_margin", "lipschitz", "curvature", "coupling"):
        if key in where:
            parts.append(np.reshape(where[key], (-1, game.dim)))
    parts.append(bounds.points[:SPREAD_POINTS])
    points = np.concatenate(parts)
    _, first = np.unique(points, axis=0, return_index=True)
    return points[np.sort(first)[:MAX_SCENARIOS]]
