"""The short human summary of a certificate (what `sgn certify` prints as text)."""

from __future__ import annotations

import numpy as np

from ._certificate import Certificate, Status
from ._schema import coupling_matrix
from ._wording import (
    ALPHA_BETA,
    DIRECT,
    RHO_UNDEFINED,
    RK4_NOT_PROVED,
    how_measured,
    metric_route,
    sgn_steps,
    step_proofs,
    step_word,
    structure_text,
)
from ._wording import figure as _g


def _vector(values, digits: int = 6, limit: int = 8) -> str:
    shown = ", ".join(_g(v, digits) for v in values[:limit])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def _interval_headline(est: dict) -> str:
    """The verified headline, its counts as the estimator records them (older certificates
    have no seconds per pass: then the boxes alone)."""
    counts = f"{est.get('boxes')} boxes"
    if est.get("boxes_enclosed") is not None and est.get("seconds") is not None:
        counts += f" ({est['boxes_enclosed']} enclosed in {est['seconds']:.3g} s)"
    tight = ""
    if est.get("target_ratio") is not None:
        reached = est.get("margin_ratio")
        tight = (f"; SGN's margin with them {_g(reached, 3)}x that of the values at the box "
                 f"centres (target {_g(est['target_ratio'], 3)})" if reached is not None else
                 f"; target ratio {_g(est['target_ratio'], 3)} not comparable (no margin at the "
                 "box centres)")
    return f"bounds proved by interval arithmetic on {counts}{tight}: verified"


def summarize(cert: Certificate) -> str:
    """A dozen aligned lines: status, what the bounds are, the metric, rate and step sizes."""
    game, bounds, diag = cert.game, cert.bounds, cert.diagnostics
    n = len(game["players"])
    est = cert.estimator
    how = (_interval_headline(est) if est.get("method") == "interval" else
           "bounds exact (constant Jacobian): verified" if cert.verified
           else f"bounds estimated from {cert.estimator['samples']} samples (seed "
                f"{cert.estimator['seed']}): not verified")
    lines = [f"{game['name']}: {cert.status.value.upper().replace('_', ' ')}; {how}",
             f"  {cert.status.message}"]
    for reason in cert.reasons:
        lines.append(f"  reason: {reason}")

    def row(label: str, text: str) -> None:
        lines.append(f"  {label:<12} {text}")

    players = ", ".join(f"{p['name']} (dim {p['dim']})" for p in game["players"][:6])
    row("players", players + (f", ... ({n} players)" if n > 6 else ""))
    structured = [p for p in game["players"][:6] if isinstance(p.get("structure"), dict)]
    for k, p in enumerate(structured):   # pytree players: their leaves, a few per player
        row("structure" if k == 0 else "", f"{p['name']}: {structure_text(p['structure'])}")
    region = game["region"]
    kind = "strategy set (projected dynamics)" if region["constrained"] else "analysis region"
    row("region", f"box in R^{len(region['low'])}, {kind}")
    row("curvature", "mu = " + _vector(bounds["curvature"]))
    L = coupling_matrix(bounds["coupling"])
    if isinstance(bounds["coupling"], dict):       # many players: sparse, summarised
        C = L.tocoo()
        k = int(np.argmax(C.data)) if C.nnz else None
        degree = np.bincount(C.row, minlength=n)
        row("coupling", (f"largest L_{C.row[k] + 1},{C.col[k] + 1} = {_g(C.data[k])}"
                         if k is not None else "none") + f" of {C.nnz} non-zero blocks "
            f"(per player: mean {degree.mean():.3g}, most {degree.max()})")
    elif n == 2:
        row("coupling", f"L_12 = {_g(L[0, 1])}, L_21 = {_g(L[1, 0])}")
    else:
        i, j = np.unravel_index(np.argmax(L), L.shape)
        row("coupling", f"largest L_{i + 1},{j + 1} = {_g(L[i, j])}")
    rho = _g(diag["spectral_radius"], missing=RHO_UNDEFINED)
    row("small gain", f"rho = {rho} (the norm bounds certify iff < 1)")
    gamma = bounds["euclidean_margin"]
    enclosed = cert.estimator.get("method") == "interval"   # a lower bound, not a value seen
    row("euclidean", f"margin {_g(gamma)} (" + (
        "monotone already" if gamma > 0 else
        "not proved positive by the enclosures" if enclosed else
        "not monotone: the plain test fails") + ")")
    if metric_route(diag):
        # weights found from the Jacobians: the margin is their metric margin, SGN's own test
        # (the norm bounds above) does not certify
        how = how_measured(cert.verified)
        matrix = cert.metric
        if matrix is None:
            row("weights", "w = " + _vector(cert.weights) + " (found from the Jacobians: "
                "metric search)")
        else:
            row("metric", metric_words(matrix))
            row("SGN weights", "w = " + _vector(cert.weights) + f" (SGN's own: alpha = "
                f"{_g(matrix['sgn_margin'])} with the norm bounds)")
        row("margin", f"metric margin alpha = {_g(cert.margin)} ({how} in "
            f"{'M(w)' if matrix is None else 'M'}"
            + ("; it certifies" if cert.status is Status.CERTIFIED else "")
            + f"); best SGN margin possible {_g(diag['best_possible_margin'])}: SGN's norm "
            "bounds do not certify")
    else:
        row("weights", "w = " + _vector(cert.weights))
        name = "gamma (Euclidean test)" if diag.get("certified_by") == "euclidean" else "alpha"
        row("margin", f"{name} = {_g(cert.margin)} (metric margin {_g(diag['metric_margin'])}, "
            f"best SGN margin possible {_g(diag['best_possible_margin'])})")
    row("lipschitz", f"beta = {_g(bounds['lipschitz'], missing='not finite')} in the metric")
    steps = cert.step_sizes
    if cert.geometry == "fisher":
        markov = game.get("markov", {})
        row("geometry", f"Fisher (natural policy gradient); {markov.get('states')} states, "
            f"actions {markov.get('actions')}, discount {markov.get('discount')}, entropy "
            f"{markov.get('entropy')} ({markov.get('entropy_weighting')})"
            + ("; large-game plan (docs/fisher.md, \"Scale\")"
               if markov.get("plan") == "large" else ""))
    if cert.status is Status.CERTIFIED and steps is not None:
        row("flow", f"||x(t) - y(t)||_M <= exp(-{_g(cert.margin)} t) ||x(0) - y(0)||_M")
        euler = "npg" if cert.geometry == "fisher" else "euler"
        _step_rows(row, euler, steps, step_word(cert))
    if cert.band is not None:
        # null in the band is infinity: the band is a half-line (no back-coupling). After the
        # metric search it is still SGN's band (its norm bounds' ratios), named so.
        row("SGN band" if metric_route(diag) else "band",
            f"w2/w1 in [{_g(cert.band['low'])}, {_g(cert.band['high'], missing='inf')}"
            f"], best {_g(cert.band['best_ratio'], missing='inf (as large as possible)')}")
    for note in cert.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


#: What proves a step that is not SGN's alpha/beta one (step_sizes.euler_bound, .rk4_bound).
EULER_DIRECT_MAX = ("the region-wide Euler factor sup_x ||I - h J(x)||_M is {how} below 1 "
                    "at this step (so every smaller step contracts)")
EULER_DIRECT_RECOMMENDED = "minimises the {how} factor"


def _rk4_direct(proof: str, steps: dict, how: str = "measured") -> str:
    """The direct RK4 bound in words: the spread bound, or the exact factor of a linear
    field (docs/rk4.md, section 9)."""
    if proof == "direct-exact-linear":
        return "the exact RK4 factor ||R(-h J)||_M of a linear field (docs/rk4.md section 9)"
    spread = (steps.get("direct") or {}).get("rk4_spread")
    return (f"the spread bound of docs/rk4.md section 9 with the {how} spread "
            f"delta = {_g(spread, 3)}")


def _step_rows(row, label: str, steps: dict, how: str = "measured") -> None:
    """The Euler (or NPG) and RK4 rows: each number with the proof that gave it. SGN's
    alpha/beta steps keep their one-line wording; a direct step names its proof (`how` its
    numbers were obtained, `step_word`) and shows SGN's beside it."""
    proof, own = step_proofs(steps), sgn_steps(steps)
    recommended = (f"at h = {_g(steps['euler_recommended'])}"
                   + (f" ({EULER_DIRECT_RECOMMENDED.format(how=how)})"
                      if proof["euler_recommended"] == DIRECT else "")
                   + f" each step contracts by {_g(steps['euler_factor'])}")
    if proof["euler_max"] == DIRECT:
        row(label, f"h <= {_g(steps['euler_max'])}: {EULER_DIRECT_MAX.format(how=how)}; "
            "SGN's alpha/beta "
            f"bound: h < {_g(own['euler_max'])}")
        row("", recommended)
    else:
        row(label, f"h < {_g(steps['euler_max'])}; {recommended}")
    if steps["rk4_proven"] is None:
        proven = RK4_NOT_PROVED
    elif proof["rk4_proven"] in (None, ALPHA_BETA):
        proven = f"h <= {_g(steps['rk4_proven'])} proven"
    else:
        proven = (f"h <= {_g(steps['rk4_proven'])} proven by "
                  f"{_rk4_direct(proof['rk4_proven'], steps, how)}; SGN's alpha/beta bound: "
                  f"h <= {_g(own['rk4_proven'])}")
    row("rk4", f"{proven}; guideline {_g(steps['rk4_guideline'])} (linear stability only)")
    if proof["rk4_recommended"] not in (None, ALPHA_BETA) or \
            proof["rk4_proven"] not in (None, ALPHA_BETA):
        row("", f"at h = {_g(steps['rk4_recommended'])}"
            + (" (minimises the proven factor)" if proof["rk4_recommended"] != ALPHA_BETA
               else "") + f" each step contracts by {_g(steps['rk4_factor'])}")


def _verdict_word(run) -> str:
    """kept / BROKEN for a promise; an observation is marked as one ("diverged (no promise)")."""
    if run.verdict.promised:
        return "kept" if run.ok else "BROKEN" + (
            f" ({len(run.violations)} starts)" if getattr(run, "violations", None) else "")
    return f"{run.verdict.value} (no promise)"


def _outcome_lines(sim, runs) -> list[str]:
    """What no-promise runs were, the vocabulary when it is needed, and the outcome."""
    lines = []
    for run in runs:
        if not run.promise.applies:
            left = getattr(run, "left_region", 0)
            where = (f"; {left} of {run.starts} starts left the region" if left else "")
            lines.append(f"  {run.method}: no promise: {run.promise_detail}{where}")
    if any(not run.verdict.promised for run in runs):
        lines.append("  (no promise): the certificate does not cover that run; converged / "
                     "diverged / undecided say only what it did (docs/simulate.md)")
    outcome = sim.outcome
    lines.append(f"  outcome: {outcome.value.upper().replace('_', ' ')}: {outcome.message}")
    return lines


def summarize_simulation(sim) -> str:
    """One line per method: certified factor against the worst observed, the verdict, then
    violations, what runs without a promise are, and the outcome."""
    from ._simulate import describe_violation

    where = (f"in the certified basin ({sim.basin})" if sim.basin != "region" else
             "spread over the region (the game is not certified: no basin, nothing promised)")
    lines = [f"{sim.game}: simulated from {sim.runs[0].starts} starts {where}, "
             f"{sim.runs[0].steps} steps each"]
    measure = "to x*" if sim.measure == "distance" else "residual"
    lines.append(f"  {'method':<7} {'step h':>12} {'certified':>12} {measure:>12} "
                 f"{'pairwise':>12}  verdict")
    for run in sim.runs:
        cert = "none" if run.certified_factor is None else f"{run.certified_factor:.9f}"
        lines.append(f"  {run.method:<7} {run.step:>12.6g} {cert:>12} "
                     f"{run.observed_factor:>12.9f} {run.observed_pairwise_factor:>12.9f}  "
                     f"{_verdict_word(run)}")
    for run in sim.runs:
        for v in run.violations[:5]:
            lines.append(f"  {run.method}: {describe_violation(v)}")
    if sim.measure == "distance":
        name = getattr(sim, "metric_name", "M(w)")
        lines.append(f"  factors are per step in the certified metric {name}"
                     + ("" if name == "M(w)" else " (the certificate's block metric)")
                     + "; the flow's step is the time between observations")
    else:
        lines.append("  factors are per step: of the residual ||F(x)||_2 (the natural residual "
                     "||x - Pi(x - F(x))||_2 on a strategy set), and of pairwise distances in "
                     "M(w); the flow's step is the time between observations")
    return "\n".join(lines + _outcome_lines(sim, sim.runs))


def summarize_policy_simulation(sim, sweep=None) -> str:
    """NPG against its certified decay of the KL Lyapunov function, PG alongside."""
    where = ("in the certified Fisher ball" if sim.basin != "region" else
             "spread over the region (the game is not certified: nothing promised)")
    lines = [f"simulated NPG and PG from {sim.starts} starts {where}, "
             f"{sim.steps} steps each; V = sum_i w_i sum_s KL(pi_i* || pi_i)"]
    lines.append(f"  {'method':<7} {'step h':>12} {'certified':>12} {'observed':>12} "
                 f"{'V_T / V_0':>12} {'TV at T':>10}  verdict")
    for run in sim.runs:
        cert = "none" if run.certified_rate is None else f"{run.certified_rate:.9f}"
        lines.append(f"  {run.method:<7} {run.step:>12.6g} {cert:>12} "
                     f"{run.observed_rate:>12.9f} {run.final_ratio:>12.3g} "
                     f"{run.final_policy_distance:>10.3g}  {_verdict_word(run)}")
    lines.append("  rates are per-step decay of V (certified: q(h)^2); TV = worst total "
                 "variation between pi_i(.|s) and pi_i*(.|s)")
    if sweep is not None:
        largest = "none" if sweep.largest_converging is None else _g(sweep.largest_converging)
        lines.append(f"  step sweep: NPG converges up to h = {largest} of those tried; "
                     f"certified h < {_g(sweep.certified_max)}")
    return "\n".join(lines + _outcome_lines(sim, sim.runs))


#: Groups of checks in the text output of `sgn verify`, by the first part of a check's name.
_VERIFY_GROUPS = {
    "curvature": "curvatures mu_i", "coupling": "couplings L_i,j",
    "reproved": "bounds re-proved by branch and bound", "step_sizes": "step sizes",
    "rates": "rates", "band": "band", "basin": "basin",
}


#: Short names of single checks, for the line listing what was tested by sampling only.
_VERIFY_SHORT = {
    "euclidean_margin": "Euclidean margin gamma", "lipschitz": "beta",
    "metric_margin": "alpha in the metric", "diagnostics.metric_margin": "metric margin",
    "diagnostics.euclidean_lipschitz": "Euclidean Lipschitz constant",
}


def _verify_group(name: str) -> str:
    head = name.split("[")[0]
    if head.startswith("reproved"):
        return "reproved"
    return head.split(".")[0] if head.split(".")[0] in _VERIFY_GROUPS else name


def _ratio_note(checks) -> str:
    """For bounds tested by fresh values: how close the fresh values came to the stored ones."""
    ratios = [c.found / c.stored for c in checks
              if isinstance(c.stored, float) and isinstance(c.found, float) and c.stored > 0
              and c.found > 0]
    if not ratios:
        return ""
    name = checks[0].name
    if name.startswith("coupling") or name.startswith("reproved.coupling"):
        return f"; largest fresh/stored ratio {max(ratios):.3g}"
    if name.startswith("curvature"):
        return f"; smallest fresh/stored ratio {min(ratios):.3g}"
    return ""


def summarize_verification(ver) -> str:
    """One line per failed check, then the checks that held, grouped, and how each was made.

    JSON output keeps every check; the text groups the held ones (a 20-player certificate has
    hundreds of couplings) and says which claims were only tested by sampling.
    """
    verdict = "HOLDS" if ver.ok else f"BROKEN ({len(ver.failures)} checks fail)"
    lines = [f"{ver.game}: certificate {verdict}; fresh samples: {ver.samples} "
             f"(seed {ver.seed})"]
    for check in ver.failures:
        lines.append(f"  [FAIL] {check.message} ({check.how})")
    groups: dict[str, list] = {}
    for check in ver.checks:
        groups.setdefault(_verify_group(check.name), []).append(check)
    for key, checks in groups.items():
        held = [c for c in checks if c.ok]
        if not held:
            continue
        how = "/".join(dict.fromkeys(c.how for c in held))
        if len(checks) == 1:
            lines.append(f"  [ok] {held[0].message} ({how})")
            continue
        title = _VERIFY_GROUPS.get(key, key)
        lines.append(f"  [ok] {title}: {len(held)} of {len(checks)} hold ({how}"
                     f"{_ratio_note(held)})")
    proved = "reproved" in groups      # an interval certificate's mu and L: proved again too
    sampled = [_VERIFY_GROUPS.get(k, _VERIFY_SHORT.get(k, k)) for k, cs in groups.items()
               if any(c.how == "sampled" for c in cs)
               and not (proved and k in ("curvature", "coupling"))]
    if sampled:
        lines.append("  tested by sampling only (a fresh sample can refute these, not prove "
                     f"them): {', '.join(sampled)}")
    return "\n".join(lines)


def summarize_sweep(sweep) -> str:
    """One aligned row per grid point."""
    keys = list(sweep.varying)
    head = "".join(f"{k:>10}" for k in keys)
    lines = [f"{sweep.game}: sweep over {', '.join(keys)} ({len(sweep.rows)} points)",
             f"  {head} {'status':>14} {'euclidean':>11} {'sgn alpha':>11} {'metric':>11} "
             f"{'beta':>9} {'euler max':>10} {'rk4 proven':>10}"]
    for r in sweep.rows:
        values = "".join(f"{r['params'][k]:>10.4g}" for k in keys)
        status = r["status"] + {"euclidean": "*", "metric": "+"}.get(r["certified_by"], "")
        lines.append(
            f"  {values} {status:>14} {r['euclidean_margin']:>11.5g} {r['margin']:>11.5g} "
            f"{r['metric_margin']:>11.5g} {r['lipschitz']:>9.4g} "
            f"{_g(r['euler_max'], 4) if r['euler_max'] is not None else '-':>10} "
            f"{_g(r['rk4_proven'], 4) if r['rk4_proven'] is not None else '-':>10}")
    if any(r["certified_by"] == "euclidean" for r in sweep.rows):
        lines.append("  * certified by the Euclidean test (SGN alone does not)")
    if any(r["certified_by"] == "metric" for r in sweep.rows):
        lines.append("  + certified by block weights found from the Jacobians (or, higher up the "
                     "metric search's ladder, block matrices), at their metric margin (SGN's "
                     "norm bounds do not certify)")
    return "\n".join(lines)


def metric_words(metric: dict) -> str:
    """One line for a certificate's block-matrix metric (`metric`, schema version 3): which
    family certified, and how far from block-scalar weights it is (each block's condition
    number: 1 for w_i I)."""
    conds = [np.linalg.cond(np.asarray(b, dtype=float)) for b in metric["blocks"]]
    if metric.get("rung") == "joint":
        return ("M = P, one SPD matrix over all players' coordinates, found from the Jacobians "
                f"(metric search; it mixes the players); cond P = {conds[0]:.3g}")
    family = ("each player's eigenbasis at the centre, one weight per direction: P_i = Q_i "
              "diag(v_i) Q_i^T" if metric.get("rung") == "eigenbasis" else
              "a full SPD block per player")
    return (f"M = blockdiag(P_1..P_{len(conds)}), found from the Jacobians (metric search): "
            f"{family}; cond P_i = " + ", ".join(f"{c:.3g}" for c in conds[:6])
            + (", ..." if len(conds) > 6 else ""))
