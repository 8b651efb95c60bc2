"""Data-flow questions about traced JAX programs."""

from __future__ import annotations

import numpy as np
from jax.extend.core import ClosedJaxpr, Literal


def output_depends_on_input(closed: ClosedJaxpr) -> bool:
    """Whether any output of the program can be reached from any of its inputs.

    A forward taint pass over the equations. An equation with a tainted input taints all its
    outputs, including calls to nested programs, so the answer can be a false "depends" but
    never a false "does not depend".
    """
    jaxpr = closed.jaxpr
    tainted = set(jaxpr.invars)

    def is_tainted(v) -> bool:
        return not isinstance(v, Literal) and v in tainted

    for eqn in jaxpr.eqns:
        if any(is_tainted(v) for v in eqn.invars):
            tainted.update(eqn.outvars)
    return any(is_tainted(v) for v in jaxpr.outvars)


#: Primitives that are smooth (C-infinity where defined) and whose derivative is JAX's own.
#: A program made only of these, with float-to-float casts only, is a composition of smooth
#: maps; anything else (comparisons, selects, integer casts, custom derivatives, control flow,
#: sorting, ...) is what `non_smooth_operation` names. The list errs on the side of leaving out.
SMOOTH = frozenset({
    "add", "add_any", "sub", "mul", "div", "neg", "dot_general", "reshape", "broadcast_in_dim",
    "squeeze", "expand_dims", "transpose", "slice", "concatenate", "pad", "rev", "copy",
    "copy_p", "iota", "integer_pow", "square", "pow", "exp", "exp2", "log", "log1p", "expm1",
    "sin", "cos", "tan", "atan", "sinh", "cosh", "tanh", "asinh", "logistic", "sqrt", "rsqrt",
    "cbrt", "erf", "reduce_sum", "cumsum", "split", "convert_element_type", "pjit", "jit",
    "closed_call", "core_call", "symbolic_zeros", "zeros_like", "broadcast",
    # Indexing is linear in the array indexed, for given indices; indices that depend on the
    # players pass through a float-to-integer cast or a comparison first, which is named.
    "gather", "scatter-add", "scatter_add", "dynamic_slice", "dynamic_update_slice",
})


def _floating(v) -> bool:
    dtype = getattr(getattr(v, "aval", None), "dtype", None)
    return dtype is not None and np.issubdtype(dtype, np.inexact)


def _calls(eqn) -> bool:
    """Whether the equation runs a nested program (a call, a loop, a custom rule)."""
    return any(hasattr(p, "eqns") or hasattr(p, "jaxpr") for p in eqn.params.values())


def non_smooth_operation(closed: ClosedJaxpr) -> str | None:
    """The first operation outside SMOOTH in the program or its nested programs (a primitive's
    name, or "a cast to <dtype>"), or None when every operation is smooth."""
    from jax.extend.core import subjaxprs

    stack = [closed.jaxpr]
    while stack:
        jaxpr = stack.pop()
        for eqn in jaxpr.eqns:
            name = eqn.primitive.name
            if not any(_floating(v) for v in eqn.invars) and not _calls(eqn):
                # index arithmetic (integers and booleans only, e.g. the wrap-around JAX emits
                # around x[idx]): it cannot depend on the players except through an operation
                # with a float input, which this loop sees
                continue
            if name not in SMOOTH:
                return name
            if name == "convert_element_type" and not np.issubdtype(
                    np.dtype(eqn.params["new_dtype"]), np.floating):
                return f"a cast to {np.dtype(eqn.params['new_dtype'])}"
        stack.extend(getattr(sub, "jaxpr", sub) for sub in subjaxprs(jaxpr))
    return None


def low_precision(closed: ClosedJaxpr) -> str | None:
    """Where the program holds floating-point values narrower than float64 (float32, float16,
    bfloat16), in words (e.g. "a float32 constant of shape (9, 9)"), or None.

    sgn traces games with float64 players, so such values come from the game itself: most
    often an array made with jax.numpy before float64 was switched on (JAX's default is
    float32), whose numbers were rounded to about 7 digits when it was made.
    """
    from jax.extend.core import subjaxprs

    def narrow(dtype) -> bool:
        return (dtype is not None and np.issubdtype(dtype, np.floating)
                and np.dtype(dtype).itemsize < 8)

    for const in closed.consts:
        if narrow(getattr(const, "dtype", None)):
            return f"a {np.dtype(const.dtype)} constant of shape {tuple(np.shape(const))}"
    stack = [closed.jaxpr]
    while stack:
        jaxpr = stack.pop()
        for eqn in jaxpr.eqns:
            for v in eqn.invars + eqn.outvars:
                dtype = getattr(getattr(v, "aval", None), "dtype", None)
                if narrow(dtype):
                    return f"{np.dtype(dtype)} values (in `{eqn.primitive.name}`)"
        for sub in subjaxprs(jaxpr):
            for const in getattr(sub, "consts", ()):
                if narrow(getattr(const, "dtype", None)):
                    return (f"a {np.dtype(const.dtype)} constant of shape "
                            f"{tuple(np.shape(const))}")
            stack.append(getattr(sub, "jaxpr", sub))
    return None


#: Known-value propagation evaluates only small integer and boolean intermediate arrays: the
#: index arithmetic JAX emits around an indexing operation, never the game's own numbers.
_MOST_FOLDED_ENTRIES = 65536


def out_of_range_index(closed: ClosedJaxpr) -> str | None:
    """Describe the first read or write past the end of an array whose position the program
    fixes (a constant index), or None.

    JAX does not raise on such an index: a read clamps it to the last entry, a write drops it,
    and `x[1:3]` of a length-1 array is empty, so a cost that indexes past a player's block
    still runs and silently means something else. Positions that depend on the input (data-
    dependent indexing) are not known before running and are not checked.
    """
    return _scan(closed.jaxpr, {v: np.asarray(c) for v, c in zip(closed.jaxpr.constvars,
                                                                   closed.consts)})[0]


def _scan(jaxpr, known: dict) -> tuple[str | None, list]:
    """(first problem found, the known values of the outputs or None each)."""
    def value(v):
        if isinstance(v, Literal):
            return np.asarray(v.val)
        return known.get(v)

    for eqn in jaxpr.eqns:
        inputs = [value(v) for v in eqn.invars]
        problem = _index_problem(eqn, inputs)
        if problem:
            return problem, []
        inner = _inner_program(eqn)
        if inner is not None:
            body, consts = inner
            inner_known = {v: np.asarray(c) for v, c in zip(body.constvars, consts)}
            inner_known.update({v: x for v, x in zip(body.invars, inputs) if x is not None})
            problem, outs = _scan(body, inner_known)
            if problem:
                return problem, []
            known.update({v: x for v, x in zip(eqn.outvars, outs) if x is not None})
        elif all(x is not None for x in inputs) and _foldable(eqn):
            outs = eqn.primitive.bind(*inputs, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
            known.update({v: np.asarray(x) for v, x in zip(eqn.outvars, outs)})
    return None, [value(v) for v in jaxpr.outvars]


def _inner_program(eqn):
    """The (jaxpr, consts) a call-like equation runs on its own inputs, else None."""
    if eqn.primitive.name not in ("pjit", "jit", "closed_call", "core_call", "custom_jvp_call",
                                  "custom_vjp_call", "remat", "checkpoint"):
        return None
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        sub = eqn.params.get(key)
        if sub is not None:
            if hasattr(sub, "consts"):
                return sub.jaxpr, sub.consts
            if hasattr(sub, "eqns") and not sub.constvars:
                return sub, []
    return None


def _foldable(eqn) -> bool:
    if eqn.primitive.name in _INDEXING or any(hasattr(p, "eqns") or hasattr(p, "jaxpr")
                                              for p in eqn.params.values()):
        return False
    for v in eqn.outvars:
        aval = v.aval
        dtype = getattr(aval, "dtype", None)
        if dtype is None or not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
            return False
        if int(np.prod(aval.shape, dtype=np.int64)) > _MOST_FOLDED_ENTRIES:
            return False
    return True


_INDEXING = frozenset({"slice", "dynamic_slice", "dynamic_update_slice", "gather", "scatter",
                       "scatter-add", "scatter_add", "scatter-mul", "scatter_mul", "scatter-min",
                       "scatter_min", "scatter-max", "scatter_max", "scatter_sub"})


def _index_problem(eqn, inputs) -> str | None:
    name = eqn.primitive.name
    if name not in _INDEXING:
        return None
    shape = tuple(eqn.invars[0].aval.shape)
    if name == "slice":
        start, limit = eqn.params["start_indices"], eqn.params["limit_indices"]
        for axis, (a, b, n) in enumerate(zip(start, limit, shape)):
            if n > 0 and b <= a:
                return (f"takes an empty slice [{a}:{b}] of an axis of length {n} (an index "
                        f"past the end)")
        return None
    if name in ("dynamic_slice", "dynamic_update_slice"):
        sizes = (eqn.params["slice_sizes"] if name == "dynamic_slice"
                 else tuple(eqn.invars[1].aval.shape))
        starts = inputs[1:] if name == "dynamic_slice" else inputs[2:]
        for n, size, start in zip(shape, sizes, starts):
            if start is not None and not 0 <= int(start) <= n - size:
                return _past_end(int(start), size, n, "read" if name == "dynamic_slice"
                                 else "write")
        return None
    indices = inputs[1]
    if indices is None:
        return None
    numbers = eqn.params["dimension_numbers"]
    if name == "gather":
        dims = numbers.start_index_map
        sizes = [eqn.params["slice_sizes"][d] for d in dims]
        verb = "read"
    else:
        dims = numbers.scatter_dims_to_operand_dims
        window = [d for d in range(len(shape)) if d not in numbers.inserted_window_dims
                  and d not in getattr(numbers, "operand_batching_dims", ())]
        updates = eqn.invars[2].aval.shape
        size_of = dict(zip(window, (updates[k] for k in numbers.update_window_dims)))
        sizes = [size_of.get(d, 1) for d in dims]
        verb = "write"
    positions = np.asarray(indices).reshape(-1, len(dims))
    for k, (d, size) in enumerate(zip(dims, sizes)):
        bad = (positions[:, k] < 0) | (positions[:, k] > shape[d] - size)
        if bad.any():
            return _past_end(int(positions[bad.argmax(), k]), size, shape[d], verb)
    return None


def _past_end(start: int, size: int, length: int, verb: str) -> str:
    where = f"index {start}" if size == 1 else f"indices {start}..{start + size - 1}"
    effect = "clamps it to the last entry" if verb == "read" else "drops the write"
    return (f"{'reads' if verb == 'read' else 'writes'} {where} of an axis of length {length}, "
            f"past its end (JAX does not raise: it silently {effect})")
