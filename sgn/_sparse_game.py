"""Games given by one joint field over the flat vector, with a sparse coupling graph.

    game = sgn.Game.from_joint_field(field, dims=[1] * 10_000, region=sgn.Box(-1, 1),
                                     coupling=edges)      # optional: detected otherwise

A network game of ten thousand players cannot be written as ten thousand cost functions, nor
bounded through a dense 10^4 x 10^4 Jacobian per sample point. Here the user writes
F(x) -> (F_1, ..., F_N) flattened, on the flat joint vector, and the partition into players
is `dims`. Which blocks J_ij = dF_i/dx_j may be non-zero (the coupling graph) is given, or
detected from F's program:

- "asdex": the global pattern of J by abstract interpretation of F's jaxpr (the asdex
  library): valid for every x, an over-approximation at worst (e.g. a coefficient that
  happens to be zero still counts as a dependency);
- "probe": the non-zeros of J at a few random points of the region, computed column by column
  with JVPs. An estimate: an entry that is zero at those points (a `where` branch not taken)
  is missed.

Either way, the sparse estimator (sgn/_sparse_bounds.py) checks the pattern at every sample
point: one more JVP along a random direction must equal the compressed Jacobian times that
direction, or the game is refused with the point where they differ.

The Jacobian's values come from compressed JVPs: columns that share no row get one colour,
and one JVP along the sum of a colour's unit vectors gives every entry of those columns.
The number of JVPs per point is the number of colours (about the largest row count of the
pattern, for a graph of bounded degree), not d.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from ._errors import GameDefinitionError
from ._game import Box, Game, _one_line

#: How the coupling graph is found when none is given: "auto" uses asdex when it is installed
#: and can read F's program, and probes otherwise.
SPARSITY_METHODS = ("auto", "asdex", "probe")

#: Random points (besides the centre) whose Jacobians the probe reads.
PROBE_POINTS = 2

#: Up to this many coordinates the Newton polish solves by a sparse LU, above by GMRES.
NEWTON_LU_LIMIT = 5000

#: Unit columns per vmapped JVP batch in the probe (memory: this many d-vectors at once).
PROBE_CHUNK = 256


class JointFieldGame(Game):
    """An N-player game given by its field on the flat joint vector (see module doc).

    Made by `sgn.Game.from_joint_field`; it is an `sgn.Game` in every other respect, so the
    dense estimators run on it too when it is small.
    """

    def __init__(self, field: Callable, dims: Sequence[int], region: Box, *,
                 coupling=None, sparsity: str = "auto", name: str = "game",
                 names: Sequence[str] | None = None, constrained: bool = False,
                 equilibrium=None):
        if sparsity not in SPARSITY_METHODS:
            raise GameDefinitionError(
                f"sparsity must be one of {', '.join(SPARSITY_METHODS)}, got {sparsity!r}")
        self._sparsity = sparsity
        self._given_coupling = coupling
        super().__init__(None, dims, region, name=name, names=names,
                         constrained=constrained, field=field, equilibrium=equilibrium)
        if coupling is not None:
            self._given_blocks = _coupling_graph(coupling, self.n_players)

    # --- the field on the flat vector -----------------------------------------------------

    def pseudo_gradient(self, x):
        return jnp.reshape(self._field(x), (-1,))

    def _check_field(self):
        if not callable(self._field):
            raise GameDefinitionError("field is not a function")
        shape = jax.ShapeDtypeStruct((self.dim,), jnp.float64)
        try:
            program, out = jax.make_jaxpr(self._field, return_shape=True)(shape)
        except Exception as exc:
            raise GameDefinitionError(
                f"the joint field fails on a vector of length {self.dim} (the sum of dims): "
                f"{_one_line(exc)}") from None
        self._check_indices(program, "the joint field")
        if getattr(out, "size", None) != self.dim:
            raise GameDefinitionError(
                f"the joint field returns shape {getattr(out, 'shape', '?')}; it must return "
                f"one entry per coordinate ({self.dim}, the sum of dims)")

    def _player_shapes(self):   # what the smoothness check traces the field with
        return [jax.ShapeDtypeStruct((self.dim,), jnp.float64)]

    @cached_property
    def non_smooth(self) -> str | None:
        from ._jaxpr import non_smooth_operation

        return non_smooth_operation(self._field_program)    # traced once, as for Game

    # --- the coupling graph and the Jacobian's pattern -------------------------------------

    @cached_property
    def _pattern(self) -> tuple[sp.csr_matrix, str]:
        if self._given_coupling is not None:
            return _expand_blocks(self._given_blocks, self.dims, self.offsets), "given"
        method = self._sparsity
        if method in ("auto", "asdex"):
            found, problem = _asdex_pattern(self)
            if found is not None:
                return found, "asdex"
            if method == "asdex":
                raise GameDefinitionError(f"asdex could not detect the Jacobian's pattern: "
                                          f"{problem}; give coupling=... or sparsity='probe'")
        return probe_pattern(self), "probe"

    @property
    def entry_pattern(self) -> sp.csr_matrix:
        """Which entries of J (d x d) may be non-zero (boolean CSR, diagonal included)."""
        return self._pattern[0]

    @property
    def pattern_source(self) -> str:
        """"given" (coupling graph from the user), "asdex" (traced, valid everywhere) or
        "probe" (non-zeros seen at a few points: an estimate)."""
        return self._pattern[1]

    @cached_property
    def block_pattern(self) -> sp.csr_matrix:
        """Which blocks J_ij may be non-zero (N x N boolean CSR, the diagonal included)."""
        if self._given_coupling is not None:
            return self._given_blocks
        owner = np.repeat(np.arange(self.n_players), self.dims)
        S = self.entry_pattern.tocoo()
        B = sp.coo_matrix((np.ones(S.nnz, dtype=bool), (owner[S.row], owner[S.col])),
                          shape=(self.n_players,) * 2).tocsr()
        B = (B + sp.eye(self.n_players, dtype=bool, format="csr")).astype(bool)
        B.sum_duplicates()
        return B

    @cached_property
    def colouring(self) -> np.ndarray:
        """A colour per column of J such that columns of one colour share no row."""
        return colour_columns(self.entry_pattern)

    def newton_direction(self, x, F) -> np.ndarray:
        """J(x)^-1 F by a sparse LU of the compressed Jacobian (the equilibrium search's
        Newton polish; a dense d x d Jacobian is what this game avoids)."""
        import scipy.sparse.linalg as spla

        from ._sparse_bounds import _values_at, layout

        J = layout(self).matrix(_values_at(self, np.asarray(x)[None, :])[0]).tocsr()
        F = np.asarray(F, dtype=np.float64)
        if self.dim <= NEWTON_LU_LIMIT:
            try:
                return spla.splu(sp.csc_matrix(J)).solve(F)
            except RuntimeError:          # singular: no Newton step
                raise np.linalg.LinAlgError("singular Jacobian") from None
        # A sparse LU fills in on graphs with long links (minutes at 30,000 players on the
        # network example): GMRES with a Jacobi preconditioner instead; the polish keeps a
        # step only when the residual falls, so an inexact direction costs nothing.
        d = J.diagonal()
        M = spla.LinearOperator(J.shape, matvec=lambda v: v / np.where(d != 0, d, 1.0))
        step, info = spla.gmres(J, F, M=M, rtol=1e-13, atol=0.0, restart=60, maxiter=20)
        if info < 0 or not np.isfinite(step).all():
            raise np.linalg.LinAlgError("GMRES failed")
        return step

    def describe(self) -> dict:
        out = super().describe()
        B = self.block_pattern
        out["coupling_graph"] = {"source": self.pattern_source,
                                 "blocks": int(B.nnz - self.n_players),
                                 "entries": int(self.entry_pattern.nnz)}
        return out


def from_joint_field(field: Callable, *, dims: Sequence[int], region: Box, coupling=None,
                     sparsity: str = "auto", name: str = "game",
                     names: Sequence[str] | None = None, constrained: bool = False,
                     equilibrium=None) -> JointFieldGame:
    """A game given by its field on the flat joint vector: field(x) -> F(x), both length
    sum(dims); `coupling` (optional) says which blocks J_ij may be non-zero: an N x N boolean
    (dense or scipy.sparse) matrix, or a list of (i, j) pairs, 0-based, meaning player j's
    move may change player i's gradient. Without it the pattern is detected (`sparsity`)."""
    return JointFieldGame(field, dims, region, coupling=coupling, sparsity=sparsity, name=name,
                          names=names, constrained=constrained, equilibrium=equilibrium)


# --- the coupling graph ---------------------------------------------------------------------

def _coupling_graph(coupling, n: int) -> sp.csr_matrix:
    """The given coupling graph as an N x N boolean CSR with the diagonal set, checked."""
    # A matrix: scipy.sparse, a boolean array, or a square N x N array (an (m, 2) integer
    # array is an edge list).
    if sp.issparse(coupling) or (isinstance(coupling, np.ndarray) and coupling.ndim == 2 and (
            coupling.dtype == bool or coupling.shape == (n, n))):
        M = sp.csr_matrix(coupling)
        if M.shape != (n, n):
            raise GameDefinitionError(f"the coupling graph is {M.shape[0]} x {M.shape[1]}, but "
                                      f"the game has {n} players")
        M = (M != 0).astype(bool)
    else:
        try:
            edges = np.asarray(list(coupling), dtype=np.int64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise GameDefinitionError(
                "coupling must be an N x N boolean matrix (dense or scipy.sparse) or a list of "
                "(i, j) player pairs") from None
        bad = (edges < 0) | (edges >= n)
        if bad.any():
            k = int(np.flatnonzero(bad.any(axis=1))[0])
            raise GameDefinitionError(
                f"coupling edge {tuple(int(v) for v in edges[k])} names a player outside "
                f"0 ... {n - 1} (players are numbered from 0 in the edge list)")
        M = sp.coo_matrix((np.ones(len(edges), dtype=bool), (edges[:, 0], edges[:, 1])),
                          shape=(n, n)).tocsr()
    M = (M + sp.eye(n, dtype=bool, format="csr")).astype(bool)
    M.sum_duplicates()
    return M


def _expand_blocks(blocks: sp.csr_matrix, dims, offsets) -> sp.csr_matrix:
    """Every entry of every block the graph allows (dense blocks)."""
    B = blocks.tocoo()
    dims = np.asarray(dims)
    offsets = np.asarray(offsets[:-1])
    d = int(dims.sum())
    if (dims == 1).all():     # scalar players: the graph is the pattern
        return sp.csr_matrix((np.ones(B.nnz, dtype=bool), (B.row, B.col)), shape=(d, d))
    rows, cols = [], []
    for i, j in zip(B.row, B.col):
        r = offsets[i] + np.arange(dims[i])
        c = offsets[j] + np.arange(dims[j])
        rows.append(np.repeat(r, dims[j]))
        cols.append(np.tile(c, dims[i]))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(d, d))


def _asdex_pattern(game: Game):
    """(pattern, None) from asdex, or (None, why not)."""
    try:
        import asdex
    except ImportError:
        return None, "asdex is not installed (pip install asdex)"
    try:
        found = asdex.jacobian_sparsity(game.pseudo_gradient, jnp.asarray(game.region.centre))
        M = found.to_bcoo()
        rows, cols = np.asarray(M.indices[:, 0]), np.asarray(M.indices[:, 1])
    except Exception as exc:   # an operation asdex does not know: probe instead
        return None, _one_line(exc)
    d = game.dim
    S = sp.csr_matrix((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(d, d))
    return (S + sp.eye(d, dtype=bool, format="csr")).astype(bool), None


def probe_pattern(game: Game, points: int = PROBE_POINTS, seed: int = 0) -> sp.csr_matrix:
    """The non-zeros of J at the centre and `points` random points of the region (an
    estimate of the pattern), by JVPs along unit vectors in chunks; the diagonal is set."""
    d = game.dim
    rng = np.random.default_rng(seed)
    xs = [game.region.centre] + [game.region.low + rng.random(d) * game.region.width
                                 for _ in range(points)]

    @jax.jit
    def columns(x, start):
        eye = jax.nn.one_hot(start + jnp.arange(PROBE_CHUNK), d, dtype=jnp.float64)
        # lax.map, not vmap: XLA's CPU gather is far slower batched (measured 4x on a
        # gather-based network field)
        return jax.lax.map(lambda v: jax.jvp(game.pseudo_gradient, (x,), (v,))[1], eye)

    rows, cols = [np.arange(d)], [np.arange(d)]
    for x in xs:
        x = jnp.asarray(x)
        for start in range(0, d, PROBE_CHUNK):
            block = np.asarray(columns(x, start))[: d - start]    # (chunk, d): J[:, col]
            c, r = np.nonzero(block)
            rows.append(r)
            cols.append(c + start)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    S = sp.csr_matrix((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(d, d))
    S.sum_duplicates()
    return S.astype(bool)


def colour_columns(pattern: sp.csr_matrix) -> np.ndarray:
    """Greedy distance-2 colouring of the columns (largest column first): two columns that
    share a row get different colours, so one JVP per colour recovers every entry."""
    S = sp.csr_matrix(pattern, dtype=bool)
    d = S.shape[1]
    C = S.tocsc()
    # Columns sharing a row with column j: rows of j, then those rows' columns.
    order = np.argsort(-np.diff(C.indptr), kind="stable")
    colour = np.full(d, -1, dtype=np.int64)
    r_ptr, r_idx = S.indptr, S.indices
    c_ptr, c_idx = C.indptr, C.indices
    mark = np.full(d + 1, -1, dtype=np.int64)      # mark[c] = j: colour c is taken near j
    for j in order:
        rows = c_idx[c_ptr[j]:c_ptr[j + 1]]
        if rows.size:
            near = np.concatenate([r_idx[r_ptr[r]:r_ptr[r + 1]] for r in rows])
            taken = colour[near]
            mark[taken[taken >= 0]] = j
        c = 0
        while mark[c] == j:
            c += 1
        colour[j] = c
    return colour
