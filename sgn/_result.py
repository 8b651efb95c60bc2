"""A small result type: a frozen dataclass that also reads like a plain dict.

Like scipy.optimize.OptimizeResult, a result can be used as `res.margin` or `res["margin"]`,
and `dict(res)` or `res.to_dict()` gives plain, JSON-ready data.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping

import numpy as np


class Result(Mapping):
    """Mixin for frozen dataclasses: Mapping access over the fields, and to_dict()."""

    def __getitem__(self, key):
        if key not in self._field_names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._field_names())

    def __len__(self):
        return len(self._field_names())

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.repr)

    def to_dict(self) -> dict:
        """Plain JSON-ready data: numbers, strings, lists, dicts, None."""
        return {k: plain(v) for k, v in self.items()}


def plain(value):
    """Convert numpy arrays and scalars, enums and nested results to JSON-ready data.

    Non-finite floats become None: JSON has no inf or NaN, and a reader must not have to guess
    how an extension was spelt. The schema documents every field that can be None.
    """
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()] if value.ndim else plain(value.item())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value
