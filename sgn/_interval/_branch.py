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
* inconclusive: the budget (boxes enclosed, seconds) ran out; the result says how far it got
  (the fraction of the volume meeting the targets, the worst box). While the witnesses are too
  close to the small-gain boundary to set targets, every box is refined (more witnesses).

Scale-out: each round's boxes are cut into batches (`batch_size`) that are bounded
independently, by `bound_batch`, in-process or on any `concurrent.futures.Executor`; the
results are concatenated in order and reduced by min/max, which are exact, so the outcome does
not depend on the executor or on the batch size.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .._bounds import Bounds, MetricBounds
from .._game import Game
from .._result import Result
from .._weights import WeightStatus, optimize_weights
from ._enclose import JacobianEnclosure, jacobian_enclosure
from ._rigorous import (
    block_lipschitz,
    block_margin,
    box_bounds,
    metric_bounds,
    witness_bounds,
)
from ._ship import ProgramRef, batch_size_for, resolve, run, worker_count

DEFAULT_MAX_BOXES = 20_000
DEFAULT_MAX_SECONDS = 60.0
#: Extra boxes, seconds and relative tolerance of the metric pass's refinement of beta(w)
#: (of the block sups behind it: see `interval_in_metric`).
DEFAULT_METRIC_BOXES = 2_000
DEFAULT_METRIC_SECONDS = 10.0
DEFAULT_METRIC_TOLERANCE = 0.01
DEFAULT_BATCH_SIZE = None  # one batch per worker per round (`_ship.batch_size_for`)


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


def bound_batch(task: BatchTask) -> dict[str, np.ndarray]:
    """Rigorous per-box quantities of one batch, and proved values at the box centres.

    The centre enclosures come from the same pass as the box enclosures (the mean-value form
    needs them), so witnesses cost no extra interpretation of the program.
    """
    enclosure = resolve(task.enclosure)
    Jlo, Jhi, smear, centre = enclosure.with_centre(task.low, task.high)
    width = task.high - task.low
    if task.weights is not None:
        return metric_bounds(Jlo, Jhi, enclosure.dims, task.weights)
    out = box_bounds(Jlo, Jhi, enclosure.dims)
    out.update(witness_bounds(centre.lo, centre.hi, enclosure.dims))
    out["smear"] = width if smear is None else smear
    return out


def box_centres(low, high):
    return np.clip(0.5 * low + 0.5 * high, low, high)


def map_batches(enclosure, low, high, *, weights=None, executor=None,
                batch_size: int | None = None) -> dict[str, np.ndarray]:
    """Bound every box, batch by batch, on `executor` (None: in this process), in box order.

    batch_size None: one batch per worker (`batch_size_for`). Each box's numbers depend on
    that box alone, so neither the batch size nor the executor changes them.
    """
    if batch_size is None:
        batch_size = batch_size_for(low.shape[0], 1 if executor is None
                                    else worker_count(executor))
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    tasks = [BatchTask(enclosure, low[k:k + batch_size], high[k:k + batch_size], weights)
             for k in range(0, low.shape[0], batch_size)]
    results = run(bound_batch, tasks, enclosure, executor,
                  lambda task, program: dataclasses.replace(task, enclosure=program))
    return {key: np.concatenate([r[key] for r in results]) for key in results[0]}


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
        partition_low, partition_high, partition_owner: the final boxes and the quantity
            whose partition each belongs to (not serialised).
        own_norm: per player, an upper bound on sup ||J_ii||_2 over mu_i's partition (not
            serialised; with the coupling bounds it bounds beta(w) block by block).
        partition_data, partition_depth: the per-box bounds and split depths of the final
            partitions, so the metric pass can refine them further (not serialised).
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
    partition_low: np.ndarray = dataclasses.field(repr=False, compare=False)
    partition_high: np.ndarray = dataclasses.field(repr=False, compare=False)
    partition_owner: np.ndarray = dataclasses.field(repr=False, compare=False)
    own_norm: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    partition_data: dict | None = dataclasses.field(default=None, repr=False, compare=False)
    partition_depth: np.ndarray | None = dataclasses.field(default=None, repr=False,
                                                           compare=False)

    @property
    def certified(self) -> bool:
        return self.outcome == "certified"


def interval_bounds(game: Game, *, max_boxes: int = DEFAULT_MAX_BOXES,
                    max_seconds: float = DEFAULT_MAX_SECONDS, executor=None,
                    batch_size: int | None = DEFAULT_BATCH_SIZE) -> IntervalBounds:
    """Verified bounds on game.region by interval enclosures and branch and bound.

    Each SGN quantity (mu_i, then L_ij for i != j in row order) owns its own partition of the
    region, so a box is only split along the sides its own block depends on: a quantity that
    depends on 2 of 6 coordinates costs a 2-d search, not a 6-d one. Every partition covers
    the region, so each quantity's bound is the min (max) over its own boxes.

    Raises UnsupportedPrimitive (naming it) when the game's Jacobian cannot be enclosed.
    """
    start = time.perf_counter()
    enclosure = jacobian_enclosure(game)
    region = game.region
    n = game.n_players
    owners = _quantities(n)

    def bound(low, high):
        return map_batches(enclosure, low, high, executor=executor, batch_size=batch_size)

    root = bound(region.low[None, :], region.high[None, :])
    count = len(owners)
    low = np.repeat(region.low[None, :], count, axis=0)
    high = np.repeat(region.high[None, :], count, axis=0)
    data = {k: np.repeat(v, count, axis=0) for k, v in root.items()}
    owner = np.arange(count)
    depth = np.zeros(count, dtype=np.int64)
    evaluated, rounds = 1, 0
    while True:
        rounds += 1
        mu, L = _own_bounds(data, owner, owners)
        verdict = _decide(mu, L, data, low, high)
        if verdict is not None:
            outcome, reason, witness = verdict
            score = None
            break
        targets = _targets(data)
        # Without targets (witnesses too close to call), refine every box: more witnesses.
        score = (np.ones(owner.size) if targets is None
                 else _violation(data, owner, owners, *targets))
        unproved = np.flatnonzero(score > 0)
        allowed = (max_boxes - evaluated) // 2
        if time.perf_counter() - start > max_seconds or allowed < 1:
            outcome, witness = "inconclusive", None
            spent = "seconds" if allowed >= 1 else "boxes"
            reason = f"budget ran out ({spent}) after {evaluated} boxes: " + (
                "the values proved at points are too close to the small-gain boundary to "
                "call" if targets is None else
                f"{_fraction(score, owner, depth, count):.1%} of the region proved for every "
                "quantity") + "; raise max_boxes/max_seconds or shrink the region"
            score = None if targets is None else score
            break
        order = unproved[np.lexsort((unproved, -score[unproved]))][:allowed]
        low, high, owner, depth, data = _split(low, high, owner, depth, data, order, owners,
                                               bound)
        evaluated += 2 * order.size

    return _result(game, outcome, reason, witness, data, low, high, owner, owners, depth, score,
                   evaluated, rounds, time.perf_counter() - start)


def _quantities(n: int) -> list[tuple[int, int]]:
    """The SGN quantities as blocks (i, j): (i, i) is mu_i, (i, j) with i != j is L_ij."""
    return [(i, i) for i in range(n)] + [(i, j) for i in range(n) for j in range(n) if i != j]


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


def _decide(mu, L, data, low, high):
    """(outcome, reason, witness) when the bounds certify or the witnesses refute; else None."""
    if optimize_weights(mu, L).status.certifiable:
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
    check = optimize_weights(witness_mu, witness_L)
    if check.status == WeightStatus.NOT_CERTIFIABLE:
        return "refuted", (
            "values proved at points of the region already fail small-gain "
            f"(rho = {check.spectral_radius:.4g}): no valid bounds can certify this region"
        ), {"quantity": "small-gain", "curvature": witness_mu.tolist(),
            "coupling": witness_L.tolist(), "spectral_radius": float(check.spectral_radius)}
    return None


def _targets(data):
    """Per-quantity targets from the witnesses (module docstring); None if too close to call."""
    witness_mu = data["curvature_at"].min(axis=0)
    witness_L = data["coupling_at"].max(axis=0)
    check = optimize_weights(witness_mu, witness_L)
    if not check.status.certifiable:
        return None
    n = witness_mu.size
    a = check.margin
    root = np.sqrt(check.weights)
    ratio = root[:, None] / root[None, :]  # sqrt(w_i / w_j)
    slack = np.where(np.eye(n, dtype=bool), 0.0, a / (4.0 * max(n - 1, 1) * ratio))
    return witness_mu - a / 4.0, witness_L + slack, a


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
    block (how much that block can change along it), or the widest side without a smear."""
    rows = np.array([i for i, _ in owners])[owner[order]]
    cols = np.array([j for _, j in owners])[owner[order]]
    smear = data["smear"][order]
    if smear.ndim == 4:
        smear = smear[np.arange(order.size), rows, cols]
    axis = np.argmax(smear, axis=1)
    picked = np.arange(order.size)
    mid = 0.5 * low[order, axis] + 0.5 * high[order, axis]
    left_high, right_low = high[order].copy(), low[order].copy()
    left_high[picked, axis] = mid
    right_low[picked, axis] = mid
    child_low = np.concatenate([low[order], right_low])
    child_high = np.concatenate([left_high, high[order]])
    child_data = bound(child_low, child_high)
    keep = np.setdiff1d(np.arange(low.shape[0]), order)

    def merged(old, new):
        return np.concatenate([old[keep], new])

    return (merged(low, child_low), merged(high, child_high),
            merged(owner, np.tile(owner[order], 2)), merged(depth, np.tile(depth[order] + 1, 2)),
            {k: merged(v, child_data[k]) for k, v in data.items()})


def _fraction(score, owner, depth, count) -> float:
    """The least-proved quantity's share of the region's volume in boxes that met their
    targets (each split halves a box's volume)."""
    met = score <= 0
    return min(float(np.sum(np.ldexp(1.0, -depth[met & (owner == q)]))) for q in range(count))


def _result(game, outcome, reason, witness, data, low, high, owner, owners, depth, score,
            evaluated, rounds, seconds) -> IntervalBounds:
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
                    int(evaluated), centres, locations)
    if outcome == "certified":
        fraction, worst = 1.0, None
    elif score is None:
        fraction, worst = None, None
    else:
        fraction = _fraction(score, owner, depth, count)
        k = int(np.argmax(score))
        worst = {"low": low[k].tolist(), "high": high[k].tolist(),
                 "quantity": _quantity_name(owners[owner[k]])}
    return IntervalBounds(outcome, reason, bounds, int(low.shape[0]), int(evaluated), rounds,
                          seconds, fraction, worst, witness, low, high, owner, own_norm, data,
                          depth)


def _quantity_name(block) -> str:
    i, j = block
    return f"curvature mu_{i + 1}" if i == j else f"coupling L_{i + 1}{j + 1}"


def interval_in_metric(game: Game, weights, result: IntervalBounds, *, executor=None,
                       batch_size: int | None = DEFAULT_BATCH_SIZE,
                       max_boxes: int = DEFAULT_METRIC_BOXES,
                       max_seconds: float = DEFAULT_METRIC_SECONDS,
                       tolerance: float = DEFAULT_METRIC_TOLERANCE) -> MetricBounds:
    """beta(w) (upper) and the metric margin (lower), valid on the whole region.

    The interval counterpart of estimate_in_metric. Two bounds for each, the better kept:

    * block bounds (`block_lipschitz`: ||N||_2 with N_ij the weighted sup of ||J_ij||_2;
      `block_margin`: lambda_min(G(w)), so the margin is never below alpha(w)). Each block's
      sup comes from its own partition, refined here first: boxes whose block bound exceeds
      the largest value proved at a centre, weighted by how much that entry moves ||N||_2
      (its singular vectors), are split along their block's smear, worst first, until ||N||
      is within `tolerance` (relative) of the same norm of the proved values, or `max_boxes`
      more boxes (or `max_seconds`) are spent. Each block depends on few coordinates, so this
      converges where splitting the joint space would not; step sizes scale with 1/beta^2;
    * the norm of the whole W^1/2 J W^-1/2 over the boxes of every final partition (each
      covers the region).

    max_boxes=0 skips the refinement.
    """
    start = time.perf_counter()
    w = np.asarray(weights, dtype=np.float64)
    w = w / w[0]
    enclosure = jacobian_enclosure(game)
    low, high, owner = result.partition_low, result.partition_high, result.partition_owner
    owners = _quantities(game.n_players)
    spent = 0
    data, depth = result.partition_data, result.partition_depth
    if data is not None and depth is not None:
        def bound_sgn(lo, hi):
            return map_batches(enclosure, lo, hi, executor=executor, batch_size=batch_size)

        while spent + 2 <= max_boxes and time.perf_counter() - start <= max_seconds:
            score = _block_looseness(data, owner, owners, w, tolerance)
            if score is None:
                break
            loose = np.flatnonzero(score >= 0.5 * score.max())
            order = loose[np.lexsort((loose, -score[loose]))][:(max_boxes - spent) // 2]
            low, high, owner, depth, data = _split(low, high, owner, depth, data, order, owners,
                                                   bound_sgn)
            spent += 2 * order.size
    mu, L = result.bounds.curvature, result.bounds.coupling
    blockwise = np.inf
    if data is not None:
        refined_mu, refined_L = _own_bounds(data, owner, owners)
        mu, L = np.maximum(mu, refined_mu), np.minimum(L, refined_L)  # both still valid
        blockwise = block_lipschitz(_own_norm(data, owner, owners), L, w)
    metric = map_batches(enclosure, low, high, weights=w, executor=executor,
                         batch_size=batch_size)
    count = len(owners)
    beta = min(_best_over_partitions(metric["lipschitz"], owner, count, np.max, min), blockwise)
    best = max(range(count), key=lambda q: metric["margin"][owner == q].min())
    mine = np.flatnonzero(owner == best)
    k = int(mine[np.argmin(metric["margin"][mine])])
    margin = max(float(metric["margin"][k]), block_margin(mu, L, w))
    return MetricBounds(float(beta), margin, box_centres(low[k], high[k]),
                        int(low.shape[0] + spent))


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
