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


#: diagnostics.optimizer of block weights found from the Jacobians by the metric search
#: (issue 13), when SGN's small-gain test and the Euclidean test both fail.
METRIC_SEARCH = "metric search"


def metric_route(diagnostics: dict) -> bool:
    """Whether a certificate's weights and margin come from the metric search: the margin is
    then the metric margin of weights found from the Jacobians, and SGN's own test (with the
    norm bounds) did not certify. `certified_by = "metric"` says it; a certificate that the
    equilibrium step made inconclusive has `certified_by = null` but keeps the search's
    `optimizer`."""
    by = diagnostics.get("certified_by")
    return by == "metric" or (by is None and diagnostics.get("optimizer") == METRIC_SEARCH)


def how_measured(verified: bool) -> str:
    """How a metric margin was obtained, in the words of the certificate's reason: proved for
    verified bounds (exact or interval), else measured."""
    return "proved" if verified else "measured at sample points plus local search"
