"""Start-up time: `import sgn`, `--help`, and the README's example cold and warm.

    python benchmarks/bench_startup.py [--baseline DIR] [--repeats 5]

Each command runs in a fresh Python process with this checkout first on sys.path; with
--baseline DIR (a checkout of an older commit, e.g. `git worktree add /tmp/old HEAD~3`), the
same commands run against DIR too, alternating, and the table gives the ratio baseline / now.
"Cold" certifies examples/scalar_toy.py with an empty compilation cache (SGN_CACHE_DIR a new
empty folder), "warm" a second time with the same cache. Medians over --repeats.
Targets (issue 15): import < 1 s, --help < 1 s, README example < 4 s cold and < 1.5 s warm.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CLI = "import sys; from sgn.cli import main; sys.argv[0] = 'sgn'; main()"
EXAMPLE = "examples/scalar_toy.py"


def timed(root: Path, args: list[str], env: dict | None = None) -> float:
    """Seconds for one process; run outside any checkout, so `root` alone provides sgn."""
    env = {**os.environ, "PYTHONPATH": str(root), **(env or {})}
    with tempfile.TemporaryDirectory() as elsewhere:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{args} failed under {root}: {done.stderr.strip()[-400:]}")
    return seconds


def measure(root: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = {"SGN_CACHE_DIR": cache}
        return {
            "import sgn": timed(root, ["-c", "import sgn"]),
            "sgn --help": timed(root, ["-c", CLI, "--help"]),
            "sgn certify --help": timed(root, ["-c", CLI, "certify", "--help"]),
            "README example, cold": timed(root, ["-c", CLI, "certify", str(root / EXAMPLE),
                                                 "--quiet"], env),
            "README example, warm": timed(root, ["-c", CLI, "certify", str(root / EXAMPLE),
                                                 "--quiet"], env),
        }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    roots = {"now": HERE} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    runs = {name: [] for name in roots}
    for _ in range(args.repeats):
        for name, root in roots.items():
            runs[name].append(measure(root))
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
           for name, rs in runs.items()}
    keys = list(med["now"])
    head = f"{'':24} {'now (s)':>9}"
    if "baseline" in med:
        head += f" {'baseline (s)':>13} {'baseline/now':>13}"
    print(f"median of {args.repeats}\n{head}")
    for key in keys:
        row = f"{key:24} {med['now'][key]:9.2f}"
        if "baseline" in med:
            row += f" {med['baseline'][key]:13.2f} {med['baseline'][key] / med['now'][key]:12.1f}x"
        print(row)


if __name__ == "__main__":
    main()
