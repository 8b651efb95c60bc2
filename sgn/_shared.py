"""Compiled code shared by games whose programs differ only in their constants.

A sweep builds a new `Game` per grid point, and its costs close over that point's parameter
values. Compiled functions cached on the game object would be traced and compiled again at
every point, although only the numbers differ. So each game function a compiled routine reads
(the pseudo-gradient, the bound Jacobians, ...) is traced once per game to a jaxpr whose closed-
over arrays ("constants") become explicit arguments; the routine is compiled once per program
structure and layout, and every game with that structure calls it with its own constants.

The structure key is the printed jaxpr (equations, shapes, dtypes, literal values at full
precision), the constants' shapes and dtypes, and every equation parameter as an object, so
that anything printing hides (a custom derivative rule, say) compares by its own equality,
which for functions is identity. Two games share code only when evaluating one's program with
the other's constants is the other's program. A value that is a Python float inside user code
is a literal, part of the key: such games are correct, just not shared (`sweep` passes swept
parameters as 0-d arrays, which are constants).
"""

from __future__ import annotations

import contextlib
import functools
from collections import OrderedDict
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import ClosedJaxpr, Jaxpr

#: Most routines kept in the shared cache (least recently used are dropped first).
MAX_SHARED = 256

_shared: OrderedDict = OrderedDict()
_enabled = [True]


@contextlib.contextmanager
def sharing(enabled: bool):
    """Turn sharing across games on or off (off: compiled code is cached per game object,
    the baseline a benchmark compares against)."""
    before = _enabled[0]
    _enabled[0] = bool(enabled)
    try:
        yield
    finally:
        _enabled[0] = before


def compiled(game, uses: tuple[str, ...], key, make: Callable, *, static_argnums=()):
    """The routine make(lifted)(*args), compiled once per program structure.

    `make` receives a `Lifted` stand-in for the game (its functions in `uses`, its layout and
    its region, all evaluated from explicit constants) and returns the function to jit. The
    result is called like that function; the game's constants are passed along.
    """
    parts = [_trace(game, name) for name in uses]
    consts = (jnp.asarray(game.region.low), jnp.asarray(game.region.high)) + tuple(
        c for part in parts for c in part[2])
    layout = (game.dims, game.constrained, game.costs is not None, game.search_gradient)
    structure = None if any(part[0] is None for part in parts) else (
        layout, uses, tuple(part[0] for part in parts), key)
    if structure is not None and _enabled[0]:
        cache, cache_key = _shared, structure
    else:
        cache, cache_key = game.__dict__.setdefault("_compiled_cache", {}), (uses, key)
    if cache_key in cache:
        if cache is _shared:
            _shared.move_to_end(cache_key)
        return functools.partial(cache[cache_key], consts)
    jaxprs = {name: (part[1], len(part[2])) for name, part in zip(uses, parts)}

    def run(consts, *args):
        return make(Lifted(layout, jaxprs, consts))(*args)

    cache[cache_key] = jax.jit(run, static_argnums=tuple(i + 1 for i in static_argnums))
    if cache is _shared and len(_shared) > MAX_SHARED:
        _shared.popitem(last=False)
    return functools.partial(cache[cache_key], consts)


class Lifted:
    """A game's functions evaluated from explicit constants: what compiled routines trace.

    Has the attributes and methods of `Game` that compiled code reads: dims, n_players, dim,
    offsets, constrained, region (low, high, width as arrays), split, block, and the traced
    functions pseudo_gradient, jacobian, bound_jacobians, cost_values,
    checked_bound_jacobians.
    """

    def __init__(self, layout, jaxprs: dict, consts):
        self.dims, self.constrained, self.has_costs, self.search_gradient = layout
        self.n_players = len(self.dims)
        self.dim = int(sum(self.dims))
        self.offsets = tuple(int(o) for o in np.cumsum((0,) + self.dims))
        low, high = consts[:2]
        self.region = _Region(low, high, high - low)
        self._programs, at = {}, 2
        for name, (jaxpr, n) in jaxprs.items():
            self._programs[name] = (jaxpr, consts[at:at + n])
            at += n

    def split(self, x):
        return [x[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def block(self, i: int, j: int) -> tuple[slice, slice]:
        return (slice(self.offsets[i], self.offsets[i + 1]),
                slice(self.offsets[j], self.offsets[j + 1]))

    def _eval(self, name, x):
        jaxpr, consts = self._programs[name]
        return jax.core.eval_jaxpr(jaxpr, consts, x)

    def pseudo_gradient(self, x):
        return self._eval("pseudo_gradient", x)[0]

    def jacobian(self, x):
        return self._eval("jacobian", x)[0]

    def bound_jacobians(self, x):
        return tuple(self._eval("bound_jacobians", x))

    def cost_values(self, x):
        """The players' costs at x, stacked (N,); None for a game given by its field."""
        return self._eval("cost_values", x)[0] if self.has_costs else None

    def checked_bound_jacobians(self, x):
        """(J, J_step) as bound_jacobians, NaN where the gradient or a cost is not finite;
        J_step is None when it is J."""
        J, *J_step = self._eval("checked_bound_jacobians", x)
        return J, (J_step[0] if J_step else None)


class _Region:
    def __init__(self, low, high, width):
        self.low, self.high, self.width = low, high, width


def _game_function(game, name: str):
    if name == "cost_values":
        if game.costs is None:
            return lambda x: jnp.zeros(0)
        return lambda x: jnp.stack([f(*game.split(x)) for f in game.costs])
    if name == "checked_bound_jacobians":
        return _checked_bound_jacobians(game)
    return getattr(game, name)


def _checked_bound_jacobians(game):
    """x -> (J + poison,) or (J + poison, J_step + poison): the bound Jacobians, NaN where the
    gradient or a cost is not finite (0 * v is 0 for finite v, NaN for inf or NaN; summing
    first could overflow). One traced function rather than three: the game's constants are
    then one set of arguments, and XLA shares the work the three have in common (faster
    than the three traced apart, measured: benchmarks/README.md, "How the estimator gets its
    speed")."""
    cost_values = _game_function(game, "cost_values")

    def checked(x):
        J, J_step = game.bound_jacobians(x)
        poison = jnp.sum(0.0 * game.pseudo_gradient(x)) + jnp.sum(0.0 * cost_values(x))
        return (J + poison,) if J_step is J else (J + poison, J_step + poison)
    return checked


def _trace(game, name: str):
    """(structure key or None, open jaxpr, constants) of one game function, cached on the game."""
    traced = game.__dict__.setdefault("_traced", {})
    if name not in traced:
        closed = jax.make_jaxpr(_game_function(game, name))(jnp.asarray(game.region.centre))
        traced[name] = (_structure(closed), closed.jaxpr, tuple(closed.consts))
    return traced[name]


def _structure(closed: ClosedJaxpr):
    """A hashable key equal for two programs only when they compute the same function of
    (x, constants); None when some part cannot be compared (then the code is not shared)."""
    params: list = []
    try:
        _collect_params(closed.jaxpr, params)
        key = (str(closed.jaxpr),
               tuple((np.shape(c), str(jnp.result_type(c)), _weak(c)) for c in closed.consts),
               tuple(params))
        hash(key)
    except TypeError:  # an unhashable parameter
        return None
    return key


def _weak(c) -> bool:
    return bool(getattr(c, "weak_type", False))


def _collect_params(jaxpr: Jaxpr, out: list) -> None:
    """Every equation parameter, nested programs' included; nested constants by value."""
    for eqn in jaxpr.eqns:
        for name, value in sorted(eqn.params.items()):
            out.append(name)
            _collect_value(value, out)


def _collect_value(value, out: list) -> None:
    if isinstance(value, ClosedJaxpr):
        out.extend((np.asarray(c).dtype.str, np.shape(c), np.asarray(c).tobytes())
                   for c in value.consts)
        _collect_params(value.jaxpr, out)
    elif isinstance(value, Jaxpr):
        _collect_params(value, out)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _collect_value(v, out)
    elif isinstance(value, np.ndarray):
        out.append((value.dtype.str, value.shape, value.tobytes()))
    else:
        out.append(value)
