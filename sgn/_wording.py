"""Words for what a certificate does not state, shared by the text summary and the PDF report.

A null in a certificate (JSON has no inf or NaN) means different things for different keys
(docs/certificate.md, "When a value is null"): a step size that was not proved, a spectral
radius that is not defined, a band that is a half-line. Both outputs print them with the words
here, so neither can print "unbounded" (or a number) for a quantity that was not proved.
"""

from __future__ import annotations

#: A quantity the certificate does not prove (its field is null).
NOT_PROVED = "not proved"

#: Why the RK4 fields are null on a certified certificate: the game is constrained.
RK4_CONSTRAINED = "constrained game: the stage points may leave the box"

#: The RK4 step, in one phrase, when its fields are null.
RK4_NOT_PROVED = f"{NOT_PROVED} ({RK4_CONSTRAINED})"

#: The spectral radius is null when some curvature bound is not positive.
RHO_UNDEFINED = "not defined (a curvature mu_i <= 0)"


def figure(x, digits: int = 6, missing: str = "not available") -> str:
    """A number, or `missing` for a value the certificate does not state (JSON null): never a
    word such as "unbounded" that would claim something about it."""
    return missing if x is None else f"{x:.{digits}g}"
