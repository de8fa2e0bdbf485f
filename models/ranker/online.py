"""A shard's online models as the ranker's feature source, in the worker and in the replay.

:class:`OnlineFeatures` reads the River context model's probability and the embedding similarity
from the shard's :class:`~models.reranked.ContextReranked`, and the catalogue, popularity and
recency from its :class:`~models.ranker.memory.RankerMemory`, then encodes the rows with
:func:`models.ranker.features.encode`. The replay that writes training rows and the scorer that
serves them both call :meth:`OnlineFeatures.inputs`: there is no second way to compute a row.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.base import Context
from models.ranker.features import Inputs, Signals, encode
from models.ranker.memory import RankerMemory
from models.reranked import ContextReranked

__all__ = ["OnlineFeatures"]


class OnlineFeatures:
    """The ranker's rows for a user's candidates, from one shard's live model and memory."""

    def __init__(self, model: ContextReranked, memory: RankerMemory) -> None:
        self.model = model
        self.memory = memory

    def inputs(self, user_id: str, item_ids: Sequence[str], context: Context,
               listed_at: Sequence[int] | None = None) -> Inputs:
        """The rows of ``item_ids``: the candidates as handed over, or, with ``listed_at``,
        some of them with their places in that list (see :func:`encode`)."""
        memory, now = self.memory, context.ts
        signals = Signals(river=self.model.context_scorer.score(user_id, item_ids, context),
                          similarity=self.model.embeddings.score_items(user_id, item_ids),
                          popularity=memory.popularity(item_ids, now),
                          recency=memory.recency(user_id, item_ids, now))
        return encode(user_id, [memory.item(item) for item in item_ids], context, signals,
                      listed_at, known_user=memory.knows(user_id))
