"""certify(): the pipeline, nothing else.

    game --estimate_bounds--> Bounds --optimize_weights--> Weights
         --estimate_in_metric--> MetricBounds --> Certificate
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse as sp

from . import __version__, _config
from ._bounds import Bounds, MetricBounds, Progress, Sampled
from ._certificate import Certificate, Status
from ._schema import coo_record
from ._dynamics import basin, find_equilibrium
from ._errors import SGNError
from ._game import Game, _short
from ._metric_search import RUNG_NAMES, SEARCHED_WEIGHTS, search_weights
from ._step_search import certified_steps
from ._weights import (
    Weights,
    WeightStatus,
    margin_matrix,
    optimize_weights,
    two_player_band,
    weak_curvature_message,
)


METHODS = ("sampled", "interval")


def certify(game: Game, *, samples: int | None = None, seed: int | None = None,
            method: str = "sampled", estimator=None, optimizer=None,
            executor=None, max_boxes: int | None = None, max_seconds: float | None = None,
            target_ratio: float | None = None,
            progress: Progress | None = None) -> Certificate:
    """Certify `game` on its region: bounds, best block weights, rate and step sizes.

    Args:
        game: an `sgn.Game`.
        samples, seed: sampling options (override those of a `Sampled` estimator).
        method: "sampled" (estimated bounds) or "interval" (bounds proved by interval
            arithmetic and branch and bound: a verified certificate; falls back to sampled
            bounds, with a note, when the game is not smooth, not in the Euclidean geometry,
            or uses an operation intervals do not support).
        estimator: how bounds are obtained: `Sampled()` (the default), `MatrixFree()`
            (Jacobian-vector products only; the default above _config.MATRIX_FREE_DIM
            coordinates, docs/matrix-free.md) or `Verified()`; when given, it decides the
            method.
        optimizer: how weights are chosen (default `Perron()`; `SDPBisection()`, `LPWeights()`).
        executor: a concurrent.futures.Executor (threads, or Dask: sgn._interval.dask_executor)
            for the interval work, a sparse game's sample points, or the matrix-free screen
            and searches (default in-process; the results do not depend on it).
        max_boxes, max_seconds: the branch-and-bound budget of method="interval".
        target_ratio: method="interval" only: keep splitting boxes after the bounds certify
            until SGN's margin is at least this share (in (0, 1)) of the margin the values
            proved at points show, or the box budget ends (default: stop at the first bounds
            that certify).
        progress: optional callback progress(done, total, description) for long work.
    """
    if estimator is None and method == "sampled":
        if samples is None:
            samples = game.default_samples     # a large Markov game's plan; None: the default
        estimator = auto_estimator(game)       # matrix-free for large games, else None (dense)
    given = estimator
    estimator = _estimator(method, estimator, samples, seed, executor, max_boxes, max_seconds,
                           target_ratio)
    estimator = _sparse_choice(game, given, estimator, method, samples, seed, executor)
    fallback = estimator.refusal(game) if hasattr(estimator, "refusal") else None
    bounds = None
    if fallback is None:
        from ._interval import UnsupportedPrimitive

        try:
            bounds = estimator.bounds(game, progress=progress)
        except UnsupportedPrimitive as exc:
            fallback = str(exc)
    if fallback is not None:        # only a Verified estimator refuses
        estimator = _sampled(given, samples, seed)
        bounds = estimator.bounds(game, progress=progress)
        fallback += ("; fell back to the sampled estimator, which found the Jacobian constant: "
                     "its bounds are exact" if bounds.exact else
                     "; fell back to sampled bounds, so nothing is verified")
    weights, metric, found = _weights_and_metric(game, estimator, bounds, optimizer, progress)
    cert = assemble(game, bounds, weights, metric, estimator, found=found)
    if fallback:
        cert.notes.insert(0, fallback)
    return cert


def _estimator(method, estimator, samples, seed, executor, max_boxes, max_seconds,
               target_ratio=None):
    """The estimator certify runs: the one given, or the one `method` names, with the
    sampling and budget options applied."""
    if method not in METHODS:
        raise SGNError(f"method must be one of {METHODS}, got {method!r}")
    sampled = estimator is None or isinstance(estimator, Sampled)
    if target_ratio is not None and not (method == "interval" and sampled):
        raise SGNError("target_ratio asks branch and bound for tighter proved bounds: it "
                       "applies to method=\"interval\" only (or give Verified(target_ratio=...))")
    if _is_matrix_free(estimator) and method == "sampled":
        # (its screen batches and local searches go to the executor: sgn/_matrix_free_ship.py)
        return dataclasses.replace(
            estimator, samples=estimator.samples if samples is None else int(samples),
            seed=estimator.seed if seed is None else int(seed),
            executor=estimator.executor if executor is None else executor)
    if method == "interval" and sampled:
        from ._interval import Verified
        from ._interval._branch import check_target_ratio

        budget = {k: v for k, v in (("max_boxes", max_boxes), ("max_seconds", max_seconds),
                                    ("target_ratio", check_target_ratio(target_ratio)))
                  if v is not None}
        return Verified(executor=executor, **budget)
    return _sampled(estimator, samples, seed) if sampled else estimator


def auto_estimator(game: Game):
    """sgn.MatrixFree() when the game is too large for dense Jacobians (game.dim above
    _config.MATRIX_FREE_DIM, Euclidean geometry), else None (certify's dense default)."""
    if _sparse_game(game):
        return None     # many players on a coupling graph: sgn.SparseSampled (_sparse_choice)
    if game.dim > _config.MATRIX_FREE_DIM and game.geometry == "euclidean":
        from ._matrix_free import MatrixFree

        return MatrixFree()
    return None


def _is_matrix_free(estimator) -> bool:
    return bool(getattr(estimator, "matrix_free", False))


#: Joint-field games with more players than this are bounded per non-zero block
#: (sgn.SparseSampled) unless an estimator is given: the dense estimator measures all
#: N (N - 1) couplings at every sample point.
SPARSE_PLAYERS = 48


def _sparse_choice(game, given, estimator, method, samples, seed, executor):
    """The sparse estimator, with the sampling options and the executor applied, when it is
    given or when a large game with a coupling graph (Game.from_joint_field) gets the default
    sampled estimator; otherwise `estimator` unchanged."""
    from ._sparse_bounds import SparseSampled

    if isinstance(given, SparseSampled):
        chosen = given
    elif given is None and method == "sampled" and _sparse_game(game):
        chosen = SparseSampled()
    else:
        return estimator
    options = {k: v for k, v in (("samples", samples), ("seed", seed), ("executor", executor))
               if v is not None}
    return dataclasses.replace(chosen, **options)


def _sparse_game(game) -> bool:
    """A joint-field game with a coupling graph and more than SPARSE_PLAYERS players."""
    return hasattr(game, "entry_pattern") and game.n_players > SPARSE_PLAYERS


def _sampled(estimator, samples, seed) -> Sampled:
    """A Sampled estimator (the one given, if it is one) with the sampling options applied."""
    estimator = estimator if isinstance(estimator, Sampled) else Sampled()
    return dataclasses.replace(
        estimator,
        samples=estimator.samples if samples is None else int(samples),
        seed=estimator.seed if seed is None else int(seed))


def _weights_and_metric(game: Game, estimator, bounds: Bounds, optimizer, progress):
    """SGN's weights (or equal weights, when the Euclidean test proves more) and the bounds
    measured in their metric, or what the metric search found when neither test certifies
    (weights, metric bounds, and the search's MetricFound or None)."""
    sgn_weights = optimize_weights(bounds.curvature, bounds.coupling, method=optimizer)
    weights = _prefer_larger_margin(sgn_weights, bounds)
    metric = estimator.in_metric(game, game.metric(weights.weights), bounds, progress=progress)
    if (weights is not sgn_weights and estimator.measures_points
            and metric.margin < sgn_weights.margin):
        # Equal weights were preferred for their larger gamma, but the metric pass saw less
        # than SGN's margin: SGN's weights are the better certificate after all.
        weights = sgn_weights
        metric = estimator.in_metric(game, game.metric(weights.weights), bounds,
                                     progress=progress)
    if (_decide(bounds, weights, metric, _scale(bounds))[0] is not Status.CERTIFIED
            and getattr(estimator, "searches_metric", True)):
        # Neither test certifies with these bounds: look for block weights in the Jacobians
        # themselves (a coupling that cancels in a weighted metric is invisible to the norms).
        found = search_weights(game, estimator, bounds, sgn_weights, progress=progress,
                               tol=_config.MARGIN_TOL * _scale(bounds))
        if found is not None and found.weights is not None:
            return found.weights, found.bounds, found
        return weights, metric, found
    return weights, metric, None


def _scale(bounds: Bounds) -> float:
    """The bounds' own scale, for tolerances relative to it."""
    # .max() of the array itself: the coupling may be a scipy.sparse matrix (SparseSampled)
    return max(float(np.max(np.abs(bounds.curvature))), float(bounds.coupling.max()), 1e-300)


#: Weights.method of the equal weights chosen because the plain test proves a larger margin.
EUCLIDEAN_WEIGHTS = "equal weights (Euclidean test)"


def _prefer_larger_margin(weights: Weights, bounds: Bounds) -> Weights:
    """Equal weights when the Euclidean test proves a larger rate than SGN's best weights.

    Both are valid certificates; SGN's norm bounds drop the sign structure of the couplings
    (zero-sum couplings cancel in sym J), so on such games the plain test can be far stronger,
    and a user wants the faster proven rate and the larger step.
    """
    if (weights.status in (WeightStatus.OPTIMAL, WeightStatus.CERTIFIABLE)
            and bounds.euclidean_margin > weights.margin):
        return dataclasses.replace(
            weights, weights=np.ones_like(weights.weights), margin=bounds.euclidean_margin,
            method=EUCLIDEAN_WEIGHTS,
            message=f"SGN certifies with alpha = {weights.margin:.6g}")  # completed by _decide
    return weights


def assemble(game: Game, bounds: Bounds, weights: Weights, metric: MetricBounds,
             estimator=None, *, found=None) -> Certificate:
    """The certificate from the three stages' results, in small stages:

        verdict      status, the test that certified, alpha, gamma, reasons
        lipschitz    beta (never below alpha), or inconclusive when it is not finite
        equilibrium  x* and its basin, or inconclusive when there is none in the region
        steps        rates and step sizes of a certified game: SGN's from alpha and beta,
                     and direct ones where `estimator` can measure them (sgn/_step_search.py)

    Proved bounds (sgn.Verified) carry their branch-and-bound records in `bounds.proof` and
    `metric.proof`; the certificate quotes them. `found` is the metric search's result (a
    `MetricFound`, or None): a block-matrix metric it found is the certificate's metric (the
    `metric` key), with SGN's weights and margin beside it; the rungs it skipped are notes.
    """
    used = found.metric if found is not None and found.weights is not None else None
    recorded = used.to_dict() if used is not None and used.kind == "block_matrix" else None
    if recorded is not None:
        recorded["sgn_margin"] = found.sgn_margin     # SGN's alpha for `weights`, beside it
    geometry_metric = game.metric(weights.weights) if recorded is None else used
    record = _estimator_record(bounds, metric)    # first: it quotes the run's wall time
    run = bounds.proof
    search = None if run is None else run.search
    if search is not None and (weights.status is WeightStatus.NOT_CERTIFIABLE
                               or weights.method == SEARCHED_WEIGHTS):
        # What SGN's test showed, in words that do not call a loose enclosure a failure.
        weights = dataclasses.replace(weights, message=_interval_message(weights, search))
    status, certified_by, alpha, gamma, reasons = _verdict(
        bounds, weights, metric, search,
        None if recorded is None else f"a {RUNG_NAMES[found.rung]} metric found from the "
                                      "Jacobians does")
    beta = max(metric.lipschitz, alpha)  # a true Lipschitz bound is never below the margin
    if status is Status.CERTIFIED and not math.isfinite(beta):
        status, certified_by = Status.INCONCLUSIVE, None
        reasons.append("the Lipschitz bound beta is not finite on the region")
    equilibrium = None
    if status is Status.CERTIFIED:
        equilibrium, problem = _equilibrium(game, geometry_metric, alpha, beta)
        if problem:
            status, certified_by = Status.INCONCLUSIVE, None
            reasons.append(problem)
    steps = certified_steps(game, estimator, bounds, geometry_metric, alpha,
                            beta).to_dict() if status is Status.CERTIFIED else None
    sparse = sp.issparse(bounds.coupling)
    return Certificate(
        status=status,
        verified=bounds.exact,
        geometry=game.geometry,
        game=game.describe(),
        estimator=record,
        bounds={"curvature": bounds.curvature,
                "coupling": coo_record(bounds.coupling) if sparse else bounds.coupling,
                "lipschitz": beta,
                "euclidean_margin": gamma},
        weights=weights.weights,
        metric=recorded,
        margin=alpha,
        rates=None if steps is None else {
            "flow": alpha, "euler": steps["euler_factor"], "rk4": steps["rk4_factor"]},
        step_sizes=steps,
        band=_band(bounds),
        diagnostics=_diagnostics(bounds, weights, metric, alpha, gamma, certified_by),
        reasons=reasons,
        notes=_notes(game, bounds, status) + _cut_short(search, metric.proof)
        + _time_cut(search, metric.proof) + list(found.notes if found is not None else ()),
        equilibrium=equilibrium,
        tool={"name": "sgn", "version": __version__},
    )


def _verdict(bounds: Bounds, weights: Weights, metric: MetricBounds, search,
             found_by: str | None = None):
    """Status, the test that certified, alpha, gamma and the reasons: `_decide` on the
    numbers, then, for proved bounds that do not certify, what branch and bound knows."""
    status, certified_by, alpha, gamma, reasons = _decide(bounds, weights, metric,
                                                          _scale(bounds), found_by)
    if search is not None and status is not Status.CERTIFIED and search.outcome != "certified":
        # Branch and bound knows why better than the weights do: a proved counterexample, or a
        # budget that ran out with part of the region proved.
        # A proved mu_i <= 0 also refutes the Euclidean test (lambda_min(sym J) is at most that
        # of any diagonal block); a proved small-gain failure refutes SGN's test only, and an
        # Euclidean margin that the enclosures leave at or below zero is loose, not shown to fail.
        refutes_both = search.outcome == "refuted" and (
            (search.witness or {}).get("quantity") == "curvature")
        status = Status.NOT_CERTIFIED if refutes_both else Status.INCONCLUSIVE
        reasons.insert(0, search.reason)
        if search.outcome == "refuted" and not refutes_both:
            reasons.insert(1, f"the Euclidean test is neither proved nor refuted: its interval "
                              f"margin gamma >= {gamma:.4g} is an enclosure, not a value seen at "
                              "a point; `sgn certify` without --verify estimates it")
    return status, certified_by, alpha, gamma, reasons


def _equilibrium(game: Game, metric, alpha: float, beta: float):
    """(the certificate's equilibrium record, None) or (its record, why it is not found), in
    the certificate's metric."""
    found = find_equilibrium(game, metric, alpha, beta, given=game.equilibrium)
    record = dict(found.items())
    if not found.found:
        return record, found.message
    record["basin"] = basin(game, metric, found.x).to_dict()
    return record, None


def _band(bounds: Bounds) -> dict | None:
    """Two players: the interval of weight ratios SGN certifies with (docs/method.md)."""
    if bounds.curvature.size != 2:
        return None
    coupling = bounds.coupling.toarray() if sp.issparse(bounds.coupling) else bounds.coupling
    found = two_player_band(bounds.curvature, coupling)
    return None if found is None else found.to_dict()


def _estimator_record(bounds: Bounds, metric: MetricBounds) -> dict:
    run = bounds.proof
    return {
        "method": bounds.method,
        "samples": bounds.samples,
        "seed": bounds.seed,
        "jacobian_evaluations": bounds.evaluated + metric.evaluated,
        "constant_jacobian": bounds.method == "exact",
        **_sampling_record(bounds, metric),
        **bounds.estimator_record,
        **({} if run is None else
           _interval_estimator(run.search, metric.proof, run.deadline.elapsed())),
    }


def _diagnostics(bounds: Bounds, weights: Weights, metric: MetricBounds, alpha: float,
                 gamma: float, certified_by: str | None) -> dict:
    return {
        "metric_margin": metric.margin,
        "sgn_gap": metric.margin - alpha,
        "euclidean_monotone": gamma > 0,
        "euclidean_lipschitz": bounds.lipschitz,
        "spectral_radius": weights.spectral_radius,
        "best_possible_margin": weights.best_possible,
        "lp_value": weights.lp_value,
        "optimizer": weights.method,
        "optimizer_status": weights.status,
        "certified_by": certified_by,
    }


def _interval_estimator(search, metric_pass, seconds) -> dict:
    """The interval fields of `estimator`, all from the passes' records (which the reasons
    quote too): the bounds pass's counts at the top as before, then the run's budget (which
    budget stopped it, whether it is reproducible) and each pass."""
    from ._interval._budget import run_budget

    record = search.record
    seen_mu, seen_L = search.point_values()
    return {
        "boxes": record.boxes, "boxes_enclosed": record.boxes_enclosed,
        "outcome": search.outcome, "proved_fraction": search.proved_fraction,
        **({} if search.target_ratio is None else
           {"target_ratio": search.target_ratio, "margin_ratio": search.margin_ratio}),
        "seconds": record.seconds, "unfinished": search.unfinished,
        "centre_values": {"curvature": seen_mu, "coupling": seen_L},
        "budget": run_budget(record, metric_pass, seconds),
        "passes": {"bounds": record.to_dict(),
                   "metric": None if metric_pass is None else metric_pass.to_dict()},
    }


def _time_cut(search, metric_pass) -> list[str]:
    """A note when the safety time limit, not the box budget, ended a verified pass: the
    result then depends on the machine (docs/verified.md, "The budget")."""
    if search is None:
        return []
    from ._interval._budget import time_cut_note

    note = time_cut_note(search.record, metric_pass)
    return [] if note is None else [note]


def _cut_short(search, metric_pass) -> list[str]:
    """A note when the budget ended the metric pass of bounds that certified: beta(w) is then
    a looser (still proved) bound, so the step sizes are smaller than they could be."""
    if search is None or metric_pass is None or search.outcome != "certified" or \
            metric_pass.stopped not in ("seconds", "skipped"):
        return []
    from ._interval._budget import counts_text

    return [f"the time limit ended the metric pass ({counts_text(metric_pass)}): beta is the "
            "block bound without the whole-Jacobian one, proved but maybe looser, so the step "
            "sizes may be smaller than they could be; raise --max-seconds for tighter ones"]


def _interval_message(weights: Weights, search) -> str:
    """What interval bounds that do not certify show, without calling a loose bound a failure.

    A curvature bound mu_i <= 0 is a property of the game only when a point proves it (a box
    centre where lambda_min(sym J_ii) <= 0); when every centre shows mu_i > 0 the enclosure is
    merely too loose, and regularisation is not what is missing. Likewise small-gain failing
    for the bounds is only a verdict when branch and bound refuted it at points.
    """
    mu = search.bounds.curvature
    seen_mu, seen_L = search.point_values()
    centres = search.boxes
    weak = [i for i in range(mu.size) if mu[i] <= 0]
    proved = [i for i in weak if seen_mu[i] <= 0]
    loose = [i for i in weak if i not in proved]
    more = "more boxes or time (--max-boxes, --max-seconds) or a smaller region may prove it"
    parts = []
    if proved:
        parts.append(weak_curvature_message(proved, mu[proved].min()))
    if loose:
        s, verb = ("s", "are") if len(loose) > 1 else ("", "is")
        parts.append(
            "the interval enclosure is too loose to prove curvature mu_i > 0 for player"
            f"{s} {_players(loose)}: interval bound{s} {_short(mu[loose])}, while the smallest "
            f"value{s} at the {centres} box centres {verb} {_short(seen_mu[loose])} (not "
            f"proved, not shown to fail); {more}")
    if weak:
        return "; ".join(parts)
    if search.outcome == "refuted":
        return weights.message  # the small-gain failure was proved at points
    seen = (f"{optimize_weights(seen_mu, seen_L).spectral_radius:.4g}"
            if np.isfinite(seen_mu).all() and np.isfinite(seen_L).all() else "not finite")
    return (f"the interval bounds are too loose to prove small-gain: rho = "
            f"{weights.spectral_radius:.4g} with them, {seen} with the values at the "
            f"{centres} box centres; not proved, not shown to fail; {more}")


def _players(indices, limit: int = 6) -> str:
    """1-based player numbers, the first `limit` of them and how many in all."""
    shown = ", ".join(str(i + 1) for i in indices[:limit])
    return shown + (f", ... ({len(indices)} in all)" if len(indices) > limit else "")


def _decide(bounds: Bounds, weights: Weights, metric: MetricBounds, scale: float,
            found_by: str | None = None):
    """Status, the test that certified, the margin alpha, the Euclidean margin and the reasons.

    A certificate never states a margin above what was measured in its own metric: sampled
    bounds are estimates, and the metric pass (more points, and a further local search) may
    see less monotonicity than the first pass. For equal weights that pass measures gamma
    itself, so the lower value is kept as gamma; for SGN's weights a metric margin below
    alpha(w) contradicts the bounds (they missed an extreme), and the answer is inconclusive.
    """
    tol = _config.MARGIN_TOL * scale
    alpha, gamma = weights.margin, bounds.euclidean_margin
    if weights.method == SEARCHED_WEIGHTS:
        # The margin is the metric pass's own: measured (sampled) or proved (verified) in the
        # metric of weights found from the Jacobians; SGN's test stays the explanation.
        reasons = [
            f"SGN does not certify ({weights.message}), but "
            f"{found_by or 'block weights found from the Jacobians do'}: "
            f"{'their' if found_by is None else 'its'} metric margin is {alpha:.6g} > 0 "
            + ("(proved)" if bounds.exact else "(measured at sample points plus local search)")]
        return Status.CERTIFIED, "metric", alpha, gamma, reasons
    sampled = not bounds.exact            # exact and interval bounds are proofs, not samples
    if bounds.exact:
        # The margin is itself an eigen-solve: widen it by the same rounding allowance.
        G = margin_matrix(weights.weights, bounds.curvature, bounds.coupling)
        alpha -= (_config.ROUNDING_SLACK_FACTOR * G.shape[0] * np.finfo(float).eps
                  * np.linalg.norm(G))
    euclidean = (weights.method == EUCLIDEAN_WEIGHTS
                 or (weights.status is WeightStatus.NOT_CERTIFIABLE and gamma > tol))
    if euclidean and sampled and metric.margin < gamma:
        gamma = metric.margin         # the metric pass measured gamma again, and saw less
    reasons: list[str] = []
    if euclidean and gamma > tol:
        # SGN's norm bounds lose the sign structure of the couplings (a zero-sum coupling
        # cancels in sym J), so the plain Euclidean test can succeed where SGN fails, or
        # prove more. The weights are then equal, and the metric pass measured that metric.
        reasons.append(
            f"{weights.message}, but the Euclidean test proves more: gamma = {gamma:.6g}, so "
            "equal weights are used" if weights.method == EUCLIDEAN_WEIGHTS else
            f"SGN does not certify ({weights.message}), but the Euclidean test does: gamma = "
            f"{gamma:.6g} > 0, so equal weights are used")
        return Status.CERTIFIED, "euclidean", gamma, gamma, reasons
    if euclidean:
        # Only sampled bounds get here: the metric pass saw gamma at or below zero.
        seen = (f"the metric pass measured the Euclidean margin gamma = {gamma:.3g} at x = "
                f"{_short(metric.margin_point)}")
        if weights.status is WeightStatus.NOT_CERTIFIABLE:
            return Status.NOT_CERTIFIED, None, gamma, gamma, [weights.message, seen]
        return Status.INCONCLUSIVE, None, gamma, gamma, [seen + ", within rounding of zero "
                                                          "or below it"]
    if weights.status is WeightStatus.NOT_CERTIFIABLE:
        return Status.NOT_CERTIFIED, None, alpha, gamma, [weights.message]
    if weights.status is WeightStatus.INCONCLUSIVE or alpha <= tol:
        reasons.append(weights.message if weights.status is WeightStatus.INCONCLUSIVE else
                       f"the SGN margin {alpha:.3g} is within rounding of zero")
        return Status.INCONCLUSIVE, None, alpha, gamma, reasons
    if sampled and metric.margin < alpha - 1e-9 * scale:
        # (Interval metric margins are loose lower bounds, never a sign of missed extremes.)
        reasons.append(
            f"at x = {_short(metric.margin_point)} the Jacobian's margin in the metric "
            f"({metric.margin:.6g}) is below the SGN margin alpha = {alpha:.6g}: the sampled "
            "bounds missed the true extremes there; raise --samples or shrink the region")
        return Status.INCONCLUSIVE, None, alpha, gamma, reasons
    if sampled:
        alpha = min(alpha, metric.margin)     # never above what the metric pass measured
    return Status.CERTIFIED, "sgn", alpha, gamma, reasons


def _sampling_record(bounds: Bounds, metric: MetricBounds) -> dict:
    """What sampled bounds rest on besides their samples: the local search, and how far each
    bound was pushed past the value measured (docs/method.md, "Sampled bounds")."""
    if bounds.method != "sampled":
        return {}
    allow, n = bounds.allowances, len(bounds.curvature)   # bounds made by hand: none
    coupling = allow.get("coupling", 0.0)
    return {"search": dict(bounds.search), "allowances": {
        "curvature": np.broadcast_to(allow.get("curvature", 0.0), (n,)).tolist(),
        # sparse bounds: one number for every allowed block (no search, so 0)
        "coupling": (float(coupling) if sp.issparse(bounds.coupling) else
                     np.broadcast_to(coupling, (n, n)).tolist()),
        "euclidean_margin": float(allow.get("euclidean_margin", 0.0)),
        "lipschitz": float(metric.allowances.get("lipschitz", 0.0)),
        "metric_margin": float(metric.allowances.get("margin", 0.0)),
    }}


def _single_precision(game: Game) -> str | None:
    """game.single_precision, or None for a game kind that does not trace one program of F
    (a check must not stop a certificate: it only adds a note)."""
    try:
        return getattr(game, "single_precision", None)
    except Exception:   # noqa: BLE001  a program this check does not understand
        return None


def _notes(game: Game, bounds: Bounds, status: Status) -> list[str]:
    notes = []
    if game.non_smooth is not None and bounds.method == "sampled":
        notes.append(f"F uses `{game.non_smooth}`, which sgn cannot confirm is smooth: the "
                     "bounds see only JAX's derivative of F, so where F has a kink or a jump "
                     "(abs, where, floor, a custom derivative rule that disagrees with F) the "
                     "certificate does not cover it; `sgn simulate` shows what play does")
    narrow = _single_precision(game)
    if narrow is not None:
        notes.append(f"F holds {narrow}: those numbers were rounded to about 7 digits before "
                     "sgn saw them (an array made with jax.numpy before float64 was on, or a "
                     "float32 dtype), so the certificate is about the game with the rounded "
                     "numbers; make the game's arrays after `import sgn`, or with dtype float64")
    if bounds.method == "interval":
        notes.append("every bound is enclosed by interval arithmetic with outward rounding over "
                     "a partition of the region (branch and bound), and the last scalar steps "
                     "are rigorous: this certificate is verified (docs/verified.md)")
    elif bounds.exact:
        notes.append("the Jacobian is constant, so the bounds are exact (one evaluation, "
                     "widened by a rounding allowance): this certificate is verified")
    elif bounds.estimator_record.get("operator") == "matrix-free":
        notes.append(f"bounds are matrix-free Krylov estimates (Lanczos on Jacobian-vector "
                     f"products, no dense Jacobian) at {bounds.samples} screen points plus "
                     "local search: Krylov values approach each extreme from inside, so each "
                     "bound is pushed past the worst value found by its Ritz residual plus the "
                     "search's spread (estimator.allowances, estimator.krylov), not proved: the "
                     "certificate holds if the true extremes on the region are no worse than "
                     "these bounds")
    elif bounds.search.get("estimator") == "sparse":
        points = bounds.search["eigen_points"]
        notes.append(
            f"bounds are estimated per non-zero block of the coupling graph "
            f"({bounds.search['coupling_graph']}) from {bounds.samples} sample points, without "
            "local search or allowance (sgn.SparseSampled); gamma and beta are sparse "
            f"eigen-solves at {points['euclidean_margin']} and {points['lipschitz']} of those "
            "points (the centre and the worst by a Gershgorin screen), the metric margin and "
            "beta(w) likewise: estimates at points, not proved; the certificate holds if the "
            "true extremes on the region are no worse than these bounds")
    else:
        notes.append(f"bounds are estimated from {bounds.samples} sample points plus local "
                     "search, each pushed past the worst value found by the search's allowance "
                     "(estimator.allowances), not proved: the certificate holds if the true "
                     "extremes on the region are no worse than these bounds")
    if game.geometry == "fisher":
        notes.append("Fisher geometry: the metric is M(w) = blockdiag(w_i F_i) with F_i player "
                     "i's Fisher block at the point; the Euler step is the natural policy "
                     "gradient step; curvature and coupling are F^-1/2 H F^-1/2, beta includes "
                     "the derivative of the inverse Fisher; the region is the cube of reduced "
                     "logits around the regularised equilibrium")
    if status is Status.CERTIFIED:
        if game.constrained:
            notes.append("the box is the strategy set: projected dynamics are covered from "
                         "every start in it")
        else:
            notes.append("the region is an analysis region: the guarantees hold for "
                         "trajectories while they stay inside it")
        if game.constrained:
            notes.append("RK4 is not proven for the constrained game: its stage points may "
                         "leave the box, where no bound holds, and with the projection applied "
                         "only at the end of a step its fixed point can miss an equilibrium on "
                         "the boundary; rk4_guideline is linear stability only")
        else:
            notes.append("the RK4 bound assumes the four stage points stay in the region; "
                         "rk4_guideline is linear stability only, not a proof")
    return notes
