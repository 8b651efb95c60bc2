"""What the sweep report shows, formatted once (see _view.number)."""

from __future__ import annotations

from ._view import number


def sweep_view(sweep) -> dict:
    keys = list(sweep.varying)
    header = keys + ["status", "Euclidean", "SGN alpha", "metric", "beta", "Euler max",
                     "RK4 proven"]
    rows = []
    for r in sweep.rows:
        rows.append([number(r["params"][k], 4) for k in keys] + [
            r["status"].replace("_", " ") + (" (Eucl.)" if r["certified_by"] == "euclidean"
                                             else ""),
            number(r["euclidean_margin"], 4), number(r["margin"], 4),
            # metric margin and beta are taken in the certified metric: none otherwise
            number(r["metric_margin"], 4) if r["status"] == "certified" else "-",
            number(r["lipschitz"], 4) if r["status"] == "certified" else "-",
            "-" if r["euler_max"] is None else number(r["euler_max"], 4),
            "-" if r["rk4_proven"] is None else number(r["rk4_proven"], 4),
        ])
    counts = {kind: sum(1 for r in sweep.rows if _kind(r) == kind)
              for kind in ("euclidean", "sgn", "none")}
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
    }


def _kind(row: dict) -> str:
    if row["euclidean_margin"] > 0:
        return "euclidean"
    return "sgn" if row["status"] == "certified" else "none"
