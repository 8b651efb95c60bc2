"""The budget of a verified run: one deadline for the whole run, and what each pass did.

    deadline = Deadline(max_seconds)        # made once, when the verified run starts
    deadline.remaining(), deadline.expired()
    record = PassRecord(...)                # one per pass: counts, limits, seconds, why it stopped

`sgn certify --verify --max-seconds S` makes one Deadline before the interval program is
compiled and hands the same object to the bounds pass and the metric pass, so S bounds the
whole verified run rather than each part. It is read between batches of boxes: what runs between
two readings cannot be interrupted (tracing and compiling the interval program, the first
enclosure of the whole region, and one batch of boxes; see docs/verified.md).

A pass's counts, limits and seconds live in its PassRecord; the certificate's estimator fields
and every sentence that quotes them are made from that record, so they cannot disagree.
"""

from __future__ import annotations

import dataclasses
import time

from .._result import Result


class Deadline:
    """A point in time, on the monotonic clock, after which a verified run stops.

    `within(seconds)` gives the earlier of this deadline and `seconds` from now: a part of the
    run with a limit of its own still ends with the run.
    """

    def __init__(self, seconds: float, *, clock=time.monotonic):
        self.seconds = float(seconds)
        self._clock = clock
        self._start = clock()
        self._end = self._start + self.seconds

    def elapsed(self) -> float:
        return self._clock() - self._start

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._end

    def within(self, seconds: float) -> Deadline:
        sooner = Deadline(seconds, clock=self._clock)
        sooner._end = min(sooner._end, self._end)
        return sooner


class OutOfTime(Exception):
    """The deadline passed between two batches: the unfinished round is dropped (internal; the
    passes catch it and report how far they got)."""


@dataclasses.dataclass(frozen=True)
class PassRecord(Result):
    """What one pass of the verified run did (the certificate's `estimator.passes`).

    Attributes:
        boxes: boxes in the pass's final partition (the boxes its bounds come from).
        boxes_enclosed: boxes whose Jacobian the pass enclosed (a split encloses two).
        max_boxes: its limit on boxes enclosed.
        max_seconds: its limit on seconds (the bounds pass: the whole run's budget).
        seconds: wall time of the pass.
        stopped: why it stopped: "certified" or "refuted" (the bounds pass decided),
            "converged" (the metric pass: nothing left worth splitting), "skipped" (the metric
            pass: no time left when it began), "boxes" or "seconds" (a limit ended it).
    """

    boxes: int
    boxes_enclosed: int
    max_boxes: int
    max_seconds: float
    seconds: float
    stopped: str


def limit_text(record: PassRecord) -> str:
    """The limit that ended a pass, as the user sets it."""
    if record.stopped == "boxes":
        return f"the box budget (--max-boxes {record.max_boxes})"
    return f"the time budget (--max-seconds {record.max_seconds:g})"


def counts_text(record: PassRecord) -> str:
    """A pass's counts and seconds, each number as the record holds it."""
    return (f"{record.boxes_enclosed} boxes enclosed (limit {record.max_boxes}) in "
            f"{record.seconds:.3g} s, {record.boxes} boxes in the final partition")
