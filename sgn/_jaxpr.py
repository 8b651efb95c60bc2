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


#: Primitives that can make a function non-smooth (jumps, kinks, branches) or whose derivative
#: is user-supplied (custom_jvp / custom_vjp) and so may disagree with the function itself.
#: A program using none of them is a composition of smooth operations.
NON_SMOOTH = frozenset({
    "eq", "ne", "gt", "ge", "lt", "le", "select_n", "select_and_scatter_add", "sign", "floor",
    "ceil", "round", "abs", "max", "min", "clamp", "rem", "argmax", "argmin", "sort", "top_k",
    "cond", "while", "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr",
    "reduce_max", "reduce_min", "reduce_precision", "stop_gradient", "is_finite",
    "nextafter", "random_bits", "random_wrap", "random_seed", "random_unwrap",
})


def primitives_used(closed: ClosedJaxpr) -> set[str]:
    """Names of every primitive in the program, nested programs included."""
    from jax.extend.core import subjaxprs

    names: set[str] = set()
    stack = [closed.jaxpr]
    while stack:
        jaxpr = stack.pop()
        for eqn in jaxpr.eqns:
            names.add(eqn.primitive.name)
        stack.extend(getattr(sub, "jaxpr", sub) for sub in subjaxprs(jaxpr))
    return names
