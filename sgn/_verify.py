"""Re-check a certificate someone handed you.

    verify(cert, game)  ->  Verification

Every claim of the certificate is checked one of four ways (`Check.how`):

- "recomputed": derived from the certificate's own numbers, independently: the margin by a
  dense eigen-solve of the SGN matrix as docs/method.md ("The SGN lemma") writes it, the
  status, rates, step sizes, band, sgn_gap, euclidean_monotone, and the basin (from the
  region, x* and the weights, by the function certify uses);
- "traced": decided from the game's traced program: whether its Jacobian is constant, which
  an "exact" certificate (and `estimator.constant_jacobian`) claims;
- "re-measured": measured on the game again: the residual at the stored x*, and, for an
  exact certificate (constant Jacobian), every bound by one exact evaluation;
- "sampled": fresh samples with a new seed plus local search, which can refute a bound but
  never prove it: curvature mu_i, coupling L_ij, beta, alpha and the stored metric margin in
  the certified metric, the Euclidean margin gamma and Lipschitz constant;
- "re-proved": the curvature and coupling bounds of an interval certificate, proved again by
  branch and bound with the certificate's box budget (the boxes it enclosed, as recorded;
  seconds are only a safety limit); a stored bound tighter than the one re-proved fails. In a
  block-matrix metric (the metric ladder's eigenbasis, full-block or joint rung) the margin
  and beta are proved again in the metric the certificate records, by the block-matrix metric
  pass with the boxes it enclosed, and the direct steps' factors on that pass's partition.

Certificates made matrix-free (estimator.operator "matrix-free"), and every game above
_config.MATRIX_FREE_DIM coordinates, are re-sampled by sgn.MatrixFree: no d x d Jacobian is
formed; direct step sizes, which rest on dense Jacobians, are then not re-checked (a failing
check says so: "skipped").

Each failure says what broke, where, and by how much.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._bounds import estimate_bounds, estimate_contraction, estimate_in_metric
from ._config import DEFAULT_SAMPLES, MATRIX_FREE_DIM
from ._certificate import Certificate, Status
from ._dynamics import EQUILIBRIUM_FTOL, basin, residual
from ._errors import CertificateFormatError
from ._game import Game, _short
from ._metric import certificate_metric
from ._result import Result
from ._step_search import centre_jacobian, combined_steps
from ._steps import STEP_FIELDS, StepSizes, step_sizes
from ._schema import coupling_matrix
from ._sparse_bounds import DEFAULT_SAMPLES as SPARSE_SAMPLES
from ._weights import two_player_band
from ._weights._sparse import margin_matrix as sparse_margin_matrix
from ._weights._sparse import sparse_rho, sparse_tau, z_matrix_lambda_min
from ._wording import margin_route, structure_text

#: Relative agreement asked of spectral radii and margins recomputed by ARPACK from a sparse
#: coupling (iterative: converged to about this, not to rounding).
SPARSE_RTOL = 1e-6

#: Past this many players, the basin's player radii are one check (their largest deviation).
MANY_PLAYERS = 64

#: Relative agreement asked of recomputed numbers (they come from the same formulas, so only
#: rounding separates them), and of fresh bounds against stored ones.
RECOMPUTE_RTOL = 1e-8


@dataclasses.dataclass(frozen=True)
class Check(Result):
    """One re-check: what was compared, the stored and the recomputed value, and the verdict."""

    name: str
    ok: bool
    stored: object
    found: object
    message: str
    point: list | None = None
    how: str = "recomputed"


@dataclasses.dataclass(frozen=True)
class Verification(Result):
    """All checks of one certificate against one game; `ok` when every check holds."""

    game: str
    samples: int
    seed: int
    checks: list

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list:
        return [c for c in self.checks if not c.ok]


def read_certificate(path: str | Path) -> Certificate:
    path = Path(path)
    if not path.is_file():
        raise CertificateFormatError(f"certificate file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CertificateFormatError(f"cannot read certificate {path}: {exc}") from None
    return Certificate.from_json(text)


def check_same_game(cert: Certificate, game: Game) -> None:
    """Refuse (CertificateFormatError) a game that is not the one the certificate is about."""
    stored = cert.game
    dims = [p["dim"] for p in stored["players"]]
    if dims != list(game.dims):
        raise CertificateFormatError(
            f"the certificate is for players of dims {dims}, the game has {list(game.dims)}")
    if game.pytree_players is not None:
        # pytree players: the same dims with other leaves would lay the joint vector out
        # differently (each coordinate a different parameter), so the listed leaves must agree
        for k, (p, entry) in enumerate(zip(stored["players"], game.describe()["players"])):
            if p.get("structure") is not None and p["structure"] != entry["structure"]:
                raise CertificateFormatError(
                    f"the certificate's player {k + 1} ({p['name']}) has other parameter "
                    f"leaves than the game's ({structure_text(p['structure'])}, the game has "
                    f"{structure_text(entry['structure'])})")
    if stored["name"] != game.name:
        raise CertificateFormatError(
            f"the certificate is for the game {stored['name']!r}, not {game.name!r}")
    region = stored["region"]
    try:
        low = np.asarray(region["low"], dtype=float)
        high = np.asarray(region["high"], dtype=float)
    except (KeyError, TypeError, ValueError):
        raise CertificateFormatError("the certificate's region is malformed") from None
    # Exactly: the region is part of the claim (JSON keeps float64 values exactly).
    same = (low.shape == game.region.low.shape and np.array_equal(low, game.region.low)
            and np.array_equal(high, game.region.high))
    if not same or bool(region.get("constrained")) != game.constrained:
        raise CertificateFormatError("the certificate's region differs from the game's region")


def verify(cert: Certificate, game: Game, *, samples: int | None = None,
           seed: int | None = None, max_seconds: float | None = None) -> Verification:
    """Re-check `cert` against `game`: recomputed numbers, the traced program, the game at x*,
    fresh samples (new seed), and for interval certificates the bounds proved again.

    Interval bounds are re-proved up to the boxes the certificate's run enclosed (its box
    budget, recorded); `max_seconds` is only a safety limit on that (default: twice the
    certificate's, at least `_interval._budget.DEFAULT_MAX_SECONDS`).
    """
    check_same_game(cert, game)
    # The file's sample count is not trusted to set how hard it is checked: at least the
    # default, more when the certificate itself used more (a matrix-free re-check: at least
    # sgn.MatrixFree's default screen, whose points each cost Krylov runs, not one Jacobian; a
    # sparse one: sgn.SparseSampled's default).
    if (cert.estimator.get("search") or {}).get("estimator") == "sparse":
        floor = SPARSE_SAMPLES
    elif _matrix_free(cert, game):
        floor = _matrix_free_estimator().samples
    else:
        floor = DEFAULT_SAMPLES
    samples = int(samples or max(floor, cert.estimator["samples"]))
    seed = int(cert.estimator["seed"]) + 1 if seed is None else int(seed)
    checks = (_recomputed(cert) + _basin_checks(cert, game) + _traced(cert, game)
              + _resampled(cert, game, samples, seed) + _equilibrium_checks(cert, game)
              + _reproved(cert, game, max_seconds))
    return Verification(game.name, samples, seed, checks)


# --- from the certificate's own numbers ----------------------------------------------------------

def _close(a, b, floor: float = 0.0) -> bool:
    """Relative agreement, plus an absolute `floor` for values that may sit near zero."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RECOMPUTE_RTOL * max(abs(a), abs(b)) + floor


def _shown(value) -> str:
    """A stored or recomputed value as the certificate spells it (null: not stated)."""
    return "null" if value is None else f"{value}"


def _allowance(stored: float, found: float, scale: float) -> float:
    """How far fresh samples may pass a stored bound before it counts: rounding only."""
    return RECOMPUTE_RTOL * max(abs(stored), abs(found)) + 1e-12 * scale


def _recomputed(cert: Certificate) -> list[Check]:
    mu = np.asarray(cert.bounds["curvature"], dtype=float)
    L = coupling_matrix(cert.bounds["coupling"])      # scipy.sparse for a COO record
    sparse = sp.issparse(L)
    w = np.asarray(cert.weights, dtype=float)
    scale = max(float(np.abs(mu).max()), float(L.max()), 1e-300)
    checks = []

    def check(name, stored, found, what):
        ok = _close(stored, found)
        verdict = "agrees" if ok else "DISAGREES"
        checks.append(Check(name, ok, stored, found,
                            f"{what}: stored {_shown(stored)}, recomputed {_shown(found)} "
                            f"({verdict})"))

    if w[0] != 1.0 or (w <= 0).any():
        checks.append(Check("weights", False, cert.weights, None,
                            "weights must be positive with w_1 = 1"))
        return checks
    # alpha(w) = 1/2 lambda_min(W^-1/2 C(w) W^-1/2), C_ii = 2 w_i mu_i,
    # C_ij = -(w_i L_ij + w_j L_ji): written out again here, on purpose, from docs/method.md.
    if sparse:
        alpha, alpha_low = _sparse_alpha(w, mu, L)
    else:
        C = -(w[:, None] * L + (w[:, None] * L).T)
        C[np.diag_indices_from(C)] = 2.0 * w * mu
        root = 1.0 / np.sqrt(w)
        alpha = 0.5 * float(np.linalg.eigvalsh(root[:, None] * C * root[None, :])[0])
    # Which test the stored margin is (also for a certificate the equilibrium step made
    # inconclusive, whose certified_by is null but whose margin is still that test's).
    route = margin_route(cert)
    if route == "euclidean":
        alpha = float(cert.bounds["euclidean_margin"])
    elif route == "metric":
        # Weights searched from the Jacobians: the margin is the metric pass's own (stored as
        # diagnostics.metric_margin), re-measured below with fresh samples.
        alpha = float(cert.diagnostics["metric_margin"])
    stored_alpha = float(cert.margin)
    ok = _close(stored_alpha, alpha, 1e-12 * scale)  # two eigen-solves of the same matrix
    if sparse and route == "sgn":
        # ARPACK's estimate is at or above lambda_min, the Collatz-Wielandt bound at or below
        # it (sgn/_weights/_sparse.py): the stored margin must lie between, up to rounding.
        ok = alpha_low - SPARSE_RTOL * scale <= stored_alpha <= alpha + 1e-12 * scale
    checks.append(Check("margin", ok, stored_alpha, alpha,
                        f"margin alpha: stored {stored_alpha:.12g}, recomputed {alpha:.12g}"
                        + ("" if ok else " (the stored margin is not what the bounds give)")))
    beta = float(cert.bounds["lipschitz"])
    certified = cert.status is Status.CERTIFIED
    if certified != (alpha > 0) and cert.status is not Status.INCONCLUSIVE:
        checks.append(Check("status", False, cert.status.value, alpha,
                            f"status {cert.status.value} contradicts the margin {alpha:.6g}"))
    if certified and not (stored_alpha > 0 and 0 < beta < math.inf):
        checks.append(Check("status", False, cert.status.value, stored_alpha,
                            f"status certified with margin {stored_alpha:.6g} and beta "
                            f"{beta:.6g}: a certificate needs margin > 0 and a finite beta > 0"))
    elif certified and cert.step_sizes is not None:
        fresh = step_sizes(stored_alpha, beta,
                           constrained=bool(cert.game["region"].get("constrained"))).to_dict()
        # SGN's own steps: the whole table (version 1, or no direct proof), else `alpha_beta`
        # beside the direct steps (those are recomputed from the game: _direct_step_checks).
        own = cert.step_sizes.get("alpha_beta")
        direct = cert.step_sizes.get("direct")
        # Without a direct proof the table itself must be SGN's steps (whatever `alpha_beta`
        # says); SGN's own steps are checked wherever they are stated.
        tables = [] if own is not None and direct else [("step_sizes", cert.step_sizes)]
        if own is not None:
            tables.append(("step_sizes.alpha_beta", own))
        for prefix, table in tables:
            for key in STEP_FIELDS:
                check(f"{prefix}.{key}", table[key], fresh[key], f"step size {key}")
        check("rates.flow", cert.rates["flow"], stored_alpha, "flow rate")
        # The rates are the table's factors at its recommended steps (the table is checked
        # above, or against the game in _direct_step_checks).
        table = cert.step_sizes if own is not None and direct else fresh
        check("rates.euler", cert.rates["euler"], table["euler_factor"], "Euler factor")
        check("rates.rk4", cert.rates["rk4"], table["rk4_factor"], "RK4 factor")
    diag = cert.diagnostics
    if "sgn_gap" in diag:
        gap = float(diag["metric_margin"]) - stored_alpha
        ok = _close(diag["sgn_gap"], gap, 1e-12 * scale)
        checks.append(Check("diagnostics.sgn_gap", ok, diag["sgn_gap"], gap,
                            f"sgn_gap = metric_margin - margin: stored {_shown(diag['sgn_gap'])}"
                            f", recomputed {gap:.12g}" + ("" if ok else " (DISAGREES)")))
    # rho(diag(mu)^-1 L) and tau(K), written out again from docs/method.md (section 2).
    if "spectral_radius" in diag:
        if sparse:
            rho = sparse_rho(mu, L)
        else:
            rho = (math.inf if (mu <= 0).any() else 0.0 if mu.size == 1 else
                   float(np.max(np.abs(np.linalg.eigvals(L / mu[:, None])))))
        stored = diag["spectral_radius"]
        ok = (stored is None) if math.isinf(rho) else (
            stored is not None and _close(float(stored), rho,
                                          (SPARSE_RTOL if sparse else 1e-9) * max(rho, 1.0)))
        checks.append(Check("diagnostics.spectral_radius", ok, stored, rho,
                            f"spectral radius rho(diag(mu)^-1 L): stored {_shown(stored)}, "
                            f"recomputed {_shown(None if math.isinf(rho) else rho)}"
                            + ("" if ok else " (DISAGREES)")))
    if "best_possible_margin" in diag:
        if sparse:
            tau = sparse_tau(mu, L)
        else:
            K = -L.copy()
            K[np.diag_indices_from(K)] = mu
            tau = float(np.min(np.linalg.eigvals(K).real))
        ok = _close(diag["best_possible_margin"], tau, (SPARSE_RTOL if sparse else 1e-9) * scale)
        checks.append(Check("diagnostics.best_possible_margin", ok, diag["best_possible_margin"],
                            tau, f"best possible margin tau(K): stored "
                            f"{_shown(diag['best_possible_margin'])}, recomputed {tau:.12g}"
                            + ("" if ok else " (DISAGREES)")))
    if "euclidean_monotone" in diag:
        monotone = float(cert.bounds["euclidean_margin"]) > 0
        ok = diag["euclidean_monotone"] is monotone
        checks.append(Check("diagnostics.euclidean_monotone", ok, diag["euclidean_monotone"],
                            monotone, f"euclidean_monotone = (gamma > 0): stored "
                            f"{diag['euclidean_monotone']}, recomputed {monotone}"
                            + ("" if ok else " (DISAGREES)")))
    eq = cert.equilibrium
    if certified:
        found = bool(eq and eq.get("found"))
        checks.append(Check("equilibrium.found", found, None if not eq else eq.get("found"), True,
                            "a certified status needs an equilibrium found in the region: "
                            + ("it is" if found else "the certificate has none (equilibrium."
                               "found is false or missing)")))
    elif eq and eq.get("found") and cert.status is Status.NOT_CERTIFIED:
        checks.append(Check("equilibrium.found", False, True, False,
                            "a not_certified certificate cannot state an equilibrium found"))
    if len(mu) == 2:
        band = two_player_band(mu, L)
        if (band is None) != (cert.band is None):
            checks.append(Check("band", False, cert.band, None if band is None else band.to_dict(),
                                "the band's existence disagrees with the bounds"))
        elif band is not None:
            found = band.to_dict()
            for key in ("low", "high", "best_ratio"):
                check(f"band.{key}", cert.band[key], found[key], f"band {key}")
    return checks


# --- from the game: its basin, its traced program, x* ---------------------------------------------

def _radius(value) -> float:
    return math.inf if value is None else float(value)


def _finite_or_none(value):
    """A radius as the certificate spells it: null for infinite."""
    return None if math.isinf(value) else float(value)


def _basin_checks(cert: Certificate, game: Game) -> list[Check]:
    """The basin from the region, x* and the weights, by the function certify uses."""
    eq = cert.equilibrium
    if not eq or not eq.get("found"):
        return []
    stored = eq.get("basin")
    fresh = basin(game, certificate_metric(game, cert), np.asarray(eq["x"], dtype=float))
    if not isinstance(stored, dict):
        return [Check("basin", False, stored, fresh.to_dict(),
                      "the equilibrium is found but the certificate states no basin")]
    checks = [Check("basin.kind", stored.get("kind") == fresh.kind, stored.get("kind"),
                    fresh.kind, f"basin kind: stored {stored.get('kind')!r}, recomputed "
                    f"{fresh.kind!r} ({'box' if game.constrained else 'ball'}: the game is "
                    f"{'' if game.constrained else 'not '}constrained)")]
    R = _radius(stored.get("metric_radius"))
    ok = (R == fresh.metric_radius if math.isinf(fresh.metric_radius) or math.isinf(R)
          else _close(R, fresh.metric_radius, 1e-12 * max(fresh.metric_radius, 1e-300)))
    checks.append(Check("basin.metric_radius", ok, stored.get("metric_radius"),
                        fresh.metric_radius,
                        f"basin metric radius: stored {_shown(stored.get('metric_radius'))}, "
                        f"recomputed {_shown(_finite_or_none(fresh.metric_radius))}"
                        + ("" if ok else " (DISAGREES: the ball is not the largest inside the "
                                         "region around x*)")))
    radii = stored.get("player_radii")
    if not isinstance(radii, list) or len(radii) != game.n_players:
        checks.append(Check("basin.player_radii", False, radii, fresh.player_radii,
                            f"basin player radii: stored {radii!r}, expected {game.n_players}"))
        return checks
    if game.n_players > MANY_PLAYERS:
        return checks + [_player_radii_check(radii, fresh.player_radii)]
    for i, (r, f) in enumerate(zip(radii, fresh.player_radii)):
        r = _radius(r) if isinstance(r, (int, float)) or r is None else math.nan
        ok = (r == f if math.isinf(f) or math.isinf(r)
              else _close(r, float(f), 1e-12 * max(float(f), 1e-300)))
        checks.append(Check(f"basin.player_radii[{i + 1}]", ok, radii[i], float(f),
                            f"basin radius of player {i + 1}: stored {_shown(radii[i])}, "
                            f"recomputed {_shown(_finite_or_none(f))}"
                            + ("" if ok else " (DISAGREES)")))
    return checks


def _traced(cert: Certificate, game: Game) -> list[Check]:
    """What the certificate says about the Jacobian being constant, against the traced program
    (`Game.has_constant_jacobian`): an "exact" certificate is a proof only when it is."""
    method = cert.estimator.get("method")
    claims = method == "exact" or bool(cert.estimator.get("constant_jacobian"))
    checks = []
    verified = method in ("exact", "interval")
    if cert.verified != verified:
        checks.append(Check("verified", False, cert.verified, verified,
                            f"verified is {cert.verified}, but estimator.method {method!r} "
                            f"{'proves' if verified else 'does not prove'} bounds"))
    if cert.verified and game.non_smooth is not None:
        checks.append(Check(
            "verified.smooth", False, True, game.non_smooth,
            f"verified is true, but F uses `{game.non_smooth}`, which sgn cannot confirm is "
            "smooth: bounds on its derivative do not cover F's kinks or jumps, so nothing is "
            "proved (docs/verified.md, \"Smooth games only\")", how="traced"))
    if claims or method == "exact":
        constant = bool(game.has_constant_jacobian)
        checks.append(Check(
            "estimator.constant_jacobian", constant, True, constant,
            "constant Jacobian (estimator.method 'exact'): the traced program "
            + ("confirms F is affine" if constant else
               "does not show F affine (its Jacobian reads x, or F uses an operation that can "
               "jump or kink), so exact bounds from one evaluation prove nothing"),
            how="traced"))
    return checks


def _equilibrium_checks(cert: Certificate, game: Game) -> list[Check]:
    """The residual at the stored x*, measured on the game again."""
    eq = cert.equilibrium
    if not eq:
        return []
    x = np.asarray(eq["x"], dtype=float)
    r = residual(game, x)
    beta = float(cert.bounds["lipschitz"])
    limit = EQUILIBRIUM_FTOL * beta * float(np.linalg.norm(game.region.width))
    checks = []
    if eq.get("found"):
        inside = bool(((x >= game.region.low) & (x <= game.region.high)).all())
        ok = r <= limit and math.isfinite(r) and inside
        checks.append(Check("equilibrium", ok, eq.get("residual"), r,
                            f"residual at the stored equilibrium: {r:.3g} (limit {limit:.3g})"
                            + ("" if inside else "; x* lies outside the region"),
                            None if ok else x.tolist(), how="re-measured"))
    stored = eq.get("residual")
    stored_r = math.nan if stored is None else float(stored)
    ok = math.isfinite(r) and abs(stored_r - r) <= max(limit, RECOMPUTE_RTOL * abs(r))
    checks.append(Check("equilibrium.residual", ok, stored, r,
                        f"stored residual {_shown(stored)}, measured at the stored x* {r:.3g}"
                        + ("" if ok else " (DISAGREES)"), how="re-measured"))
    return checks


# --- from the game, with fresh samples -----------------------------------------------------------

def _label(i: int, j: int) -> str:
    return f"L_{i + 1},{j + 1}"


def _matrix_free(cert: Certificate, game: Game) -> bool:
    """Re-measure through Jacobian-vector products only (sgn.MatrixFree): the certificate was
    made that way, or the game is too large for dense Jacobians (_config.MATRIX_FREE_DIM)."""
    return game.geometry == "euclidean" and (
        cert.estimator.get("operator") == "matrix-free" or game.dim > MATRIX_FREE_DIM)


def _matrix_free_estimator(**options):
    from ._matrix_free import MatrixFree

    return MatrixFree(**options)


def _resampled(cert: Certificate, game: Game, samples: int, seed: int) -> list[Check]:
    if isinstance(cert.bounds["coupling"], dict):
        from ._verify_sparse import resampled_sparse

        return resampled_sparse(cert, game, samples, seed)
    mu = np.asarray(cert.bounds["curvature"], dtype=float)
    L = np.asarray(cert.bounds["coupling"], dtype=float)
    scale = max(float(np.abs(mu).max()), float(L.max()), 1e-300)
    if _matrix_free(cert, game):
        estimator = _matrix_free_estimator(samples=samples, seed=seed)
        fresh = estimator.bounds(game)
    else:
        estimator = None
        fresh = estimate_bounds(game, samples=samples, seed=seed)
    # A constant Jacobian is evaluated once, exactly: a re-measurement, not a sample.
    how = "re-measured" if fresh.method == "exact" else "sampled"
    # The fresh run's values at the points it evaluated, not its bounds: a bound moved past
    # what was measured by a safety allowance is not something the samples "reach".
    allow = fresh.allowances
    reached_mu = fresh.curvature + allow.get("curvature", 0.0)
    reached_L = fresh.coupling - allow.get("coupling", 0.0)
    checks = []
    n = game.n_players
    for i in range(n):
        found, at = float(reached_mu[i]), fresh.locations["curvature"][i]
        ok = found >= mu[i] - _allowance(mu[i], found, scale)
        checks.append(Check(
            f"curvature[{i + 1}]", ok, float(mu[i]), found,
            f"player {i + 1} curvature: stored mu = {mu[i]:.9g}, fresh samples reach {found:.9g}"
            + ("" if ok else f" at x = {_short(at)}, below it by {mu[i] - found:.3g}"),
            None if ok else at.tolist(), how))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            found, at = float(reached_L[i, j]), fresh.locations["coupling"][i, j]
            ok = found <= L[i, j] + _allowance(L[i, j], found, scale)
            checks.append(Check(
                f"coupling[{i + 1},{j + 1}]", ok, float(L[i, j]), found,
                f"coupling {_label(i, j)}: stored {L[i, j]:.9g}, fresh samples reach "
                f"{found:.9g}" + ("" if ok else f" at x = {_short(at)}, above it by "
                                               f"{found - L[i, j]:.3g}"),
                None if ok else at.tolist(), how))
    gamma = float(cert.bounds["euclidean_margin"])
    reached_gamma = float(fresh.euclidean_margin + allow.get("euclidean_margin", 0.0))
    ok = reached_gamma >= gamma - _allowance(gamma, reached_gamma, scale)
    at = fresh.locations["euclidean_margin"]
    checks.append(Check(
        "euclidean_margin", ok, gamma, reached_gamma,
        f"Euclidean margin gamma: stored {gamma:.9g}, fresh samples reach {reached_gamma:.9g}"
        + ("" if ok else f" at x = {_short(at)}, below it by {gamma - reached_gamma:.3g}"),
        None if ok else at.tolist(), how))
    stored_lip = cert.diagnostics.get("euclidean_lipschitz")
    if stored_lip is not None:
        reached_lip = float(fresh.lipschitz - allow.get("lipschitz", 0.0))
        stored_lip = float(stored_lip)
        ok = reached_lip <= stored_lip + _allowance(stored_lip, reached_lip, scale)
        checks.append(Check(
            "diagnostics.euclidean_lipschitz", ok, stored_lip, reached_lip,
            f"Euclidean Lipschitz constant: stored {stored_lip:.9g}, fresh samples reach "
            f"{reached_lip:.9g}" + ("" if ok else f", above it by {reached_lip - stored_lip:.3g}"),
            how=how))
    metric = (estimate_in_metric(game, certificate_metric(game, cert), fresh)
              if estimator is None else
              estimator.in_metric(game, certificate_metric(game, cert), fresh))
    reached_beta = metric.lipschitz - metric.allowances.get("lipschitz", 0.0)
    reached_margin = metric.margin + metric.allowances.get("margin", 0.0)
    beta = float(cert.bounds["lipschitz"])
    ok = reached_beta <= beta + _allowance(beta, reached_beta, scale)
    checks.append(Check("lipschitz", ok, beta, reached_beta,
                        f"Lipschitz beta in the metric: stored {beta:.9g}, fresh samples reach "
                        f"{reached_beta:.9g}" + ("" if ok else f", above it by "
                                                 f"{reached_beta - beta:.3g}"), how=how))
    if cert.status is Status.CERTIFIED:
        ok = reached_margin >= cert.margin - _allowance(cert.margin, reached_margin, scale)
        checks.append(Check(
            "metric_margin", ok, float(cert.margin), reached_margin,
            f"margin in the certified metric: alpha = {cert.margin:.9g}, the Jacobians show "
            f"{reached_margin:.9g}" + ("" if ok else f" at x = {_short(metric.margin_point)}: "
                                      "the metric does not contract there as promised"),
            None if ok else metric.margin_point.tolist(), how))
    # The stored metric margin is a minimum over the points certify saw (for sampled bounds
    # lowered by an allowance; for interval bounds a proved lower bound): fresh points may
    # show less, never more than stored.
    stored_mm = float(cert.diagnostics["metric_margin"])
    ok = reached_margin >= stored_mm - _allowance(stored_mm, reached_margin, scale)
    checks.append(Check(
        "diagnostics.metric_margin", ok, stored_mm, reached_margin,
        f"stored metric margin {stored_mm:.9g}, the Jacobians show {reached_margin:.9g}"
        + ("" if ok else f" at x = {_short(metric.margin_point)}, below it by "
                         f"{stored_mm - reached_margin:.3g}"),
        None if ok else metric.margin_point.tolist(), how))
    if estimator is not None:
        checks.append(Check(
            "estimator.operator", True, cert.estimator.get("operator"), "matrix-free",
            "bounds re-measured matrix-free (Krylov estimates on Jacobian-vector products, fresh "
            "seed): like any sampled re-check they can refute a bound, not prove it", how=how))
    return checks + _direct_step_checks(cert, game, fresh, how)


def _direct_step_checks(cert: Certificate, game: Game, fresh, how: str) -> list[Check]:
    """Direct step sizes: the table recomputed from SGN's steps, the stored measurements and
    the game's centre Jacobian; the measurements themselves (Euler factors at the two steps,
    the Jacobians' spread) compared with what fresh samples show."""
    steps = cert.step_sizes
    direct = (steps or {}).get("direct")
    if cert.status is not Status.CERTIFIED or not direct or not steps.get("alpha_beta"):
        return []
    if game.dim > MATRIX_FREE_DIM:
        # The direct steps rest on dense Jacobians (the centre's, the contraction pass's):
        # not formed for a game this large. Said, not passed silently: the check fails.
        return [Check("step_sizes.direct", False, direct, None,
                      f"the direct step sizes are not re-checked: they need dense {game.dim} x "
                      f"{game.dim} Jacobians, which sgn does not form above "
                      f"{MATRIX_FREE_DIM} coordinates; SGN's own steps (alpha_beta) are "
                      "checked above", how="skipped")]
    metric = certificate_metric(game, cert)
    (h_best, h_edge), (q_best, q_edge) = direct["euler_steps"], direct["euler_factors"]
    spread = math.inf if direct["rk4_spread"] is None else float(direct["rk4_spread"])
    again = combined_steps(StepSizes(**steps["alpha_beta"]), h_best, q_best, h_edge, q_edge,
                           spread, centre_jacobian(game, metric), game.constrained).to_dict()
    checks = []
    for key in STEP_FIELDS + ("euler_bound", "rk4_bound"):
        stored, found = steps.get(key), again[key]
        ok = stored == found if isinstance(found, str) or found is None else _close(stored, found)
        checks.append(Check(f"step_sizes.{key}", ok, stored, found,
                            f"step size {key}: stored {_shown(stored)}, recomputed from the "
                            f"measured factors {_shown(found)}"
                            + ("" if ok else " (DISAGREES)")))
    measured = estimate_contraction(game, metric, fresh, [h_best, h_edge])
    allow = measured.allowances
    reached = measured.euler_factors - allow["euler_factors"]
    for k, (h, q) in enumerate(((h_best, q_best), (h_edge, q_edge))):
        ok = reached[k] <= q + _allowance(q, reached[k], 1.0)
        checks.append(Check(
            f"step_sizes.direct.euler_factors[{k + 1}]", ok, q, float(reached[k]),
            f"Euler factor at h = {h:.6g}: stored {q:.9g}, fresh samples reach "
            f"{reached[k]:.9g}" + ("" if ok else ": the step does not contract as promised"),
            how=how))
    if math.isfinite(spread):
        found = measured.spread - allow["spread"]
        ok = found <= spread + _allowance(spread, found, 1.0)
        checks.append(Check(
            "step_sizes.direct.rk4_spread", ok, spread, found,
            f"Jacobians' spread around the centre: stored {spread:.9g}, fresh samples reach "
            f"{found:.9g}" + ("" if ok else " (the RK4 steps rest on a smaller one)"), how=how))
    return checks


# --- interval bounds, proved again ----------------------------------------------------------------

def _reproved(cert: Certificate, game: Game, max_seconds: float | None) -> list[Check]:
    """Branch and bound again, up to the boxes the certificate's run enclosed: it is
    deterministic, so with the same boxes it proves the same bounds; a stored bound tighter
    than that is not proved."""
    if cert.estimator.get("method") != "interval":
        return []
    from ._interval import UnsupportedPrimitive, interval_bounds
    from ._interval._budget import DEFAULT_MAX_SECONDS

    budget = cert.estimator.get("budget") or {}
    # The box budget is the boxes the bounds pass enclosed, as recorded, not its limit: a pass
    # that the time limit cut short is then repeated to the same partition (each round splits
    # its worst boxes first, in the same order whether boxes or seconds end it), and a pass
    # that decided stops where it did. Without a record, the game's default budget.
    enclosed = cert.estimator.get("boxes_enclosed") or budget.get("max_boxes")
    max_boxes = int(enclosed) if enclosed else None
    if max_seconds is None:
        # Only a safety limit: room to repeat a pass that used all its time, on a machine
        # busier than the first.
        max_seconds = max(2.0 * float(budget.get("max_seconds") or 0.0), DEFAULT_MAX_SECONDS)
    # A run asked for tight bounds split past the first bounds that certify: the same target
    # ratio repeats those splits.
    target_ratio = cert.estimator.get("target_ratio")
    try:
        proved = interval_bounds(game, max_boxes=max_boxes, max_seconds=max_seconds,
                                 target_ratio=target_ratio)
        in_metric, partition = _reproved_block_metric(cert, game, max_seconds)
    except UnsupportedPrimitive as exc:
        return [Check("reproved", False, "interval", None,
                      f"the certificate claims interval bounds, but the game cannot be "
                      f"enclosed: {exc}", how="re-proved")]
    record = proved.record
    short = record.cut_by_time
    hint = (f"; the re-proof hit its time limit ({max_seconds:g} s) after {record.boxes_enclosed} "
            f"of its box budget of {record.max_boxes}, so this bound is not re-proved (nor "
            "refuted): raise --max-seconds to re-prove it" if short else "")
    mu = np.asarray(cert.bounds["curvature"], dtype=float)
    L = np.asarray(cert.bounds["coupling"], dtype=float)
    pmu, pL = proved.bounds.curvature, proved.bounds.coupling
    scale = max(float(np.abs(mu).max()), float(L.max()), 1e-300)
    checks = []
    for i in range(game.n_players):
        p = float(pmu[i])
        ok = mu[i] <= p + _allowance(mu[i], p, scale)
        checks.append(Check(
            f"reproved.curvature[{i + 1}]", ok, float(mu[i]), p,
            f"player {i + 1} curvature: stored mu = {mu[i]:.9g}, re-proved {p:.9g}"
            + ("" if ok else f": the stored bound is above what interval arithmetic proves by "
                             f"{mu[i] - p:.3g}{hint}"), how="re-proved"))
    for i in range(game.n_players):
        for j in range(game.n_players):
            if i == j:
                continue
            p = float(pL[i, j])
            ok = L[i, j] >= p - _allowance(L[i, j], p, scale)
            checks.append(Check(
                f"reproved.coupling[{i + 1},{j + 1}]", ok, float(L[i, j]), p,
                f"coupling {_label(i, j)}: stored {L[i, j]:.9g}, re-proved {p:.9g}"
                + ("" if ok else f": the stored bound is below what interval arithmetic "
                                 f"proves by {p - L[i, j]:.3g}{hint}"), how="re-proved"))
    return checks + in_metric + _reproved_steps(cert, game, proved, hint, partition)


def _reproved_block_metric(cert: Certificate, game: Game, max_seconds: float):
    """(checks, partition): a certified interval certificate in a block-matrix metric has its
    margin and beta proved again in the metric it records, by the block-matrix metric pass
    with the boxes the certificate's pass enclosed (the same partition, so the same numbers);
    the partition is where its direct steps are enclosed again. A constant Jacobian's margin
    was measured exactly (re-measured in `_resampled`), its steps on the region as one box.
    ([], None) for other certificates."""
    if cert.status is not Status.CERTIFIED or cert.metric is None:
        return [], None
    region = game.region
    if game.has_constant_jacobian:
        return [], (region.low[None, :], region.high[None, :])
    from ._interval._budget import Deadline
    from ._interval._matrix_pass import interval_matrix_pass

    metric = certificate_metric(game, cert)
    recorded = (cert.estimator.get("passes") or {}).get("metric") or {}
    enclosed = recorded.get("boxes_enclosed")
    found, record, partition = interval_matrix_pass(
        game, metric, max_boxes=int(enclosed) if enclosed else None,
        deadline=Deadline(max_seconds))
    hint = (f"; the re-proof hit its time limit ({max_seconds:g} s) after "
            f"{record.boxes_enclosed} of {record.max_boxes} boxes, so this is not re-proved "
            "(nor refuted): raise --max-seconds to re-prove it" if record.cut_by_time else "")
    margin, beta = float(cert.margin), float(cert.bounds["lipschitz"])
    checks = []
    ok = margin <= found.margin + _allowance(margin, found.margin, 1e-300)
    checks.append(Check(
        "reproved.metric_margin", ok, margin, found.margin,
        f"margin in the certificate's {cert.metric.get('rung', 'block')} metric: stored "
        f"{margin:.9g}, re-proved {found.margin:.9g}"
        + ("" if ok else f": the stored margin is above what interval arithmetic proves in "
                         f"the recorded metric by {margin - found.margin:.3g}{hint}"),
        how="re-proved"))
    ok = beta >= found.lipschitz - _allowance(beta, found.lipschitz, 1e-300)
    checks.append(Check(
        "reproved.lipschitz", ok, beta, found.lipschitz,
        f"Lipschitz beta in the certificate's metric: stored {beta:.9g}, re-proved "
        f"{found.lipschitz:.9g}"
        + ("" if ok else f": the stored bound is below what interval arithmetic proves by "
                         f"{found.lipschitz - beta:.3g}{hint}"), how="re-proved"))
    return checks, partition


def _reproved_steps(cert: Certificate, game: Game, proved, hint: str,
                    partition=None) -> list[Check]:
    """The direct steps' Euler factors and spread of a verified certificate, enclosed again
    over the re-proved partition (the same partition, so the same numbers), in the
    certificate's metric (a block-matrix one on `partition`, `_reproved_block_metric`'s): a
    stored value below what the enclosures prove is not proved."""
    direct = (cert.step_sizes or {}).get("direct")
    if cert.status is not Status.CERTIFIED or not direct:
        return []
    from ._interval._contraction import interval_contraction

    found = interval_contraction(game, certificate_metric(game, cert), proved,
                                 direct["euler_steps"], partition=partition)
    if found is None:
        return []
    checks = []
    pairs = [(f"euler_factors[{k + 1}]", f"Euler factor at h = {h:.6g}", q, p)
             for k, (h, q, p) in enumerate(zip(direct["euler_steps"], direct["euler_factors"],
                                               found.euler_factors))]
    if direct.get("rk4_spread") is not None:
        pairs.append(("rk4_spread", "Jacobians' spread around the centre",
                      direct["rk4_spread"], found.spread))
    for key, what, stored, p in pairs:
        stored, p = float(stored), float(p)
        ok = stored >= p - _allowance(stored, p, 1.0)
        checks.append(Check(
            f"reproved.step_sizes.direct.{key}", ok, stored, p,
            f"{what}: stored {stored:.9g}, re-proved {p:.9g}"
            + ("" if ok else f": the stored value is below what interval arithmetic proves "
                             f"by {p - stored:.3g}{hint}"), how="re-proved"))
    return checks


def _sparse_alpha(w, mu, L) -> tuple[float, float]:
    """(ARPACK's estimate, Collatz-Wielandt lower bound) of alpha(w) for a sparse coupling:
    G(w) = sym(W^1/2 K W^-1/2) built again, then one sparse eigen-solve."""
    low, estimate = z_matrix_lambda_min(sparse_margin_matrix(w, mu, sp.csr_matrix(L)))
    return estimate, low


def _player_radii_check(radii, fresh) -> Check:
    """Many players: one check, the largest deviation of the stored radii from the fresh."""
    worst, where = 0.0, None
    for i, (r, f) in enumerate(zip(radii, fresh)):
        r = _radius(r) if isinstance(r, (int, float)) or r is None else math.nan
        f = float(f)
        if math.isinf(f) or math.isinf(r):
            bad = 0.0 if r == f else math.inf
        else:
            bad = abs(r - f) / max(abs(f), 1e-300)
        if not bad <= worst:
            worst, where = bad, i
    ok = worst <= RECOMPUTE_RTOL + 1e-12
    return Check("basin.player_radii", ok, None, None,
                 f"basin radii of the {len(radii)} players: largest relative deviation from the "
                 f"recomputed ones {worst:.3g}" + ("" if ok else f" at player {where + 1} "
                                                             "(DISAGREES)"))
