"""Sampled bounds for many players on a sparse coupling graph (docs/method.md, "Sparse games").

    estimator = sgn.SparseSampled()          # chosen by certify for large joint-field games
    bounds = estimator.bounds(game)          # mu (N,), L (N x N scipy.sparse CSR), gamma, beta
    metric = estimator.in_metric(game, game.metric(w), bounds)

The same quantities as `sgn.Sampled`, measured only where the coupling graph allows a non-zero
block. At every sample point the Jacobian's non-zeros come from compressed JVPs (one per
colour of the pattern's columns, sgn/_sparse_game.py), evaluated in batches of points whose
size follows a memory budget, on an executor when one is given (the batches' results are
combined in batch order, so they do not depend on it). Then per point:

- mu_i = lambda_min(sym J_ii) and L_ij = ||J_ij||_2 for each block the graph allows, batched
  over blocks of equal shape (closed forms for scalar players);
- a cheap screen of the whole Jacobian: Gershgorin's lower bound on lambda_min(sym J) and
  sqrt(||J||_1 ||J||_inf) >= ||J||_2.

gamma = lambda_min(sym J) and beta = ||J||_2 (and, in a metric, the margin and beta(w) of
W^1/2 J W^-1/2) are sparse eigen-solves (ARPACK through scipy) at the centre and at the points
the screen ranks worst (`eigen_points` of each), not at every sample. All of it is estimates
at points: the extremes over the samples, without the dense estimator's local search (so with
no search allowance), recorded as such in the certificate.

A pattern check runs beside: one more JVP along a random direction per point must equal the
compressed Jacobian times that direction; where it does not, the coupling graph (given, or
probed at a few points) misses a non-zero block and the game is refused with the point.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import _config
from ._bounds import Bounds, MetricBounds, Progress
from ._errors import GameDefinitionError
from ._game import Game, _short, not_finite_error
from ._metric import as_metric
from ._sampling import sample_points

#: Default sample points: each costs (colours + 1) JVPs, and the points themselves take
#: samples x d floats (10 MiB for 128 points of 10,000 players).
DEFAULT_SAMPLES = 128

#: Points (besides the centre) where each whole-Jacobian quantity is eigen-solved: those the
#: screen ranks worst for it.
EIGEN_POINTS = 4

#: Relative mismatch between the compressed Jacobian times a random direction and the JVP
#: along it above which the pattern misses a non-zero (both are sums of the same products in
#: different orders, so rounding stays far below this).
PATTERN_RTOL = 1e-8

#: ARPACK's relative tolerance on the extreme eigenvalues and singular values.
EIGEN_TOL = 1e-12


@dataclasses.dataclass(frozen=True)
class SparseSampled:
    """Sampled bounds per non-zero block of a sparse coupling graph (module doc): estimates,
    never proofs (verified = False), like `sgn.Sampled`, without its local search.

    Attributes:
        samples, seed: sample points of the region, and their seed.
        eigen_points: points besides the centre where gamma, beta and the metric quantities
            are eigen-solved (the worst by the screen).
        executor: a concurrent.futures.Executor for the batches of points (None: here).
        batch_bytes: memory budget of one batch's compressed JVPs.
    """

    samples: int = DEFAULT_SAMPLES
    seed: int = _config.DEFAULT_SEED
    eigen_points: int = EIGEN_POINTS
    executor: object = dataclasses.field(default=None, compare=False, repr=False)
    batch_bytes: int = _config.CHUNK_BYTES
    name = "sampled"
    measures_points = True
    #: The weight search from dense scenario Jacobians (sgn/_metric_search.py) does not run.
    searches_metric = False

    def bounds(self, game: Game, *, progress: Progress | None = None) -> Bounds:
        return sparse_bounds(game, self, progress=progress)

    def in_metric(self, game: Game, metric, bounds: Bounds, *,
                  progress: Progress | None = None) -> MetricBounds:
        return sparse_in_metric(game, metric, bounds, self, progress=progress)


# --- where the values go: the layout of the pattern ---------------------------------------------

class Layout:
    """The entry pattern of J and where each block's entries sit among its values."""

    def __init__(self, game: Game):
        S = sp.csr_matrix(game.entry_pattern, dtype=bool)
        S.sort_indices()
        coo = S.tocoo()
        self.d, self.n = game.dim, game.n_players
        self.rows, self.cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
        self.nnz = self.rows.size
        self.keys = self.rows * self.d + self.cols           # sorted (CSR order)
        self.colour = np.asarray(game.colouring)
        self.colours = int(self.colour.max()) + 1
        self.seeds = np.zeros((self.colours, self.d))
        self.seeds[self.colour, np.arange(self.d)] = 1.0
        self.diagonal = np.flatnonzero(self.rows == self.cols)
        dims, offsets = np.asarray(game.dims), np.asarray(game.offsets[:-1])
        self.dims, self.offsets = dims, offsets
        B = sp.csr_matrix(game.block_pattern, dtype=bool)
        B.sort_indices()
        B = B.tocoo()
        off = B.row != B.col
        self.block_rows, self.block_cols = B.row[off], B.col[off]   # CSR order
        self.scalar = bool((dims == 1).all())
        if self.scalar:
            self.own_index = self._lookup(offsets, offsets)
            self.coupling_index = self._lookup(self.block_rows, self.block_cols)
        else:
            self.own_groups = self._groups(np.arange(self.n), np.arange(self.n))
            self.coupling_groups = self._groups(self.block_rows, self.block_cols)

    def _lookup(self, r, c) -> np.ndarray:
        """Positions of entries (r, c) among the values; nnz (a zero) where not in the
        pattern."""
        key = np.asarray(r, dtype=np.int64) * self.d + np.asarray(c, dtype=np.int64)
        at = np.searchsorted(self.keys, key)
        at = np.minimum(at, self.nnz - 1)
        return np.where(self.keys[at] == key, at, self.nnz)

    def _groups(self, bi, bj):
        """[(members, index (m, di, dj))] per block shape: members are positions in bi."""
        groups = []
        shapes = np.stack([self.dims[bi], self.dims[bj]], axis=1)
        for di, dj in np.unique(shapes, axis=0):
            members = np.flatnonzero((shapes[:, 0] == di) & (shapes[:, 1] == dj))
            r = self.offsets[bi[members]][:, None, None] + np.arange(di)[None, :, None]
            c = self.offsets[bj[members]][:, None, None] + np.arange(dj)[None, None, :]
            r, c = np.broadcast_arrays(r, c)
            groups.append((members, self._lookup(r, c)))
        return groups

    # --- per-point quantities (numpy, a batch of points at once) ---------------------------

    def padded(self, vals: np.ndarray) -> np.ndarray:
        return np.concatenate([vals, np.zeros((vals.shape[0], 1))], axis=1)

    def curvature(self, vals: np.ndarray) -> np.ndarray:
        """lambda_min(sym J_ii) per point and player: (B, N)."""
        v = self.padded(vals)
        if self.scalar:
            return v[:, self.own_index]
        out = np.empty((vals.shape[0], self.n))
        for members, index in self.own_groups:
            blocks = v[:, index]
            out[:, members] = np.linalg.eigvalsh(0.5 * (blocks + np.swapaxes(blocks, -1, -2))
                                                 )[..., 0]
        return out

    def coupling(self, vals: np.ndarray) -> np.ndarray:
        """||J_ij||_2 per point and allowed block (CSR order): (B, E)."""
        v = self.padded(vals)
        if self.scalar:
            return np.abs(v[:, self.coupling_index])
        out = np.empty((vals.shape[0], self.block_rows.size))
        for members, index in self.coupling_groups:
            blocks = v[:, index]
            if 1 in blocks.shape[-2:]:
                out[:, members] = np.sqrt(np.sum(blocks * blocks, axis=(-2, -1)))
            else:
                out[:, members] = np.linalg.svd(blocks, compute_uv=False)[..., 0]
        return out

    def screens(self, vals: np.ndarray, root=None) -> tuple[np.ndarray, np.ndarray]:
        """Per point: Gershgorin's lower bound on lambda_min(sym A) and sqrt(||A||_1
        ||A||_inf) >= ||A||_2, A = D J D^-1 (D = diag(root), or J)."""
        a = vals if root is None else vals * (root[self.rows] / root[self.cols])[None, :]
        absa = np.abs(a)
        off = np.where(self.rows != self.cols, 1.0, 0.0)
        # Off-diagonal absolute row and column sums as sparse products (B x nnz) @ (nnz x d).
        to_rows = sp.csr_matrix((off, (np.arange(self.nnz), self.rows)),
                                shape=(self.nnz, self.d))
        to_cols = sp.csr_matrix((off, (np.arange(self.nnz), self.cols)),
                                shape=(self.nnz, self.d))
        row = np.asarray((to_rows.T @ absa.T).T)
        col = np.asarray((to_cols.T @ absa.T).T)
        diag = np.zeros((a.shape[0], self.d))
        diag[:, self.rows[self.diagonal]] = a[:, self.diagonal]
        gersh = np.min(diag - 0.5 * (row + col), axis=1)
        rsum = row + np.abs(diag)
        csum = col + np.abs(diag)
        return gersh, np.sqrt(rsum.max(axis=1) * csum.max(axis=1))

    def matrix(self, vals: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((vals, (self.rows, self.cols)), shape=(self.d, self.d))


def layout(game: Game) -> Layout:
    cache = game.__dict__.setdefault("_sparse_cache", {})
    if "layout" not in cache:
        if not hasattr(game, "entry_pattern"):
            raise GameDefinitionError(
                "the sparse estimator needs a game with a coupling graph: build it with "
                "sgn.Game.from_joint_field(field, dims=..., region=..., coupling=...)")
        cache["layout"] = Layout(game)
    return cache["layout"]


def _values_program(game: Game, lay: Layout):
    """Compiled: points (B, d), probe (d,) -> (values (B, nnz), pattern error (B,), finite
    (B,)): J's non-zeros at each point by compressed JVPs, and the pattern check."""
    cache = game.__dict__.setdefault("_sparse_cache", {})
    if "values" in cache:
        return cache["values"]
    seeds = jnp.asarray(lay.seeds)
    entry_colour = jnp.asarray(lay.colour[lay.cols])
    rows, cols = jnp.asarray(lay.rows), jnp.asarray(lay.cols)
    d = lay.d
    F = game.pseudo_gradient

    def one(x, probe):
        # lax.map, not vmap, over the JVPs and the points: XLA's CPU gather (how network
        # fields read their neighbours) is far slower batched (sgn/_sparse_game.py).
        y, _ = jax.jvp(F, (x,), (probe,))
        comp = jax.lax.map(lambda v: jax.jvp(F, (x,), (v,))[1],
                           jnp.concatenate([seeds, probe[None]]))
        vals = comp[entry_colour, rows]
        terms = vals * probe[cols]
        recon = jax.ops.segment_sum(terms, rows, num_segments=d)
        size = jax.ops.segment_sum(jnp.abs(terms), rows, num_segments=d) + jnp.abs(comp[-1])
        mismatch = jnp.max(jnp.abs(recon - comp[-1]) / jnp.maximum(size, 1e-300))
        finite = jnp.isfinite(y).all() & jnp.isfinite(vals).all()
        return vals, mismatch, finite

    program = jax.jit(lambda X, probe: jax.lax.map(lambda x: one(x, probe), X))
    cache["values"] = program
    return program


@dataclasses.dataclass(frozen=True)
class Shipped:
    """What a worker needs for a batch, as plain data: the compressed-JVP program serialized by
    jax.export for one batch shape (StableHLO with the game's constants: no user code, no
    tracing on the worker), the layout, and the words of the pattern error."""

    program: bytes
    layout: Layout
    pattern_source: str


#: Deserialized programs, per process (a worker serves one or two games at a time).
_PROGRAMS: dict = {}


def _shipped(game: Game, size: int) -> Shipped:
    cache = game.__dict__.setdefault("_sparse_cache", {})
    key = ("shipped", size)
    if key not in cache:
        lay = layout(game)
        program = _values_program(game, lay)
        exported = jax.export.export(program)(
            jax.ShapeDtypeStruct((size, lay.d), jnp.float64),
            jax.ShapeDtypeStruct((lay.d,), jnp.float64))
        cache[key] = Shipped(bytes(exported.serialize()), lay, game.pattern_source)
    return cache[key]


def _run(task: Shipped, points: np.ndarray, seed: int, root):
    """One batch of points: the per-block extremes over it (with their rows), the screens and
    the pattern check. Runs the same serialized program in-process or on any executor's
    worker, so the numbers do not depend on where it runs."""
    import hashlib

    lay = task.layout
    digest = hashlib.sha256(task.program).hexdigest()
    if digest not in _PROGRAMS:
        if len(_PROGRAMS) > 4:
            _PROGRAMS.clear()
        _PROGRAMS[digest] = jax.export.deserialize(bytearray(task.program))
    probe = np.random.default_rng([seed, 7]).standard_normal(lay.d)
    vals, mismatch, finite = (np.asarray(a) for a in _PROGRAMS[digest].call(
        jnp.asarray(points), jnp.asarray(probe)))
    bad = np.flatnonzero(~finite)
    if bad.size:
        raise not_finite_error(points[bad[0]])
    wrong = np.flatnonzero(mismatch > PATTERN_RTOL)
    if wrong.size:
        k = int(wrong[0])
        raise GameDefinitionError(
            f"the coupling graph ({task.pattern_source}) misses non-zero entries of the "
            f"Jacobian at x = {_short(points[k])} (relative mismatch {mismatch[k]:.3g} along a "
            "random direction): give the full coupling graph, or let sgn trace it "
            "(sparsity='asdex')")
    out = {"screens": lay.screens(vals, root)}
    if root is None:
        mu = lay.curvature(vals)
        L = lay.coupling(vals)
        out["mu"] = (mu.min(axis=0), mu.argmin(axis=0))
        out["L"] = (L.max(axis=0), L.argmax(axis=0)) if L.shape[1] else (
            np.zeros(0), np.zeros(0, dtype=np.int64))
    return out


def _batches(game: Game, estimator: SparseSampled, points: np.ndarray, root, progress,
             what: str):
    """_run over the points in memory-bounded batches, on the estimator's executor; results
    in batch order, with each batch's first row."""
    lay = layout(game)
    per_point = 8 * lay.d * (lay.colours + 2) + 16 * lay.nnz
    size = max(1, min(len(points), estimator.batch_bytes // max(per_point, 1)))
    starts = list(range(0, len(points), size))
    chunks = [np.asarray(points[s:s + size]) for s in starts]
    # Pad the last batch to the common size: one compiled (and shipped) shape.
    last = chunks[-1]
    if len(last) < size:
        chunks[-1] = np.concatenate([last, np.repeat(last[:1], size - len(last), axis=0)])
    task = _shipped(game, size)
    if estimator.executor is None:
        results = []
        for k, chunk in enumerate(chunks):
            if progress:
                progress(k, len(chunks), what)
            results.append(_run(task, chunk, estimator.seed, root))
    else:
        futures = [estimator.executor.submit(_run, task, chunk, estimator.seed, root)
                   for chunk in chunks]
        results = [f.result() for f in futures]
    if progress:
        progress(len(chunks), len(chunks), what)
    # Drop the padding's rows (copies of a real point: the extremes are unchanged, but the
    # screens must count each point once).
    n_last = len(points) - starts[-1]
    results[-1]["screens"] = tuple(a[:n_last] for a in results[-1]["screens"])
    return starts, results


def _combine(starts, results, key):
    """Extremes over all batches, in batch order (ties: the earliest point)."""
    values = np.stack([r[key][0] for r in results])
    rows = np.stack([r[key][1] + s for r, s in zip(results, starts)])
    best = values.argmin(axis=0) if key == "mu" else values.argmax(axis=0)
    pick = np.arange(values.shape[1])
    return values[best, pick], rows[best, pick]


def _eigen_indices(screen_low: np.ndarray, screen_high: np.ndarray, k: int):
    """The centre (row 0) and the k rows each screen ranks worst (stable order)."""
    low = np.argsort(screen_low, kind="stable")[:k]
    high = np.argsort(-screen_high, kind="stable")[:k]
    return np.unique(np.concatenate([[0], low])), np.unique(np.concatenate([[0], high]))


def lambda_min_sym(A: sp.spmatrix) -> float:
    """lambda_min((A + A^T) / 2) by ARPACK (Lanczos): an estimate, converged to EIGEN_TOL."""
    S = (0.5 * (A + A.T)).tocsr()
    if S.shape[0] <= 64:
        return float(np.linalg.eigvalsh(S.toarray())[0])
    return float(spla.eigsh(S, k=1, which="SA", tol=EIGEN_TOL, return_eigenvectors=False,
                            maxiter=20 * S.shape[0], v0=_start(S.shape[0]))[0])


def norm2(A: sp.spmatrix) -> float:
    """||A||_2 by ARPACK on A^T A (through svds): an estimate, converged to EIGEN_TOL."""
    if A.shape[0] <= 64:
        return float(np.linalg.norm(A.toarray(), 2))
    return float(spla.svds(A, k=1, which="LM", tol=EIGEN_TOL, return_singular_vectors=False,
                           maxiter=20 * A.shape[0], v0=_start(min(A.shape)))[0])


def _start(n: int) -> np.ndarray:
    """ARPACK's starting vector, fixed: its default is random, and the same bounds must come
    out of every run and every executor."""
    return np.random.default_rng(n).standard_normal(n)


def _values_at(game: Game, points: np.ndarray) -> np.ndarray:
    lay = layout(game)
    probe = np.zeros(lay.d)
    vals, _, _ = _values_program(game, lay)(jnp.asarray(points), jnp.asarray(probe))
    return np.asarray(vals)


def sparse_bounds(game: Game, estimator: SparseSampled | None = None, *,
                  progress: Progress | None = None) -> Bounds:
    """mu_i, L_ij (scipy.sparse CSR), gamma and beta on game.region (module doc)."""
    estimator = estimator or SparseSampled()
    if estimator.samples < 1:
        raise GameDefinitionError("samples must be >= 1")
    lay = layout(game)
    points = sample_points(game.region, estimator.samples, estimator.seed)
    starts, results = _batches(game, estimator, points, None, progress, "sparse bounds")
    mu, mu_at = _combine(starts, results, "mu")
    L_vals, L_at = _combine(starts, results, "L")
    gersh = np.concatenate([r["screens"][0] for r in results])
    upper = np.concatenate([r["screens"][1] for r in results])
    low_rows, high_rows = _eigen_indices(gersh, upper, estimator.eigen_points)
    gamma_vals = _values_at(game, points[low_rows])
    gammas = [lambda_min_sym(lay.matrix(v)) for v in gamma_vals]
    beta_vals = _values_at(game, points[high_rows])
    betas = [norm2(lay.matrix(v)) for v in beta_vals]
    g, b = int(np.argmin(gammas)), int(np.argmax(betas))
    coupling = sp.csr_matrix((L_vals, (lay.block_rows, lay.block_cols)),
                             shape=(lay.n, lay.n))
    n = lay.n
    locations = {"curvature_rows": mu_at, "coupling_rows": L_at,
                 "euclidean_margin": points[low_rows[g]], "lipschitz": points[high_rows[b]]}
    allowances = {"curvature": np.zeros(n), "coupling": 0.0, "euclidean_margin": 0.0,
                  "lipschitz": 0.0}
    search = {"starts": 0, "max_evaluations": 0, "estimator": "sparse",
              "coupling_graph": game.pattern_source, "colours": lay.colours,
              "eigen_points": {"euclidean_margin": int(low_rows.size),
                               "lipschitz": int(high_rows.size)}}
    evaluated = len(points) + low_rows.size + high_rows.size
    return Bounds(mu, coupling, float(gammas[g]), float(betas[b]), "sampled", False,
                  estimator.samples, estimator.seed, int(evaluated), points, locations,
                  allowances, search)


def sparse_in_metric(game: Game, metric, bounds: Bounds,
                     estimator: SparseSampled | None = None, *,
                     progress: Progress | None = None) -> MetricBounds:
    """beta(w) = ||A||_2 and the metric margin lambda_min(sym A), A = M^1/2 J M^-1/2, by
    sparse eigen-solves at the centre and the points the scaled screen ranks worst."""
    estimator = estimator or SparseSampled(samples=bounds.samples, seed=bounds.seed)
    metric = as_metric(game, metric)
    lay = layout(game)
    root = np.asarray(metric.root)
    points = bounds.points
    _, results = _batches(game, estimator, points, root, progress, "sparse metric pass")
    gersh = np.concatenate([r["screens"][0] for r in results])
    upper = np.concatenate([r["screens"][1] for r in results])
    low_rows, high_rows = _eigen_indices(gersh, upper, estimator.eigen_points)
    scale = (root[lay.rows] / root[lay.cols])[None, :]
    margins = [lambda_min_sym(lay.matrix(v)) for v in _values_at(game, points[low_rows]) * scale]
    betas = [norm2(lay.matrix(v)) for v in _values_at(game, points[high_rows]) * scale]
    g = int(np.argmin(margins))
    return MetricBounds(float(max(betas)), float(margins[g]), points[low_rows[g]],
                        int(len(points) + low_rows.size + high_rows.size),
                        {"lipschitz": 0.0, "margin": 0.0})
