"""How a certificate measures distances: its metric M (docs/method.md, section 2).

    metric = game.metric(weights)      # BlockScalar; Fisher for a Markov game
    metric = BlockMatrix.from_blocks([P_1, ..., P_N])   # found by the metric search
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
import math
from collections.abc import Callable
from typing import ClassVar

import jax
import numpy as np

from . import _config


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

    def rounding_error(self, J) -> float:
        """How far forming `scale(J)` in floating point can be from the exact M^1/2 J M^-1/2,
        beyond the backward error of the eigen-solve or SVD taken of it: nothing here (each
        entry is one product by a ratio, within the solve's own allowance)."""
        return 0.0

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


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class BlockMatrix:
    """M = blockdiag(P_1, ..., P_N): a symmetric positive definite matrix per player; or, as
    the last rung of the metric ladder, one SPD matrix P over all coordinates ("joint").

    Found by the metric search (sgn/_metric_search.py) when neither SGN's test nor the
    Euclidean one certifies: either each player's eigenbasis with one weight per direction
    (P_i = Q_i diag(v_i) Q_i^T, "eigenbasis"), a full block from the LMI ("block"), or a
    joint matrix that mixes the players ("joint": `blocks` holds that one d x d matrix and
    `dims` stays the players'; every stage below reads it through `scale`, `norm`, `offset`
    and the diagonals, which do not care whether M is block-diagonal).

    `scale` is the exact congruence S J S^-1 with S = M^1/2 the symmetric square root (one
    eigen-solve per block), so lambda_min(sym .) and ||.||_2 of it are the metric margin and
    beta in M; `norm` is ||S v||_2 = sqrt(v^T M v).

    Attributes:
        blocks: P_1..P_N, scaled so that trace(P_1) / d_1 = 1 (only ratios matter); for a
            joint metric the one matrix P, whose diagonal blocks are the P_i.
        dims: the players' dimensions.
        weights: w_i = trace(P_i) / d_i (w_1 = 1): M = blockdiag(w_i Pbar_i) with Pbar_i of
            mean eigenvalue 1, the reading the stages that think in block weights use (the
            basin's per-player radii, `inverse_diagonal`).
        diagonal: M's diagonal (length d): the M-length of a unit step along each coordinate
            is its square root.
        root, inverse_root: S = M^1/2 and S^-1, dense d x d (block-diagonal but for a joint
            metric).
        rung: how it was found: "eigenbasis", "block" or "joint".
        rotations, fine_weights: the eigenbasis recipe (Q_i and the d direction weights),
            None for a full block: what `to_dict` records so the metric can be rebuilt.
    """

    blocks: tuple
    dims: tuple[int, ...]
    weights: np.ndarray
    diagonal: np.ndarray = dataclasses.field(repr=False)
    root: np.ndarray = dataclasses.field(repr=False)
    inverse_root: np.ndarray = dataclasses.field(repr=False)
    rung: str = "block"
    rotations: tuple | None = dataclasses.field(default=None, repr=False)
    fine_weights: np.ndarray | None = dataclasses.field(default=None, repr=False)

    kind: ClassVar[str] = "block_matrix"
    #: One M at every point: the mean-value arguments of the direct step certificates hold.
    fixed: ClassVar[bool] = True

    @classmethod
    def from_blocks(cls, blocks, *, rung: str = "block", rotations=None,
                    fine_weights=None, normalise: bool = True,
                    players: tuple[int, ...] | None = None) -> BlockMatrix:
        """The metric of these blocks; ValueError when one is not symmetric positive definite
        (callers reading a certificate turn it into their own error). normalise=False keeps
        blocks that are already scaled (a certificate's), so that rebuilding one gives the
        very same numbers. A joint metric (rung "joint") is one d x d block, and `players`
        (the players' dims) says how its diagonal blocks split into players."""
        blocks = [np.atleast_2d(np.asarray(b, dtype=np.float64)) for b in blocks]
        if not blocks:
            raise ValueError("a block metric needs at least one block")
        if rung == "joint":
            if len(blocks) != 1 or players is None or sum(players) != blocks[0].shape[0]:
                raise ValueError("a joint metric is one matrix of the game's dimension")
        for k, b in enumerate(blocks):
            if b.ndim != 2 or b.shape[0] != b.shape[1] or not np.isfinite(b).all():
                raise ValueError(f"block {k + 1} must be a finite square matrix")
            if not np.allclose(b, b.T, rtol=1e-10, atol=1e-12 * np.max(np.abs(b))):
                raise ValueError(f"block {k + 1} is not symmetric")
        dims = (tuple(int(n) for n in players) if rung == "joint" else
                tuple(b.shape[0] for b in blocks))
        first = np.trace(blocks[0][:dims[0], :dims[0]]) / dims[0] if normalise else 1.0
        if not first > 0:
            raise ValueError("block 1 is not positive definite")
        blocks = [0.5 * (b + b.T) / first for b in blocks]
        d = sum(dims)
        root, inverse_root = np.zeros((d, d)), np.zeros((d, d))
        start = 0
        for k, b in enumerate(blocks):
            values, vectors = np.linalg.eigh(b)
            if not values[0] > 0:
                raise ValueError(f"block {k + 1} is not positive definite (smallest "
                                 f"eigenvalue {values[0]:.3g})")
            stop = start + b.shape[0]
            root[start:stop, start:stop] = (vectors * np.sqrt(values)) @ vectors.T
            inverse_root[start:stop, start:stop] = (vectors / np.sqrt(values)) @ vectors.T
            start = stop
        # symmetric to the last bit, so that S^T = S holds exactly in the arithmetic
        root, inverse_root = 0.5 * (root + root.T), 0.5 * (inverse_root + inverse_root.T)
        # w_i = trace(P_i) / d_i, P_i player i's diagonal block of M
        offsets = np.cumsum((0,) + dims)
        own = (blocks if rung != "joint" else
               [blocks[0][a:b, a:b] for a, b in zip(offsets[:-1], offsets[1:])])
        weights = np.array([np.trace(b) / b.shape[0] for b in own])
        diagonal = np.concatenate([np.diag(b) for b in blocks])
        return cls(tuple(blocks), dims, weights, diagonal, root, inverse_root, rung,
                   None if rotations is None else tuple(np.asarray(q, dtype=np.float64)
                                                        for q in rotations),
                   fine_weights)

    @classmethod
    def from_eigenbasis(cls, rotations, fine_weights, *, normalise: bool = True) -> BlockMatrix:
        """P_i = Q_i diag(v_i) Q_i^T: one weight per direction of each player's eigenbasis
        (the fine partition of sgn/_weights/_lmi.py). The weights are scaled so that player 1's
        average 1 (trace(P_1) / d_1 = 1), unless normalise=False (a certificate's)."""
        rotations = [np.atleast_2d(np.asarray(q, dtype=np.float64)) for q in rotations]
        v = np.asarray(fine_weights, dtype=np.float64).reshape(-1)
        if v.size != sum(q.shape[0] for q in rotations):
            raise ValueError(f"{v.size} direction weights for "
                             f"{sum(q.shape[0] for q in rotations)} coordinates")
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise ValueError("direction weights must be positive numbers")
        if normalise:
            v = v / np.mean(v[:rotations[0].shape[0]])
        blocks, start = [], 0
        for q in rotations:
            if q.ndim != 2 or q.shape[0] != q.shape[1] or not np.isfinite(q).all():
                raise ValueError("each rotation must be a finite square matrix")
            if not np.allclose(q.T @ q, np.eye(q.shape[0]), atol=1e-9):
                raise ValueError("each rotation must be orthogonal")
            part = v[start:start + q.shape[0]]
            start += q.shape[0]
            blocks.append((q * part) @ q.T)
        return cls.from_blocks(blocks, rung="eigenbasis", rotations=rotations, fine_weights=v,
                               normalise=False)

    @classmethod
    def from_dict(cls, data, dims) -> BlockMatrix:
        """Rebuild the metric a certificate records (`to_dict`), for players of `dims`;
        CertificateFormatError when it is not one."""
        from ._errors import CertificateFormatError

        dims = tuple(int(n) for n in dims)
        try:
            if not isinstance(data, dict) or data.get("kind") != cls.kind:
                raise ValueError(f"kind must be {cls.kind!r}")
            if data.get("rotations") is not None:
                metric = cls.from_eigenbasis(data["rotations"], data["fine_weights"],
                                             normalise=False)
                stored = data.get("blocks")
                if stored is not None and (
                        len(stored) != len(metric.blocks) or not all(
                            np.shape(b) == a.shape and np.allclose(b, a, rtol=1e-9, atol=1e-12)
                            for a, b in zip(metric.blocks, stored))):
                    raise ValueError("its blocks are not the ones its rotations and "
                                     "direction weights build")
            else:
                metric = cls.from_blocks(data["blocks"], rung=data.get("rung", "block"),
                                         normalise=False, players=dims)
        except (ValueError, TypeError, KeyError) as exc:
            raise CertificateFormatError(f"certificate key 'metric' is not a block metric: "
                                         f"{exc}") from None
        if metric.dims != dims:
            raise CertificateFormatError(f"certificate key 'metric' has blocks of sizes "
                                         f"{list(metric.dims)}, the players {list(dims)}")
        return metric

    # --- what the stages ask ---------------------------------------------------------------

    def scale(self, J):
        """S J S^-1, S = M^1/2, for J of shape (..., d, d); numpy or JAX."""
        return self.root @ J @ self.inverse_root

    def norm(self, v, xp=np):
        """||v||_M = ||S v||_2 over the last axis."""
        return xp.sqrt(xp.sum((v @ self.root) ** 2, axis=-1))

    def offset(self, u, at=None):
        """e = S^-1 u, so ||e||_M = ||u||_2 ((..., d))."""
        return u @ self.inverse_root

    def inverse_diagonal(self, at) -> np.ndarray:
        """diag(Pbar_i^-1) = w_i diag(P_i^-1): an M-ball of radius r reaches
        r sqrt((M^-1)_kk) = r sqrt(w_i^-1 (this)_k) along coordinate k."""
        inverse = self.inverse_root @ self.inverse_root
        return np.diag(inverse) * np.repeat(self.weights, self.dims)

    def rounding_error(self, J) -> float:
        """A bound (with the exact bounds' slack factor) on ||fl(S J T) - A_P||_2, A_P the exact
        P^1/2 J P^-1/2 of the recorded blocks, for exact (constant-Jacobian) bounds:

        - the two products: |fl(S J T) - S J T| <= 2 d eps |S| |J| |T| entrywise, so in norm at
          most 2 d eps ||S||_F ||J||_F ||T||_F;
        - S and T standing for P^1/2 and P^-1/2 only to rounding: at most ||S J T||_2 times
          `root_error()` (see there).
        """
        J = np.asarray(J, dtype=np.float64)
        d = J.shape[-1]
        eps = np.finfo(float).eps
        nS, nT, nJ = (float(np.linalg.norm(a)) for a in (self.root, self.inverse_root, J))
        nA = float(np.linalg.norm(self.scale(J), 2))
        error = 2 * d * eps * nS * nJ * nT + (nA + 2 * d * eps * nS * nJ * nT) * self.root_error()
        return float(_config.ROUNDING_SLACK_FACTOR * error)

    def root_error(self) -> float:
        """A rigorous bound c on the relative error of taking the float S and T for P^1/2 and
        P^-1/2: ||S J S^-1 - A_P||_2 <= c ||S J T||_2 for every J, to be multiplied by the
        callers' slack (ROUNDING_SLACK_FACTOR) as all rounding allowances are.

        - T is S^-1 only to rounding. With E = S T - I, S^-1 = T (I + E)^-1, so
          S J S^-1 = S J T (I + E)^-1, which differs from S J T by at most
          ||S J T||_2 ||E||_2 / (1 - ||E||_2) (Neumann series).
        - S is the exact square root of S^2, not of P. With D = S^2 - P, x^T P x and x^T S^2 x
          differ by at most ||D||_2 ||x||^2 <= eta x^T P x, eta = ||D||_2 ||P^-1||_2, and
          ||P^-1||_2 <= s / (1 - s ||D||_2) with s = ||S^-1||_2^2 <= (||T||_2 / (1 - ||E||_2))^2:
          the margin and norms in S^2 and in P differ by at most eta ||A||_2 more.
        Every norm is a Frobenius norm (an upper bound of the 2-norm) of the computed E or D
        plus the a-priori bound on its rounding (gamma_n |X| |Y| for a product of n-term dot
        products, u |.| for the subtraction), and is rounded up by a relative allowance that
        covers the norms' own floating-point sums. It depends on the metric alone, so the exact
        pass (`rounding_error`) and the interval passes (sgn/_interval/_congruence.py, whose
        products S J T are enclosed rigorously) share it. inf when S or T is too far from a
        square root or its inverse for the series to converge.
        """
        S, T = self.root, self.inverse_root
        d = S.shape[-1]
        u = np.finfo(float).eps / 2
        gamma = (d + 2) * u / (1.0 - (d + 2) * u)   # one extra u for forming |X| |Y| itself
        up = 1.0 + 4.0 * (d * d + 2) * u            # the Frobenius norms' own rounding

        def norm_up(computed, rounding):
            """An upper bound of ||X||_2 for the exact X whose computed value is `computed`
            and whose rounding is at most `rounding` entrywise."""
            return up * (float(np.linalg.norm(computed)) + float(np.linalg.norm(rounding)))

        E_hat = S @ T - np.eye(d)
        E = norm_up(E_hat, gamma * (np.abs(S) @ np.abs(T)) + u * np.abs(E_hat))
        if not E < 1.0:
            return math.inf
        P = np.zeros((d, d))
        start = 0
        for b in self.blocks:
            P[start:start + len(b), start:start + len(b)] = b
            start += len(b)
        D_hat = S @ S - P
        D = norm_up(D_hat, gamma * (np.abs(S) @ np.abs(S)) + u * np.abs(D_hat))
        s = (up * float(np.linalg.norm(T)) / (1.0 - E)) ** 2
        if not s * D < 1.0:
            return math.inf
        eta = D * s / (1.0 - s * D)
        return up * (E / (1.0 - E) + eta)

    def to_dict(self) -> dict:
        """What a certificate records: the blocks, or the eigenbasis recipe that rebuilds
        them (rotations Q_i and direction weights), plus the blocks for reading."""
        out = {"kind": self.kind, "rung": self.rung,
               "blocks": [b.tolist() for b in self.blocks]}
        if self.rotations is not None:
            out["rotations"] = [q.tolist() for q in self.rotations]
            out["fine_weights"] = self.fine_weights.tolist()
        return out

    # --- pytree ----------------------------------------------------------------------------
    # Inside compiled routines only `scale` and `norm` run: the arrays they read are the
    # leaves; the blocks and the recipe stay outside (a tree of the dims alone).

    def tree_flatten(self):
        return (self.weights, self.diagonal, self.root, self.inverse_root), (self.dims,)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        weights, diagonal, root, inverse_root = leaves
        return cls((), aux[0], weights, diagonal, root, inverse_root)


def as_metric(game, metric):
    """`metric` itself, or the game's metric for block weights given as a sequence (the public
    functions accept either: `game.metric(weights)` is what they mean)."""
    return metric if isinstance(metric, (BlockScalar, BlockMatrix)) else game.metric(metric)


def certificate_metric(game, cert):
    """The metric a certificate is about: the block-matrix metric it records (`metric`,
    schema version 3), else the game's metric of its weights (block-scalar, or Fisher)."""
    recorded = getattr(cert, "metric", None)
    if recorded is not None:
        return BlockMatrix.from_dict(recorded, game.dims)
    return game.metric(cert.weights)
