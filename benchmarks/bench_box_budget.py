"""How long does `sgn certify --verify` take with the default box budget, and is it reproducible?

    PYTHONPATH=. python benchmarks/bench_box_budget.py [--games cascade tanh_gan ring-4x4 ...]
                                                       [--load 2] [--per-box N] [--options ...]

Each run is a fresh `python -m sgn.cli certify GAME --verify --quiet --format json` process
(starting Python and loading the game, ~3 s here, are in the wall time) with the default
budget: the box budget decides, --max-seconds (600) is a safety limit. Printed per game: the
box budget the certificate records (estimator.budget.max_boxes, derived from the game's
interval program), the wall time, the run's own seconds (estimator.budget.seconds), the boxes
each pass enclosed and why it stopped, which budget stopped the run and the status.

With --per-box N each game is instead bounded in-process for N boxes (`interval_bounds`,
max_boxes=N, no time limit) and the time per box is set against `_budget.box_cost` (interval
values per box), the count the default box budget is derived from: how well the count
predicts the time, in nanoseconds per interval value.

With --load K every game runs a second time while K busy processes compete for the cores, and
the two certificates are compared without their wall-time fields: "same" means every number,
reason and note agree. The games are the bundled examples that --verify proves (the Markov
examples use the Fisher geometry and fall back to sampled bounds) and two stress games of
sgn._testing.games (d = 16, every box costly; ring-8x4: d = 32, without the mean-value form). Figures: benchmarks/README.md, "A reproducible
default budget".
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = ["cascade", "cournot", "lifted_toy", "scalar_toy", "tanh_gan", "too_coupled",
            "zero_sum_bilinear"]
STRESS = {
    "ring-16x1": "ring_game(16)",
    "ring-4x4": "ring_game(4, 4, coupling=0.15)",
    "ring-8x4": "ring_game(8, 4, coupling=0.15)",
}
#: --per-box: fewer boxes than this (a game decided at once) are not timed.
MIN_TIMED = 50
TIMINGS = (("seconds",), ("budget", "seconds"), ("passes", "bounds", "seconds"),
           ("passes", "metric", "seconds"))


def fingerprint(cert: dict) -> str:
    """A hash of the certificate without its wall-time fields."""
    est = cert["estimator"]
    for path in TIMINGS:
        parent = est
        for key in path[:-1]:
            parent = parent.get(key) or {}
        parent.pop(path[-1], None)
    return hashlib.sha256(json.dumps(cert, sort_keys=True).encode()).hexdigest()[:12]


def run(path: Path, options: list[str]) -> dict:
    begun = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sgn.cli", "certify", str(path), "--verify",
                           "--quiet", "--format", "json", *options],
                          capture_output=True, text=True)
    wall = time.monotonic() - begun
    cert = json.loads(proc.stdout)
    est = cert["estimator"]
    passes = est.get("passes") or {}
    budget = est.get("budget") or {}
    return {"wall": wall, "status": cert["status"], "method": est["method"],
            "max_boxes": budget.get("max_boxes"), "run": budget.get("seconds"),
            "stopped_by": budget.get("stopped_by"),
            "passes": {k: (v["boxes_enclosed"], v["stopped"]) for k, v in passes.items() if v},
            "fingerprint": fingerprint(cert)}


@contextlib.contextmanager
def busy(count: int):
    """`count` processes spinning on the CPU (a loaded machine) while the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def show(name: str, got: dict, label: str) -> None:
    passes = "  ".join(f"{k} {n} {why}" for k, (n, why) in got["passes"].items())
    run_seconds = "-" if got["run"] is None else f"{got['run']:.1f} s"
    print(f"{name:18s} {label:6s} budget {got['max_boxes']!s:>6s}  wall {got['wall']:6.1f} s  "
          f"run {run_seconds:>8s}  {passes:40s} stopped by {got['stopped_by']!s:8s} "
          f"{got['status']:13s} {got['fingerprint']}", flush=True)


def per_box(path: Path, boxes: int) -> None:
    """Seconds per box against box_cost, in this process (compiling excluded)."""
    import sgn
    from sgn._interval import interval_bounds
    from sgn._interval._budget import box_cost, default_boxes
    from sgn._interval._enclose import jacobian_enclosure

    game = sgn.load_game(str(path))
    enclosure = jacobian_enclosure(game)
    cost = box_cost(enclosure)
    begun = time.perf_counter()
    result = interval_bounds(game, max_boxes=boxes, max_seconds=1e9)
    seconds = time.perf_counter() - begun
    each = seconds / max(result.evaluated, 1)
    head = (f"{game.name[:18]:18s} d = {game.dim:3d}  box_cost {cost:9d}  default budget "
            f"{default_boxes(enclosure):6d}  {result.evaluated:5d} boxes ({result.record.stopped})")
    if result.evaluated < MIN_TIMED:   # decided at once: the time is the first round's overhead
        print(f"{head}: too few to time", flush=True)
        return
    print(f"{head} in {seconds:6.1f} s: {1e3 * each:7.2f} ms per box, {1e9 * each / cost:5.0f} "
          "ns per interval value", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=EXAMPLES + list(STRESS),
                        choices=EXAMPLES + list(STRESS))
    parser.add_argument("--load", type=int, default=0,
                        help="Run each game again with this many busy processes alongside.")
    parser.add_argument("--per-box", type=int, default=0, metavar="N",
                        help="Time N boxes per game in-process against box_cost instead.")
    parser.add_argument("--options", nargs=argparse.REMAINDER, default=[],
                        help="Extra options for `sgn certify` (e.g. --max-boxes 2000).")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    differ = False
    with tempfile.TemporaryDirectory() as folder:
        for name in args.games:
            if name in STRESS:
                path = Path(folder) / f"{name.replace('-', '_')}.py"
                path.write_text("from sgn._testing.games import ring_game\n\n"
                                f"game = {STRESS[name]}\n")
            else:
                path = Path("examples") / f"{name}.py"
            if args.per_box:
                per_box(path, args.per_box)
                continue
            quiet = run(path, args.options)
            show(name, quiet, "quiet")
            if args.load:
                with busy(args.load):
                    loaded = run(path, args.options)
                show(name, loaded, f"load+{args.load}")
                same = loaded["fingerprint"] == quiet["fingerprint"]
                differ |= not same
                print(f"{'':18s} {'same' if same else 'DIFFERENT'} certificate", flush=True)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
