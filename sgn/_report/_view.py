"""What the report shows: every number formatted once, here, from the certificate.

The templates only lay these strings out, so the text of a PDF can be checked against the
certificate with the same `number()` formatter.
"""

from __future__ import annotations

import re

import numpy as np

from .._certificate import Certificate, Status
from .._wording import margin_route as margin_test  # the report's name for it
from .._wording import (
    DIRECT,
    NOT_PROVED,
    RHO_UNDEFINED,
    RK4_CONSTRAINED,
    RK4_NOT_PROVED,
    figure,
    how_measured,
    step_word,
    metric_route,
    sgn_steps,
    step_proofs,
    structure_text,
)


#: Rows of the largest-couplings table of a sparse (many-player) certificate.
LARGEST_COUPLINGS = 12


def number(x, digits: int = 6, missing: str = "not available") -> str:
    """The one way a report prints a number: 6 significant digits, with a typographic minus.

    None (JSON null) is printed as `missing`, which the caller chooses for what the null means
    (sgn/_wording.py): never a word that claims something the certificate does not state.
    """
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x).replace("-", "\u2212")
    return figure(x, digits, missing).replace("-", "\u2212")  # a minus, not a hyphen


def measured(cert: Certificate) -> str:
    """How a metric margin was obtained: proved for verified bounds (exact or interval), else
    measured at sample points plus local search (the words of the certificate's reason)."""
    return how_measured(cert.verified)


# --- text from the certificate, typeset ---------------------------------------------------------
#
# Reasons, notes and messages are plain text (they may come from a JSON file anyone wrote), so
# the templates never evaluate them. sgn writes its symbols in them as ASCII (alpha, mu_i,
# L_ij / mu_i, rho = 3 >= 1, blockdiag(w_i I), F^-1/2 H F^-1/2); prose() cuts such a text into
# plain pieces, shown as they are, and mathematics, which is rebuilt here from the pieces the
# patterns below matched (fixed symbols, numbers, relations): nothing of the text is evaluated.

_GREEK = r"(?:alpha|beta|gamma|rho|mu|tau|lambda)"
_SUB = r"(?:_(?:ij|[a-z]|\d{1,2}))?"
_NUM = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_REL = r"(?:<=|>=|=|<|>)"
_MATH = re.compile(
    r"(?P<metric>\bM\(w\)(?:\s*=\s*blockdiag\(w_i (?:I|F_i)\))?)"
    r"|(?P<blockdiag>\bblockdiag\(w_i (?:I|F_i)\))"
    r"|(?P<fisher>\bF\^-1/2 H F\^-1/2)"
    r"|(?P<gains>\bL_(?:ij|\d{2}) / mu_i\b)"
    rf"|(?P<chain>\b(?:{_GREEK}{_SUB}|L_(?:ij|\d{{2}})|[wF]_i)\b"
    rf"(?:\s*{_REL}\s*(?:{_NUM}|{_GREEK}{_SUB}\b))*)"
    r"|(?P<code>\b(?:rk4|euler)_[a-z_]+\b)"
)
_TOKEN = re.compile(rf"{_GREEK}{_SUB}|L_(?:ij|\d{{2}})|[wF]_i|{_NUM}|{_REL}|[()]|[\w/]+|\s+")


def _math(snippet: str) -> str:
    """Typst maths for an ASCII snippet the patterns matched (symbols, numbers, relations)."""
    out = []
    for tok in _TOKEN.findall(snippet):
        if tok.isspace():
            continue
        if re.fullmatch(_NUM, tok):
            mantissa, _, exponent = tok.partition("e")
            out.append(mantissa if not exponent else
                       f"{mantissa} times 10^({int(exponent)})")
        elif tok == "blockdiag":
            out.append('"blockdiag"')
        elif "_" in tok:
            base, sub = tok.split("_", 1)
            out.append(f"{base}_({' '.join(sub) if sub == 'ij' else sub})")
        else:
            out.append(tok.replace("/", "\\/"))
    # a space separates symbols (typst reads "wI" as one name); none around brackets, where
    # typst would set one ("blockdiag (")
    text = ""
    for tok in out:
        text += tok if not text or tok in "()" or text.endswith("(") else " " + tok
    return text


def prose(text: str) -> list[dict]:
    """Plain `text` as pieces for the templates: {"t": text}, {"m": typst maths} or
    {"c": a certificate key, set as code}."""
    pieces, at = [], 0
    for match in _MATH.finditer(text):
        if match.start() > at:
            pieces.append({"t": text[at:match.start()]})
        if match.lastgroup == "code":
            pieces.append({"c": match.group()})
        elif match.lastgroup == "fisher":
            pieces.append({"m": "F^(-1 \\/ 2) H F^(-1 \\/ 2)"})
        else:
            pieces.append({"m": _math(match.group())})
        at = match.end()
    if at < len(text):
        pieces.append({"t": text[at:]})
    return pieces


def plain(text: str) -> list[dict]:
    """Text shown exactly as it is (a name)."""
    return [{"t": text}]


def _region(cert: Certificate) -> dict:
    """A uniform box as {low, high, power} (typeset [low, high]^d), a box of one half-width
    around a point in words, else a list of spans."""
    low = np.asarray(cert.game["region"]["low"], dtype=float)
    high = np.asarray(cert.game["region"]["high"], dtype=float)
    d = low.size
    if np.all(low == low[0]) and np.all(high == high[0]):
        return {"low": number(low[0]), "high": number(high[0]), "power": str(d), "text": ""}
    half = 0.5 * (high - low)
    if d > 4 and np.allclose(half, half[0], rtol=1e-12, atol=0.0):
        # a box around a given point (a pytree game's parameters): its half-width says it all
        return {"low": "", "high": "", "power": "", "text":
                f"the box of half-width {number(half[0])} around the centre point the "
                f"certificate records (d = {d})"}
    times = " \u00d7 "
    spans = times.join(f"[{number(a)}, {number(b)}]" for a, b in zip(low[:4], high[:4]))
    more = f"{times}..." if d > 4 else ""
    return {"low": "", "high": "", "power": "", "text": f"{spans}{more} (d = {d})"}


def _weights(weights: list) -> str:
    """The weights in one cell: all of them for a few players (the players table has each)."""
    if len(weights) <= 6:
        return ", ".join(number(w) for w in weights)
    if all(w == weights[0] for w in weights):
        return f"{number(weights[0])} for all {len(weights)} players"
    return ", ".join(number(w) for w in weights[:4]) + f", ... ({len(weights)} in all)"


def certificate_view(cert: Certificate, figures: list[dict]) -> dict:
    """The data certificate.typ lays out.

    Cells are typst markup written here (names, meanings: never user text, and numbers) or,
    where text comes from the certificate, pieces from prose() and plain().
    """
    bounds, diag, steps = cert.bounds, cert.diagnostics, cert.step_sizes or {}
    players = cert.game["players"]
    n = len(players)
    certified = cert.status is Status.CERTIFIED
    constrained = bool(cert.game["region"].get("constrained"))
    kind = margin_test(cert)
    euclidean, metric = kind == "euclidean", kind == "metric"
    gamma, best = bounds["euclidean_margin"], diag.get("best_possible_margin")
    est = cert.estimator
    if est.get("method") == "interval":
        how = (f"enclosed by interval arithmetic with outward rounding over {est.get('boxes')} "
               f"boxes (branch and bound, {number(est.get('seconds'), 3)} s); verified")
        if est.get("outcome") != "certified" and est.get("proved_fraction") is not None:
            how += (f"; branch and bound stopped with {number(100 * est['proved_fraction'], 3)}% "
                    "of the region proved for the least-proved quantity")
        if est.get("target_ratio") is not None and est.get("margin_ratio") is not None:
            how += (f"; split until SGN's margin with the bounds reached "
                    f"{number(est['margin_ratio'], 3)}x that of the values at the box centres "
                    f"(target {number(est['target_ratio'], 3)})")
    else:
        how = ("exact: the Jacobian is constant, so one evaluation gives every bound (widened by a "
               "rounding allowance); verified" if cert.verified else
               f"estimated from {cert.estimator['samples']} sample points (seed "
               f"{cert.estimator['seed']}) plus local search; not verified")
    eq = cert.equilibrium
    if eq and eq.get("found"):
        x = eq["x"]
        shown = ", ".join(number(v, 4) for v in x[:6]) + (", ..." if len(x) > 6 else "")
        equilibrium = [{"m": "x^*"}, {"t": f" = ({shown}), residual "
                                           f"{number(eq['residual'], 3)}"}]
    else:
        equilibrium = plain("not determined") if eq is None else prose(
            eq.get("message", "not found"))

    # Every number sits under the name of the quantity it is: the margin is named by the test
    # it belongs to (margin_test), and a null is named for what it means (sgn/_wording.py).
    numbers = []
    if metric:
        numbers += _metric_rows(cert, certified)
    elif certified:
        numbers.append(_row(
            "certified by", "Euclidean test" if euclidean else "SGN test",
            ("the plain test with equal weights, $gamma > 0$; "
             + ("it proves a larger rate than SGN's best weights"
                if best is not None and best > 0 else "SGN's weighted test fails with these "
                "bounds")) if euclidean else
            "SGN's weighted test: $alpha(w) > 0$ for the block weights below"))
    plain_test = "the plain test with equal weights; it certifies when $gamma > 0$"
    if euclidean:
        numbers.append(_row("Euclidean margin $gamma$", number(gamma),
                            "contraction rate of $F$ with equal weights: the certified rate, "
                            "$alpha = gamma$" if certified else plain_test))
        if cert.margin != gamma:  # never written by sgn; shown rather than hidden
            numbers.append(_row("stated margin $alpha$", number(cert.margin),
                                "the certificate's margin, which differs from $gamma$"))
        numbers.append(_row("best SGN margin", number(best),
                            "SGN's weighted test: no block weights give a larger $alpha(w)$ "
                            "with these bounds"))
    elif not metric:
        numbers.append(_row("SGN margin $alpha(w)$", number(cert.margin),
                            "contraction rate of $F$ in the metric $M(w)$" if certified else
                            "SGN's margin for the weights below; it certifies when "
                            "$alpha(w) > 0$"))
        numbers.append(_row("Euclidean margin $gamma$", number(gamma), plain_test))
    numbers += [
        _row("Lipschitz $beta$", number(bounds["lipschitz"]),
             "largest singular value of $M^(1\\/2) J M^(-1\\/2)$ on the region"),
        _row("weights $w$", _weights(cert.weights),
             "equal: the metric of the Euclidean test" if euclidean else
             f"SGN's own weights, shown beside the {metric_name(cert)} that certifies"
             if cert.metric is not None else
             "block weights found from the Jacobians (metric search); only ratios matter"
             if metric else "block weights of the metric; only ratios matter"),
    ]
    euler = "NPG" if cert.geometry == "fisher" else "Euler"
    rk4_missing = prose(RK4_CONSTRAINED) if constrained else plain("the certificate states none")
    # Which proof gave each step (docs/method.md, "Direct step certificates"): SGN's alpha and
    # beta, or the Euler factor measured over the region; SGN's own step is shown beside.
    own = steps.get("alpha_beta") or {}
    direct = steps.get("euler_bound") == "direct"
    factor = number(steps.get("euler_factor"), missing=NOT_PROVED)
    if certified:
        numbers += _step_rows(steps, euler, rk4_missing, step_word(cert))
    if cert.band is not None:
        # null in the band is infinity: the band is a half-line (no back-coupling)
        high = number(cert.band["high"], missing="\u221e")
        numbers.append(_row("SGN band $w_2 \\/ w_1$", f"[{number(cert.band['low'])}, {high}]",
                            f"the weight ratios for which SGN's test certifies; the best is "
                            f"{number(cert.band['best_ratio'], missing='as large as possible')}"))

    rho = diag.get("spectral_radius")
    diagnostics = [
        _row("metric margin", number(diag.get("metric_margin")),
             "$min_x lambda_min (\"sym\"(M^(1\\/2) J(x) M^(-1\\/2)))$ over the evaluated "
             "points, in the metric of the weights above"),
        _metric_gap_row(cert) if metric else
        _row("gap to $gamma$" if euclidean else "SGN gap", _gap(diag.get("sgn_gap"), cert.margin),
             "metric margin minus $gamma$: how much more the evaluated Jacobians show than "
             "the Euclidean margin" if euclidean else
             "metric margin minus $alpha(w)$: how conservative the SGN bound is here"),
        _row("spectral radius $rho$", number(rho) if rho is not None else prose(RHO_UNDEFINED),
             "$rho(\"diag\"(mu)^(-1) L)$; SGN certifies iff $rho < 1$"),
    ]
    if not euclidean and not metric:  # the metric route shows it beside its margin
        diagnostics.append(_row("best SGN margin", number(best),
                                "smallest eigenvalue of $K$: no weights do better with these "
                                "bounds"))
    diagnostics.append(_row("Jacobian evaluations",
                            number(cert.estimator.get("jacobian_evaluations"),
                                   missing="not recorded"),
                            "points where the Jacobian was evaluated, including any local "
                            "search"))
    coupling = []
    if isinstance(bounds["coupling"], dict):      # many players: the largest couplings
        record = bounds["coupling"]
        order = np.argsort(record["values"], kind="stable")[::-1][:LARGEST_COUPLINGS]
        mu = bounds["curvature"]
        coupling = [["affected $i$", "pushing $j$", "$L_(i j)$", "$L_(i j) \\/ mu_i$"]]
        coupling += [[players[record["rows"][k]]["name"], players[record["cols"][k]]["name"],
                      number(record["values"][k], 4),
                      number(record["values"][k] / mu[record["rows"][k]], 4)
                      if mu[record["rows"][k]] > 0 else "-"] for k in order]
    elif n <= 8:
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
        more = ", ..." if len(basin["player_radii"]) > 6 else ""
        scope = (f"The region is a region of analysis: the guarantees cover trajectories that "
                 f"stay in it, and in particular every start within $M$-distance "
                 f"{number(basin['metric_radius'], 4)} of $x^*$ (for instance every start with "
                 f"per-player distances at most ({radii}{more}) from $x^*$), since distances "
                 f"to $x^*$ shrink.")

    alpha = number(cert.margin)
    view = {
        "title": cert.game["name"],
        "tool": f"sgn {cert.tool.get('version', '')}".strip(),
        "status_kind": cert.status.value,
        "status_word": cert.status.value.replace("_", " ").upper(),
        "status_message": cert.status.message[0].upper() + cert.status.message[1:] + ".",
        "bounds_badge": "verified bounds" if cert.verified else "estimated bounds",
        "certified": certified,
        "euclidean": euclidean,
        # the metric route: how the rate was obtained, said under "What is guaranteed"
        "route": (f"The metric was found from the Jacobians (metric search): "
                  f"{_matrix_words(cert.metric)}. Its metric margin $alpha$ was "
                  f"{measured(cert)} on the region: it is the rate. SGN's small-gain test with "
                  "the norm bounds does not certify this game.") if cert.metric is not None
                 else (f"The weights were found from the Jacobians (metric search), and their "
                  f"metric margin $alpha$ was {measured(cert)} in $M(w)$ on the region: it is "
                  "the rate. SGN's small-gain test with the norm bounds does not certify this "
                  "game.") if metric else "",
        "reasons": [prose(r) for r in cert.reasons],
        "remedies": _remedies(cert) if not certified else [],
        "notes": [prose(r) for r in cert.notes],
        "players": [{"i": str(k + 1), "name": p["name"], "dim": str(p["dim"]),
                     "weight": number(w), "mu": number(m)} for k, (p, w, m) in
                    enumerate(zip(players, cert.weights, bounds["curvature"]))][:40],
        "more_players": str(n - 40) if n > 40 else "",
        "region": _region(cert),
        "region_kind": "strategy set (projected dynamics)" if constrained else
                       "region of analysis (unconstrained play)",
        "geometry": prose(_geometry(cert)),
        "fisher": cert.geometry == "fisher",
        # (only when true: older certificates' views stay as they were)
        **({"block_matrix": True} if cert.metric is not None else {}),
        **({"joint_metric": True} if metric_name(cert) == "joint metric" else {}),
        "bounds_how": how,
        "equilibrium": equilibrium,
        "numbers": numbers,
        "diagnostics": diagnostics,
        "coupling": coupling,
        # the rate, named by the test that proved it
        "rate": f"$alpha = gamma = {alpha}$" if euclidean else f"$alpha = {alpha}$",
        "alpha": alpha,
        "beta": number(bounds["lipschitz"]),
        "euler_max": number(steps.get("euler_max"), missing=NOT_PROVED),
        "euler_rec": number(steps.get("euler_recommended"), missing=NOT_PROVED),
        "euler_factor": number(steps.get("euler_factor"), missing=NOT_PROVED),
        "rk4_proven": number(steps.get("rk4_proven"), missing=NOT_PROVED),
        "rk4_rec": number(steps.get("rk4_recommended"), missing=NOT_PROVED),
        "rk4_factor": number(steps.get("rk4_factor"), missing=NOT_PROVED),
        "rk4_guideline": number(steps.get("rk4_guideline"), missing=NOT_PROVED),
        "rk4_ok": steps.get("rk4_proven") is not None,
        # the sentences of "What is guaranteed" on the steps, naming the proof of each number
        "euler_guarantee": _euler_guarantee(steps, step_word(cert)) if certified else "",
        "rk4_guarantee": _rk4_guarantee(steps, step_word(cert)) if certified else "",
        "rk4_missing": prose(RK4_NOT_PROVED) if constrained else plain(NOT_PROVED),
        "scope": scope,
        "figures": figures,
    }
    # pytree players: their leaves and shapes, one short line each (names and paths are user
    # text, set as plain strings); the key is absent for games of flat players
    structure = [{"name": p["name"], "text": structure_text(p["structure"])}
                 for p in players[:12] if isinstance(p.get("structure"), dict)]
    if structure:
        view["structure"] = structure
    return view


# --- the step sizes, each named by the proof that gave it ----------------------------------------
#
# step_sizes keeps, for each number, the better of SGN's alpha/beta proof and the direct one
# (docs/certificate.md, "step_sizes"); step_proofs() says which. SGN's wording stays as it was;
# a direct number names its proof and shows SGN's own beside it.

#: The direct Euler proof, for the largest step (typst markup).
EULER_DIRECT_MAX = ("the region-wide Euler factor $sup_x norm(I - h J(x))_M$ is {how} below "
                    "1 here (so every smaller step contracts)")


def _sgn_beside(steps: dict, key: str, relation: str) -> str:
    """SGN's own step for `key`, to show beside a direct one."""
    return f"SGN's $alpha \\/ beta$ bound: $h {relation} {number(sgn_steps(steps)[key])}$"


def _spread(steps: dict) -> str:
    """The measured spread of the Jacobians around the centre (step_sizes.direct.rk4_spread),
    as text: a value such as 4e-17 reads better outside maths."""
    return number((steps.get("direct") or {}).get("rk4_spread"), 3, missing="not finite")


def _step_rows(steps: dict, euler: str, rk4_missing, how: str = "measured") -> list[dict]:
    """The certificate table's rows of the step sizes (`how` the direct numbers were
    obtained, `step_word`)."""
    proof = step_proofs(steps)
    factor = number(steps.get("euler_factor"), missing=NOT_PROVED)
    rows = [
        _row(f"{euler}, max step", number(steps.get("euler_max"), missing=NOT_PROVED),
             f"{EULER_DIRECT_MAX.format(how=how)}; {_sgn_beside(steps, 'euler_max', '<')}"
             if proof["euler_max"] == DIRECT else
             "$2 alpha \\/ beta^2$: every smaller step contracts"),
        _row(f"{euler}, recommended", number(steps.get("euler_recommended"), missing=NOT_PROVED),
             f"minimises the {how} factor: contracts by {factor} per step"
             if proof["euler_recommended"] == DIRECT else
             f"$alpha \\/ beta^2$: contracts by {factor} per step"),
    ]
    rk4 = proof["rk4_proven"]
    if steps.get("rk4_proven") is None:
        rows.append(_row("RK4, proven step", NOT_PROVED, rk4_missing + plain(" (docs/rk4.md)")))
    elif rk4 == "direct-exact-linear":
        rows.append(_row("RK4, proven step", number(steps["rk4_proven"]),
                         "exact RK4 factor $norm(R(-h J))_M$ of this linear field below 1 "
                         "(docs/rk4.md, section 9); "
                         + _sgn_beside(steps, "rk4_proven", "<=")))
    elif rk4 == "direct-spread":
        rows.append(_row("RK4, proven step", number(steps["rk4_proven"]),
                         f"spread bound, {how} $delta$ = {_spread(steps)} (docs/rk4.md, "
                         "section 9); " + _sgn_beside(steps, "rk4_proven", "<=")))
    else:
        rows.append(_row("RK4, proven step", number(steps.get("rk4_proven")),
                         "largest step the RK4 bound proves (docs/rk4.md)"))
    rows.append(_row("RK4, guideline", number(steps.get("rk4_guideline")),
                     "$2.5 \\/ beta$: linear stability only, not a proof"))
    return rows


def _euler_guarantee(steps: dict, how: str = "measured") -> str:
    """What the Euler (NPG) steps guarantee, after the method's name (typst markup)."""
    proof = step_proofs(steps)
    h_max = number(steps.get("euler_max"), missing=NOT_PROVED)
    h_rec = number(steps.get("euler_recommended"), missing=NOT_PROVED)
    factor = number(steps.get("euler_factor"), missing=NOT_PROVED)
    if proof["euler_max"] == DIRECT:
        # (SGN's own step is in the table beside this one)
        largest = (f"every step $h <= {h_max}$ contracts: the region-wide factor "
                   f"$q(h) = sup_x norm(I - h J(x))_M$ was {how} below 1 at $h = {h_max}$, "
                   "and $q$ is convex with $q(0) = 1$.")
    else:
        largest = (f"every step $h < {h_max}$ $(= 2 alpha \\/ beta^2)$ contracts, by the factor "
                   "$sqrt(1 - 2 h alpha + h^2 beta^2) < 1$.")
    if proof["euler_recommended"] == DIRECT:
        best = (f"At the recommended $h = {h_rec}$, which minimises the {how} factor, each "
                f"step shrinks distances by at least {factor}.")
    else:
        best = (f"At the recommended $h = {h_rec}$ $(= alpha \\/ beta^2)$ each step shrinks "
                f"distances by at least {factor}.")
    return f"{largest} {best}"


def _rk4_guarantee(steps: dict, how: str = "measured") -> str:
    """What the proven RK4 steps guarantee, after "RK4 (classic four stages):" (typst markup;
    only when a step is proven)."""
    rk4 = step_proofs(steps)["rk4_proven"]
    h_max = number(steps.get("rk4_proven"), missing=NOT_PROVED)
    best = (f"at $h = {number(steps.get('rk4_recommended'), missing=NOT_PROVED)}$ each step "
            "shrinks distances by at least "
            f"{number(steps.get('rk4_factor'), missing=NOT_PROVED)}.")
    # (SGN's own step is in the table beside a direct one)
    if rk4 == "direct-exact-linear":
        return (f"every step $h <= {h_max}$ is proven to contract: the field is linear, and its "
                "exact RK4 factor $norm(R(-h J))_M$ is below 1 there (docs/rk4.md, section 9); "
                f"{best}")
    if rk4 == "direct-spread":
        return (f"every step $h <= {h_max}$ is proven to contract by the spread bound of "
                f"docs/rk4.md, section 9, with the {how} spread $delta$ = {_spread(steps)}; "
                f"{best}")
    return (f"every step $h <= {h_max}$ is proven to contract (derivation in docs/rk4.md); "
            f"{best}")


def _metric_rows(cert: Certificate, certified: bool) -> list[dict]:
    """The certificate table's first rows for weights found from the Jacobians: the route,
    its metric margin (the certificate's margin), and SGN's own (failed) test beside it."""
    how = measured(cert)
    rows = []
    matrix = cert.metric
    if certified and matrix is not None:
        rows.append(_row(
            "certified by", "metric search, " + {"eigenbasis": "eigenbasis", "joint": "joint"}
            .get(matrix.get("rung"), "full blocks"),
            f"{_matrix_words(matrix)}, found from the Jacobians; its metric margin was {how} on "
            "the region; SGN's small-gain test does not certify with these norm bounds"))
    elif certified:
        rows.append(_row(
            "certified by", "metric search",
            f"block weights found from the Jacobians, whose metric margin in $M(w)$ was {how} "
            "on the region; SGN's small-gain test does not certify with these norm bounds"))
    if matrix is not None:
        rows.append(_row(
            "metric margin $alpha$", number(cert.margin),
            f"contraction rate of $F$ in the {metric_name(cert)} $M$, {how}: "
            "$min_x lambda_min (\"sym\"(M^(1\\/2) J(x) M^(-1\\/2)))$" if certified else
            f"the metric margin of the {metric_name(cert)} found from the Jacobians"))
        rows.append(_row("SGN margin $alpha(w)$", number(matrix.get("sgn_margin")),
                         "SGN's own margin for the weights below, with the norm bounds"))
    else:
        rows.append(_row(
            "metric margin $alpha$", number(cert.margin),
            f"contraction rate of $F$ in the metric $M(w)$ of the weights below, {how}: "
            "$min_x lambda_min (\"sym\"(M^(1\\/2) J(x) M^(-1\\/2)))$" if certified else
            "the metric margin of the weights below, found from the Jacobians; it certifies "
            "when $alpha > 0$"))
    rows.append(_row("Euclidean margin $gamma$", number(cert.bounds["euclidean_margin"]),
                     "the plain test with equal weights; it certifies when $gamma > 0$"))
    rows.append(_row("best SGN margin", number(cert.diagnostics.get("best_possible_margin")),
                     "the largest $alpha(w)$ SGN's norm bounds give for any block weights; "
                     "SGN's test does not certify here"))
    return rows


def metric_name(cert: Certificate) -> str:
    """What the report calls a certificate's matrix metric: "joint metric" for the ladder's
    last rung (one matrix over all coordinates), "block metric" for the others."""
    rung = (cert.metric or {}).get("rung")
    return "joint metric" if rung == "joint" else "block metric"


def _matrix_words(matrix: dict) -> str:
    """A certificate's block-matrix metric (schema version 3) in typst markup: its family and
    each block's condition number (1 for block-scalar weights)."""
    conds = ", ".join(number(float(np.linalg.cond(np.asarray(b, dtype=float))), 3)
                      for b in matrix["blocks"][:6])
    if matrix.get("rung") == "joint":
        return (f"the joint metric $M = P$, one SPD matrix over all players' coordinates, which "
                f"mixes the players (condition number {conds})")
    family = ("$P_i = Q_i \"diag\"(v_i) Q_i^T$ in each player's eigenbasis at the centre"
              if matrix.get("rung") == "eigenbasis" else "a full SPD block $P_i$ per player")
    return (f"the block metric $M = \"blockdiag\"(P_1, ..., P_N)$, {family} (condition "
            f"numbers {conds}{', ...' if len(matrix['blocks']) > 6 else ''})")


def _metric_gap_row(cert: Certificate) -> dict:
    """`sgn_gap` is 0 by construction when the margin is the metric margin itself: the row says
    that, and how far the metric margin is above SGN's best margin (what the norm bounds lose)."""
    best = cert.diagnostics.get("best_possible_margin")
    beyond = ("" if best is None else
              f"; the metric margin minus SGN's best margin is {number(cert.margin - best)}")
    return _row("SGN gap", "not applicable",
                "the margin is the metric margin itself, so the recorded gap is 0 by "
                f"construction{beyond}")


def _geometry(cert: Certificate) -> str:
    """The metric in sgn's ASCII notation (typeset by prose())."""
    if cert.metric is not None and cert.metric.get("rung") == "joint":
        return ("Euclidean coordinates; the metric M is one SPD matrix over all coordinates "
                "(metric search, joint rung)")
    if cert.metric is not None:
        return ("Euclidean coordinates; the metric M is block-diagonal, an SPD block per "
                "player (metric search)")
    if cert.geometry != "fisher":
        return "Euclidean, M(w) = blockdiag(w_i I)"
    m = cert.game.get("markov", {})
    return (f"Fisher, M(w) = blockdiag(w_i F_i); Markov game with {m.get('states')} "
            f"states, actions {', '.join(str(a) for a in m.get('actions', []))}, discount "
            f"{number(m.get('discount'))}, entropy {number(m.get('entropy'))} "
            f"({m.get('entropy_weighting')} over states); reduced logits, cube of radius "
            f"{number(m.get('radius'))} around the equilibrium")


def _gap(gap, alpha) -> str:
    """The metric margin minus the margin; rounding-size values are shown as a tight bound."""
    if gap is None:
        return number(None)
    if abs(gap) <= 1e-9 * max(1.0, abs(alpha)):
        return "0 (tight)"
    return number(gap)


def _row(name, value, meaning) -> dict:
    """A table row. Each cell is typst markup written by sgn (a str) or pieces (a list)."""
    return {"name": name, "value": value, "meaning": meaning}


def _remedies(cert: Certificate) -> list[list[dict]]:
    """What would have to change, read off the bounds."""
    mu = np.asarray(cert.bounds["curvature"], dtype=float)
    rho = cert.diagnostics.get("spectral_radius")
    out = []
    seen = (cert.estimator.get("centre_values") or {}).get("curvature")
    # Interval bounds: mu_i <= 0 is a property of the game only where a box centre shows it;
    # otherwise the enclosure is merely loose, and regularisation is not what is missing.
    loose = [] if seen is None else [i for i in np.flatnonzero(mu <= 0) if seen[i] > 0]
    names = [p["name"] for p in cert.game["players"]]
    weak = [names[i] for i in np.flatnonzero(mu <= 0) if i not in loose]
    if loose:
        out.append(prose("The interval enclosure is too loose to prove mu_i > 0 for ")
                   + plain(", ".join(names[i] for i in loose))
                   + prose(" (every box centre shows mu_i > 0): more boxes or time "
                           "(--max-boxes, --max-seconds) or a smaller region may prove it."))
    if weak:
        out.append(plain(", ".join(weak)) + prose(
            " must become strongly convex in their own action on the region (mu_i > 0): add "
            "regularisation (e.g. weight decay) or shrink the region to where the own cost "
            "curves upward."))
    elif rho is not None and rho >= 1 and not loose and margin_test(cert) != "metric":
        # (not for weights found from the Jacobians: they contract, SGN's norm bounds aside)
        out.append(prose(f"The couplings must shrink by a factor of at least {number(rho, 4)} "
                         "relative to the curvatures (or the curvatures grow by it): scale down "
                         "the cross terms, or add regularisation to every player."))
    if cert.status is Status.INCONCLUSIVE:
        out.append(plain("Tighten the bounds: more samples (--samples), or a smaller region "
                         "around the equilibrium."))
    return out
