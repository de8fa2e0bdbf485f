"""recstream's own recommender: a linear blend of four candidate sources.

* ``repeat``: the user's own items, by recency and frequency. Shoppers re-buy and re-click the
  same items a lot (in the first 100k Online Retail purchases, 79% of a returning customer's
  orders hold an item they bought before), so each item the user touched keeps a score that
  gains the interaction's weight and halves every ``repeat_half_life_s``.
* ``covis``: co-visitation neighbours of the user's recent items (:class:`CoVisitation`).
* ``mf``: retrieval by the user's embedding (:class:`OnlineMF`).
* ``trending``: what sells now at the user's location and in its weather (:class:`Trending`);
  for a user never seen, what newcomers take there in their first basket (:class:`Newcomers`),
  the back-off that still answers.

Each source proposes its best ``candidates`` items; a source's scores are divided by its best
one, so every source speaks on a 0..1 scale (an MF logit first goes through the logistic
function it was trained with), and an item's score is the weighted sum over the sources that
propose it. Each :class:`Scored` names the source that contributed most to it: the explanation.
Nothing is learnt in the blend itself, so the weights are plain constructor arguments.

``mf``, ``covisitation`` and ``trending`` are configurations: the model builds its own fresh
copies of them (``mf_``, ``covisitation_``, ``trending_``) and feeds each every interaction.

>>> model = HybridRecommender()
>>> for user, basket in [("ann", ["tent", "stove", "mug"]), ("bob", ["tent", "stove"])]:
...     for item in basket:
...         model.learn_one(Interaction(user, item, ts=0.0, session_id=user, kind="purchase"))
>>> model.learn_one(Interaction("cat", "tent", ts=60.0, session_id="c1"))
>>> [(s.item_id, s.source) for s in model.recommend("cat", k=3, context=Context(ts=120.0))]
[('tent', 'repeat'), ('stove', 'covis'), ('mug', 'covis')]
>>> [s.item_id for s in model.recommend("cat", 3, Context(ts=120.0), exclude={"tent"})]
['stove', 'mug']
>>> [s.source for s in model.recommend("newcomer", k=2, context=Context(ts=120.0))]
['trending', 'trending']
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Set
from operator import itemgetter
from typing import NamedTuple, TypeVar

import numpy as np

from models.base import Context, Interaction, Recommender, Scored
from models.covisitation import CoVisitation
from models.embeddings import OnlineMF
from models.newcomers import Newcomers
from models.tally import Candidates, best_first, tally
from models.trending import Trending
from models.weather_gate import WeatherGate

__all__ = ["TRENDING_HALF_LIFE_S", "Blend", "HybridRecommender"]

_R = TypeVar("_R", bound=Recommender)

# A week, not Trending's default day: a shop of a few dozen orders a day has too little mass in
# a day's window (HitRate@20 of cold users 0.601 against 0.589 on Online Retail).
TRENDING_HALF_LIFE_S = 7 * 86_400.0

# A user's repeat profile keeps this many items: far more than a top-k needs, and it bounds the
# memory per user. When it overflows, the weakest quarter goes (constant cost on average).
_PROFILE_KEPT = 100


class Blend(NamedTuple):
    """The blend's best items as columns: each one's score, and the source that contributed
    most to it (its explanation)."""

    items: list[str]
    scores: np.ndarray
    sources: list[str]

    @classmethod
    def none(cls) -> Blend:
        return cls([], np.empty(0), [])


class HybridRecommender(Recommender):
    """Repeat, co-visitation, embedding and trending candidates, blended linearly.

    Defaults were tuned on the first half of the first 100k Online Retail purchases (prequential
    HitRate@20, each order scored once before its lines are learnt) and checked on the second
    half: 0.72 there, against 0.56 for the bestsellers. Doubling ``repeat_weight`` helped
    (repeats are most of a returning customer's order); the other weights moved the score by
    less than its noise. Removing a source on the second half: repeat -0.07, trending -0.30
    (it alone answers new customers), co-visitation and embeddings about 0 when repeats may be
    recommended, -0.003 and -0.001 (per-item HitRate@20, of 0.064) when purchases are excluded.

    ``learn_trending`` False: ``trending_`` is fed from outside (a worker's item broadcast, where
    the items' own writers count every interaction of the shop) by :meth:`take_trending_part`,
    not by :meth:`learn_one`.
    """

    def __init__(self, repeat_weight: float = 2.0, covis_weight: float = 1.0,
                 mf_weight: float = 0.5, trending_weight: float = 0.3,
                 repeat_half_life_s: float = 30 * 86_400.0, candidates: int = 50,
                 mf: OnlineMF | None = None, covisitation: CoVisitation | None = None,
                 trending: Trending | None = None, learn_trending: bool = True) -> None:
        self.repeat_weight = repeat_weight
        self.covis_weight = covis_weight
        self.mf_weight = mf_weight
        self.trending_weight = trending_weight
        self.repeat_half_life_s = repeat_half_life_s
        self.candidates = candidates
        self.mf = mf
        self.covisitation = covisitation
        self.trending = trending
        self.learn_trending = learn_trending
        self.mf_ = _fresh(mf, OnlineMF)
        self.covisitation_ = _fresh(covisitation, CoVisitation)
        self.trending_ = _fresh(trending, Trending, half_life_s=TRENDING_HALF_LIFE_S)
        self._profiles: dict[str, dict[str, tuple[float, float]]] = {}  # user -> item -> (s, ts)
        self.weather_gate_ = WeatherGate()
        self.newcomers_ = Newcomers()

    @property
    def embeddings(self) -> OnlineMF:
        """The live embedding model (``mf_``): a worker restores and broadcasts its vectors."""
        return self.mf_

    def take_trending_part(self, source: int, scope: str, landmark: float, mass: float,
                           best: Mapping[str, float], gone: Iterable[str] = ()) -> None:
        """One item writer's part of a trending scope, for the copy ``learn_trending`` False
        leaves to a broadcast (see :meth:`Trending.take_best`)."""
        self.trending_.take_best(source, scope, landmark, mass, best, gone)

    def forget_trending_scope(self, scope: str) -> None:
        """Forget a scope of the broadcast's copy whole: a writer dropped its part, and the
        others' parts are to be taken again (see :meth:`Trending.forget`)."""
        self.trending_.forget(scope)

    def learn_one(self, interaction: Interaction) -> None:
        self.mf_.learn_one(interaction)
        self.covisitation_.learn_one(interaction)
        self._learn_newcomers(interaction)
        self.weather_gate_.check(self.trending_, interaction)
        if self.learn_trending:
            self.trending_.learn_one(interaction)
        user_id, item_id, now = interaction.user_id, interaction.item_id, interaction.ts
        profile = self._profiles.get(user_id)
        if profile is None:
            profile = self._profiles[user_id] = {}
        entry = profile.get(item_id)
        if entry is None:  # starts at its weight: the 0.0 before it would decay to 0.0
            profile[item_id] = (interaction.weight, now)
        else:
            score, ts = entry
            profile[item_id] = (self._decayed(score, ts, now) + interaction.weight,
                                max(ts, now))
        if len(profile) > _PROFILE_KEPT:
            self._prune(user_id, profile, now)

    def _learn_newcomers(self, interaction: Interaction) -> None:
        """Count the interaction for newcomers, before anything else learns it: a first
        basket's line also scores the shop-wide list against theirs (see :class:`Newcomers`)."""
        profile, now = self._profiles.get(interaction.user_id), interaction.ts
        # A first basket's lines share its time: a profile learned at this time alone is the
        # basket's own earlier lines (any() stops at a returning user's first older item).
        if profile and any(seen != now for _, seen in profile.values()):
            self.newcomers_.learn_one(interaction, first_basket=False)
            return
        shop = self._shop_trending(self.newcomers_.k, interaction.context, frozenset())
        self.newcomers_.learn_one(interaction, first_basket=True, shop=shop.pairs())

    def forget_users(self, users: Iterable[str]) -> None:
        users = list(users)
        self.mf_.forget_users(users)
        self.covisitation_.forget_users(users)
        for user in users:
            self._profiles.pop(user, None)

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        return [Scored(item, score, source)
                for item, score, source in self.ranked(user_id, k, context, set(exclude))]

    def ranked(self, user_id: str, k: int, context: Context,
               excluded: set[str]) -> list[tuple[str, float, str]]:
        """What :meth:`recommend` returns, as bare (item, score, source) triples."""
        blend = self.blend(user_id, k, context, excluded)
        return list(zip(blend.items, blend.scores.tolist(), blend.sources, strict=True))

    def blend(self, user_id: str, k: int, context: Context, excluded: set[str]) -> Blend:
        """:meth:`ranked` as columns: a re-ranker takes them apart anyway, and 500 triples (or
        :class:`Scored`) cost a request 0.1 to 0.4 ms to build."""
        if k <= 0:
            return Blend.none()
        n = max(k, self.candidates)
        sources = (("repeat", self.repeat_weight, self._repeat),
                   ("covis", self.covis_weight, self._covis),
                   ("mf", self.mf_weight, self._mf),
                   ("trending", self.trending_weight, self._trending))
        proposed: list[str] = []  # every source's items, in turn
        parts: list[np.ndarray] = []  # each one's contributions
        named: list[str] = []  # the source of each part
        for source, weight, propose in sources:
            if weight == 0.0:
                continue
            found = propose(user_id, n, context, excluded)
            if not found.items or found.scores[0] <= 0.0:
                continue
            proposed += found.items
            parts.append((weight / found.scores[0]) * found.scores)
            named.append(source)
        if not proposed:
            return Blend.none()
        # An item's score is the sum of its contributions; it names the source of the largest
        # (the first one on a tie: a source proposes an item once), and ties rank in the order
        # the items were first proposed.
        items, totals, positions = tally(proposed, np.concatenate(parts))
        by_source = np.full((len(parts), len(items)), -np.inf)
        start = 0
        for row, part in enumerate(parts):
            by_source[row, positions[start:start + len(part)]] = part
            start += len(part)
        largest = by_source.argmax(axis=0)
        best = best_first(items, totals, k)
        return Blend([items[i] for i in best], totals[best],
                     [named[row] for row in largest[best].tolist()])

    # Each source's best n items outside the excluded, with scores >= 0, best first.

    def _repeat(self, user_id: str, n: int, context: Context, excluded: set[str]) -> Candidates:
        profile = self._profiles.get(user_id)
        if not profile:
            return Candidates.none()
        now = context.ts
        scores = [(item, self._decayed(score, ts, now)) for item, (score, ts) in profile.items()
                  if item not in excluded]
        return Candidates.of(heapq.nlargest(n, scores, key=itemgetter(1)))

    def _covis(self, user_id: str, n: int, context: Context, excluded: set[str]) -> Candidates:
        return self.covisitation_.candidates(user_id, n, excluded)

    def _mf(self, user_id: str, n: int, context: Context, excluded: set[str]) -> Candidates:
        # The logistic function turns MF's logit into the probability it was trained for
        # (math.tanh: numpy's differs from it in the last bit).
        found = self.mf_.candidates(user_id, n, excluded)
        halves = map(math.tanh, (0.5 * found.scores).tolist())
        return Candidates(found.items,
                          0.5 + 0.5 * np.fromiter(halves, float, len(found.items)))

    def _trending(self, user_id: str, n: int, context: Context, excluded: set[str]
                  ) -> Candidates:
        if user_id not in self._profiles:  # a newcomer: what newcomers take, once any was seen
            ranked = self.newcomers_.ranked(user_id, n, context, excluded)
            if ranked:
                return Candidates.of(ranked)
        return self._shop_trending(n, context, excluded)

    def _shop_trending(self, n: int, context: Context, excluded: Set[str]) -> Candidates:
        """The shop-wide trending in the context, narrowed by the weather while it pays."""
        return self.trending_.candidates(n, self.weather_gate_.context(context), excluded)

    def _decayed(self, score: float, since: float, now: float) -> float:
        return score * 2.0 ** (-max(now - since, 0.0) / self.repeat_half_life_s)

    def _prune(self, user_id: str, profile: dict[str, tuple[float, float]], now: float) -> None:
        kept = heapq.nlargest(_PROFILE_KEPT * 3 // 4, profile.items(),
                              key=lambda entry: self._decayed(entry[1][0], entry[1][1], now))
        self._profiles[user_id] = dict(kept)


def _fresh(template: _R | None, default: type[_R], **defaults: object) -> _R:
    """A new, untrained model configured as ``template`` (or ``default(**defaults)``)."""
    if template is None:
        return default(**defaults)
    return type(template)(**template.params())
