"""The verified metric pass in a block-matrix metric: beta (upper) and the margin (lower).

    found, record, partition = interval_matrix_pass(game, metric, deadline=...)

The metric ladder (sgn/_metric_search.py) proposes a metric M = blockdiag(P_i) (or one joint
P) from the Jacobians at a few scenario points; under --verify its margin
inf_x lambda_min(sym(P^1/2 J(x) P^-1/2)) and beta = sup_x ||P^1/2 J(x) P^-1/2||_2 must then be
proved on the whole region. The block-scalar pass (`_branch.interval_metric_pass`) reuses the
bounds pass's per-quantity partitions, whose boxes are split only along the coordinates each
SGN block depends on; S J S^-1 mixes every entry of J, and when SGN fails the bounds pass may
stop after very few boxes (refuted at a centre). So this pass branches on its own partition:

* it starts from the region as one box; every box gets the rigorous bounds of
  `_congruence.congruence_bounds` and, at its centre, proved point values (an upper bound on
  the margin there, a lower bound on beta: `congruence_witnesses`);
* the smallest centre margin m and the largest centre beta b bound the truth from the other
  side (the true margin is at most m, the true beta at least b), so a box whose margin bound is
  below m - tolerance |m|, or whose beta bound is above b (1 + tolerance), is loose; the
  loosest (gaps relative to b, at least half the worst) are split in two, worst first, along
  the side their enclosure is most sensitive to (the smear of J summed over its blocks; the
  widest side without the mean-value form);
* it stops when no box is loose ("converged"), when a centre shows the metric not contracting
  (m <= 0: the margin cannot be proved positive; "refuted", and that centre is the
  `margin_point` the ladder adds to its scenarios), at its box budget ("boxes"), or at the
  run's deadline ("seconds"; the numbers are then not reproducible).

The box budget counts boxes enclosed, the region's first box included; each round splits its
worst boxes first, in a fixed order, so the same budget gives the same partition and numbers
on any machine, and a pass repeated with the budget set to the boxes it enclosed ends at the
very same partition (what `sgn verify` does to re-prove a certificate's margin).
"""

from __future__ import annotations

import time

import numpy as np

from .._bounds import MetricBounds
from .._game import Game
from ._branch import DEFAULT_METRIC_TOLERANCE, bisect, box_centres, loosest, map_batches
from ._budget import DEFAULT_MAX_SECONDS, Deadline, OutOfTime, PassRecord, default_metric_boxes
from ._congruence import Congruence
from ._enclose import jacobian_enclosure


def interval_matrix_pass(game: Game, metric, *, executor=None, batch_size: int | None = None,
                         max_boxes: int | None = None,
                         tolerance: float = DEFAULT_METRIC_TOLERANCE,
                         deadline: Deadline | None = None
                         ) -> tuple[MetricBounds, PassRecord, tuple[np.ndarray, np.ndarray]]:
    """beta (upper) and the margin (lower) in the BlockMatrix `metric`, valid on the whole
    region; the pass's record; and its final partition (low, high), on which the contraction
    pass encloses the step factors (module doc).

    `max_boxes` (default `_budget.default_metric_boxes`) bounds the boxes enclosed; `deadline`
    is the verified run's (default DEFAULT_MAX_SECONDS from now). Past it already, nothing is
    enclosed: margin -inf, beta inf (stopped "skipped").
    """
    start = time.perf_counter()
    if deadline is None:
        deadline = Deadline(DEFAULT_MAX_SECONDS)
    congruence = Congruence.of(metric)
    enclosure = jacobian_enclosure(game)
    max_boxes = default_metric_boxes(enclosure) if max_boxes is None else int(max_boxes)
    region = game.region
    low, high = region.low[None, :].copy(), region.high[None, :].copy()

    def bound(lo, hi):
        return map_batches(enclosure, lo, hi, executor=executor, batch_size=batch_size,
                           deadline=deadline, partial=True, congruence=congruence)

    def record(enclosed, stopped):
        return PassRecord(int(low.shape[0]), int(enclosed), int(max_boxes),
                          float(deadline.seconds), time.perf_counter() - start, stopped)

    data = None
    if not deadline.expired():
        try:
            data = bound(low, high)
        except OutOfTime:
            data = None
    if data is None:
        return (MetricBounds(np.inf, -np.inf, region.centre, 0), record(0, "skipped"),
                (low, high))
    enclosed = 1
    while True:
        if not np.min(data["margin_at"]) > 0:
            stopped = "refuted"       # a proved point where the metric does not contract
            break
        score = _looseness(data, tolerance)
        if score is None:
            stopped = "converged"
            break
        if deadline.expired():
            stopped = "seconds"
            break
        if enclosed + 2 > max_boxes:
            stopped = "boxes"
            break
        order = loosest(score, max_boxes - enclosed)
        try:
            low, high, data, done = _split(low, high, data, order, bound)
        except OutOfTime:      # not one box split
            stopped = "seconds"
            break
        enclosed += 2 * done   # a round cut short ends at the next reading of the deadline
    # The margin's point: the centre where the metric was seen contracting least (a proved
    # value there), where a metric search looks next (its cutting plane).
    weakest = int(np.argmin(data["margin_at"]))
    found = MetricBounds(float(np.max(data["lipschitz"])), float(np.min(data["margin"])),
                         box_centres(low[weakest], high[weakest]), int(enclosed))
    return found, record(enclosed, stopped), (low, high)


def _looseness(data, tolerance: float):
    """Per box: how far its bounds are from the values proved at the centres (margin below
    m - tolerance |m|, beta above b (1 + tolerance)), relative to b; None when no box is."""
    seen_margin = float(np.min(data["margin_at"]))
    seen_beta = float(np.max(data["lipschitz_at"]))
    scale = max(seen_beta, abs(seen_margin), np.finfo(float).tiny)
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.maximum(seen_margin - tolerance * abs(seen_margin) - data["margin"],
                         data["lipschitz"] - seen_beta * (1.0 + tolerance)) / scale
    gap = np.where(np.isnan(gap), np.inf, gap)
    return gap if gap.max() > 0 else None


def _split(low, high, data, order, bound):
    """Split boxes `order` (worst first) in two along their largest smear; their halves are
    bounded in pairs, so a round the deadline cuts short splits a leading part of `order`.
    Returns the new partition (kept boxes, then left halves, then right halves), its data and
    how many boxes were split."""
    order, right_low, left_high, children, done = bisect(low, high, data["smear"], order, bound)
    keep = np.setdiff1d(np.arange(low.shape[0]), order)
    # A half is inside its box, so the box's bounds hold on it too: keep the better of the two.
    # (The mean-value form is not inclusion-monotone; without this a split could loosen a
    # bound, and a larger budget give a worse margin.)
    parent = np.tile(order, 2)
    children["margin"] = np.maximum(children["margin"], data["margin"][parent])
    children["lipschitz"] = np.minimum(children["lipschitz"], data["lipschitz"][parent])
    return (np.concatenate([low[keep], low[order], right_low]),
            np.concatenate([high[keep], left_high, high[order]]),
            {k: np.concatenate([v[keep], children[k]]) for k, v in data.items()}, done)
