"""How a certificate measures distances: its metric M (docs/method.md, section 2).

    metric = game.metric(weights)      # BlockScalar; Fisher for a Markov game
    A = metric.scale(J)                # M^1/2 J M^-1/2, up to a positive factor
    metric.norm(v)                     # ||v||_M = sqrt(v^T M v)

Every stage that needs distances or a Jacobian "in the metric" asks the metric object: the
bounds' metric pass (beta(w) and the metric margin are the norm and lambda_min(sym) of
`scale(J)`), the equilibrium search (its stopping test is an M-step), the basin (an M-ball),
`simulate` (distances to x*) and `verify`. Nothing else repeats weights over coordinates.

A metric is a JAX pytree (its arrays are the leaves, its layout is static), so compiled
routines take it as an argument: games with the same program and different weights share
their compiled code.

`scale` may drop a positive factor: lambda_min(sym A) and ||A||_2 of A = M^1/2 J M^-1/2 are
unchanged when M is multiplied by c > 0 (the factor cancels), so the block-scalar metric
scales by sqrt(w_i / w_1), which keeps the numbers on the Jacobian's own scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax
import numpy as np


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class BlockScalar:
    """M(w) = blockdiag(w_1 I_{d_1}, ..., w_N I_{d_N}): one positive weight per player.

    Attributes:
        weights: w (length N), positive.
        dims: the players' dimensions.
        diagonal: M's diagonal, w_i repeated over player i's coordinates (length d).
        root: sqrt(w_i / w_1) repeated likewise: M^1/2 up to the factor sqrt(w_1).
    """

    weights: np.ndarray
    dims: tuple[int, ...]
    diagonal: np.ndarray = dataclasses.field(repr=False)
    root: np.ndarray = dataclasses.field(repr=False)

    kind: ClassVar[str] = "block_scalar"
    #: The same M at every point: the mean-value arguments of the direct step certificates
    #: (sgn/_step_search.py) hold in it.
    fixed: ClassVar[bool] = True

    @classmethod
    def from_weights(cls, weights, dims) -> BlockScalar:
        w = np.asarray(weights, dtype=np.float64)
        dims = tuple(int(d) for d in dims)
        return cls(w, dims, np.repeat(w, dims), np.repeat(np.sqrt(w / w[0]), dims))

    # --- what the stages ask ---------------------------------------------------------------

    def scale(self, J):
        """M^1/2 J M^-1/2 (up to the factor the module doc explains), for J of shape
        (..., d, d); numpy or JAX, whichever J (and the leaves) are."""
        return self.root[:, None] * J / self.root[None, :]

    def norm(self, v, xp=np):
        """||v||_M over the last axis."""
        return xp.sqrt(xp.sum(self.diagonal * v ** 2, axis=-1))

    def offset(self, u, at=None):
        """The displacement e with ||e||_M = ||u||_2 (u in the unit-free coordinates M^1/2 e),
        (..., d): how `simulate` places starts on M-spheres around x*."""
        return u / np.sqrt(self.diagonal)

    def inverse_diagonal(self, at) -> np.ndarray:
        """diag of the inverse of the metric's per-player factor (I here) at the point `at`:
        an M-ball of radius r reaches r sqrt(w_i^-1 (this)_k) along coordinate k."""
        return np.ones(self.diagonal.size)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "weights": self.weights.tolist()}

    # --- pytree ----------------------------------------------------------------------------

    def tree_flatten(self):
        return (self.weights, self.diagonal, self.root), (self.dims,)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        weights, diagonal, root = leaves
        return cls(weights, aux[0], diagonal, root)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class Fisher(BlockScalar):
    """M(w) = blockdiag(w_i F_i(x)): block weights on the players' Fisher blocks (docs/fisher.md).

    The game's bound Jacobians are already in Fisher-normalised coordinates (R J R^-1 with
    F = R^T R), where this metric is block-scalar, so `scale` and `norm` of those coordinates
    are BlockScalar's; what differs is reading distances in the policy logits themselves,
    which needs F at a point (`offset`, `inverse_diagonal`).
    """

    factors: Callable | None = dataclasses.field(default=None, repr=False)
    fisher_inverse_diagonal: Callable | None = dataclasses.field(default=None, repr=False)

    kind: ClassVar[str] = "fisher"
    fixed: ClassVar[bool] = False    # F_i(x) changes along the way

    @classmethod
    def from_game(cls, weights, game) -> Fisher:
        base = BlockScalar.from_weights(weights, game.dims)
        return cls(base.weights, base.dims, base.diagonal, base.root, game.fisher_factors,
                   game.fisher_inverse_diagonal)

    def offset(self, u, at=None):
        """e with ||e||_{M(at)} = ||u||_2: e = R(at)^-1 W^-1/2 u, F(at) = R^T R.

        (Multiplied by 1 / sqrt(w) where BlockScalar divides: each keeps the exact arithmetic
        its path always had, so certificates and simulations stay bit-identical.)"""
        _, R_inv = (np.asarray(a) for a in self.factors(at))
        return (u * (1.0 / np.sqrt(self.diagonal))) @ R_inv.T

    def inverse_diagonal(self, at) -> np.ndarray:
        return self.fisher_inverse_diagonal(at)

    # As a pytree (inside compiled routines) a Fisher metric is its arrays alone: the game's
    # functions would make every game's tree distinct and defeat sharing compiled code, and
    # only `scale` and `norm`, which need no F, run there.


def as_metric(game, metric) -> BlockScalar:
    """`metric` itself, or the game's metric for block weights given as a sequence (the public
    functions accept either: `game.metric(weights)` is what they mean)."""
    return metric if isinstance(metric, BlockScalar) else game.metric(metric)
