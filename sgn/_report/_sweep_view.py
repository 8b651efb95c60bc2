"""What the sweep report shows, formatted once (see _view.number)."""

from __future__ import annotations

from ._view import number


def sweep_view(sweep) -> dict:
    keys = list(sweep.varying)
    # parameter names are the user's (plain text); the other headers are typst markup
    header = [{"text": k} for k in keys] + [{"markup": m} for m in (
        "status", "Euclidean $gamma$", "best SGN $alpha$", "metric", "$beta$", "Euler max",
        "RK4 proven")]
    rows = []
    for r in sweep.rows:
        rows.append([number(r["params"][k], 4) for k in keys] + [
            r["status"].replace("_", " ") + {"euclidean": " (Eucl.)", "metric": " (metric)"}
            .get(r["certified_by"], ""),
            number(r["euclidean_margin"], 4), number(r["margin"], 4),
            # metric margin and beta are taken in the certified metric: none otherwise
            number(r["metric_margin"], 4) if r["status"] == "certified" else "-",
            number(r["lipschitz"], 4) if r["status"] == "certified" else "-",
            "-" if r["euler_max"] is None else number(r["euler_max"], 4),
            "-" if r["rk4_proven"] is None else number(r["rk4_proven"], 4),
        ])
    counts = {kind: sum(1 for r in sweep.rows if _kind(r) == kind)
              for kind in ("euclidean", "sgn", "metric", "none")}
    fixed = ", ".join(f"{k} = {v}" for k, v in sweep.fixed.items())
    return {
        "title": sweep.game,
        "varying": ", ".join(keys),
        "fixed": fixed,
        "points": str(len(sweep.rows)),
        "how": ("exact bounds (constant Jacobian) at every point" if all(
            r["verified"] for r in sweep.rows) else
            f"bounds estimated from {sweep.samples or 4096} samples per point (not verified)"),
        "counts": {k: str(v) for k, v in counts.items()},
        "header": header,
        "rows": rows,
        "footnote": FOOTNOTE + (METRIC_FOOTNOTE if counts["metric"] else ""),
    }


#: What the columns are (their numbers are formatted above; this names them).
FOOTNOTE = ("Euclidean $gamma$: the margin of the plain test with equal weights. Best SGN "
            "$alpha$: the largest SGN margin any block weights give with the point's bounds. "
            "\"(Eucl.)\": certified by the Euclidean test, at rate $gamma$. Metric: the margin "
            "the evaluated Jacobians show in the certified metric; $beta$: the Lipschitz bound "
            "in it. A dash: not certified, or, for RK4, not proved.")


#: Added when some point was certified by the metric search (issue 13).
METRIC_FOOTNOTE = (" \"(metric)\": certified by block weights found from the Jacobians (or, "
                   "higher up the metric search's ladder, block matrices), at their metric "
                   "margin; SGN's norm bounds do not certify there.")


def _kind(row: dict) -> str:
    """Which test certifies at a grid point: "euclidean", "sgn", "metric" (weights found from
    the Jacobians; SGN's norm bounds do not certify) or "none"."""
    if row["euclidean_margin"] > 0:
        return "euclidean"
    if row["status"] != "certified":
        return "none"
    return "metric" if row.get("certified_by") == "metric" else "sgn"
