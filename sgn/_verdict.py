"""One vocabulary for what a simulation found (docs/simulate.md).

A run is inside the certificate when the game is certified and the method's step is within
the step the certificate proves for it. The certificate then promises contraction at the
certified factor, and the run either kept that promise or broke it. Every other run is outside
the certificate: nothing is promised, and its verdict says only what was observed (converged,
diverged or undecided), never "kept".

    Promise    whether the certificate covers a run, and if not, why not
    Verdict    what the run did: kept / broken (a promise) or converged / diverged /
               undecided (no promise)
    Outcome    the whole simulation, which `sgn simulate` turns into its exit code
    certifies  whether a certificate promises anything at all
    observe    converged / diverged / undecided from a run's measure, step by step

Each member carries the sentence a user reads (`.message`); `.value` is its name in JSON.
"""

from __future__ import annotations

import enum

import numpy as np

#: A run converged when, from every start, the distance to the equilibrium (or the residual)
#: fell at least this much over the run. Three orders: well above rounding, and a fall no
#: transient fakes.
CONVERGED_FACTOR = 1e-3

#: The same test on a squared distance (the KL Lyapunov function V of a Markov game is about
#: half the squared distance near the equilibrium, so its factor is CONVERGED_FACTOR^2).
CONVERGED_FACTOR_SQUARED = 1e-6


class _Described(str, enum.Enum):
    """A string enum whose members are declared as (name, message)."""

    def __new__(cls, value: str, message: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.message = message
        return member

    def __str__(self) -> str:
        return self.value

    def to_dict(self) -> dict:
        return {"name": self.value, "message": self.message}


class Promise(_Described):
    """Whether the certificate covers a run (`applies`), and if not, why not."""

    CONTRACTION = (
        "contraction",
        "inside the certificate: the game is certified and the step is within the certified "
        "bound for this method, so every step must contract by at least the certified factor")
    STEP_ABOVE_BOUND = (
        "step_above_bound",
        "outside the certificate: the step is above the certified bound for this method, so "
        "nothing is promised")
    METHOD_NOT_PROVED = (
        "method_not_proved",
        "outside the certificate: no step is proved for this method on this game, so nothing "
        "is promised")
    NOT_CERTIFIED = (
        "not_certified",
        "outside the certificate: the game is not certified, so nothing is promised")

    @property
    def applies(self) -> bool:
        return self is Promise.CONTRACTION

    def with_detail(self, detail: str) -> dict:
        """The JSON form of a run's promise: applies, name, message, and the run's numbers."""
        return {"applies": self.applies, **self.to_dict(), "detail": detail}


class Verdict(_Described):
    """What one run did. kept / broken only inside the certificate; the others only outside."""

    KEPT = (
        "kept",
        "inside the certificate, and every observed step contracted at least as promised")
    BROKEN = (
        "broken",
        "inside the certificate, yet an observed step broke the promise: a bug in sgn, or an "
        "extreme the sampled bounds missed (not possible for verified bounds); the starts that "
        "reproduce it are listed; please report it")
    CONVERGED = (
        "converged",
        "no promise; observed: from every start the distance to the equilibrium (or the "
        "residual) fell at least 1000-fold over the run (V of a Markov game a million-fold)")
    DIVERGED = (
        "diverged",
        "no promise; observed: from some start the distance to the equilibrium (or the "
        "residual, or V) overflowed, grew, or stopped falling in the second half of the run: "
        "the iterates are not converging")
    UNDECIDED = (
        "undecided",
        "no promise; observed: the distance to the equilibrium (or the residual, or V) was "
        "still falling at the end, but not yet by the factor that counts as converged; more "
        "--steps may decide")

    @property
    def promised(self) -> bool:
        """Whether this verdict judges a promise (kept, broken) or an observation."""
        return self in (Verdict.KEPT, Verdict.BROKEN)


class Outcome(_Described):
    """The simulation as a whole: what `sgn simulate` exits with (docs/simulate.md)."""

    KEPT = (
        "kept",
        "every run counted was inside the certificate and kept its promise")
    BROKEN = (
        "broken",
        "a promise was broken: a bug in sgn, or an extreme the sampled bounds missed; please "
        "report it with the starts listed")
    NO_PROMISE = (
        "no_promise",
        "not every run was inside the certificate: nothing was promised for those, and their "
        "verdicts report only what was observed (nothing promised was broken)")


def certifies(cert) -> bool:
    """Whether `cert` promises anything: certified, with step sizes and its equilibrium."""
    eq = cert.equilibrium
    return (cert.status.value == "certified" and cert.step_sizes is not None
            and eq is not None and bool(eq.get("found")))


def outcome(verdicts) -> Outcome:
    """BROKEN if any verdict is broken, else NO_PROMISE if any run had no promise, else KEPT."""
    verdicts = list(verdicts)
    if any(v is Verdict.BROKEN for v in verdicts):
        return Outcome.BROKEN
    if all(v is Verdict.KEPT for v in verdicts):
        return Outcome.KEPT
    return Outcome.NO_PROMISE


def observe(measure, converged: float = CONVERGED_FACTOR) -> Verdict:
    """converged, diverged or undecided, from a run's measure m[k, s] (step k = 0..T, start s).

    The measure is a distance to the equilibrium, a residual, or (with converged =
    CONVERGED_FACTOR_SQUARED) a squared distance such as a Markov game's V. A start has
    converged when m[T] <= converged * m[0]. The run

    - converged when every start has;
    - diverged when some value is not finite, or some start that has not converged did not
      fall from the second quarter of the run to the last (max of m over steps T/4..T/2 <=
      max over 3T/4..T): it grew, or stalled, e.g. on a cycle;
    - is undecided otherwise: every start still falling, not all far enough.
    """
    m = np.asarray(measure, dtype=np.float64)
    if not np.isfinite(m).all():
        return Verdict.DIVERGED
    done = m[-1] <= converged * m[0]
    if done.all():
        return Verdict.CONVERGED
    T = m.shape[0] - 1
    middle = m[T // 4: T // 2 + 1].max(axis=0)
    end = m[max(3 * T // 4, T // 2 + 1):].max(axis=0)
    return Verdict.DIVERGED if ((end >= middle) & ~done).any() else Verdict.UNDECIDED
