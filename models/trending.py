"""What is bought now, here, in this weather: time-decayed item counts per context scope.

Every interaction counts in the global scope, in its location's, in its weather condition's and
in its (location, condition)'s (see :func:`scope_keys`). Counts decay with forward decay
(:class:`~models.decay.ForwardDecay`): an increment is a plain number added to a stored sum, so
increments commute and a store applies them as they come (Redis ``ZINCRBY``);
:meth:`Trending.increment_for` gives them without touching the model.

As a recommender, Trending ranks by the share of the user's most specific scope, smoothed toward
its parents: a scope with little (decayed) mass borrows from the wider one, so a thin scope backs
off to the location and weather scopes and they back off to the global one::

    p_global(i)    = n_global(i) / N_global
    p_location(i)  = (n_location(i) + m * p_global(i)) / (N_location + m)       (same for condition)
    p_both(i)      = (n_both(i) + m * mean(p_location(i), p_condition(i))) / (N_both + m)

with ``m`` = ``prior_mass``, n and N decayed to the request's time.

A location is whatever an event says (any string a client sends), so the places' scopes are
bounded: a model keeps at most ``max_scopes`` scopes, and past it the places' scopes with the
least mass go (:meth:`ScopeSums.evict`). The global and condition scopes always stay: conditions
are few (an enumeration in the stream's contract).

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
from collections.abc import Iterable, KeysView, Mapping, Set
from itertools import islice
from operator import itemgetter

from models.base import Context, Interaction, Recommender, Scored
from models.decay import ForwardDecay

__all__ = ["GLOBAL", "Trending", "scope_keys"]

GLOBAL = "global"
# The scopes a bound may forget: a location's and a (location, condition)'s.
_PLACES = ("location=", "location,condition=")
# When the landmark moves, sums below this many event-weights at the new landmark (about ten
# half-lives old) are dropped: they can no longer rank, and keeping them would grow without end.
_PRUNE_BELOW = 1e-3
# Each scope keeps at least its best _TOP_KEPT items apart (up to twice that; then the best half
# stays, so the sort this costs is paid once per _TOP_KEPT entries), and ranking a scope sorts a
# few hundred items, not the scope. It is exact: stored sums only grow, so an item outside can
# only overtake one inside by its own increment, which is checked against the cutoff (the largest
# sum ever left outside).
_TOP_KEPT = 100
# Past max_scopes, places go until this fraction of the bound is free: a flood of invented
# places then costs one sort of the scopes per tenth of the bound, not one per event.
_EVICT_SLACK = 0.1


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


class ScopeSums:
    """Forward-decayed item sums per scope, each scope's best kept apart, at most ``max_scopes``
    scopes: what :class:`Trending` ranks. One writer per item counts its items (:meth:`add`),
    and a copy takes every writer's part of each scope (:meth:`take_best`); both bound their
    scopes the same way (:meth:`evict`).
    """

    def __init__(self, half_life_s: float, max_scopes: int) -> None:
        self.half_life_s = half_life_s
        self.max_scopes = max_scopes
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

    def add(self, item: str, weight: float, ts: float, location: str | None,
            condition: str | None) -> tuple[str, ...]:
        """Count one interaction with ``item``; the scopes it counted in. The scopes are left
        to :meth:`evict`, for a writer to learn what went (``learn_one`` evicts at once)."""
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

    def scopes(self) -> KeysView[str]:
        """The scopes held (a live view)."""
        return self._counts.keys()

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
        holds the scope's top 100, and the scope's mass is the sum of theirs. The copy then
        bounds its scopes (:meth:`evict`), by the masses of all the writers' parts.

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
        counts = self._counts.setdefault(scope, {})  # held (and bounded) from its first part
        for item, value in best.items():
            if counts.get(item) != value * scale:  # most of a writer's best did not move
                self._set(scope, item, value * scale)
        parts = self._parts.setdefault(scope, {})
        parts[source] = mass * scale
        self._mass[scope] = sum(parts.values())
        self.evict()

    def drop_item(self, item: str) -> list[str]:
        """Forget the item in every scope (its writer expired it); the scopes it was in."""
        return [scope for scope in self._counts if self._drop(scope, item)]

    def evict(self) -> dict[str, list[str]]:
        """Past ``max_scopes``, forget the places' scopes with the least mass until a tenth of
        the bound is free; the scopes forgotten, each with the items it held (what a writer
        tells its copies and its store). The global and condition scopes are never forgotten.

        Least mass rather than least recently counted: all sums share the landmark, so the order
        of stored masses is that of decayed masses at any time, and a scope with little mass is
        the one ranking misses least (it ranks nearly as its parents). It also holds against a
        flood of invented places: each weighs one event and they push out each other, where
        least recently counted would push out a real place that was quiet for an hour. A place's
        weather scopes never outweigh the place, and go first on a tie.
        """
        excess = len(self._counts) - self.max_scopes
        if excess <= 0:
            return {}
        # The weather scopes listed first: the sort is stable, so they go first on a tie.
        places = [scope for prefix in reversed(_PLACES) for scope in self._counts
                  if scope.startswith(prefix)]
        places.sort(key=self._mass.__getitem__)  # every scope held has its mass
        weakest = places[:excess + int(self.max_scopes * _EVICT_SLACK)]
        return {scope: self.forget(scope) for scope in weakest}

    def forget(self, scope: str) -> list[str]:
        """Drop a scope whole (sums, mass, kept best, writers' parts); the items it held."""
        self._mass.pop(scope, None)
        self._top.pop(scope, None)
        self._cutoff.pop(scope, None)
        self._parts.pop(scope, None)
        return list(self._counts.pop(scope, ()))

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


class Trending(ScopeSums, Recommender):
    """Forward-decayed item counts per context scope; see the module docstring.

    ``half_life_s``: a day, the rhythm of a busy shop's demand and of the weather it reacts to
    (a shop with few orders a day needs longer: :class:`HybridRecommender` uses a week).
    ``prior_mass``: how much decayed weight (a purchase is 3) a scope needs before its own
    counts outweigh its parent's: 10 is about three purchases (3, 10 and 30 scored alike on
    Online Retail, where nearly all orders come from one country).
    ``max_scopes``: a thousand places' worth (a place counts in its own scope and in one per
    weather condition seen there, six in the stream's contract), where a shop has a few dozen.
    """

    def __init__(self, half_life_s: float = 86_400.0, prior_mass: float = 10.0,
                 max_scopes: int = 7_000) -> None:
        super().__init__(half_life_s, max_scopes)
        self.prior_mass = prior_mass

    def learn_one(self, interaction: Interaction) -> None:
        self.add(interaction.item_id, interaction.weight, interaction.ts, interaction.location,
                 interaction.condition)
        self.evict()

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
