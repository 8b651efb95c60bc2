"""Errors a user can act on. The CLI turns each into one line on stderr and exit code 2."""

from __future__ import annotations


class SGNError(Exception):
    """Base class: bad input, never a bug. The message says what to change."""


class GameLoadError(SGNError):
    """A game file that does not exist, does not import, or defines no (or several) games."""


class GameDefinitionError(SGNError):
    """A game whose dims, costs, field or region disagree, or that is not finite on its region."""


class CertificateFormatError(SGNError):
    """A certificate that does not parse, misses keys, or has an unknown schema version."""


class OutputPathError(SGNError):
    """An output path whose folder does not exist or cannot be written."""
