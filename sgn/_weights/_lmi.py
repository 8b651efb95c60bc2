"""Block-diagonal metrics from a linear matrix inequality (issue 13, SPEC section 7).

    metric_margin(Js, blocks)                      ->  float   (dense eigen-solves, the judge)
    search_metric(Js, dims, structure="scalar")    ->  MetricSearch
    eigenbasis_blocks(J_centre, dims)              ->  FinePartition

The metric margin
-----------------
Players are contiguous coordinate blocks of sizes `dims`; Js holds the Jacobians J_1..J_K at
K points (scenarios). A metric P = blockdiag(P_1, ..., P_N), every P_i symmetric positive
definite, has margin

    alpha(P) = min_k lambda_min( sym(P^1/2 J_k P^-1/2) ),   sym(A) = (A + A^T) / 2.

Congruence. With S = P^1/2 and y = S x, x^T sym(P J) x = y^T sym(S J S^-1) y and
x^T P x = y^T y, so for every a

    sym(P J_k) - a P >= 0   <=>   S^-1 (sym(P J_k) - a P) S^-1 = sym(S J_k S^-1) - a I >= 0
                            <=>   lambda_min(sym(P^1/2 J_k P^-1/2)) >= a

(Sylvester's law of inertia: a congruence keeps positive semidefiniteness). So alpha(P) >= a
is the LMI  P J_k + J_k^T P - 2 a P >= 0 for every k, linear in P for fixed a, and the best
margin max_P alpha(P) is quasi-concave: its super-level sets are convex. The problem is
searched one level a at a time (see "The search" below).

Normalisation. The LMI is homogeneous in P (c P satisfies it whenever P does, c > 0), and
alpha(c P) = alpha(P). Asking P >= I is therefore no loss, and I/kappa <= P <= I is the same
set scaled by 1/kappa; the code uses the latter so that the solver sees numbers of order one
(the Jacobians are divided by their largest norm for the same reason). The other end is a
real restriction: it caps the condition number of P at kappa. Default kappa = 1e6, because
(1) a contraction in the P-norm reads as ||x(t) - y(t)|| <= sqrt(cond P) e^(-a t)
||x(0) - y(0)|| in Euclidean terms, and a transient factor above 1e3 says little to a user;
(2) Clarabel resolves P to about 1e-8 relative to its largest entry, so at cond P = 1e6 the
smallest eigenvalues of P keep only about two digits, and past that the solver's P is noise
in those directions; (3) it keeps the level problems bounded (without it, max s below grows
without limit).

Structures. "scalar": P_i = w_i I (one number per player: the block-scalar weights of SGN,
but judged by the true metric margin, not by norm bounds, so couplings that cancel in a
weighted metric are seen). "block": a full SPD P_i per player.

The search
----------
A level problem, for a level a and a reference metric R (the best P so far):

    maximise s  subject to  sym(P J_k) - a P >= s R  (k in the active scenarios),
                            I/kappa <= P_i <= I.

If s* <= 0, no metric with condition number <= kappa beats a on the active scenarios (a P
with alpha(P) > a would make every left side positive definite, so s > 0), hence on all of
them (more scenarios only lower the margin): a is an upper end for the search (up to the
solver's accuracy; it is reported, not relied on). If s* > 0, the solver's P reaches a with
room to spare. The search starts from P = I (so it never ends below the Euclidean margin) and
the level is always a = (best margin so far) + tol/2: a Dinkelbach step, with the
normalisation of Crouzeix, Ferland and Schaible (s R instead of s I: gains are measured
relative to the current metric, which makes the steps long). Each feasible step raises the
best margin to the new P's, usually far past a; the first infeasible step shows that the best
margin is within tol/2 of the optimum. Bisection on a would need log2(range / tol), about 25,
solves; this needs 4 to 13 on the tests, and solves are expensive: Clarabel's cost grows
steeply with d (measured per solve and scenario, two cores: ~0.005 s at d = 8, ~0.03 s at
d = 16, ~1 s at d = 32, ~15 s at d = 64: its KKT system holds a dense d^2/2 x d^2/2 block per
cone), so past d of about 24 the search takes minutes.

Scenarios. Exact duplicates are dropped (box vertices and constant Jacobians repeat). The LMI
then starts on the few scenarios that are worst at P = I. After each solve, the scenarios
outside it that the new P misses (margin below the level) join it, a few at a time, up to
MAX_SCENARIOS; when it misses none but one outside decides the margin, that one joins (else
the margin would creep up by tiny steps the LMI cannot see). On the tests 120 scenarios need
about 10 in the LMI. This keeps each solve small when K is hundreds; it can cost optimality,
never soundness, because:

Re-measuring. Clarabel's points satisfy the LMI only to its tolerances, so its own claim
(alpha(P) >= a) can be slightly wrong. Every P it proposes is symmetrised and re-measured by
metric_margin on *all* scenarios (dense eigen-solves), and only the best re-measured P is
kept and reported: the result's `margin` is metric_margin(Js, result.blocks), exactly; the
LMI's level is reported beside it as `lmi_margin`, for diagnostics only.

Finer partitions
----------------
eigenbasis_blocks rotates each player into the eigenbasis of sym(J_ii) at a centre point
(Q_i orthogonal) and makes every coordinate its own block. A scalar search on the rotated
Jacobians Q^T J_k Q with dims (1, ..., 1) gives weights D = diag(w), and P = Q D Q^T is
block-diagonal per player (Q is) with the same margin: P^1/2 J P^-1/2 = Q D^1/2 (Q^T J Q)
D^-1/2 Q^T is orthogonally similar to D^1/2 (Q^T J Q) D^-1/2, and sym commutes with an
orthogonal similarity, so the eigenvalues agree. It is cheaper than "block" (d numbers instead
of sum d_i (d_i + 1) / 2) and often nearly as good (SPEC section 7).
"""

from __future__ import annotations

import dataclasses
import enum
import warnings

import numpy as np

from .. import _config
from .._result import Result

#: Condition-number cap on P (see "Normalisation" in the module docstring).
DEFAULT_KAPPA = 1e6

#: Stop when the best margin is within tol * scale of the optimum, scale = max_k ||J_k||_2.
#: Clarabel's own accuracy is about 1e-8 relative; 1e-7 leaves it room.
DEFAULT_TOL = 1e-7

#: Active scenarios at the start (the worst at P = I), added per round, and at most in one
#: LMI. Each scenario is a d x d cone, and Clarabel's cost grows with their number.
INITIAL_SCENARIOS = 4
SCENARIOS_PER_ROUND = 4
MAX_SCENARIOS = 48

#: Level problems at most. Every step either raises the margin by >= tol/2 or adds scenarios.
MAX_ITERATIONS = 60

STRUCTURES = ("scalar", "block")


class MetricStatus(str, enum.Enum):
    """Outcome of the metric search; `.message` says what it means for the user."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    INCONCLUSIVE = "inconclusive"
    SOLVER_FAILED = "solver_failed"

    @property
    def message(self) -> str:
        return {
            "found": "a metric with a positive margin on these Jacobians",
            "not_found": "no metric of this structure gives a positive margin on these "
                         "Jacobians; try a richer structure ('block'), regularise the game, "
                         "or shrink the region",
            "inconclusive": "the best margin is too close to zero for the solver to decide; "
                            "try a smaller tol or a richer structure",
            "solver_failed": "Clarabel failed before any metric with a positive margin was "
                             "found; the Jacobians may be badly scaled (see the message)",
        }[self.value]


@dataclasses.dataclass(frozen=True)
class MetricSearch(Result):
    """A block-diagonal metric and its margin.

    Attributes:
        status: a `MetricStatus`.
        structure: "scalar" or "block".
        blocks: P_1..P_N (d_i x d_i, SPD), scaled so that trace(P_1) / d_1 = 1.
        weights: "scalar" only (else None): w with w[0] = 1, P_i = w_i I.
        margin: metric_margin(Js, blocks), re-measured on every scenario given.
        lmi_margin: the level the LMI claimed for these blocks (diagnostics; nan when no LMI
            solution beat P = I).
        upper: the search's upper end: no metric of this structure with condition number
            <= kappa beats it on these Jacobians (from an eigenvalue bound, or a solver's
            infeasibility report, so up to its accuracy).
        iterations: level problems solved.
        scenarios: distinct Jacobians in the last LMI (of `distinct` given).
        distinct: distinct Jacobians given.
        message: one sentence for the user.
    """

    status: MetricStatus
    structure: str
    blocks: list
    weights: np.ndarray | None
    margin: float
    lmi_margin: float
    upper: float
    iterations: int
    scenarios: int
    distinct: int
    message: str


# --- the judge ------------------------------------------------------------------------------

def metric_margin(Js, blocks) -> float:
    """alpha(P) = min_k lambda_min(sym(P^1/2 J_k P^-1/2)) for P = blockdiag(blocks).

    Js: one d x d Jacobian or K of them (K, d, d). blocks: symmetric positive definite
    matrices (or scalars for 1 x 1 blocks) whose sizes add up to d.
    """
    return float(np.min(scenario_margins(Js, blocks)))


def scenario_margins(Js, blocks) -> np.ndarray:
    """lambda_min(sym(P^1/2 J_k P^-1/2)) for each k: shape (K,)."""
    blocks = [np.atleast_2d(np.asarray(b, dtype=np.float64)) for b in blocks]
    Js = _as_jacobians(Js, tuple(b.shape[0] for b in blocks))
    roots = _half_powers(blocks)
    if roots is None:
        raise ValueError("every block must be symmetric positive definite")
    return _margins(Js, *roots)


def _margins(Js: np.ndarray, root: np.ndarray, inverse_root: np.ndarray) -> np.ndarray:
    A = root @ Js @ inverse_root  # P^1/2 J_k P^-1/2, batched over k
    return np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, -1, -2)))[:, 0]


def _half_powers(blocks) -> tuple[np.ndarray, np.ndarray] | None:
    """(P^1/2, P^-1/2) as dense block-diagonal matrices, or None when a block is not SPD.

    Per block from one symmetric eigen-solve, so the square root is the symmetric one (the
    congruence argument needs S^T S = P with S symmetric, and any other root changes nothing
    but costs a transpose to get right).
    """
    d = sum(b.shape[0] for b in blocks)
    root, inverse_root = np.zeros((d, d)), np.zeros((d, d))
    start = 0
    for b in blocks:
        if b.ndim != 2 or b.shape[0] != b.shape[1] or not np.isfinite(b).all():
            return None
        if not np.allclose(b, b.T, rtol=1e-10, atol=1e-12 * np.max(np.abs(b), initial=0.0)):
            return None
        values, vectors = np.linalg.eigh(0.5 * (b + b.T))
        if values[0] <= 0:
            return None
        stop = start + b.shape[0]
        root[start:stop, start:stop] = (vectors * np.sqrt(values)) @ vectors.T
        inverse_root[start:stop, start:stop] = (vectors / np.sqrt(values)) @ vectors.T
        start = stop
    return root, inverse_root


# --- the search -----------------------------------------------------------------------------

def search_metric(Js, dims, structure: str = "scalar", *, tol: float = DEFAULT_TOL,
                  kappa: float = DEFAULT_KAPPA) -> MetricSearch:
    """Maximise the metric margin over block-diagonal P of the given structure.

    Args:
        Js: the Jacobians, (K, d, d) or one (d, d).
        dims: the players' block sizes (sum d).
        structure: "scalar" (P_i = w_i I) or "block" (full SPD P_i).
        tol: stop within tol * max_k ||J_k||_2 of the best margin (for the active scenarios).
        kappa: cap on the condition number of P (module docstring, "Normalisation").
    """
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
    dims = tuple(int(n) for n in dims)
    if not (tol > 0 and kappa > 1):
        raise ValueError("tol must be > 0 and kappa > 1")
    Js = _distinct(_as_jacobians(Js, dims))
    scale = float(np.max(np.linalg.norm(Js, ord=2, axis=(1, 2))))
    search = _Search(Js, dims, structure, tol * scale, kappa, scale)
    return search.run()


class _Search:
    """The Dinkelbach iteration of the module docstring, with its bookkeeping."""

    def __init__(self, Js, dims, structure, step, kappa, scale):
        self.Js, self.dims, self.structure = Js, dims, structure
        self.step, self.kappa, self.scale = step, kappa, scale
        # alpha(P) <= Re(lambda) for every eigenvalue lambda of J_k (P^1/2 J P^-1/2 is similar
        # to J, and lambda_min(sym A) <= Re lambda(A)): an upper end no metric can beat.
        self.eigenvalue_bound = float(np.min(np.linalg.eigvals(Js).real)) if scale > 0 else 0.0
        self.upper = self.eigenvalue_bound
        self.best = [np.eye(n) for n in dims]
        margins = _margins(Js, np.eye(sum(dims)), np.eye(sum(dims)))
        self.lower = float(margins.min())
        self.lmi_level = np.nan
        self.active = list(np.argsort(margins)[:INITIAL_SCENARIOS])
        self.iterations = 0
        self.note = ""
        self.failed = False

    def run(self) -> MetricSearch:
        zero = _config.MARGIN_TOL * self.scale
        if self.upper > zero:
            self._iterate()
        return self._result(zero)

    def _iterate(self) -> None:
        problem = _LevelProblem(self.Js[self.active] / self.scale, self.dims, self.structure,
                                self.kappa)
        while self.upper - self.lower > self.step and self.iterations < MAX_ITERATIONS:
            self.iterations += 1
            level = self.lower + 0.5 * self.step
            outcome = problem.solve(level / self.scale, self.best)
            if isinstance(outcome, str):
                self.note, self.failed = outcome, True
                return
            s, candidate = outcome
            if s <= 0:
                self.upper = level  # no metric reaches `level`, even on the active scenarios
                return
            roots = _half_powers(candidate)
            if roots is None:
                self.note = "the solver's metric is not positive definite (solver accuracy)"
                return
            margins = _margins(self.Js, *roots)
            improved = margins.min() > self.lower
            if improved:
                self.best, self.lower, self.lmi_level = candidate, float(margins.min()), level
            missed = self._missed(margins, level)
            room = MAX_SCENARIOS - len(self.active)
            if missed and room > 0:
                self.active += missed[:room]
                problem = _LevelProblem(self.Js[self.active] / self.scale, self.dims,
                                        self.structure, self.kappa)
            elif not improved:
                self.note = ("stopped: the solver's metrics no longer improve the re-measured "
                             "margin (solver accuracy" +
                             (", or the scenario cap" if missed else "") + ")")
                return
        if self.iterations >= MAX_ITERATIONS:
            self.note = f"stopped after {MAX_ITERATIONS} level problems"

    def _missed(self, margins: np.ndarray, level: float) -> list:
        """Scenarios outside the LMI that the new metric misses, worst first.

        Those below the level, which the LMI claimed; failing those, the one scenario that
        decides the margin if it is outside the LMI (the LMI cannot see it, so further steps
        would not lift it: the margin would creep up by tiny steps). Only a few are added per
        round, because each adds a d x d cone to every later solve.
        """
        order = [k for k in np.argsort(margins) if k not in self.active]
        below = [k for k in order if margins[k] < level]
        if below:
            return below[:SCENARIOS_PER_ROUND]
        if order and margins[order[0]] < margins[self.active].min():
            return order[:1]
        return []

    def _result(self, zero: float) -> MetricSearch:
        blocks = _normalised(self.best)
        margin = metric_margin(self.Js, blocks)  # exactly what the caller can re-check
        weights = (np.array([b[0, 0] for b in blocks]) if self.structure == "scalar" else None)
        if margin > zero:
            status = MetricStatus.FOUND
        elif self.upper <= zero:
            status = MetricStatus.NOT_FOUND
        elif self.failed:
            status = MetricStatus.SOLVER_FAILED
        else:
            status = MetricStatus.INCONCLUSIVE
        message = (f"{status.message}: margin {margin:.6g}, no {self.structure} metric with "
                   f"condition number <= {self.kappa:.3g} beats {self.upper:.6g}")
        if self.eigenvalue_bound <= zero:
            message += (f"; some Jacobian has an eigenvalue with real part "
                        f"{self.eigenvalue_bound:.6g} <= 0, so no metric of any kind has a "
                        "positive margin")
        if self.note:
            message += f"; {self.note}"
        return MetricSearch(status, self.structure, blocks, weights, margin,
                            self.lmi_level, self.upper, self.iterations, len(self.active),
                            len(self.Js), message)


class _LevelProblem:
    """maximise s  s.t.  sym(P J_k) - a P >= s R (k active),  I/kappa <= P_i <= I.

    P = sum_j x_j B_j over a fixed basis B_j of the structure (player indicators for
    "scalar", matrix units e_p e_q^T inside each player's block for "block"), so every LMI is
    one sparse matrix times x, built once per active set: cvxpy compiles that about 2.5 times
    faster than P @ J_k written out with cp.bmat (~3 ms per scenario), which matters because
    on small games compiling, not solving, is most of the time. The level and R are plain
    numbers: cvxpy parameters (DPP) would cache the compilation but compile slower, and the
    active set changes every few solves anyway.
    """

    def __init__(self, Js: np.ndarray, dims, structure: str, kappa: float):
        self.dims, self.structure, self.kappa = dims, structure, kappa
        self.d = sum(dims)
        rows, cols, combine = _basis(dims, structure)
        self.units = _unit_columns(rows, cols, self.d) @ combine
        self.gains = [(_gain_columns(J, rows, cols) @ combine).tocsc() for J in Js]

    def _problem(self, level: float, R: np.ndarray):
        import cvxpy as cp  # here, not at import: cvxpy adds about a second to sgn's start-up

        d, kappa = self.d, self.kappa
        s = cp.Variable()
        if self.structure == "scalar":
            variables = [cp.Variable(len(self.dims))]
            x = variables[0]
            bounds = [x >= 1.0 / kappa, x <= 1.0]
        else:
            variables = [cp.Variable((m, m), symmetric=True) for m in self.dims]
            x = cp.hstack([cp.vec(X, order="F") for X in variables])
            bounds = []
            for X, m in zip(variables, self.dims):
                bounds += [X >> np.eye(m) / kappa, X << np.eye(m)]
        shift = (level * self.units).tocsc()
        lmis = []
        for G in self.gains:
            M = cp.reshape((G - shift) @ x - s * _vec(R).ravel(), (d, d), order="F")
            lmis.append(0.5 * (M + M.T) >> 0)
        return cp.Problem(cp.Maximize(s), bounds + lmis), s, variables

    def solve(self, level: float, reference_blocks):
        """(s, blocks) from one Clarabel solve, or a sentence saying why there is none."""
        import cvxpy as cp

        R = _block_diag(reference_blocks)
        R = R / np.linalg.eigvalsh(R)[-1]  # lambda_max(R) = 1, like P's: s stays of order one
        problem, s, variables = self._problem(level, R)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "solution may be inaccurate": we re-measure
                problem.solve(solver=cp.CLARABEL)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001  SolverError, or a Rust panic in Clarabel
            return f"Clarabel failed: {type(exc).__name__}: {exc}"
        # "optimal_inaccurate" is common when the level is within ~1e-7 of the optimum; its
        # point is as usable as any other, since nothing is taken from it unmeasured.
        if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or s.value is None:
            return f"Clarabel returned status {problem.status}"
        self.problem = problem
        if self.structure == "scalar":
            return float(s.value), [float(w) * np.eye(m)
                                    for w, m in zip(variables[0].value, self.dims)]
        return float(s.value), [0.5 * (X.value + X.value.T) for X in variables]


def _basis(dims, structure: str):
    """The basis B_j with P = sum_j x_j B_j, as matrix units and a way to combine them.

    Returns (rows, cols, combine): matrix unit u has its one at (rows[u], cols[u]), and
    B_j = sum_u combine[u, j] E_u. "block": every unit inside a player's block, column-major
    per player (matching cp.vec(X_i, order="F")), combine = I. "scalar": the diagonal units,
    combined per player (B_i = the indicator of player i's coordinates).
    """
    import scipy.sparse as sp

    starts = np.cumsum((0,) + tuple(dims))
    if structure == "scalar":
        diagonal = np.arange(starts[-1])
        combine = sp.csc_matrix(np.repeat(np.eye(len(dims)), dims, axis=0))
        return diagonal, diagonal, combine
    rows, cols = [], []
    for start, m in zip(starts, dims):
        q, p = np.divmod(np.arange(m * m), m)  # column-major: p runs fastest
        rows.append(start + p)
        cols.append(start + q)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return rows, cols, sp.identity(rows.size, format="csc")


def _unit_columns(rows, cols, d: int):
    """Column u is vec(E_u), vec column-major as in cvxpy: (d^2, units), sparse."""
    import scipy.sparse as sp

    return sp.csc_matrix((np.ones(rows.size), (rows + cols * d, np.arange(rows.size))),
                         shape=(d * d, rows.size))


def _gain_columns(J: np.ndarray, rows, cols):
    """Column u is vec(sym(E_u J)), E_u = e_p e_q^T: half of J's row q in row p, plus its
    transpose in column p (the two meet, and add up, at (p, p))."""
    import scipy.sparse as sp

    d, units = J.shape[0], rows.size
    half = 0.5 * J[cols, :]                             # (units, d): row q of J, halved
    across = rows[:, None] + np.arange(d)[None, :] * d  # entries (p, c) of row p
    down = np.arange(d)[None, :] + rows[:, None] * d    # entries (r, p) of column p
    unit = np.repeat(np.arange(units), d)
    return sp.coo_matrix(
        (np.concatenate([half.ravel(), half.ravel()]),
         (np.concatenate([across.ravel(), down.ravel()]), np.concatenate([unit, unit]))),
        shape=(d * d, units)).tocsc()


def _vec(A: np.ndarray) -> np.ndarray:
    return A.reshape(-1, 1, order="F")


# --- finer partitions -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FinePartition:
    """Every coordinate its own block, in each player's eigenbasis of sym(J_ii) at a centre.

    Attributes:
        rotations: Q_i per player (orthogonal, d_i x d_i; columns are eigenvectors).
        player_dims: the players' block sizes.
        dims: the fine partition, (1, ..., 1), d of them.
    """

    rotations: tuple
    player_dims: tuple

    @property
    def dims(self) -> tuple[int, ...]:
        return (1,) * sum(self.player_dims)

    @property
    def rotation(self) -> np.ndarray:
        """Q = blockdiag(Q_1..Q_N), d x d orthogonal."""
        return _block_diag(self.rotations)

    def rotate(self, Js) -> np.ndarray:
        """Q^T J_k Q: the Jacobians in the fine coordinates."""
        Q = self.rotation
        return Q.T @ _as_jacobians(Js, self.player_dims) @ Q

    def player_blocks(self, fine_weights) -> list[np.ndarray]:
        """P_i = Q_i diag(w_i) Q_i^T: the fine weights as per-player blocks, original basis."""
        w = np.asarray(fine_weights, dtype=np.float64).reshape(-1)
        if w.size != sum(self.player_dims):
            raise ValueError(f"{w.size} fine weights for {sum(self.player_dims)} coordinates")
        blocks, start = [], 0
        for Q in self.rotations:
            part = w[start:start + Q.shape[0]]
            start += Q.shape[0]
            P = (Q * part) @ Q.T
            blocks.append(0.5 * (P + P.T))
        return blocks


def eigenbasis_blocks(J_centre, dims) -> FinePartition:
    """The eigenbasis partition of the module docstring ("Finer partitions")."""
    dims = tuple(int(n) for n in dims)
    J = _as_jacobians(J_centre, dims)
    if J.shape[0] != 1:
        raise ValueError("eigenbasis_blocks takes one centre Jacobian")
    rotations, start = [], 0
    for m in dims:
        own = J[0, start:start + m, start:start + m]
        rotations.append(np.linalg.eigh(0.5 * (own + own.T))[1])
        start += m
    return FinePartition(tuple(rotations), dims)


# --- helpers --------------------------------------------------------------------------------

def _as_jacobians(Js, dims) -> np.ndarray:
    """(K, d, d) float64, checked against dims."""
    if not dims or min(dims) < 1:
        raise ValueError(f"dims must be positive block sizes, got {dims}")
    d = sum(dims)
    Js = np.asarray(Js, dtype=np.float64)
    if Js.ndim == 2:
        Js = Js[None]
    if Js.ndim != 3 or Js.shape[1:] != (d, d) or Js.shape[0] == 0:
        raise ValueError(f"Jacobians must have shape (K, {d}, {d}) for dims {dims}, "
                         f"got {Js.shape}")
    if not np.isfinite(Js).all():
        raise ValueError("Jacobians must be finite")
    return Js


def _distinct(Js: np.ndarray) -> np.ndarray:
    """Exact duplicates removed (box vertices and constant Jacobians repeat), order kept."""
    _, first = np.unique(Js.reshape(Js.shape[0], -1), axis=0, return_index=True)
    return Js[np.sort(first)]


def _block_diag(blocks) -> np.ndarray:
    d = sum(b.shape[0] for b in blocks)
    out, start = np.zeros((d, d)), 0
    for b in blocks:
        out[start:start + b.shape[0], start:start + b.shape[0]] = b
        start += b.shape[0]
    return out


def _normalised(blocks) -> list[np.ndarray]:
    """Scaled so that trace(P_1) / d_1 = 1 (w_1 = 1 for scalar weights): only ratios matter."""
    c = np.trace(blocks[0]) / blocks[0].shape[0]
    return [np.asarray(b, dtype=np.float64) / c for b in blocks]
