"""PDF reports: a certificate (and, given the game, its simulated dynamics), or a sweep.

    render_report(cert, "cert.pdf", game=game)
    render_sweep_report(sweep, "sweep.pdf")

Typesetting is Typst (the `typst` package from PyPI: a compiler with its fonts built in, no
system install), figures are matplotlib SVG. Each report is a template (layout only) fed a
JSON view of preformatted strings. The PDF is written atomically.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from .._certificate import Certificate, Status
from .._io import check_writable, write_atomic
from . import _figures
from ._view import certificate_view, margin_test, measured, metric_name, number

__all__ = ["number", "render_report", "render_sweep_report"]


def render_report(cert: Certificate, out, *, game=None, simulation=None) -> Path:
    """Write the certificate report to `out` (PDF).

    With `game`, simulated trajectories are added (simulated here unless `simulation` is
    given). Figure captions are typst markup written here.
    """
    out = check_writable(out)
    data = cert.to_dict()
    kind = margin_test(cert)
    figures = []
    certified = cert.status is Status.CERTIFIED
    if len(cert.game["players"]) == 2 and kind == "metric":
        band = ("SGN's norm bounds give $alpha(r) > 0$ in the shaded band, yet SGN's test did "
                "not certify" if cert.band is not None else
                "No ratio certifies by SGN's test: the curve stays below zero")
        chosen = ("the joint metric $M = P$ found from the Jacobians, placed at the scale "
                  "ratio of its diagonal blocks $(\"tr\" P_(2 2) \\/ d_2) \\/ "
                  "(\"tr\" P_(1 1) \\/ d_1)$, at its metric margin $alpha$ "
                  f"({measured(cert)} in $M$)" if metric_name(cert) == "joint metric" else
                  "the block metric $M = \"blockdiag\"(P_1, P_2)$ found from the Jacobians, "
                  "placed at its blocks' scale ratio $(\"tr\" P_2 \\/ d_2) \\/ "
                  "(\"tr\" P_1 \\/ d_1)$, at its metric margin $alpha$ "
                  f"({measured(cert)} in $M$)" if cert.metric is not None else
                  "the block weights found from the Jacobians, at their metric margin "
                  f"$alpha$ ({measured(cert)} in $M(w)$)")
        figures.append(("margin-ratio.svg", _figures.margin_vs_ratio(data, kind),
                        f"SGN margin $alpha(r)$ against the weight ratio. {band}. The dot is "
                        f"the chosen metric, {chosen}"
                        + (", which certified" if certified else "")
                        + "; it is not a point of the SGN curve. The dashed line is the "
                        "Euclidean margin $gamma$, the plain test's verdict."))
    elif len(cert.game["players"]) == 2:
        band = ("Every ratio in the shaded band certifies by SGN's test" if cert.band is not None
                else "No ratio certifies by SGN's test: the curve stays below zero")
        dot = ("the dot is the chosen metric, equal weights, at the Euclidean margin $gamma$ "
               "that certified" if kind == "euclidean" else "the dot is the chosen metric")
        figures.append(("margin-ratio.svg", _figures.margin_vs_ratio(data, kind),
                        f"SGN margin $alpha(r)$ against the weight ratio. {band}; {dot}. The "
                        "dashed line is the Euclidean margin $gamma$, the plain test's verdict."))
    elif isinstance(cert.bounds["coupling"], dict):       # many players: sparse coupling
        figures.append(("sparse-coupling.svg", _figures.sparse_coupling(data),
                        "Left: the spread of the block weights of the "
                        + ("certified " if certified else "reported ") + "metric. Middle: how "
                        "many players push each player (non-zero blocks of the coupling graph, "
                        f"{cert.game.get('coupling_graph', {}).get('source', 'given')}). "
                        "Right: the coupling gains $L_(i j) \\/ mu_i$, the largest in each "
                        "cell of players (row $i$ is pushed by column $j$); the appendix lists "
                        "the largest couplings."))
    else:
        names = [p["name"] for p in cert.game["players"]]
        figures.append(("weights-coupling.svg", _figures.weights_and_coupling(data, names),
                        ("Left: SGN's own block weights (the certified metric is the block "
                         "matrix of the table, found from the Jacobians). Right: SGN's "
                         if cert.metric is not None else
                         "Left: the block weights of the "
                         + ("certified " if certified else "reported ")
                         + ("metric, found from the Jacobians (metric search). Right: SGN's "
                            if kind == "metric" else "metric. Right: "))
                        + "coupling gains $L_(i j) \\/ mu_i$ (row $i$ is pushed "
                        "by column $j$); small-gain needs the spectral radius of this matrix "
                        "below 1." + (" Players are numbered as in the players table."
                                      if len(names) > _figures.NAMED else "")))
    sgn_bar = ("SGN's best margin over all block weights" if kind == "euclidean" else
               "SGN's best margin over all block weights with these norm bounds, which does "
               "not certify" if kind == "metric" else
               "SGN's margin $alpha(w)$ for the weights shown")
    verdict = (' The bar marked "certifies" is the certificate\'s rate.'
               if certified else " None certifies.")
    shown = (f"the {metric_name(cert)} found from the Jacobians, {measured(cert)} on the "
             "region"
             if cert.metric is not None else "the metric of the weights found from the "
             f"Jacobians, {measured(cert)} on the region" if kind == "metric" else "the metric "
             "of the weights shown")
    figures.append(("margins.svg", _figures.margins(data, kind),
                    f"Three margins: the Euclidean test's $gamma$ (equal weights), {sgn_bar}, "
                    "and the metric margin, what the evaluated Jacobians show directly in "
                    f"{shown}.{verdict}"))
    if getattr(game, "geometry", None) == "fisher" and cert.status is Status.CERTIFIED:
        figures += _policy_figures(game, cert)
    elif game is not None and simulation is None and certified:
        from .._simulate import simulate

        methods = ["euler", "rk4"] if not game.constrained else ["euler"]
        starts, steps = _simulation_size(_steps_to_converge(cert), game.dim, len(methods))
        simulation = simulate(game, cert, methods=methods, starts=starts, steps=steps)
    if simulation is not None:
        figures.append(("trajectories.svg", _figures.trajectories(simulation.runs),
                        "Simulated distance to the equilibrium in the metric, from starts in "
                        "the certified basin (thin lines), against the certified per-step "
                        "factor $q^k$ (dashed). A run is drawn until its distance falls below "
                        "$10^(-15)$ of the start, where rounding dominates."))
    return _compile("certificate.typ", certificate_view(cert, []), figures, out)


#: Memory for the report's simulated trajectories (starts x steps x d floats per method): a
#: 10,000-player game simulated like a small one held 6.8 GB.
SIMULATION_BYTES = 2**28


def _simulation_size(steps: int, dim: int, methods: int) -> tuple[int, int]:
    """(starts, steps) for the report's simulation: 12 starts when they fit SIMULATION_BYTES,
    else fewer (at least 4), then fewer steps (at least MIN_STEPS)."""
    per_start = 8 * dim * steps * methods
    starts = int(min(12, max(4, SIMULATION_BYTES // max(per_start, 1))))
    steps = int(min(steps, max(MIN_STEPS, SIMULATION_BYTES // (8 * dim * starts * methods))))
    return starts, steps


#: Simulated steps: enough for the certified envelope to fall to ENVELOPE, within these limits.
ENVELOPE, MIN_STEPS, MAX_STEPS = 1e-5, 120, 4000


def _steps_to_converge(cert: Certificate) -> int:
    """Steps for the slowest certified factor's envelope q^k to reach ENVELOPE: the picture
    then shows the runs reach the equilibrium, not only their first stretch."""
    steps = cert.step_sizes or {}
    factors = [q for q in (steps.get("euler_factor"), steps.get("rk4_factor"))
               if q is not None and 0 < q < 1]
    if not factors:
        return MIN_STEPS
    k = math.log(ENVELOPE) / math.log(max(factors))
    return int(min(max(math.ceil(k / 10) * 10, MIN_STEPS), MAX_STEPS))


def _policy_figures(game, cert) -> list:
    """NPG's KL decay against the certified rate, and which steps converge."""
    from .._npg import simulate_policies, step_size_sweep

    sim = simulate_policies(game, cert, starts=12, steps=150)
    sizes = step_size_sweep(game, cert, steps=150)
    return [
        ("kl-decay.svg", _figures.kl_decay(sim.runs),
         "KL Lyapunov function $V = sum_i w_i sum_s \"KL\"(pi_i^* || pi_i)$ against iterations "
         "from starts in the certified Fisher ball (thin lines): natural policy gradient at the "
         "certified step against the certified decay $q^(2k)$ (dashed), and plain policy "
         "gradient at the same step, which the certificate says nothing about. A run is drawn "
         "until $V$ falls below $10^(-12) V_0$, where rounding dominates."),
        ("step-sweep.svg", _figures.step_sweep(sizes),
         "Worst $V_T \\/ V_0$ after the run against the step size, for NPG and PG; the shaded "
         "band is the certified NPG range $h < 2 alpha \\/ beta^2$; a run that overflowed is "
         "drawn at $10^30$."),
    ]


def render_sweep_report(sweep, out) -> Path:
    """Write a sweep report: margins against the parameter and the step-size phase diagram."""
    from ._sweep_view import sweep_view

    out = check_writable(out)
    param = sweep.varying[0]
    rows = [r for r in sweep.to_dict()["rows"]]
    figures = [
        ("sweep-margins.svg", _figures.sweep_margins(param, rows),
         f"Margins against `{param}`. Shading: where the Euclidean test certifies, where only "
         "SGN does, "
         + ("where only block weights found from the Jacobians do (metric search: SGN's norm "
            "bounds do not), " if any(r["certified_by"] == "metric" for r in rows) else "")
         + "and where neither does."),
        ("sweep-steps.svg", _figures.sweep_steps(param, rows),
         f"Certified step sizes against `{param}`: Euler contracts below the green curve."),
    ]
    return _compile("sweep.typ", sweep_view(sweep), figures, out)


def _compile(template: str, view: dict, figures: list, out: Path) -> Path:
    import typst

    with tempfile.TemporaryDirectory(prefix="sgn-report-") as folder:
        folder = Path(folder)
        for name, svg, _ in figures:
            (folder / name).write_bytes(svg)
        view["figures"] = [{"file": name, "caption": caption} for name, _, caption in figures]
        (folder / "view.json").write_text(json.dumps(view), encoding="utf-8")
        source = resources.files(__package__) / template
        with resources.as_file(source) as path:
            shutil.copy(path, folder / template)
        # A fixed timestamp (SOURCE_DATE_EPOCH when set, as reproducible builds do) makes the
        # same certificate give the same bytes: typst otherwise stamps the current time.
        stamp = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
        pdf = typst.compile(str(folder / template), root=str(folder), ignore_system_fonts=True,
                            timestamp=stamp)
    return write_atomic(out, _drop_default_suspects(pdf))


# Typst writes /MarkInfo << /Marked true /Suspects false >> in the catalog of a tagged PDF. That
# is valid PDF (false is the default), but poppler (pdfinfo, pdftoppm; 22.12 and later
# releases) reports any /Suspects that is not true as an error, "Syntax Error: Suspects object
# is wrong type (boolean)", whenever it opens the file. The entry says nothing, so it is
# blanked out: spaces of the same length keep every byte offset of the cross-reference table.
_SUSPECTS = re.compile(rb"(/MarkInfo\s*<<\s*/Marked\s+true\s*)(/Suspects\s+false)(\s*>>)")


def _drop_default_suspects(pdf: bytes) -> bytes:
    found = list(_SUSPECTS.finditer(pdf))
    if len(found) != 1:
        return pdf  # not the layout this expects: leave the file as typst wrote it
    m = found[0]
    return pdf[:m.start(2)] + b" " * len(m.group(2)) + pdf[m.end(2):]
