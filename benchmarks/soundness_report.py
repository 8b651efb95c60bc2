"""Soundness report: many random games, certified by sgn and held to their certificates.

    python benchmarks/soundness_report.py [--quadratic 200] [--nonlinear 50]
        [--refine-nonlinear 4] [--piecewise N] [--piecewise-gaps] [--piecewise-max-boxes B]
        [--piecewise-max-seconds S] [--workers 2] [--doc docs/conservatism.md] [--json PATH]
    python benchmarks/soundness_report.py --quadratic 0 --nonlinear 0 --piecewise 150
    python benchmarks/soundness_report.py --from-json PATH   # re-summarise

Games come from sgn/_testing/soundness.py (seeds 0..Q-1 and 0..N-1; structure, player count, dims,
coupling scale and box are drawn from the seed):

  quadratic   constant Jacobian, so sgn's bounds are exact: certified with 256 samples (one
              Jacobian is used); every certified game is judged exactly (operator norms of the
              Euler / RK4 / flow step maps in M(w), over every start). Any genuine violation
              is a bug.
  nonlinear   sampled bounds, 4096 samples; the first --refine-nonlinear seeds with sgn's
              default pipeline (plus local search), the rest sampling only (the local search's
              JAX compile takes 10-60 s per game, sampling only is a cruder estimate); every
              violation sgn.simulate reports is re-run independently in long double and counts
              as genuine only if it exceeds what the certificate promises even with the
              oracle's (dense-sampled) alpha and beta.
  piecewise   (issue 17; sgn/_testing/piecewise.py, seeds 0..N-1) a smooth base plus kinks,
              jumps and custom derivative rules (abs, max / min, where, floor, round, sign,
              clip, custom_jvp), the same kinks written with sqrt and cbrt, and sharp smooth
              terms; each certified by sgn.certify(game, method="interval") (the game's
              default box budget unless --piecewise-max-boxes, --piecewise-max-seconds a
              safety limit) and by sgn.certify(game) (sgn's default sampled pipeline). A
              verified certificate on a game sgn calls non-smooth, a verified bound beaten by
              brute force (dense J; slopes of F along lines and across the kinks), a verified
              field that is not the costs' gradient, a second equilibrium in a verified basin,
              a broken verified promise in sgn.simulate, a missing fallback or warning note, or
              a crash is a violation. --piecewise-gaps adds custom rules that leave no trace in
              F's program (the open hole tests/test_soundness_piecewise.py pins): their
              violations are expected until it is closed.

For every certified game sgn.simulate runs Euler at the recommended step and at 0.999 x the
maximum, RK4 at the proven and the recommended step (not for constrained games: not claimed),
and the flow. Printed: games tried, certified (by SGN / by the Euclidean fallback), sgn.simulate
violations and their causes, genuine violations per method, certificate bounds the oracle beats,
and rejected games whose true metric margin is positive for some weights (SGN's conservatism).
Those are written to --doc, with the reason SGN's norm bounds lose them.

Exit status 1 when a quadratic game has a genuine violation or an exact bound the oracle beats,
or a piecewise game has a violation. docs/conservatism.md is written only when quadratic or
nonlinear games ran.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

LABELS = ("euler@recommended", "euler@0.999max", "rk4@proven", "rk4@recommended", "flow")


def _work(task):
    kind, seed, refine = task
    os.environ["RUST_BACKTRACE"] = "0"  # a Clarabel panic inside the SDP is caught below
    from sgn._testing import soundness

    t0 = time.time()
    try:
        if kind == "piecewise":
            from sgn._testing import piecewise

            case = piecewise.random_piecewise(seed, gaps=refine["gaps"])
            rec = {"kind": "piecewise", "seed": seed, "record": piecewise.check_piecewise(
                case, max_boxes=refine["max_boxes"], max_seconds=refine["max_seconds"])}
        elif kind == "quadratic":
            case = soundness.random_quadratic(seed)
            rec = soundness.check_game(case, samples=256)
            if rec["conservative"]:
                sdp = soundness.exact_best_metric_margin(case)
                rec["best"]["sdp"] = None if sdp is None else sdp["margin"]
        else:
            case = soundness.random_nonlinear(seed)
            rec = soundness.check_game(case, samples=4096, refine=refine)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001  (keep going; a Rust panic is a BaseException)
        return {"kind": kind, "seed": seed, "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.time() - t0}
    rec["seconds"] = time.time() - t0
    return json.loads(json.dumps(rec, default=_plain))


def _plain(v):
    import numpy as np

    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.bool_):
        return bool(v)
    return str(v)


def summarise(records: list[dict], kind: str) -> tuple[list[str], dict]:
    recs = [r for r in records if r["kind"] == kind]
    errors = [r for r in recs if "error" in r]
    ok = [r for r in recs if "error" not in r]
    c = collections.Counter()
    per_label = {lab: collections.Counter() for lab in LABELS}
    causes = collections.Counter()
    bound_errors = collections.Counter()
    closest = {lab: 0.0 for lab in LABELS}
    for r in ok:
        c["tried"] += 1
        c["with local search"] += int(r.get("refine", True))
        c[f"status {r['status']}"] += 1
        if r["certified"]:
            c["certified"] += 1
            c[f"certified by {r['certified_by']}"] += 1
        c["sgn.simulate violations"] += r["sgn_violations"]
        c["genuine violations"] += r["genuine"]
        c["conservative"] += int(r["conservative"])
        for q in r["bound_errors"]:
            bound_errors[q] += 1
        for lab, run in r["runs"].items():
            if run.get("skipped"):
                per_label[lab]["skipped (not claimed)"] += 1
                continue
            per_label[lab]["runs"] += 1
            per_label[lab]["sgn violations"] += run["sgn_violations"]
            per_label[lab]["runs with sgn violations"] += int(run["sgn_violations"] > 0)
            per_label[lab]["genuine"] += run["genuine"]
            for k, v in (run.get("causes") or {}).items():
                causes[k] += v
            if run.get("resimulated") is not None and run["sgn_violations"]:
                causes["nonlinear: cleared by the long-double re-simulation"] += run[
                    "sgn_violations"]
            exact = run.get("exact_worst")
            cert = run.get("certified")
            if exact is not None and cert and exact < 1.0:
                # (1 - certified) / (1 - exact): 1 means the certified factor is attained.
                closest[lab] = max(closest[lab], (1 - cert) / (1 - exact))
    lines = [f"== {kind} games =="]
    lines.append(f"games tried: {c['tried']}  (errors: {len(errors)}; certified with sgn's local "
                 f"search: {c['with local search']}, sampling only: "
                 f"{c['tried'] - c['with local search']})")
    lines.append(f"certified: {c['certified']}  (by SGN: {c['certified by sgn']}, by the "
                 f"Euclidean fallback: {c['certified by euclidean']})")
    lines.append("status: " + ", ".join(f"{k[7:]}={v}" for k, v in sorted(c.items())
                                         if k.startswith("status ")))
    lines.append(f"sgn.simulate violations (raw): {c['sgn.simulate violations']}")
    lines.append(f"genuine violations: {c['genuine violations']}")
    lines.append("per method: " + "; ".join(
        f"{lab}: runs={v['runs']} sgn={v['sgn violations']} in {v['runs with sgn violations']} "
        f"runs, genuine={v['genuine']}" + (f", skipped={v['skipped (not claimed)']}"
                                           if v['skipped (not claimed)'] else "")
        for lab, v in per_label.items()))
    if causes:
        lines.append("causes of sgn.simulate's violations: " + "; ".join(
            f"{k}: {v}" for k, v in causes.most_common()))
    if kind == "quadratic":
        lines.append("tightest exact factor (1-cert)/(1-exact), 1 = attained: " + ", ".join(
            f"{lab} {v:.6f}" for lab, v in closest.items() if v))
    lines.append("certificate bounds the oracle beats: " + (", ".join(
        f"{k}: {v} games" for k, v in bound_errors.most_common()) or "none"))
    lines.append(f"rejected, but some weights give a positive true metric margin: "
                 f"{c['conservative']}")
    cons = [r for r in ok if r["conservative"]]
    at_perron = sum(1 for r in cons if (r["true"].get("margin_at_perron") or -1.0) > 0)
    positive_alpha = sum(1 for r in cons if r["alpha"] > 0)
    if cons:
        lines.append(f"  of which SGN's own margin alpha was positive (rejected for another "
                     f"reason, see the doc): {positive_alpha}; the Perron weights of sgn's own "
                     f"(failing) bounds already give a positive true margin: {at_perron}")
    by_struct = collections.Counter(r["structure"] for r in ok if r["conservative"])
    if by_struct:
        lines.append("  by structure: " + ", ".join(f"{k}={v}" for k, v in by_struct.items()))
    for r in errors:
        lines.append(f"ERROR {kind} seed {r['seed']}: {r['error']}")
    stats = dict(c)
    stats["errors"] = len(errors)
    stats["bound_errors"] = dict(bound_errors)
    return lines, stats


def summarise_piecewise(records: list[dict]) -> tuple[list[str], dict]:
    """The counts table (sgn._testing.piecewise.tally), per family, and every violation."""
    from sgn._testing import piecewise

    recs = [r for r in records if r["kind"] == "piecewise"]
    errors = [r for r in recs if "error" in r]
    ok = [r["record"] for r in recs if "error" not in r]
    counts = piecewise.tally(ok)
    lines = ["== piecewise games (issue 17) ==", piecewise.format_tally(counts), ""]
    lines.append("columns: verified = interval certificates with verified true (ver cert: of "
                 "those, certified, so simulated); fallbacks = interval runs that fell back to "
                 "sampled bounds (verified false); refused = sgn's own error (bad input); "
                 "crashes = any other exception; violations = games with at least one; samp cert "
                 "= sampled certificates certified; broken+note / broken-no-note = of those, "
                 "simulation broke a promise, with / without the non-smooth warning note; "
                 "beaten(slopes) = sampled certificates with a bound the slopes of F beat")
    fams = collections.defaultdict(collections.Counter)
    ops = collections.defaultdict(collections.Counter)
    for r in ok:
        for f in sorted({f.split(":")[0] for f in r["families"]}) or ["(none)"]:
            c = fams[f]
            c["games"] += 1
            c["sampled certified"] += int(bool(r["sampled"].get("certified")))
            c["broken"] += int(bool(r["sampled"].get("broken")))
            c["verified"] += int(bool(r["interval"].get("verified")))
            c["refused"] += int(r["interval"].get("kind") == "refused")
            ops[f][r["non_smooth"] or "None"] += 1
    lines.append("")
    lines.append(f"{'family':12s} {'games':>6s} {'verified':>8s} {'refused':>7s} "
                 f"{'samp cert':>9s} {'broken':>6s}  Game.non_smooth named")
    for f in sorted(fams):
        c = fams[f]
        lines.append(f"{f:12s} {c['games']:6d} {c['verified']:8d} {c['refused']:7d} "
                     f"{c['sampled certified']:9d} {c['broken']:6d}  " + ", ".join(
                         f"{k} {v}" for k, v in ops[f].most_common()))
    secs = sorted(r["seconds"] for r in ok)
    if secs:
        lines.append(f"per game: median {secs[len(secs) // 2]:.1f}s, max {secs[-1]:.1f}s")
    for r in ok:
        for v in r["violations"]:
            if "crashed with" not in v:
                lines.append(f"VIOLATION {r['name']}: {v}")
        for v in r.get("crashes", []) + [v for v in r["violations"] if "crashed with" in v]:
            lines.append(f"CRASH {r['name']}: {v}")
        if r["interval"].get("kind") == "refused":
            lines.append(f"refused {r['name']}: {r['interval']['message'][:160]}")
    for r in errors:
        lines.append(f"ERROR piecewise seed {r['seed']}: {r['error']}")
    stats = {"counts": counts, "errors": len(errors)}
    return lines, stats


def _fmt(v, digits=4):
    if v is None:
        return "-"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x, digits) for x in v) + "]"
    return f"{v:.{digits}g}"


DOC_HEAD = """# SGN's conservatism: games it rejects that a weighted metric does contract

Written by `benchmarks/soundness_report.py` ({command}); do not edit by hand.

Each game below was rejected by `sgn certify` (status not certified or inconclusive), yet some
block weights w give the pseudo-gradient a positive **true metric margin**
min over the region of lambda_min(sym(W^1/2 J(x) W^-1/2)), computed independently of sgn from
the closed-form Jacobian (exactly for quadratic games; for nonlinear games over a dense sample
plus local search, so an estimate). With such weights gradient play does contract, at that
rate, in M(w) = blockdiag(w_i I): the game is contracting, SGN just cannot show it.

## Why SGN's norm bounds lose these games

SGN keeps only the sizes mu_i = lambda_min(sym J_ii) and L_ij = ||J_ij||_2 and certifies when
the comparison matrix K (K_ii = mu_i, K_ij = -L_ij) is an M-matrix. In the metric M(w) the
cross term between players i and j in sym(W^1/2 J W^-1/2) is

    1/2 ( sqrt(w_i/w_j) J_ij + sqrt(w_j/w_i) J_ji^T ),

and SGN charges it the triangle-inequality bound 1/2 ( sqrt(w_i/w_j) L_ij + sqrt(w_j/w_i) L_ji ).
That is exact only when the two blocks push in the same direction. When they have opposite
signs, as in zero-sum and "weighted zero-sum" couplings J_ji = -c J_ij^T, they cancel: with
w_j / w_i = 1/c the cross term is exactly zero and the true margin is min_i mu_i, however large
the couplings are, while SGN sees rho(diag(mu)^-1 L) >= 1. Plain zero-sum games (c = 1) are
rescued by sgn's Euclidean fallback (the couplings cancel in sym J itself); for c != 1 only a
weighted metric sees the cancellation, and SGN cannot find it because it has discarded the
signs. Other losses: the norm bound ignores directions (a coupling that acts only where the own
curvature is large is charged against the smallest curvature), and for nonlinear games the inf
of mu and the sup of L are taken at different points of the region.

Not every row is a loss of the norm bounds: a row whose "why rejected" says the SGN margin
alpha was positive was rejected later, e.g. when sgn's equilibrium search stopped early. In the
cascade games listed that way the coupling graph is acyclic, sgn's weights span many decades
(e.g. 1, 1e-6, 1e-12) and the equilibrium search's stopping test, a step size in the M(w) norm,
no longer sees the players with tiny weights, so it stops before they converge and concludes
"no equilibrium in the region" although x* is inside (a bug in sgn, pinned by a strict xfail
test in tests/test_soundness.py).

Columns: mu and L are sgn's bounds (L row i = the player pushed), rho = rho(diag(mu)^-1 L)
(inf when some mu_i <= 0), "gamma" the Euclidean margin (true metric margin at equal weights),
"weights that work" the best weights the search found (w_1 = 1, by "found by": a named start —
equal, Perron or LP weights of sgn's bounds, the generator's hidden weights — or a random
start, polished by Nelder-Mead), "true margin" the true metric margin at those weights, and for
quadratic games "SDP best" the best margin over all weights (bisection over the LMI
W J + J^T W >= 2 a W, weights >= 1e-6 of their sum).

"""


def _why(r: dict) -> str:
    if r["alpha"] > 0:
        return ("SGN margin alpha = " + _fmt(r["alpha"]) + " > 0, but: " +
                (r["reasons"][0] if r["reasons"] else r["status"])).replace("|", "\\|")
    if min(r["mu"]) <= 0:
        return "a curvature bound mu_i <= 0"
    return "small-gain fails (rho >= 1)"


def write_doc(path: Path, records: list[dict], stats: dict, command: str) -> None:
    cons = [r for r in records if "error" not in r and r.get("conservative")]
    lines = [DOC_HEAD.format(command=command)]
    for kind in ("quadratic", "nonlinear"):
        s = stats.get(kind, {})
        lines.append(f"## {kind.capitalize()} games: {len([r for r in cons if r['kind'] == kind])}"
                     f" of {s.get('tried', 0)} tried ({s.get('certified', 0)} certified)\n")
        rows = [r for r in cons if r["kind"] == kind]
        if not rows:
            lines.append("None found.\n")
            continue
        lines.append("| game | structure | players (dims) | status | mu | L | rho | gamma | "
                     "weights that work | found by | true margin | " +
                     ("SDP best | " if kind == "quadratic" else "") + "why rejected |")
        lines.append("|---" * (13 if kind == "quadratic" else 12) + "|")
        for r in rows:
            best = r["best"]
            rho = r["rho"]
            row = [r["name"], r["structure"], f"{r['n']} ({', '.join(map(str, r['dims']))})",
                   r["status"], _fmt(r["mu"]), _fmt(r["L"], 3),
                   "inf" if rho is None else _fmt(rho), _fmt(r["true"]["margin_at_equal"]),
                   _fmt(best["weights"]), best["found_by"].split("+")[0].replace(
                       "random-", "random #"), _fmt(best["margin"])]
            if kind == "quadratic":
                row.append(_fmt(best.get("sdp")))
            row.append(_why(r))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quadratic", type=int, default=200)
    ap.add_argument("--nonlinear", type=int, default=50)
    ap.add_argument("--refine-nonlinear", type=int, default=4,
                    help="nonlinear seeds below this use sgn's full default pipeline (local "
                         "search on: a JAX compile of ~10-60 s per game); the rest sample only")
    ap.add_argument("--piecewise", type=int, default=0,
                    help="piecewise-smooth games (issue 17), seeds 0..N-1")
    ap.add_argument("--piecewise-gaps", action="store_true",
                    help="also draw the custom rules that leave no trace in F's program")
    ap.add_argument("--piecewise-max-boxes", type=int, default=None,
                    help="box budget of the interval runs (default: the game's default)")
    ap.add_argument("--piecewise-max-seconds", type=float, default=300.0,
                    help="safety limit on each interval run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--doc", default=str(REPO / "docs" / "conservatism.md"))
    ap.add_argument("--json", default=None, help="also write every record here")
    ap.add_argument("--from-json", default=None,
                    help="summarise records a previous run wrote with --json (no games run)")
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.from_json:
        records = json.loads(Path(args.from_json).read_text())
        args.quadratic = sum(r["kind"] == "quadratic" for r in records)
        args.nonlinear = sum(r["kind"] == "nonlinear" for r in records)
        args.refine_nonlinear = sum(r["kind"] == "nonlinear" and r.get("refine", False)
                                    for r in records)
        args.piecewise = sum(r["kind"] == "piecewise" for r in records)
    else:
        opts = {"gaps": args.piecewise_gaps, "max_boxes": args.piecewise_max_boxes,
                "max_seconds": args.piecewise_max_seconds}
        tasks = ([("piecewise", s, opts) for s in range(args.piecewise)]
                 + [("nonlinear", s, s < args.refine_nonlinear) for s in range(args.nonlinear)]
                 + [("quadratic", s, True) for s in range(args.quadratic)])
        records = []
        ctx = mp.get_context("spawn")  # JAX does not survive fork
        with ctx.Pool(args.workers, maxtasksperchild=20) as pool:
            for i, rec in enumerate(pool.imap_unordered(_work, tasks), 1):
                records.append(rec)
                if i % 25 == 0 or i == len(tasks):
                    print(f"[{time.time() - t0:6.0f}s] {i}/{len(tasks)} games", flush=True)
    records.sort(key=lambda r: (r["kind"], r["seed"]))
    command = (f"benchmarks/soundness_report.py --quadratic {args.quadratic} --nonlinear "
               f"{args.nonlinear} --refine-nonlinear {args.refine_nonlinear}")
    stats = {}
    print()
    for kind in ("quadratic", "nonlinear"):
        if not any(r["kind"] == kind for r in records):
            continue
        lines, stats[kind] = summarise(records, kind)
        print("\n".join(lines))
        print()
    if args.piecewise:
        lines, stats["piecewise"] = summarise_piecewise(records)
        print("\n".join(lines))
        print()
    secs = [r["seconds"] for r in records]
    if not args.from_json:
        print(f"wall time {time.time() - t0:.0f}s on {args.workers} workers "
              f"(per game: median {sorted(secs)[len(secs) // 2]:.1f}s, max {max(secs):.1f}s; "
              f"os.cpu_count() = {os.cpu_count()})")
    if "quadratic" in stats or "nonlinear" in stats:
        write_doc(Path(args.doc), records, stats, command.strip())
        print(f"wrote {args.doc}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    q = stats.get("quadratic", {})
    bad = q.get("genuine violations", 0) + sum(q.get("bound_errors", {}).values())
    pw = stats.get("piecewise")
    if pw:
        total = pw["counts"].get("total", {})
        bad += total.get("violations", 0) + total.get("crashes", 0) + pw["errors"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
