"""sgn: Small-Gain Nash certificates for gradient learning in N-player games.

    cert = sgn.certify(game)          # the whole pipeline
    cert.status, cert.weights, cert.margin, cert.step_sizes

The stages are public too, and compose the same way:

    bounds  = sgn.estimate_bounds(game)                                 # mu, L, gamma
    weights = sgn.optimize_weights(bounds.curvature, bounds.coupling)    # w, alpha(w)
    metric  = sgn.estimate_in_metric(game, weights.weights, bounds)      # beta(w)
"""

__version__ = "0.1.0"

from . import _config  # noqa: E402,F401  (float64 on, before anything touches JAX)
from ._bounds import Bounds, MetricBounds, Sampled, estimate_bounds, estimate_in_metric  # noqa: E402
from ._certificate import SCHEMA_VERSION, Certificate, Status  # noqa: E402
from ._certify import certify  # noqa: E402
from ._errors import (  # noqa: E402
    CertificateFormatError,
    GameDefinitionError,
    GameLoadError,
    OutputPathError,
    SGNError,
)
from ._dynamics import Basin, Equilibrium, basin, find_equilibrium  # noqa: E402
from ._game import Box, Game  # noqa: E402
from ._load import load_game  # noqa: E402
from ._markov import MarkovGame  # noqa: E402
from ._simulate import Run, Simulation, simulate  # noqa: E402
from ._steps import StepSizes, euler_factor, rk4_factor, step_sizes  # noqa: E402
from ._verdict import Outcome, Promise, Verdict  # noqa: E402
from ._verify import Check, Verification, read_certificate, verify  # noqa: E402
from ._weights import (  # noqa: E402
    Band,
    LPWeights,
    Perron,
    SDPBisection,
    Weights,
    WeightStatus,
    best_possible_margin,
    comparison_matrix,
    optimize_weights,
    sgn_margin,
    sgn_matrix,
    spectral_radius,
    two_player_band,
)

__all__ = [
    "SCHEMA_VERSION", "Band", "Basin", "Bounds", "Box", "Certificate", "CertificateFormatError",
    "Check", "Equilibrium", "Run", "Simulation", "Verification", "basin", "find_equilibrium",
    "read_certificate", "simulate", "verify", "Outcome", "Promise", "Verdict",
    "Game", "GameDefinitionError", "MarkovGame", "GameLoadError", "LPWeights", "MetricBounds",
    "OutputPathError", "Perron", "SDPBisection", "SGNError", "Sampled", "Status", "StepSizes",
    "WeightStatus", "Weights", "best_possible_margin", "certify", "comparison_matrix",
    "estimate_bounds", "estimate_in_metric", "euler_factor", "load_game", "optimize_weights",
    "rk4_factor", "sgn_margin", "sgn_matrix", "spectral_radius", "step_sizes",
    "two_player_band",
]
