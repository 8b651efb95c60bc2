"""Data-flow questions about traced JAX programs."""

from __future__ import annotations

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
#: sorting, ...) makes `is_smooth` answer False. The list errs on the side of leaving out.
SMOOTH = frozenset({
    "add", "add_any", "sub", "mul", "div", "neg", "dot_general", "reshape", "broadcast_in_dim",
    "squeeze", "expand_dims", "transpose", "slice", "concatenate", "pad", "rev", "copy",
    "copy_p", "iota", "integer_pow", "square", "pow", "exp", "exp2", "log", "log1p", "expm1",
    "sin", "cos", "tan", "atan", "sinh", "cosh", "tanh", "asinh", "logistic", "sqrt", "rsqrt",
    "cbrt", "erf", "reduce_sum", "cumsum", "split", "convert_element_type", "pjit", "jit",
    "closed_call", "core_call", "symbolic_zeros", "zeros_like", "broadcast",
})


def is_smooth(closed: ClosedJaxpr) -> bool:
    """Whether the program, nested programs included, uses only SMOOTH primitives, and casts
    only between floating types (a cast to int or bool is a jump)."""
    import numpy as np
    from jax.extend.core import subjaxprs

    stack = [closed.jaxpr]
    while stack:
        jaxpr = stack.pop()
        for eqn in jaxpr.eqns:
            name = eqn.primitive.name
            if name not in SMOOTH:
                return False
            if name == "convert_element_type" and not np.issubdtype(
                    np.dtype(eqn.params["new_dtype"]), np.floating):
                return False
        stack.extend(getattr(sub, "jaxpr", sub) for sub in subjaxprs(jaxpr))
    return True
