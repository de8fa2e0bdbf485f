"""Labelled rows for the ranker, from a replay of a shop's interactions through the online model.

A replay learns test-then-train as the worker does. At the first line of a basket (a user's
lines of one session), before any of them is learned, the model is asked for the user's
``candidates`` best items in the basket's context: what it would have shown, the impression. The
candidates its re-ranking step scores (in the candidate generator's order, as a ranker in a
worker receives them) become rows, computed by :class:`~models.ranker.online.OnlineFeatures` at
that moment;
the basket's own lines are the interactions the impression is joined with, so a listed item the
basket holds is a positive, every other a negative. The rows of one impression share a
``request`` number: NDCG is measured per request.

>>> from models.base import Interaction
>>> from models.ranker.memory import RankerMemory
>>> from models.reranked import ContextReranked
>>> shop = [Interaction(u, i, ts=float(t), session_id=f"{u}{t // 3}", kind="purchase")
...         for t in range(30) for u, i in [("ann", ["tea", "jam"][t % 2]), ("bob", "tea")]]
>>> table = replay(shop, ContextReranked(seed=1), RankerMemory(), candidates=5)
>>> table.n_requests, int(table.label.sum()) > 0, table.ids.shape[1], table.dense.shape[1]
(19, True, 7, 7)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from models.base import Context, Interaction, ItemInfo, Scorer
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.ranker.table import Examples
from models.reranked import ContextReranked

__all__ = ["replay"]


class _Listing:
    """The re-ranking scorer during a replay: River's scores, and a note of what it was asked."""

    def __init__(self, river: Scorer) -> None:
        self.river = river
        self.asked: tuple[str, list[str], Context] | None = None

    def score(self, user_id: str, items: Sequence[ItemInfo | str], context: Context
              ) -> np.ndarray:
        self.asked = (user_id, [i.item_id if isinstance(i, ItemInfo) else i for i in items],
                      context)
        return self.river.score(user_id, items, context)


class _Shown(NamedTuple):
    request: int
    items: list[str]


def replay(stream: Iterable[Interaction | ItemInfo], model: ContextReranked,
           memory: RankerMemory, candidates: int = 100, every: int = 1) -> Examples:
    """Learn ``stream`` in order; at every ``every``-th basket, first log what the model's
    re-ranking step scores when asked for ``candidates`` items (at least the model's own
    ``candidates``) as an impression, and label its rows with the basket's items."""
    features = OnlineFeatures(model, memory)
    listing = _Listing(model.context_scorer)
    model.use_scorer(listing)
    ids: list[np.ndarray] = []
    dense: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    requests: list[int] = []
    times: list[float] = []
    baskets = 0
    sessions: dict[str, str | float] = {}  # user -> the session of their open basket
    shown_to: dict[str, _Shown] = {}  # user -> the impression of their open basket, if logged
    for x in stream:
        if isinstance(x, ItemInfo):
            model.observe_item(x)
            continue
        session = x.session_id if x.session_id is not None else x.ts
        if sessions.get(x.user_id) != session:  # a basket begins: list before learning it
            sessions[x.user_id] = session
            shown_to.pop(x.user_id, None)
            baskets += 1
            listing.asked = None
            if baskets % every == 0:
                model.recommend(x.user_id, candidates, x.context)
            if listing.asked is not None:
                user_id, listed, context = listing.asked
                request = len(times)
                shown_to[x.user_id] = _Shown(request, listed)
                inputs = features.inputs(user_id, listed, context)
                ids.append(inputs.ids)
                dense.append(inputs.dense)
                labels.append(np.zeros(len(listed), dtype=np.int8))
                requests.extend([request] * len(listed))
                times.append(x.ts)
        shown = shown_to.get(x.user_id)
        if shown is not None and x.item_id in shown.items:
            labels[shown.request][shown.items.index(x.item_id)] = 1
        model.learn_one(x)
        memory.learn_one(x)
    model.use_scorer(None)
    if not times:
        raise ValueError("the replay listed no candidates: the stream is empty or too short")
    return Examples(ids=np.concatenate(ids), dense=np.concatenate(dense),
                    label=np.concatenate(labels), request=np.array(requests, dtype=np.int32),
                    request_ts=np.array(times, dtype=np.float64))
