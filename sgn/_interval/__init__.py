"""Verified bounds: interval enclosures of the Jacobian, rigorous scalars, branch and bound."""

from ._arith import Interval
from ._enclose import JacobianEnclosure, enclose_jacobian, jacobian_enclosure
from ._interpret import (
    Program,
    UnsupportedPrimitive,
    compile_program,
    supported_primitives,
)

__all__ = [
    "Interval", "JacobianEnclosure", "Program", "UnsupportedPrimitive", "compile_program",
    "enclose_jacobian", "jacobian_enclosure", "supported_primitives",
]
