"""Branch and bound: split the region until interval bounds prove (or refute) the certificate.

    result = interval_bounds(game, max_boxes=..., max_seconds=..., executor=None)
    result.outcome        "certified" | "refuted" | "inconclusive"
    result.bounds         a standard Bounds (method "interval", exact=True): valid on the region
    metric = interval_in_metric(game, weights, result)      # beta(w), metric margin

Every round encloses J over the current boxes and, for each box, also at its centre (a thin
enclosure). Box enclosures give rigorous bounds (mu_i lower, L_ij upper); centre enclosures give
proved witness values (the true inf of mu_i is at most the smallest centre value, the true sup
of L_ij at least the largest). Then:

* certified: the min/max of the box bounds make K (K_ii = mu_i, K_ij = -L_ij) a nonsingular
  M-matrix (`optimize_weights(...).status.certifiable`);
* refuted: a centre proves mu_i <= 0 for some player (rigorous), or the witness values already
  fail the small-gain test (decided by `optimize_weights` in floating point, with its
  MARGIN_TOL): then no valid bounds on this region can certify;
* otherwise the witnesses set targets. With weights w and margin a > 0 of the witness values,
  any bounds with mu_i >= witness_i - a/4 and L_ij <= witness_ij + a / (4 (N-1) sqrt(w_i/w_j))
  still give alpha(w) >= a/2 > 0 (the diagonal of G(w) drops by at most a/4 and the
  off-diagonal part moves by at most a/4 in norm, by its row sums). A box that misses a target
  is split in two along the side its block's enclosure is most sensitive to, worst first.
  Each quantity has its own partition (see `interval_bounds`).
* inconclusive: the box budget (boxes enclosed) ran out, or the time limit cut the search
  short; the result says how far it got (the fraction of the volume meeting the targets, the
  quantities not finished, the worst box).
  While the witnesses are too close to the small-gain boundary to set targets, every box is
  refined (more witnesses).

The box budget decides the result (`_budget`): the same budget gives the same partition on
any machine. The seconds are a safety limit, a Deadline read between batches: a round the
deadline interrupts splits only the boxes whose halves were both bounded by then (its worst
ones), and the result is then not reproducible.

Scale-out: each round's boxes are cut into batches (`batch_size`) that are bounded
independently, by `bound_batch`, in-process or on any `concurrent.futures.Executor`; the
results are concatenated in order and reduced by min/max, which are exact, so the outcome does
not depend on the executor or on the batch size.
"""

from __future__ import annotations

import dataclasses
import time

import jax.numpy as jnp
import numpy as np

from .._bounds import Bounds, MetricBounds
from .._errors import GameDefinitionError, SGNError
from .._game import Game, _short, not_finite_error
from .._result import Result
from .._weights import WeightStatus, optimize_weights
from ._budget import (
    DEFAULT_MAX_BOXES,
    DEFAULT_MAX_SECONDS,
    DEFAULT_METRIC_BOXES,
    Deadline,
    OutOfTime,
    PassRecord,
    counts_text,
    default_boxes,
    default_metric_boxes,
    limit_text,
)
from ._enclose import JacobianEnclosure, jacobian_enclosure
from ._rigorous import (
    block_lipschitz,
    block_margin,
    box_bounds,
    contraction_bounds,
    metric_bounds,
    witness_bounds,
)
from ._ship import (
    MIN_BATCH,
    ProgramRef,
    batch_size_for,
    largest_batch,
    resolve,
    run,
    worker_count,
)

# DEFAULT_MAX_BOXES, DEFAULT_METRIC_BOXES (the box budgets of games whose interval program is
# small; `default_boxes` gives fewer to costly ones) and DEFAULT_MAX_SECONDS (the safety limit)
# live in `_budget`, and are imported above for callers that read them here.
#: Relative tolerance of the metric pass's refinement of beta(w) (of the block sups behind it:
#: see `interval_in_metric`).
DEFAULT_METRIC_TOLERANCE = 0.01
DEFAULT_BATCH_SIZE = None  # one batch per worker per round (`_ship.batch_size_for`)
#: In-process, with a deadline, a batch is sized to take about this share of the time left,
#: so the deadline is read again before it passes (one batch cannot be interrupted).
PACE_SHARE = 0.25


@dataclasses.dataclass(frozen=True)
class BatchTask:
    """One batch of boxes to bound: plain data, so any executor can ship it to a worker.

    `enclosure` is the program itself in-process, and a `ProgramRef` (its key, the program
    attached only when the worker may lack it) on an executor: see `_ship`.
    """

    enclosure: JacobianEnclosure | ProgramRef
    low: np.ndarray
    high: np.ndarray
    weights: np.ndarray | None = None  # None: SGN bounds and witnesses; else: metric bounds
    #: (Euler steps, A_c) with weights: the contraction pass's norms instead (`_contraction`).
    contraction: tuple | None = None
    #: A block-matrix metric (`_congruence.Congruence`), in place of weights: its metric pass
    #: (`_matrix_pass`), or with `contraction` its contraction pass.
    congruence: object = None


def bound_batch(task: BatchTask) -> dict[str, np.ndarray]:
    """Rigorous per-box quantities of one batch, and proved values at the box centres.

    The centre enclosures come from the same pass as the box enclosures (the mean-value form
    needs them), so witnesses cost no extra interpretation of the program.
    """
    enclosure = resolve(task.enclosure)
    Jlo, Jhi, smear, centre = enclosure.with_centre(task.low, task.high)
    width = task.high - task.low
    if task.congruence is not None:
        return _congruence_batch(task.congruence, Jlo, Jhi, smear, centre, width,
                                 task.contraction)
    if task.contraction is not None:
        return contraction_bounds(Jlo, Jhi, enclosure.dims, task.weights, *task.contraction)
    if task.weights is not None:
        return metric_bounds(Jlo, Jhi, enclosure.dims, task.weights)
    out = box_bounds(Jlo, Jhi, enclosure.dims)
    out.update(witness_bounds(centre.lo, centre.hi, enclosure.dims))
    out["smear"] = width if smear is None else smear
    return out


def _congruence_batch(congruence, Jlo, Jhi, smear, centre, width, contraction):
    """A block-matrix metric's per-box numbers (sgn/_interval/_congruence.py): the contraction
    norms, or the metric bounds with the values proved at the centres and each box's smear
    summed over the blocks (S J S^-1 mixes every entry of J), shape (B, d)."""
    from ._congruence import congruence_bounds, congruence_contraction, congruence_witnesses

    if contraction is not None:
        return congruence_contraction(congruence, Jlo, Jhi, *contraction)
    out = congruence_bounds(congruence, Jlo, Jhi)
    out.update(congruence_witnesses(congruence, centre.lo, centre.hi))
    out["smear"] = width if smear is None else smear.sum(axis=(1, 2))
    return out


def box_centres(low, high):
    return np.clip(0.5 * low + 0.5 * high, low, high)


def map_batches(enclosure, low, high, *, weights=None, executor=None,
                batch_size: int | None = None, deadline: Deadline | None = None,
                partial: bool = False, contraction: tuple | None = None,
                congruence=None) -> dict[str, np.ndarray]:
    """Bound every box, batch by batch, on `executor` (None: in this process), in box order.

    batch_size None: one batch per worker (`batch_size_for`); in-process with a deadline,
    batches paced to the time left (`_paced`). Each box's numbers depend on that box alone, so
    neither the batch size nor the executor changes them.

    Once `deadline` passes, raises OutOfTime; with `partial`, returns instead the boxes done by
    then, a leading part of them in order (OutOfTime only when none is).

    `congruence` (a block-matrix metric, `_congruence.Congruence`) stands in for `weights`.
    """
    if batch_size is None and executor is None and deadline is not None:
        results = _paced(enclosure, low, high, weights, deadline, contraction, congruence)
    else:
        if batch_size is None:
            batch_size = batch_size_for(low.shape[0], 1 if executor is None
                                        else worker_count(executor), largest_batch(enclosure))
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        tasks = [BatchTask(enclosure, low[k:k + batch_size], high[k:k + batch_size], weights,
                           contraction, congruence) for k in range(0, low.shape[0], batch_size)]
        results = run(bound_batch, tasks, enclosure, executor,
                      lambda task, program: dataclasses.replace(task, enclosure=program),
                      deadline=deadline)
    done = sum(next(iter(r.values())).shape[0] for r in results)
    if done == 0 or (done < low.shape[0] and not partial):
        raise OutOfTime
    return {key: np.concatenate([r[key] for r in results]) for key in results[0]}


def _paced(enclosure, low, high, weights, deadline: Deadline,
           contraction: tuple | None = None, congruence=None) -> list[dict]:
    """In-process batches while the deadline has not passed (read before each): the first
    batch is small, the next ones take about PACE_SHARE of the time left at the pace measured
    so far on the deadline's clock (never more than the usual batch), so one small batch at
    most runs past it. The sizes depend on the machine's pace, the numbers of each box do not."""
    boxes = low.shape[0]
    largest = batch_size_for(boxes, 1, largest_batch(enclosure))
    size, at, results = min(largest, MIN_BATCH), 0, []
    while at < boxes and not deadline.expired():
        begun = deadline.now()
        results.append(bound_batch(BatchTask(enclosure, low[at:at + size],
                                             high[at:at + size], weights, contraction,
                                             congruence)))
        done = min(size, boxes - at)
        at += done
        per_box = max(deadline.now() - begun, 1e-9) / done
        size = int(min(largest, max(MIN_BATCH, PACE_SHARE * deadline.remaining() / per_box)))
    return results


@dataclasses.dataclass(frozen=True)
class IntervalBounds(Result):
    """What branch and bound proved about the region.

    Attributes:
        outcome: "certified" (the bounds certify SGN), "refuted" (proved points where no valid
            bounds can certify), or "inconclusive" (budget spent, or too close to call).
        reason: one sentence for the user.
        bounds: the Bounds over the final partition: rigorous whatever the outcome.
        boxes: boxes in the final partition.
        evaluated: boxes enclosed in all (each split encloses two children).
        rounds: branch-and-bound rounds.
        seconds: wall time.
        proved_fraction: for the least-proved quantity, the share of the region's volume whose
            boxes met the last targets (1.0 when certified; None when there were no targets).
        worst_box: {"low", "high", "quantity"} of the box furthest from its target (None when
            certified).
        witness: the proved point behind a refutation: quantity, players, value, point.
        unfinished: the quantities (e.g. "L_12") whose boxes had not all met their targets when
            the budget ran out; None when certified, refuted, or there were no targets.
        record: the pass's counts, limits, seconds and why it stopped (`PassRecord`): the
            certificate's estimator fields and the budget reason are both made from it.
        partition_low, partition_high, partition_owner: the final boxes and the quantity
            whose partition each belongs to (not serialised).
        own_norm: per player, an upper bound on sup ||J_ii||_2 over mu_i's partition (not
            serialised; with the coupling bounds it bounds beta(w) block by block).
        partition_data, partition_depth: the per-box bounds and split depths of the final
            partitions, so the metric pass can refine them further (not serialised).
        target_ratio: the tightness asked for (`interval_bounds`), or None.
        margin_ratio: with a target ratio, SGN's margin with the bounds over that of the
            values proved at the box centres (None without one).
    """

    outcome: str
    reason: str
    bounds: Bounds
    boxes: int
    evaluated: int
    rounds: int
    seconds: float
    proved_fraction: float | None
    worst_box: dict | None
    witness: dict | None
    unfinished: list | None
    record: PassRecord = dataclasses.field(compare=False)
    partition_low: np.ndarray = dataclasses.field(repr=False, compare=False)
    partition_high: np.ndarray = dataclasses.field(repr=False, compare=False)
    partition_owner: np.ndarray = dataclasses.field(repr=False, compare=False)
    own_norm: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    partition_data: dict | None = dataclasses.field(default=None, repr=False, compare=False)
    partition_depth: np.ndarray | None = dataclasses.field(default=None, repr=False,
                                                           compare=False)
    target_ratio: float | None = None
    margin_ratio: float | None = None

    @property
    def certified(self) -> bool:
        return self.outcome == "certified"

    def point_values(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu, L) at the final boxes' centres: the smallest curvature and the largest
        coupling proved there (the true inf of mu_i is at most the first, the true sup of L_ij
        at least the second)."""
        return (self.partition_data["curvature_at"].min(axis=0),
                self.partition_data["coupling_at"].max(axis=0))


def interval_bounds(game: Game, *, max_boxes: int | None = None,
                    max_seconds: float | None = None, executor=None,
                    batch_size: int | None = DEFAULT_BATCH_SIZE,
                    deadline: Deadline | None = None,
                    target_ratio: float | None = None) -> IntervalBounds:
    """Verified bounds on game.region by interval enclosures and branch and bound.

    Each SGN quantity (mu_i, then L_ij for i != j in row order) owns its own partition of the
    region, so a box is only split along the sides its own block depends on: a quantity that
    depends on 2 of 6 coordinates costs a 2-d search, not a 6-d one. Every partition covers
    the region, so each quantity's bound is the min (max) over its own boxes.

    `max_boxes` (default `_budget.default_boxes`: DEFAULT_MAX_BOXES, fewer for a costly
    program) bounds the boxes enclosed and decides the result: the same budget gives the same
    partition and bounds however fast the machine is. `deadline` is the verified run's safety
    limit (`_budget.Deadline`; default: max_seconds, else DEFAULT_MAX_SECONDS, from now). It
    is read between batches; compiling the interval program and enclosing the whole region
    once run before the first reading. A pass it cuts short is not reproducible
    (record.stopped "seconds").

    `target_ratio` r in (0, 1) (None: stop at the first bounds that certify) asks for tight
    bounds: branch and bound goes on splitting after the bounds certify, until SGN's margin
    alpha of the bounds is at least r times the margin of the values proved at the box centres
    (what sampling would see), or the budget ends. The targets are then set for r (module
    docstring, with a/4 replaced by (1 - r) a / 2), so boxes that all meet them give at least
    r a.

    Raises UnsupportedPrimitive (naming it) when the game's Jacobian cannot be enclosed, and
    GameDefinitionError when the curvature or coupling bounds are not finite (`_check_finite`).
    """
    target_ratio = check_target_ratio(target_ratio)
    start = time.perf_counter()
    if deadline is None:
        deadline = Deadline(DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds)
    enclosure = jacobian_enclosure(game)
    max_boxes = default_boxes(enclosure) if max_boxes is None else int(max_boxes)
    region = game.region
    n = game.n_players
    owners = _quantities(n)

    def bound(low, high):
        return map_batches(enclosure, low, high, executor=executor, batch_size=batch_size,
                           deadline=deadline, partial=True)

    # The whole region once, even past the deadline: without it there are no bounds at all.
    root = map_batches(enclosure, region.low[None, :], region.high[None, :],
                       executor=executor, batch_size=batch_size)
    count = len(owners)
    low = np.repeat(region.low[None, :], count, axis=0)
    high = np.repeat(region.high[None, :], count, axis=0)
    owner = np.arange(count)
    data = _own_smear({k: np.repeat(v, count, axis=0) for k, v in root.items()}, owner, owners)
    depth = np.zeros(count, dtype=np.int64)
    evaluated, rounds = 1, 0
    while True:
        rounds += 1
        mu, L = _own_bounds(data, owner, owners)
        verdict = _decide(mu, L, data, low, high)
        loose = verdict is not None and verdict[0] == "certified" and target_ratio is not None \
            and _margin_ratio(mu, L, data) < target_ratio
        if verdict is not None and not loose:
            outcome, reason, witness = verdict
            stopped, score = outcome, None
            break
        targets = _targets(data, 0.5 if target_ratio is None else target_ratio)
        # Without targets (witnesses too close to call), refine every box: more witnesses.
        score = (np.ones(owner.size) if targets is None
                 else _violation(data, owner, owners, *targets))
        unproved = np.flatnonzero(score > 0)
        allowed = (max_boxes - evaluated) // 2
        stopped = "boxes" if allowed < 1 else "seconds" if deadline.expired() else None
        if loose and (stopped is not None or unproved.size == 0):
            # Certified, short of the target ratio: the budget ended first (or every box met
            # its target and rounding kept the margin a hair below r a).
            outcome, reason, witness = verdict
            score = None
            stopped = stopped or outcome
            break
        if stopped is None:
            order = unproved[np.lexsort((unproved, -score[unproved]))][:allowed]
            try:
                low, high, owner, depth, data, done = _split(low, high, owner, depth, data,
                                                             order, owners, bound)
            except OutOfTime:  # not one box split: the partition is the last round's
                stopped = "seconds"
            else:
                # A round the deadline cut short split its worst boxes; the next reading of
                # the deadline ends the pass, with this partition judged first.
                evaluated += 2 * done
                continue
        outcome, witness, reason = "inconclusive", None, None
        score = None if targets is None else score
        break

    record = PassRecord(int(low.shape[0]), int(evaluated), int(max_boxes), deadline.seconds,
                        time.perf_counter() - start, stopped)
    _check_finite(game, enclosure, data, low, high, owner, owners, depth)
    result = _result(game, outcome, reason, witness, data, low, high, owner, owners, depth,
                     score, rounds, record)
    if target_ratio is None:
        return result
    ratio = _margin_ratio(result.bounds.curvature, result.bounds.coupling, data)
    reason = result.reason
    if outcome == "certified":
        reached = "reaching" if ratio >= target_ratio else "short of"
        reason += (f"; SGN's margin with them is {_ratio_text(ratio)} of the margin of the values "
                   f"proved at the box centres, {reached} the target ratio {target_ratio:g}"
                   + (f" when {limit_text(record)} ended the search"
                      if ratio < target_ratio and record.stopped in ("boxes", "seconds") else ""))
    return dataclasses.replace(result, reason=reason, target_ratio=target_ratio,
                               margin_ratio=float(ratio) if np.isfinite(ratio) else None)


def check_target_ratio(target_ratio) -> float | None:
    """The target ratio as a float in (0, 1), or None; anything else is a usage error."""
    if target_ratio is None:
        return None
    r = float(target_ratio)
    if not 0.0 < r < 1.0:
        raise SGNError(f"the target ratio must be between 0 and 1 (exclusive), got {r:g}: "
                       "it is the share of the margin seen at points that the proved margin "
                       "must reach (0.5: within a factor of 2)")
    return r


def _margin_ratio(mu, L, data) -> float:
    """SGN's best margin with the bounds (mu, L) over that of the values proved at the box
    centres: how close the proof came to what the points show (<= 1 up to rounding; 0 when
    the bounds do not certify, nan without witnesses that certify)."""
    witness = optimize_weights(data["curvature_at"].min(axis=0), data["coupling_at"].max(axis=0))
    if not (_finite(mu, L) and witness.status.certifiable and witness.margin > 0):
        return float("nan")
    found = optimize_weights(mu, L)
    return max(float(found.margin), 0.0) / float(witness.margin) if \
        found.status.certifiable else 0.0


def _ratio_text(ratio: float) -> str:
    return "not comparable" if not np.isfinite(ratio) else f"{ratio:.3g}x"


def _quantities(n: int) -> list[tuple[int, int]]:
    """The SGN quantities as blocks (i, j): (i, i) is mu_i, (i, j) with i != j is L_ij."""
    return [(i, i) for i in range(n)] + [(i, j) for i in range(n) for j in range(n) if i != j]


#: Most boxes whose centre and corners are checked for a point where the game is not finite.
NOT_FINITE_BOXES = 8


def _check_finite(game, enclosure, data, low, high, owner, owners, depth) -> None:
    """Raise GameDefinitionError where the game is not finite on the region.

    Boxes whose enclosure is not finite (their own curvature or coupling bound, gamma or
    beta), most split first, are searched for a point where the game is not finite: their
    corners and centres are enclosed as points (one batch), and a point whose enclosure is not
    finite is checked in float, then named in the sampled path's words. Failing that, a
    curvature or coupling bound that is not finite still ends the run (no weights can be
    computed from it; usually a pole inside a box), naming the most split such box; a
    Lipschitz bound that is not finite only makes the certificate inconclusive.
    """
    rows = np.array([i for i, _ in owners])[owner]
    cols = np.array([j for _, j in owners])[owner]
    boxes = np.arange(owner.size)
    own = np.isfinite(np.where(rows == cols, data["curvature"][boxes, rows],
                               data["coupling"][boxes, rows, cols]))
    unbounded = ~own | ~np.isfinite(data["lipschitz"]) | ~np.isfinite(data["euclidean_margin"])
    suspects = _most_split(np.flatnonzero(unbounded), depth)[:NOT_FINITE_BOXES]
    if suspects.size:
        points = np.concatenate([low[suspects], high[suspects],
                                 box_centres(low[suspects], high[suspects])])
        Jlo, Jhi = enclosure(points, points)
        for x in points[~(np.isfinite(Jlo) & np.isfinite(Jhi)).all(axis=(1, 2))]:
            if not _finite_at(game, x):
                raise not_finite_error(x)
    if own.all():
        return
    k = _most_split(np.flatnonzero(~own), depth)[0]
    raise GameDefinitionError(
        f"the Jacobian's interval enclosure is not finite on the box {_short(low[k])} .. "
        f"{_short(high[k])} of the region (after {depth[k]} split{'' if depth[k] == 1 else 's'}"
        "), though it is finite at the box's centre and corners: a cost, the gradient or the "
        "Jacobian is not finite or not bounded there (a pole, a log of 0); fix the game there "
        "or shrink the region (or, if it is bounded there, raise --max-boxes or --max-seconds)")


def _most_split(boxes, depth):
    return boxes[np.argsort(-depth[boxes], kind="stable")]


def _finite_at(game, x) -> bool:
    """Whether the costs, the gradient and J are finite at x (one float evaluation each)."""
    at = jnp.asarray(x)
    values = [game.jacobian(at), game.pseudo_gradient(at)]
    if game.costs is not None:
        values += [f(*game.split(at)) for f in game.costs]
    return all(np.isfinite(np.asarray(v)).all() for v in values)


def _own_bounds(data, owner, owners):
    """mu (lower) and L (upper), each from its own partition's boxes."""
    n = data["curvature"].shape[1]
    mu, L = np.empty(n), np.zeros((n, n))
    for q, (i, j) in enumerate(owners):
        mine = owner == q
        if i == j:
            mu[i] = data["curvature"][mine, i].min()
        else:
            L[i, j] = data["coupling"][mine, i, j].max()
    return mu, L


def _best_over_partitions(values, owner, count, worst, best):
    """A bound on the whole region from every partition (each covers it); the best of them."""
    return best(worst(values[owner == q]) for q in range(count))


def _finite(*values) -> bool:
    return all(np.isfinite(v).all() for v in values)


def _decide(mu, L, data, low, high):
    """(outcome, reason, witness) when the bounds certify or the witnesses refute; else None.

    Bounds that are not finite (a box whose enclosure is the whole line) certify nothing; their
    boxes are split first (`_violation` scores them infinite).
    """
    if _finite(mu, L) and optimize_weights(mu, L).status.certifiable:
        return "certified", "interval bounds certify the small-gain condition on the region", None
    at = data["curvature_at"]
    box, player = np.unravel_index(np.argmin(at), at.shape)
    if at[box, player] <= 0:
        point = box_centres(low[box], high[box])
        return "refuted", (
            f"player {player + 1}'s own curvature is provably <= {at[box, player]:.4g} at a "
            "point of the region (interval evaluation there): no valid mu is positive, so SGN "
            "cannot certify this region"
        ), {"quantity": "curvature", "player": int(player) + 1,
            "value": float(at[box, player]), "point": point.tolist()}
    witness_mu, witness_L = at.min(axis=0), data["coupling_at"].max(axis=0)
    if not _finite(witness_mu, witness_L):
        return None
    check = optimize_weights(witness_mu, witness_L)
    if check.status == WeightStatus.NOT_CERTIFIABLE:
        return "refuted", (
            "values proved at points of the region already fail small-gain "
            f"(rho = {check.spectral_radius:.4g}): no valid norm bounds can pass SGN's "
            "small-gain test on this region"
        ), {"quantity": "small-gain", "curvature": witness_mu.tolist(),
            "coupling": witness_L.tolist(), "spectral_radius": float(check.spectral_radius)}
    return None


def _targets(data, ratio: float = 0.5):
    """Per-quantity targets from the witnesses (module docstring, there for ratio 0.5: boxes
    that all meet them give alpha >= ratio * a); None if too close to call."""
    witness_mu = data["curvature_at"].min(axis=0)
    witness_L = data["coupling_at"].max(axis=0)
    if not _finite(witness_mu, witness_L):
        return None
    check = optimize_weights(witness_mu, witness_L)
    if not check.status.certifiable:
        return None
    n = witness_mu.size
    a = check.margin
    root = np.sqrt(check.weights)
    # Each of the diagonal's drop and the off-diagonal's norm may take half of (1 - r) a.
    share = (1.0 - ratio) / 2.0 * a               # a / 4 at the default ratio 0.5
    sqrt_w = root[:, None] / root[None, :]        # sqrt(w_i / w_j)
    slack = np.where(np.eye(n, dtype=bool), 0.0, share / (max(n - 1, 1) * sqrt_w))
    return witness_mu - share, witness_L + slack, a


def _violation(data, owner, owners, mu_target, L_target, a):
    """How far each box misses its own quantity's target, in units of the witness margin a
    (> 0: missed)."""
    rows = np.array([i for i, _ in owners])[owner]
    cols = np.array([j for _, j in owners])[owner]
    boxes = np.arange(owner.size)
    on_diagonal = rows == cols
    mu_gap = (mu_target[rows] - data["curvature"][boxes, rows]) / a
    L_gap = (data["coupling"][boxes, rows, cols] - L_target[rows, cols]) / a
    with np.errstate(invalid="ignore"):
        gap = np.where(on_diagonal, mu_gap, L_gap)
    return np.where(np.isnan(gap), np.inf, gap)


def _split(low, high, owner, depth, data, order, owners, bound):
    """Replace the boxes `order` by their halves along the side of largest smear of their own
    block (how much that block can change along it), or the widest side without a smear.

    `bound` may stop early (the deadline): then only the boxes of `order` whose two halves
    were both bounded are split, the worst first, as if `order` had been that short. Halves
    are bounded in pairs for that, and laid out as always (left halves, then right halves).
    """
    order, right_low, left_high, children, done = bisect(low, high, data["smear"], order, bound)
    child_low = np.concatenate([low[order], right_low])
    child_high = np.concatenate([left_high, high[order]])
    child_owner = np.tile(owner[order], 2)
    child_data = _own_smear(children, child_owner, owners)
    keep = np.setdiff1d(np.arange(low.shape[0]), order)

    def merged(old, new):
        return np.concatenate([old[keep], new])

    return (merged(low, child_low), merged(high, child_high),
            merged(owner, child_owner), merged(depth, np.tile(depth[order] + 1, 2)),
            {k: merged(v, child_data[k]) for k, v in data.items()}, done)


def loosest(score, room: int) -> np.ndarray:
    """The boxes to split next: those within half of the worst score, worst first (ties by
    index, so the order is reproducible), as many as `room` more boxes allow (two per split)."""
    loose = np.flatnonzero(score >= 0.5 * score.max())
    return loose[np.lexsort((loose, -score[loose]))][:room // 2]


def bisect(low, high, smear, order, bound):
    """Halve the boxes `order` (worst first) along their largest smear and bound the halves
    in pairs with `bound(lows, highs) -> {name: (2k, ...)}`, which may stop early (the
    deadline): only the boxes whose two halves were both bounded count, as if `order` had been
    that short; OutOfTime when not one was. Returns (the boxes split, their right halves' lows,
    their left halves' highs, each quantity for the left halves then the right halves, how
    many)."""
    axis = np.argmax(smear[order], axis=1)
    picked = np.arange(order.size)
    mid = 0.5 * low[order, axis] + 0.5 * high[order, axis]
    left_high, right_low = high[order].copy(), low[order].copy()
    left_high[picked, axis] = mid
    right_low[picked, axis] = mid
    pairs = bound(_interleave(low[order], right_low), _interleave(left_high, high[order]))
    done = next(iter(pairs.values())).shape[0] // 2
    if done == 0:
        raise OutOfTime
    children = {k: np.concatenate([v[0:2 * done:2], v[1:2 * done:2]]) for k, v in pairs.items()}
    return order[:done], right_low[:done], left_high[:done], children, done


def _interleave(first, second):
    """Rows first[0], second[0], first[1], second[1], ...: each box's two halves together."""
    return np.stack([first, second], axis=1).reshape(-1, first.shape[1])


def _own_smear(data, owner, owners):
    """`data` with each box's smear cut to its own quantity's block, (B, d): the only block
    its splits read. The full (B, N, N, d) would hold N^2 times more per kept box."""
    smear = data["smear"]
    if smear.ndim == 4:
        rows = np.array([i for i, _ in owners])[owner]
        cols = np.array([j for _, j in owners])[owner]
        data = {**data, "smear": smear[np.arange(owner.size), rows, cols]}
    return data


def _fraction(score, owner, depth, count) -> float:
    """The least-proved quantity's share of the region's volume in boxes that met their
    targets (each split halves a box's volume)."""
    met = score <= 0
    return min(float(np.sum(np.ldexp(1.0, -depth[met & (owner == q)]))) for q in range(count))


def _result(game, outcome, reason, witness, data, low, high, owner, owners, depth, score,
            rounds, record: PassRecord) -> IntervalBounds:
    n = game.n_players
    count = len(owners)
    centres = box_centres(low, high)
    mu, L = _own_bounds(data, owner, owners)
    locations = {"curvature": np.empty((n, game.dim)),
                 "coupling": np.repeat(centres[:1], n * n, axis=0).reshape(n, n, -1)}
    for q, (i, j) in enumerate(owners):
        mine = np.flatnonzero(owner == q)
        if i == j:
            locations["curvature"][i] = centres[mine[np.argmin(data["curvature"][mine, i])]]
        else:
            locations["coupling"][i, j] = centres[mine[np.argmax(data["coupling"][mine, i, j])]]
    own_norm = np.array([data["own_norm"][owner == q, i].max() for q, (i, j) in
                         enumerate(owners) if i == j])
    ones = np.ones(n)
    # Each partition bounds gamma and beta; so do the block bounds from mu, L, ||J_ii||.
    gamma = max(_best_over_partitions(data["euclidean_margin"], owner, count, np.min, max),
                block_margin(mu, L, ones))
    beta = min(_best_over_partitions(data["lipschitz"], owner, count, np.max, min),
               block_lipschitz(own_norm, L, ones))
    locations["euclidean_margin"] = centres[np.argmin(data["euclidean_margin"])]
    locations["lipschitz"] = centres[np.argmax(data["lipschitz"])]
    bounds = Bounds(mu, L, float(gamma), float(beta), "interval", True, int(low.shape[0]), 0,
                    record.boxes_enclosed, centres, locations)
    fraction, worst, unfinished = None, None, None
    if outcome == "certified":
        fraction = 1.0
    elif score is not None:
        fraction = _fraction(score, owner, depth, count)
        k = int(np.argmax(score))
        worst = {"low": low[k].tolist(), "high": high[k].tolist(),
                 "quantity": _quantity_name(owners[owner[k]])}
        unfinished = [_short_name(owners[q]) for q in range(count)
                      if np.any(score[owner == q] > 0)]
    if reason is None:
        reason = _ran_out_reason(record, fraction, unfinished, count)
    return IntervalBounds(outcome, reason, bounds, record.boxes, record.boxes_enclosed, rounds,
                          record.seconds, fraction, worst, witness, unfinished, record, low, high,
                          owner, own_norm, data, depth)


#: Quantities named in a reason before "... (K in all)".
NAMED = 6


def _ran_out_reason(record: PassRecord, fraction, unfinished, count: int) -> str:
    """Why the bounds pass stopped short, what it had proved, and what to do: every number as
    `record`, `fraction` and `unfinished` hold it (they are the certificate's fields too)."""
    if fraction is None:
        proved = ("the values proved at points are too close to the small-gain boundary to "
                  "call")
    else:
        names = ", ".join(unfinished[:NAMED])
        more = f", ... ({len(unfinished)} in all)" if len(unfinished) > NAMED else ""
        others = "none finished yet" if len(unfinished) == count else "the others are"
        proved = (f"{fraction:.1%} of the region proved for every quantity; bounds not yet "
                  f"finished: {names}{more} ({others})")
    advice = ("raise --max-seconds (so that the box budget ends the search: then the result "
              "is reproducible), or shrink the region" if record.cut_by_time else
              "raise --max-boxes, or shrink the region")
    return (f"{limit_text(record)} ran out in the bounds pass: {counts_text(record)}; {proved}; "
            f"{advice}")


def _quantity_name(block) -> str:
    i, j = block
    return f"{'curvature' if i == j else 'coupling'} {_short_name(block)}"


def _short_name(block) -> str:
    i, j = block
    return f"mu_{i + 1}" if i == j else f"L_{i + 1}{j + 1}"


def interval_in_metric(game: Game, weights, result: IntervalBounds, *, executor=None,
                       batch_size: int | None = DEFAULT_BATCH_SIZE,
                       max_boxes: int | None = None, max_seconds: float | None = None,
                       tolerance: float = DEFAULT_METRIC_TOLERANCE,
                       deadline: Deadline | None = None) -> MetricBounds:
    """beta(w) (upper) and the metric margin (lower), valid on the whole region.

    `interval_metric_pass` without its record.
    """
    return interval_metric_pass(game, weights, result, executor=executor,
                                batch_size=batch_size, max_boxes=max_boxes,
                                max_seconds=max_seconds, tolerance=tolerance,
                                deadline=deadline)[0]


def interval_metric_pass(game: Game, weights, result: IntervalBounds, *, executor=None,
                         batch_size: int | None = DEFAULT_BATCH_SIZE,
                         max_boxes: int | None = None, max_seconds: float | None = None,
                         tolerance: float = DEFAULT_METRIC_TOLERANCE,
                         deadline: Deadline | None = None) -> tuple[MetricBounds, PassRecord]:
    """beta(w) (upper) and the metric margin (lower), valid on the whole region, and what the
    pass did (`PassRecord`).

    The interval counterpart of estimate_in_metric. Two bounds for each, the better kept:

    * block bounds (`block_lipschitz`: ||N||_2 with N_ij the weighted sup of ||J_ij||_2;
      `block_margin`: lambda_min(G(w)), so the margin is never below alpha(w)). Each block's
      sup comes from its own partition, refined here first: boxes whose block bound exceeds
      the largest value proved at a centre, weighted by how much that entry moves ||N||_2
      (its singular vectors), are split along their block's smear, worst first, until ||N||
      is within `tolerance` (relative) of the same norm of the proved values, or `max_boxes`
      more boxes are spent (default `_budget.default_metric_boxes`: DEFAULT_METRIC_BOXES,
      fewer for a costly program). Each block depends on few coordinates, so this converges
      where splitting the joint space would not; step sizes scale with 1/beta^2;
    * the norm of the whole W^1/2 J W^-1/2 over the boxes of every final partition (each
      covers the region).

    max_boxes=0 skips the refinement. The box budget decides the result; time is a safety
    limit only: `deadline`, the verified run's (default: DEFAULT_MAX_SECONDS from now), and
    `max_seconds`, a limit of the pass's own within it (default none). Either ends the pass
    wherever it passes, and its numbers are then not reproducible: an interrupted round is
    dropped, and without time for the whole-J bound the block bounds alone are kept
    (rigorous, maybe looser; stopped "seconds"). Past the deadline already, only the block
    bounds are computed (stopped "skipped").
    """
    start = time.perf_counter()
    if deadline is None:
        deadline = Deadline(DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds)
        limit = deadline.seconds
    else:
        limit = deadline.seconds if max_seconds is None else min(max_seconds, deadline.seconds)
        if max_seconds is not None:
            deadline = deadline.within(max_seconds)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w[0]
    enclosure = jacobian_enclosure(game)
    max_boxes = default_metric_boxes(enclosure) if max_boxes is None else int(max_boxes)
    low, high, owner = result.partition_low, result.partition_high, result.partition_owner
    owners = _quantities(game.n_players)
    spent = 0
    stopped = "skipped" if deadline.expired() else "converged"
    data, depth = result.partition_data, result.partition_depth
    if data is not None and depth is not None and stopped != "skipped":
        def bound_sgn(lo, hi):
            return map_batches(enclosure, lo, hi, executor=executor, batch_size=batch_size,
                               deadline=deadline, partial=True)

        while True:
            if deadline.expired():
                stopped = "seconds"
                break
            score = _block_looseness(data, owner, owners, w, tolerance)
            if score is None:
                break
            if spent + 2 > max_boxes:
                stopped = "boxes"
                break
            order = loosest(score, max_boxes - spent)
            try:
                low, high, owner, depth, data, done = _split(low, high, owner, depth, data,
                                                             order, owners, bound_sgn)
            except OutOfTime:  # not one box split
                stopped = "seconds"
                break
            spent += 2 * done  # a round cut short ends at the next reading of the deadline
    mu, L = result.bounds.curvature, result.bounds.coupling
    blockwise = np.inf
    if data is not None:
        refined_mu, refined_L = _own_bounds(data, owner, owners)
        mu, L = np.maximum(mu, refined_mu), np.minimum(L, refined_L)  # both still valid
        blockwise = block_lipschitz(_own_norm(data, owner, owners), L, w)
    beta, margin = blockwise, block_margin(mu, L, w)
    # The block margin has no point of its own; the region's centre stands in (interval
    # certificates do not quote the point).
    point, enclosed = game.region.centre, spent
    metric = None
    if stopped != "skipped":
        try:
            metric = map_batches(enclosure, low, high, weights=w, executor=executor,
                                 batch_size=batch_size, deadline=deadline)
        except OutOfTime:  # no time for the whole-J bound: the block bounds stand alone
            stopped = "seconds"
    if metric is not None:
        count = len(owners)
        beta = min(_best_over_partitions(metric["lipschitz"], owner, count, np.max, min),
                   blockwise)
        best = max(range(count), key=lambda q: metric["margin"][owner == q].min())
        mine = np.flatnonzero(owner == best)
        k = int(mine[np.argmin(metric["margin"][mine])])
        margin = max(float(metric["margin"][k]), margin)
        point, enclosed = box_centres(low[k], high[k]), int(low.shape[0] + spent)
    record = PassRecord(int(low.shape[0]), enclosed, int(max_boxes), float(limit),
                        time.perf_counter() - start, stopped)
    return MetricBounds(float(beta), float(margin), point, enclosed), record


def _own_norm(data, owner, owners):
    """Per player: sup ||J_ii||_2 over mu_i's partition (upper bound)."""
    return np.array([data["own_norm"][owner == q, i].max()
                     for q, (i, j) in enumerate(owners) if i == j])


def _block_matrices(data, owner, owners, w):
    """(N, P): the weighted block sups bounded over the partitions, and the same from the
    values proved at centres (P <= the true sups <= N entrywise)."""
    n = w.size
    ratio = np.sqrt(w)[:, None] / np.sqrt(w)[None, :]
    upper = data["coupling"].copy()
    proved = data["coupling_at"].copy()
    idx = np.arange(n)
    upper[:, idx, idx] = data["own_norm"]
    proved[:, idx, idx] = data["own_norm_at"]
    N, P = np.zeros((n, n)), proved.max(axis=0) * ratio
    for q, (i, j) in enumerate(owners):
        N[i, j] = upper[owner == q, i, j].max() * ratio[i, j]
    return N, P, upper, ratio


def _block_looseness(data, owner, owners, w, tolerance):
    """Per box: how much its block bound, above the best value proved for that block, can
    raise ||N||_2 (first order: the gap times u_i v_j of N's top singular pair), relative to
    ||P||_2; None once ||N||_2 is within `tolerance` of ||P||_2 (nothing left worth splitting).
    A plain-float heuristic: it only picks boxes, the bounds themselves stay rigorous."""
    N, P, upper, ratio = _block_matrices(data, owner, owners, w)
    if not np.all(np.isfinite(N)):
        gap_scale = 1.0
    else:
        top, floor = np.linalg.norm(N, 2), np.linalg.norm(P, 2)
        if top <= floor * (1.0 + tolerance):
            return None
        gap_scale = max(floor, np.finfo(float).tiny)
    U, _, Vt = np.linalg.svd(np.where(np.isfinite(N), N, 0.0))
    weight = np.abs(U[:, 0])[:, None] * np.abs(Vt[0])[None, :]
    rows = np.array([i for i, _ in owners])[owner]
    cols = np.array([j for _, j in owners])[owner]
    boxes = np.arange(owner.size)
    with np.errstate(invalid="ignore"):
        gap = (upper[boxes, rows, cols] * ratio[rows, cols] - P[rows, cols]) / gap_scale
        score = np.where(np.isnan(gap), np.inf, gap * weight[rows, cols])
    return score if score.max() > 0 else None
