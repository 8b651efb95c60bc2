"""What a game is: players' costs (or a vector field), their dims, and the region.

A `Game` turns the user's per-player functions into the two objects every later stage needs,
both on the flat joint vector x in R^d:

    F(x) = (grad_{x_1} f_1(x), ..., grad_{x_N} f_N(x))      the pseudo-gradient
    J(x) = dF/dx                                             its d x d Jacobian

Everything is checked when the game is built, so that a later stage never meets a shape error
from user code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np

from . import _config  # noqa: F401  (enables float64 before any array is made)
from ._errors import GameDefinitionError
from ._jaxpr import (low_precision, non_smooth_operation, out_of_range_index,
                     output_depends_on_input)
from ._metric import BlockScalar
from ._shared import compiled


class Box:
    """An axis-aligned box [low, high] over the joint vector x in R^d.

    `low` and `high` are scalars (the same interval for every coordinate) or arrays of length d.
    """

    def __init__(self, low, high):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if self.low.ndim > 1 or self.high.ndim > 1:
            raise GameDefinitionError("Box bounds must be scalars or 1-d arrays")

    def resolve(self, dim: int) -> Box:
        """This box with both bounds as arrays of length `dim`, checked to be a compact box."""
        try:
            low = np.broadcast_to(self.low, (dim,)).copy()
            high = np.broadcast_to(self.high, (dim,)).copy()
        except ValueError:
            raise GameDefinitionError(
                f"region has {self._size()} coordinates but the players' dims add up to {dim}"
            ) from None
        if np.isnan(low).any() or np.isnan(high).any():
            raise GameDefinitionError("region bounds contain NaN")
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise GameDefinitionError(
                "region is unbounded (an infinite bound): SGN needs a compact region; "
                "give finite low and high for every coordinate"
            )
        inverted = np.flatnonzero(low > high)
        if inverted.size:
            k = int(inverted[0])
            raise GameDefinitionError(
                f"region is empty: low > high at coordinate {k} ({low[k]} > {high[k]})"
            )
        return Box(low, high)

    def _size(self) -> int:
        return max(self.low.size, self.high.size)

    @property
    def centre(self) -> np.ndarray:
        return 0.5 * (self.low + self.high)

    @property
    def width(self) -> np.ndarray:
        return self.high - self.low

    def to_dict(self) -> dict:
        return {"kind": "box", "low": self.low.tolist(), "high": self.high.tolist()}

    def __repr__(self) -> str:
        return f"Box(low={self.low.tolist()}, high={self.high.tolist()})"


class Game:
    """An N-player differentiable game on a box.

    Args:
        costs: N functions; cost i takes the N players' arrays (x_1, ..., x_N) and returns
            player i's scalar cost. They must be JAX-traceable.
        dims: the players' dimensions d_1, ..., d_N.
        region: a `Box` over the joint vector (length sum(dims), or scalar bounds).
        name: shown in certificates and reports.
        names: optional player names (default "player 1", ...).
        constrained: True when the box is the strategy set (dynamics are projected onto it);
            False (default) when it is only the region where the analysis is done.
        equilibrium: the equilibrium x* (flat, length d) when known; otherwise the
            certifier finds it by running the certified dynamics.
    """

    #: The geometry bounds are taken in (docs/method.md; docs/fisher.md) and how the local search
    #: that refines sampled extremes gets its ascent direction.
    geometry = "euclidean"
    search_gradient = "autodiff"
    #: How the sampled screen evaluates a round of Jacobians: "vmap" (one batched program) or
    #: "map" (one point after another inside one program: faster for Jacobians built from
    #: loops, e.g. a large Markov game's linear solves, but not the same bits).
    jacobian_batching = "vmap"
    #: (starts, evaluations) caps on the sampled estimator's local search for this game, or
    #: None: the estimator's own (a large Markov game's plan, docs/fisher.md "Scale").
    search_limits = None
    #: BLAS threads for the sampled screen's host-side solves (numpy's eigen-solves, LAPACK's
    #: Cholesky), or None: numpy's default. On large matrices the default's threads spin beside
    #: XLA's and beside other jobs, and one 600 x 600 eigen-solve took seconds instead of
    #: tens of milliseconds at load (a large Markov game's plan sets 1; benchmarks/README.md,
    #: "Issue 15"). Small matrices never start BLAS threads, so other games leave it.
    blas_threads = None
    #: Sample points `certify` takes when neither samples nor an estimator is given (None:
    #: sgn.Sampled's default, _config.DEFAULT_SAMPLES).
    default_samples = None
    #: Entries the game adds to the certificate's estimator record (a large Markov game: which
    #: plan ran and what it changed); empty for most games.
    estimator_notes: dict = {}
    #: Where `equilibrium` came from: "given" by the user, or "solved" by the game itself.
    equilibrium_source = "given"
    #: The players' pytree layout (sgn/_pytree.py) of a game built by `from_pytrees`; None for
    #: a game of flat arrays.
    pytree_players = None

    def __init__(
        self,
        costs: Sequence[Callable] | None = None,
        dims: Sequence[int] = (),
        region: Box | None = None,
        *,
        name: str = "game",
        names: Sequence[str] | None = None,
        constrained: bool = False,
        field: Callable | None = None,
        equilibrium=None,
    ):
        if (costs is None) == (field is None):
            raise GameDefinitionError("give a game either costs=[...] or a field (Game.from_field)")
        self.dims = _check_dims(dims)
        self.n_players = len(self.dims)
        self.dim = int(sum(self.dims))
        self.offsets = tuple(int(o) for o in np.cumsum((0,) + self.dims))
        if not isinstance(region, Box):
            raise GameDefinitionError("region must be an sgn.Box(low, high)")
        self.region = region.resolve(self.dim)
        self.name = str(name)
        self.names = _check_names(names, self.n_players)
        self.constrained = bool(constrained)
        self.equilibrium = _check_equilibrium(equilibrium, self.dim)
        self.costs = None if costs is None else tuple(costs)
        self._field = field
        if self.costs is not None:
            self._check_costs()
        else:
            self._check_field()
        self._check_finite_at_centre()

    @classmethod
    def from_field(
        cls,
        field: Callable,
        *,
        dims: Sequence[int],
        region: Box,
        name: str = "game",
        names: Sequence[str] | None = None,
        constrained: bool = False,
        equilibrium=None,
    ) -> Game:
        """A game given by its vector field: field(x_1, ..., x_N) -> (F_1, ..., F_N)."""
        return cls(None, dims, region, name=name, names=names, constrained=constrained,
                   field=field, equilibrium=equilibrium)

    @classmethod
    def from_joint_field(cls, field: Callable, *, dims: Sequence[int], region: Box,
                         coupling=None, sparsity: str = "auto", **options) -> Game:
        """A game given by one field on the flat joint vector: field(x) -> F(x), both of
        length sum(dims), with an optional coupling graph (which blocks J_ij may be non-zero:
        an N x N boolean matrix, dense or scipy.sparse, or a list of 0-based (i, j) pairs);
        without it the pattern is detected. For many players on a sparse graph
        (sgn/_sparse_game.py); `options` are name, names, constrained, equilibrium."""
        from ._sparse_game import from_joint_field

        return from_joint_field(field, dims=dims, region=region, coupling=coupling,
                                sparsity=sparsity, **options)

    @classmethod
    def from_pytrees(
        cls,
        costs: Sequence[Callable],
        players: Sequence,
        radius,
        *,
        name: str = "game",
        names: Sequence[str] | None = None,
        constrained: bool = False,
        equilibrium=None,
    ) -> Game:
        """A game whose players' strategies are pytrees (dicts of arrays, model parameters).

        Args:
            costs: N functions; cost i takes the N players' pytrees and returns player i's
                scalar cost (JAX-traceable).
            players: the parameter point, one pytree per player; its float leaves give the
                player's dim, and the region is the box around it.
            radius: half-widths of that box: a scalar for every parameter, or one entry per
                player, each a scalar or a pytree of that player's structure whose leaves are
                scalars or arrays of the leaves' shapes (a scalar at a node covers the leaves
                below it).
            equilibrium: x* when known, as one pytree per player (or the flat joint vector).

        The game is the flat game on the players' raveled leaves (sgn/_pytree.py);
        `game.pytree_players.unravel(x)` turns a joint vector (x* of a certificate) back into
        the players' pytrees, and certificates record each player's leaves and shapes.
        """
        from ._pytree import from_pytrees

        return from_pytrees(cls, costs, players, radius, name=name, names=names,
                            constrained=constrained, equilibrium=equilibrium)

    # --- the joint vector --------------------------------------------------------------

    def split(self, x):
        """The players' arrays (x_1, ..., x_N) of a flat joint vector x."""
        return [x[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def block(self, i: int, j: int) -> tuple[slice, slice]:
        """Index of block J_ij in the d x d Jacobian."""
        return (slice(self.offsets[i], self.offsets[i + 1]),
                slice(self.offsets[j], self.offsets[j + 1]))

    # --- the pseudo-gradient and its Jacobian (JAX-traceable, flat) ----------------------

    def pseudo_gradient(self, x):
        """F(x) on the flat joint vector: JAX-traceable, returns shape (d,)."""
        xs = self.split(x)
        if self.costs is not None:
            parts = [jax.grad(f, argnums=i)(*xs) for i, f in enumerate(self.costs)]
        else:
            parts = self._field(*xs)
        return jnp.concatenate([jnp.reshape(p, (-1,)) for p in parts])

    def jacobian(self, x):
        """J(x) = dF/dx on the flat joint vector: JAX-traceable, returns shape (d, d)."""
        return jax.jacfwd(self.pseudo_gradient)(x)

    def bound_jacobians(self, x):
        """The two matrices the bounds read at x, in the game's geometry: (J, J_step).

        Curvature, coupling and the Euclidean margin are taken from J, the Lipschitz constant
        and the metric margin from J_step, the Jacobian of the field the dynamics step along.
        In the Euclidean geometry both are J(x); the Fisher geometry (MarkovGame) differs.
        """
        J = self.jacobian(x)
        return J, J

    def metric(self, weights) -> BlockScalar:
        """The metric of block weights w in this game's geometry: M(w) = blockdiag(w_i I)
        (a Markov game's is blockdiag(w_i F_i), `sgn._metric.Fisher`)."""
        return BlockScalar.from_weights(weights, self.dims)

    @cached_property
    def field_fn(self) -> Callable:
        """Compiled F for numpy-side callers (shared by games of the same program, see
        _shared)."""
        return compiled(self, ("pseudo_gradient",), "field", lambda g: g.pseudo_gradient)

    @cached_property
    def bound_jacobians_fn(self) -> Callable:
        """Compiled bound_jacobians (J, J_step) for numpy-side callers (shared likewise)."""
        return compiled(self, ("bound_jacobians",), "bound_jacobians",
                        lambda g: g.bound_jacobians)

    @cached_property
    def jacobian_fn(self) -> Callable:
        """Compiled J for numpy-side callers (shared by games of the same program)."""
        return compiled(self, ("jacobian",), "jacobian", lambda g: g.jacobian)

    @cached_property
    def has_constant_jacobian(self) -> bool:
        """True when F is provably affine, so J (and the step Jacobian) is the same everywhere
        on the region.

        Decided from the traced programs, not from samples: no operation on the path to the
        bound Jacobians' outputs reads x, and F itself is built only from smooth operations (a
        jump such as `where(x > 0, 1, 0)` or an integer cast has a zero derivative but is not
        affine, and a custom derivative can disagree with its function). The test errs towards
        False.
        """
        if self.non_smooth is not None:
            return False
        x0 = jnp.asarray(self.region.centre)
        return not output_depends_on_input(jax.make_jaxpr(self.bound_jacobians)(x0))

    @cached_property
    def non_smooth(self) -> str | None:
        """The first operation of F that is not smooth (docs/verified.md), or None.

        Bounds on J = dF describe F only where F is continuously differentiable: an `abs`,
        `where`, `floor`, comparison or custom derivative rule in F has a derivative that
        misses its kinks or jumps, or may disagree with F. Read off the traced program of F;
        the list of smooth operations errs on the side of leaving out.
        """
        found = non_smooth_operation(self._field_program)
        if found is None and self.costs is not None:
            # Differentiating a cost inlines a custom derivative rule into F: F's program then
            # shows the rule's output, not that a rule (which may disagree with the cost) was
            # used. The costs' own programs still name it.
            for cost in self.costs:
                found = non_smooth_operation(jax.make_jaxpr(cost)(*self._player_shapes()))
                if found is not None:
                    break
        return found

    @cached_property
    def single_precision(self) -> str | None:
        """Where F computes with floats narrower than float64, in words, or None (sgn/_jaxpr.py
        `low_precision`): such numbers were rounded to about 7 digits before sgn saw them,
        so the certificate is about the game with those rounded numbers."""
        return low_precision(self._field_program)

    @cached_property
    def _field_program(self):
        """F's traced program at the region's centre, read by the checks above."""
        return jax.make_jaxpr(self.pseudo_gradient)(jnp.asarray(self.region.centre))

    # --- checks at construction ----------------------------------------------------------

    def _player_shapes(self):
        return [jax.ShapeDtypeStruct((d,), jnp.float64) for d in self.dims]

    def _check_costs(self):
        if len(self.costs) != self.n_players:
            raise GameDefinitionError(
                f"{len(self.costs)} costs but {self.n_players} dims: give one cost per player"
            )
        for i, f in enumerate(self.costs):
            if not callable(f):
                raise GameDefinitionError(f"cost {i + 1} is not a function")
            what = f"cost {i + 1} ({self.names[i]})"
            try:
                program, out = jax.make_jaxpr(f, return_shape=True)(*self._player_shapes())
            except Exception as exc:  # user code: any failure is a definition error
                raise GameDefinitionError(
                    f"{what} fails on players of dims {list(self.dims)}: {_one_line(exc)}"
                ) from None
            self._check_indices(program, what)
            if not hasattr(out, "shape") or out.shape != ():
                shape = getattr(out, "shape", type(out).__name__)
                raise GameDefinitionError(
                    f"cost {i + 1} ({self.names[i]}) returns shape {shape}, expected a scalar"
                )

    def _check_field(self):
        if not callable(self._field):
            raise GameDefinitionError("field is not a function")
        try:
            program, out = jax.make_jaxpr(self._field, return_shape=True)(
                *self._player_shapes())
        except Exception as exc:
            raise GameDefinitionError(
                f"field fails on players of dims {list(self.dims)}: {_one_line(exc)}"
            ) from None
        self._check_indices(program, "the field")
        if not isinstance(out, (tuple, list)) or len(out) != self.n_players:
            raise GameDefinitionError(
                f"field must return {self.n_players} per-player gradient arrays"
            )
        for i, (o, d) in enumerate(zip(out, self.dims)):
            if getattr(o, "size", None) != d:
                raise GameDefinitionError(
                    f"field returns shape {getattr(o, 'shape', '?')} for player {i + 1}, "
                    f"whose dim is {d}"
                )

    def _check_indices(self, program, what: str) -> None:
        try:
            problem = out_of_range_index(program)
        except Exception:   # a program this check does not understand: nothing is claimed
            problem = None
        if problem:
            raise GameDefinitionError(
                f"{what} {problem}; the players' dims are {list(self.dims)}: index each "
                f"player's vector within its own length"
            )

    def _check_finite_at_centre(self):
        x0 = jnp.asarray(self.region.centre)
        if self.costs is not None:
            values = _costs_at(self, x0)
            bad = [i for i, v in enumerate(values) if not np.isfinite(np.asarray(v))]
            if bad:
                raise GameDefinitionError(
                    f"cost {bad[0] + 1} is not finite at the region's centre "
                    f"{_short(self.region.centre)}"
                )
        if not np.isfinite(np.asarray(self.field_fn(x0))).all():
            raise GameDefinitionError(
                f"the gradient is not finite at the region's centre {_short(self.region.centre)}"
            )

    def describe(self) -> dict:
        """The game as a certificate records it."""
        players = [{"name": n, "dim": d} for n, d in zip(self.names, self.dims)]
        if self.pytree_players is not None:
            self.pytree_players.annotate(players)   # each player's leaves and shapes
        return {
            "name": self.name,
            "players": players,
            "region": {**self.region.to_dict(), "constrained": self.constrained},
        }

    def __repr__(self) -> str:
        return f"Game(name={self.name!r}, dims={list(self.dims)}, region={self.region!r})"


def _costs_at(game, x0) -> np.ndarray | list:
    """Every cost at x0, for the finiteness check at construction.

    One compiled program rather than op by op: eagerly, each primitive of every cost is
    compiled on its own (a Markov game's costs: 54 small programs, ~5 s of a 6 s build,
    benchmarks/README.md "Issue 15, continued"); the values only decide whether the game is
    finite, no number a certificate reports comes from them. Compiled through sgn._shared, so
    the games of a sweep share it (compiled once per program structure). A cost that cannot be
    traced is evaluated as before, so its error is the one it always gave.
    """
    from ._shared import compiled

    try:
        return compiled(game, ("cost_values",), "finite at centre",
                        lambda g: g.cost_values)(x0)
    except Exception:   # noqa: BLE001  (the eager call below raises the cost's own error)
        return [f(*game.split(x0)) for f in game.costs]


def _check_dims(dims) -> tuple[int, ...]:
    try:
        out = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        raise GameDefinitionError(
            f"dims must be a list of positive integers, got {dims!r}") from None
    if not out:
        raise GameDefinitionError("a game needs at least one player (dims is empty)")
    if any(d < 1 for d in out) or any(int(d) != d for d in dims):
        raise GameDefinitionError(f"dims must be positive integers, got {list(dims)}")
    return out


def _check_equilibrium(x, dim: int):
    if x is None:
        return None
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size != dim:
        raise GameDefinitionError(f"equilibrium has {x.size} entries but the game has {dim}")
    if not np.isfinite(x).all():
        raise GameDefinitionError("equilibrium contains NaN or inf")
    return x


def _check_names(names, n) -> tuple[str, ...]:
    if names is None:
        return tuple(f"player {i + 1}" for i in range(n))
    names = tuple(str(s) for s in names)
    if len(names) != n:
        raise GameDefinitionError(f"{len(names)} player names for {n} players")
    return names


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _short(x: np.ndarray, k: int = 6) -> str:
    head = ", ".join(f"{v:.4g}" for v in x[:k])
    return f"[{head}{', ...' if x.size > k else ''}]"


def not_finite_error(x: np.ndarray) -> GameDefinitionError:
    """The error for a point of the region where the game is not finite: sampled and verified
    bounds say it in the same words."""
    return GameDefinitionError(
        f"costs, gradient or Jacobian are not finite at x = {_short(np.asarray(x))} in the "
        "region; fix the game there or shrink the region")
