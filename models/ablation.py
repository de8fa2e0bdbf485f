"""Ablations: a recommender with part of its input hidden, to measure what that part is worth.

>>> from models.base import Context, Interaction
>>> from models.trending import Trending
>>> blind = ContextBlind(Trending())
>>> blind.learn_one(Interaction("u1", "umbrella", ts=0.0, location="UK", condition="rain"))
>>> [s.item_id for s in blind.recommend("u2", 1, Context(ts=1.0, condition="rain"))]
['umbrella']
>>> blind.inner.top("condition=rain", 1, 1.0)
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from models.base import Context, Interaction, ItemInfo, Recommender, Scored

__all__ = ["ContextBlind"]


class ContextBlind(Recommender):
    """``inner`` without location and weather: what a run with those features off scores."""

    def __init__(self, inner: Recommender) -> None:
        self.inner = inner

    def learn_one(self, interaction: Interaction) -> None:
        self.inner.learn_one(replace(interaction, location=None, condition=None, temp_c=None))

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        blind = replace(context, location=None, condition=None, temp_c=None)
        return self.inner.recommend(user_id, k, blind, exclude)

    def observe_item(self, info: ItemInfo) -> None:
        self.inner.observe_item(info)
