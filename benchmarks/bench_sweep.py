"""Benchmark: a parameter sweep with compiled code shared across grid points, against the same
sweep with sharing off (every grid point traces and compiles its own functions: the baseline).

    python benchmarks/bench_sweep.py [--repeats 3]

Sweeps (the API call `sgn sweep` makes, without the persistent XLA cache the CLI keeps):
  lifted-toy   examples/lifted_toy.py, lam = 0:2.5:26 (64-d, constant Jacobian: exact bounds)
  cascade      examples/cascade.py, c = 0:0.3:6 (3 players, nonlinear: sampled bounds and
               local search, 2,000 samples)

Each run is a fresh Python process (so nothing compiled by an earlier run is reused), shared
and baseline runs interleaved; the table shows medians of the wall time of the sweep call,
the XLA compilations counted during it (JAX's backend-compile event) and the ratio. The
results of both modes must agree to 1e-12 (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEPS = {
    "lifted-toy": ("examples/lifted_toy.py", "lam", (0.0, 2.5, 26), None),
    "cascade": ("examples/cascade.py", "c", (0.0, 0.3, 6), 2000),
}
COMPARED = ("euclidean_margin", "margin", "metric_margin", "lipschitz", "euler_max")


def one_run(name: str, share: bool) -> dict:
    """One sweep in this process: wall time, compilations, and the rows' numbers."""
    from jax import monitoring

    from sgn._load import load_factory
    from sgn._shared import sharing
    from sgn._sweep import sweep

    count = [0]
    monitoring.register_event_duration_secs_listener(
        lambda event, _d, **_k: count.__setitem__(
            0, count[0] + (event == "/jax/core/compile/backend_compile_duration")))
    path, key, (start, stop, n), samples = SWEEPS[name]
    factory = load_factory(os.path.join(ROOT, path))
    t0 = time.perf_counter()
    with sharing(share):
        result = sweep(factory, {key: np.linspace(start, stop, n)}, samples=samples, seed=0)
    seconds = time.perf_counter() - t0
    rows = [[r[q] for q in COMPARED] + [r["status"]] for r in result.rows]
    return {"seconds": seconds, "compiles": count[0], "points": n, "rows": rows}


def spawn(name: str, share: bool) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", name, "on" if share else "off"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def agree(a: list, b: list) -> bool:
    """Same statuses, and numbers equal to 1e-12 (None, e.g. no step size, as NaN)."""
    return all(ra[-1] == rb[-1] and np.allclose(np.array(ra[:-1], dtype=float),
                                                np.array(rb[:-1], dtype=float),
                                                rtol=0, atol=1e-12, equal_nan=True)
               for ra, rb in zip(a, b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("SWEEP", "on|off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.path.insert(0, ROOT)
        print(json.dumps(one_run(args.one[0], args.one[1] == "on")))
        return 0

    import jax
    sys.path.insert(0, ROOT)
    import sgn

    print(f"sgn {sgn.__version__}, jax {jax.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} cpus; fresh process per run, median of {args.repeats}")
    print(f"\n{'sweep':<12} {'points':>6} {'shared s':>9} {'baseline s':>11} {'ratio':>6} "
          f"{'compiles shared':>16} {'compiles baseline':>18} {'same results':>13}")
    ok = True
    for name in SWEEPS:
        runs = {True: [], False: []}
        for _ in range(args.repeats):
            for share in (False, True):
                runs[share].append(spawn(name, share))
        same = agree(runs[True][0]["rows"], runs[False][0]["rows"])
        ok &= same
        shared = statistics.median(r["seconds"] for r in runs[True])
        base = statistics.median(r["seconds"] for r in runs[False])
        print(f"{name:<12} {runs[True][0]['points']:>6} {shared:>9.2f} {base:>11.2f} "
              f"{base / shared:>5.1f}x {runs[True][0]['compiles']:>16} "
              f"{runs[False][0]['compiles']:>18} {'yes' if same else 'NO':>13}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
