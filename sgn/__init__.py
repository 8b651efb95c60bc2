"""sgn: Small-Gain Nash certificates for gradient learning in N-player games.

    cert = sgn.certify(game)          # the whole pipeline
    cert.status, cert.weights, cert.margin, cert.step_sizes

The stages are public too, and compose the same way:

    estimator = sgn.Sampled()                      # or sgn.Verified(): bounds proved
    bounds  = estimator.bounds(game)                                     # mu, L, gamma
    weights = sgn.optimize_weights(bounds.curvature, bounds.coupling)    # w, alpha(w)
    metric  = estimator.in_metric(game, game.metric(weights.weights), bounds)   # beta(w)
"""

__version__ = "0.1.0"

import importlib
import os
import sys

# Float64 from `import sgn` on, without importing JAX (most of a second): JAX reads this
# variable when it is first imported. Arrays a game file makes with jax.numpy after `import
# sgn` are then float64 even before the first sgn name loads sgn._config (which switches the
# flag itself); arrays made before `import sgn` are caught by the game's float32 check
# (sgn/_game.py `single_precision`).
if "jax" in sys.modules:
    sys.modules["jax"].config.update("jax_enable_x64", True)
else:
    os.environ["JAX_ENABLE_X64"] = "1"

#: Where each public name lives. `import sgn` loads none of them (nor JAX, which alone takes
#: most of a second): a name is imported the first time it is used, so `sgn --help` and
#: scripts that only read certificates start fast.
_PUBLIC = {
    "_bounds": ("Bounds", "MetricBounds", "Sampled", "estimate_bounds", "estimate_in_metric"),
    "_certificate": ("SCHEMA_VERSION", "Certificate", "Status"),
    "_certify": ("certify",),
    "_config": ("use_compilation_cache",),
    "_errors": ("CertificateFormatError", "GameDefinitionError", "GameLoadError",
                "OutputPathError", "SGNError"),
    "_dynamics": ("Basin", "Equilibrium", "basin", "find_equilibrium"),
    "_game": ("Box", "Game"),
    "_interval": ("Verified",),
    "_load": ("load_game",),
    "_matrix_free": ("MatrixFree",),
    "_metric": ("BlockScalar", "BlockMatrix", "Fisher"),
    "_markov": ("MarkovGame",),
    "_simulate": ("Run", "Simulation", "simulate"),
    "_sparse_bounds": ("SparseSampled",),
    "_steps": ("StepSizes", "euler_factor", "rk4_factor", "step_sizes"),
    "_verdict": ("Outcome", "Promise", "Verdict"),
    "_verify": ("Check", "Verification", "read_certificate", "verify"),
    "_weights": ("Band", "LPWeights", "Perron", "SDPBisection", "Weights", "WeightStatus",
                 "best_possible_margin", "comparison_matrix", "optimize_weights", "sgn_margin",
                 "sgn_matrix", "spectral_radius", "two_player_band"),
}
_HOME = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'sgn' has no attribute {name!r}")
    importlib.import_module("._config", __name__)   # float64 on, before anything touches JAX
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value                          # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
