"""Verified bounds: interval enclosures of the Jacobian, rigorous scalars, branch and bound.

    result = interval_bounds(game, max_boxes=..., max_seconds=..., executor=None)
    result.outcome, result.bounds                      # Bounds(method="interval", exact=True)
    metric = interval_in_metric(game, weights, result)  # MetricBounds: beta(w), metric margin

    # The box budget decides (default: the game's, `_budget.default_boxes`); seconds are a
    # safety limit, one Deadline for a whole verified run.
    deadline = Deadline(max_seconds)
    result = interval_bounds(game, deadline=deadline)
    metric, record = interval_metric_pass(game, weights, result, deadline=deadline)

    estimator = Verified(max_boxes=..., max_seconds=...)   # the two passes as one strategy
    bounds = estimator.bounds(game)                        # (what sgn.certify runs)
    metric = estimator.in_metric(game, game.metric(w), bounds)

See docs/verified.md for what is proved and how.
"""

from ._arith import Interval
from ._branch import (
    IntervalBounds,
    bound_batch,
    interval_bounds,
    interval_in_metric,
    interval_metric_pass,
)
from ._budget import Deadline, PassRecord
from ._dask import DaskUnavailable, dask_executor
from ._estimator import Verified, VerifiedRun
from ._enclose import JacobianEnclosure, enclose_jacobian, jacobian_enclosure
from ._interpret import (
    Program,
    UnsupportedPrimitive,
    compile_program,
    supported_primitives,
)

__all__ = [
    "DaskUnavailable", "Deadline", "Interval", "IntervalBounds", "JacobianEnclosure",
    "PassRecord", "Program", "UnsupportedPrimitive", "Verified", "VerifiedRun", "bound_batch",
    "compile_program",
    "dask_executor", "enclose_jacobian", "interval_bounds", "interval_in_metric",
    "interval_metric_pass", "jacobian_enclosure", "supported_primitives",
]
