"""Metrics from the Jacobians themselves, when SGN's norm bounds cannot find them.

    found = search_weights(game, estimator, bounds, sgn_weights)   # None, or MetricFound

SGN's small-gain test sees each coupling block only through its norm L_ij, so a coupling that
cancels in a weighted metric (J = [[0.5, 1], [-4, 0.5]]: skew in M = diag(1, 1/4), margin 0.5)
is refused, and the equal-weights (Euclidean) test only tries w = 1. This stage maximises the
metric margin

    alpha(M) = min_x lambda_min(sym(M^1/2 J(x) M^-1/2))

over block-diagonal metrics M directly, on a ladder of metric families, cheapest first,
stopping at the first whose measured margin is positive (docs/method.md, "The metric ladder"):

1. block-scalar weights M = blockdiag(w_i I) ("scalar");
2. each player's eigenbasis of sym(J_ii) at the region's centre, one weight per direction:
   M = blockdiag(Q_i diag(v_i) Q_i^T), the block-scalar search on the finer partition
   ("eigenbasis", sgn/_weights/_lmi.py `eigenbasis_blocks`);
3. a full symmetric positive definite block per player ("block");
4. one symmetric positive definite matrix over all coordinates, mixing the players ("joint").
   For a constant Jacobian this rung certifies every stable game (Lyapunov: a stable J has a
   P with sym(P J) > 0), up to the LMI's condition-number cap; it is the last resort because
   its metric no longer splits by player, so what it says is about the joint dynamics only
   (each player's own distance to x* is not bounded by that player's term alone).

On the Jacobians at a few scenario points (the centre and the points where the bounds found
their extremes) each is a linear matrix inequality, solved by sgn/_weights/_lmi.py. The LMI's
value speaks only about the scenario points; the certificate's margin is what the estimator
then measures (sampled) or proves (verified) in the metric found, on the whole region. When
that pass finds a point where the metric does not contract, the point joins the scenarios and
the LMI is solved again (a cutting plane), a few times at most.

Under a verified estimator the matrix rungs' margins are proved by its block-matrix metric
pass (sgn/_interval/_matrix_pass.py: S J S^-1 enclosed over a partition of its own, with the
rounding of S and S^-1 accounted for); a constant Jacobian is measured exactly instead (one
evaluation with its rounding allowance, as for exact bounds), which is both tighter and cheaper.

Rungs 2 to 4 are tried only where their certificate would hold and their cost is bounded:
- not for a constrained game: projected dynamics contract in M only when the projection onto
  the box is non-expansive in M, which holds for block-scalar weights and fails in general for
  a rotated or full block (SPEC section 7);
- not past MAX_EIGENBASIS_DIM / MAX_BLOCK_DIM / MAX_JOINT_DIM coordinates (the joint rung
  has d (d + 1) / 2 unknowns: with six scenarios, at load ~16, 6 s at d = 16, 36 s at d = 20,
  137 s at d = 24): Clarabel's cost per solve grows
  about as d^4 (measured on two shared cores with three scenarios: eigenbasis 1.4 s at d = 24,
  6.2 s at d = 32; block 3.3 s at d = 24, 10 s at d = 32, ~15 s per scenario at d = 64), and a
  search solves several problems with up to 48 scenarios.
Each skip is said in a note of the certificate.
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


#: Largest dimension d for the eigenbasis, full-block and joint rungs (module docstring).
MAX_EIGENBASIS_DIM = 32
MAX_BLOCK_DIM = 24
MAX_JOINT_DIM = 16

#: The rungs above block-scalar weights, in the order tried.
MATRIX_RUNGS = ("eigenbasis", "block", "joint")


@dataclasses.dataclass(frozen=True)
class MetricFound:
    """What the metric search found.

    Attributes:
        weights: the certificate's Weights (method SEARCHED_WEIGHTS, margin = the measured or
            proved metric margin): the weights found for block-scalar metrics; SGN's own weights
            beside a block-matrix metric (their margin is replaced, SGN's is in `sgn_margin`).
        bounds: the estimator's pass in the metric found.
        metric: the metric object (BlockScalar or BlockMatrix).
        rung: "scalar", "eigenbasis", "block" or "joint".
        sgn_margin: SGN's own alpha(w) for its weights (with the norm bounds).
        notes: rungs skipped, and why (for the certificate).
    """

    weights: Weights | None
    bounds: MetricBounds | None
    metric: object | None
    rung: str | None
    sgn_margin: float
    notes: tuple = ()


def search_weights(game: Game, estimator, bounds: Bounds, sgn_weights: Weights, *,
                   progress=None, tol: float = 0.0) -> MetricFound | None:
    """The first rung of the ladder (module doc) whose measured (or proved) metric margin
    exceeds `tol`, as a MetricFound; one with weights None when none is but a rung was skipped
    (its notes say why), None when nothing was found and nothing skipped."""
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
    found = _rung(game, estimator, bounds, points, "scalar", tol, progress)
    if found is not None:
        metric, measured = found
        return MetricFound(dataclasses.replace(
            sgn_weights, status=WeightStatus.CERTIFIABLE, weights=metric.weights,
            margin=float(measured.margin), method=SEARCHED_WEIGHTS), measured, metric,
            "scalar", float(sgn_weights.margin))
    notes = []
    skip = _why_not_matrix(game, estimator)
    for rung in MATRIX_RUNGS:
        limit = {"eigenbasis": MAX_EIGENBASIS_DIM, "block": MAX_BLOCK_DIM,
                 "joint": MAX_JOINT_DIM}[rung]
        if skip is None and game.dim > limit:
            notes.append(f"the {RUNG_NAMES[rung]} metric search was skipped: d = {game.dim} > "
                         f"{limit}, where its semidefinite programs take minutes "
                         "(sgn/_metric_search.py)")
            continue
        if skip is not None:
            notes.append(f"the matrix metric searches (eigenbasis, full blocks, joint) were "
                         f"skipped: {skip}")
            break
        found = _rung(game, estimator, bounds, points, rung, tol, progress)
        if found is not None:
            metric, measured = found
            # SGN's own weights stay beside the metric; the margin is the metric's, measured.
            return MetricFound(dataclasses.replace(
                sgn_weights, status=WeightStatus.CERTIFIABLE, margin=float(measured.margin),
                method=SEARCHED_WEIGHTS), measured, metric, rung, float(sgn_weights.margin),
                tuple(notes))
    return MetricFound(None, None, None, None, float(sgn_weights.margin), tuple(notes)) \
        if notes else None


#: How a certificate names each rung.
RUNG_NAMES = {"scalar": "block-scalar", "eigenbasis": "eigenbasis (one weight per direction of "
              "each player's own block)", "block": "full-block (an SPD matrix per player)",
              "joint": "joint (one SPD matrix over all players' coordinates)"}


def _why_not_matrix(game: Game, estimator) -> str | None:
    """Why a block-matrix metric would not make a certificate here, or None."""
    if game.constrained:
        return ("the game is constrained, and the projection onto its box is non-expansive in "
                "block-scalar metrics only, so projected play is not covered in a rotated or "
                "full block or joint metric")
    return None


def _measure(game: Game, estimator, metric, bounds: Bounds, progress) -> MetricBounds:
    """The estimator's pass in `metric`; for a block matrix under a verified estimator on a
    constant Jacobian, the exact pass instead: one evaluation anywhere is the Jacobian
    everywhere, and its eigen-solves are widened by their rounding allowance (sgn/_bounds.py
    `_exact_extremes`), a proof as the exact bounds are, tighter than enclosing S J S^-1 over
    boxes and without branching."""
    if getattr(estimator, "measures_points", True) or getattr(metric, "kind", "") != \
            "block_matrix" or not game.has_constant_jacobian:
        return estimator.in_metric(game, metric, bounds, progress=progress)
    from ._bounds import estimate_in_metric

    centre = dataclasses.replace(bounds, exact=True, points=game.region.centre[None, :])
    return estimate_in_metric(game, metric, centre)


def _rung(game: Game, estimator, bounds: Bounds, points: np.ndarray, rung: str, tol: float,
          progress):
    """(metric, its MetricBounds) of one rung whose measured margin exceeds tol, or None.

    The LMI proposes from the scenario points; the estimator measures (or proves) on the
    region; a point where the metric falls short joins the scenarios (cutting planes)."""
    from ._metric import BlockMatrix
    from ._weights._lmi import eigenbasis_blocks, search_metric

    partition = None
    if rung == "eigenbasis":
        centre = np.asarray(game.bound_jacobians_fn(jnp.asarray(game.region.centre))[1])
        if not np.isfinite(centre).all():
            return None
        partition = eigenbasis_blocks(centre, game.dims)
    for _ in range(MAX_ROUNDS):
        Js = np.stack([np.asarray(game.bound_jacobians_fn(jnp.asarray(x))[1]) for x in points])
        if not np.isfinite(Js).all():
            return None
        if rung == "scalar":
            found = search_metric(Js, game.dims, "scalar")
        elif rung == "eigenbasis":
            found = search_metric(partition.rotate(Js), partition.dims, "scalar")
        elif rung == "block":
            found = search_metric(Js, game.dims, "block")
        else:       # one block over all coordinates
            found = search_metric(Js, (game.dim,), "block")
        if found.blocks is None or not found.margin > tol:
            return None          # not even the scenario points contract in this family
        if rung == "scalar":
            w = np.asarray(found.weights, dtype=np.float64)
            metric = game.metric(w / w[0])
        elif rung == "eigenbasis":
            metric = BlockMatrix.from_eigenbasis(partition.rotations, found.weights)
        else:
            metric = BlockMatrix.from_blocks(found.blocks, rung=rung, players=game.dims)
        measured = _measure(game, estimator, metric, bounds, progress)
        if measured.margin > tol:
            return metric, measured
        if _inactive(game, metric, measured.margin_point, found.margin):
            # A proof fell short at a point where the metric contracts at least as much as
            # the LMI asked of every scenario: the enclosures, not the metric, are too loose
            # there, and as a scenario the point would constrain nothing, so another round
            # would propose this metric again and fail the same proof (a sampled pass's
            # point is where it saw the margin at or below tol, so this never ends it).
            return None
        points = np.vstack([points, measured.margin_point[None, :]])
    return None


def _inactive(game: Game, metric, point: np.ndarray, level: float) -> bool:
    """Whether the metric margin lambda_min(sym(M^1/2 J M^-1/2)) at `point` reaches the
    LMI's level (within its bisection tolerance)."""
    from ._config import BISECTION_RTOL

    J = np.asarray(game.bound_jacobians_fn(jnp.asarray(point))[1])
    A = metric.scale(J)
    value = float(np.linalg.eigvalsh(0.5 * (A + A.T))[0])
    return value >= level - BISECTION_RTOL * abs(level)


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
