"""Where the time of one matrix-free certify goes: compile, screen, searches, metric pass.

    python benchmarks/profile_matrix_free.py --wide 10000
    python benchmarks/profile_matrix_free.py --hidden 48
    python benchmarks/profile_matrix_free.py --wide 10000 --options '{"refine_starts": 3}'

Wraps sgn._matrix_free's screen and search tasks (in-process: no executor) and prints, per pass
(bounds, metric): the screen batches' times (the first includes compiling the screen program),
each search's evaluations and time (the first search of a pass includes compiling the point and
gradient programs), and the time of one warm Lanczos cycle at the centre (restarts 0) against
one linearised product, so that evaluations can be turned into products. Estimates of where the
time goes on this machine, at its load (printed); not a benchmark of record.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wide", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--options", default="{}", help="sgn.MatrixFree options, JSON")
    args = parser.parse_args()
    import numpy as np

    import sgn
    from sgn import _matrix_free as mf
    from bench_matrix_free import mlp_game, wide_game

    game = wide_game(args.wide) if args.wide else mlp_game(args.hidden or 48)
    log = collections.defaultdict(list)
    phase = {"name": "bounds"}
    screen, search = mf._screen_task, mf._search_task

    def timed_screen(*a, **k):
        t = time.perf_counter()
        out = screen(*a, **k)
        log[phase["name"] + ":screen"].append(time.perf_counter() - t)
        return out

    def timed_search(task, q, *a, **k):
        t = time.perf_counter()
        out = search(task, q, *a, **k)
        log[phase["name"] + ":search"].append((int(q), out.evaluations,
                                               time.perf_counter() - t,
                                               float(out.value), float(out.start_value)))
        return out

    mf._screen_task, mf._search_task = timed_screen, timed_search
    estimator = sgn.MatrixFree(**json.loads(args.options))
    print(f"d = {game.dim}, load average at start {os.getloadavg()}", flush=True)
    t0 = time.perf_counter()
    bounds = estimator.bounds(game)
    t1 = time.perf_counter()
    phase["name"] = "metric"
    estimator.in_metric(game, game.metric(np.ones(game.n_players)), bounds)
    t2 = time.perf_counter()
    print(f"bounds pass {t1 - t0:.1f} s, metric pass {t2 - t1:.1f} s, "
          f"load average now {os.getloadavg()}")
    for name in ("bounds", "metric"):
        s = log[name + ":screen"]
        print(f"[{name}] screen: {len(s)} batches, first {s[0]:.1f} s (compile), "
              f"rest {sum(s[1:]):.1f} s")
        runs = log[name + ":search"]
        if not runs:
            continue
        evals = [r[1] for r in runs]
        secs = [r[2] for r in runs]
        print(f"[{name}] searches: {len(runs)}, first {secs[0]:.1f} s (compile), rest "
              f"{sum(secs[1:]):.1f} s; evaluations per search median {statistics.median(evals)}"
              f" min {min(evals)} max {max(evals)} total {sum(evals)}; s per evaluation "
              f"(median over searches past the first) "
              f"{statistics.median([s / e for s, e in zip(secs[1:], evals[1:])] or [0]):.3f}")
        byq = collections.defaultdict(list)
        for q, e, sec, v, v0 in runs:
            byq[q].append((e, round(sec, 1), round(v, 6), round(v0, 6)))
        for q, rows in sorted(byq.items()):
            print(f"    q{q}: (evals, s, end, start) {rows}")
    if hasattr(bounds, "estimator_record"):
        k = bounds.estimator_record.get("krylov", {})
        print("record:", json.dumps({key: k[key] for key in k
                                     if key not in ("estimates", "residuals",
                                                    "search_allowances")}))
        print("search allowances:", k.get("search_allowances"))
        print("residuals:", k.get("residuals"))
    print("curvature", bounds.curvature, "coupling", bounds.coupling.tolist(),
          "gamma", bounds.euclidean_margin, "beta", bounds.lipschitz)


if __name__ == "__main__":
    main()
