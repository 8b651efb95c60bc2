"""Enclose the game's Jacobian over boxes by interval evaluation of its traced program.

    enclosure = jacobian_enclosure(game)          # compiles once; picklable
    Jlo, Jhi = enclosure(low, high)               # low, high: (B, d) -> (B, d, d) each
    Jlo, Jhi = enclose_jacobian(game, low, high)  # the same, one call

For every x with low <= x <= high (row by row), Jlo <= J(x) <= Jhi entrywise. The program is
`jax.make_jaxpr(game.jacobian)`: forward-mode derivatives are traced by JAX itself, so the
interval interpreter only has to enclose ordinary arithmetic.

This is the natural interval extension (no mean-value form): its overestimation shrinks
linearly with the box width, which branch and bound relies on.
"""

from __future__ import annotations

import dataclasses
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from .._game import Game
from ._arith import Interval
from ._interpret import Program, compile_program

_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class JacobianEnclosure:
    """The game's Jacobian as an interval program: plain data, sent to executor workers."""

    program: Program
    dims: tuple[int, ...]

    @property
    def dim(self) -> int:
        return sum(self.dims)

    def __call__(self, low, high) -> tuple[np.ndarray, np.ndarray]:
        low = np.atleast_2d(np.asarray(low, dtype=np.float64))
        high = np.atleast_2d(np.asarray(high, dtype=np.float64))
        [J] = self.program.evaluate([Interval(low, high)])
        batch = low.shape[0]
        shape = (batch, self.dim, self.dim)
        return (np.broadcast_to(J.lo, shape).astype(np.float64),
                np.broadcast_to(J.hi, shape).astype(np.float64))


def jacobian_enclosure(game: Game) -> JacobianEnclosure:
    """Compile (once per game) the interval program of game.jacobian.

    Raises UnsupportedPrimitive, naming it, when the Jacobian uses a primitive the interpreter
    does not know.
    """
    program = _PROGRAMS.get(game)
    if program is None:
        closed = jax.make_jaxpr(game.jacobian)(jnp.asarray(game.region.centre))
        program = _PROGRAMS[game] = compile_program(closed)
    return JacobianEnclosure(program, tuple(game.dims))


def enclose_jacobian(game: Game, low, high) -> tuple[np.ndarray, np.ndarray]:
    """(Jlo, Jhi) with Jlo <= J(x) <= Jhi for every x in each box [low, high]."""
    return jacobian_enclosure(game)(low, high)
