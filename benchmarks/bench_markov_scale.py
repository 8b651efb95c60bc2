"""Benchmark: issue 15's Markov targets, and the large-game plan's growth (docs/fisher.md).

    python benchmarks/bench_markov_scale.py [--baseline DIR] [--repeats 3] [--no-100]
                                            [--growth] [--probe-points 64] [--skip ...]

Targets (issue 15), each measured in fresh Python processes (no compiled code carried over:
sgn's in-process API keeps no compilation cache on disk unless sgn.use_compilation_cache() is
called, and each child is a new process):

  coordination   examples/markov_coordination.py: building the game (its equilibrium) and its
                 first certificate in the process (target: first certificate under 2 s);
  S=30 3x3       random 2-player game (benchmarks/bench_markov.random_game), build + first
                 certify (target: under 2 minutes cold); MarkovGame's "auto" plan = "large";
  S=100 4x4      the same at 100 states, 4 x 4 actions (target: under 10 minutes).

Against the sgn of --baseline DIR (a checkout of main before this work, e.g. `git worktree add
--detach /tmp/old main`) in the same run: the coordination game, alternating (without a
baseline: plan="standard" here, the same path kept bit for bit); S = 30 with 3 x 3 actions
cold (both on their "auto" plan); and at S = 100 with 4 x 4, where the baseline does not finish
in reasonable time, a probe of the baseline's auto plan: in one fresh process, the screen on
--probe-points points (twice: compile + run, then run) and 3 evaluations of its local search
(the first compiles), extrapolated to the whole run with the plan's own sample count and
search caps (printed as a projection, with its formula). `--skip probe` leaves the probes out;
`--skip standard-probe` leaves out the probe of the standard (pre-large) path at S = 30.

--growth adds the new code at S = 60 with 3 x 3 and S = 30 with 4 x 4 actions (cold, one
process each), for growth with states and actions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_markov import measure

ROOT = Path(__file__).resolve().parent.parent


def probe_child(spec: dict, points: int) -> dict:
    """Today's (standard) path on a random game: per-point screen and per-step search cost."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bench_markov import random_game
    from sgn import _bounds, _screening
    from sgn._sampling import sample_points
    from sgn._shared import compiled

    t0 = time.perf_counter()
    game = random_game(spec["states"], spec["actions"], plan=spec.get("plan"))
    build = time.perf_counter() - t0
    X = sample_points(game.region, points, 0)
    limits = getattr(game, "search_limits", None) or (16, 200)
    seconds = []
    for _ in range(2):      # first: compile + run; second: run
        t0 = time.perf_counter()
        _screening.worst_points(game, "bounds", _bounds._bounds_families, None, X,
                                limits[0], 0)
        seconds.append(time.perf_counter() - t0)
    search = compiled(game, ("bound_jacobians",), ("bounds", "search"),
                      lambda g: _bounds._search_program(
                          g, _bounds._quantity_for(_bounds._bounds_families)(g)))
    z = jnp.asarray(np.full(game.dim, 0.5))
    t0 = time.perf_counter()
    jax.block_until_ready(search(z, 0, None))
    first_step = time.perf_counter() - t0
    steps = []
    for k in range(2):
        z = jnp.asarray(np.full(game.dim, 0.4 + 0.05 * k))
        t0 = time.perf_counter()
        jax.block_until_ready(search(z, 0, None))
        steps.append(time.perf_counter() - t0)
    return {"build": build, "screen_first": seconds[0], "screen_per_point": seconds[1] / points,
            "search_first": first_step, "search_step": statistics.median(steps),
            "dim": int(game.dim), "plan": getattr(game, "plan", "standard"),
            "starts": int(limits[0]), "max_evaluations": int(limits[1]),
            "samples": int(getattr(game, "default_samples", None) or 4096)}


def projection(probe: dict) -> tuple[float, str]:
    """The whole cold run extrapolated from a probe, and its formula.

    Standard plan: the screen of 4096 points in each of two passes (its Jacobian memo is off at
    these sizes) and 128 climbs (16 starts x 8 quantities); at S = 8 they averaged ~14
    evaluations each (benchmarks/README.md, "Issue 15"), taken as the lower end. Large plan:
    its samples in three passes (bounds, metric, contraction: the memo is off past its byte
    budget) and 11 quantities (2 players: 2 curvatures, 2 couplings, the Euclidean margin and
    Lipschitz; beta and the margin in the metric; 2 Euler factors and the spread) x its starts
    x its evaluation cap (searches may stop earlier: an upper end of the search, with the
    searches' compiles counted once).
    """
    if probe["plan"] == "standard":
        points, passes, climbs, per_climb = probe["samples"], 2, 128, 14
    else:
        points, passes, climbs, per_climb = (probe["samples"], 3, 11 * probe["starts"],
                                             probe["max_evaluations"])
    total = (probe["build"] + probe["screen_first"] + probe["search_first"]
             + passes * points * probe["screen_per_point"]
             + climbs * per_climb * probe["search_step"])
    formula = (f"build {probe['build']:.1f} s + compiles ~"
               f"{probe['screen_first'] + probe['search_first']:.0f} s + {passes} x {points} x "
               f"{probe['screen_per_point'] * 1e3:.1f} ms (screens) + {climbs} x {per_climb} x "
               f"{probe['search_step']:.2f} s (search evaluations) = {total:.0f} s")
    return total, formula


def run_probe(spec: dict, points: int, timeout: float, root: Path) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--probe-child", json.dumps(spec),
           "--probe-points", str(points)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                         check=False,
                         env=dict(os.environ, PYTHONPATH=f"{root}:{ROOT / 'benchmarks'}"))
    if out.returncode != 0:
        raise RuntimeError(f"probe {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def line(label, runs, target=None, key="total"):
    values = [r[key] for r in runs]
    med = statistics.median(values)
    met = "" if target is None else ("  target met" if med < target else "  target NOT met")
    spread = "" if len(values) == 1 else f" (runs: {', '.join(f'{v:.1f}' for v in values)})"
    return f"  {label:<48} {med:8.1f} s{spread}{met}"


def print_projection(probe: dict, runs, label: str, detail: str, caveat: str,
                     ratio_format: str) -> None:
    """The baseline's time projected from a probe of a few of its steps, and its ratio to
    this run's median where this run measured the same game."""
    projected, formula = projection(probe)
    print(f"  {label} {detail}, PROJECTED from the probe: {formula}{caveat}")
    if runs:
        now = statistics.median(r["total"] for r in runs)
        print(f"  {label} (projected) / now: {projected / now:{ratio_format}}x")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default=None, help="checkout of today's main, for ratios")
    ap.add_argument("--repeats", type=int, default=3, help="processes for the coordination rows")
    ap.add_argument("--large-repeats", type=int, default=1, help="processes per large game")
    ap.add_argument("--no-100", action="store_true", help="skip S = 100 with 4 x 4 actions")
    ap.add_argument("--growth", action="store_true", help="add S = 60, 3 x 3 and S = 30, 4 x 4")
    ap.add_argument("--probe-points", type=int, default=64)
    ap.add_argument("--skip", nargs="*", default=(),
                    choices=("coordination", "probe", "standard-probe"),
                    help="leave out the coordination rows or today's-path probe")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--probe-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe_child is not None:
        print(json.dumps(probe_child(json.loads(args.probe_child), args.probe_points)))
        return 0

    import jax

    import sgn
    from bench_estimator import revision
    print(f"sgn {sgn.__version__} ({revision()}), jax {jax.__version__}, {os.cpu_count()} cpus; "
          f"load average at start {os.getloadavg()[0]:.1f}", flush=True)
    started = time.perf_counter()
    old_root = Path(args.baseline).resolve() if args.baseline else None

    def note(text):
        print(f"  [{time.perf_counter() - started:7.1f} s] {text}", flush=True)

    def with_total(r):
        return {**r, "total": r["build"] + r["cold"]}

    # 1. the coordination game, today's path and this one alternating
    coord = {"kind": "example", "name": "markov_coordination"}
    new, old = [], []
    for _ in range(0 if "coordination" in args.skip else args.repeats):
        if old_root:
            old.append(with_total(measure(coord, 4096, 0, args.timeout, old_root)))
        else:
            old.append(with_total(measure(coord, 4096, 0, args.timeout)))   # standard = today
        new.append(with_total(measure(coord, 4096, 0, args.timeout)))
        note(f"coordination: build {new[-1]['build']:.1f} s, first certify {new[-1]['cold']:.1f} s "
             f"(today's: {old[-1]['build']:.1f} s, {old[-1]['cold']:.1f} s); same bits: "
             f"{new[-1]['digest'] == old[-1]['digest']}")

    # 2. large games with the auto plan
    sizes = [(30, 3)] + ([] if args.no_100 else [(100, 4)])
    if args.growth:
        sizes += [(60, 3), (30, 4)]
    large, large_old = {}, {}
    for S, A in sizes:
        spec = {"kind": "random", "states": S, "actions": A}
        large[(S, A)], large_old[(S, A)] = [], []
        for _ in range(args.large_repeats):
            if old_root and (S, A) == (30, 3):
                large_old[(S, A)].append(with_total(measure(spec, 0, 0, args.timeout, old_root)))
                r = large_old[(S, A)][-1]
                note(f"S={S} {A}x{A} baseline ({r['plan']} plan, {r['samples']} samples): build "
                     f"{r['build']:.1f} s, first certify {r['cold']:.1f} s "
                     f"(cpu {r['cold_cpu']:.1f} s), {r['status']}")
            # 0 samples: the plan's own default
            large[(S, A)].append(with_total(measure(spec, 0, 0, args.timeout)))
            r = large[(S, A)][-1]
            note(f"S={S} {A}x{A} ({r['plan']} plan, d = {r['dim']}, {r['samples']} samples): "
                 f"build {r['build']:.1f} s, first certify {r['cold']:.1f} s "
                 f"(cpu {r['cold_cpu']:.1f} s), {r['status']}")
    probe_100 = None
    if old_root and (100, 4) in large and "probe" not in args.skip:
        probe_100 = run_probe({"kind": "random", "states": 100, "actions": 4},
                              args.probe_points, args.timeout, old_root)
        rounded = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in probe_100.items()}
        note(f"baseline at S=100 4x4 probed: {json.dumps(rounded)}")

    # 3. today's path at S = 30, probed
    probe_spec = {"kind": "random", "states": 30, "actions": 3}
    if old_root is None:
        probe_spec["plan"] = "standard"
    probe = (None if {"probe", "standard-probe"} & set(args.skip) else
             run_probe(probe_spec, args.probe_points, args.timeout, old_root or ROOT))
    if probe:
        rounded = {k: round(v, 4) for k, v in probe.items()}
        note(f"today's path at S=30 3x3 probed: {json.dumps(rounded)}")

    print()
    print("Targets (wall seconds, medians; cold = build + first certify in a fresh process)")
    if new:
        print(line("coordination, first certificate (now)", new, 2.0, "cold"))
        print(line("coordination, first certificate (today's path)", old, None, "cold"))
        print(line("coordination, build (now)", new, None, "build"))
        print(line("coordination, build (today's)", old, None, "build"))
        print(line("coordination, build + first certificate (now)", new, None))
        print(line("coordination, build + first certificate (today's)", old, None))
        for key in ("build", "cold"):
            ratio = (statistics.median(r[key] for r in old)
                     / statistics.median(r[key] for r in new))
            print(f"  coordination {key} today / now: wall {ratio:.2f}x")
        cpu = (statistics.median(r["cold_cpu"] for r in old)
               / statistics.median(r["cold_cpu"] for r in new))
        print(f"  coordination first certificate cpu today / now: {cpu:.2f}x; same certificate "
              f"bits in every run: {len({r['digest'] for r in new + old}) == 1}")
    for (S, A), runs in large.items():
        target = {(30, 3): 120.0, (100, 4): 600.0}.get((S, A))
        print(line(f"S={S} {A}x{A} cold, large plan (d = {runs[0]['dim']})", runs, target))
        olds = large_old.get((S, A))
        if olds:
            print(line(f"S={S} {A}x{A} cold, baseline's {olds[0]['plan']} plan", olds))
            for key, what in (("total", "wall"), ("cold_cpu", "first certify cpu")):
                ratio = (statistics.median(r[key] for r in olds)
                         / statistics.median(r[key] for r in runs))
                print(f"  S={S} {A}x{A} baseline / now ({what}): {ratio:.2f}x")
    if probe_100 is not None:
        print_projection(probe_100, large.get((100, 4)), "S=100 4x4 baseline",
                         f"({probe_100['plan']} plan)", "", ".1f")
    if probe is not None:
        print_projection(probe, large.get((30, 3)), f"S=30 3x3 {probe['plan']} path",
                         f"(d = {probe['dim']})", " (a lower estimate)", ".0f")
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
