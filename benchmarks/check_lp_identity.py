"""The M-matrix LP without cvxpy gives bit for bit what it gave through cvxpy (issue 15).

    python benchmarks/check_lp_identity.py [--random 600] [--seed 0] [--no-examples]
                                           [--recorded DIR] [--linprog] [--large]

sgn/_weights/_lp.py solved `maximise t s.t. K v >= t 1, 0 <= v <= 1` through cvxpy with
HiGHS; it now hands HiGHS (highspy) the model cvxpy built for it. For every comparison
matrix K below this script runs both, the cvxpy formulation (`cvxpy_m_matrix_lp`, the code
that was replaced, kept here verbatim) and `sgn._weights._lp.m_matrix_lp`, and compares

* the model HiGHS receives (cost, bounds, rows, the column-wise matrix): byte for byte;
* the outcome: solved, message, t* and v, bit for bit (an exception must be one on both).

Inputs: the comparison matrices `sgn.certify` meets on every bundled example (examples/*.py,
recorded while certifying them with the cvxpy formulation: the matrices of today's runs);
the .npy files in each --recorded DIR (one K each: e.g. the test suite's, recorded by running
it with sgn._weights._lp.m_matrix_lp wrapped to np.save its argument first); and --random
seeded random Z-matrices of sizes 1 to 50: M-matrices and matrices that are not, dense and
sparse, one-way (triangular) couplings, integer entries (degenerate LPs, ties between
optimal vertices), rows scaled over 12 decades, the whole matrix scaled by 1e-150 ... 1e150
(HiGHS gives up on some: cvxpy raised ValueError there, and so does sgn now), and spectral
radius within 1e-9 of 1 (t* next to 0). --large adds N = 100 ... 1000 (about 1 minute).
--linprog also counts how often scipy.optimize.linprog(method="highs") gives the same, in
the natural form (the box as column bounds; "t* !=" and "max rel t*" compare t* alone) and
in cvxpy's rows ("linprog(rows)"); it does not need to. Exit 1 on any mismatch of the
highspy route.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cvxpy as cp  # noqa: E402
import highspy  # noqa: E402

from sgn._weights import _lp  # noqa: E402


def cvxpy_m_matrix_lp(K: np.ndarray) -> _lp.LPOutcome:
    """sgn/_weights/_lp.py's m_matrix_lp before issue 15 (sgn e90251e), verbatim."""
    _lp._swallow_highs_banner()
    n = K.shape[0]
    v = cp.Variable(n)
    t = cp.Variable()
    problem = cp.Problem(cp.Maximize(t), [K @ v >= t, v >= 0, v <= 1])
    try:
        problem.solve(solver=cp.HIGHS)
    except cp.error.SolverError as exc:
        return _lp.LPOutcome(False, float("nan"), None, f"HiGHS failed: {exc}")
    if problem.status != cp.OPTIMAL or t.value is None:
        return _lp.LPOutcome(False, float("nan"), None, f"HiGHS returned status {problem.status}")
    return _lp.LPOutcome(True, float(t.value), np.asarray(v.value, dtype=np.float64), "optimal")


def linprog_m_matrix_lp(K: np.ndarray, rows: bool = False) -> _lp.LPOutcome:
    """The same LP through scipy's own copy of HiGHS: 0 <= v <= 1 as column bounds (the
    natural form), or with rows=True as cvxpy writes it (3n rows, free columns)."""
    from scipy.optimize import linprog

    n = K.shape[0]
    c = np.concatenate(([-1.0], np.zeros(n)))
    A = np.hstack([np.ones((n, 1)), -K])
    if rows:
        box = np.hstack([np.zeros((n, 1)), np.eye(n)])
        res = linprog(c, A_ub=np.vstack([A, -box, box]),
                      b_ub=np.concatenate([np.zeros(2 * n), np.ones(n)]),
                      bounds=[(None, None)] * (n + 1), method="highs")
    else:
        res = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=[(None, None)] + [(0, 1)] * n,
                      method="highs")
    if res.status != 0:
        return _lp.LPOutcome(False, float("nan"), None, res.message)
    return _lp.LPOutcome(True, float(res.x[0]), np.asarray(res.x[1:]), "optimal")


_FIELDS = ("num_col_", "num_row_", "offset_", "col_cost_", "col_lower_", "col_upper_",
           "row_lower_", "row_upper_")


def _snapshot(model) -> dict:
    lp = model.lp_
    out = {name: np.asarray(getattr(lp, name)) for name in _FIELDS}
    a = lp.a_matrix_
    out |= {"sense": np.asarray(int(lp.sense_)), "format": np.asarray(int(a.format_)),
            "start": np.asarray(a.start_, dtype=np.int64),
            "index": np.asarray(a.index_, dtype=np.int64), "value": np.asarray(a.value_),
            "hessian_dim": np.asarray(model.hessian_.dim_)}
    return out


@contextlib.contextmanager
def _models_passed(into: list):
    """Record the model of every highspy.Highs.passModel call (what cvxpy hands HiGHS)."""
    original = highspy.Highs.passModel

    def passModel(self, model, *args):
        into.append(_snapshot(model))
        return original(self, model, *args)

    highspy.Highs.passModel = passModel
    try:
        yield
    finally:
        highspy.Highs.passModel = original


def _bits(x) -> bytes:
    return np.asarray(x, dtype=np.float64).tobytes()


def _run(fn, K, **options):
    try:
        return fn(K, **options)
    except Exception as exc:  # noqa: BLE001 - an exception must be matched by one
        return exc


def same_outcome(a, b) -> bool:
    if isinstance(a, Exception) or isinstance(b, Exception):    # the same error, in words
        return type(a) is type(b) and str(a).split(":")[0] == str(b).split(":")[0]
    if (a.solved, a.message) != (b.solved, b.message) or _bits(a.value) != _bits(b.value):
        return False
    if a.vector is None or b.vector is None:
        return a.vector is None and b.vector is None
    return a.vector.shape == b.vector.shape and _bits(a.vector) == _bits(b.vector)


def same_model(K) -> bool | None:
    """cvxpy's model for K against _lp._model(K), byte for byte (None: cvxpy built none)."""
    seen: list = []
    with _models_passed(seen):
        _run(cvxpy_m_matrix_lp, K)
    if not seen:
        return None
    ours = _snapshot(_lp._model(np.asarray(K, dtype=np.float64)))
    return all(seen[-1][k].dtype == ours[k].dtype and seen[-1][k].shape == ours[k].shape
               and seen[-1][k].tobytes() == ours[k].tobytes() for k in ours)


# --- inputs ---------------------------------------------------------------------------------

def random_matrices(count: int, seed: int):
    """Seeded Z-matrices (diagonal > 0 except in 'any sign' cases, off-diagonal <= 0)."""
    rng = np.random.default_rng(seed)
    kinds = ("dense", "sparse", "one-way", "integer", "rows-scaled", "scaled", "near-singular")
    for k in range(count):
        kind = kinds[k % len(kinds)]
        n = 1 + k % 50 if k < 50 else int(rng.integers(2, 51))
        mu = rng.uniform(0.2, 3.0, n)
        L = rng.uniform(0.0, 1.0, (n, n))
        if kind == "sparse":
            L *= rng.random((n, n)) < min(1.0, 3.0 / n)
        elif kind == "one-way":
            L = np.triu(L) * (rng.random((n, n)) < 0.5) * rng.uniform(1, 50)
        elif kind == "integer":
            mu = rng.integers(1, 4, n).astype(float)
            L = rng.integers(0, 2, (n, n)).astype(float) * (rng.random((n, n)) < 2.0 / n)
        np.fill_diagonal(L, 0.0)
        # the coupling scale spreads rho over about 0.2 ... 2: certifiable and not
        rho = max(np.abs(np.linalg.eigvals(L / mu[:, None])).max(), 1e-12)
        if kind == "near-singular":       # rho = 1 to about 1e-9: t* next to 0
            L *= (1.0 + rng.normal(0.0, 1e-9)) / rho
        elif kind != "integer":
            L *= rng.uniform(0.2, 2.0) / rho
        K = np.diag(mu) - L
        if kind == "rows-scaled":
            K *= 10.0 ** rng.uniform(-6, 6, (n, 1))
        elif kind == "scaled":
            K *= 10.0 ** rng.uniform(-150, 150)
        yield f"random {kind} n={n} #{k}", K


def large_matrices(seed: int):
    """N = 100 ... 1000, dense and 5% dense, rho = 0.8 and 1.2 (~1 min: HiGHS's own time)."""
    rng = np.random.default_rng(seed)
    for n in (100, 200, 500, 1000):
        for density in (1.0, 0.05):
            mu = rng.uniform(0.5, 2.0, n)
            L = rng.uniform(0.0, 1.0, (n, n)) * (rng.random((n, n)) < density)
            np.fill_diagonal(L, 0.0)
            rho = np.abs(np.linalg.eigvals(L / mu[:, None])).max()
            for gain in (0.8, 1.2):
                yield f"large n={n} density={density} rho={gain}", np.diag(mu) - L * gain / rho


def example_matrices():
    """Every K the LP sees while certifying examples/*.py (recorded with the cvxpy route)."""
    import sgn
    import sgn._weights as weights

    seen: list = []
    original = weights.m_matrix_lp

    def recording(K):
        seen.append(np.array(K, dtype=np.float64))
        return cvxpy_m_matrix_lp(K)

    weights.m_matrix_lp = recording
    try:
        for path in sorted((ROOT / "examples").glob("*.py")):
            start = len(seen)
            game = sgn.load_game(str(path))
            sgn.certify(game)
            print(f"  {path.name}: {len(seen) - start} LP(s)", flush=True)
            for i, K in enumerate(seen[start:]):
                yield f"{path.stem} #{i} n={K.shape[0]}", K
    finally:
        weights.m_matrix_lp = original


def recorded_matrices(folder: Path):
    for path in sorted(folder.glob("*.npy")):
        yield f"{folder.name}/{path.name}", np.load(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-examples", action="store_true")
    parser.add_argument("--recorded", type=Path, action="append", default=[])
    parser.add_argument("--linprog", action="store_true")
    parser.add_argument("--large", action="store_true", help="also N = 100 ... 1000")
    args = parser.parse_args(argv)

    sources = []
    if not args.no_examples:
        print("certifying examples/*.py (recording their comparison matrices)", flush=True)
        sources.append(("examples", list(example_matrices())))
    for folder in args.recorded:
        sources.append((f"recorded {folder}", list(recorded_matrices(folder))))
    sources.append((f"random (seed {args.seed})", list(random_matrices(args.random, args.seed))))
    if args.large:
        sources.append((f"large (seed {args.seed})", list(large_matrices(args.seed))))

    failures = 0
    print(f"\n{'inputs':40} {'count':>6} {'model !=':>9} {'outcome !=':>11} {'solved':>7} "
          f"{'raised':>7}" + (f" {'linprog !=':>11} {'t* !=':>6} {'max rel t*':>11} "
                              f"{'linprog(rows) !=':>17}" if args.linprog else ""))
    for label, cases in sources:
        unique = {}
        for name, K in cases:
            unique.setdefault(repr(K.shape).encode() + np.asarray(K, dtype=np.float64).tobytes(),
                              (name, K))
        model_bad = outcome_bad = solved = raised = linprog_bad = linprog_t = rows_bad = 0
        linprog_rel = 0.0
        for name, K in unique.values():
            old, new = _run(cvxpy_m_matrix_lp, K), _run(_lp.m_matrix_lp, K)
            if not same_outcome(old, new):
                outcome_bad += 1
                print(f"  OUTCOME DIFFERS {name}: cvxpy {old!r} / highspy {new!r}")
            if same_model(K) is False:
                model_bad += 1
                print(f"  MODEL DIFFERS {name}")
            raised += isinstance(old, Exception)
            solved += not isinstance(old, Exception) and old.solved
            if args.linprog:
                other = _run(linprog_m_matrix_lp, K)
                linprog_bad += not same_outcome(old, other)
                if not isinstance(old, Exception) and old.solved and \
                        not isinstance(other, Exception) and other.solved:
                    linprog_t += _bits(old.value) != _bits(other.value)
                    linprog_rel = max(linprog_rel, abs(old.value - other.value)
                                      / max(abs(old.value), 1e-300))
                if not isinstance(old, Exception):      # linprog raises nothing cvxpy did
                    rows_bad += not same_outcome(old, _run(linprog_m_matrix_lp, K, rows=True))
        failures += model_bad + outcome_bad
        print(f"{label:40} {len(unique):6d} {model_bad:9d} {outcome_bad:11d} {solved:7d} "
              f"{raised:7d}" + (f" {linprog_bad:11d} {linprog_t:6d} {linprog_rel:11.2e} "
                                f"{rows_bad:17d}" if args.linprog else ""), flush=True)
    print("\nbit-identical everywhere" if not failures else f"\n{failures} MISMATCH(ES)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
