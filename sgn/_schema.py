"""Certificate schema versions 1, 2 and 3: what a reader accepts (docs/certificate.md).

A certificate comes from outside (a file someone handed over), so every value a later step
reads is checked here first: a malformed certificate is bad input with a message naming the
key, never an internal error further on.
"""

from __future__ import annotations

import math

from ._errors import CertificateFormatError

SCHEMA_VERSION = 3

#: Versions this sgn reads. Version 2 (issue 13) adds to `step_sizes` which proof gave each
#: step (`euler_bound`, `rk4_bound`), SGN's own alpha/beta steps beside them (`alpha_beta`)
#: and the measured numbers behind direct steps (`direct`); `diagnostics.certified_by` may be
#: "metric". Version 3 (issue 13, block-matrix metrics) adds the top-level `metric`: null, or
#: the block-diagonal metric M = blockdiag(P_1..P_N) the certificate is about when the metric
#: search found one (`weights` and `metric.sgn_margin` are then SGN's own result beside it); and
#: (issue 14) `bounds.coupling` may also be stored sparsely, as
#:     {"format": "coo", "shape": [N, N], "rows": [...], "cols": [...], "values": [...]}
#: (0-based rows and cols, off the diagonal, no pair twice; every pair not listed is 0), with
#: `estimator.allowances.coupling` then one number for every block; written for certificates
#: whose coupling is sparse (sgn.SparseSampled: many players). Versions 1 and 2 read as they
#: always did.
READABLE_VERSIONS = (1, 2, 3)

#: `metric.rung` values: how a block-matrix metric was found (sgn/_metric_search.py).
METRIC_RUNGS = ("eigenbasis", "block", "joint")

STEP_KEYS = ("euler_max", "euler_recommended", "euler_factor", "rk4_guideline", "rk4_proven",
             "rk4_recommended", "rk4_factor")
RATE_KEYS = ("flow", "euler", "rk4")
BAND_KEYS = ("low", "high", "best_ratio", "best_margin", "margin")


def _fail(where: str, what: str):
    raise CertificateFormatError(f"certificate key '{where}' {what}")


def _get(obj, key: str, where: str = ""):
    path = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        _fail(where, "must be an object")
    if key not in obj:
        raise CertificateFormatError(f"certificate is missing the key '{path}'")
    return obj[key]


def _number(value, where: str, *, optional=False, positive=False, nonneg=False):
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        _fail(where, "must be a finite number" + (" or null" if optional else ""))
    if positive and not value > 0:
        _fail(where, "must be > 0")
    if nonneg and value < 0:
        _fail(where, "must be >= 0")


def _numbers(values, where: str, n: int, **kind):
    if not isinstance(values, list) or len(values) != n:
        _fail(where, f"must be a list of {n} numbers")
    for k, v in enumerate(values):
        _number(v, f"{where}[{k}]", **kind)


def _table(obj, where: str, keys: tuple, *, more: tuple = (), version: int = 1):
    """Null, or an object with exactly these keys, each a number or null (and the keys in
    `more`, checked by the caller)."""
    if obj is None:
        return
    if not isinstance(obj, dict):
        _fail(where, "must be an object or null")
    for key in keys:
        _number(_get(obj, key, where), f"{where}.{key}", optional=True)
    extra = sorted(set(obj) - set(keys) - set(more))
    if extra:
        _fail(f"{where}.{extra[0]}", f"is not part of schema version {version}")


#: Version 2's keys of `step_sizes` besides STEP_KEYS.
STEP_PROOF_KEYS = ("euler_bound", "rk4_bound", "alpha_beta", "direct")
EULER_BOUNDS = ("alpha-beta", "direct")
RK4_BOUNDS = ("alpha-beta", "direct-exact-linear", "direct-spread")


def _step_sizes(steps, version: int) -> None:
    if version == 1:
        _table(steps, "step_sizes", STEP_KEYS)
        return
    _table(steps, "step_sizes", STEP_KEYS, more=STEP_PROOF_KEYS, version=version)
    if steps is None:
        return
    if _get(steps, "euler_bound", "step_sizes") not in EULER_BOUNDS:
        _fail("step_sizes.euler_bound", f"must be one of {', '.join(EULER_BOUNDS)}")
    if _get(steps, "rk4_bound", "step_sizes") not in RK4_BOUNDS + (None,):
        _fail("step_sizes.rk4_bound", f"must be one of {', '.join(RK4_BOUNDS)} or null")
    alpha_beta = _get(steps, "alpha_beta", "step_sizes")
    _table(alpha_beta, "step_sizes.alpha_beta", STEP_KEYS, version=version)
    direct = _get(steps, "direct", "step_sizes")
    # Written together or not at all: `sgn verify` checks the table against SGN's steps when
    # both are null, and against `alpha_beta` and the measurements in `direct` when both are
    # there; one without the other would leave the table unchecked.
    if (alpha_beta is None) != (direct is None):
        _fail("step_sizes.direct", "must be null exactly when step_sizes.alpha_beta is")
    if direct is None:
        if steps["euler_bound"] != "alpha-beta" or steps["rk4_bound"] not in ("alpha-beta", None):
            _fail("step_sizes.euler_bound" if steps["euler_bound"] != "alpha-beta" else
                  "step_sizes.rk4_bound", "names a direct proof, but step_sizes.direct is null")
        return
    _table(direct, "step_sizes.direct", ("rk4_spread",),
           more=("euler_steps", "euler_factors", "rk4_bound"), version=version)
    _numbers(_get(direct, "euler_steps", "step_sizes.direct"), "step_sizes.direct.euler_steps",
             2, positive=True)
    _numbers(_get(direct, "euler_factors", "step_sizes.direct"),
             "step_sizes.direct.euler_factors", 2, nonneg=True)


def _count(value, where: str, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        _fail(where, f"must be a {'positive' if positive else 'non-negative'} integer")


#: Why a pass of a verified run stopped (`estimator.passes.*.stopped`), and which budget
#: stopped the run (`estimator.budget.stopped_by`, or null: none did).
STOPPED = ("certified", "refuted", "converged", "boxes", "seconds", "skipped")
STOPPED_BY = ("boxes", "seconds")


def _interval_estimator(estimator: dict) -> None:
    """The interval estimator's budget and counts, those `sgn verify` reads to re-prove the
    bounds. Every key is optional: certificates written before a key existed lack it."""
    for key in ("boxes", "boxes_enclosed"):
        if key in estimator:
            _count(estimator[key], f"estimator.{key}")
    ratio = estimator.get("target_ratio")
    if ratio is not None:
        _number(ratio, "estimator.target_ratio", positive=True)
        if not ratio < 1:
            _fail("estimator.target_ratio", "must be below 1")
    if estimator.get("margin_ratio") is not None:
        _number(estimator["margin_ratio"], "estimator.margin_ratio", nonneg=True)
    budget = estimator.get("budget")
    if budget is not None:
        if not isinstance(budget, dict):
            _fail("estimator.budget", "must be an object or null")
        if "max_boxes" in budget:
            _count(budget["max_boxes"], "estimator.budget.max_boxes", positive=True)
        if "max_seconds" in budget:
            _number(budget["max_seconds"], "estimator.budget.max_seconds", positive=True)
        if "seconds" in budget:
            _number(budget["seconds"], "estimator.budget.seconds", optional=True, nonneg=True)
        if budget.get("stopped_by") not in (None, *STOPPED_BY):
            _fail("estimator.budget.stopped_by", f"must be null or one of {', '.join(STOPPED_BY)}")
        if "reproducible" in budget and not isinstance(budget["reproducible"], bool):
            _fail("estimator.budget.reproducible", "must be true or false")
    passes = estimator.get("passes")
    if passes is None:
        return
    if not isinstance(passes, dict):
        _fail("estimator.passes", "must be an object or null")
    for name in ("bounds", "metric"):
        record = passes.get(name)
        if record is None:
            continue
        where = f"estimator.passes.{name}"
        if not isinstance(record, dict):
            _fail(where, "must be an object or null")
        for key in ("boxes", "boxes_enclosed", "max_boxes"):
            if key in record:
                _count(record[key], f"{where}.{key}")
        for key in ("max_seconds", "seconds"):
            if key in record:
                _number(record[key], f"{where}.{key}", nonneg=True)
        if "stopped" in record and record["stopped"] not in STOPPED:
            _fail(f"{where}.stopped", f"must be one of {', '.join(STOPPED)}")


def _structure(structure, where: str, dim: int) -> None:
    """A pytree player's layout (optional, any version: a key readers may ignore): its leaf
    count and its first leaves' paths and shapes, whose sizes add up to at most the player's
    dim (exactly the dim when every leaf is listed)."""
    if not isinstance(structure, dict):
        _fail(where, "must be an object or null")
    _count(_get(structure, "leaf_count", where), f"{where}.leaf_count", positive=True)
    leaves = _get(structure, "leaves", where)
    if not isinstance(leaves, list) or len(leaves) > structure["leaf_count"]:
        _fail(f"{where}.leaves", "must be a list of at most leaf_count leaves")
    size = 0
    for k, leaf in enumerate(leaves):
        at = f"{where}.leaves[{k}]"
        if not isinstance(_get(leaf, "path", at), str):
            _fail(f"{at}.path", "must be a string")
        shape = _get(leaf, "shape", at)
        if not isinstance(shape, list):
            _fail(f"{at}.shape", "must be a list of non-negative integers")
        for n in shape:
            _count(n, f"{at}.shape")
        size += math.prod(shape)
    complete = len(leaves) == structure["leaf_count"]
    if size > dim or (complete and size != dim):
        _fail(f"{where}.leaves", f"hold {size} parameters, but the player's dim is {dim}")


#: "euclidean": M(w) = blockdiag(w_i I); "fisher": M(w) = blockdiag(w_i F_i) (docs/fisher.md).
GEOMETRIES = ("euclidean", "fisher")


def check_certificate(data) -> None:
    """Raise CertificateFormatError naming the first thing that is not a readable schema
    version (READABLE_VERSIONS)."""
    if not isinstance(data, dict):
        raise CertificateFormatError("a certificate is a JSON object")
    version = data.get("schema_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise CertificateFormatError(
            f"unknown certificate schema_version {version!r}; this sgn reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}")
    for key in ("status", "geometry"):
        if not isinstance(_get(data, key), str):
            _fail(key, "must be a string")
    if data["geometry"] not in GEOMETRIES:
        _fail("geometry", f"must be one of {', '.join(GEOMETRIES)}")
    if not isinstance(_get(data, "verified"), bool):
        _fail("verified", "must be true or false")

    game = _get(data, "game")
    if not isinstance(_get(game, "name", "game"), str):
        _fail("game.name", "must be a string")
    players = _get(game, "players", "game")
    if not isinstance(players, list) or not players:
        _fail("game.players", "must be a non-empty list")
    for k, p in enumerate(players):
        dim = _get(p, "dim", f"game.players[{k}]")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            _fail(f"game.players[{k}].dim", "must be a positive integer")
        if p.get("structure") is not None:
            _structure(p["structure"], f"game.players[{k}].structure", dim)
    n, d = len(players), sum(p["dim"] for p in players)
    region = _get(game, "region", "game")
    for key in ("low", "high"):
        _numbers(_get(region, key, "game.region"), f"game.region.{key}", d)

    estimator = _get(data, "estimator")
    if not isinstance(_get(estimator, "method", "estimator"), str):
        _fail("estimator.method", "must be a string")
    for key in ("samples", "seed"):
        value = _get(estimator, key, "estimator")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _fail(f"estimator.{key}", "must be a non-negative integer")

    if estimator["method"] == "interval":
        _interval_estimator(estimator)

    bounds = _get(data, "bounds")
    _numbers(_get(bounds, "curvature", "bounds"), "bounds.curvature", n)
    coupling = _get(bounds, "coupling", "bounds")
    if version >= 3 and isinstance(coupling, dict):   # version 3: sparse couplings too
        _coo(coupling, "bounds.coupling", n)
    else:
        if not isinstance(coupling, list) or len(coupling) != n:
            _fail("bounds.coupling", f"must be a {n} x {n} list of numbers")
        for i, row in enumerate(coupling):
            _numbers(row, f"bounds.coupling[{i}]", n, nonneg=True)
    _number(_get(bounds, "lipschitz", "bounds"), "bounds.lipschitz", nonneg=True)
    _number(_get(bounds, "euclidean_margin", "bounds"), "bounds.euclidean_margin")

    _numbers(_get(data, "weights"), "weights", n, positive=True)
    _number(_get(data, "margin"), "margin")
    _table(_get(data, "rates"), "rates", RATE_KEYS)
    _step_sizes(_get(data, "step_sizes"), version)
    _table(_get(data, "band"), "band", BAND_KEYS)
    diagnostics = _get(data, "diagnostics")
    _number(_get(diagnostics, "metric_margin", "diagnostics"), "diagnostics.metric_margin")
    reasons = _get(data, "reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        _fail("reasons", "must be a list of strings")

    equilibrium = data.get("equilibrium")
    if equilibrium is not None:
        _numbers(_get(equilibrium, "x", "equilibrium"), "equilibrium.x", d)
        if not isinstance(_get(equilibrium, "found", "equilibrium"), bool):
            _fail("equilibrium.found", "must be true or false")
        _number(equilibrium.get("residual"), "equilibrium.residual", optional=True)
        if equilibrium["found"]:
            basin = _get(equilibrium, "basin", "equilibrium")
            if _get(basin, "kind", "equilibrium.basin") not in ("box", "ball"):
                _fail("equilibrium.basin.kind", "must be 'box' or 'ball'")
            _number(basin.get("metric_radius"), "equilibrium.basin.metric_radius",
                    optional=True)

    _metric(data, version, [p["dim"] for p in players])


def _matrix(value, where: str, n: int) -> None:
    if not isinstance(value, list) or len(value) != n:
        _fail(where, f"must be a {n} x {n} list of numbers")
    for k, row in enumerate(value):
        _numbers(row, f"{where}[{k}]", n)


def _metric(data: dict, version: int, dims: list) -> None:
    """Version 3's `metric`: null or a block-matrix metric whose blocks fit the players (that
    they are positive definite, and agree with their recipe, is checked where the metric is
    rebuilt: sgn/_metric.py `BlockMatrix.from_dict`)."""
    if version < 3:
        # null says "the metric of `weights`", which is all an older version could mean
        if data.get("metric") is not None:
            _fail("metric", f"is not part of schema version {version}")
        return
    metric = _get(data, "metric")
    if metric is None:
        return
    if not isinstance(metric, dict):
        _fail("metric", "must be an object or null")
    if _get(metric, "kind", "metric") != "block_matrix":
        _fail("metric.kind", "must be 'block_matrix'")
    if _get(metric, "rung", "metric") not in METRIC_RUNGS:
        _fail("metric.rung", f"must be one of {', '.join(METRIC_RUNGS)}")
    blocks = _get(metric, "blocks", "metric")
    sizes = [sum(dims)] if metric["rung"] == "joint" else dims   # joint: one d x d matrix
    if not isinstance(blocks, list) or len(blocks) != len(sizes):
        _fail("metric.blocks", f"must be a list of {len(sizes)} matrices")
    for k, (block, m) in enumerate(zip(blocks, sizes)):
        _matrix(block, f"metric.blocks[{k}]", m)
    if "rotations" in metric:
        rotations = metric["rotations"]
        if not isinstance(rotations, list) or len(rotations) != len(dims):
            _fail("metric.rotations", f"must be a list of {len(dims)} matrices")
        for k, (q, m) in enumerate(zip(rotations, dims)):
            _matrix(q, f"metric.rotations[{k}]", m)
        _numbers(_get(metric, "fine_weights", "metric"), "metric.fine_weights", sum(dims),
                 positive=True)
    _number(_get(metric, "sgn_margin", "metric"), "metric.sgn_margin")
    extra = sorted(set(metric) - {"kind", "rung", "blocks", "rotations", "fine_weights",
                                  "sgn_margin"})
    if extra:
        _fail(f"metric.{extra[0]}", f"is not part of schema version {version}")


# --- sparse coupling matrices (version 3) ---------------------------------------------------

def coo_record(matrix) -> dict:
    """A scipy.sparse N x N coupling matrix as the certificate stores it (version 3): its
    non-zero off-diagonal entries in row-major order."""
    import numpy as np
    import scipy.sparse as sp

    M = sp.csr_matrix(matrix, dtype=np.float64)
    M = M - sp.diags(M.diagonal())
    M.eliminate_zeros()
    M.sort_indices()
    C = M.tocoo()
    return {"format": "coo", "shape": [int(M.shape[0]), int(M.shape[1])],
            "rows": C.row.astype(int).tolist(), "cols": C.col.astype(int).tolist(),
            "values": C.data.tolist()}


def _coo(record: dict, where: str, n: int) -> None:
    if record.get("format") != "coo":
        _fail(f"{where}.format", "must be 'coo' (or the coupling a list of rows)")
    if record.get("shape") != [n, n]:
        _fail(f"{where}.shape", f"must be [{n}, {n}]")
    rows, cols, values = (_get(record, k, where) for k in ("rows", "cols", "values"))
    m = len(values) if isinstance(values, list) else -1
    for key, seq in (("rows", rows), ("cols", cols)):
        if not isinstance(seq, list) or len(seq) != m:
            _fail(f"{where}.{key}", "must be a list as long as values")
        for k, v in enumerate(seq):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n:
                _fail(f"{where}.{key}[{k}]", f"must be an integer in 0 ... {n - 1}")
    for k, v in enumerate(values):
        _number(v, f"{where}.values[{k}]", nonneg=True)
    pairs = set()
    for k, (i, j) in enumerate(zip(rows, cols)):
        if i == j:
            _fail(f"{where}.rows[{k}]", "is on the diagonal (L_ii is 0 and not stored)")
        if (i, j) in pairs:
            _fail(f"{where}.rows[{k}]", f"repeats the pair ({i}, {j})")
        pairs.add((i, j))


def coupling_matrix(coupling):
    """The certificate's `bounds.coupling` as a matrix: a numpy array for a list of rows, a
    scipy.sparse CSR for a COO record (read only after check_certificate)."""
    import numpy as np
    import scipy.sparse as sp

    if isinstance(coupling, dict):
        n = coupling["shape"][0]
        return sp.csr_matrix((np.asarray(coupling["values"], dtype=float),
                              (np.asarray(coupling["rows"], dtype=np.int64),
                               np.asarray(coupling["cols"], dtype=np.int64))), shape=(n, n))
    return np.asarray(coupling, dtype=float)
