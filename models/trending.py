"""What is bought now, here, in this weather: time-decayed item counts per context scope.

Every interaction counts in the global scope, in its location's, in its weather condition's and
in its (location, condition)'s (see :func:`scope_keys`). Counts decay with forward decay
(:class:`ForwardDecay`): an increment is a plain number added to a stored sum, so increments
commute and a store applies them as they come (Redis ``ZINCRBY``); :meth:`Trending.increment_for`
gives them without touching the model.

As a recommender, Trending ranks by the share of the user's most specific scope, smoothed toward
its parents: a scope with little (decayed) mass borrows from the wider one, so a thin scope backs
off to the location and weather scopes and they back off to the global one::

    p_global(i)    = n_global(i) / N_global
    p_location(i)  = (n_location(i) + m * p_global(i)) / (N_location + m)       (same for condition)
    p_both(i)      = (n_both(i) + m * mean(p_location(i), p_condition(i))) / (N_both + m)

with ``m`` = ``prior_mass``, n and N decayed to the request's time.

>>> model = Trending(half_life_s=86_400.0, prior_mass=1.0)
>>> for t, (item, weather) in enumerate([("umbrella", "rain"), ("umbrella", "rain"),
...                                      ("sunglasses", "clear"), ("sunglasses", "clear"),
...                                      ("sunglasses", "clear"), ("tea", "rain")]):
...     model.learn_one(Interaction("u", item, ts=60.0 * t, location="London", condition=weather))
>>> rain = Context(ts=600.0, location="London", condition="rain")
>>> [s.item_id for s in model.recommend("anyone", k=2, context=rain)]
['umbrella', 'tea']
>>> [s.item_id for s in model.recommend("anyone", k=2, context=Context(ts=600.0))]
['sunglasses', 'umbrella']
>>> [(item, round(value, 3)) for item, value in model.top("condition=rain", 2, now_ts=300.0)]
[('umbrella', 1.996), ('tea', 1.0)]
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterable, Mapping, Set
from itertools import islice
from operator import itemgetter

from models.base import Context, Interaction, Recommender, Scored

__all__ = ["GLOBAL", "ForwardDecay", "Trending", "scope_keys"]

GLOBAL = "global"
# The landmark moves in epochs of this many decay constants: stored sums then stay below about
# e^30 (1e13) times the events' weight, far inside a double and short in a store's text form.
_EPOCH_EXPONENT = 30.0
# When the landmark moves, sums below this many event-weights at the new landmark (about ten
# half-lives old) are dropped: they can no longer rank, and keeping them would grow without end.
_PRUNE_BELOW = 1e-3
# Each scope keeps at least its best _TOP_KEPT items apart (up to twice that; then the best half
# stays, so the sort this costs is paid once per _TOP_KEPT entries), and ranking a scope sorts a
# few hundred items, not the scope. It is exact: stored sums only grow, so an item outside can
# only overtake one inside by its own increment, which is checked against the cutoff (the largest
# sum ever left outside).
_TOP_KEPT = 100


def scope_keys(location: str | None, condition: str | None) -> list[str]:
    """The scopes an event at this place and weather counts in, widest first."""
    return list(_scope_keys(location, condition))


# Every event needs its scopes, and a shop has a few dozen places and conditions: formatting
# the keys once per pair, not once per event, takes a quarter off Trending.learn_one.
@functools.lru_cache(maxsize=4096)
def _scope_keys(location: str | None, condition: str | None) -> tuple[str, ...]:
    keys = [GLOBAL]
    if location:
        keys.append(f"location={location}")
    if condition:
        keys.append(f"condition={condition}")
    if location and condition:
        keys.append(f"location,condition={location}|{condition}")
    return tuple(keys)


def _share_terms(counts_by_scope: Mapping[str, dict[str, float]], mass: Mapping[str, float],
                 factor: float, m: float, context: Context) -> list[tuple[dict[str, float], float]]:
    """The smoothed share of the module docstring as a weighted sum of stored counts, with the
    scopes' stored counts and masses, ``factor`` (:meth:`ForwardDecay.factor`) at the request's
    time and ``m`` the prior mass.

    Each level of scopes is a linear map of the share above it, so the share of an item is
    ``sum(coefficient * counts.get(item))`` over the context's scopes, and the coefficients
    (set by the scopes' masses) are computed once per request, not once per item.
    """
    terms = [(counts_by_scope[GLOBAL], 1.0 / mass[GLOBAL])]
    location, condition = context.location, context.condition
    levels = ([location and f"location={location}", condition and f"condition={condition}"],
              [location and condition and f"location,condition={location}|{condition}"])
    for scopes in levels:
        own = []  # (counts, a, b): share = a * decayed count + b * the parent's share
        for scope in filter(None, scopes):  # a scope of the context's known facts
            counts = counts_by_scope.get(scope)
            if counts:
                denominator = factor * mass[scope] + m
                own.append((counts, factor / denominator, m / denominator))
        if own:  # the mean over the level's scopes
            inherited = sum(b for _, _, b in own) / len(own)
            terms = ([(counts, c * inherited) for counts, c in terms]
                     + [(counts, a / len(own)) for counts, a, _ in own])
    return terms


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


class Trending(Recommender):
    """Forward-decayed item counts per context scope; see the module docstring.

    ``half_life_s``: a day, the rhythm of a busy shop's demand and of the weather it reacts to
    (a shop with few orders a day needs longer: :class:`HybridRecommender` uses a week).
    ``prior_mass``: how much decayed weight (a purchase is 3) a scope needs before its own
    counts outweigh its parent's: 10 is about three purchases (3, 10 and 30 scored alike on
    Online Retail, where nearly all orders come from one country).
    """

    def __init__(self, half_life_s: float = 86_400.0, prior_mass: float = 10.0) -> None:
        self.half_life_s = half_life_s
        self.prior_mass = prior_mass
        self._decay = ForwardDecay(half_life_s)
        self._counts: dict[str, dict[str, float]] = {}
        self._mass: dict[str, float] = {}
        self._top: dict[str, dict[str, float]] = {}
        self._cutoff: dict[str, float] = {}  # no item outside a scope's top sums more
        self._parts: dict[str, dict[int, float]] = {}  # scope -> writer -> its mass (copies)

    def increment_for(self, interaction: Interaction) -> list[tuple[str, str, float]]:
        """``(scope, item, amount)`` to add to stored sums for this interaction (pure)."""
        amount = self._decay.amount(interaction.weight, interaction.ts)
        item = interaction.item_id
        return [(scope, item, amount)
                for scope in _scope_keys(interaction.location, interaction.condition)]

    @property
    def landmark(self) -> float | None:
        """The time stored sums are relative to (see :class:`ForwardDecay`)."""
        return self._decay.landmark

    def learn_one(self, interaction: Interaction) -> None:
        self.add(interaction.item_id, interaction.weight, interaction.ts, interaction.location,
                 interaction.condition)

    def add(self, item: str, weight: float, ts: float, location: str | None,
            condition: str | None) -> tuple[str, ...]:
        """Count one interaction with ``item``; the scopes it counted in."""
        # increment_for's amounts, without building its list: the amount is taken before the
        # landmark advances, as there (it is relative to the landmark the advance then sets).
        amount = self._decay.amount(weight, ts)
        factor = self._decay.advance(ts)
        if factor != 1.0:
            self._rescale(factor)
        scopes = _scope_keys(location, condition)
        for scope in scopes:
            counts = self._counts.get(scope)
            self._set(scope, item, amount if counts is None else counts.get(item, 0.0) + amount)
        return scopes

    # -- one writer per item: its sums travel to every other copy (a worker's broadcast) -------

    def count(self, item: str, scope: str) -> float | None:
        """The item's stored sum in ``scope`` (relative to :attr:`landmark`); None: none."""
        return self._counts.get(scope, {}).get(item)

    def items(self) -> list[str]:
        """Every item counted (each counts in the global scope)."""
        return list(self._counts.get(GLOBAL, ()))

    def best(self, scope: str) -> dict[str, float]:
        """The scope's kept best items with their stored sums: at least its top 100."""
        return dict(self._top.get(scope, {}))

    def mass(self, scope: str) -> float:
        """The scope's stored total, over all of its items."""
        return self._mass.get(scope, 0.0)

    def take_best(self, source: int, scope: str, landmark: float, mass: float,
                  best: Mapping[str, float], gone: Iterable[str] = ()) -> None:
        """One writer's part of a scope, for a copy that counts nothing itself (a worker's
        broadcast): the ``best`` of the items it writes with their sums, its whole ``mass``, and
        the items it expired. Writers hold disjoint items, so the union of their kept best
        holds the scope's top 100, and the scope's mass is the sum of theirs.

        The writer's sums only grow, so setting them keeps the kept best exact; an item that
        left the writer's best keeps its last sum here, below the ones that pushed it out. An
        older landmark than this copy's scales the sums down; a newer one first moves this
        copy's.
        """
        factor = self._decay.advance(landmark)
        if factor != 1.0:
            self._rescale(factor)
        scale = 2.0 ** ((landmark - self._decay.landmark) / self.half_life_s)  # type: ignore[operator]
        for item in gone:
            self._drop(scope, item)
        counts = self._counts.get(scope, {})
        for item, value in best.items():
            if counts.get(item) != value * scale:  # most of a writer's best did not move
                self._set(scope, item, value * scale)
        parts = self._parts.setdefault(scope, {})
        parts[source] = mass * scale
        self._mass[scope] = sum(parts.values())

    def drop_item(self, item: str) -> list[str]:
        """Forget the item in every scope (its writer expired it); the scopes it was in."""
        return [scope for scope in self._counts if self._drop(scope, item)]

    def log_score(self, value: float) -> float:
        """A stored sum as ``log2`` of its decayed value at time 0: ranks as the decayed value
        does at any time and never needs rescaling, for a store that many writers share
        (the value at time t is ``2 ** (score - t / half_life_s)``).

        A sum of events long before the landmark decays to 0 (a double's underflow): it ranks
        last, at the smallest double's score, instead of failing.

        >>> trending = Trending(half_life_s=10.0)
        >>> trending.learn_one(Interaction("ann", "tea", ts=100.0))
        >>> trending.log_score(0.0) < trending.log_score(1.0)
        True
        """
        smallest = math.ulp(0.0)  # the smallest positive double
        return (math.log2(max(value, smallest))
                + self._decay.landmark / self.half_life_s)  # type: ignore[operator]

    def top(self, scope: str, k: int, now_ts: float) -> list[tuple[str, float]]:
        """The scope's ``k`` most counted items with their decayed counts at ``now_ts``."""
        factor = self._decay.factor(now_ts)
        if k <= _TOP_KEPT:  # a C sort of a few hundred beats a heap in Python
            best = sorted(self._top.get(scope, {}).items(), key=itemgetter(1), reverse=True)[:k]
        else:
            best = heapq.nlargest(k, self._counts.get(scope, {}).items(), key=itemgetter(1))
        return [(item, value * factor) for item, value in best]

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        return [Scored(item, p, "trending")
                for item, p in self.ranked(user_id, k, context, set(exclude))]

    def ranked(self, user_id: str, n: int, context: Context,
               excluded: Set[str]) -> list[tuple[str, float]]:
        """The best ``n`` items outside ``excluded`` as (item, share) pairs, best first: what
        :meth:`recommend` returns, bare, for a blend that rescales the scores itself."""
        if n <= 0 or not self._mass.get(GLOBAL):
            return []
        candidates: dict[str, float] = {}
        for scope in reversed(_scope_keys(context.location, context.condition)):
            for item in self._best(scope, n, excluded):
                candidates[item] = 0.0
        terms = _share_terms(self._counts, self._mass, self._decay.factor(context.ts),
                             self.prior_mass, context)
        for counts, coefficient in terms:
            get = counts.get
            for item in candidates:
                candidates[item] += coefficient * get(item, 0.0)
        return heapq.nlargest(n, candidates.items(), key=itemgetter(1))

    def _best(self, scope: str, k: int, excluded: Set[str]) -> list[str]:
        """The scope's ``k`` most counted items outside ``excluded``, best first."""
        kept = self._top.get(scope, {})
        ranked = sorted(kept.items(), key=itemgetter(1), reverse=True)
        best = list(islice((item for item, _ in ranked if item not in excluded), k))
        counts = self._counts.get(scope, {})
        if len(best) < k and len(counts) > len(kept):  # exclusions emptied the kept best
            ranked = heapq.nlargest(k + len(excluded), counts.items(), key=itemgetter(1))
            best = [item for item, _ in ranked if item not in excluded][:k]
        return best

    def _set(self, scope: str, item: str, value: float) -> None:
        """Set an item's stored sum in a scope (never below the one it had)."""
        counts = self._counts.get(scope)
        if counts is None:
            counts = self._counts[scope] = {}
        self._mass[scope] = self._mass.get(scope, 0.0) + value - counts.get(item, 0.0)
        counts[item] = value
        top = self._top.get(scope)
        if top is None:
            top = self._top[scope] = {}
        if item in top or value > self._cutoff.get(scope, 0.0):
            top[item] = value
            if len(top) > 2 * _TOP_KEPT:
                self._keep_best(scope, top)

    def _drop(self, scope: str, item: str) -> bool:
        value = self._counts.get(scope, {}).pop(item, None)
        if value is None:
            return False
        self._mass[scope] -= value
        self._top[scope].pop(item, None)
        return True

    def _rescale(self, factor: float) -> None:
        for parts in self._parts.values():
            for source in parts:
                parts[source] *= factor
        for scope, counts in self._counts.items():
            kept = self._counts[scope] = {i: v * factor for i, v in counts.items()
                                          if v * factor >= _PRUNE_BELOW}
            self._mass[scope] *= factor
            self._cutoff[scope] = 0.0
            self._keep_best(scope, kept)  # with pruned members gone, refill from all

    def _keep_best(self, scope: str, top: dict[str, float]) -> None:
        ranked = sorted(top.items(), key=itemgetter(1), reverse=True)
        self._top[scope] = dict(ranked[:_TOP_KEPT])
        if len(ranked) > _TOP_KEPT:
            self._cutoff[scope] = max(self._cutoff.get(scope, 0.0), ranked[_TOP_KEPT][1])
