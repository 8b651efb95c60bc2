"""Ship batches to executor workers: the interval program once per worker, then only its key.

A batch is a few hundred boxes (a few kB), but the compiled interval program of the Jacobian
and its derivative is ~100 kB of nested tuples, and Dask hashes every argument of a task. So
the program travels by reference:

* each worker process keeps the programs it has seen in `_CACHE`, keyed by the enclosure's
  content hash (`JacobianEnclosure.key`); thread workers share the driver's cache;
* the first call on an executor attaches the program to every task; later calls send the key
  alone, and a worker that does not hold it (a new or restarted worker) answers
  `Missing` (from `ProgramMissing`), upon which that task alone is sent again with the program attached, and
  the next call attaches it to every task again (the scheduler may have run the resent task
  on another worker, so only a call without misses shows that every worker is seeded).

This needs nothing from the executor beyond `submit`, so it works for process pools, thread
pools, Dask and anything else; what each task computes does not change, so results stay
bit-identical across executors.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import threading
import weakref

from .._errors import SGNError
from ._enclose import JacobianEnclosure

#: Programs a worker keeps (a worker rarely serves more than one or two games at a time).
CACHE_SIZE = 8
#: Fewest boxes worth a task: below this, per-task overhead (interpreting ~1000 program steps
#: on tiny arrays, plus the round trip) dominates the per-box work.
MIN_BATCH = 32
#: Most boxes per task: bounds the memory of one evaluation (the derivative program holds
#: d^3 intervals per box).
MAX_BATCH = 2048

_CACHE: collections.OrderedDict[str, JacobianEnclosure] = collections.OrderedDict()
_LOCK = threading.Lock()
_SENT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # executor -> keys sent


class ProgramMissing(SGNError):
    """A worker was sent a program key it does not hold (the driver resends the program)."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"interval program {key[:12]} is not cached on this worker")

    def __reduce__(self):  # picklable across processes with its key, not its message
        return ProgramMissing, (self.key,)


@dataclasses.dataclass(frozen=True)
class ProgramRef:
    """A program by key, with the program itself attached only when the worker may lack it."""

    key: str
    enclosure: JacobianEnclosure | None = None


def remember(enclosure: JacobianEnclosure) -> None:
    """Keep `enclosure` in this process's cache (least recently used out)."""
    with _LOCK:
        _CACHE[enclosure.key] = enclosure
        _CACHE.move_to_end(enclosure.key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)


def resolve(program: JacobianEnclosure | ProgramRef) -> JacobianEnclosure:
    """The enclosure a task refers to; raises ProgramMissing when only its key came and this
    process does not hold it."""
    if isinstance(program, JacobianEnclosure):
        return program
    if program.enclosure is not None:
        remember(program.enclosure)
        return program.enclosure
    with _LOCK:
        cached = _CACHE.get(program.key)
    if cached is None:
        raise ProgramMissing(program.key)
    return cached


def worker_count(executor) -> int:
    """How many tasks `executor` runs at once (its own count when it says, else the cores)."""
    for name in ("workers", "_max_workers"):
        count = getattr(executor, name, None)
        if isinstance(count, int) and count > 0:
            return count
    return os.cpu_count() or 1


def batch_size_for(boxes: int, workers: int) -> int:
    """One task per worker per round, within [MIN_BATCH, MAX_BATCH].

    Boxes of a round cost about the same, so an even split keeps every worker busy with the
    fewest tasks (each pays a fixed interpretation and transport cost). In-process
    (workers = 1) this is one big vectorised batch.
    """
    return min(MAX_BATCH, max(MIN_BATCH, math.ceil(boxes / max(workers, 1))))


def run(fn, tasks, enclosure: JacobianEnclosure, executor, attach) -> list:
    """fn(task) for every task, in order, with the program sent by reference (module docstring).

    `attach(task, program)` returns the task with its program field replaced by `program`.
    """
    if executor is None:
        return [fn(attach(task, enclosure)) for task in tasks]
    sent = _sent_keys(executor)
    first = enclosure.key not in sent
    ref = ProgramRef(enclosure.key, enclosure if first else None)
    futures = [executor.submit(_guarded, fn, attach(task, ref)) for task in tasks]
    sent.add(enclosure.key)
    results = [future.result() for future in futures]
    full = ProgramRef(enclosure.key, enclosure)
    retries = {k: executor.submit(fn, attach(tasks[k], full))
               for k, r in enumerate(results) if isinstance(r, Missing)}
    for k, future in retries.items():
        results[k] = future.result()
    if retries:
        sent.discard(enclosure.key)
    return results


@dataclasses.dataclass(frozen=True)
class Missing:
    """A worker's answer to a task whose program it does not hold (returned, not raised, so
    schedulers such as Dask do not log an expected event as a failed task)."""

    key: str


def _guarded(fn, task):
    try:
        return fn(task)
    except ProgramMissing as missing:
        return Missing(missing.key)


def _sent_keys(executor) -> set:
    try:
        return _SENT.setdefault(executor, set())
    except TypeError:  # not weak-referenceable: always attach the program
        return set()
