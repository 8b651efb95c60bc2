"""sgn.MatrixFree's work as plain data, so it runs the same here or on an executor's workers.

The matrix-free estimator (sgn/_matrix_free.py) has three kinds of independent work: screen
batches (every quantity's badness at a batch of points), local searches (one quantity from one
start) and converged runs at the searches' ends. With `MatrixFree(executor=...)` each is a
task on a concurrent.futures.Executor (threads, or Dask: sgn._interval.dask_executor). Dask
serializes every task, even on a threads-only cluster, and the programs close over the user's
game, so they travel as jax.export StableHLO (`Programs`): the very jitted functions the
in-process path runs (sgn._shared.compiled), exported with the game's constants as explicit
arguments, so a worker traces no user code.

Results must not depend on where the work runs (the issue asks it; tests/test_scale_dask.py
checks it): tasks are pure functions of their arguments (the start vectors are drawn before any
task is submitted, in a fixed order), results are gathered in submission order, and the
programs are the same compiled computation.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Programs:
    """The compiled programs of one estimator run, as callables with the game's constants
    bound (`here`), or serialized for a worker (`ship`, `load`)."""

    screen: object          # values(xs (B, d), scale, kind, mask_r, mask_c, key, q) -> (B,)
    measure: object         # (x, scale, kind, mask_r, mask_c, v0, key, restarts, rtol) -> ...
    gradient: object        # (x, a, b) -> d/dx a^T J(x) b
    step: object = None     # `measure` with the search's shorter cycles (None: `measure`)

    def ship(self, screen_args, measure_args, gradient_args, step_args=None) -> "Shipped":
        """Export each program (a `functools.partial(jitted, consts)` from
        sgn._shared.compiled) for the argument shapes given, consts as arguments."""
        def export(partial, args):
            consts = partial.args[0]
            specs = jax.tree_util.tree_map(
                lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.asarray(a).dtype),
                (consts,) + tuple(args))
            exported = jax.export.export(partial.func)(*specs)
            return bytes(exported.serialize()), tuple(np.asarray(c) for c in consts)

        parts = [export(p, a) for p, a in ((self.screen, screen_args),
                                           (self.measure, measure_args),
                                           (self.gradient, gradient_args),
                                           (self.step, step_args)) if p is not None]
        return Shipped(tuple(p[0] for p in parts), tuple(p[1] for p in parts))


@dataclasses.dataclass(frozen=True)
class Shipped:
    """Serialized programs (screen, measure, gradient[, step]) and each one's constants."""

    programs: tuple
    consts: tuple

    def load(self) -> Programs:
        return Programs(*(functools.partial(_deserialized(p), c)
                          for p, c in zip(self.programs, self.consts)))


#: Deserialized (and jitted) programs, per process, by digest: a worker runs many tasks of the
#: same run.
_LOADED: dict = {}


def _deserialized(program: bytes):
    digest = hashlib.sha256(program).hexdigest()
    if digest not in _LOADED:
        if len(_LOADED) > 12:
            _LOADED.clear()
        _LOADED[digest] = jax.jit(jax.export.deserialize(bytearray(program)).call)
    return _LOADED[digest]


def programs_of(work) -> Programs:
    """A task's programs: bound in-process callables as they are, shipped ones loaded."""
    return work.load() if isinstance(work, Shipped) else work
