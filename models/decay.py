"""Exponential decay of stored sums without rewriting them: forward decay, shared by the models
that count with a half-life (:class:`~models.trending.Trending`,
:class:`~models.covisitation.CoVisitation`)."""

from __future__ import annotations

import math

__all__ = ["ForwardDecay"]

# The landmark moves in epochs of this many decay constants: stored sums then stay below about
# e^30 (1e13) times the events' weight, far inside a double and short in a store's text form.
_EPOCH_EXPONENT = 30.0


class ForwardDecay:
    """Exponential decay by forward decay (Cormode, Shkapenyuk, Srivastava & Xu, 2009).

    An event of weight w at time t adds ``w * exp((t - L) / tau)`` to a stored sum, with the
    landmark L and ``tau = half_life_s / ln 2``; the sum's value at time ``now`` is the stored one
    times :meth:`factor` ``(now)``. All sums of a table share L, so ranking by stored value is
    ranking by decayed value. L moves in fixed epochs, computed from the event time alone, so
    writers on different workers agree on it without talking; when it moves, every stored sum is
    multiplied by the factor :meth:`advance` returns (Redis: ``ZUNIONSTORE k 1 k WEIGHTS f``).

    >>> decay = ForwardDecay(half_life_s=10.0)
    >>> decay.advance(0.0), decay.amount(1.0, 0.0), decay.amount(1.0, 10.0)
    (1.0, 1.0, 2.0)
    >>> decay.factor(10.0)  # what 1.0 stored is worth one half-life after the landmark
    0.5
    """

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self.tau = half_life_s / math.log(2)
        self.epoch_s = _EPOCH_EXPONENT * self.tau
        self.landmark: float | None = None

    def landmark_for(self, ts: float) -> float:
        """The landmark an event at ``ts`` is counted against (never earlier than the current)."""
        start = math.floor(ts / self.epoch_s) * self.epoch_s
        return start if self.landmark is None else max(self.landmark, start)

    def amount(self, weight: float, ts: float) -> float:
        return weight * 2.0 ** ((ts - self.landmark_for(ts)) / self.half_life_s)

    def advance(self, ts: float) -> float:
        """Move the landmark for an event at ``ts``; the factor to rescale stored sums by."""
        landmark = self.landmark_for(ts)
        factor = 1.0 if self.landmark is None else 2.0 ** ((self.landmark - landmark)
                                                            / self.half_life_s)
        self.landmark = landmark
        return factor

    def factor(self, now_ts: float) -> float:
        """A stored sum times this is its decayed value at ``now_ts``.

        A time long before the landmark (a request dated 1970 in a stream of 2026) is taken as
        one epoch before it: the factor stays finite (2 ** 3000 is not a double), and no time
        within the epoch that the stream can reach is changed.

        >>> ForwardDecay(half_life_s=10.0).factor(-1e12)  # no landmark yet: nothing decayed
        1.0
        """
        if self.landmark is None:
            return 1.0
        now_ts = max(now_ts, self.landmark - self.epoch_s)
        return 2.0 ** ((self.landmark - now_ts) / self.half_life_s)
