"""Start-up time: `import sgn`, `--help`, and the README's example cold and warm.

    python benchmarks/bench_startup.py [--baseline DIR ...] [--repeats 5]

Each command runs in a fresh Python process with this checkout first on sys.path; with
--baseline DIR (a checkout of an older commit, e.g. `git worktree add /tmp/old HEAD~3`; give
it several times to compare several), the same commands run against each DIR too,
alternating, and the table gives the ratio baseline / now for each.
"certify" runs `sgn certify examples/scalar_toy.py --quiet` (no files); "README example" is
the README's command, `sgn certify examples/scalar_toy.py --out cert.json --report cert.pdf`
(--quiet). "Cold" with an empty compilation cache (SGN_CACHE_DIR a new empty folder), "warm"
a second time with the same cache. Medians over --repeats of wall time and, steadier on a
shared machine, of the process's CPU time (user + system).
Targets (issue 15): import < 1 s, --help < 1 s, README example < 4 s cold and < 1.5 s warm.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CLI = "import sys; from sgn.cli import main; sys.argv[0] = 'sgn'; main()"
EXAMPLE = "examples/scalar_toy.py"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(root: Path, args: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one process; run outside any checkout, so
    `root` alone provides sgn."""
    env = {**os.environ, "PYTHONPATH": str(root), **(env or {})}
    with tempfile.TemporaryDirectory() as elsewhere:
        start, cpu = time.perf_counter(), _cpu()
        done = subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{args} failed under {root}: {done.stderr.strip()[-400:]}")
    return seconds, cpu


def measure(root: Path) -> dict[str, tuple[float, float]]:
    certify = ["-c", CLI, "certify", str(root / EXAMPLE), "--quiet"]
    times = {
        "import sgn": timed(root, ["-c", "import sgn"]),
        "sgn --help": timed(root, ["-c", CLI, "--help"]),
        "sgn certify --help": timed(root, ["-c", CLI, "certify", "--help"]),
    }
    with tempfile.TemporaryDirectory() as cache:
        env = {"SGN_CACHE_DIR": cache}
        times["certify, cold"] = timed(root, certify, env)
        times["certify, warm"] = timed(root, certify, env)
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        env = {"SGN_CACHE_DIR": cache}
        files = ["--out", str(Path(out) / "cert.json"), "--report", str(Path(out) / "cert.pdf")]
        times["README example, cold"] = timed(root, certify + files, env)
        times["README example, warm"] = timed(root, certify + files, env)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, action="append", default=[])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    names = ["baseline"] if len(args.baseline) == 1 else [p.name for p in args.baseline]
    roots = {"now": HERE} | {name: p.resolve() for name, p in zip(names, args.baseline)}
    runs = {name: [] for name in roots}
    for _ in range(args.repeats):
        for name, root in roots.items():
            runs[name].append(measure(root))
    head = f"{'':24} {'now (s)':>9}" + "".join(
        f" {name + ' (s)':>13} {name + '/now':>13}" for name in names)
    for i, what in enumerate(["wall", "CPU (user + system)"]):
        med = {name: {k: statistics.median(r[k][i] for r in rs) for k in rs[0]}
               for name, rs in runs.items()}
        print(f"{what}, median of {args.repeats}\n{head}")
        for key in med["now"]:
            row = f"{key:24} {med['now'][key]:9.2f}"
            for name in names:
                row += f" {med[name][key]:13.2f} {med[name][key] / med['now'][key]:12.2f}x"
            print(row)
        print()


if __name__ == "__main__":
    main()
