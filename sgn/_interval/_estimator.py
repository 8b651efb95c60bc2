"""The interval estimator: bounds proved by interval arithmetic and branch and bound.

    estimator = Verified(max_boxes=..., max_seconds=..., executor=None)
    bounds = estimator.bounds(game)                       # Bounds(method="interval")
    metric = estimator.in_metric(game, game.metric(w), bounds)

The same two stages as `sgn.Sampled` (sgn/_bounds.py), returning the same result types, so
`certify` runs one pipeline whichever estimator it is given. What only a verified run has, the
branch-and-bound record of each pass and the run's one deadline, rides along in `proof`.
"""

from __future__ import annotations

import dataclasses

from .._bounds import Bounds, MetricBounds, Progress
from .._errors import SGNError
from .._game import Game
from .._metric import BlockMatrix, BlockScalar, as_metric
from ._branch import DEFAULT_MAX_SECONDS, interval_bounds, interval_metric_pass
from ._budget import Deadline


@dataclasses.dataclass(frozen=True)
class VerifiedRun:
    """What a verified run's bounds rest on (`Bounds.proof`).

    Attributes:
        search: the bounds pass's branch and bound (`IntervalBounds`).
        deadline: the run's one deadline (made when the bounds pass starts); the metric pass
            spends from it, and the certificate quotes its elapsed time.
        partitions: the final partition (low, high) of each block-matrix metric pass run so
            far, by the metric's content (`metric_key`): the contraction pass in that metric
            encloses the step factors on it.
    """

    search: object
    deadline: Deadline
    partitions: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)


def metric_key(metric) -> bytes:
    """A block-matrix metric's identity for `VerifiedRun.partitions`: its S and S^-1, bit for
    bit (the ladder passes the metric it measured on to the step search, but equal content is
    what matters)."""
    return metric.root.tobytes() + metric.inverse_root.tobytes()


@dataclasses.dataclass(frozen=True)
class Verified:
    """Bounds proved on the whole region (verified = True), by branch and bound.

    Attributes:
        max_boxes: most boxes the bounds pass encloses: the budget that decides the result
            (default: the game's own, `_budget.default_boxes`, from the cost of its program).
        max_seconds: a safety limit, one deadline for the whole verified run (both passes);
            a run it cuts short says so and is not reproducible (docs/verified.md).
        executor: a concurrent.futures.Executor for the boxes (default in-process).
        target_ratio: r in (0, 1) to keep splitting after the bounds certify, until SGN's
            margin with them is at least r times that of the values proved at points, or the
            box budget ends (None: stop at the first bounds that certify; see
            `interval_bounds`).
    """

    max_boxes: int | None = None
    max_seconds: float = DEFAULT_MAX_SECONDS
    executor: object = None
    target_ratio: float | None = None
    name = "interval"
    #: Interval margins are enclosures (lower bounds), not values seen at points: a metric
    #: margin below SGN's is looseness, never a sign of a missed extreme.
    measures_points = False

    def refusal(self, game: Game) -> str | None:
        """Why interval bounds would prove nothing about this game, or None."""
        if type(game.metric([1.0] * game.n_players)) is not BlockScalar:
            # The enclosures bound Euclidean Jacobian blocks; the Fisher geometry's
            # F^-1/2 H F^-1/2 and the derivative of the inverse Fisher are not enclosed.
            return (f"verified bounds are not available in the {game.geometry} geometry (the "
                    "interval enclosures cover Euclidean Jacobian blocks only)")
        if game.non_smooth is not None:
            # The enclosures bound JAX's derivative of F; where F has a kink, a jump or a
            # custom derivative rule, that derivative does not describe F.
            return (f"the game's field uses `{game.non_smooth}`, which sgn cannot confirm is "
                    "smooth (a kink, a jump, a comparison or a custom derivative rule): "
                    "interval bounds on its derivative would not cover F itself, so verified "
                    "bounds are not available (docs/verified.md, \"Smooth games only\")")
        return None

    def bounds(self, game: Game, *, progress: Progress | None = None) -> Bounds:
        """mu_i, L_ij, gamma and beta(1), proved by branch and bound; `proof` holds the record.

        Raises UnsupportedPrimitive when the game's Jacobian cannot be enclosed.
        """
        deadline = Deadline(self.max_seconds)
        search = interval_bounds(game, executor=self.executor, deadline=deadline,
                                 max_boxes=self.max_boxes, target_ratio=self.target_ratio)
        return dataclasses.replace(search.bounds, proof=VerifiedRun(search, deadline))

    def contraction(self, game: Game, metric, bounds: Bounds, steps, *,
                    progress: Progress | None = None):
        """Proved Euler factors at `steps` and the Jacobians' spread around the centre
        (`_contraction.interval_contraction`): for block weights on the bounds pass's
        partitions; for a block-matrix metric on the partition its metric pass refined (the
        region as one box when none ran: a constant Jacobian, measured exactly). None for
        other metrics, or when the run has no time left (the steps are then SGN's)."""
        from ._contraction import interval_contraction

        run: VerifiedRun = bounds.proof
        metric = as_metric(game, metric)
        if type(metric) not in (BlockScalar, BlockMatrix) or run.deadline.expired():
            return None
        partition = None
        if isinstance(metric, BlockMatrix):
            region = game.region
            partition = run.partitions.get(metric_key(metric),
                                           (region.low[None, :], region.high[None, :]))
        return interval_contraction(game, metric, run.search, steps, executor=self.executor,
                                    deadline=run.deadline, partition=partition)

    def in_metric(self, game: Game, metric, bounds: Bounds, *,
                  progress: Progress | None = None) -> MetricBounds:
        """beta and the margin in `metric`, proved; `proof` holds the pass's record.

        Block weights: `interval_metric_pass` (the bounds pass's partitions, refined);
        a block-matrix metric: `interval_matrix_pass` (S J S^-1 enclosed on a partition of its
        own, kept in `proof.partitions` for the contraction pass)."""
        run: VerifiedRun = bounds.proof
        metric = as_metric(game, metric)
        if isinstance(metric, BlockMatrix):
            from ._matrix_pass import interval_matrix_pass

            found, record, partition = interval_matrix_pass(
                game, metric, executor=self.executor, deadline=run.deadline)
            run.partitions[metric_key(metric)] = partition
            return dataclasses.replace(found, proof=record)
        if not isinstance(metric, BlockScalar):
            # No other kind of metric is enclosed (a Fisher game is refused: `refusal`).
            raise SGNError(f"the verified metric pass proves margins in block-scalar and "
                           f"block-matrix metrics only, not in a {metric.kind} metric")
        found, record = interval_metric_pass(game, metric.weights, run.search,
                                             executor=self.executor, deadline=run.deadline)
        return dataclasses.replace(found, proof=record)
