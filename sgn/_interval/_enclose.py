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
* for d <= MEAN_VALUE_MAX_DIM and a smooth, non-constant J (its program uses only smooth
  primitives: the mean-value theorem fails across the jumps of a `where`, `max` or `abs`), the
  centred (mean-value) form of `_centred.py`,
  J(x) in J(c) + sum_k dJ/dx_k(box) (x_k - c_k), with c the box centre, J(c) a thin enclosure
  and dJ/dx_k(box) the natural enclosure of the program of J's directional derivatives: its
  over-estimation is quadratic in the width, which is what makes branch and bound converge on
  games such as log-cosh curvatures, where the natural extension is very loose. Up to
  SLOPE_CHUNK_DIM that program is jax.jacfwd(game.jacobian), all d directions at once (d^3
  numbers per box); above it, the program of J's jvp along a chunk of unit tangents, evaluated
  chunk by chunk so that one box holds about SLOPE_CHUNK_DIM^3 slopes at a time (one
  direction's d^2 at least).

The same derivative enclosure gives each box's "smear" sum_ab |dJ_ab/dx_k| width_k, the
standard choice of which side to split (Kearfott's maximal smear).

Why MEAN_VALUE_MAX_DIM is 16, not more: the derivative program costs about d Jacobian
programs' values per box (78 times the natural extension's box_cost at d = 59), and a form that
is tighter only on boxes that are already small does not pay where a box budget cannot make
every side small. On examples/tanh_gan.py (d = 59) the centred form is looser than the natural
extension on every box of half-width 0.05 or more (the region's is 0.5), so raising the limit
there spends the work for no tighter bound (docs/verified.md, "The centred form on a wide box").
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
from ._arith import Interval
from ._centred import centred_form, slope_chunks
from ._interpret import NotEnclosable, Program, UnsupportedPrimitive, compile_program

#: Largest joint dimension for which the mean-value form is used: its derivative program has
#: d^3 outputs per box and costs about d Jacobian programs (module docstring).
MEAN_VALUE_MAX_DIM = 16
#: Largest d for which every direction's slope is evaluated in one pass (jax.jacfwd of J);
#: above it the slopes come a chunk of directions at a time, about SLOPE_CHUNK_DIM^3 per box.
SLOPE_CHUNK_DIM = 16

_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class JacobianEnclosure:
    """The game's Jacobian as an interval program: plain data, sent to executor workers."""

    program: Program
    dims: tuple[int, ...]
    derivative: Program | None = None  # dJ/dx (d, d, d), for the mean-value form
    #: 0: `derivative` is jacfwd(J), x -> (d, d, d); n > 0: it is (x, T) -> (n, d, d), J's
    #: derivatives along n tangents, evaluated n unit directions at a time (`_centred.py`).
    chunk: int = 0
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
        if self.chunk:
            slopes = slope_chunks(self.derivative, self.chunk, low, high)
        else:
            slopes = [(0, self._evaluate(self.derivative, low, high, (self.dim,) * 3))]
        mean_value, smear = centred_form(at_centre, slopes, low, high, self.dims)
        return (np.maximum(J.lo, mean_value.lo), np.minimum(J.hi, mean_value.hi), smear,
                at_centre)

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
        derivative, chunk = _derivative_program(game, x0)
        enclosure = JacobianEnclosure(program, tuple(game.dims), derivative, chunk)
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
    programs = (enclosure.program, enclosure.dims, enclosure.derivative)
    if enclosure.chunk:   # (the key of an unchunked program is what it was before chunks)
        programs = (*programs, enclosure.chunk)
    body = pickle.dumps(programs, protocol=5)
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


def _derivative_program(game: Game, x0) -> tuple[Program | None, int]:
    """(the program of J's derivatives, its chunk) when the mean-value form pays off and can be
    evaluated; (None, 0) otherwise. Chunk 0: jacfwd(J), all directions in one pass."""
    d = game.dim
    if d > MEAN_VALUE_MAX_DIM or game.has_constant_jacobian:
        return None, 0
    if not is_smooth_in_input(compile_program(jax.make_jaxpr(game.jacobian)(x0))):
        return None, 0  # J may jump: no mean-value theorem
    try:
        if d <= SLOPE_CHUNK_DIM:
            return compile_program(jax.make_jaxpr(jax.jacfwd(game.jacobian))(x0)), 0
        chunk = max(1, SLOPE_CHUNK_DIM ** 3 // d ** 2)

        def along(x, tangents):   # J's derivative along each tangent: (chunk, d, d)
            return jax.vmap(lambda t: jax.jvp(game.jacobian, (x,), (t,))[1])(tangents)

        tangents = jnp.zeros((chunk, d), dtype=x0.dtype)
        return compile_program(jax.make_jaxpr(along)(x0, tangents)), chunk
    except UnsupportedPrimitive:
        return None, 0  # the natural extension alone is still rigorous


def enclose_jacobian(game: Game, low, high) -> tuple[np.ndarray, np.ndarray]:
    """(Jlo, Jhi) with Jlo <= J(x) <= Jhi for every x in each box [low, high]."""
    return jacobian_enclosure(game)(low, high)
