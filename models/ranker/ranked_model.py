"""The worker's model re-ranked by a ranker, as one recommender for in-process replays.

`recstream evaluate`'s twin, `recstream ranker replay` and the walk-forward replay compare the
system with and without a ranker on the same events: :class:`WithRanker` is the worker's model
with its own ranker memory, its scorer reading whatever version ``live`` holds (the River model
while none is), as a user shard bound to the worker's live ranker is.
"""

from __future__ import annotations

from collections.abc import Iterable

from models.base import Context, Interaction, ItemInfo, Recommender, Scored
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.ranker.serving import LiveRanker, RankerScorer
from models.reranked import ContextReranked

__all__ = ["WithRanker"]


class WithRanker(Recommender):
    """The worker's model and its ranker memory, re-ranked by whatever ``live`` holds."""

    def __init__(self, model: ContextReranked, live: LiveRanker) -> None:
        self.model = model
        self.memory = RankerMemory()
        model.use_scorer(RankerScorer(live, OnlineFeatures(model, self.memory)))

    def learn_one(self, interaction: Interaction) -> None:
        self.model.learn_one(interaction)
        self.memory.learn_one(interaction)

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        return self.model.recommend(user_id, k, context, exclude)

    def observe_item(self, info: ItemInfo) -> None:
        self.model.observe_item(info)
