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


def margin_route(cert) -> str:
    """Which quantity `cert.margin` is: "euclidean" (the equal-weights test's gamma), "sgn"
    (SGN's alpha(w) for the reported weights) or "metric" (the metric margin, measured or
    proved in M(w), of block weights found from the Jacobians), read off the certificate's own
    fields.

    `diagnostics.certified_by` says it whenever a test certified. Otherwise (not certified,
    inconclusive) the weights' route says it: weights from the metric search keep
    `diagnostics.optimizer = "metric search"` also when the equilibrium step makes the status
    inconclusive; else the margin is gamma exactly when it is the stored Euclidean margin: the
    decision stores the same number in both (docs/certificate.md, `margin`).
    """
    by = cert.diagnostics.get("certified_by")
    if by in ("sgn", "euclidean", "metric"):
        return by
    if metric_route(cert.diagnostics):
        return "metric"
    return "euclidean" if cert.margin == cert.bounds["euclidean_margin"] else "sgn"


def how_measured(verified: bool) -> str:
    """How a metric margin was obtained, in the words of the certificate's reason: proved for
    verified bounds (exact or interval), else measured."""
    return "proved" if verified else "measured at sample points plus local search"


def step_word(cert) -> str:
    """How a certificate's direct step numbers (factors, spread) were obtained: enclosed by
    interval arithmetic (verified bounds), else measured (at samples, or exactly for a constant
    Jacobian)."""
    return "proved (interval)" if cert.estimator.get("method") == "interval" else "measured"


# --- which proof gave a step (schema version 2, docs/certificate.md "step_sizes") -------------

#: step_sizes.euler_bound / .rk4_bound of SGN's own steps, from alpha and beta alone.
ALPHA_BETA = "alpha-beta"

#: step_sizes.euler_bound of the Euler step certified by the factor measured over the region.
DIRECT = "direct"


def step_proofs(steps: dict | None) -> dict:
    """Which proof gave each step a certificate states, keyed like `step_sizes`:
    `euler_max`, `euler_recommended`, `rk4_proven`, `rk4_recommended`.

    Values: "alpha-beta" (SGN's, from the margin and beta alone), "direct" (Euler: the
    region-wide factor sup_x ||I - h J(x)||_M measured at the step), "direct-spread" or
    "direct-exact-linear" (RK4: docs/rk4.md, section 9), or None (an RK4 step that is not
    proved: a constrained game).

    The largest steps say it themselves (`euler_bound`, `rk4_bound`); a version 1 certificate
    has neither, and all its steps are SGN's. The recommended steps are chosen apart from the
    largest ones (the smaller proven factor wins), so each is read off the numbers: Euler's is
    the direct one when it is the step and factor `direct` measured (h_best, q(h_best)); RK4's
    when it differs from SGN's own (`alpha_beta`), the direct RK4 bound being the only other.
    """
    steps = steps or {}
    own, direct = steps.get("alpha_beta"), steps.get("direct") or {}
    rk4_proved = steps.get("rk4_proven") is not None
    rk4_max = steps.get("rk4_bound", ALPHA_BETA if rk4_proved else None)
    euler_rec = ALPHA_BETA
    measured = (list(direct.get("euler_steps") or [None])[0],
                list(direct.get("euler_factors") or [None])[0])
    if own is not None and measured[0] is not None and \
            (steps.get("euler_recommended"), steps.get("euler_factor")) == measured:
        euler_rec = DIRECT
    rk4_rec = ALPHA_BETA if rk4_proved else None
    if (own is not None and rk4_proved and direct.get("rk4_bound") is not None
            and (steps.get("rk4_recommended"), steps.get("rk4_factor"))
            != (own.get("rk4_recommended"), own.get("rk4_factor"))):
        rk4_rec = f"{DIRECT}-{direct['rk4_bound']}"
    return {"euler_max": steps.get("euler_bound", ALPHA_BETA), "euler_recommended": euler_rec,
            "rk4_proven": rk4_max, "rk4_recommended": rk4_rec}


def sgn_steps(steps: dict | None) -> dict:
    """SGN's own alpha/beta steps: `alpha_beta` when the certificate keeps them beside direct
    ones, else the table itself (version 1, or no direct proof was computed)."""
    steps = steps or {}
    return steps.get("alpha_beta") or steps


def shape_text(shape) -> str:
    """An array shape as '2x16' ('scalar' for shape ())."""
    return "x".join(str(n) for n in shape) if shape else "scalar"


def structure_text(structure: dict, k: int = 4) -> str:
    """A pytree player's structure (certificate key game.players[i].structure) in one short
    phrase: 'b1 8, b2 8, b3 2, w1 2x8, ... (6 leaves)'. A player that is one array has the
    empty path and reads 'array 3x4'."""
    leaves = structure.get("leaves") or []
    count = structure.get("leaf_count", len(leaves))
    shown = ", ".join(f"{leaf.get('path') or 'array'} {shape_text(leaf.get('shape') or [])}"
                      for leaf in leaves[:k])
    return shown + (f", ... ({count} leaves)" if count > k else "")
