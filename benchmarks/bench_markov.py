"""Benchmark: time to certify entropy-regularised Markov games (docs/fisher.md, issues 5, 15).

    python benchmarks/bench_markov.py [--samples 4096] [--repeats 3] [--quick]
                                      [--baseline DIR] [--large] [--closed-form]

Two tables:

  examples  the three bundled Markov examples (examples/markov_*.py);
  scaling   random general-sum 2-player games (seeded like examples/markov_three_players.py:
            Dirichlet transitions, rewards uniform in [-1, 1], discount 0.8, entropy 1,
            occupancy-weighted entropy, uniform initial state) for S = 2, 4, 8, 16 states with
            A = 2 actions each, and A = 2, 3, 5, 8 actions each with S = 2.

Every measurement runs in a fresh Python process (this script re-invoked with --child), so no
compiled code survives from one measurement to the next, neither JAX's caches nor sgn's cache of
code shared between games of the same program:

  build   load_game / MarkovGame(...): table checks and the regularised equilibrium (NPG then
          Newton, which compiles the natural-gradient field and its Jacobian);
  cold    the first sgn.certify on that game (trace + XLA compile + run);
  warm    sgn.certify again on the same game object (everything compiled; median of --warm
          calls, default 1).

Reported figures are medians over --repeats processes; each size's ratio is to the smallest
size measured in the same run (S = 2, A = 2), so machine noise and load partly cancel. The
status column is the certificate's status (timing does not depend on it much, but a game that
is not certified skips the equilibrium and basin work).

--baseline DIR also runs every game with the sgn of another checkout (e.g. `git worktree add
--detach /tmp/old main`), interleaved with this one's, and prints old/new ratios and whether
the two certificates are bit for bit the same (their JSON without timing fields).
--large adds S = 30 states with 3 x 3 actions (issue 15's target: under 2 minutes cold; it takes
MarkovGame's large plan, docs/fisher.md "Scale", so against a baseline its bits differ; the
targets have their own script, bench_markov_scale.py).
--closed-form builds the random games with MarkovGame(solve_derivatives="closed-form"), the
optional derivative that is not bit-identical (compare against a --baseline without it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_estimator import revision  # the same sgn commit stamp

ROOT = Path(__file__).resolve().parent.parent

EXAMPLES = {
    "markov_coordination": ROOT / "examples" / "markov_coordination.py",
    "markov_matching_pennies": ROOT / "examples" / "markov_matching_pennies.py",
    "markov_three_players": ROOT / "examples" / "markov_three_players.py",
}
STATES = (2, 4, 8, 16)
ACTIONS = (2, 3, 5, 8)
LARGE = ((30, 3),)      # (states, actions per player)


# --- the child: one measurement in a fresh process -------------------------------------------

def random_game(states: int, actions: int, seed: int = 0, solve_derivatives=None, plan=None):
    """A seeded random general-sum 2-player Markov game (as examples/markov_three_players.py).

    solve_derivatives and plan are passed on only when given (older sgn has no such options)."""
    import numpy as np

    import sgn

    rng = np.random.default_rng(seed)
    shape = (states, actions, actions)
    P = rng.dirichlet(np.ones(states), size=shape)          # P[s, a_1, a_2, s']
    rewards = [rng.uniform(-1.0, 1.0, size=shape) for _ in range(2)]
    option = {} if solve_derivatives is None else {"solve_derivatives": solve_derivatives}
    option.update({} if plan is None else {"plan": plan})
    return sgn.MarkovGame(transitions=P, rewards=rewards, discount=0.8, entropy=1.0,
                          entropy_weighting="occupancy",
                          name=f"random S={states} A={actions}", **option)


def child(spec: dict, samples: int, warm: int) -> dict:
    t0 = time.perf_counter()
    import sgn
    from sgn._load import load_game
    t_import = time.perf_counter() - t0

    t0 = time.perf_counter()
    if spec["kind"] == "example":
        game = load_game(EXAMPLES[spec["name"]], {})
    else:
        game = random_game(spec["states"], spec["actions"], spec.get("seed", 0),
                           spec.get("solve_derivatives"), spec.get("plan"))
    t_build = time.perf_counter() - t0

    samples = samples if samples > 0 else None      # 0: certify's default for this game
    t0, c0 = time.perf_counter(), time.process_time()
    cert = sgn.certify(game, samples=samples, seed=0)
    t_cold, c_cold = time.perf_counter() - t0, time.process_time() - c0

    warm_times, warm_cpu = [], []
    for _ in range(warm):
        t0, c0 = time.perf_counter(), time.process_time()
        again = sgn.certify(game, samples=samples, seed=0)
        warm_times.append(time.perf_counter() - t0)
        warm_cpu.append(time.process_time() - c0)
        assert again.status == cert.status and again.margin == cert.margin, "not deterministic"
    record = cert.to_dict()
    for key in ("seconds", "budget", "passes"):
        record.get("estimator", {}).pop(key, None)
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "digest": digest, "sgn": os.path.dirname(os.path.dirname(sgn.__file__)),
        "import": t_import, "build": t_build, "cold": t_cold, "cold_cpu": c_cold,
        "warm_cpu": statistics.median(warm_cpu) if warm_cpu else float("nan"),
        "warm": statistics.median(warm_times) if warm_times else float("nan"),
        "status": str(cert.status.value), "margin": float(cert.margin),
        "dim": int(game.dim), "states": int(game.states), "actions": list(game.actions),
        "plan": getattr(game, "plan", "standard"), "samples": int(cert.to_dict()["estimator"]
                                                                 ["samples"]),
    }


# --- the parent --------------------------------------------------------------------------------

def measure(spec: dict, samples: int, warm: int, timeout: float, sgn_root=None) -> dict:
    """One child process; sgn_root: the checkout whose sgn it imports (default: this one's)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec),
           "--samples", str(samples), "--warm", str(warm)]
    env = dict(os.environ, PYTHONPATH=str(sgn_root or ROOT))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                         check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"child {spec} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(runs: list, key: str) -> float:
    return statistics.median(r[key] for r in runs)


def table(title: str, rows: list, base: dict | None) -> list[str]:
    lines = [title,
             (f"{'game':<26}{'S':>4}{'A':>10}{'d':>5}  {'build s':>8}{'cold s':>9}"
              f"{'warm s':>9}{'cold x':>8}{'warm x':>8}  status"),
             "-" * 100]
    for label, r in rows:
        ratios = (f"{r['cold'] / base['cold']:>7.2f}x{r['warm'] / base['warm']:>7.2f}x" if base
                  else f"{'-':>8}{'-':>8}")
        acts = ",".join(str(a) for a in r["actions"])
        lines.append(f"{label:<26}{r['states']:>4}{acts:>10}{r['dim']:>5}  {r['build']:>8.2f}"
                     f"{r['cold']:>9.2f}{r['warm']:>9.3f}{ratios}  {r['status']}")
    return lines


def against_baseline(runs: dict, old_runs: dict, baseline: str) -> list[str]:
    """Old/new medians and ratios per game, and whether the certificates are the same bits."""
    lines = [f"against the baseline {baseline} (same run, interleaved; ratio = old / new; "
             "cpu = process CPU seconds, all threads: less sensitive to other jobs' load)",
             (f"{'game':<24}{'d':>4}  {'build old':>9}{'new':>7}{'x':>7}  {'cold old':>8}"
              f"{'new':>7}{'x':>7}  {'warm old':>8}{'new':>7}{'x':>7}  {'cpu cold x':>10}"
              f"{'warm x':>8}  same bits"),
             "-" * 128]
    for label, rs in runs.items():
        olds = old_runs[label]
        row = f"{label:<24}{rs[0]['dim']:>4}"
        for key in ("build", "cold", "warm"):
            a, b = median_of(olds, key), median_of(rs, key)
            row += f"  {a:>{9 if key == 'build' else 8}.2f}{b:>7.2f}{a / b:>6.2f}x"
        if all("cold_cpu" in r for r in rs + olds):
            row += (f"  {median_of(olds, 'cold_cpu') / median_of(rs, 'cold_cpu'):>9.2f}x"
                    f"{median_of(olds, 'warm_cpu') / median_of(rs, 'warm_cpu'):>7.2f}x")
        else:
            row += f"  {'-':>10}{'-':>8}"
        same = {r["digest"] for r in rs} == {r["digest"] for r in olds} and \
            len({r["digest"] for r in rs}) == 1
        lines.append(row + f"  {'yes' if same else 'NO'}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=4096,
                    help="certify's sample count (default 4096; 0: certify's own default for "
                         "each game, e.g. a large Markov game's 1024)")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per game")
    ap.add_argument("--warm", type=int, default=1, help="warm certify calls per process (median)")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 1 warm call")
    ap.add_argument("--timeout", type=float, default=1200.0, help="per child process, seconds")
    ap.add_argument("--only", choices=("examples", "scaling"), default=None)
    ap.add_argument("--baseline", default=None,
                    help="another checkout's root: run every game with its sgn too, for ratios")
    ap.add_argument("--large", action="store_true",
                    help="add S = 30 states with 3 x 3 actions")
    ap.add_argument("--closed-form", action="store_true",
                    help='random games with solve_derivatives="closed-form" (not bit-identical)')
    ap.add_argument("--states", type=int, nargs="*", default=None,
                    help="states of the A = 2 scaling rows (default 2 4 8 16)")
    ap.add_argument("--actions", type=int, nargs="*", default=None,
                    help="actions of the S = 2 scaling rows (default 2 3 5 8)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child is not None:
        print(json.dumps(child(json.loads(args.child), args.samples, args.warm)))
        return 0

    repeats, warm = (1, 1) if args.quick else (args.repeats, args.warm)
    import jax
    import numpy as np

    import sgn
    print(f"sgn {sgn.__version__} ({revision()}), jax {jax.__version__}, numpy {np.__version__}, "
          f"python {platform.python_version()}, {jax.devices()[0].platform}, "
          f"{os.cpu_count()} cpus")
    print(f"samples {args.samples}; every figure the median of {repeats} fresh process(es); "
          f"warm = median of {warm} further certify call(s) on the same game\n", flush=True)

    specs = []
    if args.only in (None, "examples"):
        specs += [(name, {"kind": "example", "name": name}) for name in EXAMPLES]
    sizes = []
    states = tuple(args.states) if args.states is not None else STATES
    actions = tuple(args.actions) if args.actions is not None else ACTIONS
    option = {"solve_derivatives": "closed-form"} if args.closed_form else {}
    if args.only in (None, "scaling"):
        sizes = sorted({(s, 2) for s in states} | {(2, a) for a in actions}
                       | (set(LARGE) if args.large else set()))
        specs += [(f"random S={s} A={a}", {"kind": "random", "states": s, "actions": a,
                                           **option})
                  for s, a in sizes]

    # Interleave the repeats (round r of every game before round r + 1) so that load changes on
    # the shared machine hit every game alike.
    runs: dict = {label: [] for label, _ in specs}
    old_runs: dict = {label: [] for label, _ in specs}
    started = time.perf_counter()
    for rep in range(repeats):
        for label, spec in specs:
            if args.baseline:
                old_spec = {k: v for k, v in spec.items() if k != "solve_derivatives"}
                r = measure(old_spec, args.samples, warm, args.timeout, args.baseline)
                old_runs[label].append(r)
                print(f"  [{time.perf_counter() - started:7.1f} s] round {rep + 1}/{repeats} "
                      f"{label} (baseline): build {r['build']:.2f} s, cold {r['cold']:.2f} s, "
                      f"warm {r['warm']:.3f} s, {r['status']}", flush=True)
            r = measure(spec, args.samples, warm, args.timeout)
            runs[label].append(r)
            print(f"  [{time.perf_counter() - started:7.1f} s] round {rep + 1}/{repeats} "
                  f"{label}: build {r['build']:.2f} s, cold {r['cold']:.2f} s, "
                  f"warm {r['warm']:.3f} s, {r['status']}", flush=True)

    summary = {}
    for label, rs in runs.items():
        first = rs[0]
        summary[label] = {k: median_of(rs, k) for k in ("build", "cold", "warm", "import")}
        summary[label].update(status="/".join(sorted({r["status"] for r in rs})),
                              dim=first["dim"], states=first["states"],
                              actions=first["actions"])

    print()
    base = summary.get("random S=2 A=2")
    if args.only in (None, "examples"):
        for line in table("examples (ratios to random S=2 A=2)" if base else "examples",
                          [(name, summary[name]) for name in EXAMPLES], base):
            print(line)
        print()
    if sizes:
        by_states = [(f"random S={s} A=2", summary[f"random S={s} A=2"]) for s in states]
        by_actions = [(f"random S=2 A={a}", summary[f"random S=2 A={a}"]) for a in actions]
        for line in table("scaling in states (A = 2 per player)", by_states, base):
            print(line)
        print()
        for line in table("scaling in actions (S = 2)", by_actions, base):
            print(line)
        print()
        if args.large:
            large = [(f"random S={s} A={a}", summary[f"random S={s} A={a}"]) for s, a in LARGE]
            for line in table("large (issue 15: S = 30, 3 x 3 actions, under 2 min cold)",
                              large, base):
                print(line)
            print()
    if args.baseline:
        for line in against_baseline(runs, old_runs, args.baseline):
            print(line)
        print()
    print("build = MarkovGame construction incl. the equilibrium solve; cold = first certify "
          "in a fresh process (trace + compile + run); warm = certify again on the same game; "
          "x = ratio to random S=2 A=2 in this run.")
    print(f"python import of sgn: {statistics.median(s['import'] for s in summary.values()):.2f} s "
          f"(not included above); total wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
