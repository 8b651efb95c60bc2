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
