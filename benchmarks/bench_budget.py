"""Does `sgn certify --verify --max-seconds S` end near S, and how much memory does it take?

    PYTHONPATH=. python benchmarks/bench_budget.py [--budgets 2 10 120] [--games ring-16x1 ...]

--max-seconds is the safety limit on a verified run (the box budget decides the result: see
bench_box_budget.py); here it is what ends the run, so the box budget is set to the largest
default (--max-boxes 20000), and the question is how close to S the time limit stops it.
Each run is a fresh `python -m sgn.cli certify GAME --verify --max-seconds S` process (so
loading the game and starting Python are in the wall time, ~3-4 s here); its wall time and
peak resident memory (from wait4) are printed with what the certificate says: status, the run's
own seconds (estimator.budget.seconds) and why each pass stopped. Target: wall time within
S + 15 s. The games are sgn._testing.games.ring_game: "ring-16x1" (256 bounds, 512 boxes in
the first round alone) and "ring-4x4" (d = 16, thousands of boxes). The figures are in
benchmarks/README.md ("The budget of a verified run").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GAMES = {
    "ring-16x1": "ring_game(16)",
    "ring-4x4": "ring_game(4, 4, coupling=0.15)",
}
#: A box budget the time limit always ends first here.
MAX_BOXES = 20_000
#: Wall time a run may take beyond its budget: starting Python and loading the game, one batch
#: past the deadline, and a shared machine.
ALLOWANCE = 15.0


def run(game_file: Path, budget: float) -> dict:
    begun = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sgn.cli", "certify", str(game_file), "--verify",
         "--max-seconds", str(budget), "--max-boxes", str(MAX_BOXES), "--quiet",
         "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cert = json.loads(out)
    est = cert["estimator"]
    return {"wall": time.monotonic() - begun, "rss_mb": usage.ru_maxrss / 1024,
            "exit": proc.returncode, "status": cert["status"],
            "run_seconds": est.get("budget", {}).get("seconds"),
            "stopped": {k: (v or {}).get("stopped") for k, v in est.get("passes", {}).items()},
            "boxes_enclosed": est.get("boxes_enclosed")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[2.0, 10.0])
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=list(GAMES))
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        for name in args.games:
            path = Path(folder) / f"{name.replace('-', '_')}.py"
            path.write_text(f"from sgn._testing.games import ring_game\n\n"
                            f"game = {GAMES[name]}\n")
            for budget in args.budgets:
                got = run(path, budget)
                met = got["wall"] <= budget + ALLOWANCE
                failed |= not met
                run_seconds = ("-" if got["run_seconds"] is None
                               else f"{got['run_seconds']:.1f} s")
                print(f"{name:10s} --max-seconds {budget:6g}: wall {got['wall']:7.1f} s, "
                      f"peak {got['rss_mb']:6.0f} MB, exit {got['exit']}, {got['status']}, "
                      f"run {run_seconds}, {got['boxes_enclosed']} boxes enclosed, "
                      f"stopped {got['stopped']}  [{'met' if met else 'NOT MET'}]", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
