"""Evaluate a traced JAX program on interval inputs.

    program = compile_program(jax.make_jaxpr(fn)(x0))     # UnsupportedPrimitive if it can't
    [out] = program.evaluate([Interval(low, high)])

`compile_program` flattens the ClosedJaxpr into a `Program`: a list of steps over numbered
slots, with nested programs (jit/pjit, closed_call, custom_jvp_call, custom_vjp_call, remat)
inlined and every parameter turned into plain Python data. A Program is therefore picklable
with the standard library, so batches of boxes can go to any executor (threads, processes,
Dask workers) with no JAX on the other side. Every primitive is checked when compiling, so an
unsupported one is reported before any work starts.

The interval program encloses the exact real-number function the jaxpr denotes, not JAX's
floating-point evaluation of it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._errors import SGNError
from . import _arith as ia
from ._arith import Interval, point


class UnsupportedPrimitive(SGNError):
    """The game uses a JAX primitive that interval evaluation does not support."""

    def __init__(self, primitive: str):
        self.primitive = primitive
        super().__init__(
            f"interval evaluation does not support the JAX primitive '{primitive}' (used by the "
            "game's Jacobian); verified bounds are unavailable for this game: use sampled "
            "bounds (verified: false), or write the cost without it (see docs/verified.md)"
        )


class NotEnclosable(UnsupportedPrimitive):
    """The game's bound Jacobians are not something the interval enclosures cover."""

    def __init__(self, why: str):
        self.primitive = None
        SGNError.__init__(self, f"verified bounds are unavailable for this game: {why}")


#: Call-like primitives whose body is inlined, and the parameter holding the body.
CALLS = {
    "pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr", "remat": "jaxpr", "checkpoint": "jaxpr",
}

#: Comparisons of a value with itself have a fixed answer over the reals (no NaN there).
SELF_COMPARISON = {"eq": True, "le": True, "ge": True, "ne": False, "lt": False, "gt": False}


@dataclasses.dataclass(frozen=True)
class Step:
    primitive: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    params: tuple[tuple[str, object], ...]
    out_shapes: tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True)
class Program:
    """A flattened jaxpr over numbered slots; plain data, picklable."""

    n_slots: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    constants: tuple[tuple[int, np.ndarray], ...]
    steps: tuple[Step, ...]
    last_use: tuple[tuple[int, ...], ...]  # slots free after each step

    def evaluate(self, args: list[Interval]) -> list[Interval]:
        env: list[Interval | None] = [None] * self.n_slots
        for slot, arg in zip(self.inputs, args):
            env[slot] = arg
        for slot, value in self.constants:
            env[slot] = point(value)
        for step, dead in zip(self.steps, self.last_use):
            result = RULES[step.primitive](dict(step.params), step.out_shapes,
                                           *[env[i] for i in step.inputs])
            results = result if isinstance(result, (list, tuple)) else [result]
            for slot, value in zip(step.outputs, results):
                env[slot] = value
            for slot in dead:
                env[slot] = None
        return [env[i] for i in self.outputs]

    @property
    def primitives(self) -> frozenset[str]:
        return frozenset(s.primitive for s in self.steps)


def compile_program(closed) -> Program:
    """Flatten a ClosedJaxpr into a Program; raises UnsupportedPrimitive on the first unknown."""
    builder = _Builder()
    inputs = [builder.new_slot() for _ in closed.jaxpr.invars]
    outputs = builder.inline(closed.jaxpr, closed.consts, inputs)
    return builder.finish(tuple(inputs), tuple(outputs))


class _Builder:
    def __init__(self):
        self.n_slots = 0
        self.constants: list[tuple[int, np.ndarray]] = []
        self.steps: list[Step] = []

    def new_slot(self) -> int:
        self.n_slots += 1
        return self.n_slots - 1

    def constant(self, value) -> int:
        slot = self.new_slot()
        self.constants.append((slot, np.asarray(value)))
        return slot

    def inline(self, jaxpr, consts, inputs: list[int]) -> list[int]:
        from jax.extend.core import Literal

        env = dict(zip(jaxpr.invars, inputs))
        env.update({v: self.constant(c) for v, c in zip(jaxpr.constvars, consts)})

        def read(v) -> int:
            return self.constant(v.val) if isinstance(v, Literal) else env[v]

        for eqn in jaxpr.eqns:
            name = eqn.primitive.name
            if name in CALLS:
                body = eqn.params[CALLS[name]]
                inner, inner_consts = getattr(body, "jaxpr", body), getattr(body, "consts", ())
                outs = self.inline(inner, inner_consts, [read(v) for v in eqn.invars])
            elif name in SELF_COMPARISON and _same_variable(*eqn.invars):
                shape = eqn.outvars[0].aval.shape
                outs = [self.constant(np.full(shape, SELF_COMPARISON[name]))]
            elif name == "mul" and _same_variable(*eqn.invars):
                # x * x is a square, never negative: evaluating it as a product of two
                # independent intervals would lose that (the dependency problem).
                outs = [self.new_slot()]
                self.steps.append(Step("square", (read(eqn.invars[0]),), tuple(outs), (),
                                       (tuple(eqn.outvars[0].aval.shape),)))
            elif name in RULES:
                outs = [self.new_slot() for _ in eqn.outvars]
                self.steps.append(Step(
                    name, tuple(read(v) for v in eqn.invars), tuple(outs),
                    _plain_params(name, eqn.params),
                    tuple(tuple(v.aval.shape) for v in eqn.outvars),
                ))
            else:
                raise UnsupportedPrimitive(name)
            env.update(zip(eqn.outvars, outs))
        return [read(v) for v in jaxpr.outvars]

    def finish(self, inputs, outputs) -> Program:
        keep = set(outputs)
        seen: set[int] = set()
        last_use: list[tuple[int, ...]] = []
        for step in reversed(self.steps):  # a slot dies after the last step that reads it
            dead = tuple(i for i in dict.fromkeys(step.inputs) if i not in seen and i not in keep)
            seen.update(step.inputs)
            last_use.append(dead)
        return Program(self.n_slots, inputs, outputs, tuple(self.constants), tuple(self.steps),
                       tuple(reversed(last_use)))


def _same_variable(*invars) -> bool:
    from jax.extend.core import Literal

    return len(invars) == 2 and not isinstance(invars[0], Literal) and invars[0] is invars[1]


#: The parameters each structural primitive needs (everything else, such as sharding, is
#: dropped so that a Program holds plain data only).
PARAMS = {
    "dot_general": ("dimension_numbers",), "broadcast_in_dim": ("shape", "broadcast_dimensions"),
    "reshape": ("new_sizes",), "transpose": ("permutation",), "squeeze": ("dimensions",),
    "expand_dims": ("dimensions",), "concatenate": ("dimension",),
    "slice": ("start_indices", "limit_indices", "strides"), "pad": ("padding_config",),
    "rev": ("dimensions",), "convert_element_type": ("new_dtype",), "reduce_sum": ("axes",),
    "reduce_max": ("axes",), "reduce_min": ("axes",), "integer_pow": ("y",),
    "iota": ("dtype", "shape", "dimension"), "split": ("sizes", "axis"),
}


def _plain_params(name: str, params) -> tuple[tuple[str, object], ...]:
    return tuple((k, _plain(params[k])) for k in PARAMS.get(name, ()))


def _plain(value):
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).str
    if isinstance(value, np.integer):
        return int(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:  # JAX's own dtype objects
        return np.dtype(value).str
    except TypeError:
        return repr(value)


# --- rules: (params, out_shapes, *inputs) -> Interval or list of Intervals ---------------------

def _aligned(*args: Interval) -> list[Interval]:
    """Give rank-0 operands the rank of the others (after the batch axis), as JAX broadcasts."""
    rank = max(a.lo.ndim for a in args)
    return [a if a.lo.ndim == rank else a.map(
        lambda x: x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])) for a in args]


def _elementwise(fn):
    def rule(_params, _shapes, *args):
        return fn(*_aligned(*args))
    return rule


def _batched(a: Interval, batch: int) -> Interval:
    return a.map(lambda x: np.broadcast_to(x, (batch,) + x.shape[1:]))


def _shifted(axes) -> tuple[int, ...]:
    return tuple(int(k) + 1 for k in axes)


def _iota(p, shapes):
    shape, dim = p["shape"], p["dimension"]
    index = np.arange(shape[dim], dtype=np.dtype(p["dtype"]))
    view = index.reshape([-1 if k == dim else 1 for k in range(len(shape))])
    return point(np.broadcast_to(view, shape))


def _broadcast_in_dim(p, shapes, a):
    shape, dims = p["shape"], p["broadcast_dimensions"]

    def fn(x):
        expanded = [1] * len(shape)
        for src, dst in enumerate(dims):
            expanded[dst] = x.shape[src + 1]
        return np.broadcast_to(x.reshape((x.shape[0], *expanded)), (x.shape[0], *shape))
    return a.map(fn)


def _concatenate(p, shapes, *parts):
    batch = max(x.lo.shape[0] for x in parts)
    parts = [_batched(x, batch) for x in parts]
    axis = p["dimension"] + 1
    return Interval(np.concatenate([x.lo for x in parts], axis),
                    np.concatenate([x.hi for x in parts], axis))


def _slice(p, shapes, a):
    strides = p["strides"] or (1,) * len(p["start_indices"])
    index = (slice(None),) + tuple(slice(s, e, k) for s, e, k in
                                   zip(p["start_indices"], p["limit_indices"], strides))
    return a.map(lambda x: x[index])


def _pad(p, shapes, a, value):
    config = p["padding_config"]
    batch = max(a.lo.shape[0], value.lo.shape[0])

    def fn(x, v):
        grown = [max(lo, 0) + max(hi, 0) + n + max(n - 1, 0) * inner
                 for (lo, hi, inner), n in zip(config, x.shape[1:])]
        out = np.broadcast_to(v.reshape((-1,) + (1,) * len(grown)), (batch, *grown)).copy()
        place = tuple(slice(max(lo, 0), max(lo, 0) + (n - 1) * (inner + 1) + 1, inner + 1)
                      for (lo, _, inner), n in zip(config, x.shape[1:]))
        out[(slice(None),) + place] = x
        crop = tuple(slice(-lo if lo < 0 else 0, size - (-hi if hi < 0 else 0))
                     for (lo, hi, _), size in zip(config, grown))
        return out[(slice(None),) + crop]
    return Interval(fn(a.lo, value.lo), fn(a.hi, value.hi))


def _split(p, shapes, a):
    axis = p["axis"] + 1
    cuts = np.cumsum(p["sizes"])[:-1]
    los, his = np.split(a.lo, cuts, axis), np.split(a.hi, cuts, axis)
    return [Interval(lo, hi) for lo, hi in zip(los, his)]


def _select_n(p, shapes, which, *cases):
    which, *cases = _aligned(which, *cases)
    return ia.select_n(which, *cases)


def _reduce(fn):
    def rule(p, shapes, a):
        axes = _shifted(p["axes"])
        return Interval(fn(a.lo, axis=axes), fn(a.hi, axis=axes))
    return rule


def _swap(fn):
    return _elementwise(lambda a, b: fn(b, a))


RULES = {
    # arithmetic
    "add": _elementwise(ia.add), "add_any": _elementwise(ia.add), "sub": _elementwise(ia.sub),
    "mul": _elementwise(ia.mul), "div": _elementwise(ia.div), "neg": _elementwise(ia.neg),
    "max": _elementwise(ia.maximum), "min": _elementwise(ia.minimum),
    "abs": _elementwise(ia.absolute), "sign": _elementwise(ia.sign),
    "floor": _elementwise(ia.floor), "ceil": _elementwise(ia.ceil),
    "square": _elementwise(ia.square), "pow": _elementwise(ia.pow_),
    "integer_pow": lambda p, s, a: ia.integer_pow(a, int(p["y"])),
    "clamp": _elementwise(ia.clamp),
    # elementary functions
    "exp": _elementwise(ia.exp), "exp2": _elementwise(ia.exp2), "log": _elementwise(ia.log),
    "log1p": _elementwise(ia.log1p), "expm1": _elementwise(ia.expm1),
    "sqrt": _elementwise(ia.sqrt), "rsqrt": _elementwise(ia.rsqrt),
    "sin": _elementwise(ia.sin), "cos": _elementwise(ia.cos), "tanh": _elementwise(ia.tanh),
    "logistic": _elementwise(ia.logistic), "sinh": _elementwise(ia.sinh),
    "cosh": _elementwise(ia.cosh), "atan": _elementwise(ia.arctan),
    "asinh": _elementwise(ia.asinh), "erf": _elementwise(ia.erf),
    # comparisons and logic
    "lt": _elementwise(ia.less), "le": _elementwise(ia.less_equal),
    "gt": _swap(ia.less), "ge": _swap(ia.less_equal),
    "eq": _elementwise(ia.equal), "ne": _elementwise(ia.not_equal),
    "and": _elementwise(ia.logical_and), "or": _elementwise(ia.logical_or),
    "not": _elementwise(ia.logical_not), "select_n": _select_n,
    "convert_element_type": lambda p, s, a: ia.convert(a, p["new_dtype"]),
    # contractions and reductions
    "dot_general": lambda p, s, a, b: ia.dot_general(a, b, p["dimension_numbers"]),
    "reduce_sum": lambda p, s, a: ia.reduce_sum(a, _shifted(p["axes"])),
    "reduce_max": _reduce(np.max), "reduce_min": _reduce(np.min),
    # structure
    "iota": _iota,
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": lambda p, s, a: a.map(lambda x: x.reshape((x.shape[0], *s[0]))),
    "transpose": lambda p, s, a: a.map(lambda x: x.transpose((0, *_shifted(p["permutation"])))),
    "squeeze": lambda p, s, a: a.map(lambda x: x.reshape((x.shape[0], *s[0]))),
    "expand_dims": lambda p, s, a: a.map(lambda x: x.reshape((x.shape[0], *s[0]))),
    "concatenate": _concatenate,
    "slice": _slice,
    "pad": _pad,
    "rev": lambda p, s, a: a.map(lambda x: np.flip(x, _shifted(p["dimensions"]))),
    "split": _split,
    "copy": lambda p, s, a: a, "copy_p": lambda p, s, a: a,
}


def supported_primitives() -> list[str]:
    """Every primitive the interpreter evaluates, calls that it inlines included."""
    return sorted(set(RULES) | set(CALLS))

