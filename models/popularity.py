"""The all-time bestsellers: the baseline every other recommender must beat.

Counts interactions by weight (a purchase 3, a click 1) and recommends the most counted items to
everyone, whatever the context.

>>> model = MostPopular()
>>> for item in ["tea", "cup", "tea", "rum"]:
...     model.learn_one(Interaction("u", item, ts=0.0))
>>> [(s.item_id, s.score) for s in model.recommend("anyone", k=2, context=Context(ts=0.0))]
[('tea', 2.0), ('cup', 1.0)]
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from operator import itemgetter

from models.base import Context, Interaction, Recommender, Scored

__all__ = ["MostPopular"]


class MostPopular(Recommender):
    """All-time weighted counts; ties go to the item counted first."""

    def __init__(self) -> None:
        self._counts: dict[str, float] = {}

    def learn_one(self, interaction: Interaction) -> None:
        item = interaction.item_id
        self._counts[item] = self._counts.get(item, 0.0) + interaction.weight

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        excluded = set(exclude)
        best = heapq.nlargest(k + len(excluded), self._counts.items(), key=itemgetter(1))
        return [Scored(item, count, "popular") for item, count in best
                if item not in excluded][:max(k, 0)]
