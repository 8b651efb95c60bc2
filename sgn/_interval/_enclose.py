"""Enclose the game's Jacobian over boxes by interval evaluation of its traced program.

    enclosure = jacobian_enclosure(game)          # compiles once; picklable
    Jlo, Jhi = enclosure(low, high)               # low, high: (B, d) -> (B, d, d) each
    Jlo, Jhi = enclose_jacobian(game, low, high)  # the same, one call

For every x with low <= x <= high (row by row), Jlo <= J(x) <= Jhi entrywise. The program is
J's part of `jax.make_jaxpr(game.bound_jacobians)` (the hook every estimator reads):
forward-mode derivatives are traced by JAX itself, so the interval interpreter only has to
enclose ordinary arithmetic.

Two enclosures are intersected (both are valid, so their intersection is):

* the natural interval extension of J's program over the box: cheap, but it over-estimates
  (every occurrence of x is treated as independent), by an amount linear in the box width;
* for small d (d <= MEAN_VALUE_MAX_DIM) and a smooth, non-constant J (its program uses only
  smooth primitives: the mean-value theorem fails across the jumps of a `where`, `max` or
  `abs`), the mean-value form
  J(x) in J(c) + sum_k dJ/dx_k(box) (x_k - c_k), with c the box centre, J(c) a thin enclosure
  and dJ/dx_k(box) the natural enclosure of the program of jax.jacfwd(game.jacobian): its
  over-estimation is quadratic in the width, which is what makes branch and bound converge on
  games such as log-cosh curvatures, where the natural extension is very loose.

The same derivative enclosure gives each box's "smear" sum_ab |dJ_ab/dx_k| width_k, the
standard choice of which side to split (Kearfott's maximal smear).
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from .._game import Game
from .._jaxpr import SMOOTH
from . import _arith as ia
from ._arith import Interval
from ._interpret import NotEnclosable, Program, UnsupportedPrimitive, compile_program

#: Largest joint dimension for which the mean-value form is used: its derivative program has
#: d^3 outputs per box.
MEAN_VALUE_MAX_DIM = 16

_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class JacobianEnclosure:
    """The game's Jacobian as an interval program: plain data, sent to executor workers."""

    program: Program
    dims: tuple[int, ...]
    derivative: Program | None = None  # dJ/dx (d, d, d), for the mean-value form
    key: str = ""  # content hash (see `content_key`): names the program in worker caches

    @property
    def dim(self) -> int:
        return sum(self.dims)

    def __call__(self, low, high) -> tuple[np.ndarray, np.ndarray]:
        if self.derivative is None:  # no centre needed: one pass of the program
            low = np.atleast_2d(np.asarray(low, dtype=np.float64))
            high = np.atleast_2d(np.asarray(high, dtype=np.float64))
            J = self._evaluate(self.program, low, high, (self.dim, self.dim))
            return J.lo, J.hi
        Jlo, Jhi, _ = self.with_smear(low, high)
        return Jlo, Jhi

    def with_smear(self, low, high):
        """(Jlo, Jhi, smear): smear (B, N, N, d), per block J_ij, is None without the
        derivative program."""
        Jlo, Jhi, smear, _ = self.with_centre(low, high)
        return Jlo, Jhi, smear

    def with_centre(self, low, high):
        """(Jlo, Jhi, smear, at_centre): also the (thin) enclosure of J at each box centre.

        The mean-value form needs J at the centre anyway, so callers that also want proved
        values at the centres (the branch-and-bound witnesses) get them without a second pass.
        """
        low = np.atleast_2d(np.asarray(low, dtype=np.float64))
        high = np.atleast_2d(np.asarray(high, dtype=np.float64))
        J = self._evaluate(self.program, low, high, (self.dim, self.dim))
        centre = np.clip(0.5 * low + 0.5 * high, low, high)
        at_centre = self._evaluate(self.program, centre, centre, (self.dim, self.dim))
        if self.derivative is None:
            return J.lo, J.hi, None, at_centre
        slope = self._evaluate(self.derivative, low, high, (self.dim,) * 3)
        offset = ia.sub(Interval(low, high), Interval(centre))
        step = ia.mul(slope, Interval(offset.lo[:, None, None, :], offset.hi[:, None, None, :]))
        mean_value = ia.add(at_centre, ia.reduce_sum(step, (3,)))
        edges = np.cumsum((0, *self.dims))[:-1]
        with np.errstate(invalid="ignore"):  # inf * 0: NaN, made inf (unknown) below
            per_entry = ia.magnitude(slope) * (high - low)[:, None, None, :]
        smear = np.add.reduceat(np.add.reduceat(per_entry, edges, axis=1), edges, axis=2)
        return (np.maximum(J.lo, mean_value.lo), np.minimum(J.hi, mean_value.hi),
                np.where(np.isfinite(smear), smear, np.inf), at_centre)

    @staticmethod
    def _evaluate(program: Program, low, high, shape) -> Interval:
        [out] = program.evaluate([Interval(low, high)])
        full = (low.shape[0], *shape)
        return Interval(np.broadcast_to(out.lo, full).astype(np.float64),
                        np.broadcast_to(out.hi, full).astype(np.float64))


def jacobian_enclosure(game: Game) -> JacobianEnclosure:
    """Compile (once per game) the interval program of game.jacobian.

    Raises UnsupportedPrimitive, naming it, when the Jacobian uses a primitive the interpreter
    does not know.
    """
    cached = _PROGRAMS.get(game)
    if cached is None:
        x0 = jnp.asarray(game.region.centre)
        program = compile_program(_jacobian_jaxpr(game, x0))
        enclosure = JacobianEnclosure(program, tuple(game.dims), _derivative_program(game, x0))
        cached = _PROGRAMS[game] = dataclasses.replace(enclosure, key=content_key(enclosure))
    return cached


def _jacobian_jaxpr(game: Game, x0):
    """The program of J read from the hook every estimator reads, game.bound_jacobians.

    The enclosures cover J itself: a game whose step Jacobian (the second matrix) is another
    function (the Fisher geometry's) cannot be verified by them.
    """
    closed = jax.make_jaxpr(game.bound_jacobians)(x0)
    J, J_step = closed.jaxpr.outvars
    if J is not J_step:
        raise NotEnclosable("the game's step Jacobian differs from J (bound_jacobians), and "
                            "the interval enclosures cover J alone")
    return closed.replace(jaxpr=closed.jaxpr.replace(outvars=[J]))


def content_key(enclosure: JacobianEnclosure) -> str:
    """A hash of the programs and dims: equal keys mean the same interval function, so a
    worker that already holds the program under this key can be sent the key alone."""
    body = pickle.dumps((enclosure.program, enclosure.dims, enclosure.derivative), protocol=5)
    return hashlib.sha256(body).hexdigest()


def is_smooth_in_input(program: Program) -> bool:
    """Whether every step that reads the input (directly or not) is smooth.

    Steps on constants only (such as the one-hot tangents jacfwd builds with `eq` and a cast)
    cannot make J jump; a `where`, `max` or cast to an integer on anything derived from x can.
    """
    tainted = set(program.inputs)
    for step in program.steps:
        if not tainted.intersection(step.inputs):
            continue
        if step.primitive not in SMOOTH and step.primitive != "square":
            return False
        if step.primitive == "convert_element_type" and not np.issubdtype(
                np.dtype(dict(step.params)["new_dtype"]), np.floating):
            return False
        tainted.update(step.outputs)
    return True


def _derivative_program(game: Game, x0) -> Program | None:
    """The program of dJ/dx when the mean-value form pays off and can be evaluated."""
    if game.dim > MEAN_VALUE_MAX_DIM or game.has_constant_jacobian:
        return None
    if not is_smooth_in_input(compile_program(jax.make_jaxpr(game.jacobian)(x0))):
        return None  # J may jump: no mean-value theorem
    try:
        return compile_program(jax.make_jaxpr(jax.jacfwd(game.jacobian))(x0))
    except UnsupportedPrimitive:
        return None  # the natural extension alone is still rigorous


def enclose_jacobian(game: Game, low, high) -> tuple[np.ndarray, np.ndarray]:
    """(Jlo, Jhi) with Jlo <= J(x) <= Jhi for every x in each box [low, high]."""
    return jacobian_enclosure(game)(low, high)
