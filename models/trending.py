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

import heapq
from collections.abc import Iterable, Mapping, Set
from itertools import chain, islice, repeat
from operator import itemgetter

import numpy as np

from models.base import Context, DerivedState, Interaction, Recommender, Scored
from models.scope_sums import _TOP_KEPT, GLOBAL, ScopeSums, _scope_keys, scope_keys
from models.tally import Candidates, best_first

__all__ = ["GLOBAL", "Trending", "scope_keys"]

# Moments (a context at a time) whose answers are kept until the sums change, and lists kept per
# moment: the contexts and the users of a batch of requests, many times over.
_MOMENTS_KEPT = 256


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


class Trending(DerivedState, ScopeSums, Recommender):
    """Forward-decayed item counts per context scope; see the module docstring.

    ``half_life_s``: a day, the rhythm of a busy shop's demand and of the weather it reacts to
    (a shop with few orders a day needs longer: :class:`HybridRecommender` uses a week).
    ``prior_mass``: how much decayed weight (a purchase is 3) a scope needs before its own
    counts outweigh its parent's: 10 is about three purchases (3, 10 and 30 scored alike on
    Online Retail, where nearly all orders come from one country).
    ``max_scopes``: a thousand places' worth (a place counts in its own scope and in one per
    weather condition seen there, six in the stream's contract), where a shop has a few dozen.
    """

    DERIVED = ("_ranked", "_answered")

    def __init__(self, half_life_s: float = 86_400.0, prior_mass: float = 10.0,
                 max_scopes: int = 7_000) -> None:
        super().__init__(half_life_s, max_scopes)
        self.prior_mass = prior_mass
        self._derive()

    def _derive(self) -> None:
        """Derived from the sums, for requests, which rank far more often than a worker's copy
        changes (a broadcast a second), and many at the same moment (a batch is answered at its
        shard's clock): each scope's items best first, and what a context was answered. Dropped
        when the sums change; a snapshot leaves them out."""
        self._ranked: dict[str, _Ranking] = {}
        self._answered: dict[tuple[str | None, str | None, float], _Answered] = {}

    def _changed(self, scope: str | None) -> None:
        if scope is None:
            self._ranked.clear()
        else:
            self._ranked.pop(scope, None)
        self._answered.clear()

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
        :meth:`recommend` returns, bare."""
        return self.candidates(n, context, excluded).pairs()

    def candidates(self, n: int, context: Context, excluded: Set[str]) -> Candidates:
        """:meth:`ranked` as columns, for a blend that rescales the scores itself (the scores
        are read-only: the list is kept for the next request at this moment)."""
        if n <= 0 or not self._mass.get(GLOBAL):
            return Candidates.none()
        moment = (context.location, context.condition, context.ts)
        answered = self._answered.get(moment)
        if answered is None:
            if len(self._answered) >= _MOMENTS_KEPT:
                self._answered.clear()
            answered = self._answered[moment] = _Answered()
        asked = (n, frozenset(excluded))
        ranked = answered.lists.get(asked)
        if ranked is None:
            if len(answered.lists) >= _MOMENTS_KEPT:
                answered.lists.clear()
            ranked = answered.lists[asked] = self._rank(n, context, excluded, answered.shares)
        return Candidates(list(ranked.items), ranked.scores)  # a list the caller may change

    def _rank(self, n: int, context: Context, excluded: Set[str], shares: dict[str, float]
              ) -> Candidates:
        """:meth:`candidates`, with the shares at this moment known so far (and now more)."""
        scopes = reversed(_scope_keys(context.location, context.condition))
        items = list(dict.fromkeys(chain.from_iterable(
            self._best(scope, n, excluded) for scope in scopes)))
        new = [item for item in items if item not in shares]
        if new:
            values = np.zeros(len(new))
            for counts, coefficient in _share_terms(self._counts, self._mass,
                                                    self._decay.factor(context.ts),
                                                    self.prior_mass, context):
                values += coefficient * np.fromiter(map(counts.get, new, repeat(0.0)), float,
                                                    len(new))
            shares.update(zip(new, values.tolist(), strict=True))
        values = np.fromiter(map(shares.__getitem__, items), float, len(items))
        best = best_first(items, values, n)
        scores = values[best]
        scores.flags.writeable = False
        return Candidates([items[i] for i in best], scores)

    def _best(self, scope: str, k: int, excluded: Set[str]) -> list[str]:
        """The scope's ``k`` most counted items outside ``excluded``, best first."""
        counts = self._counts.get(scope)
        if not counts:  # a place or weather nothing was counted in
            return []
        ranking = self._ranked.get(scope)
        if ranking is None:
            ranking = self._ranked[scope] = _Ranking(self._top.get(scope, {}))
        best = _first(ranking.kept, k, excluded)
        if len(best) < k and len(counts) > len(ranking.kept):  # exclusions emptied the best
            best = _first(ranking.every(counts), k, excluded)
        return best


class _Answered:
    """What a context was answered at one moment: each item's share, and each list asked for
    (by its length and exclusions)."""

    def __init__(self) -> None:
        self.shares: dict[str, float] = {}
        self.lists: dict[tuple[int, frozenset[str]], Candidates] = {}


class _Ranking:
    """A scope's items best first: its kept best at once, all of them when first needed. Ties
    rank in the order the dicts hold them, as ``sorted`` and ``heapq.nlargest`` rank them."""

    def __init__(self, kept: Mapping[str, float]) -> None:
        self.kept = [item for item, _ in sorted(kept.items(), key=itemgetter(1), reverse=True)]
        self._every: list[str] | None = None

    def every(self, counts: Mapping[str, float]) -> list[str]:
        if self._every is None:
            self._every = [item for item, _ in sorted(counts.items(), key=itemgetter(1),
                                                      reverse=True)]
        return self._every


def _first(items: list[str], k: int, excluded: Set[str]) -> list[str]:
    """The first ``k`` of ``items`` outside ``excluded``."""
    if not excluded:
        return items[:k]
    return list(islice((item for item in items if item not in excluded), k))
