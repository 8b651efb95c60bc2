"""What the report shows: every number formatted once, here, from the certificate.

The templates only lay these strings out, so the text of a PDF can be checked against the
certificate with the same `number()` formatter.
"""

from __future__ import annotations

import numpy as np

from .._certificate import Certificate, Status


def number(x, digits: int = 6) -> str:
    """The one way a report prints a number: 6 significant digits, 'unbounded' for None."""
    if x is None:
        return "unbounded"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x).replace("-", "\u2212")
    return f"{x:.{digits}g}".replace("-", "\u2212")  # a typographic minus, not a hyphen


def _region(cert: Certificate) -> dict:
    """A uniform box as {low, high, power} (typeset [low, high]^d), else a list of spans."""
    low = np.asarray(cert.game["region"]["low"], dtype=float)
    high = np.asarray(cert.game["region"]["high"], dtype=float)
    d = low.size
    if np.all(low == low[0]) and np.all(high == high[0]):
        return {"low": number(low[0]), "high": number(high[0]), "power": str(d), "text": ""}
    spans = " x ".join(f"[{number(a)}, {number(b)}]" for a, b in zip(low[:4], high[:4]))
    return {"low": "", "high": "", "power": "", "text": f"{spans}{' x ...' if d > 4 else ''}"
            f" (d = {d})"}


def certificate_view(cert: Certificate, figures: list[dict]) -> dict:
    """The data certificate.typ lays out."""
    bounds, diag, steps = cert.bounds, cert.diagnostics, cert.step_sizes or {}
    players = cert.game["players"]
    n = len(players)
    certified = cert.status is Status.CERTIFIED
    constrained = bool(cert.game["region"].get("constrained"))
    est = cert.estimator
    if est.get("method") == "interval":
        how = (f"enclosed by interval arithmetic with outward rounding over {est.get('boxes')} "
               f"boxes (branch and bound, {number(est.get('seconds'), 3)} s); verified")
        if est.get("outcome") != "certified" and est.get("proved_fraction") is not None:
            how += (f"; branch and bound stopped with {number(100 * est['proved_fraction'], 3)}% "
                    "of the region proved for the least-proved quantity")
    else:
        how = ("exact: the Jacobian is constant, so one evaluation gives every bound (widened by a "
               "rounding allowance); verified" if cert.verified else
               f"estimated from {cert.estimator['samples']} sample points (seed "
               f"{cert.estimator['seed']}) plus local search; not verified")
    eq = cert.equilibrium
    if eq and eq.get("found"):
        x = eq["x"]
        shown = ", ".join(number(v, 4) for v in x[:6]) + (", ..." if len(x) > 6 else "")
        equilibrium = f"x* = ({shown}), residual {number(eq['residual'], 3)}"
    else:
        equilibrium = "not determined" if eq is None else eq.get("message", "not found")

    # Names and meanings are typst markup written here (never user text): the template
    # evaluates them, so the mathematics is typeset.
    numbers = [
        _row("margin $alpha$", number(cert.margin),
             "contraction rate of $F$ in the metric $M(w)$ (the SGN margin)"),
        _row("Lipschitz $beta$", number(bounds["lipschitz"]),
             "largest singular value of $M^(1\\/2) J M^(-1\\/2)$ on the region"),
        _row("Euclidean margin $gamma$", number(bounds["euclidean_margin"]),
             "$gamma > 0$ would mean the plain, unweighted test certifies"),
        _row("weights $w$", ", ".join(number(w) for w in cert.weights),
             "block weights of the metric; only ratios matter"),
    ]
    euler = "NPG" if cert.geometry == "fisher" else "Euler"
    if certified:
        numbers += [
            _row(f"{euler}, max step", number(steps.get("euler_max")),
                 "$2 alpha \\/ beta^2$: every smaller step contracts"),
            _row(f"{euler}, recommended", number(steps.get("euler_recommended")),
                 f"$alpha \\/ beta^2$: contracts by {number(steps.get('euler_factor'))} per step"),
            _row("RK4, proven step", number(steps.get("rk4_proven")) if not constrained
                 else "not proven", "largest step the RK4 bound proves (docs/rk4.md)"),
            _row("RK4, guideline", number(steps.get("rk4_guideline")),
                 "$2.5 \\/ beta$: linear stability only, not a proof"),
        ]
    if cert.band is not None:
        numbers.append(_row("band $w_2 \\/ w_1$", f"[{number(cert.band['low'])}, "
                            f"{number(cert.band['high'])}]",
                            f"every ratio in it certifies; the best is "
                            f"{number(cert.band['best_ratio'])}"))

    diagnostics = [
        _row("metric margin", number(diag.get("metric_margin")),
             "$min_x lambda_min (\"sym\"(M^(1\\/2) J(x) M^(-1\\/2)))$ over the evaluated points"),
        _row("SGN gap", _gap(diag.get("sgn_gap"), cert.margin),
             "metric margin minus $alpha$: how conservative the SGN bound is here"),
        _row("spectral radius $rho$", number(diag.get("spectral_radius")),
             "$rho(\"diag\"(mu)^(-1) L)$; SGN certifies iff $rho < 1$"),
        _row("best SGN margin", number(diag.get("best_possible_margin")),
             "smallest eigenvalue of $K$: no weights do better with these bounds"),
        _row("certified by", str(diag.get("certified_by") or "-"),
             "which test gave the certificate"),
        _row("Jacobian evaluations", number(cert.estimator.get("jacobian_evaluations")),
             "including the local search"),
    ]
    coupling = []
    if n <= 8:
        L = bounds["coupling"]
        coupling = [[""] + [p["name"] for p in players]]
        coupling += [[p["name"]] + ["-" if i == j else number(L[i][j], 4) for j in range(n)]
                     for i, p in enumerate(players)]

    basin = (eq or {}).get("basin")
    if not certified:
        scope = ""
    elif basin is None or basin["kind"] == "box":
        scope = ("The box is the strategy set; projected dynamics are covered from every start "
                 "in it.")
    else:
        radii = ", ".join(number(r, 4) for r in basin["player_radii"][:6])
        scope = (f"The region is a region of analysis: the guarantees cover trajectories that "
                 f"stay in it, and in particular every start within M-distance "
                 f"{number(basin['metric_radius'], 4)} of x* (for instance every start with "
                 f"per-player distances at most ({radii}) from x*), since distances to x* "
                 f"shrink.")

    return {
        "title": cert.game["name"],
        "tool": f"sgn {cert.tool.get('version', '')}".strip(),
        "status_kind": cert.status.value,
        "status_word": cert.status.value.replace("_", " ").upper(),
        "status_message": cert.status.message[0].upper() + cert.status.message[1:] + ".",
        "bounds_badge": "verified bounds" if cert.verified else "estimated bounds",
        "certified": certified,
        "reasons": list(cert.reasons),
        "remedies": _remedies(cert) if not certified else [],
        "notes": list(cert.notes),
        "players": [{"name": p["name"], "dim": str(p["dim"]), "weight": number(w),
                     "mu": number(m)} for p, w, m in
                    zip(players, cert.weights, bounds["curvature"])][:40],
        "region": _region(cert),
        "region_kind": "strategy set (projected dynamics)" if constrained else
                       "region of analysis (unconstrained play)",
        "geometry": _geometry(cert),
        "fisher": cert.geometry == "fisher",
        "bounds_how": how,
        "equilibrium": equilibrium,
        "numbers": numbers,
        "diagnostics": diagnostics,
        "coupling": coupling,
        "alpha": number(cert.margin),
        "beta": number(bounds["lipschitz"]),
        "euler_max": number(steps.get("euler_max")),
        "euler_rec": number(steps.get("euler_recommended")),
        "euler_factor": number(steps.get("euler_factor")),
        "rk4_proven": number(steps.get("rk4_proven")),
        "rk4_rec": number(steps.get("rk4_recommended")),
        "rk4_factor": number(steps.get("rk4_factor")),
        "rk4_guideline": number(steps.get("rk4_guideline")),
        "rk4_ok": steps.get("rk4_proven") is not None,
        "scope": scope,
        "figures": figures,
    }


def _geometry(cert: Certificate) -> str:
    if cert.geometry != "fisher":
        return "Euclidean, M(w) = blockdiag(w_i I)"
    m = cert.game.get("markov", {})
    return (f"Fisher, M(w) = blockdiag(w_i F_i); Markov game with {m.get('states')} "
            f"states, actions {', '.join(str(a) for a in m.get('actions', []))}, discount "
            f"{number(m.get('discount'))}, entropy {number(m.get('entropy'))} "
            f"({m.get('entropy_weighting')} over states); reduced logits, cube of radius "
            f"{number(m.get('radius'))} around the equilibrium")


def _gap(gap, alpha) -> str:
    """The metric margin minus alpha; rounding-size values are shown as a tight bound."""
    if gap is None:
        return number(None)
    if abs(gap) <= 1e-9 * max(1.0, abs(alpha)):
        return "0 (tight)"
    return number(gap)


def _row(name: str, value: str, meaning: str) -> dict:
    return {"name": name, "value": value, "meaning": meaning}


def _remedies(cert: Certificate) -> list[str]:
    """What would have to change, read off the bounds."""
    mu = np.asarray(cert.bounds["curvature"], dtype=float)
    rho = cert.diagnostics.get("spectral_radius")
    out = []
    weak = [cert.game["players"][i]["name"] for i in np.flatnonzero(mu <= 0)]
    if weak:
        out.append(f"{', '.join(weak)} must become strongly convex in their own action on the "
                   "region (mu_i > 0): add regularisation (e.g. weight decay) or shrink the region "
                   "to where the own cost curves upward.")
    elif rho is not None and rho >= 1:
        out.append(f"The couplings must shrink by a factor of at least {number(rho, 4)} relative "
                   "to the curvatures (or the curvatures grow by it): scale down the cross terms, "
                   "or add regularisation to every player.")
    if cert.status is Status.INCONCLUSIVE:
        out.append("Tighten the bounds: more samples (--samples), or a smaller region around "
                   "the equilibrium.")
    return out
