"""Players whose strategies are pytrees (dicts of arrays, model parameters, nested lists).

Every stage of sgn works on the flat joint vector x in R^d (sgn/_game.py). A pytree game is that
same flat game with a translation at its edge: each player's pytree is laid out as one flat
block (its leaves in JAX's flattening order, each leaf raveled row-major), and each user cost is
wrapped as

    flat cost(x_1, ..., x_N) = user cost(unravel_1(x_1), ..., unravel_N(x_N))

so bounds, weights, dynamics, certificates and `verify` need nothing new. The region is the box
around the given parameters, with a scalar radius or per-leaf radii.

Leaves are promoted to float64 (sgn computes in float64: docs/method.md): the user's cost sees
float64 arrays of the leaves' shapes, whatever dtype the given parameters had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import tree_util

from . import _config  # noqa: F401  (float64 before any array is made)
from ._errors import GameDefinitionError
from ._wording import shape_text as _shape

#: A certificate lists at most this many leaves of a player (path and shape); past it, the
#: count alone (`leaf_count`) says how many there are. Model parameters have a few leaves per
#: layer, so this covers the MLPs and small networks sgn's dense estimator handles in full.
MAX_LISTED_LEAVES = 24


def path_name(path) -> str:
    """A leaf's path as a short dotted name: {'w': ...} -> 'w', [{'w': ...}] -> '0.w',
    an attribute (an Equinox module's field) -> its name. A player that is one array: ''."""
    parts = []
    for key in path:
        if isinstance(key, tree_util.DictKey):
            parts.append(str(key.key))
        elif isinstance(key, tree_util.SequenceKey):
            parts.append(str(key.idx))
        elif isinstance(key, tree_util.GetAttrKey):
            parts.append(str(key.name))
        elif isinstance(key, tree_util.FlattenedIndexKey):
            parts.append(str(key.key))
        else:
            parts.append(str(key))
    return ".".join(parts)


def _leaf_label(name: str) -> str:
    return f"leaf '{name}'" if name else "its array"


class PlayerTree:
    """One player's layout: the pytree structure, its leaves' paths and shapes, and the maps
    between the pytree and its flat block of the joint vector."""

    def __init__(self, player_name: str, tree):
        self.player_name = player_name
        try:
            with_paths, self.treedef = tree_util.tree_flatten_with_path(tree)
        except Exception as exc:  # a custom node whose flatten fails: user code
            raise GameDefinitionError(
                f"the parameters of {player_name} are not a pytree JAX can flatten: "
                f"{type(exc).__name__}: {exc}") from None
        self.paths = tuple(path_name(p) for p, _ in with_paths)
        values, shapes = [], []
        for name, (_, leaf) in zip(self.paths, with_paths):
            value = _float_leaf(leaf, f"{player_name}, {_leaf_label(name)}")
            values.append(value)
            shapes.append(value.shape)
        self.shapes = tuple(shapes)
        self.sizes = tuple(int(np.prod(s, dtype=np.int64)) for s in shapes)
        self.dim = int(sum(self.sizes))
        if self.dim == 0:
            raise GameDefinitionError(
                f"{player_name} has no parameters (its pytree has "
                f"{'no leaves' if not values else 'only empty arrays'}): every player needs at "
                "least one float parameter")
        self.offsets = tuple(int(o) for o in np.cumsum((0,) + self.sizes))
        self.centre = self.ravel_leaves(values)
        bad = np.flatnonzero(~np.isfinite(self.centre))
        if bad.size:
            raise GameDefinitionError(
                f"the parameters of {player_name} contain NaN or inf "
                f"({self._where(int(bad[0]))}): the region is a box around them, so they must "
                "be finite")

    def _where(self, k: int) -> str:
        """Which leaf holds flat coordinate k of this player, for messages."""
        leaf = int(np.searchsorted(self.offsets, k, side="right") - 1)
        return _leaf_label(self.paths[leaf])

    def ravel_leaves(self, leaves) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in leaves]) \
            if leaves else np.zeros(0)

    def ravel(self, tree, what: str = "parameters") -> np.ndarray:
        """This player's pytree (same structure, same leaf shapes) as its flat block."""
        leaves = self._leaves_like(tree, what)
        return self.ravel_leaves([_float_leaf(v, f"{what} of {self.player_name}, "
                                                f"{_leaf_label(n)}", shape=s)
                                  for v, n, s in zip(leaves, self.paths, self.shapes)])

    def unravel(self, x):
        """The flat block x (length dim; numpy or traced JAX) as this player's pytree."""
        leaves = [jnp.reshape(x[a:b], s) for a, b, s in
                  zip(self.offsets[:-1], self.offsets[1:], self.shapes)]
        return tree_util.tree_unflatten(self.treedef, leaves)

    def _leaves_like(self, tree, what: str) -> list:
        try:
            return self.treedef.flatten_up_to(tree)
        except (ValueError, TypeError):
            raise GameDefinitionError(
                f"{what} of {self.player_name} does not match its parameters' structure: "
                f"{_mismatch(self, tree)}") from None

    def radii(self, radius) -> np.ndarray:
        """Per-coordinate half-widths from a radius that is a scalar, or a pytree matching this
        player's parameters (a prefix of them: a scalar at a node covers the leaves below it),
        each leaf a scalar or an array of that leaf's shape."""
        if _is_scalar(radius):
            return np.full(self.dim, _radius_value(radius, f"radius of {self.player_name}"))
        tree = self.unravel(np.arange(self.dim))   # each leaf: its own coordinates' indices
        pairs = []   # (radius leaf, indices of one parameter leaf it covers)
        try:
            tree_util.tree_map(
                lambda r, sub: pairs.extend((r, np.asarray(i)) for i in tree_util.tree_leaves(sub)),
                radius, tree, is_leaf=lambda r: r is None)
        except (ValueError, TypeError):
            raise GameDefinitionError(
                f"the radius of {self.player_name} does not match its parameters' structure: "
                f"{_mismatch(self, radius)}; give a scalar, or a pytree of the parameters' "
                "structure whose leaves are scalars or arrays of the leaves' shapes") from None
        out = np.empty(self.dim)
        for r, index in pairs:
            flat = index.reshape(-1)
            if flat.size == 0:
                continue
            leaf = int(np.searchsorted(self.offsets, flat[0], side="right") - 1)
            where = f"radius of {self.player_name}, {_leaf_label(self.paths[leaf])}"
            value = _radius_value(r, where, shape=index.shape)
            out[flat] = np.broadcast_to(value, index.shape).reshape(-1)
        return out

    def describe(self) -> dict:
        """The structure as a certificate records it: leaf count, and the first
        MAX_LISTED_LEAVES leaves' paths and shapes (a few numbers per leaf, never per
        parameter)."""
        listed = [{"path": p, "shape": list(s)} for p, s in
                  zip(self.paths[:MAX_LISTED_LEAVES], self.shapes[:MAX_LISTED_LEAVES])]
        return {"leaf_count": len(self.paths), "leaves": listed}


class PytreePlayers:
    """The layout of all players of a pytree game: ravel and unravel the joint vector.

        game.pytree_players.unravel(cert.equilibrium["x"])   # x* as the players' pytrees
    """

    def __init__(self, players: Sequence, names: Sequence[str]):
        self.trees = tuple(PlayerTree(f"player {i + 1} ({n})", p)
                           for i, (p, n) in enumerate(zip(players, names)))
        self.dims = tuple(t.dim for t in self.trees)
        self.offsets = tuple(int(o) for o in np.cumsum((0,) + self.dims))
        self.centre = np.concatenate([t.centre for t in self.trees])

    def split(self, x) -> list:
        return [x[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def unravel(self, x) -> tuple:
        """A flat joint vector (length d) as the players' pytrees."""
        x = jnp.asarray(x, dtype=jnp.float64) if not isinstance(x, jax.Array) else x
        return tuple(t.unravel(part) for t, part in zip(self.trees, self.split(x)))

    def ravel(self, players, what: str = "parameters") -> np.ndarray:
        """The players' pytrees (one per player) as the flat joint vector."""
        players = _per_player(players, len(self.trees), what)
        return np.concatenate([t.ravel(p, what) for t, p in zip(self.trees, players)])

    def radii(self, radius) -> np.ndarray:
        """Per-coordinate half-widths: a scalar for every parameter, or one entry per player
        (each a scalar or a per-leaf pytree, see PlayerTree.radii)."""
        if _is_scalar(radius):
            return np.full(sum(self.dims), _radius_value(radius, "radius"))
        radius = _per_player(radius, len(self.trees), "radius",
                             hint="a scalar, or one entry per player (a scalar or a pytree of "
                                  "that player's structure)")
        return np.concatenate([t.radii(r) for t, r in zip(self.trees, radius)])

    def wrap_cost(self, cost: Callable) -> Callable:
        """The user's pytree cost as a cost of the players' flat blocks."""
        trees = self.trees

        def flat_cost(*xs):
            return cost(*(t.unravel(x) for t, x in zip(trees, xs)))
        flat_cost.__name__ = getattr(cost, "__name__", "cost")
        flat_cost.__doc__ = getattr(cost, "__doc__", None)
        flat_cost.__wrapped__ = cost
        return flat_cost

    def shapes(self) -> tuple:
        """The players' pytrees of float64 ShapeDtypeStructs (to trace a cost without running
        it)."""
        return tuple(tree_util.tree_unflatten(
            t.treedef, [jax.ShapeDtypeStruct(s, jnp.float64) for s in t.shapes])
            for t in self.trees)

    def annotate(self, players: list[dict]) -> None:
        """Add each player's structure to the certificate's player entries."""
        for entry, tree in zip(players, self.trees):
            entry["structure"] = tree.describe()


def from_pytrees(cls, costs, players, radius, *, name, names, constrained, equilibrium):
    """Game.from_pytrees: the flat game of pytree players (see the module docstring)."""
    from ._game import Box, _check_names, _one_line

    if isinstance(players, (str, bytes)) or not isinstance(players, (tuple, list)):
        raise GameDefinitionError(
            "players must be a tuple or list with one pytree of parameters per player, "
            f"got {type(players).__name__}")
    if not players:
        raise GameDefinitionError("a game needs at least one player (players is empty)")
    names = _check_names(names, len(players))
    layout = PytreePlayers(players, names)
    if costs is None or isinstance(costs, (str, bytes)) or not hasattr(costs, "__len__"):
        raise GameDefinitionError("costs must be a list with one function per player")
    costs = tuple(costs)
    if len(costs) != len(players):
        raise GameDefinitionError(
            f"{len(costs)} costs but {len(players)} players: give one cost per player")
    args = layout.shapes()
    for i, cost in enumerate(costs):
        what = f"cost {i + 1} ({names[i]})"
        if not callable(cost):
            raise GameDefinitionError(f"{what} is not a function")
        try:
            out = jax.eval_shape(cost, *args)
        except Exception as exc:  # user code: any failure is a definition error
            raise GameDefinitionError(
                f"{what} fails on the players' parameters (leaves "
                f"{'; '.join(_leaves_summary(t) for t in layout.trees)}): {_one_line(exc)}"
            ) from None
        if not hasattr(out, "shape") or out.shape != ():
            shape = getattr(out, "shape", type(out).__name__)
            raise GameDefinitionError(f"{what} returns shape {shape}, expected a scalar")
    half = layout.radii(radius)
    if equilibrium is not None:
        if isinstance(equilibrium, (tuple, list)):
            equilibrium = layout.ravel(equilibrium, "the equilibrium")
        else:
            try:
                equilibrium = np.asarray(equilibrium, dtype=np.float64)
            except (TypeError, ValueError):
                raise GameDefinitionError(
                    "equilibrium must be one pytree per player (a tuple, like players) or the "
                    f"flat joint vector, got a {type(equilibrium).__name__}") from None
    game = cls([layout.wrap_cost(c) for c in costs], layout.dims,
               Box(layout.centre - half, layout.centre + half), name=name, names=names,
               constrained=constrained, equilibrium=equilibrium)
    game.pytree_players = layout
    return game


# --- checks -----------------------------------------------------------------------------------

def _float_leaf(leaf, where: str, shape=None) -> np.ndarray:
    """A leaf as a float64 array, or a GameDefinitionError saying why it cannot be a strategy."""
    dtype = getattr(leaf, "dtype", None)
    if dtype is None:
        if isinstance(leaf, bool) or not isinstance(leaf, (int, float, np.number)):
            raise GameDefinitionError(
                f"{where} is a {type(leaf).__name__}, not an array of floats: a player's "
                "strategy is a pytree of float arrays")
        dtype = np.asarray(leaf).dtype
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise GameDefinitionError(
            f"{where} has dtype {np.dtype(dtype).name}: a player's strategy is a pytree of float "
            "arrays (write 1.0, not 1, or convert with .astype(float)); keep integer or boolean "
            "settings out of the players, e.g. in the cost's closure")
    value = np.asarray(leaf, dtype=np.float64)
    if shape is not None and value.shape != tuple(shape):
        raise GameDefinitionError(
            f"{where} has shape {value.shape}, the parameters' leaf has {tuple(shape)}")
    return value


def _radius_value(r, where: str, shape=()) -> np.ndarray:
    if r is None or isinstance(r, bool):
        raise GameDefinitionError(f"{where} is {r!r}, not a number")
    try:
        value = np.asarray(r, dtype=np.float64)
    except (TypeError, ValueError):
        raise GameDefinitionError(f"{where} is a {type(r).__name__}, not a number") from None
    try:
        np.broadcast_to(value, shape)
    except ValueError:
        raise GameDefinitionError(
            f"{where} has shape {value.shape}, which does not fit the leaf's shape "
            f"{tuple(shape)}: give a scalar or an array of the leaf's shape") from None
    if not np.isfinite(value).all() or (value < 0).any():
        raise GameDefinitionError(
            f"{where} must be finite and >= 0 (a half-width of the box around the parameters)")
    return value


def _is_scalar(r) -> bool:
    return isinstance(r, (int, float, np.number)) and not isinstance(r, bool) or (
        hasattr(r, "shape") and np.shape(r) == ())


def _per_player(value, n: int, what: str, hint: str = "one pytree per player") -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or \
            len(value) != n:
        got = f"{len(value)} entries" if isinstance(value, (tuple, list)) else \
            type(value).__name__
        raise GameDefinitionError(f"{what} must be a tuple or list of {n} entries ({hint}); "
                                  f"got {got}")
    return tuple(value)


def _leaves_summary(tree: PlayerTree, k: int = 4) -> str:
    shown = ", ".join(f"{p or 'array'} {_shape(s)}" for p, s in
                      zip(tree.paths[:k], tree.shapes[:k]))
    more = f", ... ({len(tree.paths)} leaves)" if len(tree.paths) > k else ""
    return f"[{shown}{more}]"


def _mismatch(tree: PlayerTree, other) -> str:
    """How `other`'s structure differs from the player's: missing and extra leaf paths."""
    try:
        theirs = [path_name(p) for p, _ in tree_util.tree_flatten_with_path(
            other, is_leaf=lambda r: r is None)[0]]
    except Exception:
        return f"got a {type(other).__name__}"
    ours = set(tree.paths)
    missing = [p for p in tree.paths if p not in theirs]
    extra = [p for p in theirs if p not in ours]
    parts = []
    if missing:
        parts.append("no entry for " + ", ".join(repr(p) for p in missing[:4])
                     + (" ..." if len(missing) > 4 else ""))
    if extra:
        parts.append("entries not in the parameters: " + ", ".join(repr(p) for p in extra[:4])
                     + (" ..." if len(extra) > 4 else ""))
    if not parts:
        parts.append(f"the parameters are {tree.treedef}, got {tree_util.tree_structure(other)}")
    return "; ".join(parts)
