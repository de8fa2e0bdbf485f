"""Forward-decayed item sums per context scope: what :class:`~models.trending.Trending` ranks,
and what the writer of an item counts for a worker's copies (see :mod:`models.trending`).

>>> scope_keys("London", "rain")
['global', 'location=London', 'condition=rain', 'location,condition=London|rain']
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, KeysView, Mapping
from operator import itemgetter

from models.base import Interaction
from models.decay import ForwardDecay

__all__ = ["GLOBAL", "ScopeSums", "scope_keys"]

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

    def _changed(self, scope: str | None) -> None:
        """The sums of ``scope`` changed (None: every scope's): for what a subclass derives."""

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
        self._changed(scope)
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
        self._changed(scope)
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

        >>> from models.trending import Trending
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
        self._changed(scope)
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
        self._changed(scope)
        self._mass[scope] -= value
        self._top[scope].pop(item, None)
        return True

    def _rescale(self, factor: float) -> None:
        self._changed(None)
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
