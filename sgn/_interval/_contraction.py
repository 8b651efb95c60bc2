"""Direct step certificates, proved: the Euler factor and the Jacobians' spread, enclosed.

    found = interval_contraction(game, metric, search, steps, executor=..., deadline=...)

The sampled contraction pass (`sgn._bounds.estimate_contraction`) measures, at two Euler steps
h, the per-step factor q(h) = sup_x ||I - h A(x)||_2 over the region, A = M^1/2 J M^-1/2, and
the spread sup_x ||A(x) - A_c||_2 around the scaled Jacobian A_c at the region's centre
(docs/method.md, section 7; docs/rk4.md). Here each box of a final partition of the bounds
pass encloses J (the same interval program), so A is enclosed over the box, and
`contraction_bounds` bounds both norms for every x in it, all rounding accounted for. Every
quantity's partition covers the region: the best over partitions of the worst over its boxes
bounds the sup on the region. What the step search builds on these (the chord through the
factors, the RK4 spread bound around A_c) is the same as for sampled bounds; the norm of the
RK4 polynomial at A_c itself is computed in floating point, like the exact (constant
Jacobian) path's.

A block-matrix metric (eigenbasis, full blocks, joint) encloses A = S J S^-1 instead
(`_congruence.congruence_contraction`: rigorous products, plus the allowance for S and S^-1
standing for M^1/2 and M^-1/2 only to rounding), on one partition: the one its metric pass
refined (`_matrix_pass`), given as `partition`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._bounds import ContractionBounds
from .._game import Game
from ._branch import _best_over_partitions, _quantities, map_batches
from ._budget import Deadline, OutOfTime
from ._enclose import jacobian_enclosure


def interval_contraction(game: Game, metric, search, steps, *, executor=None,
                         deadline: Deadline | None = None,
                         partition: tuple | None = None) -> ContractionBounds | None:
    """Proved upper bounds on q(h) at each step and on the spread around A_c, over the
    region (module doc), or None when the deadline leaves no time for them (the steps are
    then SGN's alone). Block weights: on `search`'s partitions (the bounds pass's); a
    block-matrix metric: on `partition` (low, high), which must cover the region."""
    steps = np.sort(np.asarray(steps, dtype=np.float64))
    centre = game.region.centre
    A_c = metric.scale(np.asarray(game.bound_jacobians_fn(jnp.asarray(centre))[1]))
    if getattr(metric, "kind", "") == "block_matrix":
        from ._congruence import Congruence

        low, high = partition
        owner, count = np.zeros(low.shape[0], dtype=np.int64), 1
        options = {"congruence": Congruence.of(metric)}
    else:
        weights = np.asarray(metric.weights, dtype=np.float64)
        low, high, owner = search.partition_low, search.partition_high, search.partition_owner
        count = len(_quantities(game.n_players))
        options = {"weights": weights / weights[0]}
    try:
        found = map_batches(jacobian_enclosure(game), low, high, executor=executor,
                            deadline=deadline, contraction=(steps, A_c), **options)
    except OutOfTime:
        return None
    factors = np.array([_best_over_partitions(found["euler_factors"][:, k], owner, count,
                                              np.max, min) for k in range(steps.size)])
    spread = _best_over_partitions(found["spread"], owner, count, np.max, min)
    return ContractionBounds(steps, factors, float(spread), centre, int(low.shape[0]),
                             {"euler_factors": np.zeros(steps.size), "spread": 0.0})
