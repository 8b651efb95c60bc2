"""The certificate: data anyone can re-check, and its JSON schema.

docs/certificate.md documents every key. The schema is versioned: readers refuse a version they
do not know instead of guessing.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from ._errors import CertificateFormatError
from ._result import Result, plain
from ._schema import SCHEMA_VERSION, check_certificate


class Status(str, enum.Enum):
    """What the certificate says; `.message` is the sentence a user reads first."""

    CERTIFIED = "certified"
    NOT_CERTIFIED = "not_certified"
    INCONCLUSIVE = "inconclusive"

    @property
    def message(self) -> str:
        return {
            "certified": "gradient play converges to the unique Nash equilibrium on the region, "
                         "at the rate and with the step sizes below",
            "not_certified": "SGN cannot certify this game on this region; the reasons say why "
                             "and what would have to change",
            "inconclusive": "the bounds are too close to the boundary of certifiability, or "
                            "disagree with each other; the reasons say what to try",
        }[self.value]


@dataclasses.dataclass(frozen=True)
class Certificate(Result):
    """An SGN certificate. `to_dict()` / `to_json()` write it, `from_json()` reads it back.

    Attributes mirror the JSON keys (docs/certificate.md): status, verified, geometry, game,
    estimator, bounds, weights, margin, rates, step_sizes, band, diagnostics, reasons, notes,
    equilibrium, metric, schema_version, tool. `metric` (version 3) is the block-matrix metric
    the certificate is about when the metric search found one (`BlockMatrix.to_dict`, with
    SGN's own weights and margin beside it), else null: the metric is that of `weights`.
    """

    status: Status
    verified: bool
    geometry: str
    game: dict
    estimator: dict
    bounds: dict
    weights: list
    margin: float
    rates: dict | None
    step_sizes: dict | None
    band: dict | None
    diagnostics: dict
    reasons: list
    notes: list = dataclasses.field(default_factory=list)
    equilibrium: dict | None = None
    metric: dict | None = None
    schema_version: int = SCHEMA_VERSION
    tool: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        # A certificate is data: store plain JSON values, so that equality, hashing of its
        # text and round trips through JSON all see the same thing.
        for f in dataclasses.fields(self):
            if f.name != "status":
                object.__setattr__(self, f.name, plain(getattr(self, f.name)))
        object.__setattr__(self, "status", Status(self.status))

    @property
    def certified(self) -> bool:
        return self.status is Status.CERTIFIED

    @property
    def n_players(self) -> int:
        return len(self.game["players"])

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Any) -> Certificate:
        """Read a certificate, refusing anything that is not a well-formed one of a version this
        sgn reads (1, 2 or 3: sgn/_schema.py)."""
        check_certificate(data)
        try:
            status = Status(data["status"])
        except ValueError:
            raise CertificateFormatError(f"unknown certificate status {data['status']!r}") from None
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in known}
        fields["status"] = status
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> Certificate:
        def refuse(constant):  # JSON has no NaN or Infinity; Python's reader would take them
            raise CertificateFormatError(f"certificate contains {constant}, which is not JSON")

        try:
            data = json.loads(text, parse_constant=refuse)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CertificateFormatError(f"certificate is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        first = ("schema_version", "tool")
        data = {k: plain(self[k]) for k in first}
        data.update({k: plain(v) for k, v in self.items() if k not in first})
        return data
